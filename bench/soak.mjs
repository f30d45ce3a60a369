#!/usr/bin/env node
// Soak: a real `dialplane serve` under a paced, mixed load for minutes, watched for memory growth, event-loop delay
// and failed work.
//
//   npx tsc -p tsconfig.json && node bench/soak.mjs [--minutes=10 | --seconds=N] [--calls-per-min=30]
//        [--sms-per-min=60] [--reads-per-s=5] [--db=sqlite|postgres] [--max-rss-growth-mb=40]
//        [--max-heap-growth-mb=20] [--min-success=99]
//
// The server is `node dist/src/cli.js serve` as a user runs it (DIALPLANE_TRUNK=dev, DIALPLANE_SMSC=dev, a fresh data
// directory; SQLite by default, or with --db=postgres a fresh database made for the run on the PostgreSQL of
// DIALPLANE_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/test, and dropped at the end), all on
// 127.0.0.1. Its account gets 1,000,000 credits, and one webhook endpoint for every event type ('*') pointing to a
// receiver in this process that checks each request's X-Dialplane-Signature and counts events by id.
//
// The load, each kind paced against the start so the rate does not drift, for --minutes (fractions allowed) or
// --seconds:
//   calls     --calls-per-min POST /dialplane/v1/calls to the dev carrier's +14155557123 (answers after a second,
//             plays a tone, presses 1, 2, 3) with the program say + gather(3 digits) + hangup; each followed with
//             GET /dialplane/v1/calls/{id} until it is over. Success: outcome `completed` and the gather got `123`.
//             At most 40 calls are followed at once; a start due while 40 are live is skipped and counted.
//   SMS       --sms-per-min POST /api/v1/sms through the dev SMSC, each followed with GET /api/v1/sms/{id}.
//             Success: `delivered` (the SMSC's receipt stored) within 30 s.
//   webhooks  every call and SMS status change is an event delivered to the receiver (~5 per call, 3 per SMS).
//             Success: received with a valid signature; failures are bad signatures, deliveries the outbox marks
//             failed, retried attempts, and deliveries still pending when the run is over.
//   reads     --reads-per-s API reads in turn on GET /api/v1/me, /dialplane/v1/calls?limit=20,
//             /api/v1/sms?limit=20, /api/v1/calls?limit=20 and /dialplane/v1/calls/{the latest call}. Success: 200.
// Before the load, one call and one SMS warm the server up (the TTS engine compiles on first use); they are not
// counted. Calls, SMS and reads use their own API keys, rotated every 10 minutes, so no rate limit is reached.
//
// Every 5 s (or a tenth of the report period when shorter) the server is sampled: VmRSS (and its anonymous and
// file-backed parts, printed in the summary) from /proc/<pid>/status;
// V8's heap used and external memory and the event-loop delay from GET /metrics (prom-client's default metrics:
// its event-loop histogram, 10 ms resolution, is reset at each scrape, so each sample covers the time since the
// one before; an idle loop reads about 10 ms there, the sampling interval itself). Figures are printed per report
// period (a minute; a quarter of the run when it is shorter than 4 minutes): work done and failed, RSS (median of
// the period's samples), heap used (the period's lowest sample: what is left after a garbage collection), and the
// event-loop delay (median of the samples' p50, highest p99, highest max).
//
// Verdict. Memory growth is measured from the first period (the warmed-up baseline) to the last: PASS when RSS grew
// by less than --max-rss-growth-mb (40 MB) and heap used by less than --max-heap-growth-mb (20 MB), and at least
// --min-success percent (99) of the calls, SMS, webhook deliveries and reads succeeded; FAIL otherwise. A run
// shorter than a few minutes says little about a slow leak: the growth bound there only checks the script.
// Exit code: 0 PASS; 1 FAIL, or something failed to run (the server did not start, or exited during the run);
// 2 a bad argument. The server is stopped with SIGTERM at the end (its exit is reported); temp directories and the
// PostgreSQL database are removed; every loop is bounded in time (the run + at most ~2 minutes of draining).
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { freePort, installCleanupHandlers, makeTempDir, printHeader, removeTempDir, runCli, sleep, startDialplane, stopProcess, tail } from './lib/common.mjs';
import { sample } from './lib/server-sample.mjs';
import { startReceiver } from './lib/signed-webhook-receiver.mjs';
import { Figures, f1, printPeriod, report } from './lib/soak-figures.mjs';

const FROM = '+14155551234'; // the bootstrap account's number (voice and SMS)
const CALL_TO = '+14155557123'; // dev carrier: answers, talks a second, presses 1, 2, 3
const SMS_TO = '+14165550100'; // dev SMSC: DELIVRD 50 ms after the submit
const PROGRAM = [
  { verb: 'say', text: 'This is a soak test. Press one, two, three.' },
  { verb: 'gather', numDigits: 3, timeout: 10 },
  { verb: 'hangup' },
];
const MAX_LIVE_CALLS = 40;
const CALL_DEADLINE_MS = 60_000;
const SMS_DEADLINE_MS = 30_000;
const REQUEST_TIMEOUT_MS = 10_000;
const KEY_ROTATION_MS = 10 * 60_000;
const DRAIN_MS = 60_000;
const WEBHOOK_SECRET = `whsec_soak_${randomBytes(16).toString('hex')}`;

class UsageError extends Error {}

function parseArgs(argv) {
  const opts = {
    seconds: 600,
    callsPerMin: 30,
    smsPerMin: 60,
    readsPerS: 5,
    db: 'sqlite',
    maxRssGrowthMb: 40,
    maxHeapGrowthMb: 20,
    minSuccess: 99,
  };
  const numeric = {
    minutes: (v) => (opts.seconds = v * 60),
    seconds: (v) => (opts.seconds = v),
    'calls-per-min': (v) => (opts.callsPerMin = v),
    'sms-per-min': (v) => (opts.smsPerMin = v),
    'reads-per-s': (v) => (opts.readsPerS = v),
    'max-rss-growth-mb': (v) => (opts.maxRssGrowthMb = v),
    'max-heap-growth-mb': (v) => (opts.maxHeapGrowthMb = v),
    'min-success': (v) => (opts.minSuccess = v),
  };
  for (const arg of argv) {
    const match = /^--([a-z-]+)=(.+)$/.exec(arg);
    if (match?.[1] === 'db') {
      if (match[2] !== 'sqlite' && match[2] !== 'postgres') throw new UsageError('--db must be sqlite or postgres');
      opts.db = match[2];
      continue;
    }
    const set = match && numeric[match[1]];
    if (!set) throw new UsageError(`unknown argument ${arg}; see the comment at the top of bench/soak.mjs`);
    const value = Number(match[2]);
    if (!Number.isFinite(value) || value < 0) throw new UsageError(`bad value in ${arg}`);
    set(value);
  }
  if (!(opts.seconds >= 10 && opts.seconds <= 4 * 3600)) throw new UsageError('the run must last 10 s to 4 hours (--minutes or --seconds)');
  if (!(opts.callsPerMin <= 120)) throw new UsageError('--calls-per-min must be 0..120');
  if (!(opts.smsPerMin <= 600)) throw new UsageError('--sms-per-min must be 0..600');
  if (!(opts.readsPerS <= 50)) throw new UsageError('--reads-per-s must be 0..50');
  if (!(opts.minSuccess <= 100)) throw new UsageError('--min-success must be 0..100');
  return opts;
}

// ---------------------------------------------------------------------------------------------------------------
// Setup: keys, credits, the webhook endpoint; optionally a PostgreSQL database of its own.

async function createPostgresDatabase() {
  const pg = (await import('pg')).default;
  const base = process.env.DIALPLANE_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const name = `dialplane_soak_${process.pid}_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: base, connectionTimeoutMillis: 5_000 });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: base, connectionTimeoutMillis: 5_000 });
      await client.connect();
      await client.query(`drop database if exists ${name} with (force)`);
      await client.end();
    },
  };
}

async function setUp(server, dataDir, hookUrl, opts) {
  const first = JSON.parse(await runCli(['keys', 'create', '--name', 'soak', '--json'], server.env));
  const accountId = first.key?.account_id;
  if (typeof first.api_key !== 'string' || !accountId) throw new Error(`unexpected output of keys create: ${JSON.stringify(first)}`);
  const adminToken = readFileSync(join(dataDir, 'admin.token'), 'utf8').trim();
  const admin = async (path, body) => {
    const response = await fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const json = await response.json();
    if (response.status !== 201) throw new Error(`POST ${path}: ${response.status} ${JSON.stringify(json)}`);
    return json;
  };
  await admin(`/admin/v1/accounts/${accountId}/credits`, { amount: 1_000_000, description: 'soak' });
  await admin(`/admin/v1/accounts/${accountId}/webhooks/endpoints`, { url: hookUrl, event_types: ['*'], secret: WEBHOOK_SECRET });
  // One key per kind of traffic and per KEY_ROTATION_MS of the run, so per-key rate limits are never what is measured.
  const rotations = Math.ceil((opts.seconds * 1000 + DRAIN_MS) / KEY_ROTATION_MS) + 1;
  const keys = { calls: [first.api_key], sms: [], reads: [] };
  for (const kind of Object.keys(keys)) {
    while (keys[kind].length < rotations) {
      keys[kind].push((await admin(`/admin/v1/accounts/${accountId}/keys`, { name: `soak-${kind}-${keys[kind].length}`, permission: 'full' })).api_key);
    }
  }
  let rotationStart = performance.now();
  return {
    startRotation: () => (rotationStart = performance.now()),
    key: (kind) => keys[kind][Math.min(keys[kind].length - 1, Math.floor((performance.now() - rotationStart) / KEY_ROTATION_MS))],
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The load.

async function request(server, key, method, path, body) {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const text = await response.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, json };
}

function describeError(error) {
  return error?.name === 'TimeoutError' ? 'request timed out' : `${error?.code ?? error?.name ?? 'error'}: ${error?.message ?? error}`;
}

/** One call: started, then read until it is over. Resolves { ok, why }. */
async function oneCall(server, key, latest) {
  const started = await request(server, key, 'POST', '/dialplane/v1/calls', { from: FROM, to: CALL_TO, ring_timeout: 20, time_limit: 60, program: PROGRAM });
  if (started.status !== 201) return { ok: false, why: `start ${started.status} ${started.json?.error?.code ?? ''}`.trim() };
  const id = started.json.call_id;
  latest.callId = id;
  const deadline = performance.now() + CALL_DEADLINE_MS;
  await sleep(3_000);
  while (performance.now() < deadline) {
    const read = await request(server, key, 'GET', `/dialplane/v1/calls/${id}`);
    if (read.status !== 200) return { ok: false, why: `read ${read.status}` };
    const call = read.json;
    if (!call.live) {
      const digits = call.activities?.find((a) => a.kind === 'gather')?.data?.digits;
      if (call.outcome === 'completed' && digits === '123') return { ok: true };
      return { ok: false, why: `outcome ${call.outcome}/${call.end_reason}, gathered ${digits === undefined ? 'nothing' : `${digits.length} digit(s) not as pressed`}` };
    }
    await sleep(1_000);
  }
  return { ok: false, why: `still live after ${CALL_DEADLINE_MS / 1000} s` };
}

/** One SMS: sent, then read until delivered. */
async function oneSms(server, key, i) {
  const sent = await request(server, key, 'POST', '/api/v1/sms', { from: FROM, to: SMS_TO, body: `Soak message ${i}: nothing to reply.` });
  if (sent.status !== 201) return { ok: false, why: `send ${sent.status} ${sent.json?.error?.code ?? sent.json?.code ?? ''}`.trim() };
  const id = sent.json.message_id;
  const deadline = performance.now() + SMS_DEADLINE_MS;
  await sleep(300);
  while (performance.now() < deadline) {
    const read = await request(server, key, 'GET', `/api/v1/sms/${id}`);
    if (read.status !== 200) return { ok: false, why: `read ${read.status}` };
    if (read.json.status === 'delivered') return { ok: true };
    if (read.json.status !== 'queued' && read.json.status !== 'sent') return { ok: false, why: `status ${read.json.status}` };
    await sleep(500);
  }
  return { ok: false, why: `not delivered after ${SMS_DEADLINE_MS / 1000} s` };
}

const READS = [
  () => '/api/v1/me',
  () => '/dialplane/v1/calls?limit=20',
  () => '/api/v1/sms?limit=20',
  () => '/api/v1/calls?limit=20',
  (latest) => (latest.callId ? `/dialplane/v1/calls/${latest.callId}` : '/dialplane/v1/calls?limit=1'),
];

/** Runs `fn(i)` at `perSecond` from now until `untilMs`, each due time fixed against the start. */
async function paced(perSecond, untilMs, fn) {
  if (perSecond <= 0) return;
  const start = performance.now();
  for (let i = 0; ; i++) {
    const due = start + (i * 1000) / perSecond;
    if (due >= untilMs) return;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    fn(i);
  }
}

// ---------------------------------------------------------------------------------------------------------------

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (error) {
    console.error(error.message);
    return 2;
  }
  installCleanupHandlers();
  const periodMs = opts.seconds >= 240 ? 60_000 : (opts.seconds * 1000) / 4;
  const sampleMs = Math.min(5_000, periodMs / 10);
  printHeader(`soak: dialplane serve (${opts.db}) under mixed load for ${f1(opts.seconds / 60)} min`);
  console.log(
    `load    : ${opts.callsPerMin} calls/min (say + gather + hangup to the dev carrier), ${opts.smsPerMin} SMS/min (dev SMSC), ` +
      `webhooks for every call and SMS event, ${opts.readsPerS} API reads/s; report every ${f1(periodMs / 1000)} s, samples every ${f1(sampleMs / 1000)} s`,
  );
  console.log(
    `bound   : RSS growth < ${opts.maxRssGrowthMb} MB and heap-used growth < ${opts.maxHeapGrowthMb} MB from the first period to the last; ` +
      `>= ${opts.minSuccess}% of calls, SMS, webhooks and reads succeed`,
  );
  const loadStart = os.loadavg().map((x) => x.toFixed(2)).join(' ');
  const tmp = makeTempDir('dialplane-soak-');
  const logFile = join(tmp, 'dialplane.log');
  const figures = new Figures(periodMs, Math.round((opts.seconds * 1000) / periodMs));
  const receiver = await startReceiver(WEBHOOK_SECRET, (ok) => figures.outcome('webhooks', ok, 'bad signature'));
  let server;
  let postgres;
  let failedToRun;
  try {
    postgres = opts.db === 'postgres' ? await createPostgresDatabase() : undefined;
    const port = await freePort();
    server = await startDialplane({
      dataDir: join(tmp, 'data'),
      port,
      logFile,
      logLevel: 'warn',
      extraEnv: postgres ? { DIALPLANE_DATABASE_URL: postgres.url } : {},
    });
    const keys = await setUp(server, join(tmp, 'data'), receiver.url, opts);
    const serverGone = () => server.child.exitCode !== null || server.child.signalCode !== null;
    console.log(`server  : pid ${server.child.pid}, ${server.url}, log level warn${postgres ? ', PostgreSQL database of its own' : ', SQLite in a fresh data directory'}`);

    // Warm-up, not counted: the first call compiles the TTS engine, the first SMS binds, the first webhook connects.
    const latest = { callId: undefined };
    const warm = await Promise.all([oneCall(server, keys.key('calls'), latest), oneSms(server, keys.key('sms'), -1)]);
    for (const w of warm) if (!w.ok) throw new Error(`warm-up failed: ${w.why}\n${tail(logFile)}`);
    const warmDeadline = performance.now() + 30_000;
    while (performance.now() < warmDeadline && (await sample(server)).outbox.pending > 0) await sleep(200);
    console.log(`warm-up : one call and one SMS done; ${receiver.stats().unique} webhook events received`);
    const warmEvents = receiver.stats().unique;

    // The load.
    keys.startRotation();
    figures.start();
    const endAt = performance.now() + opts.seconds * 1000;
    let liveCalls = 0;
    const pending = new Set();
    const track = (promise) => {
      pending.add(promise);
      promise.finally(() => pending.delete(promise));
    };
    let lastSample;
    const sampler = (async () => {
      for (let next = performance.now() + sampleMs; ; next += sampleMs) {
        const wait = next - performance.now();
        if (wait > 0) await sleep(wait);
        if (performance.now() >= endAt) return;
        if (serverGone()) return;
        try {
          lastSample = await sample(server);
          figures.period(lastSample.at)?.samples.push(lastSample);
        } catch (error) {
          console.log(`  sample failed: ${describeError(error)}`);
        }
      }
    })();
    let lastPrinted = 0;
    const printer = setInterval(() => {
      const done = Math.floor((performance.now() - figures.t0) / periodMs);
      for (; lastPrinted < Math.min(done, figures.periods.length); lastPrinted++) printPeriod(figures, lastPrinted, periodMs, lastPrinted === 0);
    }, 1000);
    const calls = paced(opts.callsPerMin / 60, endAt, () => {
      const period = figures.period();
      if (liveCalls >= MAX_LIVE_CALLS) {
        period.calls.skipped += 1;
        return;
      }
      period.calls.started += 1;
      liveCalls += 1;
      track(
        oneCall(server, keys.key('calls'), latest)
          .catch((error) => ({ ok: false, why: describeError(error) }))
          .then(({ ok, why }) => {
            liveCalls -= 1;
            figures.outcome('calls', ok, why);
          }),
      );
    });
    const sms = paced(opts.smsPerMin / 60, endAt, (i) => {
      track(
        oneSms(server, keys.key('sms'), i)
          .catch((error) => ({ ok: false, why: describeError(error) }))
          .then(({ ok, why }) => figures.outcome('sms', ok, why)),
      );
    });
    const reads = paced(opts.readsPerS, endAt, (i) => {
      const at = performance.now();
      const path = READS[i % READS.length](latest);
      track(
        request(server, keys.key('reads'), 'GET', path)
          .then(
            ({ status }) => ({ ok: status === 200, why: `${path.replace(/call_\w+/, '{id}')} answered ${status}` }),
            (error) => ({ ok: false, why: `${path.replace(/call_\w+/, '{id}')} ${describeError(error)}` }),
          )
          .then(({ ok, why }) => {
            figures.period().reads.latencies.push(performance.now() - at);
            figures.outcome('reads', ok, why);
          }),
      );
    });
    await Promise.all([calls, sms, reads, sampler]);
    if (serverGone()) {
      failedToRun = `the server exited during the run (code ${server.child.exitCode}, signal ${server.child.signalCode}):\n${tail(logFile)}`;
    }

    // Drain: the work started is followed to its end (each piece has its own deadline), then the outbox.
    const drainStart = performance.now();
    await Promise.race([Promise.allSettled([...pending]), sleep(DRAIN_MS + CALL_DEADLINE_MS)]);
    let final = failedToRun ? undefined : await sample(server);
    while (final && final.outbox.pending > 0 && performance.now() - drainStart < DRAIN_MS) {
      await sleep(500);
      final = await sample(server);
    }
    clearInterval(printer);
    for (; lastPrinted < figures.periods.length; lastPrinted++) printPeriod(figures, lastPrinted, periodMs, lastPrinted === 0);

    // Webhooks: what the outbox could not deliver counts against them.
    const hook = receiver.stats();
    const outbox = final?.outbox ?? lastSample?.outbox ?? { pending: Number.NaN, delivered: Number.NaN, failed: Number.NaN };
    const retries = final?.retries ?? lastSample?.retries ?? 0;
    const lost = outbox.pending + outbox.failed + retries;
    if (lost > 0) figures.failures.set('webhooks: pending at the end, failed or retried in the outbox', lost);

    return report({ opts, figures, periodMs, maxLiveCalls: MAX_LIVE_CALLS, hook, warmEvents, outbox, retries, lost, logFile, loadStart, failedToRun, pendingLeft: pending.size });
  } finally {
    receiver.closeIdle();
    await receiver.close();
    if (server) {
      const stop = await stopProcess(server.child, { signal: 'SIGTERM', timeoutMs: 15_000 });
      console.log(`shutdown: SIGTERM -> ${stop.forced ? 'did not exit within 15 s, killed' : `exit code ${stop.code}${stop.signal ? `, signal ${stop.signal}` : ''}`}`);
    }
    await postgres?.drop().catch((error) => console.log(`could not drop the PostgreSQL database: ${error.message}`));
    removeTempDir(tmp);
  }
}


main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error?.stack ?? error);
    process.exit(1);
  },
);
