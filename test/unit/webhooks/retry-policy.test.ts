import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  DEFAULT_RETRY_POLICY,
  backoffDelayMs,
  decide,
  parseRetryAfter,
  rawBackoffMs,
  type AttemptOutcome,
  type RetryPolicy,
} from '../../../src/webhooks/retry-policy.js';

const T0 = Date.UTC(2026, 0, 1, 0, 0, 0);
const HOUR = 3_600_000;
const P = DEFAULT_RETRY_POLICY;
const noJitter = (): number => 0; // delay == raw (the latest possible)
const maxJitter = (): number => 0.999999; // delay ~= raw * (1 - jitter) (the earliest possible)

function net(): AttemptOutcome {
  return { kind: 'network' };
}

/** Simulate a delivery that fails every attempt with `outcome`; returns the attempt start times. */
function simulate(policy: RetryPolicy, outcome: AttemptOutcome, random: () => number, attemptDurationMs = 0) {
  const starts = [T0];
  let attempt = 1;
  for (;;) {
    const now = (starts[starts.length - 1] ?? T0) + attemptDurationMs;
    const d = decide(policy, { attempt, firstAttemptAt: T0, now, outcome, random });
    if (d.action !== 'retry') return { starts, final: d };
    assert.ok(d.at >= now);
    starts.push(d.at);
    attempt++;
  }
}

test('default schedule: 10 attempts, exact un-jittered delays, all inside the 24 h horizon', () => {
  const expectedRawDelays = [30_000, 87_000, 252_300, 731_670, 2_121_843, 6_153_345, 17_844_700, 25_200_000, 25_200_000];
  assert.deepEqual(
    expectedRawDelays.map((_, i) => rawBackoffMs(P, i + 1)),
    expectedRawDelays,
  );

  const latest = simulate(P, net(), noJitter);
  assert.equal(latest.starts.length, 10);
  assert.deepEqual(latest.final, { action: 'give_up', reason: 'max_attempts' });
  const offsets = latest.starts.map((s) => s - T0);
  assert.deepEqual(offsets, [0, 30_000, 117_000, 369_300, 1_100_970, 3_222_813, 9_376_158, 27_220_858, 52_420_858, 77_620_858]);
  const last = offsets[offsets.length - 1] ?? Infinity;
  assert.ok(last <= P.horizonMs, 'latest possible 10th attempt within the horizon');
  assert.ok(last > 21.5 * HOUR && last < 21.6 * HOUR); // ~21.56 h, as documented

  const earliest = simulate(P, net(), maxJitter);
  assert.equal(earliest.starts.length, 10);
  const earliestLast = (earliest.starts[9] ?? 0) - T0;
  assert.ok(earliestLast > 10.7 * HOUR && earliestLast < 10.8 * HOUR); // ~10.78 h (equal jitter halves it)

  // Even with 30 s timeouts on every attempt, all 10 attempts fit.
  assert.equal(simulate(P, { kind: 'timeout' }, noJitter, 30_000).starts.length, 10);
});

test('jitter bounds: delay in [raw*(1-jitter), raw], never above maxDelayMs (fast-check)', () => {
  fc.assert(
    fc.property(
      fc.record({
        baseDelayMs: fc.integer({ min: 1, max: 120_000 }),
        factor: fc.double({ min: 1, max: 4, noNaN: true }),
        maxDelayMs: fc.integer({ min: 1, max: 48 * HOUR }),
        jitter: fc.double({ min: 0, max: 1, noNaN: true }),
      }),
      fc.integer({ min: 1, max: 30 }),
      fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
      (params, attempt, r) => {
        const policy: RetryPolicy = { ...P, ...params };
        const raw = rawBackoffMs(policy, attempt);
        const delay = backoffDelayMs(policy, attempt, () => r);
        assert.ok(raw <= policy.maxDelayMs);
        assert.ok(delay <= raw, `${delay} <= ${raw}`);
        assert.ok(delay >= Math.floor(raw * (1 - policy.jitter)), `${delay} >= ${raw} * (1 - ${policy.jitter})`);
        assert.ok(Number.isInteger(delay));
      },
    ),
    { numRuns: 1000 },
  );
});

test('decide: retry times honour jitter bounds for the default policy (fast-check)', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 9 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (attempt, r) => {
      const now = T0 + 1000;
      const d = decide(P, { attempt, firstAttemptAt: T0, now, outcome: { kind: 'status', status: 500 }, random: () => r });
      assert.equal(d.action, 'retry');
      if (d.action !== 'retry') return;
      const raw = rawBackoffMs(P, attempt);
      assert.ok(d.at - now <= raw && d.at - now >= raw / 2);
    }),
  );
});

test('2xx delivered, 410 disables the endpoint, other 4xx final', () => {
  const base = { attempt: 1, firstAttemptAt: T0, now: T0, random: noJitter };
  for (const status of [200, 201, 202, 204, 299]) {
    assert.deepEqual(decide(P, { ...base, outcome: { kind: 'status', status } }), { action: 'delivered' });
  }
  // Delivered even on the very last attempt / past the horizon.
  assert.deepEqual(decide(P, { ...base, attempt: 10, now: T0 + 25 * HOUR, outcome: { kind: 'status', status: 200 } }), {
    action: 'delivered',
  });
  assert.deepEqual(decide(P, { ...base, outcome: { kind: 'status', status: 410 } }), { action: 'disable_endpoint' });
  for (const status of [400, 401, 403, 404, 405, 413, 422, 301, 302, 304]) {
    assert.deepEqual(decide(P, { ...base, outcome: { kind: 'status', status } }), {
      action: 'give_up',
      reason: 'non_retryable_status',
    });
  }
});

test('network errors, timeouts, 408, 429 and 5xx retry with backoff', () => {
  const outcomes: AttemptOutcome[] = [
    { kind: 'network' },
    { kind: 'timeout' },
    { kind: 'status', status: 408 },
    { kind: 'status', status: 429 },
    { kind: 'status', status: 500 },
    { kind: 'status', status: 502 },
    { kind: 'status', status: 503 },
    { kind: 'status', status: 504 },
    { kind: 'status', status: 599 },
  ];
  for (const outcome of outcomes) {
    assert.deepEqual(decide(P, { attempt: 1, firstAttemptAt: T0, now: T0 + 500, outcome, random: noJitter }), {
      action: 'retry',
      at: T0 + 500 + 30_000,
    });
    assert.deepEqual(decide(P, { attempt: 3, firstAttemptAt: T0, now: T0 + 500, outcome, random: noJitter }), {
      action: 'retry',
      at: T0 + 500 + 252_300,
    });
  }
});

test('429 without (or with unparseable) Retry-After backs off exponentially', () => {
  for (const retryAfter of [undefined, '', 'soon', '-5', '1.5']) {
    const seen: number[] = [];
    for (let attempt = 1; attempt <= 4; attempt++) {
      const d = decide(P, {
        attempt,
        firstAttemptAt: T0,
        now: T0,
        outcome: { kind: 'status', status: 429, retryAfter },
        random: noJitter,
      });
      assert.equal(d.action, 'retry');
      if (d.action === 'retry') seen.push(d.at - T0);
    }
    assert.deepEqual(seen, [30_000, 87_000, 252_300, 731_670]);
  }
});

test('Retry-After delta-seconds is honoured exactly for 429 and 503, ignored otherwise', () => {
  const now = T0 + 10_000;
  for (const status of [429, 503]) {
    assert.deepEqual(
      decide(P, { attempt: 1, firstAttemptAt: T0, now, outcome: { kind: 'status', status, retryAfter: '120' }, random: maxJitter }),
      { action: 'retry', at: now + 120_000 },
    );
    // Longer than maxDelayMs is still honoured as long as it fits the horizon.
    assert.deepEqual(
      decide(P, { attempt: 1, firstAttemptAt: T0, now, outcome: { kind: 'status', status, retryAfter: String(10 * 3600) }, random: noJitter }),
      { action: 'retry', at: now + 10 * HOUR },
    );
  }
  // 500 with Retry-After: plain backoff.
  assert.deepEqual(
    decide(P, { attempt: 1, firstAttemptAt: T0, now, outcome: { kind: 'status', status: 500, retryAfter: '120' }, random: noJitter }),
    { action: 'retry', at: now + 30_000 },
  );
});

test('Retry-After HTTP-date is honoured; past dates mean now; beyond the horizon gives up', () => {
  const now = T0;
  const in2h = new Date(T0 + 2 * HOUR).toUTCString(); // IMF-fixdate
  assert.match(in2h, /GMT$/);
  assert.deepEqual(
    decide(P, { attempt: 2, firstAttemptAt: T0, now, outcome: { kind: 'status', status: 503, retryAfter: in2h }, random: noJitter }),
    { action: 'retry', at: T0 + 2 * HOUR },
  );
  const past = new Date(T0 - HOUR).toUTCString();
  assert.deepEqual(
    decide(P, { attempt: 2, firstAttemptAt: T0, now, outcome: { kind: 'status', status: 429, retryAfter: past }, random: noJitter }),
    { action: 'retry', at: now },
  );
  const beyond = new Date(T0 + 25 * HOUR).toUTCString();
  assert.deepEqual(
    decide(P, { attempt: 2, firstAttemptAt: T0, now, outcome: { kind: 'status', status: 429, retryAfter: beyond }, random: noJitter }),
    { action: 'give_up', reason: 'horizon' },
  );
  assert.deepEqual(
    decide(P, { attempt: 2, firstAttemptAt: T0, now: T0 + 20 * HOUR, outcome: { kind: 'status', status: 429, retryAfter: String(5 * 3600) }, random: noJitter }),
    { action: 'give_up', reason: 'horizon' },
  );
});

test('parseRetryAfter', () => {
  const now = Date.UTC(1994, 10, 6, 8, 0, 0);
  const target = Date.UTC(1994, 10, 6, 8, 49, 37);
  assert.equal(parseRetryAfter('0', now), now);
  assert.equal(parseRetryAfter('120', now), now + 120_000);
  assert.equal(parseRetryAfter(' 7 ', now), now + 7000);
  assert.equal(parseRetryAfter('Sun, 06 Nov 1994 08:49:37 GMT', now), target);
  assert.equal(parseRetryAfter('Sunday, 06-Nov-94 08:49:37 GMT', now), target);
  assert.equal(parseRetryAfter('Sun Nov  6 08:49:37 1994', now), target);
  assert.equal(parseRetryAfter('Sun, 06 Nov 1994 07:00:00 GMT', now), now); // past => now
  for (const bad of [undefined, '', '-1', '1.5', '1e3', 'soon', 'Sun, 06 Nov 1994 08:49:37 PST', '2026-01-01T00:00:00Z', 'Sun, 99 Nov 1994 08:49:37 GMT']) {
    assert.equal(parseRetryAfter(bad, now), undefined, String(bad));
  }
});

test('parseRetryAfter never throws (fast-check)', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 100 }), (s) => {
      const r = parseRetryAfter(s, T0);
      assert.ok(r === undefined || (Number.isFinite(r) && r >= T0));
    }),
  );
});

test('attempt limit: no retry after maxAttempts', () => {
  const policy: RetryPolicy = { ...P, maxAttempts: 3 };
  const run = simulate(policy, { kind: 'status', status: 503 }, noJitter);
  assert.equal(run.starts.length, 3);
  assert.deepEqual(run.final, { action: 'give_up', reason: 'max_attempts' });
  assert.deepEqual(decide(P, { attempt: 10, firstAttemptAt: T0, now: T0, outcome: net(), random: noJitter }), {
    action: 'give_up',
    reason: 'max_attempts',
  });
  assert.deepEqual(decide(P, { attempt: 9, firstAttemptAt: T0, now: T0, outcome: net(), random: noJitter }).action, 'retry');
  // Retry-After does not bypass the attempt limit.
  assert.deepEqual(
    decide(P, { attempt: 10, firstAttemptAt: T0, now: T0, outcome: { kind: 'status', status: 429, retryAfter: '1' }, random: noJitter }),
    { action: 'give_up', reason: 'max_attempts' },
  );
  assert.throws(() => decide(P, { attempt: 0, firstAttemptAt: T0, now: T0, outcome: net(), random: noJitter }), RangeError);
});

test('horizon limit: no retry scheduled beyond firstAttemptAt + horizonMs', () => {
  const policy: RetryPolicy = { ...P, horizonMs: HOUR };
  const run = simulate(policy, { kind: 'timeout' }, noJitter);
  for (const s of run.starts) assert.ok(s <= T0 + HOUR);
  assert.deepEqual(run.final, { action: 'give_up', reason: 'horizon' });
  // Offsets 0, 30 s, 117 s, 369.3 s, 1101 s (18.3 min), 3222.8 s (53.7 min); next 9376 s > 1 h -> 6 attempts.
  assert.equal(run.starts.length, 6);
  // Exactly at the deadline is allowed; one ms past it is not.
  const d1 = decide(P, { attempt: 1, firstAttemptAt: T0, now: T0 + 24 * HOUR - 30_000, outcome: net(), random: noJitter });
  assert.deepEqual(d1, { action: 'retry', at: T0 + 24 * HOUR });
  const d2 = decide(P, { attempt: 1, firstAttemptAt: T0, now: T0 + 24 * HOUR - 29_999, outcome: net(), random: noJitter });
  assert.deepEqual(d2, { action: 'give_up', reason: 'horizon' });
});

test('the default policy is frozen data', () => {
  assert.ok(Object.isFrozen(DEFAULT_RETRY_POLICY));
  assert.ok(Object.isFrozen(DEFAULT_RETRY_POLICY.retryableStatuses));
  assert.deepEqual(JSON.parse(JSON.stringify(DEFAULT_RETRY_POLICY)), DEFAULT_RETRY_POLICY);
});
