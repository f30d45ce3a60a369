import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import pino from 'pino';
import type { Config } from '../../../src/config/config.js';
import type { Call } from '../../../src/core/calls/call-service.js';
import { FliteEngine } from '../../../src/media/tts/flite-engine.js';
import { startWebhookDelivery } from '../../../src/webhook-delivery.js';
import { verifyTimestamped } from '../../../src/webhooks/signer.js';
import { audibleSeconds, describeWithBaresip, startBaresip, type BaresipHandle, type Wav } from '../../helpers/baresip.js';
import { waitUntil } from '../../helpers/processes.js';
import { createCallingAccount, NO_TRUNK, startTestTelephony } from '../../helpers/telephony.js';

/**
 * Issue 11's first "done when", end to end with real peers: a call comes in through the trunk (baresip as the
 * carrier's caller on 127.0.0.1, which is the trunk's address) to a number routed to an application whose call hook
 * is a real HTTP server. The app answers say + gather; the caller hears the Flite prompt (measured in what baresip
 * decoded), presses 2 (RFC 4733); the app's action hook gets "2" and answers say + dial of an extension with two
 * registered phones (two more baresips): the one that auto-answers is bridged to the caller with audio both ways
 * (packets counted by the bridge, and each end's tone heard by the other), the other, left ringing, is cancelled.
 * The app's status hook hears every event of every leg, signed with the application's secret; only the inbound trunk
 * leg is charged. It lives beside the SIPp suites (the trunk side of inbound calls) but needs only baresip: baresip
 * records what it hears, so the prompt is measured as heard, and its keys go out as RFC 4733 telephone-events.
 */

const APP_NUMBER = '+14155550170';
const CALLER = '+14155550199';
const PROMPT = 'Welcome to Example. Press two for sales.';
const CONNECTING = 'Connecting you.';
const RTP_PORTS = '38000-38499';
/** 5.00 a started minute: the default voice price. */
const DEFAULT_PRICE_MINOR = 500;

const WEBHOOKS: Config['webhooks'] = {
  allowPrivate: true,
  maxAttempts: 3,
  horizonS: 60,
  retryBaseMs: 200,
  retryMaxDelayMs: 1_000,
  connectTimeoutMs: 1_000,
  timeoutMs: 3_000,
  concurrency: 8,
  endpointConcurrency: 4,
  hookTimeoutMs: 5_000,
};

interface AppRequest {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly raw: Buffer;
  readonly body: Record<string, unknown>;
}

/** The customer's application: a plain node:http server answering its call hook, its action hook and its status hook. */
async function startApp(answer: (path: string, body: Record<string, unknown>) => unknown): Promise<{
  base: string;
  requests: AppRequest[];
  close(): Promise<void>;
}> {
  const requests: AppRequest[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
      } catch {
        // recorded as an empty body; the assertions say what was expected
      }
      const path = req.url ?? '';
      requests.push({ path, headers: req.headers, raw, body });
      const reply = answer(path, body);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(reply ?? { ok: true }));
    });
  });
  server.keepAliveTimeout = 1_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    requests,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function signedBy(request: AppRequest, secret: string): boolean {
  const header = request.headers['x-dialplane-signature'];
  const result = verifyTimestamped(request.raw, typeof header === 'string' ? header : undefined, [secret], {
    nowSeconds: Math.floor(Date.now() / 1000),
  });
  return result.ok;
}

async function phoneOf(
  t: TestContext,
  sipPort: number,
  credentials: { device: { username: string }; password: string },
  answermode: 'auto' | 'manual',
  sourceSamples?: Int16Array,
) {
  const phone = await startBaresip({ user: 'unregistered', t, maxSeconds: 60, ...(sourceSamples ? { sourceSamples } : {}) });
  const created = await phone.command(
    'uanew',
    `<sip:${credentials.device.username}@127.0.0.1:${sipPort};transport=udp>;auth_pass=${credentials.password};regint=60;answermode=${answermode}`,
  );
  assert.ok(created.ok, created.data);
  await phone.waitRegistered();
  return phone;
}

/** A steady tone (no DTMF frequency, so it can never be taken for a key) as a phone's audio source. */
function tone(hz: number, seconds: number): Int16Array {
  const samples = new Int16Array(8000 * seconds);
  for (let i = 0; i < samples.length; i++) samples[i] = Math.round(6_000 * Math.sin((2 * Math.PI * hz * i) / 8000));
  return samples;
}

function audible(wav: Wav | undefined): number {
  return wav ? audibleSeconds(wav) : 0;
}

await describeWithBaresip('an inbound call runs its application (baresip as caller and as the extension\'s phones)', () => {
  const name =
    'say + gather, "2" to the action hook, say + dial of an extension: the first phone is bridged, the other cancelled, ' +
    'every event signed, the trunk leg billed only';
  test(name, async (t) => {
    const { db, services, accountId } = await createCallingAccount('Application call');
    t.after(() => db.close());
    await services.numbers.add(accountId, { number: APP_NUMBER, type: 'purchased' });
    const extension = await services.extensions.create(accountId, { name: 'Sales' });
    const deviceA = await services.extensions.addDevice(accountId, extension.id);
    const deviceB = await services.extensions.addDevice(accountId, extension.id);

    const app = await startApp((path) => {
      if (path === '/call') {
        return [
          { verb: 'say', text: PROMPT },
          { verb: 'gather', numDigits: 1, timeout: 10, actionHook: `${app.base}/gather` },
        ];
      }
      if (path === '/gather') {
        return [
          { verb: 'say', text: CONNECTING },
          { verb: 'dial', target: [{ type: 'extension', extension: extension.id }], timeout: 20 },
        ];
      }
      return undefined;
    });
    t.after(() => app.close());
    const { application, hookSecret } = await services.applications.create(accountId, {
      name: 'Sales line',
      callHook: `${app.base}/call`,
      statusHook: `${app.base}/status`,
    });
    await services.extensions.route(accountId, APP_NUMBER, { applicationId: application.id });

    const delivery = startWebhookDelivery(WEBHOOKS, services, pino({ level: 'silent' }));
    t.after(() => delivery.close());
    // The trunk is 127.0.0.1: the caller's INVITE from there is a trunk call (nothing is ever dialled out through it).
    const telephony = await startTestTelephony(services, { rtpPorts: RTP_PORTS, trunk: NO_TRUNK });
    t.after(() => telephony.close());

    const tts = new FliteEngine();
    const promptSamples = (await tts.synthesize(PROMPT)).samples;
    const connectingSamples = (await tts.synthesize(CONNECTING)).samples;
    await tts.close();
    const mono = (samples: Int16Array): Wav => ({ sampleRate: 8000, channels: 1, samples });
    const promptAudible = audibleSeconds(mono(promptSamples));
    const connectingAudible = audibleSeconds(mono(connectingSamples));
    const promptSeconds = promptSamples.length / 8000;
    assert.ok(promptSeconds > 2 && promptSeconds < 5, `the prompt lasts ${promptSeconds.toFixed(2)} s`);

    // Each side of the bridge sends a tone, so each can be heard at the other end.
    const phoneA = await phoneOf(t, telephony.sipPort, deviceA, 'auto', tone(440, 60));
    const phoneB = await phoneOf(t, telephony.sipPort, deviceB, 'manual');
    const caller: BaresipHandle = await startBaresip({ user: CALLER, t, maxSeconds: 60, sourceSamples: tone(1_000, 60) });
    const before = await services.credits.balance(accountId);

    try {
      const dialled = await caller.command('dial', `sip:${APP_NUMBER}@127.0.0.1:${telephony.sipPort}`);
      assert.ok(dialled.ok, dialled.data);
      // The say verb answers the call.
      await caller.waitEvent('CALL_ESTABLISHED', 10_000);
      const callHook = app.requests.find((r) => r.path === '/call');
      assert.ok(callHook, 'the call hook was asked');
      const callId = String(callHook.body.call_id);
      assert.equal(signedBy(callHook, hookSecret), true, 'the call hook request is signed with the application\'s secret');
      assert.deepEqual(
        { ...callHook.body, call_id: undefined },
        {
          call_id: undefined,
          account_id: accountId,
          application_id: application.id,
          direction: 'inbound',
          from: CALLER,
          to: APP_NUMBER,
          state: 'ringing',
        },
      );

      // Let the prompt play out, then measure what the caller decoded so far: the prompt and nothing else.
      await new Promise((resolve) => setTimeout(resolve, promptSeconds * 1000 + 1_000));
      const heardPrompt = audible((await caller.receivedAudio())[0]);
      t.diagnostic(
        `prompt ${promptSeconds.toFixed(2)} s (${promptAudible.toFixed(2)} s audible); the caller heard ${heardPrompt.toFixed(2)} s`,
      );
      assert.ok(
        Math.abs(heardPrompt - promptAudible) <= 0.4,
        `the caller heard ${heardPrompt.toFixed(2)} s of sound for a prompt with ${promptAudible.toFixed(2)} s of sound`,
      );

      // The caller presses 2 (an RFC 4733 telephone-event): the action hook gets it, with the call.
      const pressed = await caller.command('sndcode', '2');
      assert.ok(pressed.ok, pressed.data);
      await waitUntil('the gather action hook', () => app.requests.some((r) => r.path === '/gather'), 10_000);
      const gather = app.requests.find((r) => r.path === '/gather')!;
      assert.equal(signedBy(gather, hookSecret), true, 'the action hook request is signed');
      assert.equal(gather.body.digits, '2');
      assert.equal(gather.body.reason, 'max_digits');
      assert.equal(gather.body.call_id, callId);
      assert.equal(gather.body.application_id, application.id);
      assert.equal(gather.body.direction, 'inbound');
      assert.equal(gather.body.from, CALLER);
      assert.equal(gather.body.to, APP_NUMBER);
      assert.equal(gather.body.state, 'answered');

      // Both phones ring; A answers by itself and is bridged, B is cancelled without having answered.
      await phoneA.waitEvent('CALL_ESTABLISHED', 15_000);
      const bridgedAt = Date.now();
      await phoneB.waitEvent('CALL_INCOMING', 5_000);
      await phoneB.waitEvent('CALL_CLOSED', 5_000);
      assert.equal(phoneB.events.some((e) => e.type === 'CALL_ESTABLISHED'), false, 'the phone left ringing never answered');
      await waitUntil(
        'audio relayed both ways',
        () => (telephony.bridges[0]?.counts.aToB ?? 0) >= 50 && (telephony.bridges[0]?.counts.bToA ?? 0) >= 50,
        10_000,
      );
      const bridge = telephony.bridges[0]!;
      t.diagnostic(`bridge relayed ${bridge.counts.aToB} packets caller → phone and ${bridge.counts.bToA} phone → caller`);

      // Two seconds of conversation, then the caller hangs up: the bridged phone gets its BYE.
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, bridgedAt + 2_000 - Date.now())));
      await caller.command('hangup');
      const bridgedS = (Date.now() - bridgedAt) / 1000;
      await caller.waitEvent('CALL_CLOSED', 5_000);
      await phoneA.waitEvent('CALL_CLOSED', 5_000);
      await telephony.control.whenSettled(callId);
      await waitUntil('the call is settled', async () => (await services.credits.balance(accountId)).heldMinor === 0, 10_000);

      // What each end heard of the other: the caller, both prompts and then the phone's tone; the phone, the
      // caller's tone and nothing before the bridge.
      const heard = audible((await caller.receivedAudio())[0]);
      const heardFromPhone = heard - promptAudible - connectingAudible;
      const phoneHeard = await phoneA.receivedAudio();
      assert.equal(phoneHeard.length, 1, 'the answering phone had one call');
      const heardFromCaller = audible(phoneHeard[0]);
      t.diagnostic(
        `bridged ${bridgedS.toFixed(2)} s; the caller heard ${heard.toFixed(2)} s in all ` +
          `(${heardFromPhone.toFixed(2)} s after the prompts), the phone ${heardFromCaller.toFixed(2)} s`,
      );
      const directions = [
        ['the caller heard the phone', heardFromPhone],
        ['the phone heard the caller', heardFromCaller],
      ] as const;
      for (const [who, seconds] of directions) {
        assert.ok(seconds >= 1 && seconds <= bridgedS + 0.5, `${who} for ${seconds.toFixed(2)} s of a ${bridgedS.toFixed(2)} s bridge`);
      }

      // The legs: the inbound trunk leg, and one leg per registered phone.
      const call = await services.calls.get(accountId, callId);
      const legs = await services.calls.legs(accountId, callId);
      assert.equal(call.direction, 'inbound');
      assert.equal(call.trunk, telephony.trunks[0]?.name, 'it came in through the trunk');
      assert.equal(call.outcome, 'completed');
      assert.equal(call.applicationId, application.id);
      assert.equal(legs.length, 2, `two device legs, got ${legs.map((l) => `${l.id} ${l.trunk}`).join(', ')}`);
      const answered = legs.find((leg) => leg.answeredAt !== null);
      const canceled = legs.find((leg) => leg.answeredAt === null);
      assert.ok(answered && canceled, 'one phone answered, the other did not');
      for (const leg of legs) {
        assert.equal(leg.trunk, 'device');
        assert.equal(leg.parentCallId, callId);
        assert.equal(leg.applicationId, application.id);
      }
      assert.equal(answered.outcome, 'completed');
      assert.equal(canceled.outcome, 'canceled');
      assert.equal(canceled.endReason, 'api_hangup');

      // Billing: one started minute of the inbound trunk leg at the number's price; the phones are free.
      assert.equal(call.priceMinor, DEFAULT_PRICE_MINOR);
      assert.equal(call.costMinor, DEFAULT_PRICE_MINOR);
      for (const leg of legs) {
        assert.equal(leg.priceMinor, null, `device leg ${leg.id} has no price`);
        assert.equal(leg.costMinor, 0, `device leg ${leg.id} costs nothing`);
      }
      const after = await services.credits.balance(accountId);
      assert.equal(before.balanceMinor - after.balanceMinor, DEFAULT_PRICE_MINOR, 'only the inbound leg is charged');
      const view = await telephony.control.view(accountId, callId);
      assert.equal(view.costMinor, DEFAULT_PRICE_MINOR);

      // The status hook heard every event of every leg, each signed with the application's secret.
      const expected = new Map<string, string[]>();
      for (const leg of [call, ...legs] as Call[]) {
        expected.set(leg.id, (await services.calls.events(accountId, leg.id)).map((event) => `call.${event.state}`));
      }
      const total = [...expected.values()].reduce((sum, types) => sum + types.length, 0);
      const statuses = () => app.requests.filter((r) => r.path === '/status');
      await waitUntil(`${total} status events`, () => statuses().length >= total, 10_000).catch(() => undefined);
      const received = new Map<string, string[]>();
      for (const request of statuses()) {
        assert.equal(signedBy(request, hookSecret), true, `status event ${request.raw.toString('utf8')} is signed`);
        const data = request.body.data as Record<string, unknown>;
        const id = String(data.call_id);
        received.set(id, [...(received.get(id) ?? []), String(request.body.type)]);
      }
      const order = (types: readonly string[]) => [...types].sort();
      for (const [id, types] of expected) {
        assert.deepEqual(order(received.get(id) ?? []), order(types), `the status hook heard every event of leg ${id}`);
      }
      assert.deepEqual(expected.get(callId), ['call.queued', 'call.ringing', 'call.answered', 'call.ended']);
      assert.deepEqual(expected.get(answered.id), ['call.queued', 'call.dialing', 'call.ringing', 'call.answered', 'call.ended']);
      assert.deepEqual(expected.get(canceled.id), ['call.queued', 'call.dialing', 'call.ringing', 'call.ended']);
      assert.equal(received.size, 3, 'no other call\'s events');
    } finally {
      if (process.env.DIALPLANE_TEST_BARESIP_LOG) {
        for (const [name, phone] of [['caller', caller], ['phone A', phoneA], ['phone B', phoneB]] as const) {
          process.stderr.write(`--- baresip ${name} ---\n${phone.output()}\n`);
        }
      }
    }
  });
});
