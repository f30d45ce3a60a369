#!/usr/bin/env node
// CPU per call for a say + gather program, beside a bare answered call of the same length, in one run.
//
//   npx tsc -p tsconfig.json && node bench/call-program-cpu.mjs [--calls=100] [--concurrency=4] [--max-seconds=150]
//
// Dialplane's telephony (SIP stack, call engine, call control, interpreter, Flite, RTP, SQLite store) runs IN THIS
// PROCESS from dist/ (no HTTP layer), with a fresh SQLite database, DIALPLANE_TRUNK=sip:127.0.0.1:<uas port>;
// transport=udp and no trunk keepalives. The callee is SIPp's built-in `uas` with -rtp_echo (another process, so its
// CPU is not in the figures): it answers every INVITE, echoes back whatever RTP it receives, presses no key and
// waits for Dialplane's BYE. Every call is started through CallControl.start() to a phone number through that
// trunk (the leg is billed: the account is given credits first), in two kinds:
//   program: the inline program [{verb:'say',text:'Press one.'},{verb:'gather',numDigits:1,timeout:1},{verb:'hangup'}]
//            (the prompt is spoken by Flite, cached after the first synthesis; no key comes, so the gather times
//            out after 1 s and the program hangs up);
//   bare:    no program: answered, then hung up with CallEngine.hangup() (what the hangup verb ends in) after
//            the mean answered -> ended time of the program batch just before, less the mean time a bare call has taken
//            from that hang-up to its stored end, so both kinds last as long (the table shows both).
// The calls are placed in batches of --concurrency calls at once, the kinds alternating batch by batch (program,
// bare, program, ...) so that load from other processes on this shared machine falls on both alike. A batch ends
// when every call of it has ended and its charge is settled (CallControl.whenSettled); its CPU is the process's
// process.cpuUsage() (user + system) across the batch, divided by its calls. One warm-up batch of each kind runs
// first and is not counted (it synthesises the prompt and warms the JIT). Up to --calls calls of each kind; no new
// batch starts after --max-seconds. A call that does not end within 30 s fails the run. Nothing is asserted: the
// table shows CPU per call of each kind and their ratio.
//
// Exit code: 0 when it ran; 1 if something failed to run (sipp missing or exiting, a call failing or not
// completing, an exception); 2 for a bad argument. sipp runs under coreutils `timeout` as a child process with its
// own -p/-mp ports and is stopped before exit; temp directories are removed.
import { mkdirSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { HOST, installCleanupHandlers, machineInfo, makeTempDir, percentile, printHeader, removeTempDir, repoRoot, requireBuild, sleep } from './lib/common.mjs';
import { reportFigures } from './lib/report.mjs';
import { describeSippExit, sippPorts, sippVersion, startSipp, stopSipp, tail } from './lib/sipp.mjs';

const FROM = '+14155551234';
const TO = '+14155550100';
const PROGRAM = [
  { verb: 'say', text: 'Press one.' },
  { verb: 'gather', numDigits: 1, timeout: 1 },
  { verb: 'hangup' },
];
const CALL_LIMIT_MS = 30_000;

function parseArgs(argv) {
  const opts = { calls: 100, concurrency: 4, maxSeconds: 150 };
  const names = { calls: 'calls', concurrency: 'concurrency', 'max-seconds': 'maxSeconds' };
  const bounds = { calls: [1, 1000], concurrency: [1, 50], maxSeconds: [5, 900] };
  for (const arg of argv) {
    const m = /^--([a-z-]+)=(.+)$/.exec(arg);
    const key = m && names[m[1]];
    if (!key) {
      console.error(`unknown argument ${arg}; expected --name=value with name one of ${Object.keys(names).join(', ')}`);
      process.exit(2);
    }
    const value = Number(m[2]);
    const [min, max] = bounds[key];
    if (!Number.isInteger(value) || value < min || value > max) {
      console.error(`--${m[1]} must be an integer in ${min}..${max}`);
      process.exit(2);
    }
    opts[key] = value;
  }
  return opts;
}

const loadavg = () => os.loadavg().map((x) => x.toFixed(2)).join(' / ');
const fmt = (n, digits = 0) =>
  Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : 'n/a';
const mean = (xs) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN);

async function importDist() {
  const dist = (p) => import(new URL(`../dist/src/${p}`, import.meta.url).href);
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

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  installCleanupHandlers();
  requireBuild();
  printHeader('CPU per call: a say + gather program beside a bare answered call of the same length (SIPp uas -rtp_echo callee, UDP, 127.0.0.1)');
  console.log(`sipp    : ${sippVersion()} (/usr/bin/sipp, under coreutils timeout)`);
  console.log(`options : --calls=${opts.calls} --concurrency=${opts.concurrency} --max-seconds=${opts.maxSeconds}`);
  const loadStart = loadavg();
  const dir = makeTempDir('dialplane-call-program-cpu-');
  const dp = await importDist();
  let uas;
  let telephony;
  let database;
  let failedToRun = false;
  try {
    const ports = await sippPorts();
    const uasArgs = ['-sn', 'uas', '-i', HOST, '-mi', HOST, '-nostdin', '-rtp_echo', '-p', String(ports.sip), '-mp', String(ports.media)];
    const uasLog = join(dir, 'uas.log');
    uas = startSipp(uasArgs, { logFile: uasLog, limitS: opts.maxSeconds + 120, cwd: dir });
    await sleep(300);
    if (uas.child.exitCode !== null) throw new Error(`sipp uas exited at start: ${tail(uasLog)}`);
    console.log(`uas     : ${uas.command}`);

    const dataDir = join(dir, 'data');
    mkdirSync(dataDir);
    const env = {
      DIALPLANE_DATA_DIR: dataDir,
      DIALPLANE_SIP_PORT: '0',
      DIALPLANE_TRUNK: `sip:${HOST}:${ports.sip};transport=udp`,
      DIALPLANE_RTP_PORTS: '30000-39999',
      // SIPp's uas takes any new Call-ID for a call that must start with INVITE: no OPTIONS keepalives here.
      DIALPLANE_TRUNK_KEEPALIVE_S: '0',
      DIALPLANE_LOG_LEVEL: 'warn',
    };
    console.log(`dialplane env: ${Object.entries(env).map(([k, v]) => `${k}=${k === 'DIALPLANE_DATA_DIR' ? '<tmp>' : v}`).join(' ')}`);
    const config = dp.loadConfig(env, { cwd: dir });
    database = await dp.openDatabase({ url: config.database.url, dialect: config.database.dialect });
    const services = dp.createServices(dp.createStore(database), { clock: dp.systemClock, defaultCountry: 'US', keyCacheTtlMs: 60_000 });
    telephony = await dp.startTelephony(config, services, pino({ level: 'warn' }));
    const { control, engine } = telephony;
    const { account } = await services.accounts.create({ name: 'bench', email: 'bench@example.com' });
    await services.numbers.add(account.id, { number: FROM, type: 'purchased' });
    await services.credits.add(account.id, 1_000_000_000, 'bench');

    // Answered -> ended of the last program batch's calls, and hang-up -> ended of the bare calls so far: how long
    // a bare call is held before its hang-up.
    const programHeldMs = [];
    const bareEndingMs = [];

    /** One call of `kind`, from start() to its charge settled: its id, outcome and answered -> ended time. */
    async function oneCall(kind) {
      const call = await control.start(account.id, {
        from: FROM,
        to: [{ type: 'phone', number: TO }],
        ...(kind === 'program' ? { program: PROGRAM } : {}),
        ringTimeoutS: 10,
        maxDurationS: 60,
      });
      const holdMs = kind === 'bare' ? Math.max(0, mean(programHeldMs) - (bareEndingMs.length ? mean(bareEndingMs) : 0)) : undefined;
      let hungUpAt;
      let answeredAt;
      let holdTimer;
      let unwatch = () => undefined;
      // No await since start() stored the call: its 'answered' (a datagram away) cannot have been emitted yet.
      const ended = new Promise((resolve, reject) => {
        const limit = setTimeout(() => reject(new Error(`${kind} call ${call.id} did not end within ${CALL_LIMIT_MS} ms`)), CALL_LIMIT_MS);
        unwatch = services.calls.watch(call.id, (update) => {
          if (update.type !== 'event') return;
          const { event } = update;
          if (event.state === 'answered') {
            answeredAt = performance.now();
            if (kind === 'bare') holdTimer = setTimeout(() => {
              hungUpAt = performance.now();
              engine.hangup(account.id, call.id).catch(() => undefined);
            }, holdMs);
          } else if (event.state === 'ended') {
            clearTimeout(limit);
            resolve(event);
          }
        });
      });
      try {
        const event = await ended;
        const endedAt = performance.now();
        const heldMs = answeredAt === undefined ? Number.NaN : endedAt - answeredAt;
        if (hungUpAt !== undefined) bareEndingMs.push(endedAt - hungUpAt);
        await control.whenSettled(call.id);
        return { id: call.id, outcome: event.outcome, endReason: event.endReason, heldMs };
      } finally {
        unwatch();
        clearTimeout(holdTimer);
      }
    }

    /** A batch of `n` calls of `kind` at once: CPU (µs, user + system) across it and each call's result. */
    async function batch(kind, n) {
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      const results = await Promise.all(Array.from({ length: n }, () => oneCall(kind)));
      const cpu = process.cpuUsage(cpu0);
      return { kind, n, results, user: cpu.user, system: cpu.system, wallMs: performance.now() - t0 };
    }

    const stats = { program: [], bare: [] };
    const failures = [];
    const record = (b, counted) => {
      if (b.kind === 'program') programHeldMs.length = 0;
      for (const r of b.results) {
        if (r.outcome !== 'completed') failures.push(`${b.kind} call ${r.id}: outcome ${r.outcome}, end reason ${r.endReason}`);
        if (b.kind === 'program' && r.outcome === 'completed') programHeldMs.push(r.heldMs);
      }
      if (counted) stats[b.kind].push(b);
    };

    console.log(`\nwarm-up: one batch of ${opts.concurrency} calls of each kind (not counted) ...`);
    const warmProgram = await batch('program', opts.concurrency);
    record(warmProgram, false);
    const firstProgramCall = warmProgram.results[0].id;
    record(await batch('bare', opts.concurrency), false);
    if (failures.length) throw new Error(`warm-up calls failed:\n  ${failures.join('\n  ')}`);

    console.log(`measuring: up to ${opts.calls} calls of each kind, ${opts.concurrency} at a time, kinds alternating batch by batch, at most ${opts.maxSeconds} s ...`);
    const tStart = performance.now();
    let placed = 0;
    while (placed < opts.calls && performance.now() - tStart < opts.maxSeconds * 1000 && failures.length === 0) {
      const n = Math.min(opts.concurrency, opts.calls - placed);
      record(await batch('program', n), true);
      record(await batch('bare', n), true);
      placed += n;
    }
    const seconds = (performance.now() - tStart) / 1000;

    // What the program did, from one call's stored activities (a check that say and gather really ran).
    const activities = await services.calls.activities(account.id, firstProgramCall);

    const summary = (kind) => {
      const list = stats[kind];
      const calls = list.reduce((a, b) => a + b.n, 0);
      const user = list.reduce((a, b) => a + b.user, 0);
      const system = list.reduce((a, b) => a + b.system, 0);
      const perBatch = list.map((b) => (b.user + b.system) / 1e3 / b.n).sort((x, y) => x - y);
      const held = list.flatMap((b) => b.results.map((r) => r.heldMs)).filter(Number.isFinite);
      return {
        calls,
        ok: list.reduce((a, b) => a + b.results.filter((r) => r.outcome === 'completed').length, 0),
        cpuMs: (user + system) / 1e3 / calls,
        userMs: user / 1e3 / calls,
        systemMs: system / 1e3 / calls,
        p50BatchMs: percentile(perBatch, 50),
        heldMs: mean(held),
      };
    };
    const p = summary('program');
    const b = summary('bare');
    const row = (name, s) =>
      `${name.padEnd(10)}${fmt(s.calls).padStart(7)}${fmt(s.ok).padStart(7)}${fmt(s.heldMs).padStart(12)}` +
      `${fmt(s.cpuMs, 2).padStart(12)}${fmt(s.userMs, 2).padStart(9)}${fmt(s.systemMs, 2).padStart(9)}${fmt(s.p50BatchMs, 2).padStart(16)}`;
    console.log(`\n${'kind'.padEnd(10)}${'calls'.padStart(7)}${'ok'.padStart(7)}${'held ms'.padStart(12)}${'CPU ms/call'.padStart(12)}${'user'.padStart(9)}${'system'.padStart(9)}${'p50 of batches'.padStart(16)}`);
    console.log(row('program', p));
    console.log(row('bare', b));
    console.log(
      `ratio   : program / bare CPU per call ${fmt(p.cpuMs / b.cpuMs, 2)}x (p50 of batches ${fmt(p.p50BatchMs / b.p50BatchMs, 2)}x); ` +
        `program costs ${fmt(p.cpuMs - b.cpuMs, 2)} ms CPU more per call`,
    );
    console.log(
      `notes   : held = answered -> ended (mean); CPU = this process's user + system over each batch / its calls (SIPp excluded); ` +
        `${fmt(seconds, 1)} s measured; program call ${firstProgramCall} activities: ${activities.map((a) => a.kind).join(', ') || '(none)'}`,
    );
    for (const f of failures) console.log(`    FAILED: ${f}`);
    if (failures.length) failedToRun = true;
    reportFigures('call-program-cpu', [
      { figure: 'CPU per call, say + gather + hangup', value: p.cpuMs, unit: 'ms', anchor: 'bare answered call, same length', anchorValue: b.cpuMs, better: 'lower' },
      { figure: 'CPU per call, p50 of batches', value: p.p50BatchMs, unit: 'ms', anchor: 'bare answered call, same length', anchorValue: b.p50BatchMs, better: 'lower' },
    ], [
      `${p.calls} program calls and ${b.calls} bare calls, ${opts.concurrency} at a time, kinds alternating; held ${fmt(p.heldMs)} ms and ${fmt(b.heldMs)} ms (answered -> ended).`,
      'CPU = user + system of the process running Dialplane over each batch, per call; SIPp excluded.',
    ]);
    const m = machineInfo();
    console.log(`machine : ${m.cpu}, nproc=${m.nproc}; load average ${loadStart} at start, ${loadavg()} at the end (other processes share these CPUs)`);
    console.log(`command : node ${process.argv.slice(1).map((x) => x.replace(repoRoot, '')).join(' ')}`);
  } finally {
    if (telephony) {
      let closeTimer;
      await Promise.race([telephony.close(), new Promise((r) => (closeTimer = setTimeout(r, 5_000)))]);
      clearTimeout(closeTimer);
    }
    await database?.close();
    if (uas) {
      const exit = await stopSipp(uas);
      if (![0, 1].includes(exit.code) && exit.signal !== 'SIGINT') console.log(`uas     : ${describeSippExit(exit)}`);
    }
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
