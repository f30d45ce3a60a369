/**
 * One HTTP(S) request to a webhook URL, guarded against SSRF and DNS rebinding:
 *  - the URL must be http/https without credentials;
 *  - the host is resolved exactly once and EVERY answer must pass isAllowedTarget (a mix of public and private
 *    answers is refused);
 *  - the connection is opened to the checked address itself (never re-resolved), with Host and SNI for the
 *    original name, and the connected socket's remote address must equal the checked address.
 * Redirects are not followed: a 3xx comes back as a status like any other.
 * With keep-alive pools (connection-pools.ts) the checks are the same for every request; only the connection to the
 * checked address may be one kept from an earlier request.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { request as httpRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { connect as netConnect, isIP, type LookupFunction } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { SsrfError, assertAllowedTarget, normalizeAddress, sameAddress } from './ssrf-guard.js';
import { PoolConnectError, type ConnectionPools } from './connection-pools.js';

/** A connected stream to the checked address. `remoteAddress` must be the address that was connected to. */
export type GuardedSocket = Duplex & { readonly remoteAddress?: string | undefined };

/** Resolve a host name to its IP addresses (all of them). */
export type Resolver = (host: string) => Promise<string[]>;

/**
 * Open a connection to exactly `address:port`, as TLS when `tls` (SNI and certificate name: `servername`), and
 * resolve once it is connected (for TLS: once the handshake has succeeded).
 */
export type Connector = (
  address: string,
  port: number,
  tls: boolean,
  servername: string,
  signal?: AbortSignal,
) => Promise<GuardedSocket>;

export interface GuardedRequestInit {
  readonly method: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Buffer;
  /** Whole-request budget: resolution, connection, request and response. */
  readonly timeoutMs: number;
  /** Budget for resolution and connection (TLS handshake included); defaults to timeoutMs. */
  readonly connectTimeoutMs?: number;
  /** Largest response body accepted; default 1 MiB. */
  readonly maxResponseBytes?: number;
}

export interface GuardedRequestDeps {
  /** Defaults to node:dns/promises lookup(host, { all: true }). */
  readonly resolve?: Resolver;
  /** Defaults to a real TCP/TLS connection to the given address. */
  readonly connect?: Connector;
  /** Permit loopback/private/ULA/link-local targets (never metadata or unspecified). */
  readonly allowPrivate: boolean;
  /**
   * Keep-alive pools: the request goes over a kept connection to the checked address (opened with `connect`) and
   * leaves it open. Without them, each request opens its own connection and closes it.
   */
  readonly pools?: ConnectionPools;
}

export interface GuardedResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
  /** The checked address the request was delivered to. */
  readonly address: string;
}

const DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024;

interface Target {
  readonly tls: boolean;
  /** Host name, or the IP literal without brackets. */
  readonly hostname: string;
  readonly literal: boolean;
  readonly port: number;
  /** Host header value (URL host: brackets for IPv6, port when not the default). */
  readonly hostHeader: string;
  readonly path: string;
}

/** Parse and vet a webhook URL. Throws SsrfError for anything not deliverable. */
export function parseWebhookUrl(url: string): Target {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new SsrfError('invalid_url', 'webhook URL does not parse');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new SsrfError('unsupported_protocol', `webhook URL scheme ${u.protocol} is not http: or https:`);
  }
  if (u.username !== '' || u.password !== '') {
    throw new SsrfError('credentials_in_url', 'webhook URL must not contain credentials');
  }
  let hostname = u.hostname;
  if (hostname.startsWith('[') && hostname.endsWith(']')) hostname = hostname.slice(1, -1);
  if (hostname === '') throw new SsrfError('invalid_url', 'webhook URL has no host');
  const tls = u.protocol === 'https:';
  const literal = isIP(hostname) !== 0;
  return {
    tls,
    hostname: literal ? hostname : hostname.replace(/\.$/, ''),
    literal,
    port: u.port === '' ? (tls ? 443 : 80) : Number(u.port),
    hostHeader: u.host,
    path: `${u.pathname === '' ? '/' : u.pathname}${u.search}`,
  };
}

/** Default resolver: the system resolver, every address. */
export const defaultResolve: Resolver = async (host) => {
  const answers = await dnsLookup(host, { all: true });
  return answers.map((a) => a.address);
};

/** A lookup that can only ever answer the checked address (belt and braces: net skips lookup for IP hosts). */
function pinnedLookup(address: string): LookupFunction {
  const family = isIP(address) === 6 ? 6 : 4;
  return (_hostname, options, callback) => {
    if (options.all === true) callback(null, [{ address, family }]);
    else callback(null, address, family);
  };
}

/** Default connector: a real TCP (or TLS) connection to exactly `address`. */
export const defaultConnect: Connector = (address, port, useTls, servername, signal) =>
  new Promise<GuardedSocket>((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(signal.reason);
      return;
    }
    const lookup = pinnedLookup(address);
    const socket = useTls
      ? tlsConnect({
          host: address,
          port,
          lookup,
          // SNI must not be an IP; without it the certificate is checked against `host` (the literal address).
          servername: servername !== '' && isIP(servername) === 0 ? servername : undefined,
          ALPNProtocols: ['http/1.1'],
        })
      : netConnect({ host: address, port, lookup });
    const readyEvent = useTls ? 'secureConnect' : 'connect';
    const cleanup = (): void => {
      socket.off('error', onError);
      socket.off(readyEvent, onReady);
      signal?.removeEventListener('abort', onAbort);
    };
    function onError(err: Error): void {
      cleanup();
      socket.destroy();
      reject(err);
    }
    function onAbort(): void {
      onError(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
    }
    function onReady(): void {
      cleanup();
      resolve(socket);
    }
    socket.once('error', onError);
    socket.once(readyEvent, onReady);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

function timeoutError(ms: number, phase: 'request' | 'connect' = 'request'): Error {
  const what = phase === 'connect' ? 'connection' : 'request';
  return Object.assign(new Error(`webhook ${what} timed out after ${ms} ms`), { code: 'ETIMEDOUT' });
}

/** Reject when the signal aborts; `onLateValue` disposes of a value that arrives after that. */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal, onLateValue?: (value: T) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) onLateValue?.(value);
        else resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

const HOP_HEADERS = new Set(['host', 'content-length', 'connection', 'transfer-encoding', 'keep-alive', 'upgrade']);

function flattenHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

function exchange(
  socket: GuardedSocket,
  address: string,
  target: Target,
  init: GuardedRequestInit,
  signal: AbortSignal,
): Promise<GuardedResponse> {
  return new Promise<GuardedResponse>((resolve, reject) => {
    const body = init.body ?? Buffer.alloc(0);
    const max = init.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    const method = init.method.toUpperCase();
    const headers: OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(init.headers ?? {})) {
      if (!HOP_HEADERS.has(name.toLowerCase())) headers[name] = value;
    }
    headers['host'] = target.hostHeader;
    headers['connection'] = 'close';
    if (body.length > 0 || (method !== 'GET' && method !== 'HEAD')) headers['content-length'] = String(body.length);

    let settled = false;
    const finish = (err: unknown, value?: GuardedResponse): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      if (value !== undefined && err === null) resolve(value);
      else reject(err);
    };
    const onAbort = (): void => {
      req.destroy();
      finish(signal.reason);
    };

    const req = httpRequest({
      method,
      path: target.path,
      headers,
      setHost: false,
      // The socket is already connected (and TLS-wrapped) to the checked address; no agent, no lookup.
      createConnection: () => socket,
    });
    signal.addEventListener('abort', onAbort, { once: true });
    req.on('error', (err) => finish(err));
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > max) {
          req.destroy();
          finish(new Error(`webhook response larger than ${max} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('error', (err) => finish(err));
      res.on('end', () =>
        finish(null, {
          status: res.statusCode ?? 0,
          headers: flattenHeaders(res.headers),
          body: Buffer.concat(chunks),
          address,
        }),
      );
    });
    req.end(body);
  });
}

/** One request over the pool of `target` at the checked `address`; the connection stays open for the next. */
/** Errors of a connection that broke before any answer came (undici's "other side closed", a reset, a broken pipe). */
const CONNECTION_LOST_CODES = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);

async function pooledExchange(
  pools: ConnectionPools,
  address: string,
  target: Target,
  init: GuardedRequestInit,
  signal: AbortSignal,
): Promise<GuardedResponse> {
  const max = init.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(init.headers ?? {})) {
    if (!HOP_HEADERS.has(name.toLowerCase())) headers[name] = value;
  }
  const pool = pools.pool({
    origin: `${target.tls ? 'https' : 'http'}://${target.hostHeader}`,
    address,
    port: target.port,
    tls: target.tls,
    servername: target.hostname,
  });
  const send = () =>
    pool.request({
      method: init.method.toUpperCase() as 'POST',
      path: target.path,
      headers,
      body: init.body ?? Buffer.alloc(0),
      signal,
      headersTimeout: init.timeoutMs,
      bodyTimeout: init.timeoutMs,
    });
  let response: Awaited<ReturnType<typeof send>>;
  try {
    response = await send();
  } catch (error) {
    // A kept connection the receiver closed while it was idle (its keep-alive timeout ending just as the request went
    // out) fails with no answer: the request is sent once more, on a new connection, rather than counted as a failed
    // attempt and retried only after the backoff. Delivery is at least once, so a receiver that did read the request
    // before the connection broke may see it twice.
    if (signal.aborted || !CONNECTION_LOST_CODES.has(String((error as { code?: unknown }).code))) throw error;
    response = await send();
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response.body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) {
      response.body.destroy();
      throw new Error(`webhook response larger than ${max} bytes`);
    }
    chunks.push(chunk);
  }
  return { status: response.statusCode, headers: flattenHeaders(response.headers), body: Buffer.concat(chunks), address };
}

/**
 * Deliver one request to `url` through the SSRF guard. Throws SsrfError when the target is refused (before any
 * connection is attempted), the timeout error (code ETIMEDOUT) or the network error otherwise.
 */
export async function guardedRequest(
  url: string,
  init: GuardedRequestInit,
  deps: GuardedRequestDeps,
): Promise<GuardedResponse> {
  const target = parseWebhookUrl(url);
  const resolve = deps.resolve ?? defaultResolve;
  const connect = deps.connect ?? defaultConnect;
  const policy = { allowPrivate: deps.allowPrivate };

  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(timeoutError(init.timeoutMs)), init.timeoutMs);
  const connectMs = init.connectTimeoutMs ?? init.timeoutMs;
  let connectTimer: NodeJS.Timeout | undefined = setTimeout(
    () => controller.abort(timeoutError(connectMs, 'connect')),
    connectMs,
  );
  const { signal } = controller;
  try {
    // Resolve exactly once; the addresses checked here are the only ones ever connected to.
    const answers = target.literal ? [target.hostname] : await untilAborted(resolve(target.hostname), signal);
    if (answers.length === 0) {
      throw new SsrfError('no_addresses', `webhook host ${target.hostname} has no addresses`, { host: target.hostname });
    }
    const checked: string[] = [];
    const seen = new Set<string>();
    for (const answer of answers) {
      assertAllowedTarget(answer, policy, target.hostname); // every answer, so a mixed answer is refused
      const key = normalizeAddress(answer);
      if (!seen.has(key)) {
        seen.add(key);
        checked.push(answer);
      }
    }

    let lastError: unknown = new Error('no connection attempted');
    if (deps.pools) {
      // A pool's connector has its own connection budget; a kept connection needs none.
      clearTimeout(connectTimer);
      connectTimer = undefined;
      for (const address of checked) {
        try {
          return await pooledExchange(deps.pools, address, target, init, signal);
        } catch (err) {
          if (signal.aborted) throw signal.reason;
          if (!(err instanceof PoolConnectError)) throw err;
          lastError = err; // try the next checked address
        }
      }
      throw lastError;
    }
    for (const address of checked) {
      let socket: GuardedSocket;
      try {
        socket = await untilAborted(connect(address, target.port, target.tls, target.hostname, signal), signal, (s) =>
          s.destroy(),
        );
      } catch (err) {
        if (signal.aborted || err instanceof SsrfError) throw err;
        lastError = err; // try the next checked address
        continue;
      }
      const remote = socket.remoteAddress;
      if (remote === undefined || !sameAddress(remote, address)) {
        socket.destroy();
        throw new SsrfError(
          'address_mismatch',
          `connected to ${remote ?? 'an unknown address'} instead of the checked address ${address}`,
          { host: target.hostname, address },
        );
      }
      clearTimeout(connectTimer);
      connectTimer = undefined;
      return await exchange(socket, address, target, init, signal);
    }
    throw lastError;
  } finally {
    clearTimeout(timer);
    clearTimeout(connectTimer);
  }
}
