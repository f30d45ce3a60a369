import { DialplaneError } from '../../errors.js';
import type { Services } from '../services.js';
import type { CallDriver, DialResult, RecordResult, ActivityKind } from './call-driver.js';
import type { CallEngine, LegMedia, TransferDestination, TransferRequest, TransferResult } from './call-engine.js';
import { CallTransfers, type ActiveBridge, type TransferSession } from './call-transfer.js';
import type { Db } from '../../store/database.js';
import type { Call, CallUpdate } from './call-service.js';
import type { LegPlan } from './call-targets.js';
import { MinuteReserve, MINUTE_MS } from './minute-reserve.js';
import type { DialTarget } from './program.js';
import { realVerbTimers } from './verbs.js';
import { Cut } from './verb-run.js';
import { newId } from '../ids.js';
import { normalizePhoneNumber } from '../phone-number.js';

/** What a session needs from the media side: speech, audio files, bridges, recordings. */
export interface CallMediaPort {
  speech(text: string, voice?: string): Promise<Int16Array>;
  fetchAudio(url: string): Promise<Int16Array>;
  /** Decodes a stored WAV to 8 kHz PCM. */
  decodeWav(wav: Buffer): Int16Array;
  /** Joins two answered legs' audio; undefined when either has none. */
  bridge(a: string, b: string): (() => void) | undefined;
  /** Records a leg (both directions, mixed) until stopped. */
  record(legId: string): { stop(): Promise<{ wav: Buffer; durationMs: number }> } | undefined;
  /** A short tone before a recording. */
  beep(): Int16Array;
}

export interface SessionDeps {
  readonly services: Services;
  readonly engine: CallEngine;
  readonly media: CallMediaPort;
  /** Where each leg's targets are resolved to legs to place. */
  readonly plan: (accountId: string, targets: readonly DialTarget[], rungFor: string) => Promise<LegPlan[]>;
  /** What a transfer the far end of a leg asks for may reach (see transferTarget); throws to refuse it. */
  readonly transferTarget: (accountId: string, request: TransferRequest) => Promise<DialTarget>;
  /** POSTs JSON to a hook, signed with the call's application's secret when it has one; the parsed answer. */
  readonly hook: (accountId: string, applicationId: string | null, url: string, body: Record<string, unknown>) => Promise<unknown>;
  readonly onError: (error: unknown, context: string) => void;
}

export interface SessionInit {
  /** The id the call's first leg is stored under; a new call id when absent. */
  readonly id?: string;
  readonly accountId: string;
  readonly direction: 'inbound' | 'outbound';
  /** The caller ID of legs this session places, and the number it was called at (inbound) or for (outbound). */
  readonly from: string;
  readonly to: string;
  readonly applicationId: string | null;
  readonly ringTimeoutS: number;
  readonly maxDurationS: number;
  /** Stored with the call's first leg (a face's own particulars). */
  readonly metadata?: Record<string, unknown> | null;
}

interface Leg {
  call: Call;
  readonly priceMinor: number | null;
  ended: boolean;
  readonly unwatch: () => void;
  readonly unlisten: () => void;
}

/** How a ring group came out: the leg that answered, or why none did. */
interface RingResult {
  readonly winner: Call | undefined;
  readonly outcome: DialResult['outcome'];
}

/**
 * One call: its legs (the first is the call's id), their billing under one rule — every leg through a trunk costs
 * its price per started minute, the first minute reserved before its INVITE (or before an inbound leg rings), each
 * further minute before it starts; device legs are free — and the controlling leg the program drives. The session is
 * over when the controlling leg ends (or no leg of an outbound call answered); once every leg has ended the charge is
 * captured and the rest released.
 */
export class CallSession implements CallDriver {
  readonly billing: MinuteReserve;
  private readonly legs = new Map<string, Leg>();
  private readonly legListeners = new Set<(call: Call) => void>();
  private rootId: string | undefined;
  /** The id the call's first leg is stored under. */
  readonly plannedRoot: string;
  private controlId: string | undefined;
  private over = false;
  private markEnded!: () => void;
  readonly ended = new Promise<void>((resolve) => (this.markEnded = resolve));
  private markSettled!: () => void;
  readonly settled = new Promise<void>((resolve) => (this.markSettled = resolve));
  private settling = false;
  /** Ring groups still placing legs: the call cannot be settled while a leg may yet be added. */
  private placingLegs = 0;
  /** What the last dial came to: an inbound call never answered is refused with it (486 busy, else 480). */
  private lastDial: DialResult['outcome'] | undefined;
  private readonly sessionAbort = new Cut();
  /** The bridge a dial made, while it lasts: a transfer asked by one of its legs joins the other to the target. */
  private bridge: ActiveBridge | undefined;
  private readonly handOverListeners = new Set<() => void>();
  /** The transfers the legs' far ends ask for (REFER). */
  private transfersOfCall: CallTransfers | undefined;
  readonly timers = {
    start: realVerbTimers.start,
    sleep: (_name: 'Pause', ms: number, signal: AbortSignal) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(done, ms);
        function done() {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          resolve();
        }
        signal.addEventListener('abort', done, { once: true });
      }),
  };

  constructor(
    private readonly deps: SessionDeps,
    readonly init: SessionInit,
  ) {
    // The call's id is chosen now, so that credits reserved before its first leg exists already name it.
    this.plannedRoot = init.id ?? newId('call');
    this.billing = new MinuteReserve(deps.services.credits, init.accountId, () => this.exhausted(), MINUTE_MS, this.plannedRoot);
  }

  get callId(): string {
    if (!this.rootId) throw new Error('the session has no leg yet');
    return this.rootId;
  }

  get isOver(): boolean {
    return this.over;
  }

  /** The call's first leg as stored when it was placed. */
  firstLeg(): Call {
    const leg = this.rootId === undefined ? undefined : this.legs.get(this.rootId);
    if (!leg) throw new Error('the session has no leg yet');
    return leg.call;
  }

  get controllingLeg(): string | undefined {
    return this.controlId;
  }

  /** The calls of every leg the session has, in the order they were added (the first is the call). */
  legCalls(): Call[] {
    return [...this.legs.values()].map((leg) => leg.call);
  }

  /** Hears each leg added from now on (a dial's legs), until the returned function is called. */
  onLegAdded(listener: (call: Call) => void): () => void {
    this.legListeners.add(listener);
    return () => this.legListeners.delete(listener);
  }

  /** Adopts a leg that called us as the session's first, controlling leg. */
  adoptInbound(call: Call): void {
    this.rootId = call.id;
    this.controlId = call.id;
    this.track(call, call.priceMinor);
  }

  /**
   * Rings `plans` at once as legs of this call (the first placed becomes the call when it has none yet). `placed`
   * resolves once every leg is placed (402 when the first leg's minute cannot be reserved: nothing is dialled then;
   * a later leg that cannot be reserved is left out); `answered` with the first to answer, the others cancelled, or,
   * when none answers, with why.
   */
  ring(
    plans: readonly LegPlan[],
    options: { callerId: string; ringTimeoutS: number; maxDurationS: number },
  ): { placed: Promise<void>; answered: Promise<RingResult>; cancel: () => void } {
    let resolveRing!: (result: RingResult) => void;
    const answered = new Promise<RingResult>((resolve) => (resolveRing = resolve));
    let winner: Call | undefined;
    let placing = true;
    const open = new Set<string>();
    const outcomes: string[] = [];
    const stops: Array<() => void> = [];
    let resolved = false;
    const done = (result: RingResult) => {
      if (resolved) return;
      resolved = true;
      for (const stop of stops) stop();
      resolveRing(result);
    };
    const hangupOpen = () => {
      for (const id of open) void this.deps.engine.hangup(this.init.accountId, id).catch(() => undefined);
    };
    stops.push(this.sessionAbort.onAbort(hangupOpen));
    const checkAllFailed = () => {
      if (!placing && open.size === 0 && winner === undefined) done({ winner: undefined, outcome: outcomes.length ? ringOutcome(outcomes) : 'failed' });
    };
    const watch = (call: Call) => {
      open.add(call.id);
      stops.push(
        this.deps.services.calls.watch(call.id, (update) => {
          if (update.type !== 'event') return;
          const { event } = update;
          if (event.state === 'answered') {
            if (winner !== undefined || this.over) {
              if (winner?.id !== call.id) void this.deps.engine.hangup(this.init.accountId, call.id).catch(() => undefined);
              return;
            }
            winner = update.call;
            open.delete(call.id);
            hangupOpen();
            done({ winner, outcome: 'completed' });
          } else if (event.state === 'ended') {
            open.delete(call.id);
            outcomes.push(event.outcome ?? 'failed');
            checkAllFailed();
          }
        }),
      );
    };
    const first = this.rootId === undefined;
    this.placingLegs += 1;
    const placed = (async () => {
      let count = 0;
      try {
        for (const plan of plans) {
          if (this.over || winner !== undefined) break;
          try {
            // The first minute is reserved in the same write as the leg: refused, neither is stored nor dialled.
            const hold = plan.priceMinor === null ? undefined : this.billing.legHold(plan.priceMinor);
            const call = await this.deps.engine.place({
              ...(hold ? { inTransaction: (trx: Db) => hold.write(trx) } : {}),
              onEndTransaction: this.endWrite,
              ...(this.rootId === undefined ? { id: this.plannedRoot } : {}),
              accountId: this.init.accountId,
              from: options.callerId,
              to: plan.to,
              ringTimeoutS: options.ringTimeoutS,
              maxDurationS: options.maxDurationS,
              parentCallId: this.rootId ?? null,
              priceMinor: plan.priceMinor,
              applicationId: this.init.applicationId,
              metadata: this.rootId === undefined ? (this.init.metadata ?? null) : null,
              ...(plan.contact ? { contact: plan.contact } : {}),
            });
            hold?.kept();
            this.rootId ??= call.id;
            this.billing.forCall(this.rootId);
            this.track(call, plan.priceMinor);
            watch(call);
            count += 1;
          } catch (error) {
            if (count === 0 && first) throw error;
            this.deps.onError(error, `call ${this.rootId}: a leg could not be rung`);
          }
        }
      } finally {
        placing = false;
        this.placingLegs -= 1;
        checkAllFailed();
      }
    })();
    return { placed, answered, cancel: hangupOpen };
  }

  /** The outbound call's first leg answered: it is the leg the program controls. */
  takeControl(callId: string): void {
    this.controlId = callId;
  }

  /** The call is over: legs still ringing are cancelled and the others hung up; settled once all have ended. */
  finish(): void {
    if (this.over) return;
    this.over = true;
    this.sessionAbort.abort(SESSION_OVER);
    this.markEnded();
    for (const [id, leg] of this.legs) {
      if (!leg.ended) void this.deps.engine.hangup(this.init.accountId, id).catch(() => undefined);
    }
    void this.settleIfDone();
  }

  // CallDriver --------------------------------------------------------------------------------------------------

  async answer(): Promise<void> {
    const id = this.control();
    if (this.deps.engine.mediaOf(id)) return;
    this.deps.engine.answer(id);
  }

  media(): LegMedia {
    const media = this.deps.engine.mediaOf(this.control());
    if (!media) throw new DialplaneError('not_found', 'the call has no audio');
    return media;
  }

  speech(text: string, voice?: string): Promise<Int16Array> {
    return this.deps.media.speech(text, voice);
  }

  async audio(source: { readonly url: string } | { readonly recording: string }): Promise<Int16Array> {
    if ('url' in source) return this.deps.media.fetchAudio(source.url);
    return this.deps.media.decodeWav(await this.deps.services.calls.recordingWav(this.init.accountId, source.recording));
  }

  async dial(
    targets: readonly DialTarget[],
    options: { readonly callerId?: string; readonly timeoutS: number; readonly timeLimitS?: number; readonly signal?: AbortSignal },
  ): Promise<DialResult> {
    const control = this.control();
    // A live command that replaces the program ends what this dial rang.
    const aborted = new Promise<void>((resolve) => {
      if (options.signal?.aborted) resolve();
      options.signal?.addEventListener('abort', () => resolve(), { once: true });
    });
    let plans: LegPlan[];
    try {
      plans = await this.deps.plan(this.init.accountId, targets, this.init.to);
    } catch (error) {
      this.deps.onError(error, `call ${this.rootId}: dial targets`);
      return this.dialed({ outcome: 'failed', durationS: 0 });
    }
    if (plans.length === 0) return this.dialed({ outcome: 'no_answer', durationS: 0 });
    let ring: RingResult;
    try {
      const group = this.ring(plans, {
        callerId: options.callerId ?? this.init.from,
        ringTimeoutS: options.timeoutS,
        maxDurationS: options.timeLimitS ?? this.init.maxDurationS,
      });
      void aborted.then(() => group.cancel());
      await group.placed;
      ring = await group.answered;
    } catch (error) {
      this.deps.onError(error, `call ${this.rootId}: dial`);
      return this.dialed({ outcome: 'failed', durationS: 0 });
    }
    const winner = ring.winner;
    if (!winner) return this.dialed({ outcome: ring.outcome, durationS: 0 });
    if (this.over) return this.dialed({ outcome: 'canceled', dialCallId: winner.id, durationS: 0 });
    if (!this.deps.engine.mediaOf(control)) this.deps.engine.answer(control);
    let bridge = this.join(control, winner.id, options.callerId ?? this.init.from);
    const answeredAt = Date.now();
    // The dialled leg's end, or the caller's, ends the bridge; the program goes on only in the first case. A transfer
    // replaces the bridge with another (the leg that stays, joined to the transfer's target): the dial goes on with it.
    for (;;) {
      await Promise.race([this.deps.engine.whenEnded(bridge.other), this.ended, aborted, bridge.replaced]);
      const next = this.bridge;
      if (next === bridge || next === undefined || this.over || options.signal?.aborted) break;
      bridge = next;
    }
    if (this.bridge === bridge) this.bridge = undefined;
    bridge.unbridge?.();
    if (this.deps.engine.isLive(bridge.other)) await this.deps.engine.hangup(this.init.accountId, bridge.other).catch(() => undefined);
    return this.dialed({ outcome: 'completed', dialCallId: bridge.other, durationS: Math.round((Date.now() - answeredAt) / 1000) });
  }

  /**
   * Asks the controlling leg's far end to call `destination` (a REFER). When it reports its new call answered, the
   * leg is handed off: we end it (BYE), and with it the call.
   */
  async transfer(destination: TransferDestination): Promise<TransferResult> {
    const control = this.control();
    const to = 'number' in destination ? { number: normalizePhoneNumber(destination.number, this.deps.services.defaultCountry, 'to') } : destination;
    const result = await this.deps.engine.transfer(control, to);
    if (result.outcome === 'completed') await this.deps.engine.end(control, 'transferred');
    return result;
  }

  async record(options: {
    readonly maxLengthS: number;
    readonly finishOnKey?: string;
    readonly beep: boolean;
    readonly signal?: AbortSignal;
  }): Promise<RecordResult> {
    const media = this.media();
    if (options.beep) await media.play(this.deps.media.beep());
    const recorder = this.deps.media.record(this.control());
    if (!recorder) throw new DialplaneError('not_found', 'the call has no audio to record');
    const reason = await new Promise<RecordResult['reason']>((resolve) => {
      const timer = setTimeout(() => finish('max_length'), options.maxLengthS * 1000);
      const unlisten = media.onDigit((digit) => {
        if (options.finishOnKey !== undefined && options.finishOnKey.includes(digit)) finish('finish_key');
      });
      void this.ended.then(() => finish('hangup'));
      options.signal?.addEventListener('abort', () => finish('hangup'), { once: true });
      function finish(why: RecordResult['reason']) {
        clearTimeout(timer);
        unlisten();
        resolve(why);
      }
    });
    const { wav, durationMs } = await recorder.stop();
    const recording = await this.deps.services.calls.addRecording(this.init.accountId, this.callId, durationMs, wav);
    return { recordingId: recording.id, durationS: Math.round(durationMs / 100) / 10, reason };
  }

  async hangup(): Promise<void> {
    const id = this.controlId;
    if (id === undefined) {
      this.finish();
      return;
    }
    if (this.deps.engine.mediaOf(id) === undefined && this.init.direction === 'inbound') {
      const busy = this.lastDial === 'busy';
      this.deps.engine.reject(id, busy ? 486 : 480, busy ? 'Busy Here' : 'Temporarily Unavailable');
    } else {
      await this.deps.engine.end(id, 'local_hangup');
    }
    await this.ended;
  }

  async hook(url: string, extra: Record<string, unknown>): Promise<unknown> {
    const call = await this.deps.services.calls.get(this.init.accountId, this.callId);
    return this.deps.hook(
      this.init.accountId,
      this.init.applicationId,
      url,
      {
        call_id: this.callId,
        account_id: this.init.accountId,
        application_id: this.init.applicationId,
        direction: this.init.direction,
        from: call.from,
        to: call.to,
        // The engine's state is the leg's truth: the store may not have its last step yet (the 180 just sent).
        state: this.deps.engine.stateOf(this.callId) ?? call.state,
        ...extra,
      },
    );
  }

  activity(kind: ActivityKind, data: Record<string, unknown>): void {
    if (!this.rootId) return;
    void this.deps.services.calls.activity(this.rootId, kind, data).catch((error: unknown) => this.deps.onError(error, `call ${this.rootId}: activity`));
  }

  // ------------------------------------------------------------------------------------------------------------

  private control(): string {
    if (this.controlId === undefined) throw new DialplaneError('not_found', 'the call has no controlling leg');
    return this.controlId;
  }

  /** Hears the controlling leg handed over to a transfer's target while no bridge was up (a program's leg). */
  onHandOver(listener: () => void): () => void {
    this.handOverListeners.add(listener);
    return () => this.handOverListeners.delete(listener);
  }

  /** Made with the first REFER: most calls are never transferred. */
  private transfers(): CallTransfers {
    return (this.transfersOfCall ??= new CallTransfers(this.transferSession()));
  }

  /** What the transfers of this call's legs may see and do of it. */
  private transferSession(): TransferSession {
    const { engine } = this.deps;
    const { accountId } = this.init;
    const session = this;
    return {
      get isOver() {
        return session.over;
      },
      get controllingLeg() {
        return session.controlId;
      },
      get activeBridge() {
        return session.bridge;
      },
      callerId: this.init.from,
      isLive: (legId) => engine.isLive(legId),
      plan: async (request) => this.deps.plan(accountId, [await this.deps.transferTarget(accountId, request)], this.init.to),
      ring: (plans, callerId) => this.ring(plans, { callerId, ringTimeoutS: this.init.ringTimeoutS, maxDurationS: this.init.maxDurationS }),
      hangupLeg: (legId) => void engine.hangup(accountId, legId).catch(() => undefined),
      endLeg: (legId, reason) => void engine.end(legId, reason),
      rejoin: (bridge, peer, target) => {
        bridge.unbridge?.();
        // The leg that stays keeps (or takes) control: the program's dial goes on with the new bridge.
        this.controlId = peer;
        this.join(peer, target, bridge.callerId);
        bridge.markReplaced();
      },
      handOver: (target) => {
        this.controlId = target;
        for (const listener of [...this.handOverListeners]) listener();
      },
      onError: (error, context) => this.deps.onError(error, `call ${this.rootId}: ${context}`),
    };
  }

  private join(control: string, other: string, callerId: string): ActiveBridge {
    let markReplaced!: () => void;
    const replaced = new Promise<void>((resolve) => (markReplaced = resolve));
    const bridge: ActiveBridge = { control, other, callerId, unbridge: this.deps.media.bridge(control, other), replaced, markReplaced };
    this.bridge = bridge;
    return bridge;
  }

  private dialed(result: DialResult): DialResult {
    this.lastDial = result.outcome;
    return result;
  }

  private track(call: Call, priceMinor: number | null): void {
    const leg: Leg = {
      call,
      priceMinor,
      ended: false,
      unwatch: this.deps.services.calls.watch(call.id, (update) => this.onLeg(leg, update)),
      unlisten: this.deps.engine.onTransferRequest(call.id, (request) => void this.transfers().requested(call.id, request)),
    };
    this.legs.set(call.id, leg);
    for (const listener of [...this.legListeners]) {
      try {
        listener(call);
      } catch (error) {
        this.deps.onError(error, `call ${this.rootId}: leg listener`);
      }
    }
  }

  private onLeg(leg: Leg, update: CallUpdate): void {
    if (update.type !== 'event') return;
    leg.call = update.call;
    const { event } = update;
    if (event.state === 'answered' && leg.priceMinor !== null) {
      this.billing.legAnswered(leg.call.id, leg.priceMinor, Date.parse(event.at));
    }
    if (event.state !== 'ended' || leg.ended) return;
    leg.ended = true;
    leg.unwatch();
    leg.unlisten();
    this.billing.legEnded(leg.call.id);
    if (leg.call.id === this.controlId) this.finish();
    void this.settleIfDone();
  }

  /** The balance ran out: the call ends. */
  private exhausted(): void {
    if (this.controlId) void this.deps.engine.end(this.controlId, 'credits_exhausted');
    this.finish();
  }

  /**
   * Written with a leg's end: when that end leaves the call over with no other leg live, the call's charge is captured
   * (and what is left released) in the same write, one transaction fewer for every call. Otherwise the charge is
   * settled once the last leg's end is heard (settleIfDone).
   */
  readonly endWrite = async (trx: Db, ended: Call): Promise<void> => {
    if (this.placingLegs > 0) return;
    const others = [...this.legs.values()].filter((leg) => leg.call.id !== ended.id);
    if (others.some((leg) => !leg.ended)) return;
    if (!(this.over || ended.id === this.controlId || this.controlId === undefined)) return;
    const charge = others.reduce((sum, leg) => sum + (leg.call.costMinor ?? 0), ended.costMinor ?? 0);
    await this.billing.settleIn(trx, charge, this.chargeDescription());
  };

  private chargeDescription(): string {
    return `call ${this.rootId ?? ''} ${this.init.from} → ${this.init.to}`;
  }

  private async settleIfDone(): Promise<void> {
    if (!this.over || this.settling) return;
    if ([...this.legs.values()].some((leg) => !leg.ended)) return;
    this.settling = true;
    const charge = [...this.legs.values()].reduce(
      (sum, leg) => sum + (leg.call.costMinor ?? 0),
      0,
    );
    try {
      await this.billing.settle(charge, this.chargeDescription(), (error) =>
        this.deps.onError(error, 'settling a call'),
      );
    } finally {
      this.markSettled();
    }
  }
}

/** Why the session's cut is aborted. */
const SESSION_OVER = Symbol('session over');

/** A ring group nobody answered: busy if any callee was, else no answer, else failed. */
function ringOutcome(outcomes: readonly string[]): DialResult['outcome'] {
  if (outcomes.includes('busy')) return 'busy';
  if (outcomes.includes('no_answer')) return 'no_answer';
  if (outcomes.includes('rejected')) return 'rejected';
  if (outcomes.every((outcome) => outcome === 'canceled')) return 'canceled';
  return 'failed';
}
