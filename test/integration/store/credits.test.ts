import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { DialplaneError } from '../../../src/errors.js';
import { createServices, type Services } from '../../../src/core/services.js';
import { createStore } from '../../../src/store/store.js';
import { migrations } from '../../../src/store/migrations.js';
import { ManualClock } from '../../helpers/app.js';
import { createTestDatabase, describeEachDialect, type TestDatabase } from '../../helpers/databases.js';

await describeEachDialect('credit ledger', (dialect) => {
  let db: TestDatabase;
  let services: Services;

  before(async () => {
    db = await createTestDatabase(dialect);
    services = createServices(createStore(db.database), {
      clock: new ManualClock(),
      defaultCountry: 'US',
      keyCacheTtlMs: 60_000,
    });
  });
  after(async () => db.close());

  async function account(): Promise<string> {
    const { account } = await services.accounts.create({ name: 'Ledger', email: `l${Math.random()}@example.com` });
    return account.id;
  }

  async function assertLedgerMatches(accountId: string): Promise<void> {
    const balance = await services.credits.balance(accountId);
    assert.equal(await services.store.credits.ledgerSum(accountId), balance.balanceMinor, 'balance = sum of entries');
  }

  test('top-up and debit write entries and keep balance = sum of entries', async () => {
    const id = await account();
    await services.credits.add(id, 125_075, 'top-up');
    const debit = await services.credits.debit(id, 250, 'sms', 'msg_1');
    assert.equal(debit.amountMinor, -250);
    assert.equal(debit.balanceAfterMinor, 124_825);
    const entries = await services.credits.entries(id);
    assert.deepEqual(
      entries.map((e) => [e.kind, e.amountMinor]),
      [
        ['debit', -250],
        ['topup', 125_075],
      ],
    );
    await assertLedgerMatches(id);
  });

  test('a refund is a refund entry, and refunds stored as top-ups before it had a kind become refunds', async () => {
    const id = await account();
    await services.credits.add(id, 1_000, 'top-up');
    await services.credits.debit(id, 250, 'sms', 'msg_a');
    const refund = await services.credits.refund(id, 250, 'refund: SMS msg_a refused by the SMSC', 'msg_a');
    assert.equal(refund.kind, 'refund');
    assert.equal(refund.balanceAfterMinor, 1_000);
    // What an earlier version wrote for the same refund.
    await services.credits.add(id, 250, 'refund: SMS msg_b refused by the SMSC', 'msg_b');
    await migrations['0016_first_hour']!(db.database.db as never, dialect);
    const entries = await services.credits.entries(id);
    assert.deepEqual(
      entries.map((e) => [e.kind, e.amountMinor, e.reference]),
      [
        ['refund', 250, 'msg_b'],
        ['refund', 250, 'msg_a'],
        ['debit', -250, 'msg_a'],
        ['topup', 1_000, null],
      ],
    );
    await assertLedgerMatches(id);
  });

  test('a debit beyond the balance is refused with the document details and writes nothing', async () => {
    const id = await account();
    await services.credits.add(id, 1_000, 'top-up');
    await assert.rejects(services.credits.debit(id, 5_000, 'call'), (error: unknown) => {
      assert.ok(error instanceof DialplaneError);
      assert.equal(error.code, 'insufficient_credits');
      assert.equal(error.status, 402);
      assert.deepEqual(error.details, { required_credits: 50, current_balance: 10 });
      return true;
    });
    assert.equal((await services.credits.balance(id)).balanceMinor, 1_000);
    assert.equal((await services.credits.entries(id)).length, 1);
  });

  test('100 parallel debits of 1 against a balance of 10 succeed exactly 10 times', async () => {
    const id = await account();
    await services.credits.add(id, 1_000, 'top-up');
    const results = await Promise.allSettled(
      Array.from({ length: 100 }, (_, i) => services.credits.debit(id, 100, 'race', `r${i}`)),
    );
    const ok = results.filter((r) => r.status === 'fulfilled').length;
    const refused = results.filter(
      (r) => r.status === 'rejected' && r.reason instanceof DialplaneError && r.reason.code === 'insufficient_credits',
    ).length;
    assert.equal(ok, 10);
    assert.equal(refused, 90);
    const balance = await services.credits.balance(id);
    assert.equal(balance.balanceMinor, 0);
    await assertLedgerMatches(id);
  });

  // PostgreSQL: a second pool, so debits race on many server connections at once. (SQLite has one writer; a second
  // in-process connection would only block the event loop in its busy handler, which proves nothing.)
  test('parallel debits from two connection pools cannot overdraw either', { skip: dialect === 'sqlite' ? 'one connection per process on SQLite' : false }, async () => {
    const id = await account();
    await services.credits.add(id, 1_000, 'top-up');
    const { openDatabase } = await import('../../../src/store/database.js');
    const { POSTGRES_URL } = await import('../../helpers/databases.js');
    const other = await openDatabase({ url: POSTGRES_URL, dialect, schema: db.schema!, migrate: false });
    const otherServices = createServices(createStore(other), { clock: new ManualClock(), defaultCountry: 'US', keyCacheTtlMs: 0 });
    try {
      const attempts = Array.from({ length: 60 }, (_, i) =>
        (i % 2 === 0 ? services : otherServices).credits.debit(id, 100, 'race', `x${i}`),
      );
      const results = await Promise.allSettled(attempts);
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 10);
      assert.equal((await services.credits.balance(id)).balanceMinor, 0);
      await assertLedgerMatches(id);
    } finally {
      await other.close();
    }
  });

  test('holds reserve credits; capture debits part and frees the rest; release frees all', async () => {
    const id = await account();
    await services.credits.add(id, 5_000, 'top-up');
    const hold = await services.credits.hold(id, 3_000, 'call_1');
    let balance = await services.credits.balance(id);
    assert.deepEqual(balance, { balanceMinor: 5_000, heldMinor: 3_000, availableMinor: 2_000 });
    await assert.rejects(services.credits.debit(id, 2_500, 'too much'), { code: 'insufficient_credits' });
    await assert.rejects(services.credits.hold(id, 2_001), { code: 'insufficient_credits' });

    const captured = await services.credits.capture(id, hold.id, 1_000, 'call charge');
    assert.equal(captured.status, 'captured');
    assert.equal(captured.capturedMinor, 1_000);
    balance = await services.credits.balance(id);
    assert.deepEqual(balance, { balanceMinor: 4_000, heldMinor: 0, availableMinor: 4_000 });
    await assert.rejects(services.credits.capture(id, hold.id, 10, 'again'), { code: 'not_found' });

    const second = await services.credits.hold(id, 4_000);
    await assert.rejects(services.credits.capture(id, second.id, 4_001, 'more than held'), { code: 'validation_failed' });
    const released = await services.credits.release(id, second.id);
    assert.equal(released.status, 'released');
    await assert.rejects(services.credits.release(id, second.id), { code: 'not_found' });
    assert.deepEqual(await services.credits.balance(id), { balanceMinor: 4_000, heldMinor: 0, availableMinor: 4_000 });
    await assertLedgerMatches(id);
  });

  test('50 parallel holds against a balance for 10 reserve exactly 10', async () => {
    const id = await account();
    await services.credits.add(id, 1_000, 'top-up');
    const results = await Promise.allSettled(Array.from({ length: 50 }, () => services.credits.hold(id, 100)));
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 10);
    assert.deepEqual(await services.credits.balance(id), { balanceMinor: 1_000, heldMinor: 1_000, availableMinor: 0 });
  });

  test('another account cannot settle a hold', async () => {
    const id = await account();
    const intruder = await account();
    await services.credits.add(id, 1_000, 'top-up');
    const hold = await services.credits.hold(id, 500);
    await assert.rejects(services.credits.capture(intruder, hold.id, 100, 'steal'), { code: 'not_found' });
    await assert.rejects(services.credits.release(intruder, hold.id), { code: 'not_found' });
  });

  test('amounts must be positive safe integers', async () => {
    const id = await account();
    for (const bad of [0, -1, 1.5, Number.NaN, 1e14]) {
      await assert.rejects(services.credits.add(id, bad), { code: 'validation_failed' });
      await assert.rejects(services.credits.debit(id, bad, 'x'), { code: 'validation_failed' });
    }
    assert.equal((await services.credits.entries(id)).length, 0);
  });

  test('the database itself refuses an overdrawn row', async () => {
    const id = await account();
    await assert.rejects(
      services.store.database.db.updateTable('accounts').set({ balance_minor: -1 }).where('id', '=', id).execute(),
    );
  });
});
