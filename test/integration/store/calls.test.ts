import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { CallEvent } from '../../../src/core/calls/call-state.js';
import { createServices, type Services } from '../../../src/core/services.js';
import { createStore } from '../../../src/store/store.js';
import { ManualClock } from '../../helpers/app.js';
import { createTestDatabase, describeEachDialect, type TestDatabase } from '../../helpers/databases.js';

await describeEachDialect('calls and their events', (dialect) => {
  let db: TestDatabase;
  let services: Services;
  let accountId: string;
  const clock = new ManualClock();
  const heard: CallEvent[] = [];

  before(async () => {
    db = await createTestDatabase(dialect);
    services = createServices(createStore(db.database), { clock, defaultCountry: 'US', keyCacheTtlMs: 0 });
    accountId = (await services.accounts.create({ name: 'C', email: 'c@example.com' })).account.id;
  });
  after(async () => db.close());

  const newCall = () =>
    services.calls.create({ accountId, direction: 'outbound', from: '+14155551234', to: '+14155550100', ringTimeoutS: 30, maxDurationS: 3600 });

  test('a call moves queued → dialing → ringing → answered → ended with every event stored and heard', async () => {
    const call = await newCall();
    // Watchers hear the call from when they start watching; a broken one breaks nothing.
    services.calls.watch(call.id, (update) => void (update.type === 'event' && heard.push(update.event)));
    services.calls.watch(call.id, () => {
      throw new Error('a broken watcher must not break calls');
    });
    assert.match(call.id, /^call_/);
    await services.calls.advance(call.id, 'dialing');
    clock.advance(1000);
    await services.calls.advance(call.id, 'ringing', { sipStatus: 180, sipReason: 'Ringing' });
    clock.advance(2000);
    const answered = await services.calls.advance(call.id, 'answered', { sipStatus: 200, sipReason: 'OK' });
    assert.equal(answered?.answeredAt, clock.now().toISOString());
    clock.advance(5000);
    const ended = await services.calls.end(call.id, { reason: 'remote_hangup' });
    assert.equal(ended?.outcome, 'completed');
    assert.deepEqual(ended?.hangupCause, { code: 16, name: 'NORMAL_CLEARING' });
    const events = await services.calls.events(accountId, call.id);
    assert.deepEqual(events.map((e) => e.state), ['queued', 'dialing', 'ringing', 'answered', 'ended']);
    assert.equal(events[2]?.sipStatus, 180);
    assert.equal(events[4]?.endReason, 'remote_hangup');
    assert.deepEqual(heard.filter((e) => e.callId === call.id).map((e) => e.state), events.slice(1).map((e) => e.state));
  });

  test('a SIP failure ends with the mapped outcome; late or repeated steps change nothing', async () => {
    const call = await newCall();
    await services.calls.advance(call.id, 'dialing');
    const ended = await services.calls.end(call.id, { reason: 'sip_failure', sipStatus: 486, sipReason: 'Busy Here' });
    assert.equal(ended?.outcome, 'busy');
    assert.deepEqual(ended?.hangupCause, { code: 17, name: 'USER_BUSY' });
    assert.equal(ended?.sipStatus, 486);
    assert.equal(await services.calls.advance(call.id, 'ringing'), undefined);
    assert.equal(await services.calls.end(call.id, { reason: 'remote_hangup' }), undefined);
    assert.equal((await services.calls.events(accountId, call.id)).length, 3);
  });

  test('an answered call ended at its maximum duration is completed with reason time_limit', async () => {
    const call = await newCall();
    await services.calls.advance(call.id, 'dialing');
    await services.calls.advance(call.id, 'answered', { sipStatus: 200 });
    const ended = await services.calls.end(call.id, { reason: 'time_limit' });
    assert.equal(ended?.outcome, 'completed');
    assert.equal(ended?.endReason, 'time_limit');
  });

  test('calls left live by a crash are ended at start with a final event', async () => {
    const ringing = await newCall();
    await services.calls.advance(ringing.id, 'dialing');
    await services.calls.advance(ringing.id, 'ringing');
    const queued = await newCall();
    const recovered = await services.calls.recoverUnfinished();
    const ids = recovered.map((c) => c.id);
    assert.ok(ids.includes(ringing.id) && ids.includes(queued.id));
    for (const id of [ringing.id, queued.id]) {
      const call = await services.calls.get(accountId, id);
      assert.equal(call.state, 'ended');
      assert.equal(call.endReason, 'crash_recovery');
    }
    assert.deepEqual(await services.calls.recoverUnfinished(), []);
  });

  test("another account's call is a 404", async () => {
    const call = await newCall();
    const other = (await services.accounts.create({ name: 'D', email: 'd@example.com' })).account.id;
    await assert.rejects(services.calls.get(other, call.id), { code: 'not_found' });
    await assert.rejects(services.calls.events(other, call.id), { code: 'not_found' });
  });

  test('list pages newest first', async () => {
    const { account } = await services.accounts.create({ name: 'L', email: 'l@example.com' });
    const made = [];
    for (let i = 0; i < 5; i++) {
      clock.advance(1000);
      made.push(await services.calls.create({ accountId: account.id, direction: 'outbound', from: '+1', to: '+2', ringTimeoutS: 30, maxDurationS: 60 }));
    }
    const first = await services.calls.list(account.id, 2);
    assert.deepEqual(first.map((c) => c.id), [made[4]!.id, made[3]!.id]);
    const next = await services.calls.list(account.id, 2, { createdAt: first[1]!.createdAt, id: first[1]!.id });
    assert.deepEqual(next.map((c) => c.id), [made[2]!.id, made[1]!.id]);
  });
});
