/**
 * Regression: on PostgreSQL a message whose parts were accepted at the same moment stayed `queued` with every part
 * `sent` (and likewise `sent` with every part `delivered`): each part's transaction read its sibling parts before the
 * other had committed, so none saw them all done. The parts of one message are now settled one transaction at a time.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createServices, type Services } from '../../../src/core/services.js';
import type { SmsCarrierPort } from '../../../src/core/sms.js';
import { createStore } from '../../../src/store/store.js';
import { ManualClock } from '../../helpers/app.js';
import { createTestDatabase, describeEachDialect, type TestDatabase } from '../../helpers/databases.js';

const PARTS = 5;

await describeEachDialect('SMS parts accepted and receipted at the same moment', (dialect) => {
  let db: TestDatabase;
  let services: Services;
  let accountId: string;

  before(async () => {
    db = await createTestDatabase(dialect);
    services = createServices(createStore(db.database), { clock: new ManualClock(), defaultCountry: 'US', keyCacheTtlMs: 0 });
    accountId = (await services.accounts.create({ name: 'Parts', email: 'parts@example.com' })).account.id;
    await services.credits.add(accountId, 100_000, 'test');
    await services.numbers.add(accountId, { number: '+14155551234', type: 'purchased', capabilities: ['voice', 'sms'] });
  });
  after(async () => db.close());

  test('move the message to sent, then delivered', async () => {
    const smscIds: string[] = [];
    // Every part accepted in the same tick, as when one window of submit_sm_resp arrives together.
    const carrier: SmsCarrierPort = {
      async submit(message) {
        const ids = message.parts.map((_, seq) => `smsc-${seq}-${Math.random().toString(36).slice(2, 8)}`);
        await Promise.all(message.parts.map((_, seq) => message.beforePartWrite?.(seq)));
        ids.forEach((id, seq) => message.onPartAccepted?.(seq, id));
        smscIds.push(...ids);
        return { smscIds: ids };
      },
    };
    services.sms.attachCarrier(carrier);
    for (let round = 0; round < 5; round++) {
      smscIds.length = 0;
      const sent = await services.sms.send(accountId, { from: '+14155551234', to: '+14155550100', body: 'y'.repeat(153 * PARTS) });
      assert.equal(sent.segments, PARTS);
      await services.sms.settled();
      assert.equal((await services.sms.get(accountId, sent.id)).status, 'sent', `round ${round}`);
      await Promise.all(smscIds.map((smscId) => services.sms.onReceipt({ smscId, status: 'delivered' })));
      assert.equal((await services.sms.get(accountId, sent.id)).status, 'delivered', `round ${round}`);
      assert.deepEqual(
        (await services.sms.history(accountId, sent.id)).map((e) => e.status),
        ['queued', 'sent', 'delivered'],
      );
    }
  });
});
