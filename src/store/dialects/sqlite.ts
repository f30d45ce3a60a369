import { chmodSync, closeSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { SqliteDialect, type Dialect, type SqliteDatabase, type SqliteStatement } from 'kysely';

const STATEMENT_CACHE_SIZE = 256;

/**
 * Kysely prepares every query anew, and preparing costs more than running a small query. The set of distinct SQL
 * texts an application issues is small and fixed, so prepared statements are kept by text (bounded, oldest out).
 * Reusing one is safe: the driver runs one query at a time on its single connection. What is kept is the statement
 * with its rows read as arrays (see objectRows), in the shape Kysely's driver uses.
 */
function withStatementCache(database: BetterSqlite3.Database): SqliteDatabase {
  const statements = new Map<string, SqliteStatement>();
  return {
    close: () => database.close(),
    prepare(sql: string): SqliteStatement {
      let statement = statements.get(sql);
      if (!statement) {
        if (statements.size >= STATEMENT_CACHE_SIZE) statements.delete(statements.keys().next().value!);
        statement = readingArrays(database.prepare(sql));
        statements.set(sql, statement);
      }
      return statement;
    },
  };
}

/** A better-sqlite3 statement whose rows are built in JavaScript from arrays (see objectRows). */
function readingArrays(statement: BetterSqlite3.Statement): SqliteStatement {
  if (!statement.reader) return statement as unknown as SqliteStatement;
  const rows = objectRows(statement);
  return {
    reader: true,
    all: (parameters) => rows.all(parameters),
    run: (parameters) => statement.run(parameters as unknown[]),
    iterate: (parameters) => rows.iterate(parameters),
  };
}

/**
 * A reading statement's rows as objects, built here from the arrays better-sqlite3 gives in raw mode. better-sqlite3
 * sets each column of an object row through the V8 API, which for a call's 26 columns costs more than twice what
 * SQLite takes to run the statement; the same stores made in JavaScript cost next to nothing. Same objects: own
 * properties named after the columns, in column order, a later duplicate name overwriting an earlier one.
 */
function objectRows(statement: BetterSqlite3.Statement): {
  all(parameters: readonly unknown[]): unknown[];
  iterate(parameters: readonly unknown[]): IterableIterator<unknown>;
} {
  statement.raw(true);
  let names = statement.columns().map((column) => column.name);
  const toObject = (values: unknown[]): Record<string, unknown> => {
    if (values.length !== names.length) {
      // SQLite prepared the statement again after a schema change (a `*` now names other columns).
      names = statement.columns().map((column) => column.name);
    }
    const row: Record<string, unknown> = {};
    for (let c = 0; c < names.length; c++) row[names[c]!] = values[c];
    return row;
  };
  return {
    all(parameters) {
      const arrays = statement.all(parameters as unknown[]) as unknown[][];
      for (let r = 0; r < arrays.length; r++) (arrays as unknown[])[r] = toObject(arrays[r]!);
      return arrays;
    },
    *iterate(parameters) {
      for (const values of statement.iterate(parameters as unknown[])) yield toObject(values as unknown[]);
    },
  };
}

/** What a statement run directly gives back: Kysely's QueryResult shape, so callers cannot tell the two apart. */
export interface DirectResult {
  readonly rows: unknown[];
  readonly numAffectedRows?: bigint;
}

/** Transaction control the group commit issues around every batch: no parameters, no result. */
export type SqliteControlStatement = 'begin immediate' | 'savepoint w' | 'release w' | 'rollback to w' | 'commit' | 'rollback';

export interface SqliteDialectHandle {
  readonly dialect: Dialect;
  /**
   * Runs a transaction-control statement on the one connection, directly rather than through a query builder: a batch
   * of writes issues two of them per write. Only for a caller that holds the connection (inside its execute()).
   */
  readonly control: (statement: SqliteControlStatement) => void;
  /**
   * Prepares compiled SQL for running on the one connection synchronously, without the driver's queue. The runner it
   * returns is only for a caller inside a write transaction (which holds the connection), so the statement is part of
   * that transaction.
   */
  readonly prepareInWrite: (sql: string) => DirectRunner;
}

/** Runs one prepared statement with its parameters. */
export type DirectRunner = (parameters: readonly unknown[]) => DirectResult;

/**
 * The database file is made 0600 before SQLite opens it: SQLite gives its -wal and -shm files the mode of the
 * database file, so all three are readable by the server's user only. Files left wider (by an earlier version) are
 * narrowed.
 */
function privateDatabaseFiles(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  closeSync(openSync(path, 'a', 0o600));
  for (const file of [path, `${path}-wal`, `${path}-shm`, `${path}-journal`]) {
    const mode = statSync(file, { throwIfNoEntry: false })?.mode;
    if (mode !== undefined && (mode & 0o177) !== 0) chmodSync(file, 0o600);
  }
}

/** The embedded default: one file, WAL so readers never block the writer, foreign keys enforced. */
export function createSqliteDialect(path: string): SqliteDialectHandle {
  if (path !== ':memory:') privateDatabaseFiles(path);
  const database = new BetterSqlite3(path);
  database.pragma('journal_mode = WAL');
  database.pragma('synchronous = NORMAL');
  database.pragma('foreign_keys = ON');
  database.pragma('busy_timeout = 5000');
  // The group commit runs each write in a SAVEPOINT, and SQLite copies every page a savepoint changes into a
  // sub-journal. With temp files allowed, the sub-journal moves to a temp file past 64 KiB, which a batch of call
  // writes passes: a temp file per batch and ~70 pwrite() calls per call (strace), as much CPU again as the writes
  // themselves. Kept in memory a copy is a memcpy. It only serves ROLLBACK TO within one transaction, never recovery
  // (that is the WAL), so durability is unchanged; temporary tables and sorts are held in memory too.
  database.pragma('temp_store = MEMORY');
  const controls = new Map<SqliteControlStatement, BetterSqlite3.Statement>();
  const cached = withStatementCache(database);
  return {
    dialect: new SqliteDialect({ database: cached }),
    prepareInWrite(sql) {
      const statement = database.prepare(sql);
      if (statement.reader) {
        const rows = objectRows(statement);
        return (parameters) => ({ rows: rows.all(parameters) });
      }
      return (parameters) => ({ rows: [], numAffectedRows: BigInt(statement.run(parameters as unknown[]).changes) });
    },
    control(statement) {
      let prepared = controls.get(statement);
      if (!prepared) {
        prepared = database.prepare(statement);
        controls.set(statement, prepared);
      }
      prepared.run();
    },
  };
}
