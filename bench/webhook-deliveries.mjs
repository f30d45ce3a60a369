#!/usr/bin/env node
// Webhook deliveries per second to a local receiver, with the SQLite (or PostgreSQL) outbox.
//
//   npx tsc -p tsconfig.json && node bench/webhook-deliveries.mjs [--rate=2500] [--duration=10] [--burst=10000]
//                                   [--endpoint-concurrency=32] [--concurrency=128] [--db=sqlite|postgres]
//
// The receiver is a separate process (plain node:http on 127.0.0.1, 200 to everything) that records, for every
// request, the time from the event's creation to its arrival. Dialplane's outbox is a fresh SQLite file (with
// --db=postgres: a fresh schema in the database of DIALPLANE_TEST_POSTGRES_URL, default
// postgres://postgres@127.0.0.1:5432/test, dropped afterwards); the real
// WebhookService writes each event in its own transaction (as a call state change does) and the real dispatcher
// delivers it through the SSRF guard and signer, with the default concurrency limits (DIALPLANE_WEBHOOK_CONCURRENCY,
// DIALPLANE_WEBHOOK_ENDPOINT_CONCURRENCY) unless told otherwise.
//
// Three runs, in one process:
//   anchor    a well-tuned sender with no outbox: undici keep-alive connections (as many as the endpoint
//             concurrency) posting the same signed bodies and headers, that many at a time: the ceiling the HTTP
//             path alone allows on this machine;
//   paced     --rate events/s for --duration s: delivered/s and event-to-delivery latency (p50, p99, max);
//   burst     --burst events written as fast as possible: how fast the dispatcher drains the outbox.
// Each run also reports the CPU time this process spent per delivery (user + system, process.cpuUsage): the writer
// of the events and the dispatcher for the paced and burst runs, the sender alone for the anchor; with --db=postgres
// the database server's own CPU is not counted. On a shared machine the rates follow the other load; CPU per delivery
// much less so.
// Targets: at least 3,000 deliveries/s sustained; p99 event-to-delivery under 100 ms paced at 2,500/s, with a
// healthy receiver.
// Exit code 0 when measured (whether or not the targets are met), 1 when something failed.
import { fork } from 'node:child_process';
import pg from 'pg';
import { Pool } from 'undici';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { installCleanupHandlers, makeTempDir, percentile, printHeader, removeTempDir, repoRoot, requireBuild, sleep, trackChild } from './lib/common.mjs';

const now = () => performance.timeOrigin + performance.now();
const POSTGRES_URL = process.env.DIALPLANE_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

if (process.argv[2] === '--receiver') {
  // The receiver process: reports counts and latencies to the parent on request.
  let latencies = [];
  let count = 0;
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const arrived = now();
      count += 1;
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        if (typeof body.data?.t === 'number') latencies.push(arrived - body.data.t);
      } catch {
        // the anchor's body carries the same field; anything else is counted only
      }
      res.writeHead(200).end();
    });
  });
  server.keepAliveTimeout = 1_000;
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
  process.on('message', (msg) => {
    if (msg === 'reset') {
      latencies = [];
      count = 0;
      process.send({ reset: true });
    } else if (msg === 'report') {
      process.send({ count, latencies });
    } else if (msg === 'exit') {
      server.close();
      process.exit(0);
    }
  });
} else {
  await main();
}

function parseArgs(argv) {
  const opts = { rate: 2500, duration: 10, burst: 10_000, endpointConcurrency: 32, concurrency: 128, db: 'sqlite' };
  for (const arg of argv) {
    const db = /^--db=(sqlite|postgres)$/.exec(arg);
    if (db) {
      opts.db = db[1];
      continue;
    }
    const match = /^--(rate|duration|burst|endpoint-concurrency|concurrency)=(\d+)$/.exec(arg);
    if (!match) throw new Error(`unknown argument ${arg}; see the comment at the top of bench/webhook-deliveries.mjs`);
    const key = match[1] === 'endpoint-concurrency' ? 'endpointConcurrency' : match[1];
    opts[key] = Number(match[2]);
  }
  if (!(opts.rate >= 1 && opts.rate <= 20_000)) throw new Error('--rate must be 1..20000');
  if (!(opts.duration >= 1 && opts.duration <= 120)) throw new Error('--duration must be 1..120');
  if (!(opts.burst >= 1 && opts.burst <= 100_000)) throw new Error('--burst must be 1..100000');
  if (!(opts.endpointConcurrency >= 1 && opts.endpointConcurrency <= opts.concurrency)) {
    throw new Error('--endpoint-concurrency must be 1..--concurrency');
  }
  return opts;
}

function ask(child, message, key) {
  return new Promise((resolve) => {
    const onMessage = (reply) => {
      if (key in reply) {
        child.off('message', onMessage);
        resolve(reply);
      }
    };
    child.on('message', onMessage);
    child.send(message);
  });
}

/** CPU time (user + system) this process has used, in ms. */
function cpuMs() {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/** CPU per delivery, in microseconds. */
function perDelivery(cpu, count) {
  return count === 0 ? 'n/a' : `${((cpu * 1000) / count).toFixed(0)} µs CPU each`;
}

function summary(latencies) {
  const sorted = Float64Array.from(latencies).sort();
  const f = (p) => `${percentile(sorted, p).toFixed(2)} ms`;
  return sorted.length === 0 ? 'no samples' : `p50 ${f(50)}, p99 ${f(99)}, max ${sorted[sorted.length - 1].toFixed(2)} ms`;
}

async function main() {
  installCleanupHandlers();
  requireBuild();
  const opts = parseArgs(process.argv.slice(2));
  printHeader(`webhook deliveries per second, ${opts.db === 'postgres' ? 'PostgreSQL' : 'SQLite'} outbox`);
  const dist = (p) => join(repoRoot, 'dist', 'src', p);
  const { openDatabase } = await import(dist('store/database.js'));
  const { createStore } = await import(dist('store/store.js'));
  const { createServices } = await import(dist('core/services.js'));
  const { systemClock } = await import(dist('core/clock.js'));
  const { startWebhookDelivery } = await import(dist('webhook-delivery.js'));
  const { buildWebhookRequest } = await import(dist('webhooks/sender.js'));
  const pino = (await import('pino')).default;

  const receiver = trackChild(fork(fileURLToPath(import.meta.url), ['--receiver'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  const { port } = await new Promise((resolve) => receiver.once('message', resolve));
  const url = `http://127.0.0.1:${port}/hook`;
  const tmp = makeTempDir('dialplane-bench-webhooks-');
  const config = {
    allowPrivate: true,
    maxAttempts: 10,
    horizonS: 86_400,
    retryBaseMs: 30_000,
    retryMaxDelayMs: 25_200_000,
    connectTimeoutMs: 5_000,
    timeoutMs: 10_000,
    concurrency: opts.concurrency,
    endpointConcurrency: opts.endpointConcurrency,
  };
  let database;
  let delivery;
  const schema = `bench_webhooks_${process.pid}`;
  try {
    // Anchor: undici keep-alive connections posting the same signed requests with no outbox, as many in flight as the
    // endpoint cap allows.
    const anchorPool = new Pool(`http://127.0.0.1:${port}`, { connections: opts.endpointConcurrency, keepAliveTimeoutThreshold: 300 });
    const anchorCount = Math.min(opts.burst, 5_000);
    await ask(receiver, 'reset', 'reset');
    let next = 0;
    const anchorStart = now();
    const anchorCpu = cpuMs();
    const worker = async () => {
      while (next < anchorCount) {
        const i = next++;
        const payload = JSON.stringify({ id: `evt_${i}`, type: 'bench.event', data: { i, t: now() } });
        const request = buildWebhookRequest(
          { id: `whd_${i}`, eventId: `evt_${i}`, endpointId: null, targetKey: url, url, eventType: 'bench.event', payload, signatureHeader: null, secrets: ['whsec_bench'], attempts: 0, firstAttemptAt: null },
          1,
          Date.now(),
        );
        const response = await anchorPool.request({ method: 'POST', path: '/hook', headers: request.headers, body: request.body });
        await response.body.dump();
        if (response.statusCode !== 200) throw new Error(`anchor request failed: HTTP ${response.statusCode}`);
      }
    };
    await Promise.all(Array.from({ length: opts.endpointConcurrency }, worker));
    const anchorSeconds = (now() - anchorStart) / 1000;
    const anchorCpuUsed = cpuMs() - anchorCpu;
    await anchorPool.close();
    const anchorRate = anchorCount / anchorSeconds;

    if (opts.db === 'postgres') {
      const admin = new pg.Client({ connectionString: POSTGRES_URL });
      await admin.connect();
      await admin.query(`create schema ${schema}`);
      await admin.end();
      database = await openDatabase({ url: POSTGRES_URL, dialect: 'postgres', schema });
    } else {
      database = await openDatabase({ url: join(tmp, 'bench.sqlite'), dialect: 'sqlite' });
    }
    const services = createServices(createStore(database), { clock: systemClock, defaultCountry: 'US', keyCacheTtlMs: 60_000 });
    const { account } = await services.accounts.create({ name: 'Bench', email: 'bench@example.com' });
    await services.webhooks.createEndpoint(account.id, { url, secret: 'whsec_bench_secret_0123456789' });
    // Counted around the outbox (same object, same methods): how many claims and outcome writes the deliveries took.
    const outbox = services.store.webhooks;
    const tally = { claims: 0, claimed: 0, writes: 0, written: 0 };
    const claimDue = outbox.claimDue.bind(outbox);
    const completeAll = outbox.completeAll?.bind(outbox);
    outbox.claimDue = async (input) => {
      const claimed = await claimDue(input);
      tally.claims += 1;
      tally.claimed += claimed.length;
      return claimed;
    };
    if (completeAll) {
      outbox.completeAll = async (records) => {
        await completeAll(records);
        tally.writes += 1;
        tally.written += records.length;
      };
    }
    const tallied = () => {
      const text =
        `${tally.claims} claims (${(tally.claimed / Math.max(1, tally.claims)).toFixed(1)} deliveries each)` +
        (completeAll ? `, ${tally.writes} outcome writes (${(tally.written / Math.max(1, tally.writes)).toFixed(1)} each)` : '');
      Object.assign(tally, { claims: 0, claimed: 0, writes: 0, written: 0 });
      return text;
    };
    delivery = startWebhookDelivery(config, services, pino({ level: 'silent' }));
    const emit = (i) => services.webhooks.emit(services.webhooks.event(account.id, 'bench.event', { i, t: now() }));

    async function drained(expected, limitMs) {
      const deadline = Date.now() + limitMs;
      for (;;) {
        const { count } = await ask(receiver, 'report', 'count');
        if (count >= expected || Date.now() > deadline) return count;
        await sleep(50);
      }
    }

    // Paced: one event per transaction at --rate, scheduled against the start so the rate does not drift.
    await ask(receiver, 'reset', 'reset');
    tallied();
    const total = opts.rate * opts.duration;
    const pacedStart = now();
    const pacedCpu = cpuMs();
    const writes = [];
    for (let i = 0; i < total; i++) {
      const due = pacedStart + (i * 1000) / opts.rate;
      const wait = due - now();
      if (wait > 1) await sleep(wait);
      writes.push(emit(i));
    }
    await Promise.all(writes);
    const emitted = now();
    const pacedReceived = await drained(total, 30_000);
    const pacedEnd = now();
    const pacedCpuUsed = cpuMs() - pacedCpu;
    const pacedTally = tallied();
    const paced = await ask(receiver, 'report', 'count');
    const pacedRate = pacedReceived / ((pacedEnd - pacedStart) / 1000);

    // Burst: everything written as fast as the writer can, then drained.
    await ask(receiver, 'reset', 'reset');
    tallied();
    const burstStart = now();
    const burstCpu = cpuMs();
    const burstWrites = [];
    for (let i = 0; i < opts.burst; i++) burstWrites.push(emit(i));
    await Promise.all(burstWrites);
    const burstWritten = now();
    const burstReceived = await drained(opts.burst, 60_000);
    const burstEnd = now();
    const burstCpuUsed = cpuMs() - burstCpu;
    const burstTally = tallied();
    const burst = await ask(receiver, 'report', 'count');
    const counts = await services.store.webhooks.countByStatus(account.id);

    console.log(`receiver: separate process, 127.0.0.1:${port}; endpoint concurrency ${opts.endpointConcurrency}, overall ${config.concurrency}`);
    console.log('');
    console.log(
      `anchor (undici)      ${anchorCount} signed requests in ${anchorSeconds.toFixed(2)} s: ${anchorRate.toFixed(0)} requests/s; ` +
        perDelivery(anchorCpuUsed, anchorCount),
    );
    console.log(
      `paced ${opts.rate}/s x ${opts.duration} s  written in ${((emitted - pacedStart) / 1000).toFixed(2)} s; ` +
        `delivered ${pacedReceived}/${total} at ${pacedRate.toFixed(0)}/s; event-to-delivery ${summary(paced.latencies)}; ` +
        perDelivery(pacedCpuUsed, pacedReceived),
    );
    console.log(`                     ${pacedTally}`);
    console.log(
      `burst ${opts.burst}          written in ${((burstWritten - burstStart) / 1000).toFixed(2)} s; ` +
        `delivered ${burstReceived}/${opts.burst} in ${((burstEnd - burstStart) / 1000).toFixed(2)} s: ` +
        `${(burstReceived / ((burstEnd - burstStart) / 1000)).toFixed(0)}/s; event-to-delivery ${summary(burst.latencies)}; ` +
        perDelivery(burstCpuUsed, burstReceived),
    );
    console.log(`                     ${burstTally}`);
    console.log(`outbox after the runs: ${JSON.stringify(counts)}`);
    console.log(`targets: >= 3,000 deliveries/s sustained, p99 event-to-delivery < 100 ms paced at 2,500/s`);
    const { reportFigures } = await import('./lib/report.mjs');
    const p99 = (latencies) => percentile(Float64Array.from(latencies).sort(), 99);
    reportFigures('webhook-deliveries', [
      { figure: `burst of ${opts.burst}: deliveries/s`, value: burstReceived / ((burstEnd - burstStart) / 1000), unit: '/s', anchor: 'undici keep-alive, no outbox', anchorValue: anchorRate, better: 'higher' },
      { figure: `paced ${opts.rate}/s: deliveries/s`, value: pacedRate, unit: '/s', better: 'higher' },
      { figure: `paced ${opts.rate}/s: event-to-delivery p99`, value: p99(paced.latencies), unit: 'ms', better: 'lower' },
      { figure: `burst of ${opts.burst}: event-to-delivery p99`, value: p99(burst.latencies), unit: 'ms', better: 'lower' },
    ], [
      `Outbox on ${opts.db}, endpoint concurrency ${opts.endpointConcurrency}; delivered ${pacedReceived}/${total} paced and ${burstReceived}/${opts.burst} in the burst; outbox after the runs ${JSON.stringify(counts)}.`,
      'Targets: >= 3,000 deliveries/s sustained, p99 event-to-delivery < 100 ms paced at 2,500/s.',
    ]);
  } finally {
    await delivery?.close();
    await database?.close();
    if (opts.db === 'postgres') {
      const admin = new pg.Client({ connectionString: POSTGRES_URL });
      await admin.connect();
      await admin.query(`drop schema if exists ${schema} cascade`);
      await admin.end();
    }
    receiver.send('exit');
    removeTempDir(tmp);
  }
}
