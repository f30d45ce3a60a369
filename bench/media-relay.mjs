#!/usr/bin/env node
// Concurrent bridged calls relayed by Dialplane's media bridge and, in the same run, the same load through rtpengine.
//
//   npx tsc -p tsconfig.json && node bench/media-relay.mjs [--calls=100,300] [--duration=12] [--warmup=2]
//        [--relays=direct,dialplane,dialplane-srtp,rtpengine] [--workers=2] [--cpu-prof-dir=<dir>]
//
// For every call count N and every relay, fresh processes:
//   * load generator (bench/lib/rtp-load.mjs, its own node process): 2N phone sockets on 127.0.0.1, each sending
//     PCMU RTP (160-byte payload, 50 packets/s, phases spread evenly over the 20 ms) to its relay port, so the offered
//     load is 2N streams = 100·N packets/s; send time, sender and counter ride in the payload.
//   * relay:
//       direct     - no relay: phone A sends straight to phone B (measures the generator's own overhead);
//       dialplane  - bench/lib/dialplane-relay.mjs, its own node process: the server's MediaHost with --workers media
//                    worker threads (DIALPLANE_MEDIA_WORKERS), each call's two legs in one worker, bridged there;
//                    inside a worker, as before: two CallMedia (with their
//                    RTCP sockets, as the server wires a call) + MediaBridge per call, imported from dist/;
//       dialplane-srtp - the same with SDES SRTP (AES_CM_128_HMAC_SHA1_80) on both legs: the relay unprotects each
//                    packet from one phone and protects it for the other; the generator protects and unprotects
//                    with Dialplane's SrtpContext (its CPU shows in gen CPU %);
//       rtpengine  - `rtpengine --table=-1 --foreground` (userspace forwarding, no kernel module), one offer/answer
//                    per call over the ng protocol; phones send to the ports in the rewritten SDPs.
//   After --warmup s, packets sent during the next --duration s are measured: sent, received on the partner phone
//   (loss %), added latency = receive − send time in the generator (one clock; includes the generator's own receive
//   delay, see the "direct" row), relay CPU % (utime+stime from /proc/<pid>/stat over the window, 100 % = one core,
//   all threads) and relay resident memory (VmRSS at the end of the window, VmHWM peak).
// Exit 0 whatever the figures; 1 only when something failed to run. If rtpengine is missing or does not start, the
// Dialplane half runs alone and the output says so.
import { fork } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HOST, freePort, installCleanupHandlers, printHeader, repoRoot, sleep, trackChild } from './lib/common.mjs';
import { rtpengineBinary, rtpengineCall, rtpengineDelete, rtpengineVersion, startRtpengine } from './lib/rtpengine.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const m = /^--([^=]+)(?:=(.*))?$/.exec(a);
    if (!m) throw new Error(`bad argument ${a}`);
    return [m[1], m[2] ?? 'true'];
  }),
);
const callCounts = (args.calls ?? '100,300').split(',').map(Number);
const durationMs = Number(args.duration ?? 12) * 1000;
const warmupMs = Number(args.warmup ?? 2) * 1000;
const drainMs = 1000;
const relays = (args.relays ?? 'direct,dialplane,dialplane-srtp,rtpengine').split(',');
const cpuProfDir = args['cpu-prof-dir'];
const mediaWorkers = Number(args.workers ?? 2);
const DIALPLANE_PORTS = { min: 20000, max: 23999 };
const RTPENGINE_PORTS = { min: 30000, max: 33999 };
const TARGETS = { lossPct: 0.1, p99Ms: 5, rssMB: 400 };

installCleanupHandlers();
try {
  readFileSync(join(repoRoot, 'dist', 'src', 'media', 'bridge.js'));
} catch {
  console.error('dist/src/media/bridge.js not found: build first with `npx tsc -p tsconfig.json`');
  process.exit(1);
}

// ---------------------------------------------------------------------------------------------------------------

function ipc(child, name) {
  const queue = [];
  const waiters = [];
  let exited;
  child.on('message', (m) => {
    if (m.type === 'error') {
      exited = new Error(`${name}: ${m.message}`);
      for (const w of waiters.splice(0)) w.reject(exited);
      return;
    }
    const w = waiters.findIndex((x) => x.type === m.type);
    if (w >= 0) waiters.splice(w, 1)[0].resolve(m);
    else queue.push(m);
  });
  child.on('exit', (code, signal) => {
    exited ??= new Error(`${name} exited (${code ?? signal})`);
    for (const w of waiters.splice(0)) w.reject(exited);
  });
  return {
    send: (m) => child.send(m),
    wait(type, timeoutMs = 60_000) {
      const i = queue.findIndex((m) => m.type === type);
      if (i >= 0) return Promise.resolve(queue.splice(i, 1)[0]);
      if (exited) return Promise.reject(exited);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${name}: no '${type}' within ${timeoutMs} ms`)), timeoutMs);
        waiters.push({
          type,
          resolve: (m) => (clearTimeout(timer), resolve(m)),
          reject: (e) => (clearTimeout(timer), reject(e)),
        });
      });
    },
  };
}

const CLK_TCK = 100; // getconf CLK_TCK on Linux
function procCpuTicks(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is state (field 3); utime is field 14, stime field 15 (1-based) -> indices 11, 12
  return Number(fields[11]) + Number(fields[12]);
}
function procStatus(pid) {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  const threads = Number(/^Threads:\s+(\d+)/m.exec(text)?.[1] ?? NaN);
  return { rssMB: kb('VmRSS') / 1024, hwmMB: kb('VmHWM') / 1024, threads };
}

function stopChild(child, signal = 'SIGTERM', timeoutMs = 5_000) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}

// ---------------------------------------------------------------------------------------------------------------

async function runOne(relay, calls) {
  const phones = 2 * calls;
  const loadChild = trackChild(fork(join(here, 'lib', 'rtp-load.mjs'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  const load = ipc(loadChild, 'load generator');
  let relayChild;
  let rtpe;
  const callIds = [];
  const notes = [];
  try {
    load.send({ type: 'bind', phones });
    const { ports } = await load.wait('bound');
    const targets = new Array(phones);
    let relayPid;
    let setupMs = 0;
    let srtpKeys;
    const t0 = performance.now();
    if (relay === 'direct') {
      for (let j = 0; j < phones; j++) targets[j] = ports[j ^ 1];
      relayPid = undefined;
    } else if (relay === 'dialplane' || relay === 'dialplane-srtp') {
      const execArgv = cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`, `--cpu-prof-name=dialplane-relay-${calls}.cpuprofile`] : [];
      if (cpuProfDir) mkdirSync(cpuProfDir, { recursive: true });
      relayChild = trackChild(fork(join(here, 'lib', 'dialplane-relay.mjs'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv }));
      const r = ipc(relayChild, 'dialplane relay');
      relayChild.ipcLink = r;
      const srtp = relay === 'dialplane-srtp';
      r.send({ type: 'setup', phones: Array.from({ length: calls }, (_, i) => ({ a: ports[2 * i], b: ports[2 * i + 1] })), portMin: DIALPLANE_PORTS.min, portMax: DIALPLANE_PORTS.max, srtp, workers: mediaWorkers });
      const { legs } = await r.wait('ready');
      if (srtp) srtpKeys = new Array(phones);
      legs.forEach((leg, i) => {
        targets[2 * i] = leg.a;
        targets[2 * i + 1] = leg.b;
        if (srtp) {
          srtpKeys[2 * i] = leg.keys.a;
          srtpKeys[2 * i + 1] = leg.keys.b;
        }
      });
      relayPid = relayChild.pid;
    } else if (relay === 'rtpengine') {
      rtpe = await startRtpengine({ binary: rtpengineBinary(), ngPort: await freePort(), portMin: RTPENGINE_PORTS.min, portMax: RTPENGINE_PORTS.max });
      relayChild = rtpe.child;
      for (let i = 0; i < calls; i++) {
        const callId = `bench-${calls}-${i}`;
        const p = await rtpengineCall(rtpe.ng, callId, ports[2 * i], ports[2 * i + 1]);
        callIds.push(callId);
        targets[2 * i] = p.aSendsTo;
        targets[2 * i + 1] = p.bSendsTo;
      }
      relayPid = relayChild.pid;
    } else throw new Error(`unknown relay ${relay}`);
    setupMs = performance.now() - t0;
    const idle = relayPid ? procStatus(relayPid) : undefined;

    load.send({ type: 'run', targets, warmupMs, durationMs, drainMs, ...(srtpKeys ? { srtp: srtpKeys } : {}) });
    await load.wait('measure-start', warmupMs + 10_000);
    const cpu0 = relayPid ? procCpuTicks(relayPid) : 0;
    const w0 = performance.now();
    await load.wait('measure-end', durationMs + 10_000);
    const cpu1 = relayPid ? procCpuTicks(relayPid) : 0;
    const w1 = performance.now();
    const mem = relayPid ? procStatus(relayPid) : undefined;
    const result = await load.wait('result', drainMs + 20_000);
    const relayCpuPct = relayPid ? ((cpu1 - cpu0) / CLK_TCK / ((w1 - w0) / 1000)) * 100 : undefined;

    let relayedCount;
    if (relay === 'dialplane' || relay === 'dialplane-srtp') {
      relayChild.ipcLink.send({ type: 'stop' });
      relayedCount = (await relayChild.ipcLink.wait('stopped', 20_000)).relayed;
      await new Promise((resolve) => (relayChild.exitCode !== null ? resolve() : relayChild.once('exit', resolve)));
    }
    if (rtpe) {
      for (const id of callIds.splice(0)) await rtpengineDelete(rtpe.ng, id).catch((e) => notes.push(`delete ${id}: ${e.message}`));
    }
    return { relay, calls, ok: true, setupMs, idle, mem, relayCpuPct, relayedCount, ...result, notes };
  } finally {
    await stopChild(loadChild);
    if (relayChild) await stopChild(relayChild, 'SIGTERM');
    if (rtpe) rtpe.ng.close();
  }
}

// ---------------------------------------------------------------------------------------------------------------

printHeader(`media relay: concurrent bridged calls, Dialplane's media workers (${mediaWorkers}) vs rtpengine (userspace)`);
const rtpeBin = rtpengineBinary();
let rtpengineProblem;
if (relays.includes('rtpengine')) {
  if (!rtpeBin) rtpengineProblem = 'rtpengine not installed (apt-get install -y rtpengine-daemon)';
  else console.log(`rtpengine: ${rtpeBin}, ${rtpengineVersion(rtpeBin)}, userspace (--table=-1)`);
}
console.log(
  `load    : per call 2 streams x 50 pkt/s (PCMU, 172-byte RTP), ${warmupMs / 1000} s warm-up then ${durationMs / 1000} s measured; calls ${callCounts.join(', ')}; all on ${HOST}`,
);
if (rtpengineProblem) console.log(`!! ${rtpengineProblem}: running the Dialplane half alone`);
console.log('');

const results = [];
let failed = false;
for (const calls of callCounts) {
  for (const relay of relays) {
    if (relay === 'rtpengine' && rtpengineProblem) continue;
    process.stdout.write(`running ${relay} @ ${calls} calls ... `);
    try {
      const r = await runOne(relay, calls);
      results.push(r);
      const loss = ((r.sent - r.received) / r.sent) * 100;
      console.log(`sent ${r.sent}, received ${r.received}, loss ${loss.toFixed(3)} %, p99 ${r.latency.p99.toFixed(2)} ms`);
    } catch (error) {
      console.log('FAILED');
      console.error(`  ${error.stack ?? error}`);
      if (relay === 'rtpengine') rtpengineProblem = `rtpengine failed: ${error.message}`;
      else failed = true;
      results.push({ relay, calls, ok: false, error: error.message });
    }
    await sleep(500);
  }
}

// ---------------------------------------------------------------------------------------------------------------

const fmt = (v, d = 2) => (v === undefined || Number.isNaN(v) ? '-' : v.toFixed(d));
console.log('');
const cols = ['relay', 'calls', 'streams', 'offered/s', 'relayed/s', 'sent', 'received', 'loss %', 'p50 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'relay CPU %', 'RSS MB', 'peak MB', 'idle MB', 'thr', 'gen CPU %', 'gen lag ms'];
const rows = results.filter((r) => r.ok).map((r) => {
  const secs = r.windowMs / 1000;
  return [
    r.relay,
    String(r.calls),
    String(r.phones),
    fmt(r.sent / secs, 0),
    fmt(r.received / secs, 0),
    String(r.sent),
    String(r.received),
    fmt(((r.sent - r.received) / r.sent) * 100, 3),
    fmt(r.latency.p50),
    fmt(r.latency.p99),
    fmt(r.latency.p999),
    fmt(r.latency.max),
    fmt(r.relayCpuPct, 1),
    fmt(r.mem?.rssMB, 1),
    fmt(r.mem?.hwmMB, 1),
    fmt(r.idle?.rssMB, 1),
    r.mem ? String(r.mem.threads) : '-',
    fmt(((r.cpuUserMs + r.cpuSystemMs) / r.windowMs) * 100, 1),
    fmt(r.maxSendLagMs, 1),
  ];
});
const widths = cols.map((c, i) => Math.max(c.length, ...rows.map((row) => row[i].length)));
const line = (cells) => cells.map((c, i) => (i < 1 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
console.log(line(cols));
console.log(line(widths.map((w) => '-'.repeat(w))));
for (const row of rows) console.log(line(row));
console.log('');
console.log('latency = receive time - send time, both in the generator process; "direct" (no relay) is the generator\'s own floor.');
console.log('relay CPU % = utime+stime of the relay process (all threads) over the window, 100 % = one core; gen = load generator.');
console.log('gen lag ms = worst lateness of a scheduled send (the generator keeps up when it stays around a few ms).');

for (const r of results.filter((x) => x.ok)) {
  const extra = [];
  if (r.duplicates) extra.push(`${r.duplicates} duplicates`);
  if (r.misrouted) extra.push(`${r.misrouted} misrouted`);
  if (r.rtcp) extra.push(`${r.rtcp} RTCP packets received (ignored)`);
  if (r.malformed) extra.push(`${r.malformed} malformed`);
  if (r.sendErrors) extra.push(`${r.sendErrors} send errors`);
  if (r.relayedCount !== undefined) extra.push(`MediaBridge.relayed=${r.relayedCount} (whole run)`);
  extra.push(`setup ${fmt(r.setupMs, 0)} ms`);
  extra.push(...r.notes);
  console.log(`  ${r.relay} @ ${r.calls}: ${extra.join(', ')}`);
}

console.log('');
for (const calls of callCounts) {
  const d = results.find((r) => r.ok && r.relay === 'dialplane' && r.calls === calls);
  const e = results.find((r) => r.ok && r.relay === 'rtpengine' && r.calls === calls);
  const saturated = (r) => {
    if (!r) return '';
    const why = [];
    if ((r.sent - r.received) / r.sent > TARGETS.lossPct / 100) why.push('loss over target');
    if (r.relayCpuPct !== undefined && r.relayCpuPct > 90 * Math.min(mediaWorkers, 2) && r.relay === 'dialplane') why.push('relay CPU near its cores');
    if (r.latency.p99 > 20) why.push('p99 > 20 ms (queueing)');
    return why.length ? `saturated/over target (${why.join(', ')})` : 'not saturated';
  };
  if (d) {
    const loss = ((d.sent - d.received) / d.sent) * 100;
    const verdict = [
      `loss ${fmt(loss, 3)} % ${loss < TARGETS.lossPct ? '<' : '>='} ${TARGETS.lossPct} %`,
      `p99 ${fmt(d.latency.p99)} ms ${d.latency.p99 < TARGETS.p99Ms ? '<' : '>='} ${TARGETS.p99Ms} ms`,
      `relay RSS ${fmt(d.mem.rssMB, 1)} MB (media relay process only, not a whole server)`,
    ];
    console.log(`dialplane @ ${calls} calls: ${verdict.join('; ')}; ${saturated(d)}`);
  }
  if (e) console.log(`rtpengine @ ${calls} calls: loss ${fmt(((e.sent - e.received) / e.sent) * 100, 3)} %, p99 ${fmt(e.latency.p99)} ms; ${saturated(e)}`);
  if (d && e) {
    const ratio = d.received / d.windowMs / (e.received / e.windowMs);
    console.log(`throughput ratio @ ${calls} calls (Dialplane relayed pkt/s ÷ rtpengine's, equal offered load): ${fmt(ratio, 3)}`);
    if (e.relayCpuPct > 0 && d.relayCpuPct > 0) {
      console.log(`  CPU per relayed packet: dialplane ${fmt((d.relayCpuPct * 10_000) / (d.received / (d.windowMs / 1000)), 1)} µs, rtpengine ${fmt((e.relayCpuPct * 10_000) / (e.received / (e.windowMs / 1000)), 1)} µs (ratio ${fmt(d.relayCpuPct / e.relayCpuPct, 2)}x)`);
    }
  } else if (d) console.log(`throughput ratio @ ${calls} calls: not available (${rtpengineProblem ?? 'rtpengine not run'})`);
}
for (const calls of callCounts) {
  const d = results.find((r) => r.ok && r.relay === 'dialplane' && r.calls === calls);
  const s = results.find((r) => r.ok && r.relay === 'dialplane-srtp' && r.calls === calls);
  if (!s) continue;
  const perPacket = (r) => (r.relayCpuPct * 10_000) / (r.received / (r.windowMs / 1000));
  const loss = ((s.sent - s.received) / s.sent) * 100;
  console.log(
    `dialplane SRTP @ ${calls} calls: loss ${fmt(loss, 3)} %, p99 ${fmt(s.latency.p99)} ms, relay CPU ${fmt(s.relayCpuPct, 1)} %` +
      (d ? ` (plain RTP ${fmt(d.relayCpuPct, 1)} %); CPU per relayed packet ${fmt(perPacket(s), 1)} µs vs ${fmt(perPacket(d), 1)} µs plain (${fmt(perPacket(s) / perPacket(d), 2)}x)` : '') +
      `; ${s.malformed ? `${s.malformed} packets failed to unprotect at the phones` : 'every packet authenticated at the phones'}`,
  );
}
if (rtpengineProblem) console.log(`\n!! rtpengine half NOT measured: ${rtpengineProblem}`);
{
  const { reportFigures } = await import('./lib/report.mjs');
  const rate = (r) => (r ? r.received / (r.windowMs / 1000) : undefined);
  const cpuPerPacket = (r) => (r && r.relayCpuPct !== undefined ? (r.relayCpuPct * 10_000) / rate(r) : undefined);
  const lossPct = (r) => (r ? ((r.sent - r.received) / r.sent) * 100 : undefined);
  const figures = [];
  for (const calls of callCounts) {
    const found = (relay) => results.find((r) => r.ok && r.relay === relay && r.calls === calls);
    const [d, s, e] = [found('dialplane'), found('dialplane-srtp'), found('rtpengine')];
    if (!d && !s) continue;
    const vs = (value, anchorValue, extra) => ({ value, ...(e ? { anchor: 'rtpengine (userspace)', anchorValue } : {}), ...extra });
    figures.push(
      vs(rate(d), rate(e), { figure: `${calls} calls: packets relayed/s`, unit: 'pkt/s', better: 'higher' }),
      vs(cpuPerPacket(d), cpuPerPacket(e), { figure: `${calls} calls: CPU per relayed packet`, unit: 'µs', better: 'lower' }),
      vs(lossPct(d), lossPct(e), { figure: `${calls} calls: loss`, unit: '%', better: 'lower' }),
      vs(d?.latency.p99, e?.latency.p99, { figure: `${calls} calls: added latency p99`, unit: 'ms', better: 'lower' }),
      vs(d?.mem?.rssMB, e?.mem?.rssMB, { figure: `${calls} calls: relay process RSS`, unit: 'MB', better: 'lower' }),
    );
    if (s) figures.push({ figure: `${calls} calls: CPU per relayed packet, SRTP`, value: cpuPerPacket(s), unit: 'µs', ...(d ? { anchor: 'Dialplane plain RTP', anchorValue: cpuPerPacket(d) } : {}), better: 'lower' });
  }
  reportFigures('media-relay', figures, [
    `Per call 2 streams x 50 pkt/s (PCMU), ${durationMs / 1000} s measured after ${warmupMs / 1000} s warm-up; relays ${relays.join(', ')}.`,
    rtpengineProblem ? `rtpengine not measured: ${rtpengineProblem}.` : undefined,
    `Targets: loss < ${TARGETS.lossPct} %, p99 < ${TARGETS.p99Ms} ms.`,
  ]);
}
process.exit(failed ? 1 : 0);
