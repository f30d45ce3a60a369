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
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  HOST,
  freePort,
  installCleanupHandlers,
  makeTempDir,
  percentile,
  printHeader,
  removeTempDir,
  repoRoot,
  runCli,
  sleep,
  startDialplane,
  stopProcess,
  tail,
} from './lib/common.mjs';

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
const WEBHOOK_SECRET = `whsec_soak_${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;

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
// Figures, per report period.

function newPeriod() {
  return {
    calls: { started: 0, ok: 0, failed: 0, skipped: 0 },
    sms: { ok: 0, failed: 0 },
    webhooks: { ok: 0, failed: 0 },
    reads: { ok: 0, failed: 0, latencies: [] },
    samples: [],
  };
}

class Figures {
  constructor(periodMs, count) {
    this.periodMs = periodMs;
    this.count = count;
    this.periods = [];
    this.t0 = undefined;
    this.failures = new Map();
  }
  start() {
    this.t0 = performance.now();
  }
  /** The period `at` falls in (what ends while draining counts in the last); before start() (warm-up), none. */
  period(at = performance.now()) {
    if (this.t0 === undefined) return undefined;
    const index = Math.min(this.count - 1, Math.max(0, Math.floor((at - this.t0) / this.periodMs)));
    while (this.periods.length <= index) this.periods.push(newPeriod());
    return this.periods[index];
  }
  /** Counted in the period it is known in. */
  outcome(kind, ok, why) {
    const period = this.period();
    if (!period) return;
    period[kind][ok ? 'ok' : 'failed'] += 1;
    if (!ok) this.failures.set(`${kind}: ${why}`, (this.failures.get(`${kind}: ${why}`) ?? 0) + 1);
  }
  total(kind, field) {
    return this.periods.reduce((sum, p) => sum + p[kind][field], 0);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The webhook receiver: checks the signature, counts each event id once.

function startReceiver(figures) {
  const seen = new Set();
  const byType = new Map();
  let badSignatures = 0;
  let requests = 0;
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      requests += 1;
      const body = Buffer.concat(chunks);
      const ok = validSignature(String(req.headers['x-dialplane-signature'] ?? ''), body);
      if (!ok) {
        badSignatures += 1;
        figures.outcome('webhooks', false, 'bad signature');
      } else {
        const id = String(req.headers['x-dialplane-event-id'] ?? '');
        if (!seen.has(id)) {
          seen.add(id);
          const type = String(req.headers['x-dialplane-event-type'] ?? '?');
          byType.set(type, (byType.get(type) ?? 0) + 1);
          figures.outcome('webhooks', true);
        }
      }
      res.writeHead(200).end();
    });
  });
  server.keepAliveTimeout = 5_000;
  return new Promise((resolve) => {
    server.listen(0, HOST, () =>
      resolve({
        url: `http://${HOST}:${server.address().port}/soak-hook`,
        stats: () => ({ unique: seen.size, requests, badSignatures, byType }),
        close: () => new Promise((r) => server.close(() => r())),
        closeIdle: () => server.closeAllConnections(),
      }),
    );
  });
}

function validSignature(header, body) {
  const t = /(?:^|,)t=(\d+)/.exec(header)?.[1];
  if (!t || Math.abs(Date.now() / 1000 - Number(t)) > 300) return false;
  const expected = createHmac('sha256', WEBHOOK_SECRET).update(`${t}.`).update(body).digest();
  return [...header.matchAll(/(?:^|,)v1=([0-9a-f]{64})/g)].some((m) => timingSafeEqual(Buffer.from(m[1], 'hex'), expected));
}

// ---------------------------------------------------------------------------------------------------------------
// The server's own figures.

/** VmRSS and its anonymous (heap, malloc) and file-backed (code, mapped files) parts, in kB. */
function rssKb(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  const rss = field('VmRSS');
  if (!Number.isFinite(rss)) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return { rss, anon: field('RssAnon'), file: field('RssFile') + field('RssShmem') };
}

/** Prometheus text -> Map of `name{labels}` (labels as written) -> number. */
function parseMetrics(text) {
  const values = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*(?:\{[^}]*\})?)\s+(\S+)/.exec(line);
    if (match) values.set(match[1], Number(match[2]));
  }
  return values;
}

async function sample(server) {
  const rss = rssKb(server.child.pid);
  const response = await fetch(`${server.url}/metrics`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  const m = parseMetrics(await response.text());
  const get = (name) => m.get(name) ?? Number.NaN;
  return {
    at: performance.now(),
    rssMb: rss.rss / 1024,
    rssAnonMb: rss.anon / 1024,
    rssFileMb: rss.file / 1024,
    heapUsedMb: get('dialplane_nodejs_heap_size_used_bytes') / 2 ** 20,
    externalMb: get('dialplane_nodejs_external_memory_bytes') / 2 ** 20,
    lagMs: {
      p50: get('dialplane_nodejs_eventloop_lag_p50_seconds') * 1000,
      p99: get('dialplane_nodejs_eventloop_lag_p99_seconds') * 1000,
      max: get('dialplane_nodejs_eventloop_lag_max_seconds') * 1000,
    },
    outbox: {
      pending: m.get('dialplane_webhook_deliveries{status="pending"}') ?? 0,
      delivered: m.get('dialplane_webhook_deliveries{status="delivered"}') ?? 0,
      failed: m.get('dialplane_webhook_deliveries{status="failed"}') ?? 0,
    },
    retries: m.get('dialplane_webhook_attempts_total{result="retry"}') ?? 0,
    handles: get('dialplane_nodejs_active_handles_total'),
  };
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
// The report.

const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');
const median = (xs) => percentile([...xs].sort((a, b) => a - b), 50);

function summarizePeriod(p) {
  const s = p.samples;
  return {
    rssMb: s.length ? median(s.map((x) => x.rssMb)) : Number.NaN,
    rssAnonMb: s.length ? median(s.map((x) => x.rssAnonMb)) : Number.NaN,
    rssFileMb: s.length ? median(s.map((x) => x.rssFileMb)) : Number.NaN,
    heapMb: s.length ? Math.min(...s.map((x) => x.heapUsedMb)) : Number.NaN,
    externalMb: s.length ? median(s.map((x) => x.externalMb)) : Number.NaN,
    lagP50: s.length ? median(s.map((x) => x.lagMs.p50)) : Number.NaN,
    lagP99: s.length ? Math.max(...s.map((x) => x.lagMs.p99)) : Number.NaN,
    lagMax: s.length ? Math.max(...s.map((x) => x.lagMs.max)) : Number.NaN,
    readP99: p.reads.latencies.length ? percentile([...p.reads.latencies].sort((a, b) => a - b), 99) : Number.NaN,
    handles: s.length ? s[s.length - 1].handles : Number.NaN,
  };
}

/** Least-squares slope of y over x. */
function slope(points) {
  const n = points.length;
  if (n < 2) return Number.NaN;
  const mx = points.reduce((a, p) => a + p[0], 0) / n;
  const my = points.reduce((a, p) => a + p[1], 0) / n;
  const sxy = points.reduce((a, p) => a + (p[0] - mx) * (p[1] - my), 0);
  const sxx = points.reduce((a, p) => a + (p[0] - mx) ** 2, 0);
  return sxx === 0 ? Number.NaN : sxy / sxx;
}

function rate(ok, failed) {
  return ok + failed === 0 ? 100 : (100 * ok) / (ok + failed);
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
  const receiver = await startReceiver(figures);
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

    return report({ opts, figures, periodMs, hook, warmEvents, outbox, retries, lost, logFile, loadStart, failedToRun, pendingLeft: pending.size });
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

function printPeriod(figures, index, periodMs, header) {
  if (header) {
    console.log('');
    console.log(
      `${'period'.padEnd(10)}${'calls ok/fail/skip'.padStart(20)}${'sms ok/fail'.padStart(13)}${'hooks ok/fail'.padStart(15)}${'reads ok/fail'.padStart(15)}` +
        `${'read p99'.padStart(10)}${'RSS MB'.padStart(9)}${'heap MB'.padStart(9)}${'ext MB'.padStart(8)}${'loop p50/p99/max ms'.padStart(22)}`,
    );
  }
  const p = figures.periods[index];
  const s = summarizePeriod(p);
  const end = ((index + 1) * periodMs) / 1000;
  console.log(
    `${`${((index * periodMs) / 1000).toFixed(0)}-${end.toFixed(0)} s`.padEnd(10)}` +
      `${`${p.calls.ok}/${p.calls.failed}/${p.calls.skipped}`.padStart(20)}${`${p.sms.ok}/${p.sms.failed}`.padStart(13)}` +
      `${`${p.webhooks.ok}/${p.webhooks.failed}`.padStart(15)}${`${p.reads.ok}/${p.reads.failed}`.padStart(15)}` +
      `${`${f1(s.readP99)} ms`.padStart(10)}${f1(s.rssMb).padStart(9)}${f1(s.heapMb).padStart(9)}${f1(s.externalMb).padStart(8)}` +
      `${`${f1(s.lagP50)}/${f1(s.lagP99)}/${f1(s.lagMax)}`.padStart(22)}`,
  );
}

function report({ opts, figures, periodMs, hook, warmEvents, outbox, retries, lost, logFile, loadStart, failedToRun, pendingLeft }) {
  const periods = figures.periods.filter((p) => p.samples.length > 0);
  const first = periods.length ? summarizePeriod(periods[0]) : undefined;
  const last = periods.length ? summarizePeriod(periods[periods.length - 1]) : undefined;
  const rssGrowth = last && first ? last.rssMb - first.rssMb : Number.NaN;
  const heapGrowth = last && first ? last.heapMb - first.heapMb : Number.NaN;
  const trend = slope(periods.slice(1).map((p, i) => [((i + 1) * periodMs) / 60_000, summarizePeriod(p).rssMb]));
  const all = figures.periods.flatMap((p) => p.samples);
  const t = (kind) => ({ ok: figures.total(kind, 'ok'), failed: figures.total(kind, 'failed') });
  const calls = t('calls');
  const sms = t('sms');
  const webhooks = { ok: figures.total('webhooks', 'ok'), failed: figures.total('webhooks', 'failed') + (Number.isFinite(lost) ? lost : 0) };
  const reads = t('reads');
  const readLatencies = figures.periods.flatMap((p) => p.reads.latencies).sort((a, b) => a - b);

  console.log('');
  console.log(`summary over ${f1(opts.seconds / 60)} min (${figures.periods.length} periods of ${f1(periodMs / 1000)} s):`);
  console.log(`  calls     ${calls.ok} completed with the keys gathered, ${calls.failed} failed, ${figures.total('calls', 'skipped')} skipped (${MAX_LIVE_CALLS} live) -> ${f1(rate(calls.ok, calls.failed))}%`);
  console.log(`  SMS       ${sms.ok} delivered, ${sms.failed} failed -> ${f1(rate(sms.ok, sms.failed))}%`);
  console.log(
    `  webhooks  ${webhooks.ok} events received with a valid signature (${warmEvents} more in the warm-up; ${hook.requests} requests in all), ` +
      `${hook.badSignatures} bad signatures; outbox at the end: ${outbox.delivered} delivered, ${outbox.pending} pending, ${outbox.failed} failed, ` +
      `${retries} attempts retried -> ${f1(rate(webhooks.ok, webhooks.failed))}%`,
  );
  console.log(`            by type: ${[...hook.byType].sort().map(([k, n]) => `${k}=${n}`).join(' ')}`);
  console.log(
    `  reads     ${reads.ok} answered 200, ${reads.failed} failed -> ${f1(rate(reads.ok, reads.failed))}%; ` +
      `latency p50 ${f1(percentile(readLatencies, 50))} ms, p99 ${f1(percentile(readLatencies, 99))} ms, max ${f1(readLatencies[readLatencies.length - 1])} ms`,
  );
  if (figures.failures.size) {
    console.log('  failures by cause:');
    for (const [why, n] of [...figures.failures].sort((a, b) => b[1] - a[1])) console.log(`    ${String(n).padStart(6)}  ${why}`);
  }
  if (pendingLeft) console.log(`  ${pendingLeft} calls/SMS/reads were still unresolved when draining stopped`);
  console.log(
    `  event loop (all samples): p50 ${f1(median(all.map((x) => x.lagMs.p50)))} ms, worst p99 ${f1(Math.max(...all.map((x) => x.lagMs.p99)))} ms, ` +
      `max ${f1(Math.max(...all.map((x) => x.lagMs.max)))} ms (prom-client, 10 ms resolution)`,
  );
  console.log(
    `  memory    RSS ${f1(first?.rssMb)} MB (first period) -> ${f1(last?.rssMb)} MB (last): ${rssGrowth >= 0 ? '+' : ''}${f1(rssGrowth)} MB; ` +
      `heap used ${f1(first?.heapMb)} -> ${f1(last?.heapMb)} MB: ${heapGrowth >= 0 ? '+' : ''}${f1(heapGrowth)} MB; ` +
      `RSS trend after the first period ${f1(trend)} MB/min; peak RSS ${f1(Math.max(...all.map((x) => x.rssMb)))} MB`,
  );
  console.log(
    `            of the RSS, anonymous ${f1(first?.rssAnonMb)} -> ${f1(last?.rssAnonMb)} MB, file-backed and shared ` +
      `${f1(first?.rssFileMb)} -> ${f1(last?.rssFileMb)} MB; external (Buffers) ${f1(first?.externalMb)} -> ${f1(last?.externalMb)} MB`,
  );
  console.log(`  machine   load average ${loadStart} at the start, ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} at the end (other processes share these CPUs)`);

  const problems = [];
  if (failedToRun) problems.push(failedToRun);
  if (!(rssGrowth < opts.maxRssGrowthMb)) problems.push(`RSS grew ${f1(rssGrowth)} MB (bound ${opts.maxRssGrowthMb} MB)`);
  if (!(heapGrowth < opts.maxHeapGrowthMb)) problems.push(`heap used grew ${f1(heapGrowth)} MB (bound ${opts.maxHeapGrowthMb} MB)`);
  for (const [name, x] of [['calls', calls], ['SMS', sms], ['webhooks', webhooks], ['reads', reads]]) {
    if (rate(x.ok, x.failed) < opts.minSuccess) problems.push(`${name}: ${f1(rate(x.ok, x.failed))}% succeeded (bound ${opts.minSuccess}%)`);
  }
  if (calls.ok === 0 && opts.callsPerMin > 0) problems.push('no call completed');
  console.log('');
  console.log(`verdict : ${problems.length ? `FAIL: ${problems.join('; ')}` : 'PASS'}`);
  console.log(`command : node ${process.argv.slice(1).map((x) => x.replace(repoRoot, '')).join(' ')}`);
  if (problems.length && failedToRun) console.log(`server log tail:\n${tail(logFile)}`);
  return problems.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error?.stack ?? error);
    process.exit(1);
  },
);
