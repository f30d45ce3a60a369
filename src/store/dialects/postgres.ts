import pg from 'pg';
import { PostgresDialect, type Dialect } from 'kysely';
import type { DatabaseOutage } from '../database-outage.js';

const INT8_OID = 20;

/**
 * Money is bigint in PostgreSQL and pg returns int8 as text to be safe past 2^53; our amounts stay far below that,
 * so int8 is read back as a number for this pool only (no global type parser is changed).
 */
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID && format !== 'binary') return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format as 'text');
  },
};

/**
 * A connection that takes longer than this to open fails (and the request that wanted it answers 503) rather than
 * waiting on a server that accepts the TCP connection but does not answer.
 */
const CONNECT_TIMEOUT_MS = 10_000;

export interface PostgresOptions {
  readonly url: string;
  /** Runs every connection in this schema (the test suite gives each run its own). */
  readonly schema?: string;
  readonly maxConnections?: number;
  /** Told of every failed or lost connection and of every connection made. */
  readonly outage?: DatabaseOutage;
}

export function createPostgresDialect(options: PostgresOptions): Dialect {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.maxConnections ?? 10,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    types,
    ...(options.schema ? { options: `-c search_path=${options.schema}` } : {}),
  });
  const lost = (error: unknown) => {
    options.outage?.observe(error);
  };
  // When the server ends a session (a restart terminates them all) node-postgres emits 'error' on the client, and on
  // the pool for an idle one; an 'error' event nobody listens to would end the process. The pool already drops such
  // a client (idle, or when it is released unqueryable) and opens a new connection for the next query. The
  // listener on each client covers one checked out by a query or a transaction when its socket is cut.
  pool.on('error', lost);
  pool.on('connect', (client) => {
    client.on('error', lost);
    // A new connection, not a pooled one handed out again: only that shows the server is there.
    options.outage?.connected();
  });
  return new PostgresDialect({
    pool: {
      async connect() {
        try {
          return await pool.connect();
        } catch (error) {
          lost(error);
          throw error;
        }
      },
      end: () => pool.end(),
    },
  });
}
