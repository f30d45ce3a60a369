import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RemoteLegMedia } from '../../../src/media/workers/remote-leg-media.js';
import { realTimers, type TimerScheduler } from '../../../src/sip/transaction/timers.js';
import { startRtpCallee, type RtpCallee } from '../../helpers/rtp-callee.js';
import { describeSippResult, describeWithSipp, freeUdpPortBlock, parseSippMessages, sipHeader, sippFlow, startSipp, type SippResult } from '../../helpers/sipp.js';
import { CALLER_NUMBER, createCallingAccount, startTestTelephony, type TestTelephony } from '../../helpers/telephony.js';
import type { Call } from '../../../src/core/calls/call-service.js';
import { sleep, waitUntil } from '../../helpers/processes.js';

/**
 * The invite session against SIPp: what a carrier or a phone sends in the middle of a call (re-INVITE holds, INFO
 * keys, session-timer refreshes, reliable provisional responses, OPTIONS) and what it expects back.
 */

/** A 400 Hz tone, loud enough to be told from silence. */
function tone(seconds: number): Int16Array {
  const samples = new Int16Array(Math.round(8000 * seconds));
  for (let i = 0; i < samples.length; i++) samples[i] = Math.round(8_000 * Math.sin((2 * Math.PI * 400 * i) / 8000));
  return samples;
}

/**
 * Keeps the leg playing a tone, again and again, whatever the call's state: while the peer holds the call play()
 * resolves at once without sending (that is what the tests check), and the loop then waits a little and tries again.
 */
function playContinuously(media: RemoteLegMedia): { stop(): Promise<void> } {
  let running = true;
  const chunk = tone(0.2);
  const loop = (async () => {
    while (running) {
      const started = performance.now();
      await media.play(chunk);
      if (performance.now() - started < 100) await sleep(20);
    }
  })();
  return {
    async stop() {
      running = false;
      media.stop();
      await loop;
    },
  };
}

/** The SDP bodies of the 200s SIPp received for its INVITEs (or UPDATEs), in order. */
function answersReceived(result: SippResult, method = 'INVITE'): string[] {
  return parseSippMessages(result.messages)
    .filter((m) => m.direction === 'received' && m.startLine.startsWith('SIP/2.0 200') && (sipHeader(m.text, 'CSeq') ?? '').endsWith(` ${method}`))
    .map((m) => m.text.split(/\r?\n\r?\n/).slice(1).join('\n'));
}

/**
 * RFC 4028's timers (SessionRefresh, SessionExpiry) at 1/50 of real time, through TelephonyOptions.sessionTimers:
 * a 90 s session interval is refreshed every 0.9 s by its refresher (half the interval) and expires 1.2 s after the
 * last refresh (the interval minus min(32 s, a third of it) = 60 s). Every other timer, and SIPp, run in real time; the
 * SIPp side of each scenario is paced in the same scaled seconds.
 */
const SESSION_SCALE = 1 / 50;
const scaledSessionTimers: TimerScheduler = { start: (name, ms, fire) => realTimers.start(name, ms * SESSION_SCALE, fire) };
const sessionSeconds = (s: number) => s * 1000 * SESSION_SCALE;

/** The requests SIPp received, by method, in order. */
function received(result: SippResult, method: string) {
  return parseSippMessages(result.messages).filter((m) => m.direction === 'received' && m.startLine.startsWith(`${method} `));
}

/** The next answered call; a failure with SIPp's account when SIPp ends first. */
async function answeredBefore(answered: Promise<Call>, sipp: { done: Promise<SippResult> }): Promise<Call> {
  return Promise.race([answered, sipp.done.then((result) => assert.fail(`SIPp ended before the call was answered: ${describeSippResult(result)}`))]);
}

/** Waits for the call to end by itself; a failure with SIPp's account of the call when it does not within `ms`. */
async function endsWithin(telephony: TestTelephony, callId: string, ms: number, sipp: { stop(): Promise<SippResult> }): Promise<void> {
  const ended = await Promise.race([telephony.engine.whenEnded(callId).then(() => true), sleep(ms).then(() => false)]);
  if (!ended) assert.fail(`the call did not end within ${ms} ms\n${sippFlow(await sipp.stop()).join('\n')}`);
}

const audioPort = (sdp: string) => Number(/^m=audio (\d+)/m.exec(sdp)?.[1]);
const originVersion = (sdp: string) => /^o=\S+ \S+ (\d+)/m.exec(sdp)?.[1];
const originSession = (sdp: string) => /^o=\S+ (\S+)/m.exec(sdp)?.[1];

/**
 * Watches a leg's media and the packets the far end's RTP socket hears across a hold: how many arrived while the leg
 * was held (after a grace period for packets already on the wire), and that they came again after the unhold.
 */
async function checkHold(media: RemoteLegMedia, rtp: RtpCallee): Promise<{ beforeHold: number; duringHold: number; afterUnhold: number }> {
  await waitUntil('RTP reaches the far end', () => rtp.packets > 10, 5_000);
  const beforeHold = rtp.packets;
  await waitUntil('the far end holds the call', () => media.direction !== 'sendrecv', 10_000);
  assert.equal(media.direction, 'recvonly');
  assert.equal((await media.inspect())?.sending, false, 'the leg\'s worker sends nothing while held');
  await sleep(100);
  const heldAt = rtp.packets;
  // Sampled every 10 ms, each time only after seeing the leg still held: a packet counted here left while it was.
  let stillHeld = heldAt;
  const deadline = performance.now() + 10_000;
  const direction = (): string => media.direction;
  while (direction() !== 'sendrecv') {
    stillHeld = rtp.packets;
    if (performance.now() > deadline) assert.fail('the far end never took the call off hold');
    await sleep(10);
  }
  const duringHold = stillHeld - heldAt;
  const resumedAt = rtp.packets;
  await waitUntil('RTP flows again after the unhold', () => rtp.packets > resumedAt + 10, 5_000);
  return { beforeHold, duringHold, afterUnhold: rtp.packets - resumedAt };
}

await describeWithSipp('the invite session against SIPp', () => {
  for (const [transport, method, scenario] of [
    ['udp', 'INVITE', 'uas-reinvite-hold.xml'],
    ['tcp', 'INVITE', 'uas-reinvite-hold.xml'],
    ['udp', 'UPDATE', 'uas-update-hold.xml'],
  ] as const) {
    const by = method === 'INVITE' ? 're-INVITE' : 'UPDATE';
    test(`[${transport}] the callee holds (${by} a=sendonly) and resumes (a=sendrecv): we answer recvonly then sendrecv on the same port, and send no RTP while held`, async (t) => {
      const account = await createCallingAccount(`Hold out ${transport} ${method}`);
      t.after(() => account.db.close());
      const rtp = await startRtpCallee(await freeUdpPortBlock(2));
      t.after(() => rtp.close());
      const uas = await startSipp({
        scenario,
        transport,
        keys: { audio_port: rtp.port, hold_ms: 1_500, held_ms: 1_500 },
        timeoutSeconds: 30,
        t,
      });
      const telephony: TestTelephony = await startTestTelephony(account.services, {
        rtpPorts: method === 'UPDATE' ? '58800-58899' : transport === 'udp' ? '56600-56699' : '56700-56799',
        trunk: `sip:${uas.address};transport=${transport}`,
      });
      t.after(() => telephony.close());
      const { services, accountId } = account;
      const answered = telephony.answered();
      const call = await telephony.engine.place({ accountId, from: CALLER_NUMBER, to: '+14155550100', ringTimeoutS: 10, maxDurationS: 60 });
      await answeredBefore(answered, uas);
      const media = telephony.mediaFor(call.id) as RemoteLegMedia;
      const player = playContinuously(media);
      const seen = await checkHold(media, rtp).finally(() => player.stop());
      t.diagnostic(JSON.stringify(seen));
      assert.equal(seen.duringHold, 0, 'no RTP sent while the callee held the call');

      await telephony.engine.hangup(accountId, call.id);
      const result = await uas.done;
      assert.equal(result.code, 0, describeSippResult(result));
      const [held, resumed] = answersReceived(result, method);
      assert.ok(held && resumed, describeSippResult(result));
      assert.match(held, /^a=recvonly/m);
      assert.match(resumed, /^a=sendrecv/m);
      // The same port and codec as the call's answer, under the same o= session id with a new version each time.
      const offer = parseSippMessages(result.messages).find((m) => m.direction === 'received' && m.startLine.startsWith('INVITE '))!;
      const first = offer.text.split(/\r?\n\r?\n/).slice(1).join('\n');
      assert.equal(audioPort(held), audioPort(first));
      assert.equal(audioPort(resumed), audioPort(first));
      assert.equal(originSession(held), originSession(first));
      assert.equal(originSession(resumed), originSession(first));
      assert.ok(Number(originVersion(held)) > Number(originVersion(first)));
      assert.ok(Number(originVersion(resumed)) > Number(originVersion(held)));
      assert.match(held, /^m=audio \d+ RTP\/AVP 0[ \r\n]/m);
      assert.equal((await services.calls.get(accountId, call.id)).outcome, 'completed');
    });
  }

  for (const transport of ['udp', 'tcp'] as const) {
    test(`[${transport}] the caller holds (re-INVITE a=sendonly) and resumes (a=sendrecv): we answer recvonly then sendrecv, and send no RTP while held`, async (t) => {
      const account = await createCallingAccount(`Hold in ${transport}`);
      t.after(() => account.db.close());
      const rtp = await startRtpCallee(await freeUdpPortBlock(2));
      t.after(() => rtp.close());
      const telephony = await startTestTelephony(account.services, {
        rtpPorts: transport === 'udp' ? '56800-56899' : '56900-56999',
        trunk: 'sip:127.0.0.1:9',
      });
      t.after(() => telephony.close());
      const answered = telephony.answered((c) => c.direction === 'inbound');
      const uac = await startSipp({
        scenario: 'uac-reinvite-hold-dialplane.xml',
        transport,
        remote: `127.0.0.1:${telephony.sipPort}`,
        service: CALLER_NUMBER,
        keys: { audio_port: rtp.port, hold_ms: 1_500, held_ms: 1_500 },
        timeoutSeconds: 30,
        t,
      });
      const call = await Promise.race([
        answered,
        uac.done.then((result) => assert.fail(`SIPp ended before Dialplane answered: ${describeSippResult(result)}`)),
      ]);
      const media = telephony.mediaFor(call.id) as RemoteLegMedia;
      const player = playContinuously(media);
      const seen = await checkHold(media, rtp).finally(() => player.stop());
      t.diagnostic(JSON.stringify(seen));
      assert.equal(seen.duringHold, 0, 'no RTP sent while the caller held the call');

      const result = await uac.done;
      assert.equal(result.code, 0, describeSippResult(result));
      const [first, held, resumed] = answersReceived(result);
      assert.ok(first && held && resumed, describeSippResult(result));
      assert.match(held, /^a=recvonly/m);
      assert.match(resumed, /^a=sendrecv/m);
      assert.equal(audioPort(held), audioPort(first));
      assert.equal(audioPort(resumed), audioPort(first));
      assert.equal(originSession(held), originSession(first));
      assert.ok(Number(originVersion(held)) > Number(originVersion(first)));
      assert.ok(Number(originVersion(resumed)) > Number(originVersion(held)));
      await telephony.engine.whenEnded(call.id);
      assert.equal((await account.services.calls.get(account.accountId, call.id)).outcome, 'completed');
    });
  }

  for (const transport of ['udp', 'tcp'] as const) {
    test(`[${transport}] the callee presses 5 by INFO (application/dtmf-relay): a gather collects it, and the INFO gets 200`, async (t) => {
      const account = await createCallingAccount(`INFO ${transport}`);
      t.after(() => account.db.close());
      const uas = await startSipp({ scenario: 'uas-info-dtmf.xml', transport, keys: { digit: '5', info_ms: 500 }, timeoutSeconds: 30, t });
      const telephony = await startTestTelephony(account.services, {
        rtpPorts: transport === 'udp' ? '57000-57099' : '57100-57199',
        trunk: `sip:${uas.address};transport=${transport}`,
      });
      t.after(() => telephony.close());
      const { accountId } = account;
      const call = await telephony.control.start(accountId, {
        from: CALLER_NUMBER,
        to: [{ type: 'phone', number: '+14155550100' }],
        program: [{ verb: 'gather', numDigits: 1, timeout: 10 }, { verb: 'hangup' }],
        ringTimeoutS: 10,
      });
      const result = await uas.done;
      assert.equal(result.code, 0, describeSippResult(result));
      const info = parseSippMessages(result.messages).find((m) => m.direction === 'sent' && m.startLine.startsWith('INFO '));
      assert.ok(info, 'SIPp sent the INFO');
      await telephony.control.whenSettled(call.id);
      const view = await telephony.control.view(accountId, call.id);
      assert.deepEqual(view.gathered.map((g) => ({ digits: g.digits, reason: g.reason })), [{ digits: '5', reason: 'max_digits' }]);
    });
  }

  for (const transport of ['udp', 'tcp'] as const) {
    test(`[${transport}] late offer: an INVITE without SDP gets our offer in the 200, the ACK's answer decides where our RTP goes`, async (t) => {
      const account = await createCallingAccount(`Late offer ${transport}`);
      t.after(() => account.db.close());
      const rtp = await startRtpCallee(await freeUdpPortBlock(2));
      t.after(() => rtp.close());
      const telephony = await startTestTelephony(account.services, {
        rtpPorts: transport === 'udp' ? '57200-57299' : '57300-57399',
        trunk: 'sip:127.0.0.1:9',
      });
      t.after(() => telephony.close());
      const answered = telephony.answered((c) => c.direction === 'inbound');
      const uac = await startSipp({
        scenario: 'uac-late-offer-dialplane.xml',
        transport,
        remote: `127.0.0.1:${telephony.sipPort}`,
        service: CALLER_NUMBER,
        keys: { audio_port: rtp.port, hold_ms: 3_000 },
        timeoutSeconds: 30,
        t,
      });
      const call = await Promise.race([
        answered,
        uac.done.then((result) => assert.fail(`SIPp ended before Dialplane answered: ${describeSippResult(result)}`)),
      ]);
      const media = telephony.mediaFor(call.id) as RemoteLegMedia;
      const player = playContinuously(media);
      try {
        await waitUntil('our RTP reaches the address the ACK named', () => rtp.packets > 25, 5_000);
      } finally {
        await player.stop();
      }
      assert.equal(media.direction, 'sendrecv');
      assert.ok(rtp.segments().length > 0, 'the far end heard the tone (PCMU, decoded)');

      const result = await uac.done;
      assert.equal(result.code, 0, describeSippResult(result));
      const [offer] = answersReceived(result);
      assert.ok(offer, describeSippResult(result));
      assert.match(offer, /^m=audio \d+ RTP\/AVP 0 101/m);
      assert.match(offer, /^a=sendrecv/m);
      // Our RTP comes from the port our offer named.
      assert.equal(rtp.remote?.port, audioPort(offer));
      await telephony.engine.whenEnded(call.id);
      assert.equal((await account.services.calls.get(account.accountId, call.id)).outcome, 'completed');
    });
  }

  for (const transport of ['udp', 'tcp'] as const) {
    test(`[${transport}] Session-Expires 90 with us as refresher: a 200 s call (scaled) stays up through its refreshes`, async (t) => {
      const account = await createCallingAccount(`Session timer ${transport}`);
      t.after(() => account.db.close());
      const uas = await startSipp({ scenario: 'uas-session-timer.xml', transport, keys: { interval: 90 }, timeoutSeconds: 30, t });
      const telephony = await startTestTelephony(account.services, {
        rtpPorts: transport === 'udp' ? '57400-57499' : '57500-57599',
        trunk: `sip:${uas.address};transport=${transport}`,
        telephony: { sessionTimers: scaledSessionTimers },
      });
      t.after(() => telephony.close());
      const { services, accountId } = account;
      const answered = telephony.answered();
      const call = await telephony.engine.place({ accountId, from: CALLER_NUMBER, to: '+14155550100', ringTimeoutS: 10, maxDurationS: 60 });
      await answeredBefore(answered, uas);
      await sleep(sessionSeconds(200));
      assert.equal(telephony.engine.activeCalls, 1, 'the call is still up after 200 s');
      await telephony.engine.hangup(accountId, call.id);
      const result = await uas.done;
      assert.equal(result.code, 0, describeSippResult(result));
      const invites = received(result, 'INVITE');
      assert.match(sipHeader(invites[0]!.text, 'Session-Expires') ?? '', /^\d+/);
      assert.match(sipHeader(invites[0]!.text, 'Supported') ?? '', /\btimer\b/);
      const refreshes = invites.slice(1);
      // Refreshes at 45, 90, 135 and 180 s of a 200 s call.
      assert.equal(refreshes.length, 4, describeSippResult(result));
      for (const refresh of refreshes) assert.match(sipHeader(refresh.text, 'Session-Expires') ?? '', /^90;refresher=uac$/);
      const ended = await services.calls.get(accountId, call.id);
      assert.equal(ended.outcome, 'completed');
      assert.equal(ended.endReason, 'api_hangup');
    });
  }

  for (const [transport, status] of [
    ['udp', 481],
    ['tcp', 481],
    ['udp', 408],
    ['udp', 500],
  ] as const) {
    const when = status === 500 ? 'at the session\'s expiry' : 'at once';
    test(`[${transport}] a refresh refused with ${status} ends the call with a BYE ${when}`, async (t) => {
      const account = await createCallingAccount(`Refused refresh ${transport} ${status}`);
      t.after(() => account.db.close());
      const uas = await startSipp({ scenario: 'uas-session-timer-refuse.xml', transport, keys: { interval: 90, status }, timeoutSeconds: 30, t });
      const telephony = await startTestTelephony(account.services, {
        rtpPorts: `57${status === 481 ? (transport === 'udp' ? 6 : 7) : status === 408 ? 8 : 9}00-57${status === 481 ? (transport === 'udp' ? 6 : 7) : status === 408 ? 8 : 9}99`,
        trunk: `sip:${uas.address};transport=${transport}`,
        telephony: { sessionTimers: scaledSessionTimers },
      });
      t.after(() => telephony.close());
      const { services, accountId } = account;
      const answered = telephony.answered();
      const call = await telephony.engine.place({ accountId, from: CALLER_NUMBER, to: '+14155550100', ringTimeoutS: 10, maxDurationS: 60 });
      await answeredBefore(answered, uas);
      const answeredAt = performance.now();
      await endsWithin(telephony, call.id, 10_000, uas);
      const lasted = performance.now() - answeredAt;
      t.diagnostic(`the call lasted ${Math.round(lasted)} ms (${Math.round(lasted / 1000 / SESSION_SCALE)} session seconds)`);
      const result = await uas.done;
      assert.equal(result.code, 0, describeSippResult(result));
      assert.equal(received(result, 'BYE').length, 1);
      // The refresh goes at 45 s. A 408 or 481 says the dialog is gone (RFC 4028 section 10): BYE then. Another
      // refusal leaves the session as it was, and it expires at 60 s (90 s minus a third) without a refresh.
      const expected = status === 500 ? 60 : 45;
      assert.ok(lasted >= sessionSeconds(expected) - 100, `ended after ${lasted} ms`);
      assert.ok(lasted <= sessionSeconds(expected) + 500, `ended after ${lasted} ms`);
      assert.equal((await services.calls.get(accountId, call.id)).outcome, 'completed');
    });
  }

  for (const transport of ['udp', 'tcp'] as const) {
    test(`[${transport}] the callee refreshes (refresher=uas): its refreshes keep the call up, and once they stop the call ends with our BYE at expiry`, async (t) => {
      const account = await createCallingAccount(`Peer refresher ${transport}`);
      t.after(() => account.db.close());
      const uas = await startSipp({
        scenario: 'uas-session-timer-peer-refresher.xml',
        transport,
        keys: { interval: 90, refresh_ms: sessionSeconds(45) },
        timeoutSeconds: 30,
        t,
      });
      const telephony = await startTestTelephony(account.services, {
        rtpPorts: transport === 'udp' ? '58000-58099' : '58100-58199',
        trunk: `sip:${uas.address};transport=${transport}`,
        telephony: { sessionTimers: scaledSessionTimers },
      });
      t.after(() => telephony.close());
      const { services, accountId } = account;
      const answered = telephony.answered();
      const call = await telephony.engine.place({ accountId, from: CALLER_NUMBER, to: '+14155550100', ringTimeoutS: 10, maxDurationS: 60 });
      await answeredBefore(answered, uas);
      const answeredAt = performance.now();
      await endsWithin(telephony, call.id, 10_000, uas);
      const lasted = performance.now() - answeredAt;
      t.diagnostic(`the call lasted ${Math.round(lasted)} ms (${Math.round(lasted / 1000 / SESSION_SCALE)} session seconds)`);
      const result = await uas.done;
      // SIPp's three refreshes each got their 200 before our BYE (a BYE in their middle fails the run).
      assert.equal(result.code, 0, describeSippResult(result));
      // Three refreshes 45 s apart, then expiry 60 s after the last: 195 s.
      assert.ok(lasted >= sessionSeconds(135 + 60) - 200, `ended after ${lasted} ms`);
      assert.ok(lasted <= sessionSeconds(135 + 60) + 1_000, `ended after ${lasted} ms`);
      assert.equal((await services.calls.get(accountId, call.id)).outcome, 'completed');
    });
  }

  for (const transport of ['udp', 'tcp'] as const) {
    test(`[${transport}] a callee that requires 100rel: its reliable 180 is PRACKed (RAck) and the call is answered`, async (t) => {
      const account = await createCallingAccount(`100rel out ${transport}`);
      t.after(() => account.db.close());
      const uas = await startSipp({ scenario: 'uas-100rel.xml', transport, timeoutSeconds: 20, t });
      const telephony = await startTestTelephony(account.services, {
        rtpPorts: transport === 'udp' ? '58200-58299' : '58300-58399',
        trunk: `sip:${uas.address};transport=${transport}`,
      });
      t.after(() => telephony.close());
      const { services, accountId } = account;
      const answered = telephony.answered();
      const call = await telephony.engine.place({ accountId, from: CALLER_NUMBER, to: '+14155550100', ringTimeoutS: 10, maxDurationS: 60 });
      await answeredBefore(answered, uas);
      await telephony.engine.hangup(accountId, call.id);
      const result = await uas.done;
      assert.equal(result.code, 0, describeSippResult(result));
      const [prack] = received(result, 'PRACK');
      assert.ok(prack, describeSippResult(result));
      assert.match(sipHeader(prack.text, 'RAck') ?? '', /^1 1 INVITE$/);
      // The PRACK belongs to the early dialog (the 180's To tag) and takes the next CSeq; the BYE comes after it.
      assert.match(sipHeader(prack.text, 'CSeq') ?? '', /^2 PRACK$/);
      assert.match(sipHeader(received(result, 'BYE')[0]!.text, 'CSeq') ?? '', /^3 BYE$/);
      assert.equal((await services.calls.get(accountId, call.id)).outcome, 'completed');
    });
  }

  for (const transport of ['udp', 'tcp'] as const) {
    test(`[${transport}] a caller that requires 100rel gets a reliable 180 (Require: 100rel, RSeq), and our 200 follows its PRACK`, async (t) => {
      const account = await createCallingAccount(`100rel in ${transport}`);
      t.after(() => account.db.close());
      const telephony = await startTestTelephony(account.services, {
        rtpPorts: transport === 'udp' ? '58400-58499' : '58500-58599',
        trunk: 'sip:127.0.0.1:9',
      });
      t.after(() => telephony.close());
      const answered = telephony.answered((c) => c.direction === 'inbound');
      const uac = await startSipp({
        scenario: 'uac-100rel-dialplane.xml',
        transport,
        remote: `127.0.0.1:${telephony.sipPort}`,
        service: CALLER_NUMBER,
        timeoutSeconds: 20,
        t,
      });
      const call = await answeredBefore(answered, uac);
      const result = await uac.done;
      assert.equal(result.code, 0, describeSippResult(result));
      // Our 200 to the INVITE comes only after the PRACK's 200.
      const flow = sippFlow(result)
        .filter((line) => !line.includes('100 Trying'))
        .map((line) => (line.startsWith('< SIP/2.0') ? line.split(' ').slice(0, 3).join(' ') : line.split(' ').slice(0, 2).join(' ')));
      assert.deepEqual(flow, ['> INVITE', '< SIP/2.0 180', '> PRACK', '< SIP/2.0 200', '< SIP/2.0 200', '> ACK', '> BYE', '< SIP/2.0 200']);
      const ringing = parseSippMessages(result.messages).find((m) => m.direction === 'received' && m.startLine.startsWith('SIP/2.0 180'))!;
      assert.equal(sipHeader(ringing.text, 'Require'), '100rel');
      assert.match(sipHeader(ringing.text, 'RSeq') ?? '', /^\d+$/);
      await telephony.engine.whenEnded(call.id);
      assert.equal((await account.services.calls.get(account.accountId, call.id)).outcome, 'completed');
    });
  }

  for (const transport of ['udp', 'tcp'] as const) {
    test(`[${transport}] OPTIONS outside and inside a dialog get 200; an INVITE requiring an unknown extension gets 420 with Unsupported, one asking for 60 s sessions 422 with Min-SE: 90`, async (t) => {
      const account = await createCallingAccount(`OPTIONS ${transport}`);
      t.after(() => account.db.close());
      const telephony = await startTestTelephony(account.services, {
        rtpPorts: transport === 'udp' ? '58600-58699' : '58700-58799',
        trunk: 'sip:127.0.0.1:9',
      });
      t.after(() => telephony.close());
      const answered = telephony.answered((c) => c.direction === 'inbound');
      const uac = await startSipp({
        scenario: 'uac-options-420-dialplane.xml',
        transport,
        remote: `127.0.0.1:${telephony.sipPort}`,
        service: CALLER_NUMBER,
        timeoutSeconds: 20,
        t,
      });
      const call = await answeredBefore(answered, uac);
      const result = await uac.done;
      assert.equal(result.code, 0, describeSippResult(result));
      const responses = parseSippMessages(result.messages).filter((m) => m.direction === 'received');
      const optionsOk = responses.filter((m) => /OPTIONS/.test(sipHeader(m.text, 'CSeq') ?? ''));
      assert.equal(optionsOk.length, 2);
      for (const ok of optionsOk) {
        assert.equal(ok.startLine, 'SIP/2.0 200 OK');
        assert.equal(sipHeader(ok.text, 'Allow'), 'INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO, PRACK, REFER, NOTIFY');
        assert.equal(sipHeader(ok.text, 'Accept'), 'application/sdp');
      }
      const refused = responses.find((m) => m.startLine.startsWith('SIP/2.0 420'))!;
      assert.equal(sipHeader(refused.text, 'Unsupported'), 'x-nonexistent-ext');
      assert.match(sipHeader(refused.text, 'To') ?? '', /;tag=/);
      const tooSmall = responses.find((m) => m.startLine.startsWith('SIP/2.0 422'))!;
      assert.equal(sipHeader(tooSmall.text, 'Min-SE'), '90');
      assert.match(sipHeader(tooSmall.text, 'To') ?? '', /;tag=/);
      await telephony.engine.whenEnded(call.id);
      assert.equal((await account.services.calls.get(account.accountId, call.id)).outcome, 'completed');
    });
  }

  for (const transport of ['udp', 'tcp'] as const) {
    test(`[${transport}] a callee refusing our interval with 422 (Min-SE: 3600) gets the INVITE again with Session-Expires and Min-SE 3600`, async (t) => {
      const account = await createCallingAccount(`422 ${transport}`);
      t.after(() => account.db.close());
      const uas = await startSipp({ scenario: 'uas-422.xml', transport, keys: { min_se: 3600 }, timeoutSeconds: 20, t });
      const telephony = await startTestTelephony(account.services, {
        rtpPorts: transport === 'udp' ? '58900-58949' : '58950-58999',
        trunk: `sip:${uas.address};transport=${transport}`,
      });
      t.after(() => telephony.close());
      const { services, accountId } = account;
      const answered = telephony.answered();
      const call = await telephony.engine.place({ accountId, from: CALLER_NUMBER, to: '+14155550100', ringTimeoutS: 10, maxDurationS: 60 });
      await answeredBefore(answered, uas);
      await telephony.engine.hangup(accountId, call.id);
      const result = await uas.done;
      assert.equal(result.code, 0, describeSippResult(result));
      const [first, second] = received(result, 'INVITE');
      assert.equal(sipHeader(first!.text, 'Session-Expires'), '1800');
      assert.equal(sipHeader(first!.text, 'Min-SE'), '90');
      assert.equal(sipHeader(second!.text, 'Session-Expires'), '3600');
      assert.equal(sipHeader(second!.text, 'Min-SE'), '3600');
      assert.equal((await services.calls.get(accountId, call.id)).outcome, 'completed');
    });
  }

  for (const transport of ['udp', 'tcp'] as const) {
    test(`[${transport}] a caller asking for Session-Expires 90 is made the refresher: its refreshes keep the call up, and once they stop we BYE at expiry`, async (t) => {
      const account = await createCallingAccount(`Caller refresher ${transport}`);
      t.after(() => account.db.close());
      const telephony = await startTestTelephony(account.services, {
        rtpPorts: transport === 'udp' ? '59000-59099' : '59100-59199',
        trunk: 'sip:127.0.0.1:9',
        telephony: { sessionTimers: scaledSessionTimers },
      });
      t.after(() => telephony.close());
      const answered = telephony.answered((c) => c.direction === 'inbound');
      const uac = await startSipp({
        scenario: 'uac-session-timer-dialplane.xml',
        transport,
        remote: `127.0.0.1:${telephony.sipPort}`,
        service: CALLER_NUMBER,
        keys: { interval: 90, refresh_ms: sessionSeconds(45) },
        timeoutSeconds: 30,
        t,
      });
      const call = await answeredBefore(answered, uac);
      const answeredAt = performance.now();
      await endsWithin(telephony, call.id, 10_000, uac);
      const lasted = performance.now() - answeredAt;
      t.diagnostic(`the call lasted ${Math.round(lasted)} ms (${Math.round(lasted / 1000 / SESSION_SCALE)} session seconds)`);
      const result = await uac.done;
      assert.equal(result.code, 0, describeSippResult(result));
      const first = parseSippMessages(result.messages).find((m) => m.direction === 'received' && m.startLine.startsWith('SIP/2.0 200'))!;
      assert.equal(sipHeader(first.text, 'Session-Expires'), '90;refresher=uac');
      assert.equal(sipHeader(first.text, 'Require'), 'timer');
      // Three refreshes 45 s apart, then expiry 60 s after the last: 195 s.
      assert.ok(lasted >= sessionSeconds(135 + 60) - 200, `ended after ${lasted} ms`);
      assert.ok(lasted <= sessionSeconds(135 + 60) + 1_000, `ended after ${lasted} ms`);
      assert.equal((await account.services.calls.get(account.accountId, call.id)).outcome, 'completed');
    });
  }

  for (const transport of ['udp', 'tcp'] as const) {
    test(`[${transport}] a hold by a=inactive, an offer we cannot accept (488) and a re-INVITE crossing our refresh (491)`, async (t) => {
      const account = await createCallingAccount(`Re-INVITE edges ${transport}`);
      t.after(() => account.db.close());
      const telephony = await startTestTelephony(account.services, {
        rtpPorts: transport === 'udp' ? '54600-54699' : '54700-54799',
        trunk: 'sip:127.0.0.1:9',
        telephony: { sessionTimers: scaledSessionTimers },
      });
      t.after(() => telephony.close());
      const answered = telephony.answered((c) => c.direction === 'inbound');
      const uac = await startSipp({
        scenario: 'uac-reinvite-edge-dialplane.xml',
        transport,
        remote: `127.0.0.1:${telephony.sipPort}`,
        service: CALLER_NUMBER,
        keys: { interval: 90 },
        timeoutSeconds: 30,
        t,
      });
      const call = await answeredBefore(answered, uac);
      const result = await uac.done;
      assert.equal(result.code, 0, describeSippResult(result));
      const [first, inactive] = answersReceived(result);
      assert.ok(first && inactive, describeSippResult(result));
      assert.match(inactive, /^a=inactive/m, 'a hold by a=inactive is answered a=inactive');
      assert.equal(audioPort(inactive), audioPort(first));
      const statuses = parseSippMessages(result.messages)
        .filter((m) => m.direction === 'received' && m.startLine.startsWith('SIP/2.0 ') && (sipHeader(m.text, 'CSeq') ?? '').endsWith(' INVITE'))
        .map((m) => `${m.startLine.slice(8, 11)} ${sipHeader(m.text, 'CSeq')}`)
        .filter((line, i, all) => all.indexOf(line) === i && !line.startsWith('100') && !line.startsWith('180'));
      assert.deepEqual(statuses, ['200 1 INVITE', '200 2 INVITE', '488 3 INVITE', '491 4 INVITE']);
      // Our refresh went on: SIPp's 200 was ACKed (the scenario waits for that ACK) and the call stayed up until SIPp's BYE.
      const refresh = received(result, 'INVITE');
      assert.equal(refresh.length, 1, 'one refresh re-INVITE from Dialplane');
      await telephony.engine.whenEnded(call.id);
      const ended = await account.services.calls.get(account.accountId, call.id);
      assert.equal(ended.outcome, 'completed');
      assert.equal(ended.endReason, 'remote_hangup');
    });
  }
});
