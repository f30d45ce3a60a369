import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SourceRateLimiter } from '../../../../src/sip/transport/source-limit.js';

describe('SourceRateLimiter', () => {
  test('a source gets its burst at once, then the rate; other sources have their own bucket', () => {
    let now = 0;
    const limiter = new SourceRateLimiter(2, 5, () => now);
    for (let i = 0; i < 5; i++) assert.ok(limiter.take('10.0.0.1'), `request ${i}`);
    assert.equal(limiter.take('10.0.0.1'), false);
    assert.equal(limiter.retryAfterS('10.0.0.1'), 1);
    assert.ok(limiter.take('10.0.0.2'), 'another source is not limited');
    now += 500; // one token back at 2/s
    assert.ok(limiter.take('10.0.0.1'));
    assert.equal(limiter.take('10.0.0.1'), false);
    now += 60_000; // refilled, but never above the burst
    for (let i = 0; i < 5; i++) assert.ok(limiter.take('10.0.0.1'));
    assert.equal(limiter.take('10.0.0.1'), false);
  });

  test('a rate of 0 never limits; idle full buckets are forgotten', () => {
    const unlimited = new SourceRateLimiter(0, 1);
    for (let i = 0; i < 100; i++) assert.ok(unlimited.take('10.0.0.1'));
    let now = 0;
    const limiter = new SourceRateLimiter(10, 10, () => now);
    limiter.take('10.0.0.1');
    limiter.take('10.0.0.2');
    assert.equal(limiter.size, 2);
    now += 20_000;
    limiter.take('10.0.0.3');
    assert.equal(limiter.size, 1);
  });

  test('Retry-After grows as the rate shrinks', () => {
    const now = 0;
    const limiter = new SourceRateLimiter(0.1, 1, () => now);
    assert.ok(limiter.take('10.0.0.1'));
    assert.equal(limiter.take('10.0.0.1'), false);
    assert.equal(limiter.retryAfterS('10.0.0.1'), 10);
  });
});
