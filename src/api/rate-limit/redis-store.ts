import { createHash } from 'node:crypto';
import { decideFromCounts, fixedWindowEndMs, type RateDecision, type RateLimitStore, type RateWindow } from './types.js';

/**
 * Fixed-window counters in Redis, shared by every node that uses the same server: a client limited to 100 requests a
 * minute gets 100 in all, whichever nodes answer them. One Lua script reads every window of the request and increments
 * them all only when each is under its limit, so two nodes' requests cannot both take a window's last slot.
 *
 * A counter's key names the end of its window, so a window that has passed is simply a key nobody reads again; it
 * expires shortly after that end.
 */

/** What the store needs of a Redis client (ioredis's Redis fits). */
export interface RedisScripting {
  evalsha(sha: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>;
  eval(script: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>;
}

/**
 * KEYS[i]: the counter of window i. ARGV[i]: its limit; ARGV[n + i]: when its key may expire (Unix ms).
 * Returns the counts read before this request, which decide; the increments happen only when every count was under
 * its limit.
 */
export const CONSUME_SCRIPT = `
local n = #KEYS
local counts = {}
local allowed = true
for i = 1, n do
  local count = tonumber(redis.call('GET', KEYS[i]) or '0')
  counts[i] = count
  if count >= tonumber(ARGV[i]) then allowed = false end
end
if allowed then
  for i = 1, n do
    redis.call('INCR', KEYS[i])
    if counts[i] == 0 then redis.call('PEXPIREAT', KEYS[i], ARGV[n + i]) end
  end
end
return counts
`;
const scriptSha = createHash('sha1').update(CONSUME_SCRIPT).digest('hex');

/** Kept after a window's end so nodes whose clocks differ by less than this still read the same counter. */
const EXPIRY_GRACE_MS = 5_000;

export interface RedisRateLimitStoreOptions {
  /** Prefix of every key; default "dialplane:rl:". */
  readonly prefix?: string;
}

export class RedisRateLimitStore implements RateLimitStore {
  private readonly redis: RedisScripting;
  private readonly prefix: string;
  private sha: string | undefined;

  constructor(redis: RedisScripting, options: RedisRateLimitStoreOptions = {}) {
    this.redis = redis;
    this.prefix = options.prefix ?? 'dialplane:rl:';
  }

  async consume(key: string, windows: readonly RateWindow[], nowMs: number): Promise<RateDecision> {
    const resets = windows.map((w) => fixedWindowEndMs(nowMs, w.windowMs));
    // Window names hold no ':' (the limiter checks), so keys of different windows cannot collide. The subject in
    // braces is a Redis Cluster hash tag: a multi-key script there needs all its keys in one slot.
    const keys = windows.map((w, i) => `${this.prefix}{${key}}:${w.name}:${resets[i]}`);
    const args = [...windows.map((w) => w.limit), ...resets.map((r) => r + EXPIRY_GRACE_MS)];
    const reply = await this.run(keys, args);
    if (!Array.isArray(reply) || reply.length !== windows.length) {
      throw new Error('Redis answered the rate-limit script with something other than one count per window');
    }
    const counts = windows.map((window, i) => ({ window, count: Number(reply[i]), resetMs: resets[i] as number }));
    return decideFromCounts(counts, nowMs);
  }

  private async run(keys: readonly string[], args: readonly number[]): Promise<unknown> {
    if (this.sha !== undefined) {
      try {
        return await this.redis.evalsha(this.sha, keys.length, ...keys, ...args);
      } catch (err) {
        // A restarted or flushed Redis has forgotten the script: send it whole again below.
        if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      }
    }
    const reply = await this.redis.eval(CONSUME_SCRIPT, keys.length, ...keys, ...args);
    this.sha = scriptSha;
    return reply;
  }
}
