#!/usr/bin/env node
// SMPP submit_sm throughput of SmppCarrier against DevSmsc, with every delivery receipt matched to its message.
//
//   npx tsc -p tsconfig.json && node bench/smpp-submit.mjs [--messages=5000] [--windows=10,50] [--receipt-delay=5]
//        [--max-seconds=30] [--smsc=child|inprocess]
//
// For each window size: a fresh DevSmsc (from dist/) on 127.0.0.1 with the given receipt delay, and a fresh
// SmppCarrier (from dist/) bound to it with that windowSize. The carrier is handed all --messages single-part GSM-7
// messages at once (each with its own text and a destination that is none of DevSmsc's test numbers), so it sends
// as fast as the window allows: a submit_sm goes out whenever a submit_sm_resp frees a slot. Figures:
//   submit_sm/s  = messages accepted (submit() resolved) / (time of the last acceptance - time of the first submit())
//   receipts     = receipts whose smscId is the id of a message of this run (matched), received for an id no
//                  message of the run got (unmatched), received twice for one id (duplicates), and messages without
//                  a receipt (missing); also how many receipts were emitted before the submit() of their message had
//                  resolved (the carrier emits receipts after pending promise continuations, so this should be 0)
// The summary's 'not ok' column adds up unmatched, duplicate and missing receipts.
// New messages stop being counted after --max-seconds; the run then waits at most 10 s more for receipts.
// --smsc=child (default) runs DevSmsc in a child process (this script with --child-smsc), so the carrier's event
// loop is not shared with the SMSC; --smsc=inprocess runs both in this process (one event loop for both sides).
//
// Target: >= 500 submit_sm/s accepted, with every receipt matched. Exit code: 0 when the figures were measured
// (whether or not the target is met); 1 when something failed to run; 2 for a bad argument. Loopback only; every
// wait is bounded; the child is stopped before exit.
import { fork } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { installCleanupHandlers, machineInfo, printHeader, repoRoot, requireBuild, trackChild } from './lib/common.mjs';
import { reportFigures } from './lib/report.mjs';

const TARGET_RATE = 500;
const RECEIPT_WAIT_MS = 10_000;
const thisFile = fileURLToPath(import.meta.url);

function parseArgs(argv) {
  const opts = { messages: 5000, windows: [10, 50], receiptDelay: 5, maxSeconds: 30, smsc: 'child', childSmsc: false };
  for (const arg of argv) {
    if (arg === '--child-smsc') {
      opts.childSmsc = true;
      continue;
    }
    const m = /^--([a-z-]+)=(.+)$/.exec(arg);
    if (!m) usage(arg);
    const [, name, value] = m;
    if (name === 'windows') {
      opts.windows = value.split(',').map(Number);
      if (opts.windows.some((w) => !Number.isInteger(w) || w < 1 || w > 1000)) usage(arg);
    } else if (name === 'smsc') {
      if (value !== 'child' && value !== 'inprocess') usage(arg);
      opts.smsc = value;
    } else if (name === 'messages' || name === 'receipt-delay' || name === 'max-seconds') {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 0 || (name !== 'receipt-delay' && n === 0)) usage(arg);
      if (name === 'messages') opts.messages = n;
      else if (name === 'receipt-delay') opts.receiptDelay = n;
      else opts.maxSeconds = Math.min(n, 300);
    } else {
      usage(arg);
    }
  }
  return opts;
}

function usage(arg) {
  console.error(`bad argument ${arg}; see the comment at the top of bench/smpp-submit.mjs`);
  process.exit(2);
}

const fmt = (n, digits = 0) =>
  Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : 'n/a';

// ---------------------------------------------------------------------------------------------------------------
// The SMSC, in a child process or here.

/** Child side: start DevSmsc, report its port, answer counter requests, stop on request. */
async function childMain(opts) {
  const { DevSmsc } = await import('../dist/src/sms/dev-smsc.js');
  const smsc = new DevSmsc({ receiptDelayMs: opts.receiptDelay });
  await smsc.start();
  process.on('message', async (msg) => {
    if (msg === 'counters') process.send({ counters: smsc.counters });
    if (msg === 'stop') {
      await smsc.stop();
      process.send({ stopped: true }, () => process.exit(0));
    }
  });
  process.on('disconnect', () => process.exit(0));
  process.send({ url: smsc.url });
}

function request(child, message, key, timeoutMs = 5_000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.off('message', onMessage);
      reject(new Error(`DevSmsc child did not answer '${message}' within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (reply) => {
      if (reply && key in reply) {
        clearTimeout(timer);
        child.off('message', onMessage);
        resolve(reply[key]);
      }
    };
    child.on('message', onMessage);
    if (message !== undefined) child.send(message);
  });
}

async function startSmsc(opts) {
  if (opts.smsc === 'inprocess') {
    const { DevSmsc } = await import('../dist/src/sms/dev-smsc.js');
    const smsc = new DevSmsc({ receiptDelayMs: opts.receiptDelay });
    await smsc.start();
    return { url: smsc.url, counters: async () => ({ ...smsc.counters }), stop: () => smsc.stop() };
  }
  const child = trackChild(
    fork(thisFile, ['--child-smsc', `--receipt-delay=${opts.receiptDelay}`], { cwd: repoRoot, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
  );
  const url = await request(child, undefined, 'url', 10_000);
  return {
    url,
    counters: () => request(child, 'counters', 'counters'),
    stop: async () => {
      if (child.exitCode !== null) return;
      await request(child, 'stop', 'stopped').catch(() => child.kill('SIGKILL'));
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------

async function runOne(opts, window, dist) {
  const { SmppCarrier, segment } = dist;
  const smsc = await startSmsc(opts);
  const carrier = new SmppCarrier({ url: smsc.url, windowSize: window, reconnectInitialMs: 100, unbindTimeoutMs: 1_000 });
  const idOf = new Map(); // smscId -> message index
  const receiptsById = new Map(); // smscId -> count
  let early = 0;
  let firstReceiptAt;
  let lastReceiptAt;
  carrier.on('receipt', (r) => {
    const now = performance.now();
    firstReceiptAt ??= now;
    lastReceiptAt = now;
    receiptsById.set(r.smscId, (receiptsById.get(r.smscId) ?? 0) + 1);
    if (!idOf.has(r.smscId)) early += 1;
  });
  const elu0 = performance.eventLoopUtilization();
  try {
    await carrier.start();
    const deadline = performance.now() + opts.maxSeconds * 1000;
    let accepted = 0;
    let failed = 0;
    let lastAcceptAt = 0;
    const failures = new Map();
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const all = [];
    for (let i = 0; i < opts.messages; i++) {
      const text = `bench message ${i} of ${opts.messages}`;
      const seg = segment(text);
      const to = `+1555129${String(i % 1000).padStart(3, '0')}`;
      all.push(
        carrier.submit({ from: '+15550001111', to, parts: seg.parts, dataCoding: seg.dataCoding }).then(
          ({ smscIds }) => {
            const now = performance.now();
            if (now > deadline) return;
            accepted += 1;
            lastAcceptAt = now;
            for (const id of smscIds) {
              if (idOf.has(id)) failures.set('duplicate message_id', (failures.get('duplicate message_id') ?? 0) + 1);
              idOf.set(id, i);
            }
          },
          (error) => {
            failed += 1;
            const key = error?.name ?? String(error);
            failures.set(key, (failures.get(key) ?? 0) + 1);
          },
        ),
      );
    }
    // Bounded: every submit settles (accepted, rejected, or rejected by stop() below when the deadline passes).
    let deadlineTimer;
    const hitDeadline = await Promise.race([
      Promise.all(all).then(() => false),
      new Promise((resolve) => (deadlineTimer = setTimeout(() => resolve(true), opts.maxSeconds * 1000))),
    ]);
    clearTimeout(deadlineTimer);
    const cpu = process.cpuUsage(cpu0);
    const submitSeconds = (lastAcceptAt - t0) / 1000;

    // Receipts: wait until one per accepted message has arrived, at most RECEIPT_WAIT_MS.
    const receiptDeadline = performance.now() + RECEIPT_WAIT_MS;
    while (performance.now() < receiptDeadline) {
      let matched = 0;
      for (const id of idOf.keys()) if (receiptsById.has(id)) matched += 1;
      if (matched >= idOf.size) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const elu = performance.eventLoopUtilization(elu0);
    let matched = 0;
    let unmatched = 0;
    let duplicates = 0;
    for (const [id, n] of receiptsById) {
      if (idOf.has(id)) matched += 1;
      else unmatched += 1;
      if (n > 1) duplicates += n - 1;
    }
    const counters = { ...carrier.counters };
    await carrier.stop();
    const smscCounters = await smsc.counters();
    return {
      window,
      accepted,
      failed,
      failures,
      hitDeadline,
      submitSeconds,
      rate: accepted / submitSeconds,
      receiptSeconds: lastReceiptAt !== undefined ? (lastReceiptAt - t0) / 1000 : Number.NaN,
      matched,
      unmatched,
      early,
      duplicates,
      missing: idOf.size - matched,
      counters,
      smscCounters,
      cpuMsPerMessage: (cpu.user + cpu.system) / 1000 / Math.max(1, accepted),
      elu: elu.utilization,
    };
  } finally {
    await carrier.stop();
    await smsc.stop();
  }
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.childSmsc) {
    await childMain(opts);
    return undefined;
  }
  installCleanupHandlers();
  requireBuild();
  printHeader('SMPP submit_sm/s: SmppCarrier -> DevSmsc (127.0.0.1), receipts matched to message ids');
  console.log(
    `options : --messages=${opts.messages} --windows=${opts.windows.join(',')} --receipt-delay=${opts.receiptDelay} ` +
      `--max-seconds=${opts.maxSeconds} --smsc=${opts.smsc}`,
  );
  const [{ SmppCarrier }, { segment }] = await Promise.all([import('../dist/src/sms/smpp-carrier.js'), import('../dist/src/sms/segmenter.js')]);
  const results = [];
  for (const window of opts.windows) {
    console.log(`\nwindow ${window}: ${opts.messages} single-part messages, DevSmsc ${opts.smsc === 'child' ? 'in a child process' : 'in this process'}, receipt delay ${opts.receiptDelay} ms ...`);
    const r = await runOne(opts, window, { SmppCarrier, segment });
    results.push(r);
    console.log(
      `    accepted ${fmt(r.accepted)} of ${fmt(opts.messages)} in ${fmt(r.submitSeconds, 3)} s -> ${fmt(r.rate)} submit_sm/s` +
        `${r.failed ? `; ${r.failed} failed ${JSON.stringify(Object.fromEntries(r.failures))}` : ''}${r.hitDeadline ? ` (stopped at --max-seconds=${opts.maxSeconds})` : ''}`,
    );
    console.log(
      `    receipts: ${fmt(r.matched)} matched, ${fmt(r.unmatched)} unmatched, ${fmt(r.duplicates)} duplicates, ${fmt(r.missing)} missing; ` +
        `last receipt ${fmt(r.receiptSeconds, 3)} s after the first submit(); ${fmt(r.early)} arrived before their submit() had resolved`,
    );
    console.log(
      `    carrier: submit_sm sent ${fmt(r.counters.submitSent)}, accepted ${fmt(r.counters.submitAccepted)}, retried ${fmt(r.counters.submitRetried)}, ` +
        `resent after loss ${fmt(r.counters.resentAfterLoss)}, binds ${r.counters.binds}; ${fmt(r.cpuMsPerMessage, 3)} ms CPU per message in this process, ` +
        `event loop busy ${fmt(100 * r.elu)}%`,
    );
    console.log(
      `    DevSmsc: submit_sm received ${fmt(r.smscCounters.submitReceived)}, accepted ${fmt(r.smscCounters.submitAccepted)}, ` +
        `receipts sent ${fmt(r.smscCounters.receiptsSent)}, acknowledged ${fmt(r.smscCounters.receiptsAcknowledged)}`,
    );
  }

  console.log(`\n${'summary'.padEnd(10)}${'submit_sm/s'.padStart(13)}${'accepted'.padStart(10)}${'failed'.padStart(8)}${'seconds'.padStart(9)}${'receipts ok'.padStart(13)}${'not ok'.padStart(9)}`);
  for (const r of results) {
    console.log(
      `${`window ${r.window}`.padEnd(10)}${fmt(r.rate).padStart(13)}${fmt(r.accepted).padStart(10)}${fmt(r.failed).padStart(8)}${fmt(r.submitSeconds, 2).padStart(9)}` +
        `${fmt(r.matched).padStart(13)}${fmt(r.missing + r.unmatched + r.duplicates).padStart(9)}`,
    );
  }
  for (const r of results) {
    const met = r.rate >= TARGET_RATE && r.failed === 0 && r.accepted === opts.messages && r.missing === 0 && r.unmatched === 0 && r.duplicates === 0;
    console.log(
      `target  : window ${r.window}: >= ${TARGET_RATE} submit_sm/s with every receipt matched: ${met ? 'MET' : 'NOT MET'} (${fmt(r.rate)} submit_sm/s)`,
    );
  }
  reportFigures(
    'smpp-submit',
    results.flatMap((r) => [
      { figure: `window ${r.window}: submit_sm/s accepted`, value: r.rate, unit: '/s', better: 'higher' },
      { figure: `window ${r.window}: CPU per message (carrier)`, value: r.cpuMsPerMessage, unit: 'ms', better: 'lower' },
      { figure: `window ${r.window}: receipts not matched, duplicated or missing`, value: r.missing + r.unmatched + r.duplicates, unit: 'receipts', better: 'lower' },
    ]),
    [`${opts.messages} single-part messages per window, DevSmsc ${opts.smsc === 'child' ? 'in a child process' : 'in the same process'}, receipt delay ${opts.receiptDelay} ms. Target: >= ${TARGET_RATE} submit_sm/s with every receipt matched.`],
  );
  const m = machineInfo();
  console.log(`machine : ${m.cpu}, nproc=${m.nproc}`);
  return results.every((r) => r.accepted > 0) ? 0 : 1;
}

main().then(
  (code) => {
    if (code !== undefined) process.exit(code);
  },
  (error) => {
    console.error(error?.stack ?? error);
    process.exit(1);
  },
);
