import type { RateDecision, RateLimitStore, RateWindow } from './types.js';

export interface FallbackEvents {
  /** The shared store failed; requests are now counted by this node alone. Called once per outage. */
  onDegraded(err: unknown): void;
  /** The shared store answered again after an outage. */
  onRecovered(): void;
}

/**
 * A shared store with a local one behind it. While the shared store (Redis) fails, each request is counted by the
 * local store instead: limits then hold per node rather than across nodes, which is looser but never refuses a
 * request because the store is down. Every request tries the shared store first, so counting goes back to shared as
 * soon as it answers.
 */
export class FallbackRateLimitStore implements RateLimitStore {
  private degraded = false;

  constructor(
    private readonly shared: RateLimitStore,
    private readonly local: RateLimitStore,
    private readonly events: FallbackEvents,
  ) {}

  /** Whether requests are being counted locally because the shared store failed. */
  get isDegraded(): boolean {
    return this.degraded;
  }

  async consume(key: string, windows: readonly RateWindow[], nowMs: number): Promise<RateDecision> {
    let decision: RateDecision;
    try {
      decision = await this.shared.consume(key, windows, nowMs);
    } catch (err) {
      if (!this.degraded) {
        this.degraded = true;
        this.events.onDegraded(err);
      }
      return this.local.consume(key, windows, nowMs);
    }
    if (this.degraded) {
      this.degraded = false;
      this.events.onRecovered();
    }
    return decision;
  }

  async close(): Promise<void> {
    await this.shared.close?.();
    await this.local.close?.();
  }
}
