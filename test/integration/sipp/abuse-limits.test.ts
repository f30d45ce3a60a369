import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Registry } from 'prom-client';
import type { Services } from '../../../src/core/services.js';
import type { TestDatabase } from '../../helpers/databases.js';
import { describeSippResult, describeWithSipp, parseSippMessages, sippFlow, startSipp } from '../../helpers/sipp.js';
import { createCallingAccount, startTestTelephony } from '../../helpers/telephony.js';

/**
 * Abuse limits on a whole telephony stack. A burst of INVITEs from 127.0.0.1 (no trunk) runs over that source's
 * request limit and gets 503 with Retry-After, while a call from the trunk's address 127.0.0.2 (SIPp's uac_pcap,
 * G.711 speech and an RFC 2833 "1") goes on with its audio heard. 20 wrong REGISTER passwords lock a device out: the
 * right password then gets 403 too. Both are counted in the metrics.
 */
let db: TestDatabase;
let services: Services;
let accountId: string;

before(async () => {
  ({ db, services, accountId } = await createCallingAccount('Abuse limits'));
});
after(async () => {
  await db.close();
});

async function counter(metrics: Registry, name: string, labels: string): Promise<number> {
  const text = await metrics.metrics();
  const match = new RegExp(`^${name}\\{${labels}\\} (\\d+)$`, 'm').exec(text);
  return Number(match?.[1] ?? 0);
}

await describeWithSipp('abuse limits (SIPp)', () => {
  test('a burst of INVITEs from one source gets 503 + Retry-After while a live call from another source keeps its audio', async (t) => {
    const metrics = new Registry();
    const telephony = await startTestTelephony(services, {
      rtpPorts: '53000-53499',
      trunk: 'sip:127.0.0.2:9',
      metrics,
      env: { DIALPLANE_SIP_SOURCE_RATE: '2', DIALPLANE_SIP_SOURCE_BURST: '10' },
    });
    t.after(() => telephony.close());
    let audio = 0;
    const digits: string[] = [];
    telephony.onDigit((_callId, digit) => digits.push(digit));
    void telephony.answered().then((call) => telephony.mediaFor(call.id)?.onAudio(() => void (audio += 1)));
    const live = await startSipp({
      scenario: 'uac_pcap',
      bindAddress: '127.0.0.2',
      remote: `127.0.0.1:${telephony.sipPort}`,
      service: '+14155551234',
      pcapLink: true,
      timeoutSeconds: 30,
      t,
    });
    // Let the live call be answered before the burst.
    const deadline = Date.now() + 10_000;
    while (audio === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok(audio > 0, 'the live call was answered and its audio heard before the burst');

    const burst = await startSipp({
      scenario: 'uac-invite-limited.xml',
      bindAddress: '127.0.0.1',
      remote: `127.0.0.1:${telephony.sipPort}`,
      service: '+14155551234',
      calls: 40,
      rate: 200,
      keys: { caller: '+14155550111' },
      timeoutSeconds: 30,
      t,
    });
    const burstRun = await burst.done;
    assert.equal(burstRun.code, 0, describeSippResult(burstRun));
    const finals = sippFlow(burstRun).filter((line) => line.startsWith('< SIP/2.0') && !line.includes('100 Trying'));
    const forbidden = finals.filter((line) => line === '< SIP/2.0 403 Forbidden').length;
    const limited = finals.filter((line) => line === '< SIP/2.0 503 Service Unavailable').length;
    assert.equal(forbidden + limited, 40, finals.join('\n'));
    assert.ok(forbidden >= 10 && forbidden <= 14, `the burst of 10 (and what refilled at 2/s) got through: ${forbidden}`);
    assert.ok(limited >= 26, `the rest was limited: ${limited}`);
    const retryAfter = parseSippMessages(burstRun.messages).filter((m) => m.direction === 'received' && m.startLine.includes('503'));
    for (const m of retryAfter) assert.match(m.text, /^Retry-After: \d+\r?$/m);
    assert.equal(await counter(metrics, 'dialplane_sip_requests_limited_total', 'method="INVITE"'), limited);

    const liveRun = await live.done;
    assert.equal(liveRun.code, 0, describeSippResult(liveRun));
    assert.deepEqual(digits, ['1']);
    assert.ok(audio >= 100, `speech packets heard: ${audio}`);
  });

  test('20 wrong REGISTER passwords lock the device out: the right one then gets 403 as well', async (t) => {
    const metrics = new Registry();
    const telephony = await startTestTelephony(services, { rtpPorts: '53500-53999', trunk: 'sip:127.0.0.2:9', metrics });
    t.after(() => telephony.close());
    const extension = await services.extensions.create(accountId, { name: 'Guessed desk' });
    const { device, password } = await services.extensions.addDevice(accountId, extension.id);
    const other = await services.extensions.addDevice(accountId, extension.id);

    const guesses = await startSipp({
      scenario: 'uac-register-auth.xml',
      bindAddress: '127.0.0.3',
      remote: `127.0.0.1:${telephony.sipPort}`,
      authUser: device.username,
      authPassword: 'not-the-password',
      keys: { user: device.username, expires: 120, hold_ms: 0 },
      calls: 20,
      rate: 50,
      timeoutSeconds: 30,
      t,
    });
    const guessRun = await guesses.done;
    assert.equal(guessRun.code, 0, describeSippResult(guessRun));
    assert.equal(sippFlow(guessRun).filter((line) => line === '< SIP/2.0 403 Forbidden').length, 20);
    assert.equal(await counter(metrics, 'dialplane_sip_register_lockout_total', 'event="locked"'), 1);

    const right = await startSipp({
      scenario: 'uac-register-auth.xml',
      bindAddress: '127.0.0.3',
      remote: `127.0.0.1:${telephony.sipPort}`,
      authUser: device.username,
      authPassword: password,
      keys: { user: device.username, expires: 120, hold_ms: 0 },
      t,
    });
    const rightRun = await right.done;
    assert.equal(rightRun.code, 0, describeSippResult(rightRun));
    assert.deepEqual(sippFlow(rightRun).filter((line) => line.startsWith('<') && !line.includes('100 Trying')), [
      '< SIP/2.0 401 Unauthorized',
      '< SIP/2.0 403 Forbidden',
    ]);
    assert.equal(telephony.registrar.contactsFor([device.id]).length, 0, 'the locked-out device is not registered');
    assert.equal(await counter(metrics, 'dialplane_sip_register_lockout_total', 'event="refused"'), 1);

    // Another device of the same extension is not locked out.
    const neighbour = await startSipp({
      scenario: 'uac-register-auth.xml',
      bindAddress: '127.0.0.3',
      remote: `127.0.0.1:${telephony.sipPort}`,
      authUser: other.device.username,
      authPassword: other.password,
      keys: { user: other.device.username, expires: 120, hold_ms: 0 },
      t,
    });
    const neighbourRun = await neighbour.done;
    assert.equal(neighbourRun.code, 0, describeSippResult(neighbourRun));
    assert.ok(sippFlow(neighbourRun).includes('< SIP/2.0 200 OK'), sippFlow(neighbourRun).join('\n'));
  });
});
