import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { systemClock } from '../../../src/core/clock.js';
import { MinuteReserve } from '../../../src/core/calls/minute-reserve.js';
import { createServices, type Services } from '../../../src/core/services.js';
import { createStore } from '../../../src/store/store.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/databases.js';
import { waitUntil } from '../../helpers/processes.js';

/** Per-minute reserves against a real ledger, with a 150 ms "minute" so a long call fits in a test. */
let db: TestDatabase;
let services: Services;
let accountId: string;

before(async () => {
  db = await createTestDatabase('sqlite');
  services = createServices(createStore(db.database), { clock: systemClock, defaultCountry: 'US', keyCacheTtlMs: 60_000 });
  accountId = (await services.accounts.create({ name: 'Minutes', email: 'minutes@example.com' })).account.id;
});
after(() => db.close());

test('each further minute is reserved before it starts; when the balance is spent the call is ended; the charge never exceeds the reserves', async () => {
  await services.credits.add(accountId, 1_500, 'test');
  let exhausted = 0;
  const reserve = new MinuteReserve(services.credits, accountId, () => (exhausted += 1), 150);
  await reserve.reserve(500);
  assert.equal((await services.credits.balance(accountId)).heldMinor, 500);
  reserve.legAnswered('leg', 500, Date.now());
  await waitUntil('three minutes reserved', async () => (await services.credits.balance(accountId)).heldMinor === 1_500, 2_000);
  await waitUntil('the fourth minute is refused', () => exhausted > 0, 2_000);
  reserve.legEnded('leg');
  const captured = await reserve.settle(2_000, 'a long call');
  assert.equal(captured, 1_500, 'only what was reserved can be captured');
  assert.deepEqual(await services.credits.balance(accountId), { balanceMinor: 0, heldMinor: 0, availableMinor: 0 });
});

test('settling captures the charge oldest reserve first and releases the rest', async () => {
  await services.credits.add(accountId, 2_000, 'test');
  const reserve = new MinuteReserve(services.credits, accountId, () => undefined, 60_000);
  await reserve.reserve(1_000);
  await reserve.reserve(500);
  assert.equal(await reserve.settle(1_200, 'call'), 1_200);
  assert.deepEqual(await services.credits.balance(accountId), { balanceMinor: 800, heldMinor: 0, availableMinor: 800 });
  assert.equal(await reserve.settle(1_200, 'again'), 0, 'settles once');
});
