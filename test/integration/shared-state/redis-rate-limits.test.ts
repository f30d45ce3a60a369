import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, test } from 'node:test';
import fc from 'fast-check';
import pino from 'pino';
import { Writable } from 'node:stream';
import { FallbackRateLimitStore } from '../../../src/api/rate-limit/fallback-store.js';
import { MemoryRateLimitStore } from '../../../src/api/rate-limit/memory-store.js';
import { openRateLimitStore } from '../../../src/api/rate-limit/open-rate-limit-store.js';
import { RedisRateLimitStore } from '../../../src/api/rate-limit/redis-store.js';
import { openSharedState } from '../../../src/shared-state/open-shared-state.js';
import type { RateWindow } from '../../../src/api/rate-limit/types.js';
import { describeWithPeer } from '../../helpers/peers.js';
import { redisClient, redisPeer, startPrivateRedis, type PrivateRedis } from '../../helpers/redis.js';
import { waitUntil } from '../../helpers/processes.js';

// Rate-limit windows in Redis: counted once across every node that shares the server, decided exactly as the
// in-memory store decides, and falling back to per-node counting while Redis is down.

const clients: { disconnect(): void; quit(): Promise<unknown> }[] = [];
after(async () => {
  for (const c of clients) await c.quit().catch(() => c.disconnect());
});

function client(url?: string) {
  const c = redisClient(url);
  clients.push(c);
  return c;
}

await describeWithPeer(redisPeer, 'rate limits in Redis', () => {
  test('8 clients through two nodes take a window of 100 exactly: overshoot 0', async (t) => {
    const prefix = `test:${randomUUID()}:`;
    const nodes = [new RedisRateLimitStore(client(), { prefix }), new RedisRateLimitStore(client(), { prefix })];
    const windows: RateWindow[] = [{ name: 'total', limit: 100, windowMs: 3_600_000 }];
    // The window is an hour long and aligned to the epoch: every request below falls in one window unless the test
    // runs across an hour boundary, which the count of distinct resets would show.
    const now = Date.now();
    let allowed = 0;
    let denied = 0;
    await Promise.all(
      Array.from({ length: 8 }, async (_, worker) => {
        for (let i = 0; i < 40; i++) {
          const node = nodes[(worker + i) % 2]!;
          const decision = await node.consume('key_shared', windows, now);
          if (decision.allowed) allowed++;
          else denied++;
        }
      }),
    );
    t.diagnostic(`2 nodes, 8 clients: 320 requests, limit 100, allowed ${allowed}, denied ${denied}`);
    assert.equal(allowed, 100);
    assert.equal(denied, 220);
  });

  test('a request over one of its windows is counted against none of them', async () => {
    const store = new RedisRateLimitStore(client(), { prefix: `test:${randomUUID()}:` });
    const calls: RateWindow = { name: 'calls', limit: 2, windowMs: 60_000 };
    const total: RateWindow = { name: 'total', limit: 10, windowMs: 60_000 };
    const now = 1_800_000_000_000;
    for (let i = 0; i < 2; i++) assert.equal((await store.consume('k', [calls, total], now)).allowed, true);
    const refused = await store.consume('k', [calls, total], now);
    assert.equal(refused.allowed, false);
    assert.equal(refused.limit, 2);
    // Only the two allowed requests were counted against "total".
    const next = await store.consume('k', [total], now);
    assert.equal(next.remaining, 10 - 3);
  });

  test('decides every sequence of requests exactly as the in-memory store does', async () => {
    const redis = client();
    const names = ['a', 'b', 'c'] as const;
    const policies: RateWindow[][] = [
      [{ name: 'a', limit: 3, windowMs: 1_000 }],
      [{ name: 'a', limit: 3, windowMs: 1_000 }, { name: 'b', limit: 5, windowMs: 10_000 }],
      [{ name: 'c', limit: 0, windowMs: 60_000 }],
      [{ name: 'b', limit: 5, windowMs: 10_000 }],
    ];
    assert.equal(names.length, 3);
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ subject: fc.constantFrom('s1', 's2'), policy: fc.nat(policies.length - 1), advanceMs: fc.nat(1_500) }), {
          minLength: 1,
          maxLength: 40,
        }),
        async (requests) => {
          const shared = new RedisRateLimitStore(redis, { prefix: `test:${randomUUID()}:` });
          const local = new MemoryRateLimitStore();
          try {
            let now = 1_800_000_000_000;
            for (const r of requests) {
              now += r.advanceMs;
              const windows = policies[r.policy]!;
              assert.deepEqual(await shared.consume(r.subject, windows, now), local.consume(r.subject, windows, now));
            }
          } finally {
            local.close();
          }
        },
      ),
      { numRuns: 40, interruptAfterTimeLimit: 10_000 },
    );
  });

  test('a Redis that has forgotten the script (SCRIPT FLUSH) is sent it again', async () => {
    const redis = client();
    const store = new RedisRateLimitStore(redis, { prefix: `test:${randomUUID()}:` });
    const windows: RateWindow[] = [{ name: 'total', limit: 5, windowMs: 60_000 }];
    assert.equal((await store.consume('k', windows, 1_800_000_000_000)).remaining, 4);
    await redis.script('FLUSH');
    assert.equal((await store.consume('k', windows, 1_800_000_000_000)).remaining, 3);
  });

  test('counters expire a few seconds after their window ends', async () => {
    const redis = client();
    const prefix = `test:${randomUUID()}:`;
    const store = new RedisRateLimitStore(redis, { prefix });
    const now = Date.now();
    await store.consume('k', [{ name: 'total', limit: 5, windowMs: 1_000 }], now);
    const [key] = await redis.keys(`${prefix}*`);
    assert.ok(key, 'the counter was written');
    const ttl = await redis.pttl(key);
    assert.ok(ttl > 0 && ttl <= 1_000 + 5_000, `PTTL ${ttl}`);
  });

  test('Redis down: requests are counted per node with one warning, then shared again when it is back', { timeout: 60_000 }, async (t) => {
    const redis: PrivateRedis = await startPrivateRedis();
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) }));
    const shared = await openSharedState({ sharedState: { redisUrl: redis.url, nodeCommandTimeoutMs: 10_000 } }, logger, 'node_test');
    const store = openRateLimitStore(shared.redis, logger);
    try {
      const windows: RateWindow[] = [{ name: 'total', limit: 1_000, windowMs: 3_600_000 }];
      await waitUntil('the store counts in Redis', async () => {
        await store.consume('k', windows, Date.now());
        return (await client(redis.url).keys('dialplane:rl:*')).length === 1;
      }, 10_000);

      await redis.stop();
      let answered = 0;
      const started = Date.now();
      for (let i = 0; i < 50; i++) if ((await store.consume('k', windows, Date.now())).allowed) answered++;
      const perRequestMs = (Date.now() - started) / 50;
      assert.equal(answered, 50, 'every request is answered while Redis is down');
      assert.ok(perRequestMs < 300, `a request waited ${perRequestMs} ms on the dead Redis`);
      const warnings = lines.filter((l) => l.includes('rate limits are counted per node'));
      assert.equal(warnings.length, 1, 'one warning per outage');
      assert.equal(JSON.parse(warnings[0]!).level, 40);

      await redis.start();
      await waitUntil('counting goes back to Redis', async () => {
        await store.consume('k', windows, Date.now());
        return lines.some((l) => l.includes('rate limits are counted across nodes again'));
      }, 15_000);
      t.diagnostic(`Redis down: 50 requests answered per node at ${perRequestMs.toFixed(1)} ms each, 1 warning, then recovered`);
    } finally {
      await store.close();
      await shared.close();
      await redis.stop();
    }
  });

  test('a fallback store reports an outage once and recovery once', async () => {
    let failing = true;
    const events: string[] = [];
    const shared = {
      consume: async () => {
        if (failing) throw new Error('down');
        return { allowed: true, limit: 1, remaining: 0, resetAt: 0, retryAfterSeconds: 0 };
      },
    };
    const local = new MemoryRateLimitStore();
    const store = new FallbackRateLimitStore(shared, local, { onDegraded: () => events.push('down'), onRecovered: () => events.push('up') });
    const w: RateWindow[] = [{ name: 'x', limit: 10, windowMs: 1_000 }];
    await store.consume('k', w, 0);
    await store.consume('k', w, 0);
    assert.equal(store.isDegraded, true);
    failing = false;
    await store.consume('k', w, 0);
    await store.consume('k', w, 0);
    assert.deepEqual(events, ['down', 'up']);
    await store.close();
  });
});
