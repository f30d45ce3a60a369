import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { loadConfig } from '../../src/config/config.js';
import { createLogger, startServer, type RunningServer } from '../../src/server.js';
import { testEnv, waitUntil } from '../helpers/processes.js';
import { describeSippResult, describeWithSipp, parseSippMessages, sipHeader, sippFlow, startSipp, type SippResult } from '../helpers/sipp.js';
import { datagrams, TORTURE } from './sip-abuse/datagrams.js';
import { floodInvites } from './sip-abuse/invite-flood.js';
import { CarrierCall, EchoCallee, type AudioFigures } from './sip-abuse/live-calls.js';
import { collectedMemory, mib } from './sip-abuse/memory.js';
import { bindUdp, closeUdp, readReply, request, token, type Endpoint } from './sip-abuse/wire.js';

/**
 * SIP abuse on a live server (a whole `startServer` on SQLite) while calls are up: three carrier calls forwarded
 * through the trunk to SIPp and bridged, their audio sent, heard and sent back by index; then, all at once and each
 * from its own loopback address, 10,000 malformed and mutated datagrams (RFC 4475's torture messages and random
 * mutations of valid requests, from 64 sources), an INVITE flood from one source, and REGISTER password guessing
 * against one device. The calls keep their audio (under 1 % lost either way); the flooding source gets 503 beyond
 * DIALPLANE_SIP_SOURCE_BURST plus DIALPLANE_SIP_SOURCE_RATE a second (set to SOURCE_BURST and SOURCE_RATE); the
 * device is locked out at the DIALPLANE_SIP_REGISTER_FAILURES-th wrong password with one log line (no password in
 * the log); OPTIONS and the API still answer; and once the abuse's transactions have ended (Timers H and J: 64*T1)
 * the SIP stack holds none, and the heap is back within HEAP_BOUND of where it was (RSS within RSS_BOUND).
 * DIALPLANE_SIP_ABUSE_SEED replays the datagrams of a run, whose seed is printed.
 */

const CALLS = 3;
const DATAGRAMS = 10_000;
/** Enough sources that none runs over SOURCE_BURST: every datagram reaches the parser and the layers above it. */
const FUZZ_SOURCES = 64;
/**
 * Paced so that, with the flood beside them, the server reads every datagram: faster, its socket's 4 MiB receive
 * buffer overflows on this machine and the kernel drops what it never saw, flood INVITEs among them.
 */
const FUZZ_PER_SECOND = 1_250;
const FLOOD = 1_500;
const FLOOD_PER_SECOND = 300;
/**
 * The per-source limit, lower than the shipped 200/s and 1,000 at once: on a loaded two-core machine the server
 * may not even take 200 INVITEs a second from one source while it also parses the datagrams, and a limit that is
 * never reached tests nothing.
 */
const SOURCE_RATE = 50;
const SOURCE_BURST = 200;
const SEED = Number(process.env.DIALPLANE_SIP_ABUSE_SEED ?? Date.now() % 2 ** 31);
/** Live audio may lose less than this share of its packets, on either path. */
const MAX_LOSS = 0.01;
/** After the abuse and a full GC, the heap may exceed its baseline by this much (the live calls are still up). */
const HEAP_BOUND = 10 * 1_048_576;
/** RSS is looser: V8 keeps pages it grew into for a while, and the test's own buffers share the process. */
const RSS_BOUND = 64 * 1_048_576;
/** Timer H and J (64*T1) plus room: by then every transaction the abuse opened has ended. */
const SETTLE_MS = 45_000;

const CARRIER = '127.0.0.2';
const GUESSER = '127.0.0.3';
const PROBE = '127.0.0.4';
const FLOODER = '127.0.0.9';
const fuzzSource = (i: number) => `127.0.1.${i + 1}`;
const FORWARDED = '+14155550161';
const FORWARD_TO = '+14155550100';
const CALLER = '+14155550111';
const WRONG_PASSWORD = 'guess-Tr0ub4dor-3';

/** The kernel's count of UDP datagrams dropped for a full receive buffer (all of the machine's sockets). */
function udpReceiveBufferErrors(): number {
  const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((line) => line.startsWith('Udp:'));
  const names = lines[0]?.split(/\s+/) ?? [];
  const values = lines[1]?.split(/\s+/) ?? [];
  return Number(values[names.indexOf('RcvbufErrors')] ?? 0);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Sends the datagrams round-robin from `sources` sockets at `perSecond`; counts the responses that come back. */
async function sendDatagrams(
  packets: readonly Buffer[],
  server: Endpoint,
): Promise<{
  sent: number;
  responses: number;
  statuses: Map<number, number>;
  serverErrors: string[];
  /** Answers whose status line is not one: a control character in the reason phrase (§25.1), or no status line. */
  malformed: string[];
  close: () => Promise<void>;
}> {
  const sockets = await Promise.all(Array.from({ length: FUZZ_SOURCES }, (_, i) => bindUdp(fuzzSource(i))));
  let responses = 0;
  const statuses = new Map<number, number>();
  const serverErrors: string[] = [];
  const malformed: string[] = [];
  for (const socket of sockets) {
    socket.on('message', (data) => {
      responses += 1;
      const reply = readReply(data);
      const statusLine = data.toString('latin1').split('\r\n')[0]!;
      if ((!reply || /[\x00-\x08\x0a-\x1f\x7f]/.test(statusLine)) && malformed.length < 20) malformed.push(JSON.stringify(statusLine.slice(0, 200)));
      if (!reply) return;
      statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
      if (reply.status >= 500 && serverErrors.length < 20) serverErrors.push(reply.text.split('\r\n')[0]!);
    });
  }
  const started = performance.now();
  let sent = 0;
  while (sent < packets.length) {
    const due = Math.min(packets.length, Math.ceil(((performance.now() - started) / 1000) * FUZZ_PER_SECOND) + 1);
    for (; sent < due; sent++) sockets[sent % FUZZ_SOURCES]!.send(packets[sent]!, server.port, server.address);
    await sleep(10);
  }
  return {
    sent,
    get responses() {
      return responses;
    },
    statuses,
    serverErrors,
    malformed,
    close: async () => {
      await Promise.all(sockets.map(closeUdp));
    },
  };
}

/** One OPTIONS from a fresh source, retransmitted at T1 like any UAC's, until its final response (5 s at most). */
async function options(server: Endpoint): Promise<number | undefined> {
  const socket = await bindUdp(PROBE);
  const { port } = socket.address();
  const branch = `z9hG4bK${token(6)}`;
  const message = request(`OPTIONS sip:${server.address}:${server.port} SIP/2.0`, [
    `Via: SIP/2.0/UDP ${PROBE}:${port};branch=${branch};rport`,
    'Max-Forwards: 70',
    `From: <sip:probe@${PROBE}>;tag=${token(4)}`,
    `To: <sip:${server.address}:${server.port}>`,
    `Call-ID: probe-${token(6)}@${PROBE}`,
    'CSeq: 1 OPTIONS',
  ]);
  const status = new Promise<number>((resolve) =>
    socket.on('message', (data) => {
      const reply = readReply(data);
      if (reply && reply.status >= 200) resolve(reply.status);
    }),
  );
  const timer = setInterval(() => socket.send(message, server.port, server.address), 500);
  socket.send(message, server.port, server.address);
  const result = await Promise.race([status, sleep(5_000).then(() => undefined)]);
  clearInterval(timer);
  await closeUdp(socket);
  return result;
}

async function metric(server: RunningServer, name: string, labels: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  return Number(new RegExp(`^${name}\\{${labels}\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
}

function lossOf(figures: AudioFigures, path: 'heard' | 'echoed'): number {
  return figures.sent === 0 ? 1 : 1 - figures[path] / figures.sent;
}

const pct = (share: number) => `${(share * 100).toFixed(2)} %`;

await describeWithSipp('SIP abuse on a live server', () => {
  test('malformed datagrams, an INVITE flood and password guessing leave live calls, OPTIONS, the API and memory intact', async (t) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'dialplane-sip-abuse-'));
    t.after(() => rmSync(dataDir, { recursive: true, force: true }));
    const logFile = join(dataDir, 'server.log');

    // The callee's audio end, then SIPp as the trunk answering the forwarded legs with an SDP naming it.
    const callee = await EchoCallee.start(CARRIER, 0);
    t.after(() => callee.close());
    const trunk = await startSipp({
      scenario: 'uas-answer-media-port.xml',
      bindAddress: CARRIER,
      calls: CALLS,
      keys: { audio_port: callee.port, ring_ms: 0 },
      timeoutSeconds: 110,
      t,
    });

    const config = loadConfig(
      testEnv({
        DIALPLANE_DATA_DIR: dataDir,
        DIALPLANE_DATABASE_URL: join(dataDir, 'dialplane.sqlite'),
        DIALPLANE_HTTP_HOST: '127.0.0.1',
        DIALPLANE_HTTP_PORT: '0',
        DIALPLANE_ADMIN_TOKEN: `sip-abuse-admin-${token(16)}`,
        DIALPLANE_BOOTSTRAP: 'false',
        DIALPLANE_SIP_HOST: '127.0.0.1',
        DIALPLANE_RTP_PORTS: '59800-59899',
        DIALPLANE_TRUNK: `sip:${CARRIER}:${trunk.port};transport=udp`,
        // SIPp's scenario expects exactly its calls: no OPTIONS keepalives in between.
        DIALPLANE_TRUNK_KEEPALIVE_S: '0',
        DIALPLANE_LOG_LEVEL: 'warn',
        DIALPLANE_SIP_SOURCE_RATE: String(SOURCE_RATE),
        DIALPLANE_SIP_SOURCE_BURST: String(SOURCE_BURST),
      }),
    );
    const server = await startServer(config, createLogger(config, pino.destination({ dest: logFile, sync: true })));
    t.after(() => server.close());
    const sip: Endpoint = { address: '127.0.0.1', port: server.telephony.sipPort };
    const { services } = server;
    const accountId = (await services.accounts.create({ name: 'Abused', email: 'abused@example.com' })).account.id;
    await services.credits.add(accountId, 100_000, 'test');
    await services.numbers.add(accountId, { number: FORWARDED, type: 'purchased' });
    await services.extensions.route(accountId, FORWARDED, { forwardTo: FORWARD_TO });
    const apiKey = (await services.keys.create(accountId, { name: 'abuse' })).token;
    const extension = await services.extensions.create(accountId, { name: 'Guessed desk' });
    const { device, password } = await services.extensions.addDevice(accountId, extension.id);
    const neighbour = await services.extensions.addDevice(accountId, extension.id);

    const { sourceRate, sourceBurst, registerFailures } = config.sip;
    t.diagnostic(`seed ${SEED} (DIALPLANE_SIP_ABUSE_SEED replays it); limits: ${sourceRate}/s per source, burst ${sourceBurst}; lockout after ${registerFailures}`);
    const packets = datagrams({ server: `${sip.address}:${sip.port}`, number: FORWARDED, registerUser: 'no-such-device' }, DATAGRAMS, SEED);

    // The live calls: answered, bridged, audio coming back from the callee before anything else starts.
    const calls: CarrierCall[] = [];
    t.after(() => Promise.all(calls.map((call) => call.close())));
    for (let i = 0; i < CALLS; i++) calls.push(await CarrierCall.place(i, { bindAddress: CARRIER, server: sip, from: CALLER, to: FORWARDED }));
    for (const call of calls) call.startAudio();
    await waitUntil('audio back on every live call', () => calls.every((call) => call.echoed.size >= 10), 15_000);
    await sleep(500);

    const transactionsBefore = server.telephony.ua.stack.activeTransactions;
    const dialogsBefore = server.telephony.ua.activeDialogs;
    const memoryBefore = await collectedMemory();
    const from = calls.map((call) => call.mark());

    // The abuse, all at once.
    const bufferErrorsBefore = udpReceiveBufferErrors();
    const abuseStarted = performance.now();
    const took = <T>(promise: Promise<T>): Promise<[T, number]> => promise.then((value) => [value, (performance.now() - abuseStarted) / 1000]);
    const fuzzing = sendDatagrams(packets, sip);
    const flooding = floodInvites({ from: FLOODER, server: sip, to: FORWARDED, count: FLOOD, perSecond: FLOOD_PER_SECOND, settleMs: 20_000 });
    const guessing = (async () => {
      const guess = async (count: number, secret: string, username = device.username): Promise<SippResult> => {
        const run = await startSipp({
          scenario: 'uac-register-auth.xml',
          bindAddress: GUESSER,
          remote: `${sip.address}:${sip.port}`,
          authUser: username,
          authPassword: secret,
          keys: { user: username, expires: 120, hold_ms: 0 },
          calls: count,
          rate: 50,
          timeoutSeconds: 30,
          t,
        });
        const result = await run.done;
        assert.equal(result.code, 0, describeSippResult(result));
        return result;
      };
      const lockLines = () => readFileSync(logFile, 'utf8').split('\n').filter((line) => line.includes('device locked out'));
      // Distinct transactions answered 403 (a REGISTER SIPp retransmitted to a busy server is answered again).
      const forbidden = (result: SippResult) =>
        new Set(
          parseSippMessages(result.messages)
            .filter((m) => m.direction === 'received' && m.startLine === 'SIP/2.0 403 Forbidden')
            .map((m) => `${sipHeader(m.text, 'Call-ID')} ${sipHeader(m.text, 'CSeq')}`),
        ).size;
      const early = await guess(registerFailures - 1, WRONG_PASSWORD);
      const lockedEarly = server.telephony.registrar.isLockedOut(device.username);
      const linesEarly = lockLines().length;
      const last = await guess(1, WRONG_PASSWORD);
      const locked = server.telephony.registrar.isLockedOut(device.username);
      const lines = lockLines();
      const after = await guess(3, WRONG_PASSWORD);
      const right = await guess(1, password);
      const other = await guess(1, neighbour.password, neighbour.device.username);
      return {
        guesses: registerFailures + 3,
        forbidden: forbidden(early) + forbidden(last) + forbidden(after),
        lockedEarly,
        linesEarly,
        locked,
        lines,
        right: sippFlow(right).filter((line) => line.startsWith('< SIP/2.0') && !line.includes('100 Trying')),
        neighbourRegistered: sippFlow(other).includes('< SIP/2.0 200 OK'),
      };
    })();
    const [[fuzz, fuzzS], [flood, floodS], [guessed, guessingS]] = await Promise.all([took(fuzzing), took(flooding), took(guessing)]);
    const bufferErrors = udpReceiveBufferErrors() - bufferErrorsBefore;
    const optionsStatus = await options(sip);
    const ready = await fetch(`${server.url}/readyz`);
    const me = await fetch(`${server.url}/api/v1/me`, { headers: { authorization: `Bearer ${apiKey}` } });
    await sleep(300);
    const to = calls.map((call) => call.mark());
    const fuzzResponses = fuzz.responses;

    // Every transaction the abuse opened ends by Timer H or J (those of the live calls' INVITEs by L and M); the calls
    // stay up meanwhile.
    const settleStarted = performance.now();
    await waitUntil('every SIP transaction ended', () => server.telephony.ua.stack.activeTransactions === 0, SETTLE_MS);
    const settleMs = performance.now() - settleStarted;
    await fuzz.close();
    const transactionsAfter = server.telephony.ua.stack.activeTransactions;
    const dialogsAfter = server.telephony.ua.activeDialogs;
    const memoryAfter = await collectedMemory();
    const limitedMetric = await metric(server, 'dialplane_sip_requests_limited_total', 'method="INVITE"');
    const refusedMetric = await metric(server, 'dialplane_sip_register_lockout_total', 'event="refused"');

    await sleep(300);
    const audio = calls.map((call, i) => call.figures(callee, from[i]!, to[i]!));
    const cut = calls.filter((call) => call.requestsReceived.includes('BYE')).length;
    const byes = await Promise.all(calls.map((call) => call.hangUp()));
    const trunkRun = await trunk.done;

    const passed = flood.finals.get(403) ?? 0;
    const limited = flood.finals.get(503) ?? 0;
    const answered = [...flood.finals.values()].reduce((a, b) => a + b, 0);
    const allowed = sourceBurst + sourceRate * (flood.windowMs / 1000);
    const worstHeard = Math.max(...audio.map((a) => lossOf(a, 'heard')));
    const worstEchoed = Math.max(...audio.map((a) => lossOf(a, 'echoed')));
    const log = readFileSync(logFile, 'utf8');
    const errorLines = log.split('\n').filter((line) => /"level":(50|60)/.test(line));

    const statuses = [...fuzz.statuses].sort((a, b) => a[0] - b[0]).map(([status, n]) => `${status}: ${n}`);
    const figures = [
      `datagrams: ${fuzz.sent} sent from ${FUZZ_SOURCES} sources (${TORTURE.length} RFC 4475 messages among the sources), ` +
        `${fuzzResponses} responses (${statuses.join(', ')}); UDP receive buffer overflows meanwhile (whole machine): ${bufferErrors}`,
      `INVITE flood: ${flood.sent} sent, answered within ${(flood.windowMs / 1000).toFixed(1)} s: ${passed} let through (403 by the ` +
        `invite gate), ${limited} limited (503, ${flood.retryAfter} with Retry-After), ${flood.sent - answered} unanswered; ` +
        `allowed ${allowed.toFixed(0)}`,
      `REGISTER guessing: ${guessed.guesses} wrong passwords, ${guessed.forbidden} answered 403; locked out after ${registerFailures}: ` +
        `${guessed.locked}; log lines ${guessed.lines.length}; right password then: ${guessed.right.join(', ')}`,
      ...audio.map(
        (a, i) =>
          `live call ${i}: ${a.sent} packets sent, ${a.heard} heard by the callee (loss ${pct(lossOf(a, 'heard'))}), ` +
          `${a.echoed} back at the caller (loss ${pct(lossOf(a, 'echoed'))})`,
      ),
      `abuse ended after ${fuzzS.toFixed(1)} s (datagrams), ${floodS.toFixed(1)} s (flood), ${guessingS.toFixed(1)} s (guessing)`,
      `OPTIONS after: ${optionsStatus}; /readyz ${ready.status}; /api/v1/me ${me.status}`,
      `transactions: ${transactionsBefore} before, ${transactionsAfter} after ${(settleMs / 1000).toFixed(1)} s; ` +
        `dialogs ${dialogsBefore} -> ${dialogsAfter}`,
      `memory after GC: heap ${mib(memoryBefore.heapUsed)} -> ${mib(memoryAfter.heapUsed)} MiB (bound +${mib(HEAP_BOUND)}), ` +
        `rss ${mib(memoryBefore.rss)} -> ${mib(memoryAfter.rss)} MiB (bound +${mib(RSS_BOUND)})`,
      `server log: ${log.split('\n').filter(Boolean).length} lines, ${errorLines.length} at error level`,
    ];
    for (const line of figures) t.diagnostic(line);

    // The live calls.
    assert.equal(cut, 0, 'no live call was hung up by the server');
    assert.ok(worstHeard < MAX_LOSS, `caller -> callee loss ${pct(worstHeard)}`);
    assert.ok(worstEchoed < MAX_LOSS, `caller -> callee -> caller loss ${pct(worstEchoed)}`);
    assert.ok(audio.every((a) => a.sent >= 150), 'each call sent audio through the whole abuse');
    assert.deepEqual(byes, Array<number>(CALLS).fill(200));
    assert.equal(trunkRun.code, 0, describeSippResult(trunkRun));

    // The datagrams all left; the server answered what it could read.
    assert.equal(fuzz.sent, DATAGRAMS);
    assert.ok(fuzzResponses > 0, 'the server answered some of the datagrams');
    assert.deepEqual(fuzz.serverErrors, [], 'no datagram made the server fail (5xx)');
    assert.deepEqual(fuzz.malformed, [], 'every answer is a well-formed response');

    // The flooding source is limited: no more let through than its burst and rate allow, the rest refused 503.
    assert.ok(flood.sent - answered <= bufferErrors, `${flood.sent - answered} flood INVITEs unanswered, more than the kernel dropped`);
    assert.deepEqual([...flood.finals.keys()].filter((status) => status !== 403 && status !== 503), [], 'only 403 or 503');
    assert.ok(passed <= allowed + 1, `${passed} let through, allowed ${allowed.toFixed(0)}`);
    // The first SOURCE_BURST INVITEs the server took all went through, whatever the kernel dropped before it.
    assert.ok(passed >= Math.min(sourceBurst, answered), `the burst was let through: ${passed}`);
    assert.ok(limited >= flood.sent - allowed - 1 - (flood.sent - answered), `${limited} limited`);
    assert.equal(flood.retryAfter, limited, 'every 503 says when to retry');
    assert.ok(limitedMetric >= limited, `the metric counts the limited INVITEs: ${limitedMetric}`);

    // Guessing: locked out at the documented count, once, logged without a password; per device.
    assert.equal(guessed.forbidden, guessed.guesses, 'every wrong password was refused');
    assert.equal(guessed.lockedEarly, false, `not locked out after ${registerFailures - 1} wrong passwords`);
    assert.equal(guessed.linesEarly, 0);
    assert.equal(guessed.locked, true, `locked out after ${registerFailures}`);
    assert.equal(guessed.lines.length, 1, 'one log line for the lockout');
    const line = JSON.parse(guessed.lines[0]!) as Record<string, unknown>;
    assert.equal(line.username, device.username);
    assert.equal(line.source, GUESSER);
    assert.equal(line.level, 40);
    assert.ok(!log.includes(WRONG_PASSWORD) && !log.includes(password), 'no password in the log');
    assert.deepEqual(guessed.right, ['< SIP/2.0 401 Unauthorized', '< SIP/2.0 403 Forbidden'], 'the right password is refused while locked out');
    assert.ok(refusedMetric >= 4, `REGISTERs refused unchecked: ${refusedMetric}`);
    assert.equal(guessed.neighbourRegistered, true, 'another device of the extension is not locked out');

    // Still serving, and nothing of the abuse left behind.
    assert.equal(optionsStatus, 200);
    assert.equal(ready.status, 200);
    assert.equal(me.status, 200);
    assert.deepEqual(errorLines, [], 'no error logged');
    assert.equal(transactionsAfter, 0, 'no SIP transaction left');
    assert.equal(dialogsAfter, dialogsBefore, 'the live calls\' dialogs, no others');
    assert.ok(memoryAfter.heapUsed - memoryBefore.heapUsed <= HEAP_BOUND, `heap grew ${mib(memoryAfter.heapUsed - memoryBefore.heapUsed)} MiB`);
    assert.ok(memoryAfter.rss - memoryBefore.rss <= RSS_BOUND, `rss grew ${mib(memoryAfter.rss - memoryBefore.rss)} MiB`);
  });
}, { timeout: 110_000 });
