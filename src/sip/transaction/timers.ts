/**
 * RFC 3261 §17 timers by name (Table 4 of §A), with RFC 6026's L and M. Values derive from T1, T2 and T4 so that a
 * deployment that changes T1 (a high-latency trunk) gets every dependent timer right; nothing else is a literal.
 */
export interface SipTimerBase {
  /** RTT estimate. */
  readonly T1: number;
  /** Maximum retransmit interval for non-INVITE requests and INVITE responses. */
  readonly T2: number;
  /** Maximum duration a message remains in the network. */
  readonly T4: number;
}

export const DEFAULT_TIMER_BASE: SipTimerBase = Object.freeze({ T1: 500, T2: 4_000, T4: 5_000 });

export type TransactionTimerName = 'A' | 'B' | 'D' | 'E' | 'F' | 'G' | 'H' | 'I' | 'J' | 'K' | 'L' | 'M' | 'ProvisionalDelay';

/**
 * Timers of the dialog layer above the transactions: CancelGiveUp (§9.1: 64*T1 after a CANCEL without a final
 * response the INVITE is considered cancelled), ReliableProvisional (RFC 3262 §3: a reliable 1xx is retransmitted
 * at T1 doubling until its PRACK, for at most 64*T1), SessionRefresh and SessionExpiry (RFC 4028: durations from the
 * negotiated Session-Expires, see dialog/session-timer.ts), RequestPending (§14.1: a re-INVITE refused with 491 is
 * tried again after a random wait), ReferSubscription (RFC 3515: how long the sender of a REFER waits for the next
 * NOTIFY of its implicit subscription: 64*T1 for the first, the Subscription-State's expires after that).
 */
export type DialogTimerName = 'CancelGiveUp' | 'ReliableProvisional' | 'SessionRefresh' | 'SessionExpiry' | 'RequestPending' | 'ReferSubscription';

export type TimerName = TransactionTimerName | DialogTimerName;

/** Initial durations for a transaction over a reliable (TCP) or unreliable (UDP) transport. */
export function timerDurations(base: SipTimerBase, reliable: boolean): Readonly<Record<TransactionTimerName, number>> {
  const { T1, T4 } = base;
  return {
    A: T1, // INVITE request retransmit, doubles (UDP only)
    B: 64 * T1, // INVITE transaction timeout
    D: reliable ? 0 : Math.max(32_000, 64 * T1), // wait for response retransmits
    E: T1, // non-INVITE request retransmit, doubles up to T2 (UDP only)
    F: 64 * T1, // non-INVITE transaction timeout
    G: T1, // INVITE response retransmit, doubles up to T2 (UDP only)
    H: 64 * T1, // wait for ACK receipt
    I: reliable ? 0 : T4, // wait for ACK retransmits
    J: reliable ? 0 : 64 * T1, // wait for non-INVITE request retransmits
    K: reliable ? 0 : T4, // wait for response retransmits
    L: 64 * T1, // RFC 6026: accepted INVITE server transaction lingers for retransmitted INVITEs
    M: 64 * T1, // RFC 6026: accepted INVITE client transaction lingers for retransmitted 2xx
    ProvisionalDelay: 200, // §17.2.1: send 100 Trying if the TU has not answered within 200 ms
  };
}

export interface TimerHandle {
  cancel(): void;
}

/** Where transactions get their timers: real ones in production, a virtual clock in tests. */
export interface TimerScheduler {
  start(name: TimerName, ms: number, fire: () => void): TimerHandle;
}

export const realTimers: TimerScheduler = {
  start(_name, ms, fire) {
    const handle = setTimeout(fire, ms);
    handle.unref?.();
    return { cancel: () => clearTimeout(handle) };
  },
};

/** A deterministic scheduler for tests: time only moves when the test says so. */
export class VirtualTimers<Name extends string = TimerName> {
  private nowMs = 0;
  private seq = 0;
  private readonly pending = new Map<number, { at: number; name: Name; fire: () => void }>();
  readonly started: Array<{ name: Name; ms: number; at: number }> = [];

  start(name: Name, ms: number, fire: () => void): TimerHandle {
    const id = ++this.seq;
    this.pending.set(id, { at: this.nowMs + ms, name, fire });
    this.started.push({ name, ms, at: this.nowMs });
    return { cancel: () => this.pending.delete(id) };
  }

  get now(): number {
    return this.nowMs;
  }

  /** Names of timers still pending. */
  active(): Name[] {
    return [...this.pending.values()].map((t) => t.name);
  }

  /** Moves time forward, firing due timers in order (a fired timer may start new ones, which also fire if due). */
  advance(ms: number): void {
    const until = this.nowMs + ms;
    for (;;) {
      let nextId: number | undefined;
      let next: { at: number; fire: () => void } | undefined;
      for (const [id, timer] of this.pending) {
        if (timer.at <= until && (!next || timer.at < next.at)) {
          nextId = id;
          next = timer;
        }
      }
      if (nextId === undefined || !next) break;
      this.pending.delete(nextId);
      this.nowMs = next.at;
      next.fire();
    }
    this.nowMs = until;
  }
}
