/**
 * Telling "the database server is away" (restarting, stopped, unreachable) from every other failure of a query, and
 * keeping track of one outage from its first failed connection to the next connection made.
 *
 * Such an error is not a bug of the request or of the work that met it: the API answers it with 503 and Retry-After,
 * and background work reports it once per outage and tries again at its next tick. The pool drops a connection the
 * server closed and opens new ones as they are needed, so nothing has to reconnect by hand.
 */

/** Socket errors of a connection that could not be made or was cut. */
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * PostgreSQL's admin_shutdown (a fast shutdown or restart terminates every session), crash_shutdown,
 * cannot_connect_now (starting up, shutting down, in recovery); class 08 (connection exceptions) is matched whole.
 */
const SERVER_CODES = new Set(['57P01', '57P02', '57P03']);

/** What node-postgres says when the socket under a client ends or a connection cannot be made in time. */
const DRIVER_MESSAGES = [
  /^Connection terminated/,
  /^Client has encountered a connection error and is not queryable/,
  /^timeout exceeded when trying to connect/,
  /^Client was closed and is not queryable/,
];

export function isDatabaseUnavailable(error: unknown): boolean {
  // A wrapped error (a cause), or the per-address errors of one connection attempt (AggregateError), counts as its parts.
  for (let current = error, depth = 0; typeof current === 'object' && current !== null && depth < 5; depth++) {
    const { code, message, syscall, errors } = current as { code?: unknown; message?: unknown; syscall?: unknown; errors?: unknown };
    if (typeof code === 'string') {
      if (SOCKET_CODES.has(code) || SERVER_CODES.has(code) || /^08[0-9A-Z]{3}$/.test(code)) return true;
      // A PostgreSQL Unix socket that is not there (the server stopped removes it).
      if (code === 'ENOENT' && syscall === 'connect') return true;
    }
    if (typeof message === 'string' && DRIVER_MESSAGES.some((pattern) => pattern.test(message))) return true;
    if (Array.isArray(errors) && errors.some((part) => isDatabaseUnavailable(part))) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

export interface OutageListener {
  /** The first failure of an outage: the error's message and code only, never the connection string. */
  down?(reason: { message: string; code: string | undefined }): void;
  /** A connection was made again after an outage, `downMs` after its first failure. */
  up?(downMs: number): void;
}

/**
 * One database's reachability as its driver sees it: down from the first failure that says the server is away,
 * up again at the next connection made. Listeners hear each change once, however many queries fail meanwhile.
 */
export class DatabaseOutage {
  private downSince: number | undefined;
  private readonly listeners = new Set<OutageListener>();

  constructor(private readonly now: () => number = Date.now) {}

  get down(): boolean {
    return this.downSince !== undefined;
  }

  /** Adds a listener; returns its removal. */
  subscribe(listener: OutageListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Notes a failure; true when it says the database is away (and an outage is now under way). */
  observe(error: unknown): boolean {
    if (!isDatabaseUnavailable(error)) return false;
    if (this.downSince !== undefined) return true;
    this.downSince = this.now();
    const { message, code } = error as { message?: unknown; code?: unknown };
    const reason = { message: typeof message === 'string' ? message : String(error), code: typeof code === 'string' ? code : undefined };
    for (const listener of this.listeners) {
      try {
        listener.down?.(reason);
      } catch {
        // A listener's failure must not turn a query's failure into another one.
      }
    }
    return true;
  }

  /** A connection was made: the outage, if one was under way, is over. */
  connected(): void {
    if (this.downSince === undefined) return;
    const downMs = this.now() - this.downSince;
    this.downSince = undefined;
    for (const listener of this.listeners) {
      try {
        listener.up?.(downMs);
      } catch {
        // as above
      }
    }
  }
}
