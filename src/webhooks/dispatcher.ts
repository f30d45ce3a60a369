/**
 * The webhook dispatcher: takes due deliveries from the outbox, sends each through the sender, and writes back what
 * the retry policy decided, attempt by attempt. Delivery is at least once: a delivery is leased while it is being
 * sent, and a lease that expires (the process died mid-attempt) makes it due again.
 *
 * Concurrency is bounded twice: at most `concurrency` attempts under way overall (a request in flight, or its outcome
 * waiting to be written) and at most `perTargetConcurrency` requests in flight to one target (an endpoint, or the URL
 * of a one-off delivery), so one slow receiver holds only its own share.
 *
 * Outcomes are written in batches: the attempts that finish while one write is under way are written together by
 * the next (one transaction, two statements). A target's slot is free as soon as a request is answered with a 2xx;
 * after any other answer, once its outcome is written.
 *
 * A look at the outbox that found nothing it could take is remembered with the targets that were full then; until a
 * new delivery is written (notify), a timer fires, a lease is released or an ordered delivery's outcome is written,
 * the next look is skipped while those targets are still full. Without that, every finished attempt of a target with
 * a long backlog would scan the whole backlog for deliveries of other targets.
 *
 * Time comes from `now` and the one named timer from `timers`; both are injected so tests can move time.
 */
import { decide, type AttemptOutcome, type RetryDecision, type RetryPolicy } from './retry-policy.js';

/** A delivery leased for one attempt. */
export interface ClaimedDelivery {
  readonly id: string;
  readonly eventId: string;
  readonly endpointId: string | null;
  readonly targetKey: string;
  readonly url: string;
  readonly eventType: string;
  readonly payload: string;
  readonly signatureHeader: string | null;
  /** Current secret first; during a rotation the previous one follows. Empty: unsigned. */
  readonly secrets: readonly string[];
  /** Attempts made before this one. */
  readonly attempts: number;
  /** Epoch ms of the first attempt, when there was one. */
  readonly firstAttemptAt: number | null;
  /** The node that claimed it for this attempt, when the dispatcher names one. */
  readonly claimedBy?: string | null;
  /** One of a target whose deliveries go one by one, in order: its outcome may make the next one claimable. */
  readonly ordered?: boolean;
}

/** What a claim reports beside the deliveries it leased. */
export interface ClaimReport {
  /** The claim looked at every due delivery outside the saturated targets: nothing more to take until something changes. */
  exhausted: boolean;
}

/** What the sender reports for one attempt. `refused` is the SSRF guard's answer: permanent for this URL. */
export type SendResult =
  | { readonly outcome: AttemptOutcome; readonly error?: string }
  | { readonly outcome: { readonly kind: 'refused' }; readonly error: string };

export type Sender = (delivery: ClaimedDelivery, attempt: number) => Promise<SendResult>;

export type AttemptDecision = RetryDecision | { action: 'give_up'; reason: 'target_refused' };

export interface AttemptRecord {
  readonly delivery: ClaimedDelivery;
  /** 1-based. */
  readonly attempt: number;
  readonly startedAt: number;
  readonly latencyMs: number;
  readonly statusCode: number | null;
  readonly error: string | null;
  readonly decision: AttemptDecision;
}

/** The outbox as the dispatcher needs it; the store implements it over SQLite or PostgreSQL. */
export interface OutboxStore {
  /**
   * Leases up to `limit` pending deliveries due at `now` (oldest due first), never more than `perTarget[key]`
   * more for a target, and none for a target in `saturated`. With several nodes on one database, no delivery is
   * leased to two claims at once; `claimant` names the node the lease is written for.
   */
  claimDue(input: {
    now: number;
    limit: number;
    leaseMs: number;
    saturated: readonly string[];
    perTargetRoom: (targetKey: string) => number;
    claimant?: string;
    /** Filled in by the claim. */
    report?: ClaimReport;
  }): Promise<ClaimedDelivery[]>;
  /**
   * Writes the attempt and its consequence (delivered, next attempt, failed, endpoint disabled) in one write. The
   * delivery changes only while this attempt's claim still holds it (not released and claimed again elsewhere).
   */
  complete(record: AttemptRecord): Promise<void>;
  /** As complete, for several attempts in one write. */
  completeAll(records: readonly AttemptRecord[]): Promise<void>;
  /** Makes deliveries whose lease ran out due again; returns how many. */
  releaseExpiredLeases(now: number): Promise<number>;
  /** When the earliest pending delivery is due, if any. */
  nextDueAt(): Promise<number | undefined>;
}

export interface DispatcherTimers {
  start(name: 'webhook.wake' | 'webhook.record', ms: number, fire: () => void): { cancel(): void };
}

/** An attempt's record that met the outbox unreachable is written again after this, doubling up to the max. */
const RECORD_RETRY_MS = 100;
const RECORD_RETRY_MAX_MS = 1_000;

export const realDispatcherTimers: DispatcherTimers = {
  start(_name, ms, fire) {
    const handle = setTimeout(fire, ms);
    handle.unref();
    return { cancel: () => clearTimeout(handle) };
  },
};

export interface DispatcherOptions {
  readonly store: OutboxStore;
  readonly send: Sender;
  readonly policy: RetryPolicy;
  readonly concurrency: number;
  readonly perTargetConcurrency: number;
  /** How long one attempt may hold its delivery; longer than the request timeout. */
  readonly leaseMs: number;
  /** The node this dispatcher runs on, written on every delivery it claims. */
  readonly claimant?: string;
  /** Longest sleep between looks at the outbox (other processes write to it too, leases expire). */
  readonly pollMs?: number;
  readonly now?: () => number;
  readonly random?: () => number;
  readonly timers?: DispatcherTimers;
  readonly onError?: (error: unknown) => void;
  /**
   * Whether a failure to record an attempt means the outbox is away for a while (the database restarting): the
   * record is then written again while the attempt's lease lasts, so a delivery the receiver took is not sent again.
   */
  readonly isUnavailable?: (error: unknown) => boolean;
  /** Called after every attempt has been recorded (metrics, tests). */
  readonly onAttempt?: (record: AttemptRecord) => void;
}

const DEFAULT_POLL_MS = 1_000;
/** Most outcomes written by one transaction. */
const MAX_COMPLETIONS_PER_WRITE = 256;

export class WebhookDispatcher {
  private readonly inFlight = new Map<string, number>();
  private active = 0;
  private running = false;
  private stopped = true;
  private pumping = false;
  private pumpAgain = false;
  private wake: { cancel(): void } | undefined;
  private wakeAt: number | undefined;
  private leasesCheckedAt: number | undefined;
  private immediate: NodeJS.Immediate | undefined;
  /** The targets that were full when a look at the outbox last found nothing more to take (see the header). */
  private fullWhenExhausted: ReadonlySet<string> | undefined;
  /** Counts what may have made more deliveries claimable; a look that overlapped one of them remembers nothing. */
  private outboxChanges = 0;
  private readonly completions: Array<{ readonly record: AttemptRecord; readonly written: () => void }> = [];
  private writing = false;
  private readonly idleWaiters: Array<() => void> = [];
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly timers: DispatcherTimers;
  private readonly pollMs: number;

  constructor(private readonly options: DispatcherOptions) {
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.timers = options.timers ?? realDispatcherTimers;
    this.pollMs = options.pollMs ?? DEFAULT_POLL_MS;
    if (options.concurrency < 1 || options.perTargetConcurrency < 1) {
      throw new RangeError('webhook dispatcher: concurrency limits must be at least 1');
    }
  }

  /** Starts delivering: leases left by a previous process are released once they expire. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.stopped = false;
    this.notify();
  }

  /** A delivery was written: look at the outbox soon (coalesced with other notifications). */
  notify(): void {
    this.outboxChanged();
    this.lookSoon();
  }

  private outboxChanged(): void {
    this.outboxChanges += 1;
    this.fullWhenExhausted = undefined;
  }

  /** Look at the outbox soon: room was made, but nothing new was written. */
  private lookSoon(): void {
    if (this.stopped || this.immediate) return;
    this.immediate = setImmediate(() => {
      this.immediate = undefined;
      void this.pump();
    });
  }

  /** Requests in flight now. */
  get inFlightCount(): number {
    return this.active;
  }

  /** Stops taking deliveries and waits for the attempts in flight to be recorded. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.running = false;
    this.wake?.cancel();
    this.wake = undefined;
    if (this.immediate) clearImmediate(this.immediate);
    this.immediate = undefined;
    await this.idle();
  }

  /** Resolves when nothing is in flight and no look at the outbox is under way. */
  idle(): Promise<void> {
    if (this.active === 0 && !this.pumping) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** One look at the outbox: claim what is due and start it, then sleep until the next delivery is due. */
  async pump(): Promise<void> {
    if (this.stopped) return;
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      // A notification that arrives while this look is under way (even while it computes the next wake) is
      // served by another round here, never dropped.
      while (!this.stopped) {
        this.pumpAgain = false;
        await this.claimAndStart();
        if (this.pumpAgain) continue;
        await this.scheduleWake();
        if (!this.pumpAgain) break;
      }
    } catch (error) {
      this.options.onError?.(error);
      if (!this.stopped) this.armWake(this.pollMs);
    } finally {
      this.pumping = false;
      this.settleIdle();
    }
  }

  private async claimAndStart(): Promise<void> {
    const { store, concurrency, perTargetConcurrency, leaseMs } = this.options;
    if (this.leasesCheckedAt === undefined || this.now() - this.leasesCheckedAt >= this.pollMs) {
      this.leasesCheckedAt = this.now();
      if ((await store.releaseExpiredLeases(this.leasesCheckedAt)) > 0) this.outboxChanged();
    }
    while (!this.stopped && this.active < concurrency) {
      const saturated = this.saturatedTargets();
      const known = this.fullWhenExhausted;
      if (known !== undefined && [...known].every((key) => saturated.includes(key))) return;
      const changes = this.outboxChanges;
      const report: ClaimReport = { exhausted: false };
      // The targets with due deliveries this look weighed: one may have been full when weighed and have room again by
      // the time the look ends (a request answered meanwhile), so each is remembered with the full ones below.
      const weighed = new Set<string>();
      const claimed = await store.claimDue({
        report,
        now: this.now(),
        limit: concurrency - this.active,
        leaseMs,
        saturated,
        perTargetRoom: (key) => {
          weighed.add(key);
          return perTargetConcurrency - (this.inFlight.get(key) ?? 0);
        },
        ...(this.options.claimant !== undefined ? { claimant: this.options.claimant } : {}),
      });
      for (const delivery of claimed) this.startAttempt(delivery);
      if (report.exhausted || claimed.length === 0) {
        // A delivery written while this look was under way may not have been seen by it: look again.
        if (changes !== this.outboxChanges) continue;
        // What this look could not see: the targets it passed over, those it weighed and those it filled. The next
        // look is skipped only while every one of them is full.
        this.fullWhenExhausted = new Set([...saturated, ...weighed, ...this.saturatedTargets()]);
        return;
      }
    }
  }

  private saturatedTargets(): string[] {
    const limit = this.options.perTargetConcurrency;
    const saturated: string[] = [];
    for (const [key, n] of this.inFlight) if (n >= limit) saturated.push(key);
    return saturated;
  }

  private async scheduleWake(): Promise<void> {
    const next = await this.options.store.nextDueAt();
    const now = this.now();
    // A delivery already due that was not claimed waits for room (its target's cap, the overall cap): the attempt
    // that finishes and makes room looks again, so there is nothing to wake for until then.
    const delay = next === undefined || next <= now ? this.pollMs : Math.min(this.pollMs, next - now);
    this.armWake(delay);
  }

  private armWake(delay: number): void {
    if (delay <= 0) {
      this.notify();
      return;
    }
    const at = this.now() + delay;
    if (this.wake && this.wakeAt !== undefined && this.wakeAt <= at) return;
    this.wake?.cancel();
    this.wakeAt = at;
    this.wake = this.timers.start('webhook.wake', delay, () => {
      this.wake = undefined;
      this.wakeAt = undefined;
      // Through notify, so the look at the outbox reads the clock after the timer's turn has finished.
      this.notify();
    });
  }

  private startAttempt(delivery: ClaimedDelivery): void {
    this.active += 1;
    this.inFlight.set(delivery.targetKey, (this.inFlight.get(delivery.targetKey) ?? 0) + 1);
    void this.attempt(delivery).finally(() => {
      this.active -= 1;
      if (!this.stopped) this.lookSoon();
      this.settleIdle();
    });
  }

  /** The request has finished: its target may take another while the outcome waits to be written. */
  private requestDone(delivery: ClaimedDelivery): void {
    const left = (this.inFlight.get(delivery.targetKey) ?? 1) - 1;
    if (left <= 0) this.inFlight.delete(delivery.targetKey);
    else this.inFlight.set(delivery.targetKey, left);
    if (!this.stopped) this.lookSoon();
  }

  private async attempt(delivery: ClaimedDelivery): Promise<void> {
    let slotHeld = true;
    const freeSlot = (): void => {
      if (slotHeld) this.requestDone(delivery);
      slotHeld = false;
    };
    try {
      await this.attemptHoldingSlot(delivery, freeSlot);
    } finally {
      freeSlot();
    }
  }

  private async attemptHoldingSlot(delivery: ClaimedDelivery, freeSlot: () => void): Promise<void> {
    const attempt = delivery.attempts + 1;
    const startedAt = this.now();
    let result: SendResult;
    try {
      result = await this.options.send(delivery, attempt);
    } catch (error) {
      result = { outcome: { kind: 'network' }, error: error instanceof Error ? error.message : String(error) };
    }
    const finishedAt = this.now();
    const outcome = result.outcome;
    const decision: AttemptDecision =
      outcome.kind === 'refused'
        ? { action: 'give_up', reason: 'target_refused' }
        : decide(this.options.policy, {
            attempt,
            firstAttemptAt: delivery.firstAttemptAt ?? startedAt,
            now: finishedAt,
            outcome,
            random: this.random,
          });
    const record: AttemptRecord = {
      delivery,
      attempt,
      startedAt,
      latencyMs: Math.max(0, finishedAt - startedAt),
      statusCode: outcome.kind === 'status' ? outcome.status : null,
      error: result.error ?? null,
      decision,
    };
    // A delivered attempt frees its target's slot at once. Any other outcome holds it until written: a 410 disables
    // the endpoint and cancels its pending deliveries in that write, and no more of them may be claimed before it.
    if (decision.action === 'delivered') freeSlot();
    await new Promise<void>((written) => {
      this.completions.push({ record, written });
      if (!this.writing) {
        this.writing = true;
        // The outcomes of the attempts that finish in this turn of the event loop join the first write.
        setImmediate(() => void this.writeCompletions());
      }
    });
  }

  /** Writes the outcomes waiting, a batch at a time, until none is left. */
  private async writeCompletions(): Promise<void> {
    const { onAttempt, onError } = this.options;
    while (this.completions.length > 0) {
      const batch = this.completions.splice(0, MAX_COMPLETIONS_PER_WRITE);
      const unwritten = await this.writeBatch(batch.map((entry) => entry.record));
      for (const { record, written } of batch) {
        if (record.delivery.ordered === true) this.outboxChanged();
        try {
          if (!unwritten.has(record)) onAttempt?.(record);
        } catch (error) {
          onError?.(error);
        }
        written();
      }
    }
    this.writing = false;
  }

  /**
   * Writes one batch of outcomes; returns the ones left unwritten. While the database is away (a PostgreSQL restart),
   * the batch is tried again for as long as each attempt's claim lasts: otherwise the lease runs out and a delivery
   * the receiver took is sent again. (Written after its lease ran out, a record changes nothing: completing is
   * conditional on the attempt's own claim.) Any other failure: one outcome the database refuses must not take the
   * others with it, so each is written on its own. One that still fails is left to its lease, which runs out and the
   * delivery is attempted again: at least once, never lost.
   */
  private async writeBatch(records: readonly AttemptRecord[]): Promise<Set<AttemptRecord>> {
    const { store, onError, isUnavailable, leaseMs } = this.options;
    const unwritten = new Set<AttemptRecord>();
    let pending = records;
    for (let waitMs = RECORD_RETRY_MS; ; waitMs = Math.min(waitMs * 2, RECORD_RETRY_MAX_MS)) {
      try {
        await store.completeAll(pending);
        return unwritten;
      } catch (error) {
        if (this.stopped || isUnavailable?.(error) !== true) {
          onError?.(error);
          for (const record of pending) {
            try {
              await store.complete(record);
            } catch (single) {
              onError?.(single);
              unwritten.add(record);
            }
          }
          return unwritten;
        }
        const now = this.now();
        for (const record of pending) if (now - record.startedAt >= leaseMs) unwritten.add(record);
        pending = pending.filter((record) => !unwritten.has(record));
        if (pending.length === 0) {
          onError?.(error);
          return unwritten;
        }
      }
      await new Promise<void>((resolve) => this.timers.start('webhook.record', waitMs, resolve));
    }
  }

  private settleIdle(): void {
    if (this.active !== 0 || this.pumping) return;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}
