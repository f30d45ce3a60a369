import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Services } from '../../../src/core/services.js';
import type { TestDatabase } from '../../helpers/databases.js';
import { waitUntil } from '../../helpers/processes.js';
import { describeSippResult, describeWithSipp, parseSippMessages, startSipp } from '../../helpers/sipp.js';
import { CALLER_NUMBER, createCallingAccount, NO_TRUNK, startTestTelephony } from '../../helpers/telephony.js';
import { startFaceServer, startSippPhone } from '../../helpers/webfones.js';

/**
 * The WebFones call with real SIP peers: two SIPp phones register (digest) as two devices of extension 309; POST
 * /dialer/call rings both; one answers and the other gets CANCEL; the number is then dialled through a SIPp carrier
 * and the two are bridged, audio relayed both ways. The call, its forked branches and their outcomes are read back
 * through /dialplane/v1/calls.
 */
const DIALED = '15808675309';

let db: TestDatabase;
let services: Services;
let accountId: string;
let token: string;

before(async () => {
  ({ db, services, accountId } = await createCallingAccount('WebFones'));
  token = (await services.keys.create(accountId, { name: 'crm' })).token;
});
after(async () => {
  await db.close();
});

await describeWithSipp('WebFones click-to-call (SIPp phones and carrier)', () => {
  test('two phones of extension 309 ring; the first to answer wins, the other is cancelled; the number is dialled and bridged', async (t) => {
    const carrier = await startSipp({ scenario: 'uas-two-leg.xml', calls: 1, timeoutSeconds: 40, t });
    const telephony = await startTestTelephony(services, { rtpPorts: '45000-45499', trunk: `sip:${carrier.address}` });
    t.after(() => telephony.close());
    const server = await startFaceServer(services, telephony);
    t.after(() => server.close());

    const extension = await services.extensions.create(accountId, { number: '309' });
    const desk = await services.extensions.addDevice(accountId, '309', { username: 'desk-309' });
    const soft = await services.extensions.addDevice(accountId, '309', { username: 'soft-309' });
    const answering = await startSippPhone({ sipPort: telephony.sipPort, username: 'desk-309', password: desk.password, behaviour: 'answer', answerMs: 800, talkMs: 2_500, t });
    const ringing = await startSippPhone({ sipPort: telephony.sipPort, username: 'soft-309', password: soft.password, behaviour: 'ring', t });
    await waitUntil('both phones registered', () => telephony.registrar.contactsFor([desk.device.id, soft.device.id]).length === 2, 10_000);

    const response = await fetch(`${server.base}/dialer/call`, {
      method: 'POST',
      headers: { 'x-api-key': token, 'content-type': 'application/json' },
      body: JSON.stringify({ extension: '309', phonenumber: DIALED }),
    });
    assert.equal(response.status, 200);
    assert.equal(await response.text(), '{"status":"200","message":"Success"}');
    const callId = response.headers.get('x-call-id')!;
    assert.match(callId, /^call_/);

    await waitUntil('audio relayed both ways', () => {
      const bridge = telephony.bridges[0];
      return bridge !== undefined && bridge.counts.aToB >= 20 && bridge.counts.bToA >= 20;
    }, 15_000);
    t.diagnostic(`bridge relayed ${JSON.stringify(telephony.bridges[0]?.counts)}`);
    await waitUntil('the call ended', async () => !(await telephony.control.view(accountId, callId)).live, 20_000);

    const view = await telephony.control.view(accountId, callId);
    const legs = [view.call, ...view.legs];
    const deviceLegs = legs.filter((leg) => leg.trunk === 'device');
    assert.equal(deviceLegs.length, 2, 'one branch per registered phone');
    assert.deepEqual(deviceLegs.map((leg) => leg.outcome).sort(), ['canceled', 'completed']);
    const dialed = legs.find((leg) => leg.to === '+15808675309');
    assert.equal(dialed?.outcome, 'completed', 'the number was dialled and answered');
    assert.equal(dialed?.from, CALLER_NUMBER, 'with the account\'s number as caller ID');
    assert.equal(view.call.metadata?.webfones && (view.call.metadata.webfones as { extension: string }).extension, '309');

    // The same call through the API other faces use: every branch with its outcome.
    const api = await fetch(`${server.base}/dialplane/v1/calls/${callId}`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(api.status, 200);
    const resource = (await api.json()) as { legs: Array<{ to: string; outcome: string; price_per_minute: number | null }> };
    assert.equal(resource.legs.length, 3);
    assert.deepEqual(resource.legs.map((leg) => leg.outcome).sort(), ['canceled', 'completed', 'completed']);
    const list = await fetch(`${server.base}/dialplane/v1/calls`, { headers: { authorization: `Bearer ${token}` } });
    assert.ok(((await list.json()) as { calls: Array<{ call_id: string }> }).calls.some((c) => c.call_id === callId));

    const carrierRun = await carrier.done;
    assert.equal(carrierRun.code, 0, describeSippResult(carrierRun));
    const ringRun = await ringing.stop();
    const ringMessages = parseSippMessages(ringRun.messages);
    assert.ok(ringMessages.some((m) => m.direction === 'received' && m.startLine.startsWith('INVITE sip:soft-309@')), 'the softphone was rung');
    assert.ok(ringMessages.some((m) => m.direction === 'received' && m.startLine.startsWith('CANCEL sip:soft-309@')), 'and cancelled');
    assert.ok(ringMessages.some((m) => m.direction === 'sent' && m.startLine.startsWith('SIP/2.0 487')), describeSippResult(ringRun));
    const answerRun = await answering.stop();
    const answered = parseSippMessages(answerRun.messages);
    assert.ok(answered.some((m) => m.direction === 'received' && m.startLine.startsWith('INVITE sip:desk-309@')));
    assert.ok(answered.some((m) => m.direction === 'received' && m.startLine.startsWith('ACK ')), describeSippResult(answerRun));
    assert.equal(extension.mobile, null);
  });

  test('no registered device and no mobile: 400 no devices; a mobile alone is rung through the trunk', async (t) => {
    const carrier = await startSipp({ scenario: 'uas-two-leg.xml', calls: 1, timeoutSeconds: 30, t });
    const telephony = await startTestTelephony(services, { rtpPorts: '45500-45999', trunk: `sip:${carrier.address}` });
    t.after(() => telephony.close());
    const server = await startFaceServer(services, telephony);
    t.after(() => server.close());
    await services.extensions.create(accountId, { number: '310' });
    const post = (extension: string) =>
      fetch(`${server.base}/dailer/call`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ extension, phonenumber: DIALED }),
      });
    const none = await post('310');
    assert.equal(none.status, 400);
    assert.equal(await none.text(), '{"message":"no devices"}');

    // A mobile ending in 0486: the carrier answers it busy, so the number is never dialled.
    await services.extensions.update(accountId, '310', { mobile: '+14155550486' });
    const mobile = await post('310');
    assert.equal(mobile.status, 200);
    const callId = mobile.headers.get('x-call-id')!;
    await waitUntil('the call ended', async () => !(await telephony.control.view(accountId, callId)).live, 15_000);
    const view = await telephony.control.view(accountId, callId);
    assert.deepEqual([view.call, ...view.legs].map((leg) => [leg.to, leg.outcome]), [['+14155550486', 'busy']]);
    assert.equal((await carrier.done).code, 0);
    void NO_TRUNK;
  });
});
