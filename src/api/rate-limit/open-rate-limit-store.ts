import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { describe } from '../../shared-state/redis-client.js';
import { FallbackRateLimitStore } from './fallback-store.js';
import { MemoryRateLimitStore } from './memory-store.js';
import { RedisRateLimitStore } from './redis-store.js';
import type { RateLimitStore } from './types.js';

export interface OpenedRateLimitStore extends RateLimitStore {
  close(): Promise<void>;
}

/**
 * The API's rate-limit counters: in this process's memory, or with Redis (DIALPLANE_REDIS_URL) there, shared by every
 * node. A Redis outage degrades to per-node counting with a warning in the log; no request is refused because of it.
 */
export function openRateLimitStore(redis: Redis | undefined, logger: Logger): OpenedRateLimitStore {
  const local = new MemoryRateLimitStore();
  if (redis === undefined) {
    return {
      consume: (key, windows, nowMs) => local.consume(key, windows, nowMs),
      close: async () => local.close(),
    };
  }
  const store = new FallbackRateLimitStore(new RedisRateLimitStore(redis), local, {
    onDegraded: (err) => logger.warn({ err: describe(err) }, 'rate limits are counted per node until Redis answers again'),
    onRecovered: () => logger.info('rate limits are counted across nodes again'),
  });
  return {
    consume: (key, windows, nowMs) => store.consume(key, windows, nowMs),
    close: () => store.close(),
  };
}
