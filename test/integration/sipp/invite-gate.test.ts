import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Registry } from 'prom-client';
import type { Services } from '../../../src/core/services.js';
import type { TestDatabase } from '../../helpers/databases.js';
import { waitUntil } from '../../helpers/processes.js';
import { describeSippResult, describeWithSipp, parseSippMessages, sippFlow, startSipp } from '../../helpers/sipp.js';
import { CALLER_NUMBER, createCallingAccount, NO_TRUNK, startTestTelephony } from '../../helpers/telephony.js';

/**
 * Who may call in. Dialplane's trunk is a SIPp carrier on 127.0.0.1; a caller on 127.0.0.2 is another host. An
 * INVITE from that host to a number forwarded through the trunk gets 403: no call, no charge, nothing reaches the
 * trunk, one count in dialplane_sip_invites_refused_total. The same INVITE from the trunk's address is answered and
 * forwarded. A phone registered from 127.0.0.2 is challenged and let in with its device credentials.
 */
const FORWARDED = '+14155550171';
const FORWARD_TO = '+14155550100';

let db: TestDatabase;
let services: Services;
let accountId: string;

before(async () => {
  ({ db, services, accountId } = await createCallingAccount('Invite gate'));
  await services.credits.add(accountId, 100_000, 'test');
  await services.numbers.add(accountId, { number: FORWARDED, type: 'purchased' });
  await services.extensions.route(accountId, FORWARDED, { forwardTo: FORWARD_TO });
});
after(async () => {
  await db.close();
});

/** The counter's value for a reason (0 while it was never counted). */
async function refused(metrics: Registry, reason: string): Promise<number> {
  const text = await metrics.metrics();
  const match = new RegExp(`^dialplane_sip_invites_refused_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(text);
  return Number(match?.[1] ?? 0);
}

await describeWithSipp('who may call in (SIPp: the trunk on 127.0.0.1, other hosts on 127.0.0.2)', () => {
  test('an INVITE from no trunk is 403: no call, no charge, nothing sent to the trunk, counted; from the trunk it is forwarded', async (t) => {
    const metrics = new Registry();
    const trunk = await startSipp({ scenario: 'uas-two-leg.xml', calls: 1, timeoutSeconds: 30, t });
    const telephony = await startTestTelephony(services, { rtpPorts: '44000-44499', trunk: `sip:${trunk.address}`, metrics });
    t.after(() => telephony.close());
    const balanceBefore = await services.credits.balance(accountId);

    const stranger = await startSipp({
      scenario: 'uac-invite-forbidden.xml',
      bindAddress: '127.0.0.2',
      remote: `127.0.0.1:${telephony.sipPort}`,
      service: FORWARDED,
      keys: { caller: '+14155550111' },
      t,
    });
    const refusedRun = await stranger.done;
    assert.equal(refusedRun.code, 0, describeSippResult(refusedRun));
    assert.deepEqual(sippFlow(refusedRun).filter((line) => !line.includes('100 Trying')), [
      `> INVITE sip:${FORWARDED}@127.0.0.1:${telephony.sipPort} SIP/2.0`,
      '< SIP/2.0 403 Forbidden',
      `> ACK sip:${FORWARDED}@127.0.0.1:${telephony.sipPort} SIP/2.0`,
    ]);
    assert.equal(await refused(metrics, 'not_allowed'), 1);
    // Give a wrongly admitted call time to show itself: a row, a hold, an INVITE at the trunk.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    assert.deepEqual(await services.calls.list(accountId, 50), [], 'no call was written');
    assert.deepEqual(await services.credits.balance(accountId), balanceBefore, 'nothing charged or held');
    t.diagnostic('the stranger got 403; no call row, balance unchanged');

    // The same call from the trunk's own address (another port of 127.0.0.1) goes through and is forwarded.
    const carrier = await startSipp({
      scenario: 'uac-call-dialplane.xml',
      remote: `127.0.0.1:${telephony.sipPort}`,
      service: FORWARDED,
      keys: { hold_ms: 1_000, caller: '+14155550111' },
      t,
    });
    const answered = await carrier.done;
    assert.equal(answered.code, 0, describeSippResult(answered));
    const trunkRun = await trunk.done;
    assert.equal(trunkRun.code, 0, describeSippResult(trunkRun));
    const invites = parseSippMessages(trunkRun.messages).filter((m) => m.direction === 'received' && m.startLine.startsWith('INVITE '));
    assert.equal(invites.length, 1, 'the trunk saw the forwarded leg of the allowed call only');
    assert.match(invites[0]!.startLine, new RegExp(`^INVITE sip:\\${FORWARD_TO}@`));
    await waitUntil('the inbound call ended', async () => {
      const calls = await services.calls.list(accountId, 50);
      return calls.some((c) => c.direction === 'inbound' && c.to === FORWARDED && c.state === 'ended');
    }, 10_000);
    assert.equal(await refused(metrics, 'not_allowed'), 1, 'the trunk call was not counted');
  });

  test('a phone registered from 127.0.0.2 is challenged on its INVITE and let in with its device credentials', async (t) => {
    const metrics = new Registry();
    const telephony = await startTestTelephony(services, { rtpPorts: '44500-44999', trunk: NO_TRUNK, metrics });
    t.after(() => telephony.close());
    const extension = await services.extensions.create(accountId, { name: 'Gate desk' });
    const { device, password } = await services.extensions.addDevice(accountId, extension.id);

    const phone = await startSipp({
      scenario: 'uac-device-call.xml',
      bindAddress: '127.0.0.2',
      remote: `127.0.0.1:${telephony.sipPort}`,
      service: CALLER_NUMBER,
      authUser: device.username,
      authPassword: password,
      keys: { user: device.username, hold_ms: 500 },
      t,
    });
    const run = await phone.done;
    assert.equal(run.code, 0, describeSippResult(run));
    const received = sippFlow(run).filter((line) => line.startsWith('<') && !line.includes('100 Trying'));
    assert.deepEqual(received, [
      '< SIP/2.0 401 Unauthorized',
      '< SIP/2.0 200 OK',
      '< SIP/2.0 401 Unauthorized',
      ...received.slice(3, -2),
      '< SIP/2.0 200 OK',
      '< SIP/2.0 200 OK',
    ]);
    const messages = parseSippMessages(run.messages);
    const challenge = messages.find((m) => m.direction === 'received' && m.text.includes('CSeq: 3 INVITE') && m.startLine.includes('401'));
    assert.match(challenge?.text ?? '', /^WWW-Authenticate: Digest .*realm="dialplane"/im, 'the INVITE was challenged for the device realm');
    await waitUntil('the device call ended', async () => {
      const calls = await services.calls.list(accountId, 50);
      return calls.some((c) => c.direction === 'inbound' && c.to === CALLER_NUMBER && c.from === device.username && c.state === 'ended');
    }, 10_000);
    const call = (await services.calls.list(accountId, 50)).find((c) => c.to === CALLER_NUMBER && c.from === device.username)!;
    assert.equal(call.outcome, 'completed');
    assert.equal(await refused(metrics, 'not_allowed'), 0);
    assert.equal(await refused(metrics, 'auth_failed'), 0);
  });
});
