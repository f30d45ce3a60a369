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
