import type { RateDecision, RateLimitStore, RateWindow } from './types.js';

export type { RateDecision, RateLimitStore, RateWindow } from './types.js';

/** Letters, digits and `_.-` only: a ':' would let `key:windowName` counter ids of different subjects collide. */
const WINDOW_NAME = /^[A-Za-z0-9_.-]+$/;

/**
 * Counts a request against every window of a policy at once. Which windows apply is the caller's choice per request:
 * a POST /calls passes [calls, total] and a GET /me passes [total], and since counters are keyed by subject and
 * window name, both routes draw on the same "total".
 */
export class RateLimiter {
  private readonly store: RateLimitStore;
  private readonly clock: () => number;

  constructor(store: RateLimitStore, clock: () => number = Date.now) {
    this.store = store;
    this.clock = clock;
  }

  /** Counts one request by `subject` (an API key id, a client IP) unless some window is already at its limit. */
  async consume(subject: string, windows: readonly RateWindow[]): Promise<RateDecision> {
    if (!validated.has(windows)) {
      assertValidWindows(windows);
      validated.add(windows);
    }
    return this.store.consume(subject, windows, this.clock());
  }
}

/** Policies are constant arrays on routes: each is checked the first time it is seen, not on every request. */
const validated = new WeakSet<readonly RateWindow[]>();

/** Policies are code, so a bad one is a programming error: fail loudly rather than limit wrongly. */
function assertValidWindows(windows: readonly RateWindow[]): void {
  if (windows.length === 0) throw new RangeError('A rate-limit policy needs at least one window');
  const seen = new Set<string>();
  for (const { name, limit, windowMs } of windows) {
    if (!WINDOW_NAME.test(name)) throw new RangeError(`Invalid rate-limit window name ${JSON.stringify(name)}`);
    // The same name twice in one request would count that request twice against one counter.
    if (seen.has(name)) throw new RangeError(`Rate-limit window ${name} is listed twice`);
    seen.add(name);
    if (!Number.isInteger(limit) || limit < 0) throw new RangeError(`Window ${name}: limit must be an integer >= 0`);
    if (!Number.isInteger(windowMs) || windowMs < 1) {
      throw new RangeError(`Window ${name}: windowMs must be a positive integer`);
    }
  }
}
