#!/usr/bin/env node
// GET /api/v1/me throughput and latency, against a bare Fastify route as the baseline, in one run.
//
//   npx tsc -p tsconfig.json && node bench/me-throughput.mjs [--duration=10] [--connections=10] [--rate=1000]
//        [--rate-duration=10] [--paced-duration=10] [--warmup=3] [--log-level=<level>] [--cpu-prof-dir=<dir>]
//
// --cpu-prof-dir runs the Dialplane server under `node --cpu-prof` and leaves its .cpuprofile in <dir> (open it in
// Chrome DevTools or VS Code); the profile covers the whole server life, key creation and all phases included.
//
// For each server (first the bare Fastify app in a child process, then `node dist/src/cli.js serve` with a fresh
// data directory and the default log level unless --log-level is given):
//   1. warm-up: autocannon at full speed for --warmup s (discarded, but its status codes are checked);
//   2. max throughput: autocannon, --connections connections, --duration s, as fast as the server answers;
//   3. fixed rate: autocannon with overallRate=--rate for --rate-duration s -> p50/p99 latency;
//   4. paced: an open-loop generator (node:http) sending one request every 1000/--rate ms for --paced-duration s.
// Step 4 exists because autocannon's overallRate is not evenly paced: each connection's budget for the second is
// refilled once a second and then spent back to back, so "1,000 req/s" is really ~1,000 requests sent at full speed
// at the start of every second followed by silence. Its p99 therefore describes latency during a burst at
// saturation; the paced figure describes a steady 1,000 req/s. Both are reported; the target is judged on step 3
// (the one asked for) and the paced value is shown next to it.
// Latencies are taken from each response's own hrtime duration (autocannon's 'response' event), not from
// autocannon's histogram, which keeps whole milliseconds only and, with a rate set, adds synthetic
// "coordinated-omission" samples computed from a 1 ms expected interval.
//
// Rate limiting: /api/v1/me allows 10,000 requests per hour per API key (fixed, epoch-aligned window; DialAnyone
// policy), and a 429 must not pass for a success. So every phase gets its own fresh keys, created with the CLI
// (`dialplane keys create --json` once, then the admin API the CLI uses; see keyMaker), enough for at most
// PER_KEY_BUDGET = 9,000 requests each, and the requests rotate over them round-robin: autocannon's `requests`
// array is cycled per connection, one entry per key, with prebuilt request buffers, so rotating costs the load
// generator nothing. How many requests a phase can send is bounded by what the bare Fastify route managed (the real
// server does strictly more work per request) times a safety factor of 1.5; the rate-limited phases are bounded by
// rate x (duration + 1). With 10 connections each cycling N keys, a key receives at most total/N + 10 requests, well
// inside the 1,000 of headroom between 9,000 and the limit. Any non-2xx response (429 included), socket error or
// timeout is counted, printed, and makes the script exit 1; figures are otherwise reported, not asserted (exit 0
// whether or not the targets are met).
import autocannon from 'autocannon';
import { spawn } from 'node:child_process';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  HOST,
  fileSize,
  freePort,
  installCleanupHandlers,
  makeTempDir,
  percentile,
  printHeader,
  removeTempDir,
  repoRoot,
  requireBuild,
  runCli,
  sleep,
  startDialplane,
  stopProcess,
  tail,
  trackChild,
} from './lib/common.mjs';
import { reportFigures } from './lib/report.mjs';

const PER_KEY_BUDGET = 9_000;
const SAFETY = 1.5;
const TARGET_RATIO = 0.5;
const TARGET_P99_MS = 10;
const ME_PATH = '/api/v1/me';

function parseArgs(argv) {
  const opts = { duration: 10, connections: 10, rate: 1000, rateDuration: 10, pacedDuration: 10, warmup: 3, logLevel: undefined, cpuProfDir: undefined };
  const names = {
    duration: 'duration',
    connections: 'connections',
    rate: 'rate',
    'rate-duration': 'rateDuration',
    'paced-duration': 'pacedDuration',
    warmup: 'warmup',
    'log-level': 'logLevel',
    'cpu-prof-dir': 'cpuProfDir',
  };
  for (const arg of argv) {
    const match = /^--([a-z-]+)=(.+)$/.exec(arg);
    const key = match && names[match[1]];
    if (!key) throw new Error(`unknown argument ${arg}; see the comment at the top of bench/me-throughput.mjs`);
    const text = key === 'logLevel' || key === 'cpuProfDir';
    opts[key] = text ? match[2] : Number(match[2]);
    if (!text && !(opts[key] >= 0 && Number.isFinite(opts[key]))) throw new Error(`bad value in ${arg}`);
  }
  if (opts.duration < 1 || opts.connections < 1 || opts.rate < 1) throw new Error('duration, connections and rate must be >= 1');
  // Everything is bounded: no phase longer than 30 s (the defaults make a run of ~70 s, well under 2 minutes).
  for (const k of ['duration', 'rateDuration', 'pacedDuration', 'warmup']) if (opts[k] > 30) throw new Error(`--${k} at most 30`);
  return opts;
}

const version = (name) => createRequire(join(repoRoot, 'package.json'))(`${name}/package.json`).version;

// -------------------------------------------------------------------------------------------------------------
// Load generation

/** One autocannon run; collects per-response latencies (ms, float) unless `collect` is false. */
async function cannon({ url, requests, connections, duration, overallRate, collect = true }) {
  const latencies = [];
  const instance = autocannon({
    url,
    connections,
    duration,
    requests,
    ...(overallRate ? { overallRate } : {}),
  });
  if (collect) {
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime);
    });
  }
  const result = await instance;
  latencies.sort((a, b) => a - b);
  const ok = result['2xx'];
  return {
    ok,
    non2xx: result.non2xx,
    statusCodes: Object.fromEntries(Object.entries(result.statusCodeStats).map(([code, v]) => [code, v.count])),
    errors: result.errors,
    timeouts: result.timeouts,
    duration: result.duration,
    rps: ok / result.duration,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: latencies.at(-1) ?? Number.NaN,
  };
}

/**
 * Open-loop paced load: request i is sent at start + i/rate seconds whether or not earlier ones were answered
 * (node:http, keep-alive pool). Latency is measured from the moment each request is sent; `maxLagMs` says how late
 * the generator itself sent any request (timer granularity), so a reader can tell generator noise from server delay.
 */
function paced({ url, headersList, rate, durationS }) {
  const { hostname, port } = new URL(url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const total = Math.round(rate * durationS);
  const latencies = [];
  const statusCodes = {};
  let errors = 0;
  let sent = 0;
  let finished = 0;
  let maxLagMs = 0;
  return new Promise((resolve) => {
    const start = performance.now();
    const done = () => {
      if (++finished < total) return;
      agent.destroy();
      latencies.sort((a, b) => a - b);
      const elapsed = (performance.now() - start) / 1000;
      const ok = latencies.length;
      resolve({
        ok,
        non2xx: Object.entries(statusCodes).reduce((n, [code, c]) => n + (code >= 200 && code < 300 ? 0 : c), 0),
        statusCodes,
        errors,
        timeouts: 0,
        duration: elapsed,
        rps: ok / elapsed,
        p50: percentile(latencies, 50),
        p99: percentile(latencies, 99),
        max: latencies.at(-1) ?? Number.NaN,
        maxLagMs,
      });
    };
    const fire = (i) => {
      const t0 = performance.now();
      maxLagMs = Math.max(maxLagMs, t0 - (start + (i * 1000) / rate));
      const request = http.request(
        { host: hostname, port, path: ME_PATH, method: 'GET', agent, headers: headersList[i % headersList.length] },
        (response) => {
          response.on('data', () => {});
          response.on('end', () => {
            const code = response.statusCode;
            statusCodes[code] = (statusCodes[code] ?? 0) + 1;
            if (code >= 200 && code < 300) latencies.push(performance.now() - t0);
            done();
          });
        },
      );
      request.setTimeout(10_000, () => request.destroy(new Error('timeout')));
      request.on('error', () => {
        errors++;
        done();
      });
      request.end();
    };
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1000) + 1);
      while (sent < due) fire(sent++);
      if (sent < total) setTimeout(tick, 1);
    };
    tick();
  });
}

// -------------------------------------------------------------------------------------------------------------
// Servers

async function startBare(body) {
  const child = trackChild(
    spawn(process.execPath, [join(repoRoot, 'bench', 'lib', 'bare-fastify-server.mjs')], {
      cwd: repoRoot,
      env: { ...process.env, BENCH_BODY: JSON.stringify(body), BENCH_PATH: ME_PATH, BENCH_PORT: '0' },
      stdio: ['ignore', 'pipe', 'inherit'],
    }),
  );
  const port = await new Promise((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(() => reject(new Error('bare Fastify server did not start within 10 s')), 10_000);
    child.once('exit', (code) => reject(new Error(`bare Fastify server exited with code ${code}`)));
    child.stdout.on('data', (chunk) => {
      buffer += chunk;
      const line = buffer.split('\n')[0];
      if (buffer.includes('\n')) {
        clearTimeout(timer);
        resolve(JSON.parse(line).port);
      }
    });
  });
  child.stdout.resume();
  return { child, url: `http://${HOST}:${port}` };
}

function aliveOrThrow(child, name, logFile) {
  if (child.exitCode !== null || child.signalCode !== null) {
    throw new Error(`${name} exited during the benchmark (code ${child.exitCode}, signal ${child.signalCode})${logFile ? `:\n${tail(logFile)}` : ''}`);
  }
}

function requestsFor(keys) {
  return keys.map((key) => ({ method: 'GET', path: ME_PATH, headers: { authorization: `Bearer ${key}` } }));
}

/**
 * Makes API keys for the benchmark. The first with the CLI, `dialplane keys create --name bench --json`, exactly as
 * a user would (this also checks that path and tells the account id). The CLI costs a Node start-up per key
 * (~0.5 s), so the rest go straight to the admin API the CLI itself calls while a server runs
 * (POST /admin/v1/accounts/:id/keys with the admin token the server left in its data directory): same code path
 * in the server, milliseconds each.
 */
async function keyMaker(dial, dataDir) {
  const first = JSON.parse(await runCli(['keys', 'create', '--name', 'bench', '--json'], dial.env));
  if (typeof first.api_key !== 'string' || !first.key?.account_id) throw new Error(`unexpected output of keys create: ${JSON.stringify(first)}`);
  const accountId = first.key.account_id;
  const adminToken = readFileSync(join(dataDir, 'admin.token'), 'utf8').trim();
  let spare = first.api_key;
  let n = 0;
  const one = async () => {
    if (spare) {
      const key = spare;
      spare = undefined;
      return key;
    }
    const response = await fetch(`${dial.url}/admin/v1/accounts/${accountId}/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: `bench-${++n}`, permission: 'full' }),
    });
    const body = await response.json();
    if (response.status !== 201 || typeof body.api_key !== 'string') throw new Error(`creating a key: ${response.status} ${JSON.stringify(body)}`);
    return body.api_key;
  };
  /** Fresh keys enough for `expected` requests at PER_KEY_BUDGET each. */
  return async (expected) => {
    const keys = [];
    for (let i = Math.ceil(expected / PER_KEY_BUDGET); i > 0; i--) keys.push(await one());
    return keys;
  };
}

/** Runs the four phases against one server. `requestsForPhase(phase, expectedRequests)` supplies the requests. */
async function measure(name, url, opts, requestsForPhase, checkAlive) {
  const results = {};
  const log = (text) => console.log(`  [${name}] ${text}`);
  if (opts.warmup > 0) {
    log(`warm-up ${opts.warmup} s`);
    results.warmup = await cannon({
      url,
      connections: opts.connections,
      duration: opts.warmup,
      requests: await requestsForPhase('warmup', opts.warmup),
      collect: false,
    });
    checkAlive();
  }
  log(`max throughput ${opts.duration} s, ${opts.connections} connections`);
  results.max = await cannon({
    url,
    connections: opts.connections,
    duration: opts.duration,
    requests: await requestsForPhase('max', opts.duration),
  });
  checkAlive();
  if (opts.rateDuration > 0) {
    log(`fixed rate ${opts.rate} req/s (autocannon overallRate) ${opts.rateDuration} s`);
    results.rate = await cannon({
      url,
      connections: opts.connections,
      duration: opts.rateDuration,
      overallRate: opts.rate,
      requests: await requestsForPhase('rate', opts.rateDuration),
    });
    checkAlive();
  }
  if (opts.pacedDuration > 0) {
    log(`paced ${opts.rate} req/s (open loop, node:http) ${opts.pacedDuration} s`);
    const requests = await requestsForPhase('paced', opts.pacedDuration);
    results.paced = await paced({ url, headersList: requests.map((r) => r.headers), rate: opts.rate, durationS: opts.pacedDuration });
    checkAlive();
  }
  return results;
}

// -------------------------------------------------------------------------------------------------------------
// Report

const fmt = (n, digits = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : 'n/a');
const ms = (n) => (Number.isFinite(n) ? `${n.toFixed(2)} ms` : 'n/a');

function problems(name, results) {
  const out = [];
  for (const [phase, r] of Object.entries(results)) {
    if (!r) continue;
    if (r.non2xx > 0 || r.errors > 0 || r.timeouts > 0) {
      out.push(`${name} ${phase}: ${r.non2xx} non-2xx (status codes ${JSON.stringify(r.statusCodes)}), ${r.errors} errors, ${r.timeouts} timeouts`);
    }
    if (r.ok === 0) out.push(`${name} ${phase}: no successful response`);
  }
  return out;
}

function printTable(bare, dial, opts) {
  const rows = [];
  const row = (label, a, b, c = '') => rows.push([label, a, b, c]);
  const ratio = dial.max.rps / bare.max.rps;
  row('', 'bare Fastify', 'Dialplane /me', 'Dialplane/bare');
  row(`max throughput (c=${opts.connections}, ${opts.duration} s)`, `${fmt(bare.max.rps)} req/s`, `${fmt(dial.max.rps)} req/s`, ratio.toFixed(2));
  row('  latency p50 / p99', `${ms(bare.max.p50)} / ${ms(bare.max.p99)}`, `${ms(dial.max.p50)} / ${ms(dial.max.p99)}`);
  row('  2xx / non-2xx / errors', `${bare.max.ok} / ${bare.max.non2xx} / ${bare.max.errors}`, `${dial.max.ok} / ${dial.max.non2xx} / ${dial.max.errors}`);
  if (bare.rate && dial.rate) {
    row(`autocannon overallRate=${opts.rate} (${opts.rateDuration} s)`, `${fmt(bare.rate.rps)} req/s`, `${fmt(dial.rate.rps)} req/s`);
    row('  latency p50', ms(bare.rate.p50), ms(dial.rate.p50));
    row('  latency p99', ms(bare.rate.p99), ms(dial.rate.p99));
    row('  latency max', ms(bare.rate.max), ms(dial.rate.max));
    row('  2xx / non-2xx / errors', `${bare.rate.ok} / ${bare.rate.non2xx} / ${bare.rate.errors}`, `${dial.rate.ok} / ${dial.rate.non2xx} / ${dial.rate.errors}`);
  }
  if (bare.paced && dial.paced) {
    row(`paced open-loop ${opts.rate} req/s (${opts.pacedDuration} s)`, `${fmt(bare.paced.rps)} req/s`, `${fmt(dial.paced.rps)} req/s`);
    row('  latency p50', ms(bare.paced.p50), ms(dial.paced.p50));
    row('  latency p99', ms(bare.paced.p99), ms(dial.paced.p99));
    row('  latency max', ms(bare.paced.max), ms(dial.paced.max));
    row('  generator max send lag', ms(bare.paced.maxLagMs), ms(dial.paced.maxLagMs));
    row('  2xx / non-2xx / errors', `${bare.paced.ok} / ${bare.paced.non2xx} / ${bare.paced.errors}`, `${dial.paced.ok} / ${dial.paced.non2xx} / ${dial.paced.errors}`);
  }
  const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i].length)));
  console.log('');
  for (const r of rows) console.log(`  ${r[0].padEnd(widths[0])}  ${r[1].padStart(widths[1])}  ${r[2].padStart(widths[2])}  ${r[3].padStart(widths[3])}`);
  console.log('');
  const verdict = (ok) => (ok ? 'met' : 'NOT met');
  console.log(`  target: Dialplane/bare throughput ratio >= ${TARGET_RATIO}: ${ratio.toFixed(2)} -> ${verdict(ratio >= TARGET_RATIO)}`);
  if (dial.rate) {
    const pacedNote = dial.paced ? ` (paced: ${ms(dial.paced.p99)} -> ${verdict(dial.paced.p99 < TARGET_P99_MS)})` : '';
    console.log(`  target: Dialplane p99 < ${TARGET_P99_MS} ms at ${opts.rate} req/s (autocannon overallRate): ${ms(dial.rate.p99)} -> ${verdict(dial.rate.p99 < TARGET_P99_MS)}${pacedNote}`);
  }
}

// -------------------------------------------------------------------------------------------------------------

async function main() {
  installCleanupHandlers();
  const opts = parseArgs(process.argv.slice(2));
  requireBuild();
  printHeader('GET /api/v1/me throughput: bare Fastify vs Dialplane');
  console.log(
    `versions: autocannon ${version('autocannon')}, fastify ${version('fastify')}; Dialplane log level: ${opts.logLevel ?? 'default (info)'}`,
  );
  console.log(
    `plan    : per server warm-up ${opts.warmup} s, max ${opts.duration} s x ${opts.connections} connections, overallRate ${opts.rate} for ${opts.rateDuration} s, paced ${opts.rate}/s for ${opts.pacedDuration} s; 127.0.0.1 only`,
  );

  const tmp = makeTempDir('dialplane-bench-me-');
  const dataDir = join(tmp, 'data');
  const logFile = join(tmp, 'dialplane.log');
  let dial;
  let bareServer;
  try {
    // The real server first, only to fetch a genuine /me answer the bare route will send back byte for byte.
    // It then idles (no requests) while the bare app is measured.
    const port = await freePort();
    console.log(`\nstarting Dialplane: node dist/src/cli.js serve (DIALPLANE_DATA_DIR=<tmp>/data DIALPLANE_HTTP_PORT=${port}${opts.logLevel ? ` DIALPLANE_LOG_LEVEL=${opts.logLevel}` : ''})`);
    dial = await startDialplane({
      dataDir,
      port,
      logFile,
      logLevel: opts.logLevel,
      nodeArgs: opts.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${opts.cpuProfDir}`] : [],
    });
    const bootstrapKey = JSON.parse(readFileSync(join(dataDir, 'bootstrap.json'), 'utf8')).apiKey;
    const probe = await fetch(`${dial.url}${ME_PATH}`, { headers: { authorization: `Bearer ${bootstrapKey}` } });
    const meText = await probe.text();
    if (probe.status !== 200) throw new Error(`GET ${ME_PATH} answered ${probe.status}: ${meText}`);
    console.log(`GET ${ME_PATH}: 200, ${Buffer.byteLength(meText)} bytes of JSON`);

    // --- bare Fastify -------------------------------------------------------------------------------------
    bareServer = await startBare(JSON.parse(meText));
    console.log(`\nbare Fastify (child process) at ${bareServer.url}${ME_PATH}`);
    // Same request bytes as for Dialplane (an Authorization header of the same length), which it ignores.
    const bareRequests = requestsFor([bootstrapKey]);
    const bare = await measure('bare', bareServer.url, opts, async () => bareRequests, () => aliveOrThrow(bareServer.child, 'bare Fastify'));
    const bareStop = await stopProcess(bareServer.child);
    if (bareStop.code !== 0) console.log(`  (bare Fastify exit code ${bareStop.code}, signal ${bareStop.signal})`);

    // --- Dialplane ----------------------------------------------------------------------------------------
    const bound = Math.max(bare.warmup?.rps ?? 0, bare.max.rps) * SAFETY;
    const expected = {
      warmup: Math.ceil(bound * opts.warmup),
      max: Math.ceil(bound * opts.duration),
      rate: opts.rateDuration > 0 ? opts.rate * (opts.rateDuration + 1) : 0,
      paced: opts.rate * opts.pacedDuration,
    };
    const keysStarted = performance.now();
    const newKeys = await keyMaker(dial, dataDir);
    const keyPools = {};
    for (const phase of ['warmup', 'max', 'rate', 'paced']) keyPools[phase] = await newKeys(expected[phase]);
    const keyCount = Object.values(keyPools).reduce((n, k) => n + k.length, 0);
    console.log(
      `\nDialplane at ${dial.url}${ME_PATH}: created ${keyCount} API keys (\`dialplane keys create --json\`, then the admin API) in ${((performance.now() - keysStarted) / 1000).toFixed(1)} s ` +
        `(${Object.entries(keyPools).map(([p, k]) => `${p} ${k.length}`).join(', ')}; <= ${PER_KEY_BUDGET} requests per key, limit 10,000/h)`,
    );
    await sleep(500);
    const logBefore = fileSize(logFile);
    const dialResults = await measure('dialplane', dial.url, opts, async (phase) => requestsFor(keyPools[phase]), () =>
      aliveOrThrow(dial.child, 'Dialplane', logFile),
    );
    const logBytes = fileSize(logFile) - logBefore;
    const dialStop = await stopProcess(dial.child);
    console.log(
      `  Dialplane wrote ${(logBytes / 1024 ** 2).toFixed(1)} MB of log during the measured phases; SIGTERM -> exit code ${dialStop.code}${dialStop.forced ? ' (had to SIGKILL)' : ''}`,
    );
    if (opts.cpuProfDir) console.log(`  CPU profile of the Dialplane server written to ${opts.cpuProfDir}`);

    printTable(bare, dialResults, opts);
    const vsBare = (figure, unit, value, anchorValue, better) => ({ figure, unit, value, anchor: 'bare Fastify route', anchorValue, better });
    reportFigures('me-throughput', [
      vsBare(`GET /api/v1/me max throughput (${opts.connections} connections)`, 'req/s', dialResults.max.rps, bare.max.rps, 'higher'),
      ...(dialResults.rate && bare.rate ? [vsBare(`latency p99 at ${opts.rate} req/s (autocannon overallRate)`, 'ms', dialResults.rate.p99, bare.rate.p99, 'lower')] : []),
      ...(dialResults.paced && bare.paced ? [vsBare(`latency p99 at ${opts.rate} req/s (paced)`, 'ms', dialResults.paced.p99, bare.paced.p99, 'lower')] : []),
    ], [`Targets: Dialplane/bare throughput >= ${TARGET_RATIO}; p99 < ${TARGET_P99_MS} ms at ${opts.rate} req/s. Dialplane logs at ${opts.logLevel ?? 'info'}.`]);

    const failures = [...problems('bare', bare), ...problems('dialplane', dialResults)];
    if (failures.length > 0) {
      console.error('\nFAILED: the figures above are not valid:');
      for (const f of failures) console.error(`  - ${f}`);
      if (failures.some((f) => f.includes('"429"'))) console.error('  (429 = rate limited: more requests than the key pool allows; see PER_KEY_BUDGET)');
      return 1;
    }
    return 0;
  } finally {
    if (bareServer) await stopProcess(bareServer.child, { timeoutMs: 3000 });
    if (dial) await stopProcess(dial.child, { timeoutMs: 5000 });
    removeTempDir(tmp);
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`\nme-throughput failed: ${err instanceof Error ? err.stack : err}`);
    process.exit(1);
  },
);
