import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Services } from '../../../src/core/services.js';
import type { TestDatabase } from '../../helpers/databases.js';
import { waitUntil } from '../../helpers/processes.js';
import { describeSippResult, describeWithSipp, parseSippMessages, startSipp } from '../../helpers/sipp.js';
import { CALLER_NUMBER, createCallingAccount, startTestTelephony } from '../../helpers/telephony.js';
import { startFaceServer, startSippPhone } from '../../helpers/webfones.js';

/**
 * Extension devices beyond the click-to-call itself: a registration survives a restart of the server (the binding is
 * in the database, and the INVITE goes to the address the phone registered from), and a registered phone places
 * calls through Dialplane after answering the digest challenge on its INVITE: to a number through the trunk, and to
 * another extension by its number.
 */
let db: TestDatabase;
let services: Services;
let accountId: string;
let token: string;

before(async () => {
  ({ db, services, accountId } = await createCallingAccount('WebFones devices'));
  token = (await services.keys.create(accountId, { name: 'crm' })).token;
});
after(async () => {
  await db.close();
});

await describeWithSipp('extension devices (SIPp)', () => {
  test("a phone's registration survives a server restart: after it the click-to-call still rings it", async (t) => {
    await services.extensions.create(accountId, { number: '401' });
    const { device, password } = await services.extensions.addDevice(accountId, '401', { username: 'desk-401' });
    const first = await startTestTelephony(services, { rtpPorts: '46000-46249', trunk: 'sip:127.0.0.1:9' });
    const phone = await startSippPhone({ sipPort: first.sipPort, username: 'desk-401', password, behaviour: 'answer', talkMs: 1_000, t });
    await waitUntil('the phone registered', () => first.registrar.contactsFor([device.id]).length === 1, 10_000);
    const before = first.registrar.contactsFor([device.id])[0]!;
    await first.close();

    const carrier = await startSipp({ scenario: 'uas-two-leg.xml', calls: 1, timeoutSeconds: 30, t });
    const second = await startTestTelephony(services, { rtpPorts: '46250-46499', trunk: `sip:${carrier.address}` });
    t.after(() => second.close());
    const restored = second.registrar.contactsFor([device.id]);
    assert.deepEqual(
      restored.map((c) => [c.uri, c.address, c.port, c.expiresAt]),
      [[before.uri, before.address, before.port, before.expiresAt]],
      'restored from the database with the same flow and expiry',
    );
    const server = await startFaceServer(services, second);
    t.after(() => server.close());
    const response = await fetch(`${server.base}/dialer/call`, {
      method: 'POST',
      headers: { 'x-api-key': token, 'content-type': 'application/json' },
      body: JSON.stringify({ extension: '401', phonenumber: '15808675309' }),
    });
    assert.equal(await response.text(), '{"status":"200","message":"Success"}');
    const callId = response.headers.get('x-call-id')!;
    await waitUntil('the call ended', async () => !(await second.control.view(accountId, callId)).live, 20_000);
    const view = await second.control.view(accountId, callId);
    assert.deepEqual(
      [view.call, ...view.legs].map((leg) => [leg.trunk === 'device' ? 'device' : leg.to, leg.outcome]),
      [['device', 'completed'], ['+15808675309', 'completed']],
    );
    const run = await phone.stop();
    assert.ok(parseSippMessages(run.messages).some((m) => m.direction === 'received' && m.startLine.startsWith('INVITE sip:desk-401@')));
    assert.equal((await carrier.done).code, 0);
  });

  test('a registered phone calls a number through the trunk after the digest challenge on its INVITE', async (t) => {
    await services.extensions.create(accountId, { number: '402' });
    const { device, password } = await services.extensions.addDevice(accountId, '402', { username: 'desk-402' });
    const carrier = await startSipp({ scenario: 'uas-two-leg.xml', calls: 1, timeoutSeconds: 30, t });
    const telephony = await startTestTelephony(services, { rtpPorts: '46500-46749', trunk: `sip:${carrier.address}` });
    t.after(() => telephony.close());
    const phone = await startSipp({
      scenario: 'uac-device-call.xml',
      bindAddress: '127.0.0.2',
      remote: `127.0.0.1:${telephony.sipPort}`,
      service: '15808675309',
      authUser: device.username,
      authPassword: password,
      keys: { user: device.username, hold_ms: 1_500 },
      t,
    });
    const run = await phone.done;
    assert.equal(run.code, 0, describeSippResult(run));
    assert.equal((await carrier.done).code, 0);
    const invites = parseSippMessages(run.messages).filter((m) => m.direction === 'received' && m.startLine.startsWith('SIP/2.0 401'));
    assert.equal(invites.length, 2, 'the REGISTER and the INVITE were both challenged');
    await waitUntil('the call ended', async () => {
      const calls = await services.calls.list(accountId, 50);
      return calls.some((c) => c.from === 'desk-402' && c.state === 'ended');
    }, 10_000);
    const call = (await services.calls.list(accountId, 50)).find((c) => c.from === 'desk-402')!;
    assert.deepEqual([call.direction, call.to, call.trunk, call.priceMinor], ['inbound', '+15808675309', 'device', null]);
    const [leg] = await services.calls.legs(accountId, call.id);
    assert.deepEqual([leg?.to, leg?.from, leg?.outcome], ['+15808675309', CALLER_NUMBER, 'completed']);
  });

  test('a registered phone calls another extension by its number: that extension\'s phone rings and answers', async (t) => {
    await services.extensions.create(accountId, { number: '403' });
    await services.extensions.create(accountId, { number: '404' });
    const caller = await services.extensions.addDevice(accountId, '403', { username: 'desk-403' });
    const callee = await services.extensions.addDevice(accountId, '404', { username: 'desk-404' });
    const telephony = await startTestTelephony(services, { rtpPorts: '46750-46999', trunk: 'sip:127.0.0.1:9' });
    t.after(() => telephony.close());
    const answering = await startSippPhone({ sipPort: telephony.sipPort, username: 'desk-404', password: callee.password, behaviour: 'answer', talkMs: 5_000, t });
    await waitUntil('the callee registered', () => telephony.registrar.contactsFor([callee.device.id]).length === 1, 10_000);
    const phone = await startSipp({
      scenario: 'uac-device-call.xml',
      bindAddress: '127.0.0.2',
      remote: `127.0.0.1:${telephony.sipPort}`,
      service: '404',
      authUser: caller.device.username,
      authPassword: caller.password,
      keys: { user: caller.device.username, hold_ms: 1_500 },
      t,
    });
    const run = await phone.done;
    assert.equal(run.code, 0, describeSippResult(run));
    await waitUntil('the call ended', async () => {
      const calls = await services.calls.list(accountId, 50);
      return calls.some((c) => c.from === 'desk-403' && c.state === 'ended');
    }, 10_000);
    const call = (await services.calls.list(accountId, 50)).find((c) => c.from === 'desk-403')!;
    assert.equal(call.to, '404');
    const [leg] = await services.calls.legs(accountId, call.id);
    assert.deepEqual([leg?.trunk, leg?.outcome, leg?.priceMinor], ['device', 'completed', null]);
    const answered = await answering.stop();
    assert.ok(parseSippMessages(answered.messages).some((m) => m.direction === 'received' && m.startLine.startsWith('INVITE sip:desk-404@')));
  });
});
