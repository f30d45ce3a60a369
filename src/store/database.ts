import { Kysely, Migrator, sql } from 'kysely';
import type { DatabaseDialect } from '../config/config.js';
import { DatabaseOutage } from './database-outage.js';
import { createPostgresDialect } from './dialects/postgres.js';
import { createSqliteDialect } from './dialects/sqlite.js';
import { SqliteGroupCommit } from './dialects/sqlite-group-commit.js';
import { migrationProvider } from './migrations.js';
import type { Tables } from './schema.js';

export type Db = Kysely<Tables>;

export interface Database {
  readonly db: Db;
  readonly dialect: DatabaseDialect;
  /**
   * Runs fn in a write transaction. On SQLite writes are group-committed (see SqliteGroupCommit) under BEGIN IMMEDIATE,
   * so two connections never deadlock upgrading read locks; PostgreSQL uses an ordinary transaction per call.
   */
  write<T>(fn: (trx: Db) => Promise<T>): Promise<T>;
  /**
   * SQLite only: prepares compiled SQL to run at once on the connection a write holds, bypassing the query builder
   * and the driver's queue. The runner is only for use inside write(); undefined on PostgreSQL (its statements go
   * through the pool).
   */
  readonly prepareInWrite?: ((sql: string) => (parameters: readonly unknown[]) => { rows: unknown[]; numAffectedRows?: bigint }) | undefined;
  /**
   * Whether the database server is away (PostgreSQL restarting or stopped), as the driver has seen it; subscribe to
   * hear when an outage begins and ends. SQLite, a file in this process, never has one.
   */
  readonly outage: DatabaseOutage;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  readonly url: string;
  readonly dialect: DatabaseDialect;
  readonly schema?: string;
  readonly migrate?: boolean;
}

export async function openDatabase(options: OpenDatabaseOptions): Promise<Database> {
  const sqlite = options.dialect === 'sqlite' ? createSqliteDialect(options.url) : undefined;
  const outage = new DatabaseOutage();
  const kyselyDialect =
    sqlite?.dialect ??
    createPostgresDialect({ url: options.url, outage, ...(options.schema ? { schema: options.schema } : {}) });
  const db = new Kysely<Tables>({ dialect: kyselyDialect });
  let closed = false;
  const groupCommit = sqlite ? new SqliteGroupCommit(db, sqlite.control) : undefined;
  const database: Database = {
    db,
    dialect: options.dialect,
    write: groupCommit ? (fn) => groupCommit.write(fn) : (fn) => db.transaction().execute(fn),
    prepareInWrite: sqlite?.prepareInWrite,
    outage,
    async ping() {
      await sql`select 1`.execute(db);
    },
    async close() {
      if (closed) return;
      closed = true;
      await db.destroy();
    },
  };
  if (options.migrate !== false) {
    try {
      await migrate(database);
    } catch (error) {
      await database.close();
      throw error;
    }
  }
  return database;
}

export async function migrate(database: Database): Promise<void> {
  // Kysely looks for its bookkeeping tables in every schema unless told which one; name ours, or another schema's
  // tables on the same server (another instance, a test run) would be mistaken for this one's.
  const schema =
    database.dialect === 'postgres'
      ? (await sql<{ schema: string }>`select current_schema() as schema`.execute(database.db)).rows[0]?.schema
      : undefined;
  const migrator = new Migrator({
    db: database.db,
    provider: migrationProvider(database.dialect),
    ...(schema ? { migrationTableSchema: schema } : {}),
  });
  for (let attempt = 1; ; attempt++) {
    const { error, results } = await migrator.migrateToLatest();
    if (!error) return;
    // Kysely checks for its bookkeeping tables by introspecting every schema of the database: a schema or table that
    // another client drops at that moment (another instance's, a test run's) fails the check. It is read again.
    if (database.dialect === 'postgres' && attempt < MIGRATION_ATTEMPTS && isConcurrentDdl(error)) {
      await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
      continue;
    }
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`database migration ${failed} failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}

const MIGRATION_ATTEMPTS = 5;

/** PostgreSQL's invalid_schema_name, undefined_table and undefined_column: what a concurrent DROP leaves a catalog read. */
function isConcurrentDdl(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '3F000' || code === '42P01' || code === '42703';
}

/** Unique-constraint violations look different in each driver; callers only need to know it was one. */
export function isUniqueViolation(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const code = (error as { code?: unknown }).code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}
