/**
 * The contract between the rate limiter and its stores. The window arithmetic lives here too, because every store
 * (memory, Redis) must align windows and shape decisions identically: a client's X-RateLimit-Reset has to
 * be the same whichever server answers.
 */

/**
 * One limit: at most `limit` requests per fixed window of `windowMs`. The name identifies the counter within a
 * subject, so every policy that uses a name must give it the same windowMs, or they would keep resetting each other.
 */
export interface RateWindow {
  readonly name: string;
  readonly limit: number;
  readonly windowMs: number;
}

export interface RateDecision {
  readonly allowed: boolean;
  /** Of the most constraining window: the one with the fewest remaining or, on denial, the one that denied. */
  readonly limit: number;
  /** Never negative; already accounts for this request when it was allowed. */
  readonly remaining: number;
  /** Unix time in whole seconds at which that window resets. */
  readonly resetAt: number;
  /** 0 when allowed; otherwise whole seconds until the denying window resets, at least 1. */
  readonly retryAfterSeconds: number;
}

/** Storage behind the limiter: MemoryRateLimitStore in one process, RedisRateLimitStore shared by several. */
export interface RateLimitStore {
  /**
   * Atomically: for each window, read the count of `key:windowName` in the current window; if every window is under
   * its limit, increment them all and report; if any is at its limit, increment none.
   */
  consume(key: string, windows: readonly RateWindow[], nowMs: number): RateDecision | Promise<RateDecision>;
  close?(): void | Promise<void>;
}

/** What a store read for one window before deciding: the count so far in the window containing `nowMs`. */
export interface WindowCount {
  readonly window: RateWindow;
  readonly count: number;
  readonly resetMs: number;
}

/**
 * End of the fixed window containing `nowMs`. Windows are aligned to multiples of `windowMs` since the epoch, not to a
 * client's first request, so every server computes the same boundary without sharing anything but the clock.
 */
export function fixedWindowEndMs(nowMs: number, windowMs: number): number {
  return (Math.floor(nowMs / windowMs) + 1) * windowMs;
}

/** The counter a window uses; window names cannot contain ':' (the limiter checks), so ids never collide. */
export function counterId(key: string, windowName: string): string {
  return `${key}:${windowName}`;
}

/** Turns the counts a store read into the decision; the store increments every window exactly when `allowed`. */
export function decideFromCounts(counts: readonly WindowCount[], nowMs: number): RateDecision {
  const denying = counts.filter((c) => c.count >= c.window.limit);
  if (denying.length > 0) return denial(denying, nowMs);
  let tightest: WindowCount | undefined;
  let tightestRemaining = Infinity;
  for (const c of counts) {
    const remaining = c.window.limit - c.count - 1;
    // On a tie the later reset wins: the client is held back until both windows have reset.
    if (remaining < tightestRemaining || (remaining === tightestRemaining && tightest && c.resetMs > tightest.resetMs)) {
      tightest = c;
      tightestRemaining = remaining;
    }
  }
  if (!tightest) throw new RangeError('A rate-limit decision needs at least one window');
  return {
    allowed: true,
    limit: tightest.window.limit,
    remaining: tightestRemaining,
    resetAt: toUnixSeconds(tightest.resetMs),
    retryAfterSeconds: 0,
  };
}

function denial(denying: readonly WindowCount[], nowMs: number): RateDecision {
  // When several windows deny, report the one that resets last: retrying any earlier would be denied again.
  let worst = denying[0];
  for (const c of denying) if (worst && c.resetMs > worst.resetMs) worst = c;
  if (!worst) throw new RangeError('A denial needs a denying window');
  return {
    allowed: false,
    limit: worst.window.limit,
    remaining: 0,
    resetAt: toUnixSeconds(worst.resetMs),
    retryAfterSeconds: Math.max(1, Math.ceil((worst.resetMs - nowMs) / 1000)),
  };
}

/** Rounded up so a client that waits until resetAt never arrives before the window has actually reset. */
function toUnixSeconds(ms: number): number {
  return Math.ceil(ms / 1000);
}
