// The soak's figures (bench/soak.mjs): work done and failed per report period, the server's samples, the report.
import os from 'node:os';
import { percentile, repoRoot, tail } from './common.mjs';
import { reportFigures } from './report.mjs';

function newPeriod() {
  return {
    calls: { started: 0, ok: 0, failed: 0, skipped: 0 },
    sms: { ok: 0, failed: 0 },
    webhooks: { ok: 0, failed: 0 },
    reads: { ok: 0, failed: 0, latencies: [] },
    samples: [],
  };
}

export class Figures {
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

export const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');
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

export function printPeriod(figures, index, periodMs, header) {
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

export function report({ opts, figures, periodMs, maxLiveCalls, hook, warmEvents, outbox, retries, lost, logFile, loadStart, failedToRun, pendingLeft }) {
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
  console.log(`  calls     ${calls.ok} completed with the keys gathered, ${calls.failed} failed, ${figures.total('calls', 'skipped')} skipped (${maxLiveCalls} live) -> ${f1(rate(calls.ok, calls.failed))}%`);
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
  const bound = (figure, unit, value, anchorValue, better) => ({ figure, unit, value, anchor: 'its bound', anchorValue, better });
  reportFigures('soak', [
    bound('RSS growth, first period to last', 'MB', rssGrowth, opts.maxRssGrowthMb, 'lower'),
    bound('heap used growth, first period to last', 'MB', heapGrowth, opts.maxHeapGrowthMb, 'lower'),
    ...[['calls', calls], ['SMS', sms], ['webhooks', webhooks], ['reads', reads]].map(([name, x]) => bound(`${name} succeeded`, '%', rate(x.ok, x.failed), opts.minSuccess, 'higher')),
    { figure: 'RSS, first period', value: first?.rssMb, unit: 'MB', better: 'lower' },
    { figure: 'RSS, last period', value: last?.rssMb, unit: 'MB', better: 'lower' },
    { figure: 'API read latency p99', value: percentile(readLatencies, 99), unit: 'ms', better: 'lower' },
    { figure: 'event-loop delay, worst p99', value: all.length ? Math.max(...all.map((x) => x.lagMs.p99)) : Number.NaN, unit: 'ms', better: 'lower' },
  ], [
    `${f1(opts.seconds / 60)} min of ${opts.callsPerMin} calls/min, ${opts.smsPerMin} SMS/min and ${opts.readsPerS} reads/s on ${opts.db}: ${calls.ok} calls, ${sms.ok} SMS, ${webhooks.ok} webhook events and ${reads.ok} reads succeeded.`,
    `Verdict: ${problems.length ? `FAIL: ${problems.join('; ')}` : 'PASS'}.`,
  ]);
  if (problems.length && failedToRun) console.log(`server log tail:\n${tail(logFile)}`);
  return problems.length ? 1 : 0;
}
