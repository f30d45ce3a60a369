import type { RateLimitPolicy, RouteSettings } from '../../types.js';
import type { RateWindow } from '../../rate-limit/rate-limiter.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** The document's limits, per API key: 100 calls/min, 1,000 SMS/min, 10,000 requests/hour in total. */
export const windows = {
  calls: { name: 'calls', limit: 100, windowMs: MINUTE },
  sms: { name: 'sms', limit: 1_000, windowMs: MINUTE },
  total: { name: 'total', limit: 10_000, windowMs: HOUR },
} as const satisfies Record<string, RateWindow>;

function policy(...routeWindows: RateWindow[]): RateLimitPolicy {
  return { subject: 'key', scope: 'dialanyone', windows: routeWindows };
}

/** Route settings for DialAnyone routes: Bearer keys only, as the document says, and the document's limits. */
export function dialAnyoneRoute(kind: 'calls' | 'sms' | 'other'): { dialplane: RouteSettings } {
  const limits = kind === 'other' ? policy(windows.total) : policy(windows[kind], windows.total);
  return { dialplane: { auth: ['bearer'], rateLimit: limits } };
}

/** The document writes times without fractions of a second: 2024-01-01T12:00:00Z. */
export function documentTime(iso: string): string {
  return iso.replace(/\.\d{3}Z$/, 'Z');
}
