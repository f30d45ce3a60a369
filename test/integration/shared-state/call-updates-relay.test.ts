import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CallUpdate } from '../../../src/core/calls/call-service.js';
import { whenOverElsewhere } from '../../../src/core/calls/remote-calls.js';
import { createServices, type Services } from '../../../src/core/services.js';
import { createStore } from '../../../src/store/store.js';
import { ManualClock } from '../../helpers/app.js';
import { createTestDatabase } from '../../helpers/databases.js';
import { memoryNodeBuses } from '../../helpers/node-bus.js';
import { waitUntil, within } from '../../helpers/processes.js';

/**
 * Two nodes' call services over one database and a node bus: what one writes (a call's states, its activities, its
 * legs' states) reaches the other's watchers; a malformed message is dropped; a wait for the end of a call driven
 * elsewhere ends with the call, or when its reader goes.
 */

test('call updates written on one node reach the watchers on another; malformed ones are dropped', async () => {
  const db = await createTestDatabase('sqlite');
  try {
    const store = createStore(db.database);
    const clock = new ManualClock();
    const buses = memoryNodeBuses();
    const listenerErrors: unknown[] = [];
    const nodeOf = (id: string): Services =>
      createServices(store, { clock, defaultCountry: 'US', keyCacheTtlMs: 0, bus: buses.bus(id), onListenerError: (e) => listenerErrors.push(e) });
    const a = nodeOf('node_a');
    const b = nodeOf('node_b');
    const accountId = (await a.accounts.create({ name: 'R', email: 'r@example.com' })).account.id;
    const input = { accountId, direction: 'outbound' as const, from: '+14155551234', to: '+14155550100', ringTimeoutS: 30, maxDurationS: 3600 };

    const call = await a.calls.create(input);
    const heard: CallUpdate[] = [];
    const legsHeard: CallUpdate[] = [];
    b.calls.watch(call.id, (update) => heard.push(update));
    b.calls.watchLegs(call.id, (update) => legsHeard.push(update));
    const ended = whenOverElsewhere(b.calls, call.id, (error) => listenerErrors.push(error));
    await a.calls.advance(call.id, 'dialing');
    await a.calls.advance(call.id, 'answered', { sipStatus: 200 });
    await a.calls.activity(call.id, 'program', { source: 'live', verbs: 1 });
    const leg = await a.calls.create({ ...input, to: '+14155550102', parentCallId: call.id });
    await a.calls.advance(leg.id, 'dialing');
    await a.calls.advance(leg.id, 'answered');

    await waitUntil('B heard the call and its leg', () => heard.length === 4 && legsHeard.length === 3, 2_000).catch((error: unknown) => {
      throw new Error(`${String(error)}: ${JSON.stringify({ heard, legsHeard })}`);
    });
    assert.deepEqual(
      heard.map((u) => (u.type === 'event' ? `event:${u.event.state}:${u.call.state}` : `activity:${u.activity.kind}`)),
      ['event:queued:queued', 'event:dialing:dialing', 'event:answered:answered', 'activity:program'],
      'the call watcher hears its own call only',
    );
    assert.deepEqual(
      legsHeard.map((u) => (u.type === 'event' ? `${u.call.id}:${u.event.state}` : 'activity')),
      [`${leg.id}:queued`, `${leg.id}:dialing`, `${leg.id}:answered`],
    );

    // The call ends, its leg still up: not over yet; then the leg ends too.
    await a.calls.end(call.id, { reason: 'api_hangup' });
    assert.equal(await within(ended, 300), 'timeout', 'a call with a live leg is not over');
    await a.calls.end(leg.id, { reason: 'api_hangup' });
    assert.notEqual(await within(ended, 2_000), 'timeout', 'over once its last leg ended');

    // B's writes reach A as well, and a watcher that throws or a malformed message breaks nothing.
    const second = await b.calls.create(input);
    const heardByA: string[] = [];
    a.calls.watch(second.id, (update) => void (update.type === 'event' && heardByA.push(update.event.state)));
    a.calls.watch(second.id, () => {
      throw new Error('a broken watcher');
    });
    const junk = buses.bus('node_junk');
    for (const event of [null, 'x', { kind: 'call' }, { kind: 'call', callId: second.id, update: { type: 'event' } }, { kind: 'other', callId: second.id }]) {
      junk.broadcast(event);
    }
    await b.calls.advance(second.id, 'dialing');
    await waitUntil('A heard B', () => heardByA.includes('dialing'), 2_000);
    assert.deepEqual(heardByA, ['queued', 'dialing']);
    assert.equal(listenerErrors.length, 2, 'the broken watcher was reported, once per update');

    // A reader that goes away stops waiting for a call that is still live.
    const gone = new AbortController();
    const waiting = whenOverElsewhere(a.calls, second.id, (error) => listenerErrors.push(error), gone.signal);
    assert.equal(await within(waiting, 200), 'timeout');
    gone.abort();
    assert.notEqual(await within(waiting, 1_000), 'timeout');
  } finally {
    await db.close();
  }
});
