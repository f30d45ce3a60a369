import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  /** The raw body bytes as received. */
  readonly body: Buffer;
  /** Date.now() when the body had arrived. */
  readonly at: number;
}

/**
 * How the receiver answers the n-th request (0-based): a status, headers and a body (default `ok`), or hold the
 * request until released.
 */
export type Answer = { status: number; headers?: Record<string, string>; body?: string } | 'hold';

export interface WebhookReceiver {
  readonly url: string;
  readonly port: number;
  readonly requests: ReceivedRequest[];
  /** TCP connections accepted so far. */
  connections(): number;
  /** Requests currently held open. */
  held(): number;
  /** Answers every held request with this status. */
  release(status?: number): void;
  waitFor(count: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** A real HTTP server on loopback that records every request and answers as the test says. */
export async function startReceiver(
  answer: (index: number, request: ReceivedRequest) => Answer = () => ({ status: 200 }),
  port = 0,
  host = '127.0.0.1',
): Promise<WebhookReceiver> {
  const requests: ReceivedRequest[] = [];
  const holding: ServerResponse[] = [];
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const received: ReceivedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks),
        at: Date.now(),
      };
      const index = requests.push(received) - 1;
      const reply = answer(index, received);
      if (reply === 'hold') holding.push(res);
      else res.writeHead(reply.status, reply.headers ?? {}).end(reply.body ?? 'ok');
      for (const waiter of waiters.filter((w) => requests.length >= w.count)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    });
  });
  let connections = 0;
  server.on('connection', () => {
    connections += 1;
  });
  server.keepAliveTimeout = 1_000;
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  const actual = (server.address() as AddressInfo).port;
  return {
    url: `http://${host}:${actual}/hook`,
    port: actual,
    requests,
    connections: () => connections,
    held: () => holding.length,
    release(status = 200) {
      for (const res of holding.splice(0)) res.writeHead(status).end('ok');
    },
    waitFor(count, timeoutMs = 10_000) {
      if (requests.length >= count) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`receiver: ${requests.length} of ${count} requests after ${timeoutMs} ms`)),
          timeoutMs,
        );
        waiters.push({ count, resolve: () => (clearTimeout(timer), resolve()) });
      });
    },
    async close() {
      for (const res of holding.splice(0)) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
