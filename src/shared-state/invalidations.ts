import type { Redis } from 'ioredis';

/**
 * Cache invalidations between the nodes of one deployment. A node that changes something another node may hold in
 * memory (an account's summary, a user's or an API key's state, a device's registrations) publishes it; every other node drops its copy. One process alone needs
 * none of this: its caches are told directly.
 */
export type InvalidationTopic = 'account' | 'user' | 'api-key' | 'device';

export interface Invalidation {
  readonly topic: InvalidationTopic;
  readonly id: string;
}

export interface Invalidations {
  /** Tells the other nodes; never throws (a lost message leaves their copy to its TTL). */
  publish(invalidation: Invalidation): void;
  /** Invalidations published by other nodes. */
  subscribe(listener: (invalidation: Invalidation) => void): () => void;
  /**
   * Called when messages may have been missed (the shared channel was down): every cache should drop everything,
   * since an invalidation it needed may be among them.
   */
  onMissed(listener: () => void): () => void;
  close(): Promise<void>;
}

/** One process: there is nobody to tell. */
export const localInvalidations: Invalidations = {
  publish: () => undefined,
  subscribe: () => () => undefined,
  onMissed: () => () => undefined,
  close: async () => undefined,
};

export const INVALIDATION_CHANNEL = 'dialplane:invalidate';
const TOPICS: ReadonlySet<string> = new Set<InvalidationTopic>(['account', 'user', 'api-key', 'device']);

/**
 * Invalidations over Redis pub/sub: one channel, messages `{"node":…,"topic":…,"id":…}`; a node ignores its own.
 * Pub/sub delivers only to connected subscribers, so when the subscriber connection comes back after a loss the
 * caches are told to drop everything.
 */
export class RedisInvalidations implements Invalidations {
  private readonly listeners = new Set<(invalidation: Invalidation) => void>();
  private readonly missedListeners = new Set<() => void>();
  private subscribedOnce = false;

  constructor(
    private readonly publisher: Redis,
    private readonly subscriber: Redis,
    private readonly nodeId: string,
    private readonly onError: (err: unknown, context: string) => void,
  ) {
    subscriber.on('message', (channel: string, message: string) => {
      if (channel === INVALIDATION_CHANNEL) this.receive(message);
    });
    // The subscriber is opened with autoResubscribe off: each (re)connection subscribes here, and every one after the
    // first tells the caches that messages may have been missed meanwhile.
    subscriber.on('ready', () => this.onReady());
  }

  /** Subscribes now if the connection is up; otherwise when it comes up. */
  start(): void {
    if (this.subscriber.status === 'ready') this.onReady();
  }

  private onReady(): void {
    if (this.subscribedOnce) for (const listener of this.missedListeners) this.call(listener);
    this.subscribedOnce = true;
    this.subscriber.subscribe(INVALIDATION_CHANNEL).catch((err: unknown) => this.onError(err, 'could not subscribe to cache invalidations'));
  }

  publish(invalidation: Invalidation): void {
    const message = JSON.stringify({ node: this.nodeId, topic: invalidation.topic, id: invalidation.id });
    this.publisher.publish(INVALIDATION_CHANNEL, message).catch((err: unknown) => this.onError(err, 'could not publish a cache invalidation'));
  }

  subscribe(listener: (invalidation: Invalidation) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onMissed(listener: () => void): () => void {
    this.missedListeners.add(listener);
    return () => this.missedListeners.delete(listener);
  }

  async close(): Promise<void> {
    this.listeners.clear();
    this.missedListeners.clear();
  }

  private receive(message: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(message);
    } catch {
      return;
    }
    if (typeof parsed !== 'object' || parsed === null) return;
    const { node, topic, id } = parsed as Record<string, unknown>;
    if (node === this.nodeId || typeof topic !== 'string' || !TOPICS.has(topic) || typeof id !== 'string') return;
    const invalidation: Invalidation = { topic: topic as InvalidationTopic, id };
    for (const listener of this.listeners) this.call(() => listener(invalidation));
  }

  private call(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.onError(err, 'a cache invalidation listener failed');
    }
  }
}
