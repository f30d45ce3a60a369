import assert from 'node:assert/strict';
import { after, before, test, type TestContext } from 'node:test';
import type { Services } from '../../../src/core/services.js';
import type { TestDatabase } from '../../helpers/databases.js';
import { waitUntil } from '../../helpers/processes.js';
import { describeSippResult, describeWithSipp, parseSippMessages, sipHeader, startSipp } from '../../helpers/sipp.js';
import { createCallingAccount, startTestTelephony } from '../../helpers/telephony.js';

/**
 * Dialplane bound to 0.0.0.0 with no public address, a SIPp carrier on 127.0.0.1: what it advertises to that loopback
 * peer is 127.0.0.1 (Contact, SDP o= and c=), never 0.0.0.0; on the forwarded leg too nothing says 0.0.0.0. With
 * DIALPLANE_SIP_PUBLIC_ADDRESS and DIALPLANE_RTP_PUBLIC_ADDRESS set, those go into Contact and SDP instead.
 */
const FORWARDED = '+14155550181';
const FORWARD_TO = '+14155550100';

let db: TestDatabase;
let services: Services;
let accountId: string;

before(async () => {
  ({ db, services, accountId } = await createCallingAccount('Addressing'));
  await services.credits.add(accountId, 100_000, 'test');
  await services.numbers.add(accountId, { number: FORWARDED, type: 'purchased' });
  await services.extensions.route(accountId, FORWARDED, { forwardTo: FORWARD_TO });
});
after(async () => {
  await db.close();
});

async function forwardedCall(
  t: TestContext,
  rtpPorts: string,
  env: Record<string, string>,
): Promise<{ ok: string; forwardedInvite: string }> {
  const trunk = await startSipp({ scenario: 'uas-two-leg.xml', calls: 1, timeoutSeconds: 30, t });
  const telephony = await startTestTelephony(services, { rtpPorts, trunk: `sip:${trunk.address}`, env: { DIALPLANE_SIP_HOST: '0.0.0.0', ...env } });
  t.after(() => telephony.close());
  const carrier = await startSipp({
    scenario: 'uac-call-dialplane.xml',
    remote: `127.0.0.1:${telephony.sipPort}`,
    service: FORWARDED,
    keys: { hold_ms: 500, caller: '+14155550111' },
    t,
  });
  const run = await carrier.done;
  assert.equal(run.code, 0, describeSippResult(run));
  const trunkRun = await trunk.done;
  assert.equal(trunkRun.code, 0, describeSippResult(trunkRun));
  await waitUntil('the inbound call ended', async () => {
    const calls = await services.calls.list(accountId, 100);
    return calls.filter((c) => c.direction === 'inbound' && c.to === FORWARDED).every((c) => c.state === 'ended');
  }, 10_000);
  const ok = parseSippMessages(run.messages).find((m) => m.direction === 'received' && m.startLine === 'SIP/2.0 200 OK' && /CSeq:\s*1 INVITE/i.test(m.text));
  const forwardedInvite = parseSippMessages(trunkRun.messages).find((m) => m.direction === 'received' && m.startLine.startsWith('INVITE '));
  assert.ok(ok, 'the caller got a 200 OK to its INVITE');
  assert.ok(forwardedInvite, 'the trunk got the forwarded INVITE');
  return { ok: ok.text, forwardedInvite: forwardedInvite.text };
}

await describeWithSipp('addressing (Dialplane bound to 0.0.0.0, SIPp on 127.0.0.1)', () => {
  test('without a public address a loopback peer is told 127.0.0.1 in Contact, o= and c=; nothing says 0.0.0.0', async (t) => {
    const { ok, forwardedInvite } = await forwardedCall(t, '52000-52499', {});
    assert.match(sipHeader(ok, 'Contact') ?? '', /^<sip:127\.0\.0\.1:\d+>/);
    assert.match(ok, /^o=- \d+ \d+ IN IP4 127\.0\.0\.1\r?$/m);
    assert.match(ok, /^c=IN IP4 127\.0\.0\.1\r?$/m);
    for (const text of [ok, forwardedInvite]) assert.doesNotMatch(text, /0\.0\.0\.0/);
    // The trunk is a loopback peer too: the forwarded leg's Via, Contact and c= say 127.0.0.1, and the Via asks for rport.
    assert.match(sipHeader(forwardedInvite, 'Via') ?? '', /^SIP\/2\.0\/UDP 127\.0\.0\.1:\d+;.*;rport/);
    assert.match(sipHeader(forwardedInvite, 'Contact') ?? '', /^<sip:[^>]*127\.0\.0\.1:\d+/);
    assert.match(forwardedInvite, /^c=IN IP4 127\.0\.0\.1\r?$/m);
  });

  test('DIALPLANE_SIP_PUBLIC_ADDRESS and DIALPLANE_RTP_PUBLIC_ADDRESS go into Contact/Via and SDP', async (t) => {
    const { ok, forwardedInvite } = await forwardedCall(t, '52500-52999', {
      DIALPLANE_SIP_PUBLIC_ADDRESS: '127.0.0.3',
      DIALPLANE_RTP_PUBLIC_ADDRESS: '127.0.0.4',
    });
    // Other loopback addresses stand for public ones: bound to 0.0.0.0, Dialplane still receives what is sent to them,
    // so the ACK, BYE and RTP that follow the advertised addresses arrive and both calls complete.
    assert.match(sipHeader(ok, 'Contact') ?? '', /^<sip:127\.0\.0\.3:\d+>/);
    assert.match(ok, /^c=IN IP4 127\.0\.0\.4\r?$/m);
    assert.match(sipHeader(forwardedInvite, 'Via') ?? '', /^SIP\/2\.0\/UDP 127\.0\.0\.3:\d+;/);
    assert.match(sipHeader(forwardedInvite, 'Contact') ?? '', /^<sip:[^>]*127\.0\.0\.3:\d+/);
    assert.match(forwardedInvite, /^o=- \d+ \d+ IN IP4 127\.0\.0\.4\r?$/m);
    assert.match(forwardedInvite, /^c=IN IP4 127\.0\.0\.4\r?$/m);
  });

  test('bound to 0.0.0.0 with the dev carrier: a call is answered and its keys and audio arrive', async (t) => {
    const telephony = await startTestTelephony(services, { rtpPorts: '53000-53499', trunk: 'dev', env: { DIALPLANE_SIP_HOST: '0.0.0.0' } });
    t.after(() => telephony.close());
    const heard: string[] = [];
    let audio = 0;
    const answered = telephony.answered().then((call) => call.id);
    telephony.onDigit((_callId, digit) => heard.push(digit));
    const call = await telephony.engine.place({ accountId, from: '+14155551234', to: '+14155557123', ringTimeoutS: 10, maxDurationS: 30 });
    const timeout = new Promise<string>((_resolve, reject) => setTimeout(() => reject(new Error('not answered in 10 s')), 10_000).unref());
    assert.equal(await Promise.race([answered, timeout]), call.id);
    telephony.mediaFor(call.id)!.onAudio(() => void (audio += 1));
    for (let i = 0; i < 60 && heard.length < 3; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(heard, ['1', '2', '3']);
    assert.ok(audio >= 30, `the callee talked (${audio} packets)`);
    await telephony.engine.hangup(accountId, call.id);
  });
});
