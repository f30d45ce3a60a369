import { DialplaneError } from '../../errors.js';
import type { Db } from '../../store/database.js';
import type { CreditService } from '../credits.js';
import type { Call } from './call-service.js';

export const MINUTE_MS = 60_000;

/** The reference of every hold a call reserves: a run that dies leaves them active, and the next start releases them. */
export const CALL_RESERVE_REFERENCE = 'call-reserve:';

/** Started billing periods of an answered leg, times its price. A leg never answered costs nothing. */
export function legCharge(leg: Call, priceMinor: number, minuteMs = MINUTE_MS): number {
  return legCost(leg.answeredAt, leg.endedAt, priceMinor, minuteMs);
}

/** legCharge from the times themselves: answered (null: never), ended (null: still up), and the price (null: free). */
export function legCost(answeredAt: string | null, endedAt: string | null, priceMinor: number | null, minuteMs = MINUTE_MS): number {
  if (answeredAt === null || priceMinor === null) return 0;
  const end = endedAt === null ? Date.now() : Date.parse(endedAt);
  const ms = Math.max(0, end - Date.parse(answeredAt));
  return Math.max(1, Math.ceil(ms / minuteMs)) * priceMinor;
}

/**
 * Credits reserved for calls billed per started minute: a first reserve before anything is dialled, then, for every
 * answered leg, its next minute reserved shortly before that minute starts. When a reserve is refused the balance is
 * spent and `onExhausted` ends the call, so however many calls run at once none can spend credits it does not have.
 * `settle` captures the charge from the reserves, oldest first, and releases the rest.
 */
export class MinuteReserve {
  private readonly holds: Array<{ id: string; amount: number }> = [];
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly ended = new Set<string>();
  private settled = false;
  /** Reserved ahead by `prepay` and not yet taken by a leg's first minute. */
  private prepaid = 0;

  constructor(
    private readonly credits: CreditService,
    private readonly accountId: string,
    private readonly onExhausted: () => void,
    private readonly minuteMs = MINUTE_MS,
    private callId = '',
  ) {}

  /** The call the reserves are for, named in their reference once it exists. */
  forCall(callId: string): void {
    this.callId = callId;
  }

  /** Reserves `amount` now; insufficient_credits (402) when the available balance cannot cover it. */
  async reserve(amount: number): Promise<void> {
    if (amount <= 0) return;
    const hold = await this.credits.hold(this.accountId, amount, `${CALL_RESERVE_REFERENCE}${this.callId}`);
    this.holds.push({ id: hold.id, amount });
  }

  /** Reserves first minutes of legs not dialled yet (all or nothing): 402 when the balance cannot cover them. */
  async prepay(amount: number): Promise<void> {
    await this.reserve(amount);
    this.prepaid += Math.max(0, amount);
  }

  /**
   * A leg's first minute, written in the leg's own insert (`write`) when what was prepaid does not cover it; `kept`
   * once that insert committed. Undefined when the prepaid credits cover it.
   */
  legHold(priceMinor: number): { write(trx: Db): Promise<void>; kept(): void } | undefined {
    // A call whose charge is settled takes no new leg: its hold would never be settled.
    if (this.settled) throw new DialplaneError('not_found', 'the call is over');
    if (this.prepaid >= priceMinor) {
      this.prepaid -= priceMinor;
      return undefined;
    }
    let hold: { id: string; amount: number } | undefined;
    return {
      write: async (trx) => {
        hold = { id: (await this.credits.holdIn(trx, this.accountId, priceMinor, `${CALL_RESERVE_REFERENCE}${this.callId}`)).id, amount: priceMinor };
      },
      kept: () => {
        if (hold) this.holds.push(hold);
      },
    };
  }

  /** A leg's first minute, before its INVITE: taken from what was prepaid when that covers it, reserved otherwise. */
  async reserveLeg(priceMinor: number): Promise<void> {
    if (this.settled) throw new DialplaneError('not_found', 'the call is over');
    if (this.prepaid >= priceMinor) {
      this.prepaid -= priceMinor;
      return;
    }
    await this.reserve(priceMinor);
  }

  /** The leg's first minute is in the first reserve; each further minute is reserved before it starts. */
  legAnswered(legId: string, priceMinor: number, answeredAtMs: number): void {
    this.schedule(legId, priceMinor, answeredAtMs, 1);
  }

  legEnded(legId: string): void {
    this.ended.add(legId);
    const timer = this.timers.get(legId);
    if (timer) clearTimeout(timer);
    this.timers.delete(legId);
  }

  /** Captures `chargeMinor` (never more than was reserved) and releases the rest; once. */
  async settle(chargeMinor: number, description: string, onError?: (error: unknown) => void): Promise<number> {
    if (this.settled) return 0;
    this.settled = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    let left = chargeMinor;
    let captured = 0;
    for (const hold of this.holds) {
      const take = Math.min(left, hold.amount);
      left -= take;
      try {
        if (take > 0) await this.credits.capture(this.accountId, hold.id, take, description);
        else await this.credits.release(this.accountId, hold.id);
        captured += take;
      } catch (error) {
        onError?.(error);
      }
    }
    return captured;
  }

  /** settle, inside a caller's transaction (the end of the call's last leg): stored exactly when that end is. */
  async settleIn(trx: Db, chargeMinor: number, description: string): Promise<number> {
    if (this.settled) return 0;
    this.settled = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    let left = chargeMinor;
    let captured = 0;
    for (const hold of this.holds) {
      const take = Math.min(left, hold.amount);
      left -= take;
      if (await this.credits.settleIn(trx, this.accountId, hold.id, take, description)) captured += take;
    }
    return captured;
  }

  private schedule(legId: string, priceMinor: number, answeredAtMs: number, minutes: number): void {
    const due = answeredAtMs + minutes * this.minuteMs - Math.min(1_000, this.minuteMs / 10);
    const timer = setTimeout(() => {
      this.timers.delete(legId);
      if (this.settled || this.ended.has(legId)) return;
      this.credits
        .hold(this.accountId, priceMinor, `${CALL_RESERVE_REFERENCE}${this.callId}`)
        .then((hold) => {
          if (this.settled) {
            void this.credits.release(this.accountId, hold.id).catch(() => undefined);
            return;
          }
          this.holds.push({ id: hold.id, amount: priceMinor });
          if (!this.ended.has(legId)) this.schedule(legId, priceMinor, answeredAtMs, minutes + 1);
        })
        .catch(() => this.onExhausted());
    }, Math.max(0, due - Date.now()));
    timer.unref();
    this.timers.set(legId, timer);
  }
}
