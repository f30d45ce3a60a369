import type { FastifyReply, FastifyRequest } from 'fastify';
import { Counter, Histogram, type Registry } from 'prom-client';

/** Request counts and latencies by route pattern (never the raw URL, whose ids would explode the label set). */
export function createHttpMetrics(registry: Registry): {
  /** `route` is the pattern the request matched, or 'unmatched'. */
  observe(route: string, request: FastifyRequest, reply: FastifyReply): void;
} {
  const requests = new Counter({
    name: 'dialplane_http_requests_total',
    help: 'HTTP requests answered, by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'dialplane_http_request_duration_seconds',
    help: 'HTTP request latency by method and route',
    labelNames: ['method', 'route'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  // Label children are looked up once per (method, route, status) rather than hashed on every request.
  const children = new Map<string, { count: () => void; time: (seconds: number) => void }>();
  return {
    observe(route, request, reply) {
      const key = `${request.method} ${route} ${reply.statusCode}`;
      let child = children.get(key);
      if (!child) {
        const counter = requests.labels(request.method, route, String(reply.statusCode));
        const histogram = duration.labels(request.method, route);
        child = { count: () => counter.inc(), time: (seconds) => histogram.observe(seconds) };
        children.set(key, child);
      }
      child.count();
      child.time(reply.elapsedTime / 1000);
    },
  };
}
