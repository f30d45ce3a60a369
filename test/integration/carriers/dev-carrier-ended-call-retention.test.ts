import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import type { DevCarrier } from '../../../src/carriers/dev-carrier.js';
import type { Services } from '../../../src/core/services.js';
import type { TestDatabase } from '../../helpers/databases.js';
import { CALLER_NUMBER, createCallingAccount, startTestTelephony, type TestTelephony } from '../../helpers/telephony.js';

/**
 * Regression: the dev carrier kept every answered callee's longest-call timer (DEV_CALLEE_MAX_MS, 10 minutes), and
 * with it the ended session in the timer's closure, after the call had ended; a cancelled callee kept its answer
 * timer; a key-pressing callee's media was never closed. `bench/soak.mjs` saw the server's memory grow with every
 * call. Calls placed by Dialplane over real SIP and RTP on loopback, ended every way a call ends; afterwards the
 * carrier holds nothing.
 */
let db: TestDatabase;
let services: Services;
let accountId: string;
let telephony: TestTelephony;
let carrier: DevCarrier;

before(async () => {
  ({ db, services, accountId } = await createCallingAccount('Dev retention'));
  telephony = await startTestTelephony(services, { rtpPorts: '58200-58399', trunk: 'dev' });
  assert.ok(telephony.devCarrier, 'DIALPLANE_TRUNK=dev starts the dev carrier');
  carrier = telephony.devCarrier;
});
after(async () => {
  await telephony?.close();
  await db?.close();
});

const place = (to: string) => telephony.engine.place({ accountId, from: CALLER_NUMBER, to, ringTimeoutS: 10, maxDurationS: 60 });

/** Waits (bounded) until the carrier has no callee left, then says what it still holds. */
async function heldOnceEnded(): Promise<DevCarrier['holding']> {
  for (let i = 0; i < 100 && carrier.holding.calls > 0; i++) await sleep(50);
  return carrier.holding;
}

test('answered calls hung up by Dialplane leave no timer, socket or session behind', async () => {
  for (let i = 0; i < 3; i++) {
    const answered = telephony.answered();
    const call = await place('+14155550100');
    assert.equal((await answered).id, call.id);
    // The callee starts its longest-call timer when Dialplane's ACK reaches it, a moment after the 200 OK.
    for (let wait = 0; wait < 100 && carrier.holding.timers === 0; wait++) await sleep(20);
    assert.deepEqual(carrier.holding, { calls: 1, timers: 1, sockets: 1 }, 'the callee, its longest-call timer and its media while the call is up');
    await telephony.engine.hangup(accountId, call.id);
    assert.deepEqual(await heldOnceEnded(), { calls: 0, timers: 0, sockets: 0 }, `after call ${i + 1}`);
  }
});

test('a key-pressing callee hung up while it talks leaves nothing behind', async () => {
  const answered = telephony.answered();
  const call = await place('+14155557123');
  await answered;
  await telephony.engine.hangup(accountId, call.id);
  assert.deepEqual(await heldOnceEnded(), { calls: 0, timers: 0, sockets: 0 });
});

test('a callee cancelled while ringing leaves no answer timer behind', async () => {
  const call = await place('+14155550100');
  // The callee answers after a second (DEV_RING_MS): hang up well before.
  for (let i = 0; i < 40 && carrier.holding.calls === 0; i++) await sleep(10);
  assert.equal(carrier.holding.calls, 1, 'the callee rings');
  await telephony.engine.hangup(accountId, call.id);
  assert.deepEqual(await heldOnceEnded(), { calls: 0, timers: 0, sockets: 0 });
  const ended = await services.calls.get(accountId, call.id);
  assert.equal(ended.state, 'ended');
  assert.notEqual(ended.outcome, 'completed', 'it was never answered');
});
