import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { readdirSync } from 'node:fs';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import {
  SIPP_SCENARIO_DIR,
  describeSippResult,
  describeWithSipp,
  digestCredentialValid,
  freeTcpPort,
  freeUdpPort,
  freeUdpPortBlock,
  parseSippMessages,
  sipHeader,
  sippAvailable,
  sippFlow,
  startSipp,
  type SippResult,
  type SippTransport,
} from '../helpers/sipp.js';

/**
 * The SIPp harness and the scenarios of test/sipp/, proved without Dialplane: each carrier (UAS) scenario is played
 * against a SIPp caller (the self-test UACs of test/sipp/selftest/, or uac-call-dialplane.xml), over UDP and TCP.
 * The tests of a suite run concurrently, each pair of sipp processes on its own ports.
 */

interface Pair {
  readonly uac: SippResult;
  readonly uas: SippResult;
}

interface PairOptions {
  readonly transport?: SippTransport;
  readonly uasKeys?: Record<string, string | number>;
  readonly uacKeys?: Record<string, string | number>;
  readonly calls?: number;
  readonly rate?: number;
  readonly authUser?: string;
  readonly authPassword?: string;
  readonly timeoutSeconds?: number;
  readonly outerTimeoutSeconds?: number;
}

/** Starts the UAS, then the UAC calling it, and waits for both to end. */
async function runPair(t: TestContext, uasScenario: string, uacScenario: string, options: PairOptions = {}): Promise<Pair> {
  const common = {
    transport: options.transport ?? 'udp',
    calls: options.calls ?? 1,
    timeoutSeconds: options.timeoutSeconds ?? 15,
    ...(options.outerTimeoutSeconds === undefined ? {} : { outerTimeoutSeconds: options.outerTimeoutSeconds }),
    t,
  } as const;
  const uas = await startSipp({ ...common, scenario: uasScenario, ...(options.uasKeys ? { keys: options.uasKeys } : {}) });
  const uac = await startSipp({
    ...common,
    scenario: uacScenario,
    remote: uas.address,
    ...(options.uacKeys ? { keys: options.uacKeys } : {}),
    ...(options.rate === undefined ? {} : { rate: options.rate }),
    ...(options.authUser === undefined ? {} : { authUser: options.authUser }),
    ...(options.authPassword === undefined ? {} : { authPassword: options.authPassword }),
  });
  const [uacResult, uasResult] = await Promise.all([uac.done, uas.done]);
  return { uac: uacResult, uas: uasResult };
}

function explain(pair: Pair): string {
  return `\n--- UAC\n${describeSippResult(pair.uac)}\n--- UAS\n${describeSippResult(pair.uas)}`;
}

/** Both sides: exit 0 and `calls` successful calls. */
function assertAllSuccessful(pair: Pair, calls = 1): void {
  for (const side of [pair.uac, pair.uas]) {
    assert.equal(side.code, 0, explain(pair));
    assert.equal(side.stats.successful, calls, explain(pair));
    assert.equal(side.stats.failed, 0, explain(pair));
  }
}

/** The start lines of the messages one side sent, received or lost, in order. */
function flow(result: SippResult): string[] {
  return sippFlow(result).map((line) => line.replace(/ sip:\S+ SIP\/2\.0$/, ''));
}

const TRANSPORTS: readonly SippTransport[] = ['udp', 'tcp'];
const REJECTIONS = [
  { scenario: 'uas-busy.xml', code: 486, reason: 'Busy Here' },
  { scenario: 'uas-decline.xml', code: 603, reason: 'Decline' },
  { scenario: 'uas-not-found.xml', code: 404, reason: 'Not Found' },
  { scenario: 'uas-unavailable.xml', code: 503, reason: 'Service Unavailable' },
] as const;

await describeWithSipp('SIPp harness', () => {
  test('sipp is found, and free ports are bindable numbers', async () => {
    assert.equal(await sippAvailable(), true);
    const [udp, tcp, block] = await Promise.all([freeUdpPort(), freeTcpPort(), freeUdpPortBlock(4)]);
    for (const port of [udp, tcp, block]) assert.ok(port > 1024 && port < 65536, String(port));
    assert.equal(block % 2, 0, 'a media port block starts on an even port');
  });

  test('every scenario in test/sipp/ is one this suite plays', () => {
    const played = new Set([
      'uas-answer-remote-bye.xml',
      'uas-answer-wait-bye.xml',
      ...REJECTIONS.map((r) => r.scenario),
      'uas-no-answer.xml',
      'uas-early-media.xml',
      'uas-auth-401.xml',
      'uas-auth-407.xml',
      'uas-lost-final-response.xml',
      'uac-call-dialplane.xml',
      'uas-options.xml',
      // Played against `dialplane doctor` in test/integration/doctor.test.ts (a trunk that never answers OPTIONS).
      'uas-options-silent.xml',
      // Played against Dialplane's own REGISTER client in test/integration/sipp/trunk-upkeep.test.ts.
      'uas-register.xml',
      // Played against Dialplane's key detection in test/integration/sipp/call-media.test.ts.
      'uac-dtmf-dialplane.xml',
      // Played against Dialplane's media bridge in test/integration/sipp/call-media.test.ts.
      'uas-answer-play.xml',
      // Played against the Voice2Phone face's calls in test/integration/voice2phone/sipp-calls.test.ts.
      'uas-answer-media-port.xml',
      // Played against Dialplane's two-leg calls in test/integration/sipp/two-leg-calls.test.ts.
      'uas-two-leg.xml',
      // Played against Dialplane's registrar in test/integration/sipp/registrar.test.ts.
      'uac-register-auth.xml',
      // Played against Dialplane's INVITE gate in test/integration/sipp/invite-gate.test.ts.
      'uac-invite-forbidden.xml',
      'uac-device-call.xml',
      // Played against the per-source request limit in test/integration/sipp/abuse-limits.test.ts.
      'uac-invite-limited.xml',
      // Played against Dialplane's inbound calls in test/integration/sipp/inbound-cancel.test.ts.
      'uac-cancel-early.xml',
      // Played against Dialplane's INVITE client and dialogs in test/integration/sipp/invite-client.test.ts.
      'uas-trying-only.xml',
      'uas-fork-two-2xx.xml',
      'uac-record-route-dialplane.xml',
      // Played against the answering side's BYE, which waits for a late ACK, in test/integration/sipp/invite-client.test.ts.
      'uac-late-ack-dialplane.xml',
      // Played against Dialplane's invite session in test/integration/sipp/invite-session.test.ts.
      'uas-reinvite-hold.xml',
      'uas-update-hold.xml',
      'uac-reinvite-hold-dialplane.xml',
      'uas-info-dtmf.xml',
      'uac-late-offer-dialplane.xml',
      'uas-session-timer.xml',
      'uas-session-timer-refuse.xml',
      'uas-session-timer-peer-refresher.xml',
      'uac-session-timer-dialplane.xml',
      'uas-100rel.xml',
      'uas-422.xml',
      'uac-100rel-dialplane.xml',
      'uac-options-420-dialplane.xml',
      'uac-reinvite-edge-dialplane.xml',
      // Played against the Dial face in test/integration/sipp/dial-gateway.test.ts (a callee that presses a key).
      'uas-answer-dtmf.xml',
      // Played against Dialplane's call transfer (REFER) in test/integration/sipp/transfer.test.ts.
      'uac-refer-dialplane.xml',
      'uas-refer-transfer.xml',
      'uas-refer-callee.xml',
      // Played as registered phones answering (or only ringing) in test/integration/webfones/.
      'ooc-phone-answer.xml',
      'ooc-phone-ring.xml',
      // Played through a Kamailio record-routing proxy in test/integration/kamailio/proxy-calls.test.ts.
      'uas-proxied-remote-bye.xml',
      'uas-proxied-wait-bye.xml',
      'uac-proxied-call-dialplane.xml',
      // Played as the carrier of a server killed under load in test/reliability/crash-under-load/.
      'uas-answer-bye-or-timeout.xml',
      // Played as the callers of nodes behind Kamailio, one of them killed, in test/integration/kamailio/scale-out-acceptance.test.ts.
      'uac-proxied-call-bye-or-timeout.xml',
    ]);
    const files = readdirSync(SIPP_SCENARIO_DIR).filter((name) => name.endsWith('.xml'));
    assert.deepEqual(files.sort(), [...played].sort());
    const selftests = readdirSync(join(SIPP_SCENARIO_DIR, 'selftest')).filter((name) => name.endsWith('.xml'));
    assert.ok(selftests.length >= 7, selftests.join(' '));
  });

  test('built-in uac -> built-in uas: 10 calls, 10 successful', async (t) => {
    const pair = await runPair(t, 'uas', 'uac', { calls: 10, rate: 50 });
    assertAllSuccessful(pair, 10);
    assert.equal(pair.uac.stats.created, 10);
  });

  test('uac-call-dialplane.xml calls the built-in uas', async (t) => {
    const pair = await runPair(t, 'uas', 'uac-call-dialplane.xml', { uacKeys: { hold_ms: 100 } });
    assertAllSuccessful(pair);
    const invite = parseSippMessages(pair.uac.messages).find((m) => m.direction === 'sent' && m.startLine.startsWith('INVITE'));
    assert.ok(invite, explain(pair));
    assert.match(invite.text, /^m=audio \d+ RTP\/AVP 0 8 101/m);
    assert.equal(sipHeader(invite.text, 'From')?.startsWith('"sipp" <sip:sipp@127.0.0.1:'), true);
  });

  for (const transport of TRANSPORTS) {
    test(`[${transport}] uas-answer-remote-bye: answered, then SIPp hangs up`, async (t) => {
      const pair = await runPair(t, 'uas-answer-remote-bye.xml', 'selftest/uac-expect-remote-bye.xml', {
        transport,
        uasKeys: { hold_ms: 200 },
      });
      assertAllSuccessful(pair);
      assert.deepEqual(flow(pair.uas), [
        '< INVITE',
        '> SIP/2.0 100 Trying',
        '> SIP/2.0 180 Ringing',
        '> SIP/2.0 200 OK',
        '< ACK',
        '> BYE',
        '< SIP/2.0 200 OK',
      ]);
      // The BYE swaps the dialog's From and To (with both tags) and goes to the caller's Contact.
      const messages = parseSippMessages(pair.uas.messages);
      const invite = messages[0]?.text ?? '';
      const bye = messages.find((m) => m.startLine.startsWith('BYE'))?.text ?? '';
      assert.match(bye, /^BYE sip:selftest@127\.0\.0\.1:\d+;transport=/);
      assert.equal(sipHeader(bye, 'To'), sipHeader(invite, 'From'));
      assert.match(sipHeader(bye, 'From') ?? '', /^<sip:service@127\.0\.0\.1:\d+>;tag=\S+/);
      assert.equal(sipHeader(bye, 'Call-ID'), sipHeader(invite, 'Call-ID'));
    });

    test(`[${transport}] uas-answer-wait-bye: answered, the caller hangs up`, async (t) => {
      const pair = await runPair(t, 'uas-answer-wait-bye.xml', 'uac-call-dialplane.xml', { transport, uacKeys: { hold_ms: 200 } });
      assertAllSuccessful(pair);
      assert.deepEqual(flow(pair.uas), [
        '< INVITE',
        '> SIP/2.0 100 Trying',
        '> SIP/2.0 180 Ringing',
        '> SIP/2.0 200 OK',
        '< ACK',
        '< BYE',
        '> SIP/2.0 200 OK',
      ]);
    });

    for (const rejection of REJECTIONS) {
      test(`[${transport}] ${rejection.scenario}: ${rejection.code} ${rejection.reason}, ACKed`, async (t) => {
        const pair = await runPair(t, rejection.scenario, 'selftest/uac-expect-final.xml', {
          transport,
          uacKeys: { expect: rejection.code },
        });
        assertAllSuccessful(pair);
        assert.deepEqual(flow(pair.uas), ['< INVITE', '> SIP/2.0 100 Trying', `> SIP/2.0 ${rejection.code} ${rejection.reason}`, '< ACK']);
        // The ACK of a non-2xx response is in the INVITE transaction: the INVITE's branch.
        const messages = parseSippMessages(pair.uas.messages);
        const branch = (text: string | undefined): string | undefined => /branch=([^;\s]+)/.exec(sipHeader(text ?? '', 'Via') ?? '')?.[1];
        assert.equal(branch(messages[3]?.text), branch(messages[0]?.text));
      });
    }

    test(`[${transport}] uas-no-answer: rings until the caller CANCELs; 200 to the CANCEL, 487 to the INVITE`, async (t) => {
      const pair = await runPair(t, 'uas-no-answer.xml', 'selftest/uac-cancel.xml', { transport });
      assertAllSuccessful(pair);
      assert.deepEqual(flow(pair.uas), [
        '< INVITE',
        '> SIP/2.0 100 Trying',
        '> SIP/2.0 180 Ringing',
        '< CANCEL',
        '> SIP/2.0 200 OK',
        '> SIP/2.0 487 Request Terminated',
        '< ACK',
      ]);
      const messages = parseSippMessages(pair.uas.messages);
      assert.equal(sipHeader(messages[4]?.text ?? '', 'CSeq'), '1 CANCEL');
      assert.equal(sipHeader(messages[5]?.text ?? '', 'CSeq'), '1 INVITE');
    });

    test(`[${transport}] uas-early-media: 183 with SDP and RTP before the 200`, async (t) => {
      const rtp = await udpCounter();
      t.after(() => rtp.socket.close());
      const pair = await runPair(t, 'uas-early-media.xml', 'selftest/uac-early-media.xml', {
        transport,
        uasKeys: { early_ms: 800 },
        uacKeys: { rtp_port: rtp.port },
      });
      assertAllSuccessful(pair);
      assert.deepEqual(flow(pair.uas), [
        '< INVITE',
        '> SIP/2.0 100 Trying',
        '> SIP/2.0 183 Session Progress',
        '> SIP/2.0 200 OK',
        '< ACK',
        '< BYE',
        '> SIP/2.0 200 OK',
      ]);
      // g711a.pcap: PCMA (payload type 8), one packet each 20-30 ms; 800 ms of early media and then some.
      assert.ok(rtp.beforeAnswer(pair.uas) >= 10, `early RTP packets: ${rtp.beforeAnswer(pair.uas)} of ${rtp.packets.length}`);
      assert.ok(rtp.packets.every((p) => p.payloadType === 8));
    });

    test(`[${transport}] uas-options: answers 3 keepalives`, async (t) => {
      const pair = await runPair(t, 'uas-options.xml', 'selftest/uac-options.xml', { transport, calls: 3, rate: 20 });
      assertAllSuccessful(pair, 3);
      assert.deepEqual(flow(pair.uas).filter((line) => line.startsWith('>')), Array(3).fill('> SIP/2.0 200 OK'));
    });

    for (const challenge of [401, 407] as const) {
      const scenario = `uas-auth-${challenge}.xml`;
      const header = challenge === 401 ? 'Authorization' : 'Proxy-Authorization';

      test(`[${transport}] ${scenario}: the right credentials pass the challenge and the call is answered`, async (t) => {
        const pair = await runPair(t, scenario, 'selftest/uac-auth-accepted.xml', {
          transport,
          uasKeys: { user: 'alice', password: 's3cret', realm: 'carrier.test' },
          authUser: 'alice',
          authPassword: 's3cret',
        });
        assertAllSuccessful(pair);
        assert.deepEqual(flow(pair.uas), [
          '< INVITE',
          '> SIP/2.0 100 Trying',
          `> SIP/2.0 ${challenge} ${challenge === 401 ? 'Unauthorized' : 'Proxy Authentication Required'}`,
          '< ACK',
          '< INVITE',
          '> SIP/2.0 100 Trying',
          '> SIP/2.0 180 Ringing',
          '> SIP/2.0 200 OK',
          '< ACK',
          '< BYE',
          '> SIP/2.0 200 OK',
        ]);
        const messages = parseSippMessages(pair.uas.messages);
        const challengeText = messages[2]?.text ?? '';
        assert.match(
          sipHeader(challengeText, challenge === 401 ? 'WWW-Authenticate' : 'Proxy-Authenticate') ?? '',
          /^Digest realm="carrier\.test", nonce="[^"]+", algorithm=MD5, qop="auth"$/,
        );
        const credential = sipHeader(messages[4]?.text ?? '', header);
        assert.ok(credential, explain(pair));
        assert.equal(digestCredentialValid(credential, 'INVITE', 's3cret'), true);
        assert.equal(digestCredentialValid(credential, 'INVITE', 'other'), false);
      });

      test(`[${transport}] ${scenario}: a wrong user name gets 403 and the carrier counts the call failed`, async (t) => {
        const pair = await runPair(t, scenario, 'selftest/uac-auth-rejected.xml', {
          transport,
          uasKeys: { user: 'alice', password: 's3cret', realm: 'carrier.test' },
          authUser: 'mallory',
          authPassword: 's3cret',
        });
        assertRejected(pair);
      });
    }

    test(`[${transport}] uas-auth-401.xml: a wrong password gets 403 (verifyauth checks the digest)`, async (t) => {
      const pair = await runPair(t, 'uas-auth-401.xml', 'selftest/uac-auth-rejected.xml', {
        transport,
        uasKeys: { user: 'alice', password: 's3cret', realm: 'carrier.test' },
        authUser: 'alice',
        authPassword: 'wrong',
      });
      assertRejected(pair);
    });
  }

  test('[udp] uas-auth-407.xml cannot check the password (SIPp limit): the test checks it from the message log', async (t) => {
    const pair = await runPair(t, 'uas-auth-407.xml', 'selftest/uac-auth-accepted.xml', {
      uasKeys: { user: 'alice', password: 's3cret', realm: 'carrier.test' },
      authUser: 'alice',
      authPassword: 'wrong',
    });
    assertAllSuccessful(pair);
    const reinvite = parseSippMessages(pair.uas.messages).filter((m) => m.startLine.startsWith('INVITE'))[1];
    const credential = sipHeader(reinvite?.text ?? '', 'Proxy-Authorization');
    assert.ok(credential, explain(pair));
    assert.equal(digestCredentialValid(credential, 'INVITE', 's3cret'), false);
  });

  test('[udp] uas-lost-final-response: the first 200 is lost; its retransmission and a repeat are each ACKed', async (t) => {
    const pair = await runPair(t, 'uas-lost-final-response.xml', 'uac-call-dialplane.xml', {
      uasKeys: { retrans_ms: 500 },
      uacKeys: { hold_ms: 300 },
    });
    assertAllSuccessful(pair);
    assert.deepEqual(flow(pair.uas), [
      '< INVITE',
      '> SIP/2.0 100 Trying',
      '> SIP/2.0 180 Ringing',
      'x (lost)',
      '> SIP/2.0 200 OK',
      '< ACK',
      'x (lost)',
      '> SIP/2.0 200 OK',
      '< ACK',
      '< BYE',
      '> SIP/2.0 200 OK',
    ]);
    // The caller saw the 200 only as the retransmission: none before retrans_ms, then two copies, two ACKs.
    assert.deepEqual(flow(pair.uac), [
      '> INVITE',
      '< SIP/2.0 100 Trying',
      '< SIP/2.0 180 Ringing',
      '< SIP/2.0 200 OK',
      '> ACK',
      '< SIP/2.0 200 OK',
      '> ACK',
      '> BYE',
      '< SIP/2.0 200 OK',
    ]);
    const twoHundreds = parseSippMessages(pair.uas.messages).filter((m) => m.direction === 'sent' && m.startLine === 'SIP/2.0 200 OK');
    assert.equal(twoHundreds[0]?.text, twoHundreds[1]?.text, 'the repeated 200 is byte-identical (a retransmission)');
    assert.match(sipHeader(twoHundreds[0]?.text ?? '', 'CSeq') ?? '', /^1 INVITE$/);
    assert.equal(pair.uac.stats.retransmissions, 1, 'the second ACK is the caller answering a retransmitted 200');
  });

  test('negative control: the self-test caller fails on a final response other than the expected one', async (t) => {
    const pair = await runPair(t, 'uas-busy.xml', 'selftest/uac-expect-final.xml', { uacKeys: { expect: 603 }, timeoutSeconds: 5 });
    assert.equal(pair.uac.code, 1, explain(pair));
    assert.equal(pair.uac.stats.failed, 1, explain(pair));
  });

  test('a scenario given a path outside test/sipp gets no default keys: a missing -key fails the run at once', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'dialplane-sipp-test-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const copy = join(dir, 'copy.xml');
    await copyFile(join(SIPP_SCENARIO_DIR, 'uas-answer-wait-bye.xml'), copy);
    const result = await (await startSipp({ scenario: copy, t, timeoutSeconds: 5 })).done;
    assert.notEqual(result.code, 0);
    assert.match(result.errors, /Unsupported keyword 'ring_ms'/);
    const keyed = await startSipp({ scenario: copy, keys: { ring_ms: 0 }, t, timeoutSeconds: 5 });
    const stopped = await keyed.stop();
    assert.equal(stopped.stopped, true, describeSippResult(stopped));
    assert.equal(stopped.stats.found, true, 'sipp writes its statistics when stopped with SIGTERM');
  });

  test('stuck calls end at the outer timeout; stop() is idempotent and leaves no process', async (t) => {
    // The callee rings forever and the caller waits forever for a 200: only the wrappers end this.
    const started = Date.now();
    const pair = await runPair(t, 'uas-no-answer.xml', 'uac-call-dialplane.xml', { timeoutSeconds: 1, outerTimeoutSeconds: 3 });
    const elapsed = Date.now() - started;
    assert.ok(elapsed < 8000, `${elapsed} ms`);
    // SIPp's own -timeout does not end a run whose call is stuck: the coreutils wrapper does (exit 124).
    for (const side of [pair.uac, pair.uas]) assert.equal(side.code, 124, explain(pair));

    const idle = await startSipp({ scenario: 'uas-answer-wait-bye.xml', timeoutSeconds: 30, t });
    const [first, second] = await Promise.all([idle.stop(), idle.stop()]);
    assert.equal(first, second);
    assert.equal(first.stopped, true);
    assert.equal(await udpPortTaken(idle.port), false, 'the SIP port is released');
  });
}, { concurrency: 6, timeout: 60_000 });

function assertRejected(pair: Pair): void {
  // The caller got what it expected (the 403) ...
  assert.equal(pair.uac.code, 0, explain(pair));
  assert.equal(pair.uac.stats.successful, 1, explain(pair));
  // ... and the carrier sent it, then failed its call on purpose.
  assert.ok(flow(pair.uas).includes('> SIP/2.0 403 Forbidden'), explain(pair));
  assert.ok(!flow(pair.uas).includes('> SIP/2.0 200 OK'), explain(pair));
  assert.equal(pair.uas.code, 1, explain(pair));
  assert.equal(pair.uas.stats.failed, 1, explain(pair));
}

interface RtpPacket {
  readonly at: number;
  readonly payloadType: number;
}

/** A UDP socket on 127.0.0.1 counting RTP packets with their arrival time. */
async function udpCounter(): Promise<{
  socket: Socket;
  port: number;
  packets: RtpPacket[];
  beforeAnswer(uas: SippResult): number;
}> {
  const socket = createSocket('udp4');
  const packets: RtpPacket[] = [];
  socket.on('message', (msg) => {
    if (msg.length >= 12 && msg[0] !== undefined && msg[0] >> 6 === 2) packets.push({ at: Date.now(), payloadType: (msg[1] ?? 0) & 0x7f });
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return {
    socket,
    port: socket.address().port,
    packets,
    beforeAnswer(uas: SippResult): number {
      // The 200's time from the UAS message log ("----- 2026-01-01 12:00:00.123456" before each message).
      const match = /^-+ (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)\s*\n[^\n]*sent[^\n]*\n\s*\nSIP\/2\.0 200 OK/m.exec(uas.messages);
      if (!match?.[1]) return 0;
      const answeredAt = Date.parse(match[1].replace(' ', 'T').slice(0, 23));
      return packets.filter((p) => p.at < answeredAt).length;
    },
  };
}

function udpPortTaken(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    socket.once('error', () => {
      socket.close();
      resolve(true);
    });
    socket.bind(port, '127.0.0.1', () => socket.close(() => resolve(false)));
  });
}
