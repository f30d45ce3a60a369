import { Redis } from 'ioredis';

export interface RedisClientEvents {
  /** A connection attempt or an established connection failed; called once until the client is ready again. */
  onDown(err: unknown): void;
  /** The client is connected (again). */
  onUp(): void;
}

/** How long one command may wait for Redis before it fails and the caller falls back. */
export const REDIS_COMMAND_TIMEOUT_MS = 250;

/**
 * Opens the connection the nodes share state through. It fails fast rather than queueing: while Redis is
 * unreachable a command is refused at once (or after REDIS_COMMAND_TIMEOUT_MS when Redis hangs), so the callers'
 * fallbacks answer instead of a request waiting for a reconnect. Reconnection goes on in the background.
 */
export function openRedis(url: string, events: RedisClientEvents, options: { readonly subscriber?: boolean } = {}): Redis {
  let down = false;
  const client = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    connectTimeout: 2_000,
    // Keep trying, at most every 2 s: Redis coming back must not need a restart of the node.
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
    lazyConnect: false,
    // A subscriber subscribes itself on each connection (see RedisInvalidations).
    ...(options.subscriber ? { autoResubscribe: false } : {}),
  });
  client.on('error', (err: unknown) => {
    if (down) return;
    down = true;
    events.onDown(err);
  });
  client.on('ready', () => {
    if (!down) return;
    down = false;
    events.onUp();
  });
  return client;
}

/** The message only: a Redis error can carry a command's arguments, which are not the log's business. */
export function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
