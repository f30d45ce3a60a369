import type { ClaimsRepository } from '../store/claims-repository.js';
import type { Clock } from './clock.js';

/** ClaimAttempt takes or renews the claim; ClaimDeadline gives the work up when renewals stopped succeeding. */
export type ClaimTimerName = 'ClaimAttempt' | 'ClaimDeadline';

export interface ClaimTimers {
  start(name: ClaimTimerName, ms: number, fire: () => void): { cancel(): void };
}

export const realClaimTimers: ClaimTimers = {
  start(_name, ms, fire) {
    const handle = setTimeout(fire, ms);
    handle.unref();
    return { cancel: () => clearTimeout(handle) };
  },
};

export interface WorkClaimOptions {
  /** What is claimed: `smpp:<account>`, `trunk-register:<trunk>`. */
  readonly name: string;
  /** This node's id. */
  readonly holder: string;
  /** How long a claim lasts unrenewed in the database; it is renewed every third of it. */
  readonly leaseMs: number;
  /** The work starts: this node holds the claim. */
  readonly onAcquired: () => Promise<void> | void;
  /** The work stops: the claim is given up (stop, another node holds it, or renewals failed for too long). */
  readonly onLost: () => Promise<void> | void;
  readonly onError?: (error: unknown, context: string) => void;
  readonly timers?: ClaimTimers;
  /** Local elapsed time (monotonic), for the holder's own deadline. */
  readonly elapsed?: () => number;
}

/**
 * Work one node at a time does for every node sharing the database, held through a named lease row. Every node
 * tries to take the claim every third of the lease; one holds it and renews it on the same beat. A holder whose
 * renewals fail stops the work two thirds of a lease after the last renewal that succeeded, a third of a lease
 * before the row lets another node take it; a holder killed outright is replaced once its lease has run out, so
 * another node takes over within about 4/3 of a lease. A clean stop gives the claim up at once.
 */
export class WorkClaim {
  private state: 'new' | 'running' | 'stopped' = 'new';
  private holding = false;
  private lastRenewedAt = 0;
  private attemptTimer: { cancel(): void } | undefined;
  private deadlineTimer: { cancel(): void } | undefined;
  private attempting: Promise<void> | undefined;
  /** Starting and stopping the work, one after the other. */
  private transitions: Promise<void> = Promise.resolve();
  private readonly timers: ClaimTimers;
  private readonly elapsed: () => number;

  constructor(
    private readonly claims: ClaimsRepository,
    private readonly clock: Clock,
    private readonly options: WorkClaimOptions,
  ) {
    if (!(options.leaseMs >= 3)) throw new RangeError('work claim: leaseMs must be at least 3');
    this.timers = options.timers ?? realClaimTimers;
    this.elapsed = options.elapsed ?? (() => performance.now());
  }

  get name(): string {
    return this.options.name;
  }

  /** Whether this node holds the claim (and its work runs). */
  get held(): boolean {
    return this.holding;
  }

  /** Tries once now (resolving when that try and any start of the work are done), then keeps trying. */
  async start(): Promise<void> {
    if (this.state !== 'new') return;
    this.state = 'running';
    await this.attempt();
    await this.transitions;
  }

  /** One try to take or renew the claim; a try while one is under way joins it. */
  attempt(): Promise<void> {
    if (this.state !== 'running') return Promise.resolve();
    this.attempting ??= this.tryOnce().finally(() => {
      this.attempting = undefined;
      this.arm();
    });
    return this.attempting;
  }

  /** Stops trying; the work stops and the claim is given up now, so another node can take it at once. Idempotent. */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    const wasRunning = this.state === 'running';
    this.state = 'stopped';
    this.attemptTimer?.cancel();
    this.deadlineTimer?.cancel();
    await this.attempting?.catch(() => undefined);
    const held = this.holding;
    await this.lose();
    if (wasRunning && held) {
      try {
        await this.claims.release(this.options.name, this.options.holder, this.clock.now().toISOString());
      } catch (error) {
        this.options.onError?.(error, `could not give up the claim ${this.options.name}`);
      }
    }
  }

  private async tryOnce(): Promise<void> {
    const startedAt = this.elapsed();
    const now = this.clock.now();
    let taken: boolean;
    try {
      taken = await this.claims.acquire(this.options.name, this.options.holder, now.toISOString(), new Date(now.getTime() + this.options.leaseMs).toISOString());
    } catch (error) {
      // The deadline gives the work up if this goes on; until then the claim still stands.
      this.options.onError?.(error, `could not renew the claim ${this.options.name}`);
      return;
    }
    if (this.state !== 'running') return;
    if (!taken) {
      if (this.holding) await this.lose();
      return;
    }
    this.lastRenewedAt = startedAt;
    this.armDeadline();
    if (!this.holding) {
      this.holding = true;
      this.transitions = this.transitions.then(() => this.run(this.options.onAcquired, 'start'));
    }
  }

  private lose(): Promise<void> {
    if (!this.holding) return this.transitions;
    this.holding = false;
    this.deadlineTimer?.cancel();
    this.transitions = this.transitions.then(() => this.run(this.options.onLost, 'stop'));
    return this.transitions;
  }

  private async run(work: () => Promise<void> | void, what: string): Promise<void> {
    try {
      await work();
    } catch (error) {
      this.options.onError?.(error, `could not ${what} the work of the claim ${this.options.name}`);
    }
  }

  private arm(): void {
    if (this.state !== 'running') return;
    this.attemptTimer?.cancel();
    this.attemptTimer = this.timers.start('ClaimAttempt', Math.floor(this.options.leaseMs / 3), () => void this.attempt());
  }

  /**
   * The holder stops its work two thirds of a lease after the last renewal that succeeded. A renewal still waiting
   * for its answer then (a slow database, or this process late on its timers) gets until five sixths of the lease:
   * the row keeps the claim for a whole lease after that renewal was sent, so the work has stopped with a sixth to
   * spare either way.
   */
  private armDeadline(): void {
    this.deadlineTimer?.cancel();
    const renewedAt = this.lastRenewedAt;
    const check = (final: boolean): void => {
      if (this.state !== 'running' || !this.holding || this.lastRenewedAt !== renewedAt) return;
      if (!final && this.attempting) {
        const lastChance = renewedAt + (5 * this.options.leaseMs) / 6;
        this.deadlineTimer = this.timers.start('ClaimDeadline', Math.max(0, lastChance - this.elapsed()), () => check(true));
        void this.attempting.then(() => check(true));
        return;
      }
      this.options.onError?.(new Error(`the claim ${this.options.name} was not renewed in time`), 'work claim lapsed');
      void this.lose();
    };
    const giveUpAt = renewedAt + (2 * this.options.leaseMs) / 3;
    this.deadlineTimer = this.timers.start('ClaimDeadline', Math.max(0, giveUpAt - this.elapsed()), () => check(false));
  }
}
