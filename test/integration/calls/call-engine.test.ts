import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CallEngine, type CallSignaling, type DialRequest, type LegEvents } from '../../../src/core/calls/call-engine.js';
import { createServices, type Services } from '../../../src/core/services.js';
import { createStore } from '../../../src/store/store.js';
import { VirtualTimers } from '../../../src/sip/transaction/timers.js';
import { ManualClock } from '../../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/databases.js';

/**
 * The engine's own rules (timers, failover, capacity) with a scripted signalling side; the same engine against
 * real SIP peers is covered by the SIPp suites.
 */
class ScriptedSignaling implements CallSignaling {
  readonly trunkNames = ['primary', 'backup'];
  readonly dials: Array<{ request: DialRequest; events: LegEvents; hungUp: number }> = [];
  dial(request: DialRequest, events: LegEvents) {
    const entry = { request, events, hungUp: 0 };
    this.dials.push(entry);
    events.onStarted(`sip-${this.dials.length}`);
    return { hangup: () => void (entry.hungUp += 1) };
  }
  last() {
    return this.dials[this.dials.length - 1]!;
  }
}

let db: TestDatabase;
let services: Services;
let accountId: string;
const settle = () => new Promise((resolve) => setTimeout(resolve, 30));

before(async () => {
  db = await createTestDatabase('sqlite');
  services = createServices(createStore(db.database), { clock: new ManualClock(), defaultCountry: 'US', keyCacheTtlMs: 0 });
  accountId = (await services.accounts.create({ name: 'E', email: 'e@example.com' })).account.id;
});
after(async () => db.close());

function setup(maxCalls = 10) {
  const signaling = new ScriptedSignaling();
  const timers = new VirtualTimers<'RingTimeout' | 'MaxDuration'>();
  const engine = new CallEngine(services.calls, signaling, timers, maxCalls);
  const place = (ringTimeoutS = 30, maxDurationS = 60) =>
    engine.place({ accountId, from: '+14155551234', to: '+14155550100', ringTimeoutS, maxDurationS });
  return { signaling, timers, engine, place };
}

test('ringing, answer, remote BYE: completed / NORMAL_CLEARING', async () => {
  const { signaling, engine, place } = setup();
  const call = await place();
  signaling.last().events.onProgress('ringing', 180, 'Ringing');
  signaling.last().events.onAnswered(200, 'OK');
  signaling.last().events.onEnded('remote');
  await engine.whenEnded(call.id);
  const ended = await services.calls.get(accountId, call.id);
  assert.equal(ended.outcome, 'completed');
  assert.equal(ended.endReason, 'remote_hangup');
  assert.equal(ended.trunk, 'primary');
  assert.deepEqual((await services.calls.events(accountId, call.id)).map((e) => e.state), ['queued', 'dialing', 'ringing', 'answered', 'ended']);
});

test('ring timeout cancels and ends as no_answer', async () => {
  const { signaling, timers, engine, place } = setup();
  const call = await place(5);
  signaling.last().events.onProgress('ringing', 180, 'Ringing');
  timers.advance(5_000);
  assert.equal(signaling.last().hungUp, 1);
  signaling.last().events.onFailed({ kind: 'response', status: 487, reason: 'Request Terminated' });
  await engine.whenEnded(call.id);
  const ended = await services.calls.get(accountId, call.id);
  assert.equal(ended.outcome, 'no_answer');
  assert.equal(ended.endReason, 'ring_timeout');
  assert.equal(ended.hangupCause?.name, 'NO_ANSWER');
});

test('maximum duration sends BYE and ends with time_limit', async () => {
  const { signaling, timers, engine, place } = setup();
  const call = await place(30, 10);
  signaling.last().events.onAnswered(200, 'OK');
  timers.advance(9_999);
  assert.equal(signaling.last().hungUp, 0);
  timers.advance(1);
  assert.equal(signaling.last().hungUp, 1);
  signaling.last().events.onEnded('local');
  await engine.whenEnded(call.id);
  assert.equal((await services.calls.get(accountId, call.id)).endReason, 'time_limit');
});

test('503 fails over to the next trunk; 486 never does', async () => {
  const { signaling, engine, place } = setup();
  const call = await place();
  signaling.last().events.onFailed({ kind: 'response', status: 503, reason: 'Service Unavailable' });
  assert.equal(signaling.dials.length, 2);
  assert.equal(signaling.last().request.trunk, 1);
  signaling.last().events.onAnswered(200, 'OK');
  signaling.last().events.onEnded('remote');
  await engine.whenEnded(call.id);
  assert.equal((await services.calls.get(accountId, call.id)).trunk, 'backup');

  const busy = await place();
  const before = signaling.dials.length;
  signaling.last().events.onFailed({ kind: 'response', status: 486, reason: 'Busy Here' });
  await engine.whenEnded(busy.id);
  assert.equal(signaling.dials.length, before, 'no second attempt on busy');
  const ended = await services.calls.get(accountId, busy.id);
  assert.equal(ended.outcome, 'busy');
  assert.equal(ended.sipStatus, 486);
});


test("RFC 3263: a 503 or silence tries the trunk's next target, another 5xx the next trunk, a refusal nothing", async () => {
  const { signaling, engine, place } = setup();
  const b = { transport: 'udp' as const, address: '127.0.0.2', port: 5062 };
  const c = { transport: 'tcp' as const, address: '127.0.0.3', port: 5063 };
  const call = await place();
  assert.equal(signaling.last().request.targets, undefined, 'the first attempt resolves the trunk itself');
  signaling.last().events.onFailed({ kind: 'response', status: 503, reason: 'Service Unavailable', untried: [b, c] });
  assert.equal(signaling.dials.length, 2);
  assert.equal(signaling.last().request.trunk, 0);
  assert.deepEqual(signaling.last().request.targets, [b, c]);
  signaling.last().events.onFailed({ kind: 'timeout', untried: [c] });
  assert.equal(signaling.last().request.trunk, 0);
  assert.deepEqual(signaling.last().request.targets, [c]);
  // The last target of the primary trunk fails: the backup trunk, resolved afresh.
  signaling.last().events.onFailed({ kind: 'transport', message: 'connection refused' });
  assert.equal(signaling.dials.length, 4);
  assert.equal(signaling.last().request.trunk, 1);
  assert.equal(signaling.last().request.targets, undefined);
  signaling.last().events.onAnswered(200, 'OK');
  signaling.last().events.onEnded('remote');
  await engine.whenEnded(call.id);
  assert.equal((await services.calls.get(accountId, call.id)).trunk, 'backup');

  // A 500 is the trunk's own answer for all its targets (RFC 3263 §4.3 names only 503): the next trunk.
  const serverError = await place();
  signaling.last().events.onFailed({ kind: 'response', status: 500, reason: 'Server Internal Error', untried: [b] });
  assert.equal(signaling.last().request.trunk, 1);
  assert.equal(signaling.last().request.targets, undefined);
  signaling.last().events.onFailed({ kind: 'response', status: 500, reason: 'Server Internal Error' });
  await engine.whenEnded(serverError.id);

  const busy = await place();
  const before = signaling.dials.length;
  signaling.last().events.onFailed({ kind: 'response', status: 486, reason: 'Busy Here', untried: [b] });
  await engine.whenEnded(busy.id);
  assert.equal(signaling.dials.length, before, 'no other target on busy');
});
test('hang-up by API before and after the answer', async () => {
  const { signaling, engine, place } = setup();
  const early = await place();
  const hanging = engine.hangup(accountId, early.id);
  assert.equal(signaling.last().hungUp, 1);
  signaling.last().events.onFailed({ kind: 'response', status: 487, reason: 'Request Terminated' });
  assert.equal((await hanging).outcome, 'canceled');

  const answered = await place();
  signaling.last().events.onAnswered(200, 'OK');
  const hangingUp = engine.hangup(accountId, answered.id);
  signaling.last().events.onEnded('local');
  const ended = await hangingUp;
  assert.equal(ended.outcome, 'completed');
  assert.equal(ended.endReason, 'api_hangup');
});

test('beyond the simultaneous-call ceiling a call is refused with capacity_exceeded and nothing is stored', async () => {
  const { place } = setup(1);
  await place();
  const before = (await services.calls.list(accountId, 500)).length;
  await assert.rejects(place(), { code: 'capacity_exceeded', status: 503 });
  assert.equal((await services.calls.list(accountId, 500)).length, before);
  await settle();
});
