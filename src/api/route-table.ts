import type { FastifyInstance } from 'fastify';

interface KnownRoute {
  readonly method: string;
  readonly pattern: RegExp;
}

/**
 * Fastify answers 404 for a known path with the wrong method; we answer 405 with an Allow header. Every route is
 * recorded as it is added so the not-found handler can tell the two cases apart.
 */
export function routeTable(app: FastifyInstance): { methodsFor(path: string): string[] } {
  const known: KnownRoute[] = [];
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) known.push({ method, pattern: toPattern(route.url) });
  });
  return {
    methodsFor(path: string): string[] {
      const methods = new Set(known.filter((r) => r.pattern.test(path)).map((r) => r.method));
      return [...methods].sort();
    },
  };
}

function toPattern(url: string): RegExp {
  const escaped = url
    .split('/')
    .map((segment) => {
      if (segment === '*') return '.*';
      if (segment.startsWith(':')) return '[^/]+';
      return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('/');
  return new RegExp(`^${escaped}/?$`);
}
