import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CallControl } from '../../../src/core/calls/call-control.js';
import { CallEngine, type CallSignaling, type InboundSignal, type LegMedia } from '../../../src/core/calls/call-engine.js';
import type { CallMediaPort } from '../../../src/core/calls/call-session.js';
import { createServices, type Services } from '../../../src/core/services.js';
import { createStore } from '../../../src/store/store.js';
import { createHookRequester } from '../../../src/webhooks/hook-request.js';
import { VirtualTimers } from '../../../src/sip/transaction/timers.js';
import { ManualClock } from '../../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/databases.js';
import { waitUntil } from '../../helpers/processes.js';
import { startReceiver, type WebhookReceiver } from '../../helpers/webhook-receiver.js';

/**
 * An inbound call to a number routed to an application, with a scripted SIP side: the leg is stored as the
 * application's (so its status hook hears the inbound leg's events, not only those of the legs it dials), and the
 * call hook is told the state the caller sees (ringing: the 180 left before the hook was asked).
 */
const NUMBER = '+14155550171';

let db: TestDatabase;
let services: Services;
let accountId: string;
let receiver: WebhookReceiver;

before(async () => {
  db = await createTestDatabase('sqlite');
  services = createServices(createStore(db.database), { clock: new ManualClock(), defaultCountry: 'US', keyCacheTtlMs: 0 });
  accountId = (await services.accounts.create({ name: 'Inbound app', email: 'inbound-app@example.com' })).account.id;
  await services.credits.add(accountId, 10_000, 'test');
  await services.numbers.add(accountId, { number: NUMBER, type: 'purchased' });
  // The call hook hangs up at once: the call is refused unanswered.
  receiver = await startReceiver(() => ({ status: 200, headers: { 'content-type': 'application/json' }, body: '[{"verb":"hangup"}]' }));
  services.applications.attach({ request: createHookRequester({ allowPrivate: true, timeoutMs: 2_000 }) });
});
after(async () => {
  await receiver.close();
  await db.close();
});

const noSignaling: CallSignaling = {
  trunkNames: ['primary'],
  dial: () => {
    throw new Error('nothing is dialled in this test');
  },
};

const noMedia: CallMediaPort = {
  speech: () => Promise.resolve(new Int16Array(0)),
  fetchAudio: () => Promise.resolve(new Int16Array(0)),
  decodeWav: () => new Int16Array(0),
  bridge: () => undefined,
  record: () => undefined,
  beep: () => new Int16Array(0),
};

test('an inbound leg routed to an application is stored as its call: its status hook hears it; the hook sees it ringing', async () => {
  const { application } = await services.applications.create(accountId, {
    name: 'Front door',
    callHook: `${receiver.url}/call`,
    statusHook: `${receiver.url}/status`,
  });
  await services.extensions.route(accountId, NUMBER, { applicationId: application.id });
  const engine = new CallEngine(services.calls, noSignaling, new VirtualTimers<'RingTimeout' | 'MaxDuration'>(), 10);
  const errors: unknown[] = [];
  const control = new CallControl({ services, engine, media: noMedia, contacts: () => [], onError: (error) => errors.push(error) });
  const rejected: number[] = [];
  const signal: InboundSignal = {
    ring: () => undefined,
    answer: (): LegMedia => {
      throw new Error('not answered in this test');
    },
    reject: (status) => void rejected.push(status),
    hangup: () => undefined,
  };

  const events = await control.receive({ accountId, from: '+14155550111', to: NUMBER, sipCallId: 'sip-1', trunk: 'primary' }, signal);
  assert.ok(events, 'the call was taken');
  await waitUntil('the hook hung up', () => rejected.length > 0, 5_000);
  assert.deepEqual(rejected, [480]);

  const [call] = await services.calls.list(accountId, 5);
  assert.ok(call);
  await engine.whenEnded(call.id);
  assert.equal(call.direction, 'inbound');
  assert.equal(call.applicationId, application.id, 'the inbound leg belongs to the application');

  const hook = receiver.requests.find((r) => r.path === '/hook/call');
  assert.ok(hook, 'the call hook was asked');
  const body = JSON.parse(hook.body.toString('utf8')) as Record<string, unknown>;
  assert.equal(body.state, 'ringing', 'the hook is told the state the caller sees');

  const endpoint = (await services.webhooks.listEndpoints(accountId)).find((e) => e.url === `${receiver.url}/status`);
  assert.ok(endpoint, 'the status hook is an endpoint');
  await waitUntil(
    'the inbound leg\'s events queued for the status hook',
    async () => (await services.webhooks.listDeliveries({ accountId, endpointId: endpoint.id })).length >= 3,
    5_000,
  );
  const types = (await services.webhooks.listDeliveries({ accountId, endpointId: endpoint.id })).map((d) => d.eventType).sort();
  assert.deepEqual(types, ['call.ended', 'call.queued', 'call.ringing']);
  assert.deepEqual(errors, []);
});
