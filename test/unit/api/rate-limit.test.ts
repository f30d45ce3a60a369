import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RateLimiter, type RateWindow } from '../../../src/api/rate-limit/rate-limiter.js';
import { MemoryRateLimitStore, type SweepTimers } from '../../../src/api/rate-limit/memory-store.js';

const MINUTE = 60_000;
const HOUR = 3_600_000;

/** 12.345 s into the minute that starts at 1_699_999_980_000 and into the hour that starts at 1_699_999_200_000. */
const T0 = 1_700_000_012_345;

/** A clock the test moves by hand, so window boundaries are exact and nothing sleeps. */
function manualClock(start = T0): { now: () => number; advance: (ms: number) => void; set: (ms: number) => void } {
  let nowMs = start;
  return {
    now: () => nowMs,
    advance: (ms) => {
      nowMs += ms;
    },
    set: (ms) => {
      nowMs = ms;
    },
  };
}

/** Records the sweep interval instead of scheduling it, so a test fires the sweep when it wants. */
class FakeTimers implements SweepTimers {
  readonly active = new Map<object, { callback: () => void; ms: number }>();
  unrefs = 0;

  setInterval(callback: () => void, ms: number): unknown {
    const handle = { unref: () => void this.unrefs++ };
    this.active.set(handle, { callback, ms });
    return handle;
  }

  clearInterval(handle: unknown): void {
    if (typeof handle === 'object' && handle !== null) this.active.delete(handle);
  }

  fire(): void {
    for (const { callback } of this.active.values()) callback();
  }
}

function setup(options: { maxKeys?: number } = {}) {
  const clock = manualClock();
  const timers = new FakeTimers();
  const store = new MemoryRateLimitStore({ ...options, timers, clock: clock.now });
  const limiter = new RateLimiter(store, clock.now);
  return { clock, timers, store, limiter };
}

async function consumeTimes(limiter: RateLimiter, subject: string, windows: readonly RateWindow[], n: number) {
  const decisions = [];
  for (let i = 0; i < n; i++) decisions.push(await limiter.consume(subject, windows));
  return decisions;
}

// The DialAnyone policy, scaled down so tests stay short; the shapes are what matter.
const calls: RateWindow = { name: 'calls', limit: 3, windowMs: MINUTE };
const total: RateWindow = { name: 'total', limit: 5, windowMs: HOUR };
const postCalls = [calls, total];
const getMe = [total];

describe('RateLimiter with MemoryRateLimitStore', () => {
  test('counts down to the limit, then denies with Retry-After and reset of the current window', async () => {
    const { limiter, store } = setup();
    const perMinute: RateWindow[] = [{ name: 'calls', limit: 5, windowMs: MINUTE }];
    const allowed = await consumeTimes(limiter, 'key_a', perMinute, 5);
    assert.deepEqual(
      allowed.map((d) => [d.allowed, d.limit, d.remaining, d.retryAfterSeconds]),
      [4, 3, 2, 1, 0].map((remaining) => [true, 5, remaining, 0]),
    );
    for (const d of allowed) assert.equal(d.resetAt, 1_700_000_040);

    const denied = await limiter.consume('key_a', perMinute);
    assert.deepEqual(denied, { allowed: false, limit: 5, remaining: 0, resetAt: 1_700_000_040, retryAfterSeconds: 28 });
    store.close();
  });

  test('Retry-After is at least one second, even in the last millisecond of a window', async () => {
    const { limiter, clock, store } = setup();
    const once: RateWindow[] = [{ name: 'w', limit: 1, windowMs: MINUTE }];
    await limiter.consume('k', once);
    clock.set(1_700_000_039_999);
    const denied = await limiter.consume('k', once);
    assert.equal(denied.allowed, false);
    assert.equal(denied.retryAfterSeconds, 1);
    assert.equal(denied.resetAt, 1_700_000_040);
    store.close();
  });

  test('a limit of 0 always denies', async () => {
    const { limiter, store } = setup();
    const closed: RateWindow[] = [{ name: 'w', limit: 0, windowMs: MINUTE }];
    const d = await limiter.consume('k', closed);
    assert.equal(d.allowed, false);
    assert.equal(d.retryAfterSeconds, 28);
    store.close();
  });

  test('the next window starts from zero, at the epoch-aligned boundary', async () => {
    const { limiter, clock, store } = setup();
    const perMinute: RateWindow[] = [{ name: 'calls', limit: 2, windowMs: MINUTE }];
    await consumeTimes(limiter, 'k', perMinute, 2);
    clock.set(1_700_000_039_999);
    assert.equal((await limiter.consume('k', perMinute)).allowed, false);
    clock.set(1_700_000_040_000);
    const fresh = await limiter.consume('k', perMinute);
    assert.deepEqual(fresh, { allowed: true, limit: 2, remaining: 1, resetAt: 1_700_000_100, retryAfterSeconds: 0 });
    store.close();
  });

  test('several windows at once report the most constraining one', async () => {
    const { limiter, store } = setup();
    const first = await limiter.consume('k', postCalls);
    // calls: 2 left of 3 this minute; total: 4 left of 5 this hour.
    assert.deepEqual([first.limit, first.remaining, first.resetAt], [3, 2, 1_700_000_040]);

    await consumeTimes(limiter, 'k', getMe, 3);
    const second = await limiter.consume('k', postCalls);
    // calls: 1 left; total: 0 left, so the hourly window is the one to report.
    assert.deepEqual([second.allowed, second.limit, second.remaining, second.resetAt], [true, 5, 0, 1_700_002_800]);

    const denied = await limiter.consume('k', postCalls);
    assert.deepEqual(denied, {
      allowed: false,
      limit: 5,
      remaining: 0,
      resetAt: 1_700_002_800,
      retryAfterSeconds: 2788,
    });
    store.close();
  });

  test('on equal remaining, the window that resets later is reported', async () => {
    const { limiter, store } = setup();
    const short: RateWindow = { name: 'short', limit: 2, windowMs: MINUTE };
    const long: RateWindow = { name: 'long', limit: 2, windowMs: HOUR };
    const d = await limiter.consume('k', [short, long]);
    assert.deepEqual([d.remaining, d.resetAt], [1, 1_700_002_800]);
    const both = await limiter.consume('k', [long, short]);
    assert.deepEqual([both.remaining, both.resetAt], [0, 1_700_002_800]);
    const denied = await limiter.consume('k', [short, long]);
    assert.deepEqual([denied.allowed, denied.resetAt, denied.retryAfterSeconds], [false, 1_700_002_800, 2788]);
    store.close();
  });

  test('a denied request consumes nothing: hammering after the calls limit leaves the hourly total alone', async () => {
    const { limiter, clock, store } = setup();
    const hourly: RateWindow = { name: 'total', limit: 100, windowMs: HOUR };
    const minute: RateWindow = { name: 'calls', limit: 2, windowMs: MINUTE };
    await consumeTimes(limiter, 'k', [minute, hourly], 2);
    const hammering = await consumeTimes(limiter, 'k', [minute, hourly], 50);
    assert.ok(hammering.every((d) => !d.allowed && d.limit === 2));

    const me = await limiter.consume('k', [hourly]);
    assert.equal(me.remaining, 100 - 2 - 1);

    clock.advance(MINUTE);
    const nextMinute = await limiter.consume('k', [minute, hourly]);
    assert.deepEqual([nextMinute.allowed, nextMinute.limit, nextMinute.remaining], [true, 2, 1]);
    assert.equal((await limiter.consume('k', [hourly])).remaining, 100 - 4 - 1);
    store.close();
  });

  test('a denial by one window does not count against the other windows of the request', async () => {
    const { limiter, store } = setup();
    await consumeTimes(limiter, 'k', getMe, 5);
    await consumeTimes(limiter, 'k', postCalls, 10); // all denied by "total"
    // "calls" was under its limit, yet none of those denied requests may have used it up.
    const callsOnly = await limiter.consume('k', [calls]);
    assert.deepEqual([callsOnly.allowed, callsOnly.remaining], [true, 2]);
    store.close();
  });

  test('windows with the same name share one counter across routes', async () => {
    const { limiter, store } = setup();
    await consumeTimes(limiter, 'k', postCalls, 3); // total: 3 used
    await consumeTimes(limiter, 'k', getMe, 2); // total: 5 used
    const me = await limiter.consume('k', getMe);
    assert.deepEqual([me.allowed, me.limit], [false, 5]);
    const call = await limiter.consume('k', postCalls);
    assert.deepEqual([call.allowed, call.limit], [false, 5]);
    store.close();
  });

  test('subjects are isolated from each other', async () => {
    const { limiter, store } = setup();
    await consumeTimes(limiter, 'key_a', postCalls, 3);
    assert.equal((await limiter.consume('key_a', postCalls)).allowed, false);
    const b = await limiter.consume('key_b', postCalls);
    assert.deepEqual([b.allowed, b.limit, b.remaining], [true, 3, 2]);
    // Subjects that contain ':' cannot reach another subject's counters either.
    const c = await limiter.consume('key_a:calls', getMe);
    assert.deepEqual([c.allowed, c.remaining], [true, 4]);
    store.close();
  });

  test('100 concurrent requests against a limit of 10 allow exactly 10', async () => {
    const { limiter, store } = setup();
    const window: RateWindow[] = [{ name: 'burst', limit: 10, windowMs: MINUTE }];
    const decisions = await Promise.all(Array.from({ length: 100 }, () => limiter.consume('k', window)));
    assert.equal(decisions.filter((d) => d.allowed).length, 10);
    assert.deepEqual(
      decisions.filter((d) => d.allowed).map((d) => d.remaining).sort((a, b) => a - b),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
    store.close();
  });

  test('rejects malformed policies', async () => {
    const { limiter, store } = setup();
    const bad: RateWindow[][] = [
      [],
      [{ name: 'a:b', limit: 1, windowMs: MINUTE }],
      [{ name: '', limit: 1, windowMs: MINUTE }],
      [{ name: 'a', limit: -1, windowMs: MINUTE }],
      [{ name: 'a', limit: 1.5, windowMs: MINUTE }],
      [{ name: 'a', limit: 1, windowMs: 0 }],
      [calls, calls],
    ];
    for (const windows of bad) await assert.rejects(limiter.consume('k', windows), RangeError);
    assert.equal(store.size, 0);
    store.close();
  });
});

describe('MemoryRateLimitStore housekeeping', () => {
  test('the sweep timer drops expired counters and keeps live ones', async () => {
    const { limiter, clock, store, timers } = setup();
    for (const subject of ['a', 'b', 'c']) await limiter.consume(subject, postCalls);
    assert.equal(store.size, 6);

    timers.fire();
    assert.equal(store.size, 6, 'nothing has expired yet');

    clock.advance(MINUTE);
    timers.fire();
    assert.equal(store.size, 3, 'the per-minute counters are gone, the hourly ones stay');
    assert.equal((await limiter.consume('a', getMe)).remaining, 3, 'the hourly count survived the sweep');

    clock.advance(HOUR);
    timers.fire();
    assert.equal(store.size, 0);
    store.close();
  });

  test('the sweep timer is unref()ed, uses sweepIntervalMs, and close() clears it', () => {
    const timers = new FakeTimers();
    const store = new MemoryRateLimitStore({ timers, sweepIntervalMs: 5_000 });
    assert.equal(timers.unrefs, 1);
    assert.deepEqual([...timers.active.values()].map((t) => t.ms), [5_000]);
    store.close();
    assert.equal(timers.active.size, 0);
    store.close(); // idempotent
  });

  test('the default Node timers work and do not keep the process alive', () => {
    const store = new MemoryRateLimitStore();
    store.close();
  });

  test('maxKeys bounds the number of counters under a flood of distinct subjects', async () => {
    const { limiter, store } = setup({ maxKeys: 50 });
    const perIp: RateWindow[] = [{ name: 'ip', limit: 1000, windowMs: 15 * MINUTE }];
    for (let i = 0; i < 1_000; i++) {
      const d = await limiter.consume(`10.0.${i >> 8}.${i & 255}`, perIp);
      assert.equal(d.allowed, true);
      assert.ok(store.size <= 50);
    }
    assert.equal(store.size, 50);
    // The newest subject is still tracked: its second request counts on from the first.
    assert.equal((await limiter.consume('10.0.3.231', perIp)).remaining, 998);
    store.close();
  });

  test('when full, the counters closest to expiry are evicted first', async () => {
    const { limiter, clock, store } = setup({ maxKeys: 3 });
    const longWindow: RateWindow[] = [{ name: 'h', limit: 10, windowMs: HOUR }];
    const shortWindow: RateWindow[] = [{ name: 'm', limit: 10, windowMs: MINUTE }];
    await limiter.consume('old-but-long', longWindow);
    await limiter.consume('expired', shortWindow);
    clock.advance(MINUTE);
    await limiter.consume('short-1', shortWindow);
    await limiter.consume('short-2', shortWindow); // evicts the expired counter, not a live one
    await limiter.consume('short-3', shortWindow); // evicts short-1: it expires before the hourly counter
    assert.equal(store.size, 3);
    assert.equal((await limiter.consume('old-but-long', longWindow)).remaining, 8, 'hourly counter kept');
    assert.equal((await limiter.consume('short-2', shortWindow)).remaining, 8, 'short-2 kept');
    store.close();
  });

  test('a request never evicts its own counters to make room', async () => {
    const { limiter, store } = setup({ maxKeys: 2 });
    await consumeTimes(limiter, 'k', postCalls, 2);
    await limiter.consume('other', getMe); // evicts k's per-minute counter, the soonest to expire
    const d = await limiter.consume('k', postCalls); // must evict other's counter, not k's hourly one
    assert.deepEqual([d.allowed, d.limit, d.remaining], [true, 5, 2]);
    assert.equal(store.size, 2);
    assert.equal((await limiter.consume('k', getMe)).remaining, 1, 'k kept its hourly count of 3');
    store.close();
  });

  test('rejects invalid options', () => {
    assert.throws(() => new MemoryRateLimitStore({ maxKeys: 0, timers: new FakeTimers() }), RangeError);
    assert.throws(() => new MemoryRateLimitStore({ sweepIntervalMs: -1, timers: new FakeTimers() }), RangeError);
  });
});

describe('RateLimiter property', () => {
  const burst: RateWindow = { name: 'burst', limit: 3, windowMs: 1_000 };
  const window: RateWindow = { name: 'window', limit: 7, windowMs: 5_000 };
  const routes: Record<'both' | 'windowOnly', readonly RateWindow[]> = { both: [burst, window], windowOnly: [window] };

  test('no fixed window ever allows more than its limit, and denials are exactly the full windows', async () => {
    const op = fc.record({
      subject: fc.constantFrom('a', 'b', 'c'),
      route: fc.constantFrom<'both' | 'windowOnly'>('both', 'windowOnly'),
      advanceMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 400 }), fc.integer({ min: 0, max: 6_000 })),
    });
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 2 ** 41 }), fc.array(op, { maxLength: 80 }), async (start, ops) => {
        const clock = manualClock(start);
        const store = new MemoryRateLimitStore({ timers: new FakeTimers(), clock: clock.now });
        const limiter = new RateLimiter(store, clock.now);
        const allowedIn = new Map<string, number>();
        const bucket = (subject: string, w: RateWindow) =>
          `${subject}|${w.name}|${Math.floor(clock.now() / w.windowMs)}`;
        for (const { subject, route, advanceMs } of ops) {
          clock.advance(advanceMs);
          const windows = routes[route];
          const full = windows.some((w) => (allowedIn.get(bucket(subject, w)) ?? 0) >= w.limit);
          const d = await limiter.consume(subject, windows);
          assert.equal(d.allowed, !full);
          assert.ok(d.remaining >= 0 && d.resetAt * 1000 > clock.now());
          if (!d.allowed) {
            assert.ok(d.retryAfterSeconds >= 1);
            continue;
          }
          for (const w of windows) {
            const key = bucket(subject, w);
            const count = (allowedIn.get(key) ?? 0) + 1;
            assert.ok(count <= w.limit, `${key} allowed ${count} > ${w.limit}`);
            allowedIn.set(key, count);
          }
        }
        store.close();
      }),
      { numRuns: 200 },
    );
  });
});
