// Webhook retry policy, expressed as data (in the spirit of undici's RetryHandler options) plus a pure decision
// function. The delivery worker calls decide() after every attempt and either schedules the next attempt at the
// returned time, marks the delivery delivered / abandoned, or disables the endpoint. No clocks or randomness are
// read here: `now`, `firstAttemptAt` and `random` are injected, so the policy is fully testable with fake time.
//
// Backoff: the n-th retry (after failed attempt n, 1-based) waits
//     raw(n)   = min(maxDelayMs, round(baseDelayMs * factor^(n-1)))
//     delay(n) = round(raw(n) * (1 - jitter * random()))          random() in [0, 1)
// i.e. the delay lies in (raw * (1 - jitter), raw]. jitter = 1 is "full jitter" (0..raw), jitter = 0.5 is
// "equal jitter" (raw/2..raw), jitter = 0 is deterministic. The default uses EQUAL jitter (0.5): retries never
// come later than the un-jittered schedule, so the worst case below is a hard bound, and never sooner than half.
//
// Retry-After (delta-seconds or HTTP-date) on 429 and 503 replaces the computed backoff: the retry is scheduled
// exactly when the server asks (never earlier; a past date means "now"). It is not capped by maxDelayMs, only by
// the horizon: if it points beyond firstAttemptAt + horizonMs the delivery is given up rather than retried early.

export interface RetryPolicy {
  /** Total attempts including the first one. */
  maxAttempts: number;
  /** Un-jittered delay before the first retry. */
  baseDelayMs: number;
  /** Multiplier applied per further retry. */
  factor: number;
  /** Cap on the un-jittered backoff delay (not applied to Retry-After). */
  maxDelayMs: number;
  /** No attempt is scheduled later than firstAttemptAt + horizonMs. */
  horizonMs: number;
  /** Fraction (0..1) of each delay that is randomised downwards: 1 = full jitter, 0.5 = equal jitter. */
  jitter: number;
  /** HTTP statuses that are retried (2xx and 410 are handled before this list is consulted). */
  retryableStatuses: readonly number[];
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/**
 * 10 attempts over at most ~21.6 h, inside a 24 h horizon. Un-jittered delays (the upper bounds; equal jitter
 * makes each actual delay between half of this and this):
 *
 *   retry after attempt | delay (raw)          | attempt # | latest start after first attempt
 *   1                   |     30.0 s           |  2        |  0 h 00.5 min
 *   2                   |     87.0 s           |  3        |  0 h 02.0 min
 *   3                   |    252.3 s (4.2 min) |  4        |  0 h 06.2 min
 *   4                   |     12.2 min         |  5        |  0 h 18.3 min
 *   5                   |     35.4 min         |  6        |  0 h 53.7 min
 *   6                   |    102.6 min         |  7        |  2.60 h
 *   7                   |    297.4 min         |  8        |  7.56 h
 *   8                   |    420 min (capped)  |  9        | 14.56 h
 *   9                   |    420 min (capped)  | 10        | 21.56 h   (earliest: 10.78 h)
 *
 * The remaining ~2.4 h to the 24 h horizon absorbs request durations (timeouts) and Retry-After hints.
 */
export const DEFAULT_RETRY_POLICY: RetryPolicy = Object.freeze({
  maxAttempts: 10,
  baseDelayMs: 30 * SECOND,
  factor: 2.9,
  maxDelayMs: 7 * HOUR,
  horizonMs: 24 * HOUR,
  jitter: 0.5,
  retryableStatuses: Object.freeze([408, 429, ...Array.from({ length: 100 }, (_, i) => 500 + i)]),
});

export type AttemptOutcome =
  | { kind: 'status'; status: number; retryAfter?: string | undefined }
  | { kind: 'network' | 'timeout' };

export interface DecideInput {
  /** 1-based number of the attempt that just completed. */
  attempt: number;
  /** Epoch ms when attempt 1 started. */
  firstAttemptAt: number;
  /** Epoch ms now (when the attempt completed). */
  now: number;
  outcome: AttemptOutcome;
  /** Uniform random in [0, 1), e.g. Math.random. */
  random: () => number;
}

export type GiveUpReason = 'non_retryable_status' | 'max_attempts' | 'horizon';

export type RetryDecision =
  | { action: 'retry'; at: number }
  | { action: 'give_up'; reason: GiveUpReason }
  | { action: 'disable_endpoint' }
  | { action: 'delivered' };

/** Un-jittered backoff (ms) before the retry that follows failed attempt `attempt` (1-based), capped. */
export function rawBackoffMs(policy: RetryPolicy, attempt: number): number {
  return Math.min(policy.maxDelayMs, Math.round(policy.baseDelayMs * policy.factor ** (attempt - 1)));
}

/** Jittered backoff (ms): in (raw * (1 - jitter), raw], see the header comment. */
export function backoffDelayMs(policy: RetryPolicy, attempt: number, random: () => number): number {
  const raw = rawBackoffMs(policy, attempt);
  const jitter = Math.min(1, Math.max(0, policy.jitter));
  let r = random();
  if (!Number.isFinite(r)) r = 0;
  r = Math.min(1, Math.max(0, r));
  return Math.max(0, Math.round(raw * (1 - jitter * r)));
}

const DELTA_SECONDS = /^[0-9]+$/;
// RFC 9110 section 5.6.7: IMF-fixdate, obsolete RFC 850 and asctime formats.
const IMF_FIXDATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/;
const RFC850_DATE = /^(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), \d{2}-[A-Z][a-z]{2}-\d{2} \d{2}:\d{2}:\d{2} GMT$/;
const ASCTIME_DATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} \d{4}$/;

/**
 * Parse a Retry-After header value (delta-seconds or HTTP-date) into the absolute epoch ms at which a retry
 * is allowed. Dates in the past yield `now`. Returns undefined when absent or unparseable. asctime dates,
 * which carry no zone, are read as GMT.
 */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (typeof value !== 'string') return undefined;
  const v = value.trim();
  if (v.length === 0 || v.length > 64) return undefined;
  if (DELTA_SECONDS.test(v)) {
    const at = now + Number(v) * SECOND;
    return Number.isFinite(at) ? at : undefined;
  }
  let ms: number;
  if (IMF_FIXDATE.test(v) || RFC850_DATE.test(v)) ms = Date.parse(v);
  else if (ASCTIME_DATE.test(v)) ms = Date.parse(`${v} GMT`);
  else return undefined;
  if (!Number.isFinite(ms)) return undefined;
  return Math.max(now, ms);
}

/** Decide what to do after an attempt. Pure: depends only on its arguments. */
export function decide(policy: RetryPolicy, input: DecideInput): RetryDecision {
  const { attempt, firstAttemptAt, now, outcome, random } = input;
  if (!Number.isInteger(attempt) || attempt < 1) {
    throw new RangeError(`retry policy: attempt must be a positive integer, got ${attempt}`);
  }

  let retryAfterAt: number | undefined;
  if (outcome.kind === 'status') {
    const { status } = outcome;
    if (status >= 200 && status <= 299) return { action: 'delivered' };
    if (status === 410) return { action: 'disable_endpoint' };
    if (!policy.retryableStatuses.includes(status)) return { action: 'give_up', reason: 'non_retryable_status' };
    if (status === 429 || status === 503) retryAfterAt = parseRetryAfter(outcome.retryAfter, now);
  }

  if (attempt >= policy.maxAttempts) return { action: 'give_up', reason: 'max_attempts' };

  const at = retryAfterAt ?? now + backoffDelayMs(policy, attempt, random);
  if (at > firstAttemptAt + policy.horizonMs) return { action: 'give_up', reason: 'horizon' };
  return { action: 'retry', at };
}
