/**
 * A token bucket per source IP address: each holds up to `burst` tokens, refilled at `rate` per second; a request
 * takes one. Buckets that have refilled completely are forgotten, so the map holds only sources seen recently.
 */
export class SourceRateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private lastSweep = 0;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether a request from this address may go on (taking a token); false when its bucket is empty. */
  take(address: string): boolean {
    if (this.rate <= 0) return true;
    const now = this.now();
    this.sweep(now);
    const bucket = this.buckets.get(address);
    if (!bucket) {
      this.buckets.set(address, { tokens: this.burst - 1, at: now });
      return true;
    }
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.rate);
    bucket.at = now;
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  /** Seconds until a request from this address would be let through again (at least 1). */
  retryAfterS(address: string): number {
    const bucket = this.buckets.get(address);
    if (!bucket || this.rate <= 0) return 1;
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.rate));
  }

  get size(): number {
    return this.buckets.size;
  }

  private sweep(now: number): void {
    if (now - this.lastSweep < 10_000) return;
    this.lastSweep = now;
    const full = (this.burst / this.rate) * 1000;
    for (const [address, bucket] of this.buckets) if (now - bucket.at >= full) this.buckets.delete(address);
  }
}
