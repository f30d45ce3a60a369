/**
 * One read per key at a time: a caller asking while a read of that key runs waits for it instead of starting one of
 * its own (when a cached value runs out under load, the calls in flight would otherwise all read it at once). A read
 * let go of while it runs (forget, clear: a change was made meanwhile and may not be in it) still answers its own
 * callers, but its value is not kept.
 */
export class SharedReads<K, V> {
  private readonly reading = new Map<K, Promise<V>>();

  /** The read of `key` under way, or a new one of `read()`; `keep(value)` runs when it ends unless it was let go of. */
  get(key: K, read: () => Promise<V>, keep: (value: V) => void): Promise<V> {
    const running = this.reading.get(key);
    if (running) return running;
    const started: Promise<V> = read().then(
      (value) => {
        if (this.reading.get(key) === started) {
          this.reading.delete(key);
          keep(value);
        }
        return value;
      },
      (error: unknown) => {
        if (this.reading.get(key) === started) this.reading.delete(key);
        throw error;
      },
    );
    this.reading.set(key, started);
    return started;
  }

  /** Lets go of the read of `key` under way, if any. */
  forget(key: K): void {
    this.reading.delete(key);
  }

  /** Lets go of every read under way. */
  clear(): void {
    this.reading.clear();
  }
}
