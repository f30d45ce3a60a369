import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../../config/schema.js';
import { openRedis } from '../../shared-state/redis-client.js';
import { FallbackRateLimitStore } from './fallback-store.js';
import { MemoryRateLimitStore } from './memory-store.js';
import { RedisRateLimitStore } from './redis-store.js';
import type { RateLimitStore } from './types.js';

export interface OpenedRateLimitStore extends RateLimitStore {
  close(): Promise<void>;
}

/**
 * The API's rate-limit counters: in this process's memory, or with DIALPLANE_REDIS_URL in Redis, shared by every node.
 * A Redis outage degrades to per-node counting with a warning in the log; no request is refused because of it.
 */
export async function openRateLimitStore(config: Pick<Config, 'sharedState'>, logger: Logger): Promise<OpenedRateLimitStore> {
  const local = new MemoryRateLimitStore();
  const url = config.sharedState.redisUrl;
  if (url === undefined) {
    return {
      consume: (key, windows, nowMs) => local.consume(key, windows, nowMs),
      close: async () => local.close(),
    };
  }
  const redis = openRedis(url, {
    onDown: (err) => logger.warn({ err: describe(err) }, 'Redis unreachable'),
    onUp: () => logger.info('Redis connected'),
  });
  // The first requests should not count per node just because the connection is still being made; a Redis that
  // does not answer in time is what the fallback is for.
  if (!(await whenReady(redis, REDIS_START_WAIT_MS))) {
    logger.warn({ waitedMs: REDIS_START_WAIT_MS }, 'Redis did not answer at start; rate limits are counted per node until it does');
  }
  const store = new FallbackRateLimitStore(new RedisRateLimitStore(redis), local, {
    onDegraded: (err) =>
      logger.warn({ err: describe(err) }, 'rate limits are counted per node until Redis answers again'),
    onRecovered: () => logger.info('rate limits are counted across nodes again'),
  });
  return {
    consume: (key, windows, nowMs) => store.consume(key, windows, nowMs),
    close: async () => {
      await store.close();
      // quit() waits for Redis; a node stopping while Redis is down must not hang on it.
      if (redis.status === 'ready') await redis.quit().catch(() => redis.disconnect());
      else redis.disconnect();
    },
  };
}

const REDIS_START_WAIT_MS = 2_000;

function whenReady(redis: Redis, timeoutMs: number): Promise<boolean> {
  if (redis.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      redis.off('ready', onReady);
      resolve(false);
    }, timeoutMs);
    const onReady = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    redis.once('ready', onReady);
  });
}

/** The message only: a Redis error can carry the command's arguments, which are not the log's business. */
function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
