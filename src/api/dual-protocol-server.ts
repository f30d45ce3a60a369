import { readFile } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';

export interface TlsFiles {
  readonly cert: Buffer;
  readonly key: Buffer;
}

/** Reads the configured certificate and key; a pair given by half is a configuration error, named. */
export async function readTlsFiles(http: { readonly tlsCert: string | undefined; readonly tlsKey: string | undefined }): Promise<TlsFiles | undefined> {
  if (http.tlsCert === undefined && http.tlsKey === undefined) return undefined;
  if (http.tlsCert === undefined || http.tlsKey === undefined) {
    throw new Error('DIALPLANE_TLS_CERT and DIALPLANE_TLS_KEY are set together or not at all (dialplane dev-cert --out DIR writes a pair)');
  }
  const read = (path: string, variable: string) =>
    readFile(path).catch((error: unknown) => {
      throw new Error(`${variable}: cannot read ${path}: ${error instanceof Error ? error.message : String(error)}`);
    });
  // One after the other, so when neither can be read the error always names the certificate first.
  const cert = await read(http.tlsCert, 'DIALPLANE_TLS_CERT');
  const key = await read(http.tlsKey, 'DIALPLANE_TLS_KEY');
  return { cert, key };
}

/** The first byte of a TLS record carrying a handshake (RFC 8446 5.1, ContentType handshake). */
const TLS_HANDSHAKE = 0x16;
/** How long a connection may stay silent before its first byte, when the server sets no headers timeout. */
const FIRST_BYTE_TIMEOUT_MS = 60_000;

type Handler = (request: IncomingMessage, response: ServerResponse) => void;

/**
 * One port that serves HTTPS and plain HTTP: each connection's first byte says which (a TLS handshake record starts
 * with 0x16, an HTTP request line with a letter). Plain HTTP stays for what uses it today (the CLI's admin calls on
 * loopback, faces whose documents allow it); a face that insists on HTTPS refuses plain requests itself, with an
 * answer in its own shape, which a TLS-only port could never give. Returned as the plain server, which listens and
 * closes for both.
 */
export function dualProtocolServer(tls: TlsFiles, handler: Handler): Server {
  const plain = createHttpServer(handler);
  const secure = createHttpsServer({ cert: tls.cert, key: tls.key }, handler);
  const [plainConnection] = plain.listeners('connection') as Array<(socket: Socket) => void>;
  if (!plainConnection) throw new Error('node:http server without a connection listener');
  plain.removeAllListeners('connection');
  /** Connections whose first byte has not come yet: neither side tracks them, so they are closed from here. */
  const undecided = new Set<Socket>();
  // Connection tracking (idle and request timeouts, closeIdleConnections) starts when a server listens; the TLS side
  // never listens itself, so it is started with the plain one.
  plain.once('listening', () => secure.emit('listening'));
  plain.on('connection', (socket: Socket) => dispatch(socket));
  plain.once('close', () => {
    secure.closeAllConnections();
    secure.close(() => undefined);
  });
  const closeIdle = plain.closeIdleConnections.bind(plain);
  const closeAll = plain.closeAllConnections.bind(plain);
  const dropUndecided = () => {
    for (const socket of undecided) socket.destroy();
    undecided.clear();
  };
  plain.closeIdleConnections = () => {
    dropUndecided();
    closeIdle();
    secure.closeIdleConnections();
  };
  plain.closeAllConnections = () => {
    dropUndecided();
    closeAll();
    secure.closeAllConnections();
  };
  // Fastify sets its timeouts on the server it is given; both sides keep them.
  for (const setting of ['keepAliveTimeout', 'requestTimeout', 'headersTimeout', 'maxRequestsPerSocket'] as const) {
    let value = plain[setting] as number;
    secure[setting] = value;
    Object.defineProperty(plain, setting, {
      get: () => value,
      set: (next: number) => {
        value = next;
        secure[setting] = next;
      },
      configurable: true,
    });
  }

  function dispatch(socket: Socket): void {
    const drop = () => {
      undecided.delete(socket);
      socket.destroy();
    };
    undecided.add(socket);
    socket.once('error', drop);
    // A client that connects and says nothing is held no longer than one that never finishes its headers.
    socket.setTimeout(secure.headersTimeout || FIRST_BYTE_TIMEOUT_MS, drop);
    const first = (): void => {
      const chunk = socket.read(1) as Buffer | null;
      if (chunk === null) {
        if (socket.readableEnded || socket.destroyed) return drop();
        socket.once('readable', first);
        return;
      }
      undecided.delete(socket);
      socket.removeListener('error', drop);
      socket.setTimeout(0, drop);
      socket.unshift(chunk);
      if (chunk[0] === TLS_HANDSHAKE) secure.emit('connection', socket);
      else plainConnection!.call(plain, socket);
    };
    first();
  }
  return plain;
}
