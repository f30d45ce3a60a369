import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe } from 'node:test';
import pg from 'pg';
import { openDatabase, type Database } from '../../src/store/database.js';
import type { DatabaseDialect } from '../../src/config/config.js';

export const POSTGRES_URL = process.env.DIALPLANE_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const postgresRequired = process.env.CI === 'true' || process.env.DIALPLANE_TEST_REQUIRE_POSTGRES === '1';

let postgresReachable: Promise<string | undefined> | undefined;

/** Undefined when reachable, else why not. Checked once per test process. */
function postgresProblem(): Promise<string | undefined> {
  postgresReachable ??= (async () => {
    const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 2000 });
    try {
      await client.connect();
      await client.query('select 1');
      return undefined;
    } catch (error) {
      return error instanceof Error ? error.message : String(error);
    } finally {
      await client.end().catch(() => undefined);
    }
  })();
  return postgresReachable;
}

export interface TestDatabase {
  readonly database: Database;
  readonly dialect: DatabaseDialect;
  /** SQLite: the database file, so tests can read its raw bytes. */
  readonly file: string | undefined;
  /** PostgreSQL: the schema this test database lives in. */
  readonly schema: string | undefined;
  close(): Promise<void>;
}

/** A fresh, migrated database: a temporary SQLite file, or a new schema in the test PostgreSQL. */
export async function createTestDatabase(dialect: DatabaseDialect): Promise<TestDatabase> {
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'dialplane-test-'));
    const file = join(dir, 'test.sqlite');
    const database = await openDatabase({ url: file, dialect });
    return {
      database,
      dialect,
      file,
      schema: undefined,
      async close() {
        await database.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const schema = `t_${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  await admin.query(`create schema ${schema}`);
  await admin.end();
  const database = await openDatabase({ url: POSTGRES_URL, dialect, schema });
  return {
    database,
    dialect,
    file: undefined,
    schema,
    async close() {
      await database.close();
      const drop = new pg.Client({ connectionString: POSTGRES_URL });
      await drop.connect();
      await drop.query(`drop schema ${schema} cascade`);
      await drop.end();
    },
  };
}

/**
 * For a test that needs PostgreSQL itself rather than once per dialect (several servers on one database): `skip` for
 * node:test with a visible message when no server answers on a plain run; under CI=true it is not skipped, and
 * `failure` says why the test must fail.
 */
export async function postgresTestOptions(name: string): Promise<{ skip: string | false; failure: string | undefined }> {
  const problem = await postgresProblem();
  if (!problem) return { skip: false, failure: undefined };
  if (postgresRequired) return { skip: false, failure: `PostgreSQL is required (CI=true) but unreachable at ${POSTGRES_URL}: ${problem}` };
  process.stderr.write(`[skip] ${name}: PostgreSQL unreachable at ${POSTGRES_URL}\n`);
  return { skip: `PostgreSQL unreachable at ${POSTGRES_URL}: ${problem}`, failure: undefined };
}

/**
 * Runs a suite once per dialect. PostgreSQL is mandatory under CI=true (its absence fails the run) and skipped
 * with a visible message on a plain `npm test` where no server answers.
 */
export async function describeEachDialect(name: string, suite: (dialect: DatabaseDialect) => void): Promise<void> {
  const problem = await postgresProblem();
  for (const dialect of ['sqlite', 'postgres'] as const) {
    if (dialect === 'postgres' && problem) {
      if (postgresRequired) {
        describe(`${name} [postgres]`, () => {
          throw new Error(`PostgreSQL is required (CI=true) but unreachable at ${POSTGRES_URL}: ${problem}`);
        });
        continue;
      }
      process.stderr.write(`[skip] ${name} [postgres]: PostgreSQL unreachable at ${POSTGRES_URL}\n`);
      describe(`${name} [postgres]`, { skip: `PostgreSQL unreachable at ${POSTGRES_URL}: ${problem}` }, () => undefined);
      continue;
    }
    describe(`${name} [${dialect}]`, () => suite(dialect));
  }
}
