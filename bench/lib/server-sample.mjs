// What a running Dialplane server shows of itself: its resident memory from /proc and its /metrics.
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/** VmRSS and its anonymous (heap, malloc) and file-backed (code, mapped files) parts, in kB. */
function rssKb(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  const rss = field('VmRSS');
  if (!Number.isFinite(rss)) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return { rss, anon: field('RssAnon'), file: field('RssFile') + field('RssShmem') };
}

/** Prometheus text -> Map of `name{labels}` (labels as written) -> number. */
export function parseMetrics(text) {
  const values = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*(?:\{[^}]*\})?)\s+(\S+)/.exec(line);
    if (match) values.set(match[1], Number(match[2]));
  }
  return values;
}

export async function sample(server, timeoutMs = 10_000) {
  const rss = rssKb(server.child.pid);
  const response = await fetch(`${server.url}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
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
