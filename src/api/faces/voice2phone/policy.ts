import type { RateWindow } from '../../rate-limit/rate-limiter.js';
import type { RouteSettings } from '../../types.js';

const MINUTE = 60_000;

/**
 * The document names no limits; these are Dialplane's, per API key: 100 calls a minute, 1,000 requests a minute in
 * all. Over either, 429 with Retry-After.
 */
export const voice2PhoneWindows = {
  calls: { name: 'calls', limit: 100, windowMs: MINUTE },
  total: { name: 'total', limit: 1_000, windowMs: MINUTE },
} as const satisfies Record<string, RateWindow>;

/**
 * HTTP Basic with the key as user name, as the document says; and the key alone in Authorization, as its request
 * header block shows it (`Authorization: Your API key`).
 */
export function voice2PhoneRoute(kind: 'calls' | 'other'): { dialplane: RouteSettings } {
  const windows = kind === 'calls' ? [voice2PhoneWindows.calls, voice2PhoneWindows.total] : [voice2PhoneWindows.total];
  return { dialplane: { auth: ['basic', 'bare'], rateLimit: { subject: 'key', scope: 'voice2phone', windows } } };
}

/** The document's times: UTC with milliseconds and no zone suffix, `2016-08-01T18:33:08.997`. */
export function documentTime(iso: string): string {
  return iso.replace(/Z$/, '');
}
