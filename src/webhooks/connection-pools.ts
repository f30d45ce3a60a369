/**
 * Keep-alive connections for webhook and hook requests, one undici pool per origin and checked address.
 *
 * The SSRF guard stays in front of every request (guarded-request.ts resolves the host and checks every answer
 * before a pool is chosen), and a pool's connections are opened to its checked address only, so a pool is keyed by
 * that address as well as by the origin: when the host's DNS answer changes, the next request checks the new address
 * and gets a pool of its own, and the old one is closed once it has been idle for `idleCloseMs`.
 */
import type { Socket } from 'node:net';
import { Pool } from 'undici';
import type { Connector } from './guarded-request.js';
import { SsrfError, sameAddress } from './ssrf-guard.js';

export interface PoolTarget {
  /** `http://host[:port]` or `https://host[:port]`: the Host header and the pool's identity. */
  readonly origin: string;
  readonly address: string;
  readonly port: number;
  readonly tls: boolean;
  readonly servername: string;
}

export interface ConnectionPoolsOptions {
  /** Opens a connection to exactly the checked address. */
  readonly connect: Connector;
  /** Connections per pool at most (the dispatcher already bounds requests per target). */
  readonly connections: number;
  /** Budget for opening one connection, TLS handshake included. */
  readonly connectTimeoutMs: number;
  /** How long an idle connection is kept when the receiver names no shorter keep-alive. */
  readonly keepAliveMs?: number;
  /** A pool unused this long is closed. */
  readonly idleCloseMs?: number;
  readonly now?: () => number;
}

const DEFAULT_KEEP_ALIVE_MS = 4_000;
const DEFAULT_IDLE_CLOSE_MS = 60_000;
const KEEP_ALIVE_MARGIN_MS = 300;

/** A connection that could not be opened: the request may go on to the host's next checked address. */
export class PoolConnectError extends Error {
  constructor(override readonly cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause));
    const code = (cause as { code?: unknown } | null)?.code;
    if (typeof code === 'string') (this as { code?: string }).code = code;
  }
}

export class ConnectionPools {
  private readonly pools = new Map<string, { readonly pool: Pool; lastUsed: number }>();
  private readonly now: () => number;
  private readonly idleCloseMs: number;
  private sweptAt: number;
  private closed = false;

  constructor(private readonly options: ConnectionPoolsOptions) {
    this.now = options.now ?? Date.now;
    this.idleCloseMs = options.idleCloseMs ?? DEFAULT_IDLE_CLOSE_MS;
    this.sweptAt = this.now();
  }

  /** The pool for this origin at this checked address. */
  pool(target: PoolTarget): Pool {
    if (this.closed) throw new Error('connection pools are closed');
    const now = this.now();
    if (now - this.sweptAt >= this.idleCloseMs) this.sweep(now);
    const key = `${target.origin}|${target.address}`;
    let entry = this.pools.get(key);
    if (!entry) {
      entry = { pool: this.open(target), lastUsed: now };
      this.pools.set(key, entry);
    }
    entry.lastUsed = now;
    return entry.pool;
  }

  /** Pools open now (for tests and metrics). */
  get size(): number {
    return this.pools.size;
  }

  async close(): Promise<void> {
    this.closed = true;
    const pools = [...this.pools.values()].map((entry) => entry.pool);
    this.pools.clear();
    await Promise.all(pools.map((pool) => pool.destroy().catch(() => undefined)));
  }

  private sweep(now: number): void {
    this.sweptAt = now;
    for (const [key, entry] of this.pools) {
      if (now - entry.lastUsed < this.idleCloseMs) continue;
      this.pools.delete(key);
      void entry.pool.close().catch(() => undefined);
    }
  }

  private open(target: PoolTarget): Pool {
    const { connect, connectTimeoutMs } = this.options;
    const keepAliveMs = this.options.keepAliveMs ?? DEFAULT_KEEP_ALIVE_MS;
    return new Pool(target.origin, {
      connections: this.options.connections,
      pipelining: 1,
      keepAliveTimeout: keepAliveMs,
      keepAliveMaxTimeout: keepAliveMs,
      // A connection is kept until this long before the receiver's own keep-alive timeout (its Keep-Alive hint)
      // runs out; undici's default margin (2 s) would close every connection to a receiver that keeps them 1 s.
      keepAliveTimeoutThreshold: KEEP_ALIVE_MARGIN_MS,
      // Whatever the host name resolves to later, this pool's connections go to its checked address only.
      connect: (_options, callback) => {
        const signal = AbortSignal.timeout(connectTimeoutMs);
        connect(target.address, target.port, target.tls, target.servername, signal).then(
          (socket) => {
            const remote = socket.remoteAddress;
            if (remote === undefined || !sameAddress(remote, target.address)) {
              socket.destroy();
              callback(
                new SsrfError('address_mismatch', `connected to ${remote ?? 'an unknown address'} instead of the checked address ${target.address}`, {
                  host: target.servername,
                  address: target.address,
                }),
                null,
              );
              return;
            }
            callback(null, socket as Socket);
          },
          (error: unknown) => {
            if (error instanceof SsrfError) callback(error, null);
            else if (signal.aborted) {
              callback(new PoolConnectError(Object.assign(new Error(`webhook connection timed out after ${connectTimeoutMs} ms`), { code: 'ETIMEDOUT' })), null);
            } else callback(new PoolConnectError(error), null);
          },
        );
      },
    });
  }
}
