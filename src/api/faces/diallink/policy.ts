import type { FastifyRequest } from 'fastify';
import type { Principal } from '../../../core/api-keys.js';
import { parseListQuery, type ListQuery, type ResourceSpec } from '../../../core/query/list-query.js';
import { DialplaneError } from '../../../errors.js';
import type { ErrorShape } from '../../faces.js';
import type { RateLimitPolicy, RouteSettings } from '../../types.js';

const MINUTE = 60_000;

/** Per key (or per sign-in): the document promises limits without numbers; 1,000 requests a minute. */
const perKey: RateLimitPolicy = { subject: 'key', scope: 'diallink', windows: [{ name: 'total', limit: 1_000, windowMs: MINUTE }] };
/** Sign-in guesses are limited per client address. */
const perAddress: RateLimitPolicy = { subject: 'ip', scope: 'diallink-auth', windows: [{ name: 'sign-in', limit: 30, windowMs: MINUTE }] };

/** X-API-KEY (the document recommends it) or a signed-in user's access token as Authorization: Bearer. */
export const dialLinkRoute: { dialplane: RouteSettings } = { dialplane: { auth: ['x-api-key', 'user-token'], rateLimit: perKey } };
export const signInRoute: { dialplane: RouteSettings } = { dialplane: { rateLimit: perAddress } };

/** "The errors come with a description explaining the issue." */
export function dialLinkError(error: DialplaneError): ErrorShape {
  return {
    status: error.status,
    body: {
      status: error.status,
      code: error.code,
      description: error.message,
      ...(error.details ? { details: error.details } : {}),
    },
  };
}

export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new DialplaneError('missing_credentials');
  return request.principal;
}

/**
 * The query parameters as written in the URL. Fastify's parser reads "+" as a space (form encoding); DialLink
 * users write phone numbers (+17175501675) and sort directions (sort=+name) unencoded, so "+" is kept as "+"
 * here and a space must be sent as %20.
 */
export function rawQuery(request: FastifyRequest): Record<string, string | string[]> {
  const url = request.raw.url ?? request.url;
  const at = url.indexOf('?');
  // No prototype: a parameter named __proto__ is a field name like any other (and refused as unknown).
  const out = Object.create(null) as Record<string, string | string[]>;
  if (at === -1) return out;
  for (const part of url.slice(at + 1).split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = decode(eq === -1 ? part : part.slice(0, eq));
    const value = eq === -1 ? '' : decode(part.slice(eq + 1));
    const existing = out[name];
    out[name] = existing === undefined ? value : Array.isArray(existing) ? [...existing, value] : [existing, value];
  }
  return out;
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new DialplaneError('bad_request', `the query string is not valid percent-encoding: ${text.slice(0, 50)}`);
  }
}

export function listQuery(request: FastifyRequest, spec: ResourceSpec): ListQuery {
  return parseListQuery(spec, rawQuery(request));
}

/** ISO text to the document's epoch milliseconds. */
export function epochMs(iso: string | null): number | null {
  return iso === null ? null : Date.parse(iso);
}
