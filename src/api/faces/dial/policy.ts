import type { RateWindow } from '../../rate-limit/rate-limiter.js';
import type { RateLimitPolicy, RouteSettings } from '../../types.js';

const MINUTE = 60_000;

/** The face's limits, per app key (docs/dial.md): 60 dials a minute, 600 requests a minute in total. */
export const windows = {
  dial: { name: 'dial', limit: 60, windowMs: MINUTE },
  total: { name: 'total', limit: 600, windowMs: MINUTE },
} as const satisfies Record<string, RateWindow>;

function policy(...routeWindows: RateWindow[]): RateLimitPolicy {
  return { subject: 'key', scope: 'dial', windows: routeWindows };
}

const dialPolicy = policy(windows.dial, windows.total);
const otherPolicy = policy(windows.total);

/** Route settings for the face: X-App-ID + X-API-Key only, as the document says, and the face's limits. */
export function dialRoute(kind: 'dial' | 'other'): { dialplane: RouteSettings } {
  return { dialplane: { auth: ['app'], rateLimit: kind === 'dial' ? dialPolicy : otherPolicy } };
}

/** The document writes times without fractions of a second: 2026-05-06T12:34:56Z. */
export function documentTime(iso: string): string {
  return iso.replace(/\.\d{3}Z$/, 'Z');
}
