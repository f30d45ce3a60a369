import pg from 'pg';
import { PostgresDialect, type Dialect } from 'kysely';

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

export interface PostgresOptions {
  readonly url: string;
  /** Runs every connection in this schema (the test suite gives each run its own). */
  readonly schema?: string;
  readonly maxConnections?: number;
}

export function createPostgresDialect(options: PostgresOptions): Dialect {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.maxConnections ?? 10,
    types,
    ...(options.schema ? { options: `-c search_path=${options.schema}` } : {}),
  });
  return new PostgresDialect({ pool });
}
