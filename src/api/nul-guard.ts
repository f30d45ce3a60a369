import type { FastifyRequest } from 'fastify';
import { DialplaneError } from '../errors.js';

interface Step {
  readonly key: string;
  readonly parent: Step | undefined;
}

function pathOf(step: Step | undefined): string[] {
  const path: string[] = [];
  for (let at = step; at !== undefined; at = at.parent) path.push(at.key);
  return path.reverse();
}

/**
 * The path of the first string (or key) holding U+0000, if any. Iterative, and each value keeps only a link to its
 * parent: a body may nest as deep as its size allows (a 64 KiB body of brackets is 32,000 levels), which recursion
 * would not survive and copying the path at every level would make quadratic.
 */
export function nulField(value: unknown): string[] | undefined {
  const stack: Array<{ value: unknown; at: Step | undefined }> = [{ value, at: undefined }];
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    if (typeof next.value === 'string') {
      if (next.value.includes('\u0000')) return pathOf(next.at);
      continue;
    }
    if (next.value === null || typeof next.value !== 'object') continue;
    for (const [key, item] of Object.entries(next.value)) {
      const at = { key, parent: next.at };
      if (key.includes('\u0000')) return pathOf(at);
      stack.push({ value: item, at });
    }
  }
  return undefined;
}

/**
 * PostgreSQL text cannot hold U+0000 (a query carrying one fails), and SQLite would store it: a NUL anywhere in a
 * path parameter, a declared query string or a body is refused as a validation error on both, before any handler
 * reads it. Routes without a query-string schema (DialLink's lists) read their raw query and refuse a NUL themselves
 * (invalid_filter).
 */
export async function refuseNul(request: FastifyRequest): Promise<void> {
  const parts: Array<['params' | 'querystring' | 'body', unknown]> = [['params', request.params], ['body', request.body]];
  if (request.routeOptions.schema?.querystring) parts.push(['querystring', request.query]);
  for (const [location, value] of parts) {
    const path = nulField(value);
    if (!path) continue;
    const field = path.length > 0 ? path.join('.') : undefined;
    throw new DialplaneError('validation_failed', `${field ?? `the ${location}`} must not contain a NUL character`, {
      location,
      ...(field ? { field } : {}),
    });
  }
}
