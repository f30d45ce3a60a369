import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createServices, type Services } from '../../../src/core/services.js';
import { DEFAULT_PRICES_MINOR } from '../../../src/core/prices.js';
import { createStore } from '../../../src/store/store.js';
import { ManualClock } from '../../helpers/app.js';
import { createTestDatabase, describeEachDialect, type TestDatabase } from '../../helpers/databases.js';

await describeEachDialect('price table', (dialect) => {
  let db: TestDatabase;
  let services: Services;
  before(async () => {
    db = await createTestDatabase(dialect);
    services = createServices(createStore(db.database), { clock: new ManualClock(), defaultCountry: 'US', keyCacheTtlMs: 0 });
  });
  after(async () => db.close());

  test('defaults are the document figures: 5.00 a minute, 2.50 a segment', async () => {
    const { account } = await services.accounts.create({ name: 'P', email: 'p@example.com' });
    assert.deepEqual(DEFAULT_PRICES_MINOR, { voice: 500, sms: 250 });
    assert.equal(await services.prices.lookup('voice', account.id, '+14155551234'), 500);
    assert.equal(await services.prices.lookup('sms', account.id, '+14155551234'), 250);
  });

  test('longest prefix wins, and an account price beats a global one of the same prefix', async () => {
    const { account } = await services.accounts.create({ name: 'Q', email: 'q@example.com' });
    const other = await services.accounts.create({ name: 'R', email: 'r@example.com' });
    await services.prices.set('voice', '+972', 300);
    await services.prices.set('voice', '97252', 450);
    await services.prices.set('voice', '+972', 250, account.id);
    assert.equal(await services.prices.lookup('voice', account.id, '+972527121102'), 450);
    assert.equal(await services.prices.lookup('voice', account.id, '+97231234567'), 250);
    assert.equal(await services.prices.lookup('voice', other.account.id, '+97231234567'), 300);
    assert.equal(await services.prices.lookup('sms', account.id, '+97231234567'), 250, 'other kinds are untouched');
    await assert.rejects(services.prices.set('voice', '+97a', 1), { code: 'validation_failed' });
    await assert.rejects(services.prices.set('voice', '+1', -1), { code: 'validation_failed' });
  });

  test('lookups made while a price is read share that read; a price set meanwhile is what the next lookup finds', async () => {
    const { account } = await services.accounts.create({ name: 'S', email: 's@example.com' });
    const store = services.store.prices;
    const candidates = store.candidates.bind(store);
    let reads = 0;
    store.candidates = (...args) => {
      reads++;
      return candidates(...args);
    };
    try {
      const answers = await Promise.all(Array.from({ length: 20 }, () => services.prices.lookup('voice', account.id, '+3312345678')));
      assert.deepEqual(new Set(answers), new Set([500]));
      assert.equal(reads, 1, 'twenty calls started together read the price once');
      assert.equal(await services.prices.lookup('voice', account.id, '+3312345678'), 500);
      assert.equal(reads, 1, 'then it is kept');

      const during = services.prices.lookup('voice', account.id, '+4412345678');
      await services.prices.set('voice', '+44', 123, account.id);
      await during;
      assert.equal(await services.prices.lookup('voice', account.id, '+4412345678'), 123, 'the read begun before the price was set is not kept');
    } finally {
      store.candidates = candidates;
    }
  });
});
