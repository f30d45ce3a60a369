import assert from 'node:assert/strict';
import { test } from 'node:test';
import { systemClock } from '../../../src/core/clock.js';
import { createServices } from '../../../src/core/services.js';
import { createStore } from '../../../src/store/store.js';
import type { ClaimedDelivery } from '../../../src/webhooks/dispatcher.js';
import { createTestDatabase, describeEachDialect } from '../../helpers/databases.js';

/**
 * Regression: an attempt that outlived its lease wrote its result over the delivery even after the lease had been
 * released and another node had claimed it again, so the second attempt's result was dropped (and a late `retry`
 * made the delivery due a third time while the second attempt was still under way). The result of an attempt is now
 * written only while its own claim holds the delivery; its log row is kept either way.
 */
await describeEachDialect('a late webhook attempt', (dialect) => test('does not overwrite the claim of the node that took the delivery again', async () => {
  const db = await createTestDatabase(dialect);
  try {
    const services = createServices(createStore(db.database), { clock: systemClock, defaultCountry: 'US', keyCacheTtlMs: 0 });
    const accountId = (await services.accounts.create({ name: 'Late', email: 'late@example.com' })).account.id;
    await services.webhooks.createEndpoint(accountId, { url: 'http://127.0.0.1:9/hook', eventTypes: ['late.*'] });
    await services.webhooks.emit(services.webhooks.event(accountId, 'late.test', {}));
    const outbox = services.store.webhooks;
    const claim = async (claimant: string, now: number) =>
      outbox.claimDue({ now, limit: 1, leaseMs: 1_000, saturated: [], perTargetRoom: () => 1, claimant });
    const finish = (delivery: ClaimedDelivery, attempt: number, action: 'delivered' | 'retry') =>
      outbox.complete({
        delivery,
        attempt,
        startedAt: Date.now(),
        latencyMs: 1,
        statusCode: action === 'delivered' ? 200 : 503,
        error: null,
        decision: action === 'delivered' ? { action } : { action: 'retry', at: Date.now() },
      });

    const now = Date.now();
    const [first] = await claim('node-a', now);
    assert.ok(first);
    assert.equal(first.claimedBy, 'node-a');
    // Node A's attempt outlives its lease: the delivery is made due again and node B takes it.
    assert.equal(await outbox.releaseExpiredLeases(now + 2_000), 1);
    const [second] = await claim('node-b', now + 2_000);
    assert.equal(second?.id, first.id);

    // Node A's answer comes in late (a 503: retry): logged, but the delivery stays B's.
    await finish(first, 1, 'retry');
    let row = await outbox.findDelivery(first.id);
    assert.equal(row?.status, 'delivering');
    assert.equal(row?.claimed_by, 'node-b');
    assert.deepEqual(await claim('node-c', now + 2_500), [], 'not due a third time while B attempts it');

    await finish(second!, 1, 'delivered');
    row = await outbox.findDelivery(first.id);
    assert.equal(row?.status, 'delivered');
    assert.equal(row?.claimed_by, null);
    assert.deepEqual((await outbox.attempts(first.id)).map((a) => a.result), ['retry', 'delivered'], 'both attempts are in the log');
  } finally {
    await db.close();
  }
}));

await describeEachDialect('outcomes written together', (dialect) => test('each change only the delivery its own claim still holds', async () => {
  const db = await createTestDatabase(dialect);
  try {
    const services = createServices(createStore(db.database), { clock: systemClock, defaultCountry: 'US', keyCacheTtlMs: 0 });
    const accountId = (await services.accounts.create({ name: 'Batch', email: 'batch@example.com' })).account.id;
    await services.webhooks.createEndpoint(accountId, { url: 'http://127.0.0.1:9/hook', eventTypes: ['batch.*'] });
    for (let i = 0; i < 3; i++) await services.webhooks.emit(services.webhooks.event(accountId, `batch.e${i}`, {}));
    const outbox = services.store.webhooks;
    const now = Date.now();
    const claimed = await outbox.claimDue({ now, limit: 3, leaseMs: 1_000, saturated: [], perTargetRoom: () => 3, claimant: 'node-a' });
    assert.equal(claimed.length, 3);
    // Every lease runs out: node B takes one of them again, node A the other two.
    assert.equal(await outbox.releaseExpiredLeases(now + 2_000), 3);
    const [taken] = await outbox.claimDue({ now: now + 2_000, limit: 1, leaseMs: 60_000, saturated: [], perTargetRoom: () => 1, claimant: 'node-b' });
    const mine = await outbox.claimDue({ now: now + 2_000, limit: 2, leaseMs: 60_000, saturated: [], perTargetRoom: () => 2, claimant: 'node-a' });
    assert.ok(taken);
    assert.equal(mine.length, 2);
    const late = claimed.find((d) => d.id === taken.id)!;
    const record = (delivery: ClaimedDelivery, action: 'delivered' | 'retry') => ({
      delivery,
      attempt: 1,
      startedAt: now,
      latencyMs: 1,
      statusCode: action === 'delivered' ? 200 : 503,
      error: null,
      decision: action === 'delivered' ? ({ action } as const) : ({ action: 'retry', at: now + 60_000 } as const),
    });
    // Node A's late answer to the first claim and its answers to the second, in one write.
    await outbox.completeAll([record(late, 'delivered'), record(mine[0]!, 'retry'), record(mine[1]!, 'delivered')]);
    const held = await outbox.findDelivery(taken.id);
    assert.equal(held?.status, 'delivering', "the late answer leaves node B's claim alone");
    assert.equal(held?.claimed_by, 'node-b');
    const retried = await outbox.findDelivery(mine[0]!.id);
    assert.equal(retried?.status, 'pending');
    assert.equal(Number(retried?.next_attempt_at), now + 60_000);
    assert.equal(retried?.claimed_by, null);
    const delivered = await outbox.findDelivery(mine[1]!.id);
    assert.equal(delivered?.status, 'delivered');
    assert.equal(delivered?.last_status_code, 200);
    for (const id of [taken.id, mine[0]!.id, mine[1]!.id]) {
      assert.equal((await outbox.attempts(id)).length, 1, 'every attempt is in the log');
    }
  } finally {
    await db.close();
  }
}));
