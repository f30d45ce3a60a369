import assert from 'node:assert/strict';
import { after, before, test, type TestContext } from 'node:test';
import pino from 'pino';
import { registerDialAnyoneFormats } from '../../../src/api/faces/dialanyone/webhook-formats.js';
import type { Config } from '../../../src/config/config.js';
import type { Services } from '../../../src/core/services.js';
import { startWebhookDelivery, type WebhookDelivery } from '../../../src/webhook-delivery.js';
import { describeWithBaresip, startBaresip } from '../../helpers/baresip.js';
import type { TestDatabase } from '../../helpers/databases.js';
import { waitUntil } from '../../helpers/processes.js';
import { describeSippResult, describeWithSipp, startSipp } from '../../helpers/sipp.js';
import { createCallingAccount, NO_TRUNK, startTestTelephony } from '../../helpers/telephony.js';
import { documentVerifies } from '../../helpers/verify-webhook.js';
import { startReceiver, type WebhookReceiver } from '../../helpers/webhook-receiver.js';

/**
 * Inbound calls follow the number's ring plan: with nothing to ring the INVITE is refused with 480, a forward number
 * is rung through the trunk and joined to the caller, an extension rings its registered devices. Every one fires
 * DialAnyone's incoming_call, signed so that the document's verify_webhook accepts it.
 */
const UNROUTED = '+14155550160';
const FORWARDED = '+14155550161';
const EXTENSION_NUMBER = '+14155550162';
const SECRET = 'call_secret_for_the_inbound_tests';

let db: TestDatabase;
let services: Services;
let accountId: string;
let receiver: WebhookReceiver;
let delivery: WebhookDelivery;

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

before(async () => {
  ({ db, services, accountId } = await createCallingAccount('Inbound ring'));
  await services.credits.add(accountId, 100_000, 'test');
  for (const number of [UNROUTED, FORWARDED, EXTENSION_NUMBER]) await services.numbers.add(accountId, { number, type: 'purchased' });
  await services.extensions.route(accountId, FORWARDED, { forwardTo: '+14155550100' });
  receiver = await startReceiver();
  registerDialAnyoneFormats(services.webhooks);
  const key = await services.keys.create(accountId, { name: 'inbound' });
  await services.keyWebhooks.set(accountId, key.key.id, { call_webhook_url: receiver.url, call_webhook_secret: SECRET });
  delivery = startWebhookDelivery(WEBHOOKS, services, pino({ level: 'silent' }));
});
after(async () => {
  await delivery.close();
  await receiver.close();
  await db.close();
});

async function incomingCallFor(to: string, t: TestContext): Promise<Record<string, unknown>> {
  await waitUntil(`incoming_call for ${to}`, () => receiver.requests.some((r) => r.body.toString().includes(`"to":"${to}"`)), 10_000);
  const request = receiver.requests.find((r) => r.body.toString().includes(`"to":"${to}"`))!;
  const signature = String(request.headers['x-dialanyone-signature']);
  assert.equal(documentVerifies(request.body, signature, SECRET), true, 'the document\'s verify_webhook accepts the delivery');
  t.diagnostic(`incoming_call for ${to} verified by the document's snippet`);
  return JSON.parse(request.body.toString('utf8')) as Record<string, unknown>;
}

async function inboundCall(to: string) {
  await waitUntil(`the inbound call to ${to} ended`, async () => {
    const calls = await services.calls.list(accountId, 50);
    return calls.some((c) => c.direction === 'inbound' && c.to === to && c.state === 'ended');
  }, 15_000);
  return (await services.calls.list(accountId, 50)).find((c) => c.direction === 'inbound' && c.to === to)!;
}

await describeWithSipp('inbound calls ring their number\'s plan (SIPp as the carrier)', () => {
  test('nothing to ring: 480, and a signed incoming_call the document\'s snippet accepts', async (t) => {
    const telephony = await startTestTelephony(services, { rtpPorts: '47000-47499', trunk: NO_TRUNK });
    t.after(() => telephony.close());
    const uac = await startSipp({
      scenario: 'selftest/uac-expect-final.xml',
      remote: `127.0.0.1:${telephony.sipPort}`,
      service: UNROUTED,
      keys: { expect: '480' },
      t,
    });
    const result = await uac.done;
    assert.equal(result.code, 0, describeSippResult(result));
    const payload = await incomingCallFor(UNROUTED, t);
    assert.deepEqual(Object.keys(payload), ['event', 'call_id', 'from', 'to', 'timestamp']);
    assert.equal(payload.event, 'incoming_call');
    const call = await inboundCall(UNROUTED);
    assert.equal(call.sipStatus, 480);
    assert.equal(payload.call_id, call.id);
  });

  test('a forward number rings through the trunk; its answer answers the caller; both trunk legs are billed', async (t) => {
    const uas = await startSipp({ scenario: 'uas-two-leg.xml', calls: 1, timeoutSeconds: 25, t });
    const telephony = await startTestTelephony(services, { rtpPorts: '47500-47999', trunk: `sip:${uas.address}` });
    t.after(() => telephony.close());
    const before = await services.credits.balance(accountId);
    const uac = await startSipp({
      scenario: 'uac-call-dialplane.xml',
      remote: `127.0.0.1:${telephony.sipPort}`,
      service: FORWARDED,
      keys: { hold_ms: 1_500, caller: '+14155550111', audio: 'on' },
      t,
    });
    const result = await uac.done;
    assert.equal(result.code, 0, describeSippResult(result));
    assert.equal((await uas.done).code, 0, 'the forward leg was answered and hung up cleanly');
    const call = await inboundCall(FORWARDED);
    assert.equal(call.outcome, 'completed');
    const [leg] = await services.calls.legs(accountId, call.id);
    assert.equal(leg?.to, '+14155550100');
    assert.equal(leg?.from, '+14155550111', 'the caller\'s number is passed on');
    assert.equal(leg?.outcome, 'completed');
    await waitUntil('the leg is charged', async () => (await services.credits.balance(accountId)).heldMinor === 0, 5_000);
    const after = await services.credits.balance(accountId);
    assert.equal(before.balanceMinor - after.balanceMinor, 1_000, 'one started minute of the inbound leg and of the forwarded leg');
    assert.deepEqual([call.costMinor, leg?.costMinor], [500, 500]);
    await incomingCallFor(FORWARDED, t);
  });
});

await describeWithBaresip('inbound calls ring an extension\'s registered phone (baresip)', () => {
  test('baresip registers as a device; a call to the number rings it and it answers; an unregistered extension is 480', async (t) => {
    const telephony = await startTestTelephony(services, { rtpPorts: '48000-48499', trunk: NO_TRUNK });
    t.after(() => telephony.close());
    const extension = await services.extensions.create(accountId, { name: 'Front desk' });
    await services.extensions.route(accountId, EXTENSION_NUMBER, { extensionId: extension.id });

    // No device registered yet: nothing to ring.
    const refused = await startSipp({
      scenario: 'selftest/uac-expect-final.xml',
      remote: `127.0.0.1:${telephony.sipPort}`,
      service: EXTENSION_NUMBER,
      keys: { expect: '480' },
      t,
    });
    assert.equal((await refused.done).code, 0);

    const { device, password } = await services.extensions.addDevice(accountId, extension.id);
    const phone = await startBaresip({ user: 'unregistered', t, maxSeconds: 40 });
    const created = await phone.command(
      'uanew',
      `<sip:${device.username}@127.0.0.1:${telephony.sipPort};transport=udp>;auth_pass=${password};regint=60;answermode=auto`,
    );
    assert.ok(created.ok, created.data);
    await phone.waitRegistered();
    const uac = await startSipp({
      scenario: 'uac-call-dialplane.xml',
      remote: `127.0.0.1:${telephony.sipPort}`,
      service: EXTENSION_NUMBER,
      keys: { hold_ms: 1_000, caller: '+14155550112', audio: 'off' },
      t,
    });
    await phone.waitEvent('CALL_ESTABLISHED', 10_000);
    const result = await uac.done;
    assert.equal(result.code, 0, describeSippResult(result));
    const call = (await services.calls.list(accountId, 50)).find(
      (c) => c.direction === 'inbound' && c.to === EXTENSION_NUMBER && c.from === '+14155550112',
    )!;
    await waitUntil('the call ended', async () => (await services.calls.get(accountId, call.id)).state === 'ended', 10_000);
    const [leg] = await services.calls.legs(accountId, call.id);
    assert.equal(leg?.trunk, 'device');
    assert.equal(leg?.outcome, 'completed');
  });
});
