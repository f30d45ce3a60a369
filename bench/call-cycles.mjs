#!/usr/bin/env node
// Call cycles per second: SIPp against itself, and calls Dialplane originates, side by side in one run.
//
//   npx tsc -p tsconfig.json && node bench/call-cycles.mjs [--calls=10000] [--window=200] [--max-seconds=60]
//        [--sipp-calls=20000] [--sipp-rate=10000] [--sipp-limit=2000] [--sipp-buff=4194304] [--cpu-prof=<dir>]
//        [--sip-rcvbuf=<bytes>] [--via=control|engine] [--old=<dir>[,<dir>...] [--rounds=3]]
//
// A call cycle is INVITE -> 180 -> 200 -> ACK -> BYE -> 200 over UDP on 127.0.0.1, with no media. Takes ~30-40 s
// with the defaults; at most ~2 minutes whatever happens.
//
// (a) SIPp's own rate: SIPp's built-in `uac` scenario against SIPp's built-in `uas`, --sipp-calls calls offered at
//     --sipp-rate calls/s (-r) with at most --sipp-limit simultaneous calls (-l). Figure = successful calls / (time
//     of the uac's last statistics dump - its start), both read from the uac's `-trace_stat -stf` CSV (microsecond
//     timestamps): the achieved rate, which -r caps. Failed calls are sipp's FailedCall(C). Both sipps get
//     -buff_size (default 4 MiB): with the kernel default socket buffer (~208 KiB) the uas drops bursts above
//     ~5,000 calls/s on a 2-vCPU machine and the run is then dominated by SIPp's 32 s retransmission timeouts
//     (which measures socket buffers, not SIPp); with 4 MiB, SIPp holds 20,000 calls/s here.
// (b) Dialplane's rate: Dialplane's telephony (SIP stack, call engine, call control, SQLite store) runs IN THIS
//     PROCESS from dist/ (no HTTP layer), configured with DIALPLANE_TRUNK=sip:127.0.0.1:<uas port>;transport=udp and
//     a fresh SQLite data directory. It originates --calls calls, keeping --window calls in flight (closed loop: a
//     new call starts when one ends). With --via=control (the default) each call is started the way every API
//     starts one, CallControl.start() with the inline program [{verb:'hangup'}] to a phone number through the trunk:
//     the trunk leg is billed (its first minute reserved before the INVITE, charged when the call settles; the
//     account is given credits first) and the program hangs the call up as soon as it is answered. With
//     --via=engine each call is a bare leg, CallEngine.place() with no price, hung up with CallEngine.hangup() as
//     soon as its 'answered' event is stored (what this script measured before call control existed). SIPp's
//     built-in `uas` (-buff_size as above) answers (180, 200) and waits for Dialplane's BYE. Each call's events are
//     heard through a watcher of that call (CallService.watch) attached when start()/place() returns; its 'queued'
//     and 'dialing' events are stored with the call in one write before that and are not counted below.
//     Figure = calls whose 'ended' event has outcome 'completed' / (last such event - first start()). Any other
//     outcome, a start() that throws, or a call not ended at the end of the run is a failed call, listed by
//     outcome/cause/end reason (unfinished ones by the last state stored). Every call writes its rows (call +
//     events, and with --via=control its credit reserve and charge) to SQLite; that is part of what a call costs and
//     stays in the figure. Cycle latency runs from the start()/place() call to the stored 'ended'. New calls stop
//     after --max-seconds whatever happens; the run then ends when no call is in flight, or no call has ended for
//     5 s (the rest are stuck), or 8 s later.
//     Diagnostics printed alongside, none of which changes what Dialplane does: the SIP requests Dialplane sent
//     (its transport's send() is wrapped on this instance: INVITEs beyond one per call are Timer A
//     retransmissions), datagrams the kernel dropped on Dialplane's SIP socket (/proc/net/udp `drops`), its
//     SO_RCVBUF, the event-loop delay, the cycle latency, and the uas's own counters (a 200 OK it had to resend
//     means Dialplane's ACK came late; SIPp 3.6.1's uas aborts a call, "FailedUnexpectedMessage", when an INVITE
//     retransmission reaches it after its 200 OK, and then never answers that call's BYE).
//
// --cpu-prof=<dir> profiles phase (b) with the in-process V8 sampling profiler (node:inspector), writes
// <dir>/call-cycles-<pid>.cpuprofile (Chrome DevTools / VS Code) and prints where the busy time goes by layer, by
// file and by function. Profiling slows the run; take rates from unprofiled runs.
// --old=<dir>[,<dir>...] compares builds in one run: each <dir> is another checkout of Dialplane with its own dist/
//     (e.g. `git worktree add /tmp/old <commit>`, a node_modules symlink, `node scripts/build.mjs --src`). Phase (a)
//     is skipped; phase (b) runs --rounds times for every build, each run in a child process of its own (this script
//     with --dist=<dir>, importing that build's dist/src), alternating the builds and rotating their order every round,
//     so that the load of this shared machine falls on all of them alike. Per build it prints the CPU per ended call
//     (the sum of the runs' process CPU over the sum of their ended calls), each run's figure, the median cycles/s and
//     the failed calls. The driver (this script) is the same for every build. --dist=<dir> alone runs phase (b) only,
//     against that build, and prints its figures as one `result {json}` line (what the comparison reads).
// --sip-rcvbuf=<bytes> is an EXPERIMENT, not a measurement of Dialplane as shipped: it sets SO_RCVBUF on
// Dialplane's SIP UDP socket (reached through a TypeScript-private field) to test whether failed calls come from
// datagrams dropped there. The output marks runs that use it.
//
// Exit code: 0 whether or not the target (>= 1,000 cycles/s with zero failed calls) is met; 1 if something failed
// to run (sipp missing or exiting abnormally, no call completing, Dialplane failing to start, an exception); 2 for
// a bad argument. Every sipp runs under coreutils `timeout` as a child process (never -bg) with its own -p/-mp
// ports, and is stopped before exit; temp directories are removed.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { spawn } from 'node:child_process';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import pino from 'pino';
import { HOST, installCleanupHandlers, machineInfo, makeTempDir, percentile, printHeader, removeTempDir, repoRoot, requireBuild, sleep, trackChild } from './lib/common.mjs';
import { describeSippExit, readStatCsv, sippPorts, sippVersion, startSipp, stopSipp, tail, udpSocketDrops, waitExit } from './lib/sipp.mjs';

const TARGET_RATE = 1000;
const UAS_TIMEWAIT_MS = 4000; // the built-in uas keeps each call 4 s after its BYE (<timewait milliseconds="4000"/>)

function parseArgs(argv) {
  const opts = {
    calls: 10_000,
    window: 200,
    maxSeconds: 60,
    sippCalls: 20_000,
    sippRate: 10_000,
    sippLimit: 2_000,
    sippBuff: 4 * 1024 * 1024,
    sipRcvbuf: undefined,
    cpuProf: undefined,
    via: 'control',
    old: [],
    rounds: 3,
    dist: undefined,
  };
  const names = {
    calls: 'calls',
    window: 'window',
    'max-seconds': 'maxSeconds',
    'sipp-calls': 'sippCalls',
    'sipp-rate': 'sippRate',
    'sipp-limit': 'sippLimit',
    'sipp-buff': 'sippBuff',
    'sip-rcvbuf': 'sipRcvbuf',
    'cpu-prof': 'cpuProf',
    via: 'via',
    old: 'old',
    rounds: 'rounds',
    dist: 'dist',
  };
  for (const arg of argv) {
    const m = /^--([a-z-]+)=(.+)$/.exec(arg);
    const key = m && names[m[1]];
    if (!key) {
      console.error(`unknown argument ${arg}; expected --name=value with name one of ${Object.keys(names).join(', ')}`);
      process.exit(2);
    }
    if (key === 'cpuProf') {
      opts.cpuProf = resolve(m[2]);
      continue;
    }
    if (key === 'old') {
      opts.old = m[2].split(',').filter(Boolean).map((dir) => resolve(dir));
      continue;
    }
    if (key === 'dist') {
      opts.dist = resolve(m[2]);
      continue;
    }
    if (key === 'via') {
      if (m[2] !== 'control' && m[2] !== 'engine') {
        console.error('--via must be control or engine');
        process.exit(2);
      }
      opts.via = m[2];
      continue;
    }
    const value = Number(m[2]);
    if (!Number.isInteger(value) || value <= 0) {
      console.error(`--${m[1]} must be a positive integer`);
      process.exit(2);
    }
    opts[key] = value;
  }
  return opts;
}

const loadavg = () => os.loadavg().map((x) => x.toFixed(2)).join(' / ');
const fmt = (n, digits = 0) =>
  Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : 'n/a';

// ---------------------------------------------------------------------------------------------------------------
// (a) SIPp uac -> SIPp uas

async function runSippBaseline(opts, dir) {
  const uasPorts = await sippPorts();
  const uacPorts = await sippPorts();
  const common = ['-i', HOST, '-nostdin', '-buff_size', String(opts.sippBuff)];
  const uasArgs = ['-sn', 'uas', ...common, '-p', String(uasPorts.sip), '-mp', String(uasPorts.media), '-m', String(opts.sippCalls)];
  const uacArgs = ['-sn', 'uac', `${HOST}:${uasPorts.sip}`, ...common, '-p', String(uacPorts.sip), '-mp', String(uacPorts.media),
    '-m', String(opts.sippCalls), '-r', String(opts.sippRate), '-l', String(opts.sippLimit),
    '-trace_stat', '-stf', join(dir, 'baseline-uac.csv'), '-fd', '1'];
  // Bounded: calls/rate plus SIPp's 32 s INVITE/BYE timeouts if packets were lost, plus margin.
  const limitS = Math.ceil(opts.sippCalls / opts.sippRate) + 45;
  const uas = startSipp(uasArgs, { logFile: join(dir, 'baseline-uas.log'), limitS: limitS + 10, cwd: dir });
  await sleep(300);
  if (uas.child.exitCode !== null) throw new Error(`sipp uas exited at start: ${tail(join(dir, 'baseline-uas.log'))}`);
  const uac = startSipp(uacArgs, { logFile: join(dir, 'baseline-uac.log'), limitS, cwd: dir });
  const uacExit = await uac.exited;
  // The uas would exit by itself UAS_TIMEWAIT_MS after its last call; only the uac's figures are used: stop it now.
  const uasExit = await stopSipp(uas);
  const uacStats = readStatCsv(join(dir, 'baseline-uac.csv'));
  const problems = [];
  if (![0, 1].includes(uacExit.code)) problems.push(`uac ${describeSippExit(uacExit)}: ${tail(join(dir, 'baseline-uac.log'), 8)}`);
  if (!uacStats) problems.push('uac wrote no statistics CSV');
  if (uacStats && uacStats.successful === 0) problems.push('no call succeeded');
  return {
    uacCommand: uac.command,
    uasCommand: uas.command,
    uacExit,
    uasExit: { ...uasExit, stoppedByUs: true },
    uac: uacStats,
    rate: uacStats ? uacStats.successful / uacStats.seconds : Number.NaN,
    problems,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// (b) Dialplane -> SIPp uas

async function importDist(root) {
  const base = root ? pathToFileURL(`${root}/dist/src/`) : new URL('../dist/src/', import.meta.url);
  const dist = (p) => import(new URL(p, base).href);
  const [{ loadConfig }, { openDatabase }, { createStore }, { createServices }, { systemClock }, { startTelephony }] = await Promise.all([
    dist('config/config.js'),
    dist('store/database.js'),
    dist('store/store.js'),
    dist('core/services.js'),
    dist('core/clock.js'),
    dist('telephony.js'),
  ]);
  return { loadConfig, openDatabase, createStore, createServices, systemClock, startTelephony };
}

async function startProfiler() {
  const { Session } = await import('node:inspector/promises');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
  return {
    async stop() {
      const { profile } = await session.post('Profiler.stop');
      session.disconnect();
      return profile;
    },
  };
}

/**
 * Where the CPU went, from a V8 .cpuprofile (samples x interval), idle time left out of the shares:
 *  - byFunction: self time per function (native functions such as better-sqlite3's run() listed as such);
 *  - byFile: self time per script file, native leaves folded into the script that called them (so better-sqlite3's
 *    native run() counts for kysely's sqlite driver that calls it, a UDP bind() for node:dgram);
 *  - byLayer: the same, grouped: SQLite store (kysely, better-sqlite3, dist/src/store), SIP (dist/src/sip), ...
 */
function summarizeProfile(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const dt = new Map();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    dt.set(id, (dt.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const fileOf = (url) => {
    const path = url.replace(/^file:\/\//, '');
    const nm = path.lastIndexOf('/node_modules/');
    if (nm >= 0) {
      const rest = path.slice(nm + 14).split('/');
      return `node_modules/${rest.slice(0, rest[0].startsWith('@') ? 2 : 1).join('/')}/…/${rest[rest.length - 1]}`;
    }
    if (path.startsWith(repoRoot)) return path.slice(repoRoot.length);
    return path;
  };
  const layerOf = (file) => {
    if (/node_modules\/(kysely|better-sqlite3)\//.test(file) || file.startsWith('dist/src/store/')) return 'SQLite store (kysely + better-sqlite3 + dist/src/store)';
    if (file.startsWith('dist/src/sip/')) return 'SIP stack (dist/src/sip)';
    if (file.startsWith('dist/src/media/')) return 'RTP port pool (dist/src/media)';
    if (file.startsWith('dist/src/core/')) return 'call engine/service (dist/src/core)';
    if (file.startsWith('dist/src/carriers/') || file.startsWith('dist/src/sdp/')) return 'trunk signalling + SDP (dist/src/carriers, sdp)';
    if (file.startsWith('dist/')) return 'other dist/src';
    if (file.startsWith('bench/')) return 'benchmark driver (bench/)';
    if (file.startsWith('node:dgram')) return 'node:dgram (UDP send/bind/close)';
    if (file.startsWith('node:')) return 'other node internals';
    if (file.startsWith('node_modules/')) return 'other node_modules';
    return file;
  };
  const scriptAncestor = (id) => {
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const url = byId.get(cur)?.callFrame.url;
      if (url) return fileOf(url);
    }
    return undefined;
  };
  let total = 0;
  let idle = 0;
  const byFunction = new Map();
  const byFile = new Map();
  const byLayer = new Map();
  const add = (map, key, us) => map.set(key, (map.get(key) ?? 0) + us);
  for (const [id, us] of dt) {
    const node = byId.get(id);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') {
      idle += us;
      continue;
    }
    total += us;
    const name = functionName || '(anonymous)';
    if (name === '(garbage collector)' || name === '(program)') {
      add(byFunction, name, us);
      add(byFile, name, us);
      add(byLayer, name === '(program)' ? '(program: V8/native outside JS)' : name, us);
      continue;
    }
    const file = url ? fileOf(url) : scriptAncestor(id);
    add(byFunction, url ? `${file}:${lineNumber + 1} ${name}` : `native ${name}() called from ${file ?? '?'}`, us);
    add(byFile, file ?? '(native, no caller)', us);
    add(byLayer, file ? layerOf(file) : '(native, no caller)', us);
  }
  const top = (map, n) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, us]) => ({ name, ms: us / 1000, share: us / total }));
  return { busyMs: total / 1000, idleMs: idle / 1000, layers: top(byLayer, 12), files: top(byFile, 15), functions: top(byFunction, 25) };
}

async function runDialplane(opts, dir, dp) {
  const uasPorts = await sippPorts();
  const uasArgs = ['-sn', 'uas', '-i', HOST, '-nostdin', '-buff_size', String(opts.sippBuff), '-p', String(uasPorts.sip),
    '-mp', String(uasPorts.media), '-m', String(opts.calls), '-trace_stat', '-stf', join(dir, 'dialplane-uas.csv'), '-fd', '1'];
  const uasLog = join(dir, 'dialplane-uas.log');
  const uas = startSipp(uasArgs, { logFile: uasLog, limitS: opts.maxSeconds + 45, cwd: dir });

  const dataDir = join(dir, 'data');
  mkdirSync(dataDir);
  const env = {
    DIALPLANE_DATA_DIR: dataDir,
    DIALPLANE_SIP_PORT: '0',
    DIALPLANE_TRUNK: `sip:${HOST}:${uasPorts.sip};transport=udp`,
    DIALPLANE_RTP_PORTS: '30000-39999',
    DIALPLANE_MAX_CALLS: '2000',
    // SIPp's uas takes any new Call-ID for a call that must start with INVITE: no OPTIONS keepalives here.
    DIALPLANE_TRUNK_KEEPALIVE_S: '0',
    DIALPLANE_LOG_LEVEL: 'warn',
    // One SIPp peer at benchmark rates: the per-source request limit would measure itself, not the stack.
    DIALPLANE_SIP_SOURCE_RATE: '0',
  };
  const config = dp.loadConfig(env, { cwd: dir });
  const database = await dp.openDatabase({ url: config.database.url, dialect: config.database.dialect });
  const services = dp.createServices(dp.createStore(database), { clock: dp.systemClock, defaultCountry: 'US', keyCacheTtlMs: 60_000 });
  const logger = pino({ level: 'warn' });
  const telephony = await dp.startTelephony(config, services, logger);
  const { engine, control } = telephony;
  // SipTransports keeps its UDP socket in a TypeScript-private field; read (and, for --sip-rcvbuf only, changed) here.
  const sipSocket = telephony.ua.stack.transports.udp;
  const rcvbufDefault = sipSocket?.getRecvBufferSize?.();
  if (opts.sipRcvbuf !== undefined) {
    if (typeof sipSocket?.setRecvBufferSize !== 'function') throw new Error('--sip-rcvbuf: Dialplane\'s SIP UDP socket (SipTransports.udp) is not reachable');
    sipSocket.setRecvBufferSize(opts.sipRcvbuf);
  }
  const rcvbuf = sipSocket?.getRecvBufferSize?.();
  const { account } = await services.accounts.create({ name: 'bench', email: 'bench@example.com' });
  await services.numbers.add(account.id, { number: '+14155551234', type: 'purchased' });
  // Trunk legs started through call control are billed (first minute reserved before the INVITE): enough for all.
  if (opts.via === 'control') await services.credits.add(account.id, 1_000_000_000, 'bench');

  await sleep(300);
  if (uas.child.exitCode !== null) throw new Error(`sipp uas exited at start: ${tail(uasLog)}`);

  // Diagnostics that change nothing Dialplane does: SIP messages sent, counted by method/status by wrapping the
  // transport's send() on this instance (INVITEs beyond one per call are Timer A retransmissions: a response
  // took > 500 ms to be processed), and the event loop's delay.
  const sent = new Map();
  const transports = telephony.ua.stack.transports;
  const send = transports.send.bind(transports);
  transports.send = (message, target, onError) => {
    const key = message.kind === 'request' ? message.method : String(message.status);
    sent.set(key, (sent.get(key) ?? 0) + 1);
    return send(message, target, onError);
  };
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });

  const outcomes = new Map(); // 'completed' or 'outcome/cause/endReason' -> count
  const count = (key) => outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
  const latencies = [];
  const perSecond = [];
  const states = new Map();
  let launched = 0;
  let ended = 0;
  let completed = 0;
  let placeErrors = 0;
  let hangupErrors = 0;
  let stopLaunching = false;
  let tFirst = Number.NaN;
  let tLastEnd = Number.NaN;
  let tLastCompleted = Number.NaN;
  let elu0;
  let cpu0;
  let eluAtLastEnd;
  let cpuAtLastEnd;
  let resolveDone;
  const done = new Promise((r) => (resolveDone = r));
  const inFlight = () => launched - ended - placeErrors;
  const checkDone = () => {
    if (inFlight() === 0 && (stopLaunching || launched >= opts.calls)) resolveDone();
  };

  const lastState = new Map(); // calls not ended yet -> their last stored state
  const unwatchers = new Set();
  const HANGUP = [{ verb: 'hangup' }];
  const onEvent = (event, call, t0, unwatch) => {
    states.set(event.state, (states.get(event.state) ?? 0) + 1);
    if (event.state !== 'ended') {
      lastState.set(call.id, event.state);
      // --via=control: the call's program hangs it up once it is answered.
      if (event.state === 'answered' && opts.via === 'engine') {
        engine.hangup(call.accountId, call.id).catch(() => {
          hangupErrors += 1;
        });
      }
      return;
    }
    unwatch();
    unwatchers.delete(unwatch);
    lastState.delete(call.id);
    const now = performance.now();
    ended += 1;
    tLastEnd = now;
    // Load figures up to the last call that ended, so the wait for stuck calls at the end does not dilute them.
    eluAtLastEnd = performance.eventLoopUtilization(elu0);
    cpuAtLastEnd = process.cpuUsage(cpu0);
    const second = Math.floor((now - tFirst) / 1000);
    perSecond[second] = (perSecond[second] ?? 0) + 1;
    if (event.outcome === 'completed') {
      completed += 1;
      tLastCompleted = now;
      latencies.push(now - t0);
    } else {
      count(`${event.outcome ?? 'no outcome'}/${event.cause?.name ?? '-'}/${event.endReason ?? '-'}${event.sipStatus ? `/sip ${event.sipStatus}` : ''}`);
    }
    launch();
    checkDone();
  };
  const follow = (call, t0) => {
    // No await since the call was stored: its 'answered' (a datagram away) cannot have been emitted yet.
    lastState.set(call.id, call.state);
    const unwatch = services.calls.watch(call.id, (update) => {
      if (update.type === 'event') onEvent(update.event, update.call, t0, unwatch);
    });
    unwatchers.add(unwatch);
  };

  function launch() {
    while (!stopLaunching && launched < opts.calls && inFlight() < opts.window) {
      launched += 1;
      const t0 = performance.now();
      const started =
        opts.via === 'control'
          ? control.start(account.id, { from: '+14155551234', to: [{ type: 'phone', number: '+14155550100' }], program: HANGUP, ringTimeoutS: 30, maxDurationS: 3600 })
          : engine.place({ accountId: account.id, from: '+14155551234', to: '+14155550100', ringTimeoutS: 30, maxDurationS: 3600 });
      started.then(
        (call) => follow(call, t0),
        (error) => {
          placeErrors += 1;
          count(`${opts.via === 'control' ? 'start()' : 'place()'} threw: ${error?.code ?? error?.name ?? 'error'}: ${error?.message ?? error}`);
          launch();
          checkDone();
        },
      );
    }
  }

  const profiler = opts.cpuProf ? await startProfiler() : undefined;
  loopDelay.enable();
  elu0 = performance.eventLoopUtilization();
  cpu0 = process.cpuUsage();
  tFirst = performance.now();
  launch();
  // Stop placing calls at --max-seconds. Once every call is placed (or placing stopped), wait until none is in flight,
  // or until no call has ended for STALL_MS (the ones left are stuck: see 'unfinished' below), or GRACE_MS past the
  // deadline, whichever comes first.
  const STALL_MS = 5000;
  const GRACE_MS = 8000;
  const hardStop = tFirst + opts.maxSeconds * 1000 + GRACE_MS;
  await new Promise((resolveWait) => {
    const timer = setInterval(() => {
      const now = performance.now();
      if (!stopLaunching && now - tFirst >= opts.maxSeconds * 1000) stopLaunching = true;
      const allPlaced = stopLaunching || launched >= opts.calls;
      const lastProgress = Number.isNaN(tLastEnd) ? tFirst : tLastEnd;
      if ((allPlaced && (inFlight() === 0 || now - lastProgress > STALL_MS)) || now > hardStop) {
        clearInterval(timer);
        resolveWait();
      }
    }, 100);
    done.then(() => {
      clearInterval(timer);
      resolveWait();
    });
  });
  loopDelay.disable();
  const elu = eluAtLastEnd?.utilization ?? Number.NaN;
  const cpu = cpuAtLastEnd ?? { user: Number.NaN, system: Number.NaN };
  const activeSeconds = (tLastEnd - tFirst) / 1000;
  const profile = profiler ? await profiler.stop() : undefined;
  const unfinished = inFlight();
  for (const state of lastState.values()) count(`unfinished at the end of the run (last event stored: ${state})`);
  for (const unwatch of unwatchers) unwatch();

  const sipDrops = udpSocketDrops(telephony.sipPort);
  const uasDrops = udpSocketDrops(uasPorts.sip);

  // Rows written, as a check that each call really went through the store.
  const { db } = database;
  const rowCount = async (table) => Number((await db.selectFrom(table).select(db.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
  const rows = { calls: await rowCount('calls'), call_events: await rowCount('call_events') };

  // Stop Dialplane (engine.shutdown waits for live calls: bounded) and the uas.
  let closeTimer;
  const closed = await Promise.race([
    telephony.close().then(() => true),
    new Promise((r) => (closeTimer = setTimeout(() => r(false), 5_000))),
  ]);
  clearTimeout(closeTimer);
  await database.close();
  // The uas (-m <calls>) exits by itself UAS_TIMEWAIT_MS after its last call, and counts a call as successful only
  // then; if it does not (fewer calls placed), SIGINT stops it and calls still in their timewait go uncounted.
  const uasDone = await waitExit(uas, UAS_TIMEWAIT_MS + 1500);
  const uasExit = uasDone ? await uas.exited : await stopSipp(uas);
  const uasStats = readStatCsv(join(dir, 'dialplane-uas.csv'));

  latencies.sort((a, b) => a - b);
  const failed = [...outcomes.values()].reduce((a, b) => a + b, 0);
  return {
    uasCommand: uas.command,
    uasExit: { ...uasExit, stoppedByUs: !uasDone },
    uas: uasStats,
    env,
    launched,
    completed,
    failed,
    outcomes,
    states,
    hangupErrors,
    unfinished,
    closed,
    rows,
    seconds: (tLastCompleted - tFirst) / 1000,
    rate: completed / ((tLastCompleted - tFirst) / 1000),
    hitDeadline: stopLaunching && launched < opts.calls,
    perSecond: Array.from(perSecond, (v) => v ?? 0),
    latency: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies[latencies.length - 1] },
    profile,
    sent,
    elu,
    cpuShare: (cpu.user + cpu.system) / 1e6 / activeSeconds,
    cpuPerCallMs: (cpu.user + cpu.system) / 1e3 / Math.max(1, ended),
    cpuMs: (cpu.user + cpu.system) / 1e3,
    ended,
    sipPort: telephony.sipPort,
    rcvbufDefault,
    rcvbuf,
    sipDrops,
    uasDrops,
    loopDelayMs: { p50: loopDelay.percentile(50) / 1e6, p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 },
  };
}

// ---------------------------------------------------------------------------------------------------------------

/** --dist=<dir>: phase (b) alone against that build, its figures as one line for the comparison to read. */
async function runChild(opts) {
  const dir = makeTempDir('dialplane-call-cycles-');
  try {
    const b = await runDialplane(opts, dir, await importDist(opts.dist));
    const { launched, completed, failed, ended, cpuMs, cpuPerCallMs, rate, seconds } = b;
    console.log(`result ${JSON.stringify({ launched, completed, failed, ended, cpuMs, cpuPerCallMs, rate, seconds, outcomes: Object.fromEntries(b.outcomes) })}`);
    return b.completed === 0 ? 1 : 0;
  } finally {
    removeTempDir(dir);
  }
}

function runBuild(opts, root) {
  const args = [new URL(import.meta.url).pathname, `--dist=${root}`, `--calls=${opts.calls}`, `--window=${opts.window}`,
    `--max-seconds=${opts.maxSeconds}`, `--sipp-buff=${opts.sippBuff}`, `--via=${opts.via}`];
  return new Promise((resolveRun, reject) => {
    const child = trackChild(spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] }));
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      const line = out.split('\n').find((l) => l.startsWith('result '));
      if (!line) reject(new Error(`run against ${root} ended (${signal ?? code}) without a result:\n${out.slice(-2000)}`));
      else resolveRun(JSON.parse(line.slice(7)));
    });
  });
}

/** --old=...: phase (b) for every build, alternating, in child processes; CPU per call side by side. */
async function runComparison(opts) {
  const builds = [...opts.old, repoRoot.replace(/\/$/, '')];
  const label = (root) => (root === builds[builds.length - 1] ? `this build (${root})` : root);
  const runs = new Map(builds.map((root) => [root, []]));
  console.log(`compare : ${builds.length} builds, ${opts.rounds} rounds, each run ${opts.calls} calls window ${opts.window} --via=${opts.via}, order rotated every round`);
  for (let round = 0; round < opts.rounds; round++) {
    for (let i = 0; i < builds.length; i++) {
      const root = builds[(i + round) % builds.length];
      const r = await runBuild(opts, root);
      runs.get(root).push(r);
      console.log(
        `  round ${round + 1}: ${label(root)}: ${fmt(r.cpuPerCallMs, 3)} ms CPU per call, ${fmt(r.rate)} cycles/s, ` +
          `${fmt(r.completed)} completed, ${fmt(r.failed)} failed${r.failed ? ` ${JSON.stringify(r.outcomes)}` : ''}; load ${loadavg()}`,
      );
    }
  }
  console.log(`
${'build'.padEnd(60)}${'CPU ms/call'.padStart(12)}${'cycles/s'.padStart(10)}${'failed'.padStart(8)}  runs (ms CPU per call)`);
  for (const root of builds) {
    const list = runs.get(root);
    const cpu = list.reduce((a, r) => a + r.cpuMs, 0) / Math.max(1, list.reduce((a, r) => a + r.ended, 0));
    const rates = list.map((r) => r.rate).sort((x, y) => x - y);
    const failed = list.reduce((a, r) => a + r.failed, 0);
    console.log(`${label(root).padEnd(60)}${fmt(cpu, 3).padStart(12)}${fmt(percentile(rates, 50)).padStart(10)}${fmt(failed).padStart(8)}  ${list.map((r) => fmt(r.cpuPerCallMs, 3)).join(' ')}`);
  }
  const m = machineInfo();
  console.log(`machine : ${m.cpu}, nproc=${m.nproc}; load average ${loadavg()} at the end (other processes share these CPUs)`);
  console.log(`command : node ${process.argv.slice(1).map((x) => x.replace(repoRoot, '')).join(' ')}`);
  return 0;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  installCleanupHandlers();
  if (opts.dist) return runChild(opts);
  requireBuild();
  if (opts.old.length > 0) {
    printHeader('call cycles: CPU per Dialplane-originated call, builds compared (UDP, 127.0.0.1, SIPp uas)');
    return runComparison(opts);
  }
  printHeader('call cycles/s: SIPp uac -> SIPp uas, and Dialplane-originated calls -> SIPp uas (UDP, 127.0.0.1)');
  console.log(`sipp    : ${sippVersion()} (/usr/bin/sipp, each run under coreutils timeout)`);
  console.log(
    `options : --calls=${opts.calls} --window=${opts.window} --max-seconds=${opts.maxSeconds} --sipp-calls=${opts.sippCalls} ` +
      `--sipp-rate=${opts.sippRate} --sipp-limit=${opts.sippLimit} --sipp-buff=${opts.sippBuff} --via=${opts.via}${opts.sipRcvbuf !== undefined ? ` --sip-rcvbuf=${opts.sipRcvbuf}` : ''}${opts.cpuProf ? ` --cpu-prof=${opts.cpuProf}` : ''}`,
  );
  const loadStart = loadavg();
  const dir = makeTempDir('dialplane-call-cycles-');
  const dp = await importDist();
  let failedToRun = false;
  try {
    console.log(`\n(a) SIPp uac -> SIPp uas: ${opts.sippCalls} calls at -r ${opts.sippRate} -l ${opts.sippLimit} ...`);
    const a = await runSippBaseline(opts, dir);
    console.log(`    uas: ${a.uasCommand}`);
    console.log(`    uac: ${a.uacCommand}`);
    console.log(`    uac ${describeSippExit(a.uacExit)}; uas ${describeSippExit(a.uasExit)} (stopped by us once the uac was done)`);
    if (a.uac) {
      console.log(
        `    ${fmt(a.uac.successful)} successful, ${fmt(a.uac.failed)} failed${Object.keys(a.uac.failures).length ? ` ${JSON.stringify(a.uac.failures)}` : ''}, ` +
          `${fmt(a.uac.retransmissions)} retransmissions, in ${fmt(a.uac.seconds, 3)} s -> ${fmt(a.rate)} cycles/s ` +
          `(sipp's own CallRate(C) ${fmt(a.uac.callRate, 1)}; -r ${opts.sippRate})`,
      );
    }
    for (const p of a.problems) console.log(`    PROBLEM: ${p}`);
    if (a.problems.length) failedToRun = true;

    console.log(`\n(b) Dialplane (in-process, from dist/) -> SIPp uas: ${opts.calls} calls, window ${opts.window}, at most ${opts.maxSeconds} s, ${opts.via === 'control' ? "through CallControl.start() with the program [{verb:'hangup'}], trunk legs billed" : 'bare legs through CallEngine.place(), hung up with CallEngine.hangup(), not billed'} ...`);
    const b = await runDialplane(opts, dir, dp);
    console.log(`    uas: ${b.uasCommand}`);
    console.log(`    dialplane env: ${Object.entries(b.env).map(([k, v]) => `${k}=${k === 'DIALPLANE_DATA_DIR' ? '<tmp>' : v}`).join(' ')}`);
    console.log(
      `    uas ${describeSippExit(b.uasExit)}${b.uasExit.stoppedByUs ? ' (stopped by us with SIGINT: its calls still in their 4 s timewait are not counted as successful)' : ''}`,
    );
    console.log(
      `    placed ${fmt(b.launched)}, completed ${fmt(b.completed)}, failed ${fmt(b.failed)} in ${fmt(b.seconds, 3)} s -> ${fmt(b.rate)} cycles/s` +
        `${b.hitDeadline ? ` (stopped placing at --max-seconds=${opts.maxSeconds})` : ''}`,
    );
    console.log(`    cycle latency (${opts.via === 'control' ? 'start()' : 'place()'} -> ended): p50 ${fmt(b.latency.p50, 1)} ms, p99 ${fmt(b.latency.p99, 1)} ms, max ${fmt(b.latency.max, 1)} ms`);
    const inner = b.perSecond.slice(1, -1).sort((x, y) => x - y);
    console.log(
      `    ended per second: ${b.perSecond.join(' ')}  (median of the whole seconds between the first and the last: ${fmt(percentile(inner, 50))})`,
    );
    console.log(
      `    until the last call ended: event loop busy ${fmt(100 * b.elu)}%, process CPU ${fmt(100 * b.cpuShare)}% of one core ` +
        `(${fmt(b.cpuPerCallMs, 2)} ms CPU per ended call, SIPp excluded); ` +
        `event-loop delay: p50 ${fmt(b.loopDelayMs.p50, 1)} ms, p99 ${fmt(b.loopDelayMs.p99, 1)} ms, max ${fmt(b.loopDelayMs.max, 1)} ms;\n    ` +
        `SIP sent by Dialplane: ${[...b.sent].map(([k, n]) => `${k}=${n}`).join(' ')}`,
    );
    console.log(
      `    UDP datagrams dropped by the kernel (receive buffer full, /proc/net/udp): Dialplane SIP socket :${b.sipPort} ` +
        `${b.sipDrops ? fmt(b.sipDrops.drops) : 'n/a'}, uas socket ${b.uasDrops ? fmt(b.uasDrops.drops) : 'n/a (exited)'}; ` +
        `Dialplane SIP socket SO_RCVBUF ${fmt(b.rcvbufDefault)} bytes as Dialplane opens it` +
        `${opts.sipRcvbuf !== undefined ? `, set to ${fmt(b.rcvbuf)} by --sip-rcvbuf (EXPERIMENT: not Dialplane's behaviour)` : ''}`,
    );
    console.log(`    events seen by the per-call watchers (queued and dialing are stored before one is attached): ${[...b.states].map(([s, n]) => `${s}=${n}`).join(' ')}; rows written: calls=${b.rows.calls} call_events=${b.rows.call_events}`);
    if (b.failed > 0) {
      console.log('    failed calls by outcome/cause/end reason:');
      for (const [key, n] of [...b.outcomes].sort((x, y) => y[1] - x[1])) console.log(`      ${String(n).padStart(7)}  ${key}`);
    }
    if (b.hangupErrors) console.log(`    engine.hangup() rejected ${b.hangupErrors} times`);
    if (b.uas) {
      console.log(
        `    uas side: ${fmt(b.uas.successful)} successful, ${fmt(b.uas.failed)} failed${Object.keys(b.uas.failures).length ? ` ${JSON.stringify(b.uas.failures)}` : ''}, ` +
          `${fmt(b.uas.retransmissions)} retransmissions (200 OK resent: Dialplane's ACK late or lost), ${fmt(b.uas.outOfCallMsgs)} out-of-call msgs`,
      );
    }
    if (!b.closed) console.log('    note: telephony.close() did not finish within 5 s (it waits for the unfinished calls; not waited for)');
    if (b.completed === 0) {
      console.log(`    PROBLEM: no call completed; uas log tail:\n${tail(join(dir, 'dialplane-uas.log'), 25)}`);
      failedToRun = true;
    }

    if (b.profile) {
      mkdirSync(opts.cpuProf, { recursive: true });
      const file = join(opts.cpuProf, `call-cycles-${process.pid}.cpuprofile`);
      writeFileSync(file, JSON.stringify(b.profile));
      const s = summarizeProfile(b.profile);
      console.log(`\n    CPU profile of phase (b): ${file}`);
      console.log(`    ${fmt(s.busyMs)} ms busy + ${fmt(s.idleMs)} ms idle sampled; shares below are of the busy time`);
      for (const [title, list] of [['by layer', s.layers], ['by file (native leaves folded into their caller)', s.files], ['by function (self time)', s.functions]]) {
        console.log(`    ${title}:`);
        for (const f of list) console.log(`      ${(100 * f.share).toFixed(1).padStart(5)}%  ${fmt(f.ms).padStart(6)} ms  ${f.name}`);
      }
    }

    // Side by side.
    const row = (name, rate, ok, failed, seconds, note) =>
      `${name.padEnd(32)}${fmt(rate).padStart(10)}${fmt(ok).padStart(10)}${fmt(failed).padStart(8)}${fmt(seconds, 2).padStart(9)}  ${note}`;
    console.log(`\n${'summary'.padEnd(32)}${'cycles/s'.padStart(10)}${'ok'.padStart(10)}${'failed'.padStart(8)}${'seconds'.padStart(9)}`);
    const capped = a.rate >= 0.95 * opts.sippRate;
    console.log(
      row('SIPp uac -> SIPp uas', a.rate, a.uac?.successful, a.uac?.failed, a.uac?.seconds,
        `-r ${opts.sippRate} -l ${opts.sippLimit} ${capped ? '(capped by -r: SIPp can go faster)' : '(below -r: SIPp\'s own limit here)'}`),
    );
    console.log(row('Dialplane -> SIPp uas', b.rate, b.completed, b.failed, b.seconds, `window ${opts.window}, --via=${opts.via}${opts.cpuProf ? ', under the CPU profiler' : ''}${opts.sipRcvbuf !== undefined ? ', SO_RCVBUF changed (experiment)' : ''}`));
    const met = b.rate >= TARGET_RATE && b.failed === 0;
    console.log(
      `target  : Dialplane >= ${fmt(TARGET_RATE)} cycles/s with 0 failed calls: ${met ? 'MET' : 'NOT MET'} ` +
        `(${fmt(b.rate)} cycles/s, ${b.failed} failed; ${fmt((100 * b.rate) / a.rate, 0)}% of the SIPp figure)`,
    );
    const m = machineInfo();
    console.log(`machine : ${m.cpu}, nproc=${m.nproc}; load average ${loadStart} at start, ${loadavg()} at the end (other processes share these CPUs)`);
    console.log(`command : node ${process.argv.slice(1).map((x) => x.replace(repoRoot, '')).join(' ')}`);
    const { reportFigures } = await import('./lib/report.mjs');
    reportFigures('call-cycles', [
      { figure: `originated call cycles/s (--via=${opts.via})`, value: b.rate, unit: '/s', anchor: 'SIPp uac -> SIPp uas', anchorValue: a.rate, better: 'higher' },
      { figure: 'CPU per call (Dialplane process)', value: b.cpuPerCallMs, unit: 'ms', better: 'lower' },
      { figure: 'cycle latency p99', value: b.latency.p99, unit: 'ms', better: 'lower' },
      { figure: 'failed calls', value: b.failed, unit: 'calls', better: 'lower' },
    ], [
      `${fmt(b.completed)} calls completed, window ${opts.window}; SIPp ${fmt(a.uac?.successful)} calls at -r ${opts.sippRate}${capped ? ' (capped by -r: SIPp can go faster)' : ''}.`,
      `Dialplane process CPU ${fmt(100 * b.cpuShare)}% of one core until the last call ended; target >= ${fmt(TARGET_RATE)} cycles/s with 0 failed: ${met ? 'met' : 'NOT met'}.`,
    ]);
  } finally {
    removeTempDir(dir);
  }
  return failedToRun ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error?.stack ?? error);
    process.exit(1);
  },
);
