import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { test } from 'node:test';
import { ConnectionPools } from '../../../src/webhooks/connection-pools.js';
import { defaultConnect, guardedRequest } from '../../../src/webhooks/guarded-request.js';

/**
 * A kept connection that the receiver closes just as the next request goes out: a raw TCP receiver answers the first
 * request on its first connection with a kept-alive 200, then drops that connection when the second request comes
 * in, with no answer (the race of a keep-alive timeout ending). The request is sent again on a new connection and
 * answered there; the second attempt of a receiver that drops every request still fails as a network error.
 */
function startRawReceiver(dropOn: (connection: number, request: number) => boolean) {
  const seen: Array<{ connection: number; request: number }> = [];
  let connections = 0;
  const server = createServer((socket: Socket) => {
    const connection = ++connections;
    let requests = 0;
    let buffered = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      for (;;) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buffered.subarray(0, end).toString('latin1');
        const length = Number(/content-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
        if (buffered.length < end + 4 + length) return;
        buffered = buffered.subarray(end + 4 + length);
        const request = ++requests;
        seen.push({ connection, request });
        if (dropOn(connection, request)) {
          socket.destroy();
          return;
        }
        socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\nkeep-alive: timeout=30\r\n\r\nok');
      }
    });
    socket.on('error', () => undefined);
  });
  return new Promise<{ url: string; seen: typeof seen; close(): Promise<void> }>((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      resolve({
        url: `http://127.0.0.1:${port}/hook`,
        seen,
        close: () => new Promise<void>((done) => {
          server.close(() => done());
          server.emit('close');
        }),
      });
    });
  });
}

const init = { method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.from('{"n":1}'), timeoutMs: 5_000 };

test('a kept connection the receiver drops as a request goes out: the request is sent again on a new connection', async (t) => {
  const receiver = await startRawReceiver((connection, request) => connection === 1 && request === 2);
  const pools = new ConnectionPools({ connect: defaultConnect, connections: 1, connectTimeoutMs: 2_000 });
  t.after(async () => {
    await pools.close();
    await receiver.close();
  });
  const deps = { allowPrivate: true, pools };
  assert.equal((await guardedRequest(receiver.url, init, deps)).status, 200);
  assert.equal((await guardedRequest(receiver.url, init, deps)).status, 200);
  assert.deepEqual(receiver.seen, [
    { connection: 1, request: 1 },
    { connection: 1, request: 2 },
    { connection: 2, request: 1 },
  ]);
});

test('a receiver that drops every request: one more try on a new connection, then a network error', async (t) => {
  const receiver = await startRawReceiver(() => true);
  const pools = new ConnectionPools({ connect: defaultConnect, connections: 1, connectTimeoutMs: 2_000 });
  t.after(async () => {
    await pools.close();
    await receiver.close();
  });
  await assert.rejects(guardedRequest(receiver.url, init, { allowPrivate: true, pools }), (error: { code?: string }) => {
    assert.ok(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE'].includes(String(error.code)), String(error.code));
    return true;
  });
  assert.equal(receiver.seen.length, 2);
});
