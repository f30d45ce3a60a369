import {
  counterId,
  decideFromCounts,
  fixedWindowEndMs,
  type RateDecision,
  type RateLimitStore,
  type RateWindow,
} from './types.js';

/**
 * The timer functions the sweep uses, injectable so tests can drive the sweep by hand. Declared as methods so a fake
 * whose handle is a number (or anything else) still fits: the store only ever hands back the handle it was given.
 */
export interface SweepTimers {
  setInterval(callback: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

export interface MemoryRateLimitStoreOptions {
  /** Most counters (one per subject and window name) kept at once; default 100000. */
  maxKeys?: number;
  /** How often expired counters are dropped; default 60000. */
  sweepIntervalMs?: number;
  timers?: SweepTimers;
  /** Time for the sweep only (consume is told the time by the limiter); give it the limiter's clock. Default Date.now. */
  clock?: () => number;
}

interface Counter {
  count: number;
  /** End of the window the count belongs to; a counter whose window has passed counts as zero. */
  expiresAt: number;
}

/** Counter ids sharing one expiry time, in insertion order, with where eviction left off. */
interface ExpiryBucket {
  readonly ids: Set<string>;
  cursor: Iterator<string> | undefined;
}

interface ReadCount {
  readonly window: RateWindow;
  readonly id: string;
  readonly count: number;
  readonly resetMs: number;
}

const nodeTimers: SweepTimers = {
  // Looked up at call time rather than captured, so node:test's mock.timers also reaches the default.
  setInterval: (callback, ms) => setInterval(callback, ms),
  // The store only ever passes back what setInterval above returned, so the handle is a Node timer.
  clearInterval: (handle) => clearInterval(handle as ReturnType<typeof setInterval>),
};

/**
 * Fixed-window counters in one process's memory. Each consume runs synchronously, which is what makes it atomic:
 * no other consume can interleave between the read and the increments.
 */
export class MemoryRateLimitStore implements RateLimitStore {
  private readonly counters = new Map<string, Counter>();
  /**
   * Counter ids grouped by expiry. Windows are epoch-aligned, so there are only a handful of distinct expiry times
   * at once; that makes "sweep the expired" and "evict the soonest to expire" cheap without a sorted structure.
   */
  private readonly byExpiry = new Map<number, ExpiryBucket>();
  private readonly maxKeys: number;
  private readonly clock: () => number;
  private readonly timers: SweepTimers;
  private sweepHandle: unknown;
  private closed = false;

  constructor(options: MemoryRateLimitStoreOptions = {}) {
    this.maxKeys = positiveInteger(options.maxKeys ?? 100_000, 'maxKeys');
    const sweepIntervalMs = positiveInteger(options.sweepIntervalMs ?? 60_000, 'sweepIntervalMs');
    this.clock = options.clock ?? Date.now;
    this.timers = options.timers ?? nodeTimers;
    this.sweepHandle = this.timers.setInterval(() => this.sweep(), sweepIntervalMs);
    unref(this.sweepHandle);
  }

  /** Number of counters held, expired or not; a counter is one subject's count in one named window. */
  get size(): number {
    return this.counters.size;
  }

  consume(key: string, windows: readonly RateWindow[], nowMs: number): RateDecision {
    const counts = windows.map((window) => this.read(key, window, nowMs));
    const decision = decideFromCounts(counts, nowMs);
    if (decision.allowed) this.increment(counts);
    return decision;
  }

  /** Drops every counter whose window has ended by `nowMs`. */
  sweep(nowMs: number = this.clock()): void {
    for (const [expiresAt, bucket] of this.byExpiry) {
      if (expiresAt > nowMs) continue;
      for (const id of bucket.ids) this.counters.delete(id);
      this.byExpiry.delete(expiresAt);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.timers.clearInterval(this.sweepHandle);
  }

  private read(key: string, window: RateWindow, nowMs: number): ReadCount {
    const id = counterId(key, window.name);
    const resetMs = fixedWindowEndMs(nowMs, window.windowMs);
    const counter = this.counters.get(id);
    const count = counter && counter.expiresAt === resetMs ? counter.count : 0;
    return { window, id, count, resetMs };
  }

  private increment(counts: readonly ReadCount[]): void {
    for (const { id, resetMs } of counts) {
      const counter = this.counters.get(id);
      if (counter && counter.expiresAt === resetMs) {
        counter.count += 1;
      } else if (counter) {
        this.unindex(id, counter.expiresAt);
        counter.count = 1;
        counter.expiresAt = resetMs;
        this.index(id, resetMs);
      } else {
        this.makeRoom(counts);
        this.counters.set(id, { count: 1, expiresAt: resetMs });
        this.index(id, resetMs);
      }
    }
  }

  /**
   * Evicts the counters closest to expiry (expired ones first) until one more fits. Evicting a live counter forgets
   * that client's count, which errs towards allowing; that beats letting a flood of distinct IPs exhaust memory.
   * Counters of the request being counted are spared, so the bound can only be exceeded when maxKeys is smaller
   * than the number of windows in a single request.
   */
  private makeRoom(current: readonly ReadCount[]): void {
    if (this.counters.size < this.maxKeys) return;
    const spared = new Set(current.map((c) => c.id));
    while (this.counters.size >= this.maxKeys) {
      const victim = this.soonestToExpire(spared);
      if (victim === undefined) return;
      const counter = this.counters.get(victim);
      if (counter) this.unindex(victim, counter.expiresAt);
      this.counters.delete(victim);
    }
  }

  private soonestToExpire(spared: ReadonlySet<string>): string | undefined {
    const expiries = [...this.byExpiry.keys()].sort((a, b) => a - b);
    for (const expiresAt of expiries) {
      const bucket = this.byExpiry.get(expiresAt);
      const victim = bucket && oldestUnspared(bucket, spared);
      if (victim !== undefined) return victim;
    }
    return undefined;
  }

  private index(id: string, expiresAt: number): void {
    const bucket = this.byExpiry.get(expiresAt);
    if (bucket) bucket.ids.add(id);
    else this.byExpiry.set(expiresAt, { ids: new Set([id]), cursor: undefined });
  }

  private unindex(id: string, expiresAt: number): void {
    const bucket = this.byExpiry.get(expiresAt);
    if (!bucket) return;
    bucket.ids.delete(id);
    if (bucket.ids.size === 0) this.byExpiry.delete(expiresAt);
  }
}

/**
 * The longest-held id of a bucket that is not spared. The cursor persists between evictions because a fresh
 * iterator would walk over every slot deleted since the Set last compacted, making a flood quadratic; Set iterators
 * stay valid across deletions and see later additions. A second pass from the start picks up ids passed over
 * while they were spared.
 */
function oldestUnspared(bucket: ExpiryBucket, spared: ReadonlySet<string>): string | undefined {
  for (let pass = 0; pass < 2; pass++) {
    bucket.cursor ??= bucket.ids.values();
    for (let next = bucket.cursor.next(); !next.done; next = bucket.cursor.next()) {
      if (!spared.has(next.value)) return next.value;
    }
    bucket.cursor = undefined;
  }
  return undefined;
}

function positiveInteger(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  return value;
}

/** A sweep timer must never be what keeps the process alive. */
function unref(handle: unknown): void {
  if (typeof handle === 'object' && handle !== null && 'unref' in handle && typeof handle.unref === 'function') {
    handle.unref();
  }
}
