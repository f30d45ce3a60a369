import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { localInvalidations, RedisInvalidations, type Invalidations } from './invalidations.js';
import { localNodeBus, RedisNodeBus, type NodeBus } from './node-bus.js';
import { describe, openRedis } from './redis-client.js';

/** What the nodes of one deployment share besides the database. */
export interface SharedState {
  /** Commands (rate-limit counters, publishing); undefined: one process. */
  readonly redis: Redis | undefined;
  readonly invalidations: Invalidations;
  /** Commands to the node driving a call, and call events for other nodes' live streams. */
  readonly bus: NodeBus;
  close(): Promise<void>;
}

/** How long the start waits for Redis before going on with per-node state (and a warning). */
const START_WAIT_MS = 2_000;

/**
 * With DIALPLANE_REDIS_URL: two connections to Redis (pub/sub needs one of its own), whose outages are logged once
 * each and never stop the node. Without: one process, nothing shared.
 */
export async function openSharedState(config: Pick<Config, 'sharedState'>, logger: Logger, nodeId: string): Promise<SharedState> {
  const url = config.sharedState.redisUrl;
  if (url === undefined) return { redis: undefined, invalidations: localInvalidations, bus: localNodeBus, close: async () => undefined };
  const redis = openRedis(url, {
    onDown: (err) => logger.warn({ err: describe(err) }, 'Redis unreachable'),
    onUp: () => logger.info('Redis connected'),
  });
  const subscriber = openRedis(url, { onDown: () => undefined, onUp: () => undefined }, { subscriber: true });
  const invalidations = new RedisInvalidations(redis, subscriber, nodeId, (err, context) => logger.warn({ err: describe(err) }, context));
  invalidations.start();
  const bus = new RedisNodeBus(
    redis,
    subscriber,
    nodeId,
    (err, context) => logger.warn({ err: describe(err) }, context),
    config.sharedState.nodeCommandTimeoutMs,
  );
  bus.start();
  if (!(await whenReady(redis, START_WAIT_MS))) {
    logger.warn({ waitedMs: START_WAIT_MS }, 'Redis did not answer at start; rate limits and caches are per node until it does');
  }
  return {
    redis,
    invalidations,
    bus,
    async close() {
      await bus.close();
      await invalidations.close();
      for (const client of [subscriber, redis]) {
        // quit() waits for Redis; a node stopping while Redis is down must not hang on it.
        if (client.status === 'ready') await client.quit().catch(() => client.disconnect());
        else client.disconnect();
      }
    },
  };
}

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
