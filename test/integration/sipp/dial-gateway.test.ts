import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { AddressInfo } from 'node:net';
import { after, before, test, type TestContext } from 'node:test';
import { recoverCalls } from '../../../src/core/calls/call-recovery.js';
import { systemClock } from '../../../src/core/clock.js';
import { createServices, type Services } from '../../../src/core/services.js';
import { createStore } from '../../../src/store/store.js';
import type { WebhookDelivery } from '../../../src/webhook-delivery.js';
import type { TestDatabase } from '../../helpers/databases.js';
import {
  APP_SECRET,
  dial,
  DOC_FROM,
  DOC_TO,
  SESSION_UUID,
  session,
  sessionEvent,
  startDelivery,
  startGateway,
  type AppCredentials,
  type Gateway,
} from '../../helpers/dial-gateway.js';
import { waitUntil } from '../../helpers/processes.js';
import { describeSippResult, describeWithSipp, parseSippMessages, startSipp, type SippHandle } from '../../helpers/sipp.js';
import { createCallingAccount } from '../../helpers/telephony.js';
import { startReceiver, type WebhookReceiver } from '../../helpers/webhook-receiver.js';

/**
 * The Dial face end to end: SIPp is the carrier behind the trunk, a real HTTP server is the app's webhook receiver,
 * and every path of a session is driven through POST /api/v1/dial — answered then hung up by the callee, busy, no
 * answer at timeout_sec, early media then answer, max_duration_sec, capacity, keys pressed by the callee for a
 * /gather, a crash of the node driving the session — with each session's webhooks checked for order, signature
 * (the app's secret) and the metadata echo. The document's curl example runs against a listening server.
 */
let db: TestDatabase;
let services: Services;
let accountId: string;
let receiver: WebhookReceiver;
let delivery: WebhookDelivery;
let app: AppCredentials;
const RTP_PORTS = '47100-47499';
const METADATA = { order: 'A-1001', customer: { id: 7, tags: ['vip'] } };

before(async () => {
  ({ db, services, accountId } = await createCallingAccount('Dial SIPp'));
  receiver = await startReceiver();
  const created = await services.apps.create(accountId, {
    name: 'shop',
    callerIdAllowList: [DOC_FROM],
    country: 'IL',
    webhookUrl: receiver.url,
    webhookSecret: APP_SECRET,
  });
  app = { appId: created.app.id, apiKey: created.token };
  delivery = startDelivery(services);
});
after(async () => {
  await delivery.close();
  await receiver.close();
  await db.close();
});

interface SessionEvent {
  readonly body: Record<string, unknown>;
  readonly signed: boolean;
}

/** The session's webhooks as they arrived. */
function eventsOf(uuid: string): SessionEvent[] {
  return receiver.requests.map((request) => sessionEvent(request)).filter((event) => event.body.session_uuid === uuid);
}

const names = (events: readonly SessionEvent[]) => events.map((event) => event.body.event);

async function eventArrives(uuid: string, name: string, timeoutMs = 15_000): Promise<SessionEvent> {
  await waitUntil(`${name} for ${uuid}`, () => eventsOf(uuid).some((event) => event.body.event === name), timeoutMs);
  return eventsOf(uuid).find((event) => event.body.event === name)!;
}

/** Every webhook of the session signed with the app's secret, echoing its uuid and metadata, in time order. */
function assertWellFormed(events: readonly SessionEvent[], uuid: string, metadata: unknown = METADATA): void {
  let last = '';
  for (const { body, signed } of events) {
    assert.ok(signed, `${String(body.event)} is signed with the app's secret`);
    assert.equal(body.session_uuid, uuid);
    assert.deepEqual(body.metadata, metadata, `${String(body.event)} echoes the metadata`);
    assert.match(String(body.timestamp), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(String(body.timestamp) >= last, 'in the order they happened');
    last = String(body.timestamp);
    assert.equal(body.to, DOC_TO);
    assert.equal(body.from, DOC_FROM);
  }
  assert.equal(events.filter((event) => event.body.event === 'call.hangup').length, 1, 'exactly one call.hangup');
  assert.equal(events.at(-1)?.body.event, 'call.hangup', 'the hang-up comes last');
}

async function carrier(t: TestContext, scenario: string, keys: Record<string, string | number> = {}, calls = 1): Promise<SippHandle> {
  return startSipp({ scenario, keys, calls, timeoutSeconds: 30, t });
}

async function gatewayFor(uas: SippHandle, env: Record<string, string> = {}): Promise<Gateway> {
  return startGateway(services, { trunk: `sip:${uas.address}`, rtpPorts: RTP_PORTS, env });
}

async function dialed(gateway: Gateway, body: Record<string, unknown>): Promise<string> {
  const response = await dial(gateway, app, body);
  assert.equal(response.statusCode, 202, response.body);
  const json = response.json() as Record<string, unknown>;
  assert.deepEqual(Object.keys(json), ['session_uuid', 'status']);
  assert.equal(json.status, 'dialing');
  assert.match(String(json.session_uuid), SESSION_UUID);
  return String(json.session_uuid);
}

async function statusOf(gateway: Gateway, uuid: string): Promise<string> {
  const response = await session(gateway, app, uuid);
  assert.equal(response.statusCode, 200, response.body);
  const body = response.json() as Record<string, unknown>;
  assert.deepEqual(Object.keys(body), ['session_uuid', 'status', 'started_at']);
  assert.match(String(body.started_at), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  return String(body.status);
}

/** Reads the status every 25 ms until the session has ended; the distinct statuses seen, in order. */
async function statusesUntilEnded(gateway: Gateway, uuid: string, timeoutMs = 15_000): Promise<string[]> {
  const seen: string[] = [];
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const status = await statusOf(gateway, uuid);
    if (seen.at(-1) !== status) seen.push(status);
    if (status === 'ended') return seen;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`session ${uuid} still ${seen.at(-1)} after ${timeoutMs} ms`);
}

await describeWithSipp('the Dial face against SIPp, with a real webhook receiver', () => {
  test('answered, then the callee hangs up: dialing, ringing, answered, one hangup (NORMAL_CLEARING, 200, duration)', async (t) => {
    const uas = await carrier(t, 'uas-answer-remote-bye.xml', { hold_ms: 1_500 });
    const gateway = await gatewayFor(uas);
    try {
      const uuid = await dialed(gateway, { to: DOC_TO, from: DOC_FROM, metadata: METADATA });
      const statuses = await statusesUntilEnded(gateway, uuid);
      assert.ok(statuses.includes('answered') && statuses.at(-1) === 'ended', statuses.join(' → '));
      const hangup = await eventArrives(uuid, 'call.hangup');
      const events = eventsOf(uuid);
      assert.deepEqual(names(events), ['session.dialing', 'session.ringing', 'call.answered', 'call.hangup']);
      assertWellFormed(events, uuid);
      assert.equal(events[1]!.body.sip_status, 180);
      assert.equal(events[2]!.body.sip_status, 200);
      assert.equal(hangup.body.hangup_cause, 'NORMAL_CLEARING');
      assert.equal(hangup.body.hangup_cause_code, 16);
      assert.equal(hangup.body.sip_status, 200);
      assert.equal(hangup.body.answered, true);
      assert.ok(Number(hangup.body.duration_sec) >= 1 && Number(hangup.body.duration_sec) <= 3, String(hangup.body.duration_sec));
      const result = await uas.done;
      assert.equal(result.code, 0, describeSippResult(result));
      const invite = parseSippMessages(result.messages).find((m) => m.text.startsWith('INVITE '))!;
      assert.match(invite.text.split('\n')[0]!, /^INVITE sip:\+972527121102@/, 'the trunk gets E.164');
      assert.match(invite.text, /^From:.*\+972721234567/m);
    } finally {
      await gateway.close();
    }
  });

  test('busy: dialing, then one hangup with USER_BUSY and 486', async (t) => {
    const uas = await carrier(t, 'uas-busy.xml');
    const gateway = await gatewayFor(uas);
    try {
      const uuid = await dialed(gateway, { to: DOC_TO, from: DOC_FROM, metadata: METADATA });
      const hangup = await eventArrives(uuid, 'call.hangup');
      const events = eventsOf(uuid);
      assert.deepEqual(names(events), ['session.dialing', 'call.hangup']);
      assertWellFormed(events, uuid);
      assert.equal(hangup.body.hangup_cause, 'USER_BUSY');
      assert.equal(hangup.body.sip_status, 486);
      assert.equal(hangup.body.answered, false);
      assert.equal(hangup.body.duration_sec, 0);
      assert.equal(await statusOf(gateway, uuid), 'ended');
      assert.equal((await uas.done).code, 0);
    } finally {
      await gateway.close();
    }
  });

  test('no answer: our CANCEL at timeout_sec, one hangup with NO_ANSWER', async (t) => {
    const uas = await carrier(t, 'uas-no-answer.xml');
    const gateway = await gatewayFor(uas);
    try {
      const started = Date.now();
      const uuid = await dialed(gateway, { to: DOC_TO, from: DOC_FROM, timeout_sec: 2 });
      const hangup = await eventArrives(uuid, 'call.hangup');
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 2_000 && elapsed < 6_000, `${elapsed} ms`);
      const events = eventsOf(uuid);
      assert.deepEqual(names(events), ['session.dialing', 'session.ringing', 'call.hangup']);
      assertWellFormed(events, uuid, {});
      assert.equal(hangup.body.hangup_cause, 'NO_ANSWER');
      assert.equal(hangup.body.answered, false);
      const result = await uas.done;
      assert.equal(result.code, 0, describeSippResult(result));
      assert.ok(parseSippMessages(result.messages).some((m) => m.text.startsWith('CANCEL ')), 'SIPp received our CANCEL');
    } finally {
      await gateway.close();
    }
  });

  test('183 with SDP is early media, not an answer: early_media, then answered at the 200', async (t) => {
    const uas = await carrier(t, 'uas-early-media.xml', { early_ms: 800 });
    const gateway = await gatewayFor(uas);
    try {
      const uuid = await dialed(gateway, { to: DOC_TO, from: DOC_FROM, max_duration_sec: 1, metadata: METADATA });
      const statuses = await statusesUntilEnded(gateway, uuid);
      assert.deepEqual(
        statuses.filter((s) => s !== 'dialing'),
        ['early_media', 'answered', 'ended'],
        statuses.join(' → '),
      );
      const hangup = await eventArrives(uuid, 'call.hangup');
      const events = eventsOf(uuid);
      assert.deepEqual(names(events), ['session.dialing', 'session.early_media', 'call.answered', 'call.hangup']);
      assertWellFormed(events, uuid);
      assert.equal(events[1]!.body.sip_status, 183);
      const earlyAt = Date.parse(String(events[1]!.body.timestamp));
      const answeredAt = Date.parse(String(events[2]!.body.timestamp));
      assert.ok(answeredAt - earlyAt >= 700, `answered ${answeredAt - earlyAt} ms after the 183, at the 200`);
      assert.equal(hangup.body.answered, true);
      assert.equal((await uas.done).code, 0);
    } finally {
      await gateway.close();
    }
  });

  test('max_duration_sec reached: our BYE, one hangup after that long', async (t) => {
    const uas = await carrier(t, 'uas-answer-wait-bye.xml');
    const gateway = await gatewayFor(uas);
    try {
      const uuid = await dialed(gateway, { to: DOC_TO, from: DOC_FROM, max_duration_sec: 2, metadata: METADATA });
      const hangup = await eventArrives(uuid, 'call.hangup');
      const events = eventsOf(uuid);
      assert.deepEqual(names(events), ['session.dialing', 'session.ringing', 'call.answered', 'call.hangup']);
      assertWellFormed(events, uuid);
      assert.equal(hangup.body.hangup_cause, 'NORMAL_CLEARING');
      assert.equal(hangup.body.duration_sec, 2);
      const result = await uas.done;
      assert.equal(result.code, 0, describeSippResult(result));
      assert.ok(parseSippMessages(result.messages).some((m) => m.text.startsWith('BYE ')), 'SIPp received our BYE');
    } finally {
      await gateway.close();
    }
  });

  test('503 no_fs_capacity with Retry-After at DIALPLANE_MAX_CALLS; a dial succeeds once the call in progress ends', async (t) => {
    const uas = await carrier(t, 'uas-answer-wait-bye.xml', {}, 2);
    const gateway = await gatewayFor(uas, { DIALPLANE_MAX_CALLS: '1' });
    try {
      const first = await dialed(gateway, { to: DOC_TO, from: DOC_FROM });
      await eventArrives(first, 'call.answered');
      const refused = await dial(gateway, app, { to: DOC_TO, from: DOC_FROM });
      assert.equal(refused.statusCode, 503);
      assert.equal(refused.headers['retry-after'], '5');
      assert.deepEqual(refused.json(), { error: 'no_fs_capacity', message: refused.json().message, retry_after: 5 });
      const ended = await session(gateway, app, first, 'hangup');
      assert.equal(ended.statusCode, 200);
      assert.equal(ended.json().status, 'ended');
      const second = await dialed(gateway, { to: DOC_TO, from: DOC_FROM });
      await eventArrives(second, 'call.answered');
      assert.equal((await session(gateway, app, second, 'hangup')).json().status, 'ended');
      for (const uuid of [first, second]) {
        const hangup = await eventArrives(uuid, 'call.hangup');
        assert.equal(hangup.body.hangup_cause, 'NORMAL_CLEARING');
        assertWellFormed(eventsOf(uuid), uuid, {});
      }
      const result = await uas.done;
      assert.equal(result.code, 0, describeSippResult(result));
    } finally {
      await gateway.close();
    }
  });

  test('/gather on an answered session: the key the callee pressed (RFC 4733) arrives as session.dtmf; /play; /hangup', async (t) => {
    const uas = await carrier(t, 'uas-answer-dtmf.xml', { dtmf_ms: 2_000 });
    const gateway = await gatewayFor(uas);
    try {
      const uuid = await dialed(gateway, { to: DOC_TO, from: DOC_FROM, metadata: METADATA });
      await eventArrives(uuid, 'call.answered');
      const gather = await session(gateway, app, uuid, 'gather', { num_digits: 1, timeout_sec: 10 });
      assert.equal(gather.statusCode, 200, gather.body);
      assert.equal(gather.json().status, 'answered');
      const dtmf = await eventArrives(uuid, 'session.dtmf');
      assert.equal(dtmf.body.digits, '1');
      assert.equal(dtmf.body.reason, 'max_digits');
      const play = await session(gateway, app, uuid, 'play', { text: 'Thank you.' });
      assert.equal(play.statusCode, 200, play.body);
      const bad = await session(gateway, app, uuid, 'play', { text: 'a', url: 'https://example.com/a.wav' });
      assert.equal(bad.statusCode, 400);
      const hangup = await session(gateway, app, uuid, 'hangup');
      assert.equal(hangup.json().status, 'ended');
      const ended = await eventArrives(uuid, 'call.hangup');
      assert.equal(ended.body.hangup_cause, 'NORMAL_CLEARING');
      const events = eventsOf(uuid);
      assert.deepEqual(names(events), ['session.dialing', 'session.ringing', 'call.answered', 'session.dtmf', 'call.hangup']);
      assertWellFormed(events, uuid);
      const result = await uas.done;
      assert.equal(result.code, 0, describeSippResult(result));
    } finally {
      await gateway.close();
    }
  });

  test('a crash of the node driving the session: recovery ends it, and its one call.hangup is written with that end', async (t) => {
    const uas = await carrier(t, 'uas-answer-wait-bye.xml');
    const gateway = await gatewayFor(uas);
    let closed = false;
    try {
      const uuid = await dialed(gateway, { to: DOC_TO, from: DOC_FROM, metadata: METADATA });
      await eventArrives(uuid, 'call.answered');
      // Another node starting on the same database finds the session's node gone (it never held a lease here).
      const next = createServices(createStore(db.database), { clock: systemClock, defaultCountry: 'US', keyCacheTtlMs: 1_000 });
      const recovered = await recoverCalls(next, true);
      assert.ok(recovered.ended.some((call) => call.id === uuid));
      const hangup = await eventArrives(uuid, 'call.hangup');
      assert.equal(hangup.body.hangup_cause, 'NORMAL_UNSPECIFIED');
      // The old engine ends its leg too (its BYE at shutdown): the call is already over, no second hang-up is written.
      await gateway.close();
      closed = true;
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      assertWellFormed(eventsOf(uuid), uuid);
      assert.equal(await services.store.webhooks.listDeliveries({ eventId: String(hangup.body.event_id), limit: 5 }).then((rows) => rows.length), 1);
      await uas.done;
    } finally {
      if (!closed) await gateway.close();
    }
  });

  test("an app naming an application: the application's program decides what the answered session does", async (t) => {
    const uas = await carrier(t, 'uas-answer-wait-bye.xml');
    const gateway = await gatewayFor(uas);
    try {
      const { application } = await services.applications.create(accountId, {
        name: 'announce',
        program: [{ verb: 'pause', length: 1 }, { verb: 'hangup' }],
      });
      const linked = await services.apps.create(accountId, {
        name: 'linked',
        callerIdAllowList: [DOC_FROM],
        country: 'IL',
        webhookUrl: receiver.url,
        webhookSecret: APP_SECRET,
        applicationId: application.id,
      });
      const credentials = { appId: linked.app.id, apiKey: linked.token };
      const response = await dial(gateway, credentials, { to: DOC_TO, from: DOC_FROM, metadata: METADATA });
      assert.equal(response.statusCode, 202);
      const uuid = String(response.json().session_uuid);
      const hangup = await eventArrives(uuid, 'call.hangup');
      assert.equal(hangup.body.hangup_cause, 'NORMAL_CLEARING');
      assert.equal(hangup.body.duration_sec, 1, 'the program paused a second, then hung up');
      assertWellFormed(eventsOf(uuid), uuid);
      const call = await services.calls.get(accountId, uuid);
      assert.equal(call.applicationId, application.id);
      assert.equal(call.endReason, 'local_hangup');
      const result = await uas.done;
      assert.ok(parseSippMessages(result.messages).some((m) => m.text.startsWith('BYE ')), "the program's hangup sent BYE");
    } finally {
      await gateway.close();
    }
  });

  test("the document's curl example runs unchanged against a listening server", async (t) => {
    const uas = await carrier(t, 'uas-answer-remote-bye.xml', { hold_ms: 300 });
    const gateway = await gatewayFor(uas);
    try {
      await gateway.app.listen({ port: 0, host: '127.0.0.1' });
      const { port } = gateway.app.server.address() as AddressInfo;
      // Verbatim from the document, with the base URL and the credentials replaced.
      const command = [
        `curl -X POST http://127.0.0.1:${port}/api/v1/dial \\`,
        `  -H "X-App-ID: ${app.appId}" \\`,
        `  -H "X-API-Key: ${app.apiKey}" \\`,
        '  -H "Content-Type: application/json" \\',
        `  -d '{"to": "0527121102", "from": "0721234567", "timeout_sec": 30}'`,
      ].join('\n');
      // Asynchronously: the server answering it runs in this process.
      const run = await promisify(execFile)('sh', ['-c', `${command} -s -w '\\n%{http_code}'`], { encoding: 'utf8', timeout: 10_000 });
      const [body, status] = run.stdout.trim().split('\n');
      assert.equal(status, '202', run.stdout);
      const json = JSON.parse(body!) as Record<string, unknown>;
      assert.match(String(json.session_uuid), SESSION_UUID);
      assert.equal(json.status, 'dialing');
      const hangup = await eventArrives(String(json.session_uuid), 'call.hangup');
      assert.equal(hangup.body.hangup_cause, 'NORMAL_CLEARING');
      assert.equal((await uas.done).code, 0);
    } finally {
      await gateway.close();
    }
  });
});
