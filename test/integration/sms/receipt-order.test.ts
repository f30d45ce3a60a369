import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { systemClock } from '../../../src/core/clock.js';
import { createServices, type Services } from '../../../src/core/services.js';
import { DevSmsc } from '../../../src/sms/dev-smsc.js';
import { SmppCarrier } from '../../../src/sms/smpp-carrier.js';
import { createStore } from '../../../src/store/store.js';
import { createTestDatabase, describeEachDialect, type TestDatabase } from '../../helpers/databases.js';
import { waitUntil } from '../../helpers/processes.js';

/**
 * Receipts sent the instant a part is accepted race the write that stores the part's SMSC id: whichever lands
 * second applies the receipt, so every message ends delivered on either database.
 */
await describeEachDialect('SMS receipts that overtake their acceptance', (dialect) => {
  let db: TestDatabase;
  let services: Services;
  let smsc: DevSmsc;
  let carrier: SmppCarrier;
  let accountId: string;

  before(async () => {
    db = await createTestDatabase(dialect);
    services = createServices(createStore(db.database), { clock: systemClock, defaultCountry: 'US', keyCacheTtlMs: 60_000 });
    accountId = (await services.accounts.create({ name: 'Receipts', email: 'receipts@example.com' })).account.id;
    await services.credits.add(accountId, 10_000_000, 'test');
    await services.numbers.add(accountId, { number: '+14155551234', type: 'purchased' });
    smsc = new DevSmsc({ receiptDelayMs: 0 });
    await smsc.start();
    carrier = new SmppCarrier({ url: smsc.url, windowSize: 50 });
    carrier.on('receipt', (r: { smscId: string; status: 'delivered' | 'undelivered' | 'failed' | 'sent'; err: string }) => {
      void services.sms.onReceipt({ smscId: r.smscId, status: r.status, errorCode: r.err || null });
    });
    await carrier.start();
    services.sms.attachCarrier(carrier);
  });
  after(async () => {
    await carrier.stop();
    await smsc.stop();
    await services.sms.settled();
    await db.close();
  });

  test('300 messages sent at once with immediate receipts all end delivered', async () => {
    const sent = await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        services.sms.send(accountId, { from: '+14155551234', to: `+1415${String(i).padStart(5, '0')}77`, body: `race ${i}` }),
      ),
    );
    await waitUntil(
      'every message delivered',
      async () => (await services.sms.list(accountId, 500)).filter((m) => m.status === 'delivered').length === sent.length,
      20_000,
    );
    const statuses = new Set((await services.sms.list(accountId, 500)).map((m) => m.status));
    assert.deepEqual([...statuses], ['delivered']);
  });
});
