#!/usr/bin/env node
// Whole-server memory: the resident memory of a real `dialplane serve` idle after its start, then with --calls
// bridged calls up and audio flowing both ways through every one, then once they have ended.
//
//   npm run build && node bench/memory.mjs [--calls=300] [--idle=3] [--settle=10] [--hold=20] [--concurrency=10]
//
// The server is `node dist/src/cli.js serve` as a user starts it (a fresh data directory and SQLite, log level
// warn), with DIALPLANE_TRUNK pointing at SIPp on 127.0.0.1, DIALPLANE_MAX_CALLS raised to 2 x --calls + 10 (it
// counts every live leg, inbound ones too: the default 200 would refuse legs beyond it) and an RTP port range of its own. Its bootstrap number +14155551234
// routes to an application whose program is [{verb:'dial', target:[{type:'phone', number:'+14155557000'}]}].
// Each call, as in test/reliability/sip-abuse (its CarrierCall and EchoCallee, from dist/test/):
//   - a carrier in this process calls +14155551234 from 127.0.0.1 (the trunk's address) over SIP and RTP sockets
//     of its own; Dialplane answers it (leg A) and dials +14155557000 through the trunk (leg B);
//   - SIPp (test/sipp/uas-answer-media-port.xml) answers leg B with an SDP naming the echo callee's port;
//   - Dialplane bridges A and B. The carrier sends 50 PCMU packets a second; the callee hears them
//     (carrier -> A -> B -> callee) and sends each back (callee -> B -> A -> carrier): every leg receives and sends
//     50 packets a second.
// Figures, from /proc/<pid>/status of the server process and of any process under it (worker threads are threads
// of the server process and so inside its figures; the tree is summed in case a child process appears): VmRSS (and
// its anonymous / file-backed parts), VmHWM (the peak), threads, and V8's heap used and external memory from
// /metrics.
//   idle    after /readyz and --idle s;
//   calls   with every call up: after --settle s, sampled every second for --hold s (the median VmRSS, the highest
//           VmHWM), with the packets heard at each end over the hold (a call's audio is flowing when its carrier hears
//           its own packets back);
//   after   5 s after every call was hung up (the carrier's BYE).
// Targets: idle VmRSS < 150 MB; VmRSS with 300 bridged calls < 400 MB.
// Exit code: 0 when measured (whether or not the targets are met); 1 when something failed to run (a call not
// answered, SIPp missing, the server gone); 2 for a bad argument. Loopback only; SIPp runs under coreutils timeout.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  HOST,
  freePort,
  installCleanupHandlers,
  makeTempDir,
  percentile,
  printHeader,
  removeTempDir,
  repoRoot,
  requireBuild,
  sleep,
  startDialplane,
  stopProcess,
  tail,
} from './lib/common.mjs';
import { reportFigures } from './lib/report.mjs';
import { sample } from './lib/server-sample.mjs';
import { freeUdpPorts, sippPorts, sippVersion, startSipp, stopSipp } from './lib/sipp.mjs';

const TARGET_IDLE_MB = 150;
const TARGET_CALLS_MB = 400;
const TARGET_CALLS = 300;
const FROM = '+14155550999';
const NUMBER = '+14155551234';
const DIALLED = '+14155557000';
const PACKETS_PER_S = 50;

function parseArgs(argv) {
  const opts = { calls: TARGET_CALLS, idle: 3, settle: 10, hold: 20, concurrency: 10 };
  for (const arg of argv) {
    const match = /^--(calls|idle|settle|hold|concurrency)=(\d+)$/.exec(arg);
    if (!match) throw new Error(`unknown argument ${arg}; see the comment at the top of bench/memory.mjs`);
    opts[match[1]] = Number(match[2]);
  }
  if (!(opts.calls >= 1 && opts.calls <= 1000)) throw new Error('--calls must be 1..1000');
  if (!(opts.concurrency >= 1 && opts.concurrency <= 100)) throw new Error('--concurrency must be 1..100');
  for (const k of ['idle', 'settle', 'hold']) if (opts[k] > 120) throw new Error(`--${k} at most 120 s`);
  if (opts.hold < 1) throw new Error('--hold must be at least 1 s');
  return opts;
}

/** VmRSS, VmHWM, RssAnon, RssFile (+ RssShmem) in MB and Threads, from /proc/<pid>/status. */
function procStatus(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
  return {
    rss: field('VmRSS') / 1024,
    hwm: field('VmHWM') / 1024,
    anon: field('RssAnon') / 1024,
    file: (field('RssFile') + field('RssShmem')) / 1024,
    threads: field('Threads'),
  };
}

/** CPU seconds (user + system, all threads) a process has used, from /proc/<pid>/stat. */
function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime, fields 14 and 15 of the line, in clock ticks (100 a second on Linux).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** `pid` and every process below it (from /proc/<pid>/task/<tid>/children, which lists each thread's children). */
function processTree(pid) {
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) {
    let tasks = [];
    try {
      tasks = readdirSync(`/proc/${tree[i]}/task`);
    } catch {
      continue; // gone meanwhile
    }
    for (const tid of tasks) {
      try {
        for (const child of readFileSync(`/proc/${tree[i]}/task/${tid}/children`, 'utf8').split(' ')) if (child.trim()) tree.push(Number(child));
      } catch {
        // gone meanwhile
      }
    }
  }
  return tree;
}

/** The server's process tree summed, plus V8's figures from /metrics. */
async function measure(server) {
  const tree = processTree(server.child.pid);
  const sum = { rss: 0, hwm: 0, anon: 0, file: 0, threads: 0, processes: tree.length };
  for (const pid of tree) {
    try {
      const s = procStatus(pid);
      for (const k of ['rss', 'hwm', 'anon', 'file', 'threads']) sum[k] += s[k];
    } catch {
      // exited meanwhile
    }
  }
  const metrics = await sample(server);
  return { ...sum, heapUsedMb: metrics.heapUsedMb, externalMb: metrics.externalMb };
}

const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');
const line = (label, m) =>
  `  ${label.padEnd(28)} VmRSS ${f1(m.rss).padStart(6)} MB (anon ${f1(m.anon)}, file ${f1(m.file)})  VmHWM ${f1(m.hwm).padStart(6)} MB  ` +
  `heap used ${f1(m.heapUsedMb)} MB, external ${f1(m.externalMb)} MB, ${m.threads} threads${m.processes > 1 ? `, ${m.processes} processes` : ''}`;

/** Runs `task(i)` for i in [0, n) with at most `limit` at once; rejects with the first failure. */
async function pool(n, limit, task) {
  let next = 0;
  const worker = async () => {
    while (next < n) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(n, limit) }, worker));
}

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (error) {
    console.error(error.message);
    return 2;
  }
  installCleanupHandlers();
  requireBuild();
  const liveCallsJs = join(repoRoot, 'dist', 'test', 'reliability', 'sip-abuse', 'live-calls.js');
  if (!existsSync(liveCallsJs)) throw new Error(`${liveCallsJs} not found: build everything with \`npm run build\` (not --src)`);
  if (!existsSync('/usr/bin/sipp')) throw new Error('sipp is not installed (apt-get install -y sip-tester)');
  const { CarrierCall, EchoCallee } = await import(pathToFileURL(liveCallsJs).href);

  printHeader(`whole-server memory: dialplane serve idle, then with ${opts.calls} bridged calls and audio both ways`);
  console.log(`sipp    : ${sippVersion()}`);
  console.log(`options : --calls=${opts.calls} --idle=${opts.idle} --settle=${opts.settle} --hold=${opts.hold} --concurrency=${opts.concurrency}`);
  const loadStart = os.loadavg().map((x) => x.toFixed(2)).join(' ');
  const tmp = makeTempDir('dialplane-bench-memory-');
  const dataDir = join(tmp, 'data');
  const logFile = join(tmp, 'dialplane.log');
  let server;
  let sipp;
  let callee;
  const calls = [];
  let failed = false;
  try {
    // The callee's audio end, then SIPp as the trunk answering the dialled legs with an SDP naming it.
    callee = await EchoCallee.start(HOST, 0);
    let heard = 0;
    callee.socket.on('message', () => (heard += 1));
    const ports = await sippPorts();
    sipp = startSipp(
      ['-sf', join(repoRoot, 'test', 'sipp', 'uas-answer-media-port.xml'), '-i', HOST, '-mi', HOST, '-p', String(ports.sip), '-mp', String(ports.media),
        '-t', 'u1', '-m', String(opts.calls), '-l', String(opts.calls + 10), '-nostdin', '-key', 'audio_port', String(callee.port), '-key', 'ring_ms', '0'],
      { logFile: join(tmp, 'sipp.log'), limitS: 600, cwd: tmp },
    );
    await sleep(300);
    if (sipp.child.exitCode !== null) throw new Error(`sipp exited at start:\n${tail(join(tmp, 'sipp.log'))}`);

    const sipPort = await freeUdpPorts(1);
    const rtpBase = await freeUdpPorts(4 * opts.calls + 40);
    const port = await freePort();
    server = await startDialplane({
      dataDir,
      port,
      logFile,
      logLevel: 'warn',
      timeoutMs: 60_000,
      extraEnv: {
        DIALPLANE_SIP_HOST: HOST,
        DIALPLANE_SIP_PORT: String(sipPort),
        DIALPLANE_RTP_PORTS: `${rtpBase}-${rtpBase + 4 * opts.calls + 39}`,
        DIALPLANE_TRUNK: `sip:${HOST}:${ports.sip};transport=udp`,
        // SIPp's scenario expects exactly its calls: no OPTIONS keepalives in between.
        DIALPLANE_TRUNK_KEEPALIVE_S: '0',
        // Every live leg counts, the carriers' inbound ones too: two per call.
        DIALPLANE_MAX_CALLS: String(2 * opts.calls + 10),
      },
    });
    console.log(`server  : pid ${server.child.pid}, ${server.url}, SIP ${HOST}:${sipPort}, RTP ${rtpBase}-${rtpBase + 4 * opts.calls + 39}; SIPp trunk :${ports.sip}, echo callee :${callee.port}`);

    await sleep(opts.idle * 1000);
    const idle = await measure(server);

    // The number routes to a program that dials the trunk; credits for every dialled leg's first minute.
    const bootstrap = JSON.parse(readFileSync(join(dataDir, 'bootstrap.json'), 'utf8'));
    const adminToken = readFileSync(join(dataDir, 'admin.token'), 'utf8').trim();
    const call = async (method, path, token, body) => {
      const response = await fetch(`${server.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      const text = await response.text();
      if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
      return JSON.parse(text);
    };
    await call('POST', `/admin/v1/accounts/${bootstrap.accountId}/credits`, adminToken, { amount: 1_000_000, description: 'memory bench' });
    const application = await call('POST', '/dialplane/v1/applications', bootstrap.apiKey, {
      name: 'bridge to the trunk',
      program: [{ verb: 'dial', target: [{ type: 'phone', number: DIALLED }] }],
    });
    await call('PUT', `/dialplane/v1/numbers/${encodeURIComponent(NUMBER)}/route`, bootstrap.apiKey, { application_id: application.id });

    console.log(`\nplacing ${opts.calls} calls, ${opts.concurrency} at a time ...`);
    const placeStart = performance.now();
    let echoed = 0;
    await pool(opts.calls, opts.concurrency, async (i) => {
      const c = await CarrierCall.place(i, { bindAddress: HOST, server: { address: HOST, port: sipPort }, from: FROM, to: NUMBER });
      c.rtp.on('message', () => (echoed += 1));
      calls.push(c);
      c.startAudio();
    });
    console.log(`placed  : ${calls.length} calls answered and bridged in ${f1((performance.now() - placeStart) / 1000)} s; settling ${opts.settle} s`);
    await sleep(opts.settle * 1000);

    const samples = [];
    const marks = calls.map((c) => c.mark());
    const [heard0, echoed0, t0] = [heard, echoed, performance.now()];
    const echoedBy = calls.map((c) => c.echoed.size);
    const [serverCpu0, ownCpu0] = [cpuSeconds(server.child.pid), process.cpuUsage()];
    for (let s = 0; s < opts.hold; s++) {
      await sleep(Math.max(0, t0 + (s + 1) * 1000 - performance.now()));
      if (server.child.exitCode !== null) throw new Error(`the server exited:\n${tail(logFile)}`);
      samples.push(await measure(server));
    }
    const holdS = (performance.now() - t0) / 1000;
    const serverCpuPct = (100 * (cpuSeconds(server.child.pid) - serverCpu0)) / holdS;
    const ownCpu = process.cpuUsage(ownCpu0);
    const ownCpuPct = (ownCpu.user + ownCpu.system) / 1e4 / holdS;
    const sent = calls.reduce((n, c, i) => n + c.mark() - marks[i], 0);
    // A call carried audio over the hold when its carrier heard some of its own packets back (echoed holds the
    // indices of the packets heard back, counted for the first 256 calls, whose index fits the payload's call byte).
    const silent = calls.filter((c, i) => c.index < 256 && c.echoed.size === echoedBy[i]).length;
    const media = { sent, heard: heard - heard0, echoed: echoed - echoed0, seconds: holdS, silent };
    const median = (key) => percentile(samples.map((x) => x[key]).sort((a, b) => a - b), 50);
    const loaded = {
      rss: median('rss'),
      anon: median('anon'),
      file: median('file'),
      hwm: Math.max(...samples.map((x) => x.hwm)),
      heapUsedMb: median('heapUsedMb'),
      externalMb: median('externalMb'),
      threads: samples.at(-1).threads,
      processes: samples.at(-1).processes,
    };
    const rssRange = `${f1(Math.min(...samples.map((x) => x.rss)))}-${f1(Math.max(...samples.map((x) => x.rss)))} MB`;

    console.log(`\nhanging up ${calls.length} calls ...`);
    let byeFailed = 0;
    await pool(calls.length, opts.concurrency, async (i) => {
      const status = await calls[i].hangUp().catch(() => 0);
      if (status !== 200) byeFailed += 1;
      await calls[i].close();
    });
    if (byeFailed) console.log(`  ${byeFailed} BYEs got no 200`);
    await sleep(5000);
    const after = await measure(server);

    const perCallKb = ((loaded.rss - idle.rss) * 1024) / opts.calls;
    console.log('');
    console.log(line('idle after start', idle));
    console.log(line(`${opts.calls} bridged calls (median)`, loaded));
    console.log(line('5 s after they ended', after));
    console.log('');
    console.log(`  VmRSS over the ${opts.hold} s hold: ${rssRange}; ${f1(perCallKb)} kB more per bridged call (two legs) than idle`);
    console.log(
      `  audio over ${f1(media.seconds)} s: carriers sent ${media.sent} packets (${f1(media.sent / media.seconds)}/s), the callee heard ${media.heard} ` +
        `(${f1((100 * media.heard) / media.sent)} %), the carriers heard back ${media.echoed} (${f1((100 * media.echoed) / media.sent)} %); ` +
        `expected ${opts.calls} x ${PACKETS_PER_S}/s each way`,
    );
    const met = (value, target) => (value < target ? 'met' : 'NOT met');
    console.log(`  target  : idle VmRSS < ${TARGET_IDLE_MB} MB: ${f1(idle.rss)} MB -> ${met(idle.rss, TARGET_IDLE_MB)}`);
    console.log(
      `  target  : VmRSS with ${TARGET_CALLS} bridged calls < ${TARGET_CALLS_MB} MB: ${f1(loaded.rss)} MB with ${opts.calls} -> ` +
        `${opts.calls === TARGET_CALLS ? met(loaded.rss, TARGET_CALLS_MB) : `not judged (${opts.calls} calls)`}`,
    );
    console.log(`  machine : load average ${loadStart} at the start, ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} at the end (other processes share these CPUs)`);
    console.log(
      `  CPU over the hold: server ${f1(serverCpuPct)} % of one core (all threads), this process (carriers and callee) ${f1(ownCpuPct)} %; ` +
        `${media.silent} of the first ${Math.min(256, calls.length)} calls heard none of their audio back`,
    );
    if (media.silent > 0) {
      console.log('  PROBLEM: some calls carried no audio over the hold');
      failed = true;
    }

    reportFigures(
      'memory',
      [
        { figure: 'idle server VmRSS after start', value: idle.rss, unit: 'MB', anchor: 'target', anchorValue: TARGET_IDLE_MB, better: 'lower' },
        {
          figure: `VmRSS with ${opts.calls} bridged calls, audio both ways`,
          value: loaded.rss,
          unit: 'MB',
          ...(opts.calls === TARGET_CALLS ? { anchor: 'target', anchorValue: TARGET_CALLS_MB } : {}),
          better: 'lower',
        },
        { figure: `VmHWM (peak) with ${opts.calls} bridged calls`, value: loaded.hwm, unit: 'MB', better: 'lower' },
        { figure: 'VmRSS per bridged call above idle', value: perCallKb, unit: 'kB', better: 'lower' },
        { figure: `V8 heap used with ${opts.calls} bridged calls`, value: loaded.heapUsedMb, unit: 'MB', better: 'lower' },
        { figure: 'VmRSS 5 s after the calls ended', value: after.rss, unit: 'MB', better: 'lower' },
        { figure: 'audio heard back by the callers', value: (100 * media.echoed) / media.sent, unit: '%', better: 'higher' },
        { figure: `server CPU with ${opts.calls} bridged calls (all threads)`, value: serverCpuPct, unit: '% of a core', better: 'lower' },
      ],
      [
        `A real \`dialplane serve\` (SQLite, log level warn); each call a carrier -> Dialplane -> SIPp leg pair bridged by a dial program, 50 PCMU packets/s each way; figures of the server process (its worker threads included), ${loaded.processes} process(es), ${loaded.threads} threads.`,
        `Idle: VmRSS ${f1(idle.rss)} MB (anonymous ${f1(idle.anon)}, file-backed ${f1(idle.file)}), heap used ${f1(idle.heapUsedMb)} MB. With the calls: anonymous ${f1(loaded.anon)} MB, file-backed ${f1(loaded.file)} MB, external ${f1(loaded.externalMb)} MB; VmRSS ${rssRange} over the hold.`,
      ],
    );
  } catch (error) {
    console.log(`server log tail:\n${tail(logFile)}`);
    throw error;
  } finally {
    for (const c of calls) await c.close().catch(() => undefined);
    if (server) {
      const stopStart = performance.now();
      const stop = await stopProcess(server.child, { signal: 'SIGTERM', timeoutMs: 60_000 });
      console.log(
        `shutdown: SIGTERM -> ${stop.forced ? 'did not exit within 60 s, killed' : `exit code ${stop.code}${stop.signal ? `, signal ${stop.signal}` : ''}`} ` +
          `after ${f1((performance.now() - stopStart) / 1000)} s`,
      );
    }
    if (sipp) await stopSipp(sipp);
    await callee?.close();
    removeTempDir(tmp);
  }
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error?.stack ?? error);
    process.exit(1);
  },
);
