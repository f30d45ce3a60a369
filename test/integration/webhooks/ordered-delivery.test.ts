import assert from 'node:assert/strict';
import { test } from 'node:test';
import { systemClock } from '../../../src/core/clock.js';
import { createServices } from '../../../src/core/services.js';
import { createStore } from '../../../src/store/store.js';
import type { ClaimedDelivery } from '../../../src/webhooks/dispatcher.js';
import { createTestDatabase, describeEachDialect } from '../../helpers/databases.js';

/**
 * A format that returns an ordered payload makes its deliveries wait for the earlier ones of the same order key (a
 * gateway session's events): the outbox claims the next only once the previous was delivered or given up, while
 * other keys go on meanwhile. A retry scheduled later holds the ones after it.
 */
await describeEachDialect('ordered webhook deliveries', (dialect) => test('are claimed one by one per order key, in the order they were written', async () => {
  const db = await createTestDatabase(dialect);
  const services = createServices(createStore(db.database), { clock: systemClock, defaultCountry: 'US', keyCacheTtlMs: 60_000 });
  const accountId = (await services.accounts.create({ name: 'Ordered', email: 'ordered@example.com' })).account.id;
  try {
    services.webhooks.registerFormat('test.ordered', (event) => ({
      body: JSON.stringify({ type: event.type }),
      orderKey: String(event.data.key),
    }));
    await services.webhooks.createEndpoint(accountId, { url: 'http://127.0.0.1:9/hook', format: 'test.ordered', eventTypes: ['test.*'] });
    for (const [key, n] of [['a', 1], ['a', 2], ['b', 1], ['a', 3]] as const) {
      await services.webhooks.emit(services.webhooks.event(accountId, `test.${key}${n}`, { key }));
    }
    const outbox = services.store.webhooks;
    const claim = async (now = Date.now()) =>
      (await outbox.claimDue({ now, limit: 10, leaseMs: 60_000, saturated: [], perTargetRoom: () => 10 })).map((d) => d);
    const types = (claimed: ClaimedDelivery[]) => claimed.map((d) => d.eventType).sort();
    const done = (delivery: ClaimedDelivery, action: 'delivered' | 'retry') =>
      outbox.complete({
        delivery,
        attempt: 1,
        startedAt: Date.now(),
        latencyMs: 1,
        statusCode: action === 'delivered' ? 200 : 500,
        error: null,
        decision: action === 'delivered' ? { action } : { action: 'retry', at: Date.now() + 60_000 },
      });

    const first = await claim();
    assert.deepEqual(types(first), ['test.a1', 'test.b1'], 'the first of each key, nothing behind them');
    assert.deepEqual(types(await claim()), [], 'nothing more while they are being delivered');
    await done(first.find((d) => d.eventType === 'test.a1')!, 'retry');
    assert.deepEqual(types(await claim()), [], 'a retry scheduled later holds the ones after it');
    const retried = await claim(Date.now() + 61_000);
    assert.deepEqual(types(retried), ['test.a1']);
    await done(retried[0]!, 'delivered');
    const second = await claim();
    assert.deepEqual(types(second), ['test.a2']);
    await done(second[0]!, 'delivered');
    assert.deepEqual(types(await claim()), ['test.a3']);
  } finally {
    await db.close();
  }
}));
