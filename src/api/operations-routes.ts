import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { DialplaneError } from '../errors.js';

export interface OperationsDeps {
  readonly metrics: Registry;
  readonly ready: () => Promise<void>;
}

const hidden = { hide: true };

/** Liveness, readiness and Prometheus metrics; unauthenticated, as orchestrators and scrapers expect. */
export function registerOperationsRoutes(app: FastifyInstance, deps: OperationsDeps): void {
  app.get('/healthz', { schema: { ...hidden } }, async () => ({ status: 'ok', service: 'dialplane' }));

  app.get('/readyz', { schema: { ...hidden } }, async () => {
    try {
      await deps.ready();
    } catch {
      throw new DialplaneError('not_ready', 'The database is not reachable');
    }
    return { status: 'ready' };
  });

  app.get('/metrics', { schema: { ...hidden } }, async (_request, reply) => {
    const body = await deps.metrics.metrics();
    return reply.type(deps.metrics.contentType).send(body);
  });
}
