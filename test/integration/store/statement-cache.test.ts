import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sql } from 'kysely';
import { StatementCache } from '../../../src/store/statement-cache.js';
import { createTestDatabase, describeEachDialect, type TestDatabase } from '../../helpers/databases.js';

await describeEachDialect('statement cache', (dialect) => {
  let db: TestDatabase;

  before(async () => {
    db = await createTestDatabase(dialect);
    await db.database.db
      .insertInto('accounts')
      .values([
        { id: 'acc_1', name: 'One', email: 'one@example.com', status: 'active', balance_minor: 1000, held_minor: 0, created_at: '2026-01-01T00:00:00.000Z' },
        { id: 'acc_2', name: 'Two', email: 'two@example.com', status: 'active', balance_minor: 50, held_minor: 0, created_at: '2026-01-01T00:00:00.000Z' },
      ] as never)
      .execute();
  });
  after(async () => db.close());

  test('a shape is built once; later runs take their own values, a value used twice included, and constants stay', async () => {
    const cache = new StatementCache(db.database);
    let builds = 0;
    const hold = (amount: number, id: string) =>
      db.database.write((trx) => cache.execute(trx, 'hold', [amount, id], ([a, account]) => {
        builds++;
        return trx
          .updateTable('accounts')
          .set({ held_minor: sql`held_minor + ${a}` })
          .where('id', '=', account as string)
          .where('status', '=', 'active')
          .where(sql<boolean>`balance_minor - held_minor >= ${a}`);
      }));
    assert.equal(Number((await hold(100, 'acc_1')).numAffectedRows), 1);
    assert.equal(Number((await hold(60, 'acc_2')).numAffectedRows), 0, 'the condition is checked with this run\'s amount');
    assert.equal(Number((await hold(40, 'acc_2')).numAffectedRows), 1);
    assert.equal(builds, 1);
    const rows = await db.database.db.selectFrom('accounts').select(['id', 'held_minor']).orderBy('id').execute();
    assert.deepEqual(rows.map((r) => [r.id, Number(r.held_minor)]), [['acc_1', 100], ['acc_2', 40]]);
  });

  test('returning rows come back; shapes with other columns are compiled apart', async () => {
    const cache = new StatementCache(db.database);
    const rename = (id: string, changes: Record<string, string>) => {
      const entries = Object.entries(changes);
      return db.database.write((trx) => cache.first(trx, `rename:${entries.map(([c]) => c).join(',')}`, [...entries.map(([, v]) => v), id], (v) =>
        trx
          .updateTable('accounts')
          .set(Object.fromEntries(entries.map(([c], i) => [c, v[i]])) as never)
          .where('id', '=', v[entries.length] as string)
          .returning(['id', 'name', 'email']),
      ));
    };
    assert.deepEqual(await rename('acc_1', { name: 'Uno' }), { id: 'acc_1', name: 'Uno', email: 'one@example.com' });
    assert.deepEqual(await rename('acc_2', { name: 'Dos', email: 'dos@example.com' }), { id: 'acc_2', name: 'Dos', email: 'dos@example.com' });
    assert.deepEqual(await rename('acc_1', { name: 'Un' }), { id: 'acc_1', name: 'Un', email: 'one@example.com' });
    assert.equal(await rename('acc_404', { name: 'x' }), undefined);
  });

  test('a value the query does not take as a parameter is refused when the shape is compiled', async () => {
    const cache = new StatementCache(db.database);
    await assert.rejects(
      db.database.write((trx) =>
        cache.execute(trx, 'dropped', ['ignored', 'acc_1'], ([, id]) => trx.selectFrom('accounts').select('id').where('id', '=', id as string)),
      ),
      /takes 1 of its 2 values/,
    );
  });
});
