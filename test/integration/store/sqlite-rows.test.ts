import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, sql } from 'kysely';
import { createSqliteDialect, type SqliteDialectHandle } from '../../../src/store/dialects/sqlite.js';

// The SQLite dialect reads rows as arrays and builds their objects itself: they must be the objects better-sqlite3
// builds, through Kysely and through the statements run directly inside a write.
describe('SQLite rows', () => {
  let dir: string;
  let handle: SqliteDialectHandle;
  let db: Kysely<Record<string, Record<string, unknown>>>;
  let reference: BetterSqlite3.Database;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dialplane-sqlite-rows-'));
    handle = createSqliteDialect(join(dir, 'db.sqlite'));
    db = new Kysely({ dialect: handle.dialect });
    await sql`create table t (id integer primary key, name text, price real, data blob, note text)`.execute(db);
    await sql`insert into t values (1, 'one', 1.5, x'00ff', null), (2, 'two', null, null, 'n')`.execute(db);
    reference = new BetterSqlite3(join(dir, 'db.sqlite'), { readonly: true });
  });
  after(async () => {
    reference.close();
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  const same = (actual: unknown[], expected: unknown[]) => {
    assert.deepEqual(actual, expected);
    // Key order too: a row's properties follow its columns.
    assert.deepEqual(actual.map((row) => Object.keys(row as object)), expected.map((row) => Object.keys(row as object)));
  };

  test('select * gives each column under its name, in column order, with its SQLite type', async () => {
    const rows = await db.selectFrom('t').selectAll().orderBy('id').execute();
    same(rows, reference.prepare('select * from t order by id').all());
    assert.deepEqual(rows[0], { id: 1, name: 'one', price: 1.5, data: Buffer.from([0, 255]), note: null });
  });

  test('a repeated column name keeps the later value, as better-sqlite3 does', async () => {
    const { rows } = await sql`select 1 as a, 2 as b, 3 as a`.execute(db);
    same(rows, reference.prepare('select 1 as a, 2 as b, 3 as a').all());
    assert.deepEqual(rows, [{ a: 3, b: 2 }]);
  });

  test('no rows is an empty list', async () => {
    assert.deepEqual(await db.selectFrom('t').selectAll().where('id', '=', 404).execute(), []);
  });

  test('a kept statement reads the new columns after the table changes', async () => {
    const read = () => db.selectFrom('t').selectAll().where('id', '=', 2).execute();
    assert.deepEqual(Object.keys((await read())[0]!), ['id', 'name', 'price', 'data', 'note']);
    await sql`alter table t add column extra text default 'x'`.execute(db);
    const [row] = await read();
    assert.deepEqual(Object.keys(row!), ['id', 'name', 'price', 'data', 'note', 'extra']);
    assert.equal(row!.extra, 'x');
    await sql`alter table t drop column extra`.execute(db);
    assert.deepEqual(Object.keys((await read())[0]!), ['id', 'name', 'price', 'data', 'note']);
  });

  test('streamed rows are objects too', async () => {
    const rows: unknown[] = [];
    for await (const row of db.selectFrom('t').select(['id', 'name']).orderBy('id').stream()) rows.push(row);
    same(rows, [{ id: 1, name: 'one' }, { id: 2, name: 'two' }]);
  });

  test('a statement run directly inside a write returns its rows as objects', () => {
    const update = handle.prepareInWrite('update t set name = ? where id = ? returning *');
    const insert = handle.prepareInWrite('insert into t (id, name) values (?, ?)');
    handle.control('begin immediate');
    try {
      same(update(['uno', 1]).rows, [{ id: 1, name: 'uno', price: 1.5, data: Buffer.from([0, 255]), note: null }]);
      assert.deepEqual(update(['x', 404]).rows, []);
      const inserted = insert([3, 'three']);
      assert.deepEqual(inserted, { rows: [], numAffectedRows: 1n });
    } finally {
      handle.control('rollback');
    }
  });
});
