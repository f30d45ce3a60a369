import type { TimerHandle, TimerScheduler } from '../transaction/timers.js';

/** RFC 4028 §4: nothing below 90 s may be asked for; our own floor and our default interval. */
export const MIN_SE_S = 90;
export const DEFAULT_SESSION_EXPIRES_S = 1_800;

/** Who refreshes, from our point of view. */
export type Refresher = 'local' | 'remote';

export interface SessionInterval {
  readonly seconds: number;
  readonly refresher: Refresher;
}

/** The refresher param as written in a message sent by the UAC or UAS of the transaction, seen from our side. */
export function refresherFrom(param: 'uac' | 'uas', weAreUac: boolean): Refresher {
  return (param === 'uac') === weAreUac ? 'local' : 'remote';
}

export function refresherParam(refresher: Refresher, weAreUac: boolean): 'uac' | 'uas' {
  return (refresher === 'local') === weAreUac ? 'uac' : 'uas';
}

/**
 * RFC 4028's two timers for one session: as the refresher we refresh at half the interval (§10); otherwise the
 * session has expired when no refresh came by the interval minus min(32 s, a third of it) (§10), and is ended.
 * Every successful refresh, whichever side sent it, starts the count again with the interval it negotiated.
 */
export class SessionTimer {
  private handle: TimerHandle | undefined;
  private current: SessionInterval | undefined;

  constructor(
    private readonly timers: TimerScheduler,
    private readonly onRefreshDue: () => void,
    private readonly onExpired: () => void,
  ) {}

  get interval(): SessionInterval | undefined {
    return this.current;
  }

  /** (Re)starts the count after a successful refresh; undefined turns session timers off. */
  start(interval: SessionInterval | undefined): void {
    this.stop();
    this.current = interval;
    if (!interval) return;
    const ms = interval.seconds * 1000;
    if (interval.refresher === 'local') {
      this.handle = this.timers.start('SessionRefresh', ms / 2, () => this.onRefreshDue());
    } else {
      this.handle = this.timers.start('SessionExpiry', ms - Math.min(32_000, ms / 3), () => this.onExpired());
    }
  }

  /**
   * As the refresher, after a refresh the peer refused without ending the dialog (RFC 4028 §10: only 408, 481 or a
   * timeout end it at once): the session keeps its interval and expires when a refresh would have been too late,
   * the interval minus min(32 s, a third of it) after the last successful one; the refresh went at half the interval.
   */
  expireAfterFailedRefresh(): void {
    const interval = this.current;
    this.stop();
    if (!interval) return;
    const ms = interval.seconds * 1000;
    this.handle = this.timers.start('SessionExpiry', Math.max(0, ms / 2 - Math.min(32_000, ms / 3)), () => this.onExpired());
  }

  stop(): void {
    this.handle?.cancel();
    this.handle = undefined;
  }
}
