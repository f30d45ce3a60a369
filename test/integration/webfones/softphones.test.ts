import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Services } from '../../../src/core/services.js';
import { startBaresip, describeWithBaresip } from '../../helpers/baresip.js';
import type { TestDatabase } from '../../helpers/databases.js';
import { describeWithLinphone, startLinphone } from '../../helpers/linphone.js';
import { waitUntil } from '../../helpers/processes.js';
import { parseSippMessages, sippAvailable, startSipp } from '../../helpers/sipp.js';
import { createCallingAccount, startTestTelephony } from '../../helpers/telephony.js';
import { startFaceServer, startSippPhone } from '../../helpers/webfones.js';

/**
 * Real softphones as extension devices of the WebFones click-to-call: baresip registers and auto-answers; linphonec
 * registers and, rung together with a SIPp phone of the same extension (a forked INVITE), auto-answers while the SIPp
 * phone is cancelled. In both the number is then dialled through a SIPp carrier and bridged.
 */
let db: TestDatabase;
let services: Services;
let accountId: string;
let token: string;

before(async () => {
  ({ db, services, accountId } = await createCallingAccount('WebFones softphones'));
  token = (await services.keys.create(accountId, { name: 'crm' })).token;
});
after(async () => {
  await db.close();
});

async function clickToCall(base: string, extension: string): Promise<string> {
  const response = await fetch(`${base}/dailer/call`, {
    method: 'POST',
    headers: { 'x-api-key': token, 'content-type': 'application/json' },
    body: JSON.stringify({ extension, phonenumber: '15808675309' }),
  });
  assert.equal(await response.text(), '{"status":"200","message":"Success"}');
  return response.headers.get('x-call-id')!;
}

await describeWithBaresip('WebFones: baresip as the extension\'s softphone', () => {
  test('baresip registers, is rung by the click-to-call and auto-answers; the number is dialled and bridged', async (t) => {
    assert.ok(await sippAvailable(), 'the carrier is SIPp');
    const carrier = await startSipp({ scenario: 'uas-two-leg.xml', calls: 1, timeoutSeconds: 40, t });
    const telephony = await startTestTelephony(services, { rtpPorts: '43000-43499', trunk: `sip:${carrier.address}` });
    t.after(() => telephony.close());
    const server = await startFaceServer(services, telephony);
    t.after(() => server.close());
    await services.extensions.create(accountId, { number: '320' });
    const { device, password } = await services.extensions.addDevice(accountId, '320');

    const phone = await startBaresip({ user: 'unregistered', t, maxSeconds: 60 });
    const created = await phone.command(
      'uanew',
      `<sip:${device.username}@127.0.0.1:${telephony.sipPort};transport=udp>;auth_pass=${password};regint=60;answermode=auto`,
    );
    assert.ok(created.ok, created.data);
    await phone.waitRegistered();

    const callId = await clickToCall(server.base, '320');
    await phone.waitEvent('CALL_ESTABLISHED', 10_000);
    await waitUntil('the number answered and was bridged', () => (telephony.bridges[0]?.relayed ?? 0) >= 20, 15_000);
    await telephony.control.hangup(accountId, callId);
    const view = await telephony.control.view(accountId, callId);
    assert.deepEqual(
      [view.call, ...view.legs].map((leg) => [leg.trunk === 'device' ? 'baresip' : leg.to, leg.answeredAt !== null]),
      [['baresip', true], ['+15808675309', true]],
    );
    assert.equal((await carrier.done).code, 0);
  });
});

await describeWithLinphone('WebFones: linphonec as one of the extension\'s devices', () => {
  test('linphonec registers and gets the forked INVITE with a SIPp phone; it auto-answers and the SIPp phone is cancelled', async (t) => {
    assert.ok(await sippAvailable(), 'the carrier and the other phone are SIPp');
    const carrier = await startSipp({ scenario: 'uas-two-leg.xml', calls: 1, timeoutSeconds: 40, t });
    const telephony = await startTestTelephony(services, { rtpPorts: '43500-43999', trunk: `sip:${carrier.address}` });
    t.after(() => telephony.close());
    const server = await startFaceServer(services, telephony);
    t.after(() => server.close());
    await services.extensions.create(accountId, { number: '321' });
    const linphoneDevice = await services.extensions.addDevice(accountId, '321', { username: 'linphone-321' });
    const sippDevice = await services.extensions.addDevice(accountId, '321', { username: 'sipp-321' });

    const linphone = await startLinphone({ t });
    const registrar = `sip:127.0.0.1:${telephony.sipPort}`;
    linphone.send(`register sip:linphone-321@127.0.0.1:${telephony.sipPort} ${registrar} ${linphoneDevice.password}`);
    const ringing = await startSippPhone({ sipPort: telephony.sipPort, username: 'sipp-321', password: sippDevice.password, behaviour: 'ring', t });
    await waitUntil(
      'both devices registered',
      () => telephony.registrar.contactsFor([linphoneDevice.device.id, sippDevice.device.id]).length === 2,
      15_000,
    );
    const bound = telephony.registrar.contactsFor([linphoneDevice.device.id])[0]!;
    assert.equal(bound.port, linphone.port, 'linphonec is reached where it registered from');

    const callId = await clickToCall(server.base, '321');
    await linphone.waitFor(/connected|established/i, 15_000);
    await waitUntil('the number was dialled and answered', async () => {
      const view = await telephony.control.view(accountId, callId);
      return view.legs.some((leg) => leg.to === '+15808675309' && leg.answeredAt !== null);
    }, 15_000);
    await telephony.control.hangup(accountId, callId);
    const view = await telephony.control.view(accountId, callId);
    const devices = [view.call, ...view.legs].filter((leg) => leg.trunk === 'device');
    assert.deepEqual(devices.map((leg) => leg.outcome).sort(), ['canceled', 'completed']);

    const ringRun = await ringing.stop();
    const messages = parseSippMessages(ringRun.messages);
    assert.ok(messages.some((m) => m.direction === 'received' && m.startLine.startsWith('CANCEL sip:sipp-321@')), 'the SIPp phone was cancelled');
    assert.match(linphone.output(), /linphone-321|incoming call/i);
    assert.equal((await carrier.done).code, 0);
  });
});
