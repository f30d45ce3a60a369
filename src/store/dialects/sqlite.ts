import { chmodSync, closeSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { SqliteDialect, type Dialect, type SqliteDatabase } from 'kysely';

const STATEMENT_CACHE_SIZE = 256;

/**
 * Kysely prepares every query anew, and preparing costs more than running a small query. The set of distinct SQL
 * texts an application issues is small and fixed, so prepared statements are kept by text (bounded, oldest out).
 * Reusing one is safe: the driver runs one query at a time on its single connection.
 */
function withStatementCache(database: BetterSqlite3.Database): SqliteDatabase & { prepare(sql: string): BetterSqlite3.Statement } {
  const statements = new Map<string, BetterSqlite3.Statement>();
  return {
    close: () => database.close(),
    prepare(sql: string): BetterSqlite3.Statement {
      let statement = statements.get(sql);
      if (!statement) {
        if (statements.size >= STATEMENT_CACHE_SIZE) statements.delete(statements.keys().next().value!);
        statement = database.prepare(sql);
        statements.set(sql, statement);
      }
      return statement;
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
  // sub-journal. With temp files allowed, that sub-journal spills to a file once a transaction's copies pass 64 KiB
  // (a batch of a few dozen call events does) and every later copy is a write() to it: as much CPU again as the writes
  // themselves. Kept in memory it costs a memcpy. It only serves ROLLBACK TO within one transaction, never recovery
  // (that is the WAL), so durability is unchanged; temporary tables and sorts are held in memory too.
  database.pragma('temp_store = MEMORY');
  const controls = new Map<SqliteControlStatement, BetterSqlite3.Statement>();
  const cached = withStatementCache(database);
  return {
    dialect: new SqliteDialect({ database: cached as unknown as SqliteDatabase }),
    prepareInWrite(sql) {
      const statement = database.prepare(sql);
      if (statement.reader) return (parameters) => ({ rows: statement.all(parameters as unknown[]) });
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
