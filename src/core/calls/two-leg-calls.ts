import { DialplaneError } from '../../errors.js';
import { isE164 } from '../phone-number.js';
import type { Services } from '../services.js';
import type { CallEngine, DeviceContact } from './call-engine.js';
import type { Call } from './call-service.js';
import type { CallEvent } from './call-state.js';
import { legCharge, MINUTE_MS, MinuteReserve } from './minute-reserve.js';
import { DEFAULT_MAX_DURATION_S, DEFAULT_RING_TIMEOUT_S } from './place-call.js';

/** Joins the audio of two answered calls; returns what stops it, or undefined when either has no media. */
export type BridgeLegs = (a: string, b: string) => (() => void) | undefined;

export interface TwoLegRequest {
  readonly userNumber: string;
  readonly targetNumber: string;
  readonly ringTimeoutS?: number;
  readonly maxDurationS?: number;
}

/** How a two-leg call is going, or how it went. */
export type TwoLegStatus =
  | 'initiating'
  | 'ringing_user'
  | 'connecting'
  | 'in_progress'
  | 'completed'
  | 'busy'
  | 'no_answer'
  | 'failed'
  | 'canceled';

export interface TwoLegCall {
  readonly id: string;
  readonly accountId: string;
  readonly userNumber: string;
  readonly targetNumber: string;
  readonly status: TwoLegStatus;
  /** Both legs' per-minute prices, in minor units. */
  readonly perMinuteMinor: number;
  readonly userLeg: Call;
  readonly targetLeg: Call | undefined;
  /** What was charged, once both legs have ended; null while live. */
  readonly chargedMinor: number | null;
  readonly createdAt: string;
}

/** What an account's number reaches: its extension's registered devices and/or the number it forwards to. */
export type ReachNumber = (accountId: string, number: string) => Promise<{ contacts: readonly DeviceContact[]; forwardTo: string | null }>;

export interface TwoLegOptions {
  /** Where the user's number rings; without it (or when it reaches nothing) the number is dialled through the trunk. */
  readonly reach?: ReachNumber;
  /** The billing period: a started period of an answered leg is charged. 60 s; tests shorten it. */
  readonly minuteMs?: number;
  readonly onError?: (error: unknown, context: string) => void;
}

interface Live {
  readonly accountId: string;
  /** The first user-side leg: its id is the call's. */
  readonly userCallId: string;
  /** Every leg ringing the user's side (the devices of its extension ring at once). */
  readonly userLegs: Set<string>;
  /** The user-side leg that answered. */
  answeredUser: string | undefined;
  targetCallId: string | undefined;
  readonly userNumber: string;
  readonly targetNumber: string;
  readonly userPrice: number;
  readonly targetPrice: number;
  readonly ringTimeoutS: number;
  readonly maxDurationS: number;
  /** The credits reserved for what the call may cost. */
  readonly reserve: MinuteReserve;
  readonly ended: Set<string>;
  stopBridge: (() => void) | undefined;
  /** The target's INVITE is being placed: the call cannot settle until its leg is known. */
  placingTarget: boolean;
  ending: boolean;
  settled: boolean;
}

/**
 * A call that rings the user's number first and, when it answers, dials the target with the user's number as caller
 * ID and joins the two. Both legs are billed per started minute. Credits are reserved before anything is dialled
 * (one minute of both legs) and one more minute of a leg is reserved before each of its minutes starts; when that
 * reserve is refused the call ends, so concurrent calls can never spend more than the balance. At the end the
 * charge is captured from the reserves and the rest released.
 */
export class TwoLegCalls {
  private readonly live = new Map<string, Live>();
  private readonly byLeg = new Map<string, Live>();
  private readonly minuteMs: number;

  constructor(
    private readonly services: Services,
    readonly engine: CallEngine,
    private readonly bridge: BridgeLegs,
    private readonly options: TwoLegOptions = {},
  ) {
    this.minuteMs = options.minuteMs ?? MINUTE_MS;
    services.calls.subscribe((event, call) => this.onEvent(event, call));
  }

  /** Per-minute price of both legs, in minor units. */
  async perMinute(accountId: string, userNumber: string, targetNumber: string): Promise<{ user: number; target: number }> {
    const [user, target] = await Promise.all([
      this.services.prices.lookup('voice', accountId, userNumber),
      this.services.prices.lookup('voice', accountId, targetNumber),
    ]);
    return { user, target };
  }

  async start(accountId: string, request: TwoLegRequest): Promise<TwoLegCall> {
    const userNumber = e164(request.userNumber, 'user_number');
    const targetNumber = e164(request.targetNumber, 'target_number');
    const owned = (await this.services.numbers.list(accountId)).find((n) => n.number === userNumber);
    if (!owned || !owned.capabilities.includes('voice')) {
      throw new DialplaneError('validation_failed', `user_number ${userNumber} is not a voice number of this account`, {
        field: 'user_number',
      });
    }
    if (userNumber === targetNumber) {
      throw new DialplaneError('validation_failed', 'target_number must differ from user_number', { field: 'target_number' });
    }
    const prices = await this.perMinute(accountId, userNumber, targetNumber);
    // The first minute of both legs is reserved before any INVITE leaves: refused, nothing is dialled.
    const first = prices.user + prices.target;
    let entry: Live | undefined;
    const reserve = new MinuteReserve(this.services.credits, accountId, () => entry && this.endAll(entry), this.minuteMs);
    await reserve.reserve(first);
    const reach = this.options.reach ? await this.options.reach(accountId, userNumber) : { contacts: [], forwardTo: null };
    const dials: Array<{ to: string; contact?: DeviceContact }> =
      reach.contacts.length > 0
        ? reach.contacts.map((contact) => ({ to: userNumber, contact }))
        : [{ to: reach.forwardTo ?? userNumber }];
    const ringTimeoutS = request.ringTimeoutS ?? DEFAULT_RING_TIMEOUT_S;
    const maxDurationS = request.maxDurationS ?? DEFAULT_MAX_DURATION_S;
    let userLeg: Call;
    try {
      userLeg = await this.engine.place({
        accountId,
        from: userNumber,
        to: dials[0]!.to,
        ringTimeoutS,
        maxDurationS,
        ...(dials[0]!.contact ? { contact: dials[0]!.contact } : {}),
        metadata: { two_leg: { role: 'user', user_number: userNumber, target_number: targetNumber, user_price_minor: prices.user, target_price_minor: prices.target } },
      });
    } catch (error) {
      await reserve.settle(0, 'call not placed');
      throw error;
    }
    reserve.forCall(userLeg.id);
    entry = {
      accountId,
      userCallId: userLeg.id,
      userLegs: new Set([userLeg.id]),
      answeredUser: undefined,
      targetCallId: undefined,
      userNumber,
      targetNumber,
      userPrice: prices.user,
      targetPrice: prices.target,
      ringTimeoutS,
      maxDurationS,
      reserve,
      ended: new Set(),
      stopBridge: undefined,
      placingTarget: false,
      ending: false,
      settled: false,
    };
    const live = entry;
    this.byLeg.set(userLeg.id, live);
    // Ring-all: the extension's other devices ring at the same time, as legs of the same call.
    for (const dial of dials.slice(1)) {
      try {
        const alt = await this.engine.place({
          accountId,
          from: userNumber,
          to: dial.to,
          ringTimeoutS,
          maxDurationS,
          parentCallId: userLeg.id,
          ...(dial.contact ? { contact: dial.contact } : {}),
          metadata: { two_leg: { role: 'user' } },
        });
        live.userLegs.add(alt.id);
        this.byLeg.set(alt.id, live);
      } catch (error) {
        this.options.onError?.(error, `two-leg call ${userLeg.id}: a device could not be rung`);
      }
    }
    this.live.set(userLeg.id, live);
    return this.view(userLeg, userLeg, undefined, prices.user + prices.target, null);
  }

  /** A two-leg call as it is now; another account's is not_found. */
  async get(accountId: string, callId: string): Promise<TwoLegCall> {
    const user = await this.services.calls.get(accountId, callId);
    if (user.parentCallId !== null) throw new DialplaneError('not_found', 'call not found');
    return this.fromLegs(user, await this.services.calls.legs(accountId, callId));
  }

  async list(accountId: string, limit = 50, before?: { createdAt: string; id: string }): Promise<TwoLegCall[]> {
    const tops = await this.services.calls.listTop(accountId, limit, before);
    return Promise.all(tops.map(async (user) => this.fromLegs(user, await this.services.calls.legs(accountId, user.id))));
  }

  /** Hangs up both legs; resolves with the call once both have ended. */
  async hangup(accountId: string, callId: string): Promise<TwoLegCall> {
    const current = await this.get(accountId, callId);
    const entry = this.live.get(callId);
    if (entry) {
      entry.ending = true;
      await Promise.all([
        ...[...entry.userLegs].map((id) => this.engine.hangup(accountId, id)),
        entry.targetCallId ? this.engine.hangup(accountId, entry.targetCallId) : Promise.resolve(undefined),
      ]);
      await this.whenSettled(callId);
    } else if (current.targetLeg === undefined) {
      await this.engine.hangup(accountId, callId);
    }
    return this.get(accountId, callId);
  }

  /** Resolves when the call's charge has been settled (tests, shutdown). */
  async whenSettled(callId: string, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.live.has(callId) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  }

  private fromLegs(first: Call, legs: readonly Call[]): TwoLegCall {
    const role = (leg: Call) => (leg.metadata?.two_leg as { role?: string } | undefined)?.role;
    const target = legs.find((leg) => role(leg) === 'target');
    // The user's side is the leg that answered, when one of its devices did.
    const userSide = [first, ...legs.filter((leg) => role(leg) === 'user')];
    const user = userSide.find((leg) => leg.answeredAt !== null) ?? first;
    const meta = (first.metadata?.two_leg ?? {}) as { user_price_minor?: number; target_price_minor?: number };
    const userPrice = Number(meta.user_price_minor ?? 0);
    const targetPrice = Number(meta.target_price_minor ?? 0);
    const done =
      userSide.every((leg) => leg.state === 'ended') && (target === undefined || target.state === 'ended') && !this.live.has(first.id);
    const charged = done ? legCharge(user, userPrice, this.minuteMs) + (target ? legCharge(target, targetPrice, this.minuteMs) : 0) : null;
    return this.view(first, user, target, userPrice + targetPrice, charged);
  }

  private view(first: Call, user: Call, target: Call | undefined, perMinuteMinor: number, chargedMinor: number | null): TwoLegCall {
    const meta = (first.metadata?.two_leg ?? {}) as { target_number?: string; user_number?: string };
    return {
      id: first.id,
      accountId: first.accountId,
      userNumber: meta.user_number ?? first.to,
      targetNumber: meta.target_number ?? target?.to ?? '',
      status: statusOf(user, target),
      perMinuteMinor,
      userLeg: user,
      targetLeg: target,
      chargedMinor,
      createdAt: first.createdAt,
    };
  }

  private onEvent(event: CallEvent, call: Call): void {
    const entry = this.byLeg.get(call.id);
    if (!entry) return;
    void this.react(entry, event, call).catch((error: unknown) => this.options.onError?.(error, `two-leg call ${entry.userCallId}`));
  }

  private async react(entry: Live, event: CallEvent, call: Call): Promise<void> {
    const isUser = entry.userLegs.has(call.id);
    if (event.state === 'answered') {
      if (isUser) {
        if (entry.answeredUser !== undefined || entry.ending) {
          // Another device answered first, or the call is ending: this one is let go.
          void this.engine.hangup(entry.accountId, call.id).catch(() => undefined);
          return;
        }
        entry.answeredUser = call.id;
        entry.reserve.legAnswered(call.id, entry.userPrice, Date.parse(event.at));
        for (const other of entry.userLegs) {
          if (other !== call.id && !entry.ended.has(other) && this.engine.isLive(other)) {
            void this.engine.hangup(entry.accountId, other).catch(() => undefined);
          }
        }
        entry.placingTarget = true;
        try {
          const target = await this.engine.place({
            accountId: entry.accountId,
            from: entry.userNumber,
            to: entry.targetNumber,
            ringTimeoutS: entry.ringTimeoutS,
            maxDurationS: entry.maxDurationS,
            parentCallId: entry.userCallId,
            metadata: { two_leg: { role: 'target' } },
          });
          entry.targetCallId = target.id;
          this.byLeg.set(target.id, entry);
          entry.placingTarget = false;
          // The user hung up while the target was being dialled.
          if (entry.ending) this.endAll(entry);
        } catch (error) {
          entry.placingTarget = false;
          this.options.onError?.(error, `two-leg call ${entry.userCallId}: the target could not be dialled`);
          this.endAll(entry);
          await this.settleIfDone(entry);
        }
      } else {
        entry.reserve.legAnswered(call.id, entry.targetPrice, Date.parse(event.at));
        if (entry.answeredUser) entry.stopBridge = this.bridge(entry.answeredUser, call.id);
      }
      return;
    }
    if (event.state !== 'ended') return;
    entry.ended.add(call.id);
    entry.reserve.legEnded(call.id);
    const userSideOver = [...entry.userLegs].every((id) => entry.ended.has(id));
    // A device let go after another answered (or one of several still ringing) ends nothing else.
    if (!isUser || call.id === entry.answeredUser || userSideOver) {
      entry.stopBridge?.();
      entry.stopBridge = undefined;
      this.endAll(entry);
    }
    await this.settleIfDone(entry);
  }

  private async settleIfDone(entry: Live): Promise<void> {
    const userSideOver = [...entry.userLegs].every((id) => entry.ended.has(id));
    const targetDone = entry.targetCallId === undefined ? !entry.placingTarget : entry.ended.has(entry.targetCallId);
    if (userSideOver && targetDone) await this.settle(entry);
  }

  private endAll(entry: Live): void {
    entry.ending = true;
    for (const id of [...entry.userLegs, entry.targetCallId]) {
      if (id && !entry.ended.has(id) && this.engine.isLive(id)) {
        void this.engine.hangup(entry.accountId, id).catch(() => undefined);
      }
    }
  }

  private async settle(entry: Live): Promise<void> {
    if (entry.settled) return;
    entry.settled = true;
    const user = await this.services.calls.get(entry.accountId, entry.answeredUser ?? entry.userCallId);
    const target = entry.targetCallId ? await this.services.calls.get(entry.accountId, entry.targetCallId) : undefined;
    const charge = legCharge(user, entry.userPrice, this.minuteMs) + (target ? legCharge(target, entry.targetPrice, this.minuteMs) : 0);
    await entry.reserve.settle(charge, `call ${entry.userNumber} <-> ${entry.targetNumber}`, (error) =>
      this.options.onError?.(error, `two-leg call ${entry.userCallId}: settling its reserve`),
    );
    this.live.delete(entry.userCallId);
    for (const id of entry.userLegs) this.byLeg.delete(id);
    if (entry.targetCallId) this.byLeg.delete(entry.targetCallId);
  }
}

function e164(value: unknown, field: string): string {
  if (typeof value !== 'string' || !isE164(value)) {
    throw new DialplaneError('invalid_phone_number', `${field} must be an E.164 number such as +14155551234`, { field });
  }
  return value;
}

function statusOf(user: Call, target: Call | undefined): TwoLegStatus {
  const failed = (leg: Call): TwoLegStatus =>
    leg.outcome === 'busy' ? 'busy' : leg.outcome === 'no_answer' ? 'no_answer' : leg.outcome === 'canceled' ? 'canceled' : 'failed';
  if (target === undefined) {
    if (user.state === 'ended') return user.answeredAt !== null ? 'failed' : failed(user);
    if (user.state === 'answered') return 'connecting';
    return user.state === 'ringing' || user.state === 'early_media' ? 'ringing_user' : 'initiating';
  }
  if (target.answeredAt !== null) return user.state === 'ended' && target.state === 'ended' ? 'completed' : 'in_progress';
  if (target.state === 'ended') return failed(target);
  return 'connecting';
}
