import { DialplaneError } from '../../errors.js';
import type { Db } from '../../store/database.js';
import { isDatabaseUnavailable } from '../../store/database-outage.js';
import type { Call, CallService, SipDetail, SipDetails } from './call-service.js';
import { canTransition, type CallState } from './call-state.js';
import { shouldFailOver, shouldTryNextTarget, type EndReason } from './hangup-causes.js';
import type { TransportProtocol } from '../../sip/transport/types.js';
import type { SrtpPolicy } from '../../sdp/types.js';

/** What the engine asks of the signalling side (SIP trunks); core knows no SIP beyond status codes. */
export interface DialRequest {
  readonly callId: string;
  readonly from: string;
  readonly to: string;
  /** Index into the signalling's trunk list: the engine walks it for failover. */
  readonly trunk: number;
  /** A registered device to ring directly instead of a trunk (its Contact and the flow it registered from). */
  readonly contact?: DeviceContact;
  /**
   * The trunk's targets still to try, in order, as a failed attempt left them (`LegFailure.untried`); absent on the
   * first attempt at a trunk, whose targets the signalling side resolves itself.
   */
  readonly targets?: readonly DialTarget[];
  /** The call this leg is a later leg of (the media side keeps a call's legs together). */
  readonly parentCallId?: string;
}

/** One address a trunk's host resolved to (RFC 3263), as the signalling side hands it back for the next attempt. */
export interface DialTarget {
  readonly transport: TransportProtocol;
  readonly address: string;
  readonly port: number;
  /** Over TLS: the name the certificate must carry, and whether it is checked (opaque to the engine). */
  readonly tls?: { readonly serverName?: string | undefined; readonly verify: boolean } | undefined;
}

/** Where a registered device is reached: its Contact URI, sent to the address its REGISTER came from. */
export interface DeviceContact {
  readonly uri: string;
  readonly transport: TransportProtocol;
  readonly address: string;
  readonly port: number;
  /** The SRTP policy of the device's extension for calls to it; absent: off. */
  readonly srtp?: SrtpPolicy;
}

export type LegFailure = (
  | { readonly kind: 'response'; readonly status: number; readonly reason: string }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'transport'; readonly message: string }
) & {
  /** The same trunk's targets not tried yet (RFC 3263 §4.3), when the trunk resolved to more than one. */
  readonly untried?: readonly DialTarget[];
};

/** The audio of an answered leg, as the call verbs use it. */
export interface LegMedia {
  /** Plays 8 kHz 16-bit PCM into the call; resolves when the last packet has left. */
  play(samples: Int16Array): Promise<void>;
  /** Stops what is playing (barge-in). */
  stop(): void;
  /** Hears the far end's audio packets (their payloads as sent, in the negotiated codec). */
  onAudio(listener: (payload: Buffer) => void): () => void;
  /** Hears the keys the far end presses (RFC 4733 events or in-band tones), one call per digit. */
  onDigit(listener: (digit: string) => void): () => void;
  /**
   * Hears, once, that the far end has sent no RTP for DIALPLANE_RTP_TIMEOUT_S (end the leg with 'rtp_timeout').
   * The watch runs while a listener is subscribed, so subscribe once the leg is answered; it never fires when the
   * timeout is 0 or the SDP direction means the far end sends nothing. Returns the unsubscribe.
   */
  onInactive(listener: () => void): () => void;
  /**
   * Hears, once, that the leg's audio is gone for good (its media worker failed): end the leg with 'media_failure'.
   * Absent where media cannot fail apart from the call. Returns the unsubscribe.
   */
  onFailed?(listener: () => void): () => void;
  /**
   * What this side has received so far, as its RTCP reception reports count it (RFC 3550 A.3 and A.8): packets
   * received, cumulative packets lost and interarrival jitter in milliseconds. Absent where no RTP is kept.
   */
  quality?(): ReceptionQuality;
}

export interface ReceptionQuality {
  readonly received: number;
  readonly lost: number;
  readonly jitterMs: number;
}

/**
 * A transfer the far end of an answered leg asks for (a SIP REFER, RFC 3515): where to, and the means to answer it.
 * accept() or refuse() once; once accepted, report() the new leg's progress and, last, its final status.
 */
export interface TransferRequest {
  /** The target as the far end named it: a sip: or tel: URI. */
  readonly target: string;
  /** Its user part (sip:) or number (tel:). */
  readonly user: string | undefined;
  /** Its host (sip:), without brackets; undefined for tel:. */
  readonly host: string | undefined;
  /** An attended transfer: the new call would replace another dialog (Replaces). */
  readonly attended: boolean;
  /** The request the far end wants placed; only INVITE makes a call. */
  readonly method: string;
  accept(): void;
  refuse(status: number, reason: string): void;
  report(status: number, reason: string): void;
}

/** Where a transfer of ours sends the far end: a number, or a SIP URI. */
export type TransferDestination = { readonly number: string } | { readonly uri: string };

/** How a transfer we asked of the far end came out. */
export type TransferResult =
  /** The far end's new call answered: the leg is handed off. */
  | { readonly outcome: 'completed' }
  /** The far end tried and its new call failed with `status`. */
  | { readonly outcome: 'failed'; readonly status: number; readonly reason: string }
  /** The far end refused to try (or the leg cannot transfer). */
  | { readonly outcome: 'refused'; readonly status: number; readonly reason: string }
  /** No answer, or no outcome reported in time. */
  | { readonly outcome: 'timeout' }
  /** The leg ended first. */
  | { readonly outcome: 'ended' };

export interface LegEvents {
  /** The request left (the SIP Call-ID, for correlating with the carrier's records). */
  onStarted(sipCallId: string): void;
  onProgress(state: 'ringing' | 'early_media', status: number, reason: string): void;
  onAnswered(status: number, reason: string, media?: LegMedia): void;
  onFailed(failure: LegFailure): void;
  onEnded(by: 'remote' | 'local'): void;
  /** The far end asks to be transferred (REFER). */
  onTransferRequest?(request: TransferRequest): void;
}

export interface OutboundLeg {
  /** CANCEL before the answer, BYE after it; the leg reports the end through its events. */
  hangup(): void;
  /** Asks the answered far end to call `destination` (REFER). */
  transfer?(destination: TransferDestination): Promise<TransferResult>;
}

export interface CallSignaling {
  readonly trunkNames: readonly string[];
  dial(request: DialRequest, events: LegEvents): OutboundLeg;
}

/** What the signalling side gives the engine for an INVITE it received (the UAS side of the dialog). */
export interface InboundSignal {
  /** 180 Ringing. */
  ring(): void;
  /** 200 OK with our SDP answer: the leg's audio. */
  answer(): LegMedia;
  /** A final refusal before the answer. */
  reject(status: number, reason: string): void;
  /** BYE after the answer. */
  hangup(): void;
  /** Asks the answered caller to call `destination` (REFER). */
  transfer?(destination: TransferDestination): Promise<TransferResult>;
  /**
   * Hears the leg's events as soon as the leg exists, before receive() resolves: a caller who gave up meanwhile
   * (an early CANCEL) is reported through them at once, so the leg ends before anything could answer it.
   */
  attach?(events: InboundLegEvents, callId: string): void;
}

/** How the signalling side tells the engine what the caller did. */
export interface InboundLegEvents {
  /** The caller gave up before the answer (CANCEL). */
  canceled(): void;
  /** The dialog ended after the answer: BYE from the caller (`remote`) or ours completed (`local`). */
  ended(by: 'remote' | 'local'): void;
  /** The caller asks to be transferred (REFER). */
  transferRequested?(request: TransferRequest): void;
}

export interface ReceiveInput {
  readonly id?: string;
  readonly accountId: string;
  readonly from: string;
  readonly to: string;
  readonly sipCallId: string;
  /** The trunk it came through, or `device` for a registered device. */
  readonly trunk: string;
  readonly maxDurationS: number;
  readonly priceMinor: number | null;
  /** The application the call runs (its status hook hears the leg's events). */
  readonly applicationId?: string | null;
  /** Written with the leg's end (the call's charge, when it is the call's last leg). */
  readonly onEndTransaction?: (trx: Db, ended: Call) => Promise<void>;
}

export interface EngineTimers {
  start(name: 'RingTimeout' | 'MaxDuration' | 'WriteRetry', ms: number, fire: () => void): { cancel(): void };
}

/**
 * A live call's write met the database away (PostgreSQL restarting): it is tried again, first after WRITE_RETRY_MS,
 * the wait doubling up to WRITE_RETRY_MAX_MS, for up to WRITE_RETRY_HORIZON_MS. The call goes on meanwhile; its
 * writes are kept in order, so its end is stored after the answer before it, once the database is back. Otherwise a
 * call that ended during the outage would be stored live for as long as this node runs (recovery ends only the calls
 * of gone nodes).
 */
const WRITE_RETRY_MS = 250;
const WRITE_RETRY_MAX_MS = 5_000;
const WRITE_RETRY_HORIZON_MS = 10 * 60_000;

export interface PlaceCallInput {
  readonly id?: string;
  readonly accountId: string;
  readonly from: string;
  readonly to: string;
  readonly ringTimeoutS: number;
  readonly maxDurationS: number;
  readonly metadata?: Record<string, unknown> | null;
  readonly parentCallId?: string | null;
  /** Ring this registered device rather than dial out through the trunks. */
  readonly contact?: DeviceContact;
  /** Per started minute; null for a leg that is not billed. */
  readonly priceMinor?: number | null;
  readonly applicationId?: string | null;
  /** Written with the leg (its first minute's credit hold); when it throws, nothing is stored and nothing dialled. */
  readonly inTransaction?: (trx: Db) => Promise<void>;
  /** Written with the leg's end (the call's charge, when it is the call's last leg). */
  readonly onEndTransaction?: (trx: Db, ended: Call) => Promise<void>;
}

interface LiveCall {
  readonly call: Call;
  readonly contact: DeviceContact | undefined;
  /** Set for a leg that called us. */
  readonly inbound: InboundSignal | undefined;
  /** When its answer was stored (the cost of the leg is written with its end). */
  answeredAt: string | undefined;
  readonly onEndTransaction: ((trx: Db, ended: Call) => Promise<void>) | undefined;
  leg: OutboundLeg | undefined;
  trunk: number;
  /** The state as last written: this engine is the call's one writer, so it never needs to read it back. */
  state: CallState;
  /** SIP particulars learnt since the last write, stored with the next one. */
  pending: SipDetails;
  answered: boolean;
  media: LegMedia | undefined;
  /** Set when we decided to end the call; the leg's end event then carries this reason. */
  ending: EndReason | undefined;
  ringTimer: { cancel(): void } | undefined;
  durationTimer: { cancel(): void } | undefined;
  settled: Promise<void>;
  settle: () => void;
  /** Writes for one call run in order: a 180 and a BYE from the network must not reach the database swapped. */
  chain: Promise<unknown>;
}

/**
 * Drives every call leg, outbound and inbound, through the signalling side: one state machine and one ceiling on
 * simultaneous legs (`DIALPLANE_MAX_CALLS` counts both directions); for outbound legs the ring timeout (CANCEL →
 * no_answer) and failover, first to the trunk's next resolved target on 503 or silence (RFC 3263 §4.3), then to the
 * next trunk on 5xx or silence, but never on the callee's own refusal; for both the
 * maximum duration (BYE → time_limit), RTP inactivity, hang-up by API before and after the answer (CANCEL or a
 * final refusal, BYE), the far end's BYE, and BYE to every leg at shutdown.
 */
export class CallEngine {
  private readonly live = new Map<string, LiveCall>();
  /** Calls whose final write is still under way, so whenEnded can wait for it. */
  private readonly ending = new Map<string, Promise<void>>();
  /** Who decides the transfers each leg's far end asks for (its call's session). */
  private readonly transferListeners = new Map<string, (request: TransferRequest) => void>();

  constructor(
    private readonly calls: CallService,
    private readonly signaling: CallSignaling,
    private readonly timers: EngineTimers,
    private readonly maxCalls: number,
    /** Hears every leg once its answer is stored (operations and tests; a call's own logic watches the call). */
    private readonly onAnswered?: (call: Call, media: LegMedia | undefined) => void,
  ) {}

  get activeCalls(): number {
    return this.live.size;
  }

  /** Refused with capacity_exceeded (a 503 in every face) when the ceiling is reached; nothing is created then. */
  async place(input: PlaceCallInput): Promise<Call> {
    this.checkCapacity();
    if (!input.contact && this.signaling.trunkNames.length === 0) throw new DialplaneError('capacity_exceeded', 'No SIP trunk is configured');
    const { contact, onEndTransaction, ...create } = input;
    const call = await this.calls.create({
      ...create,
      direction: 'outbound',
      dialing: { trunk: contact ? 'device' : (this.signaling.trunkNames[0] ?? '') },
    });
    const entry = this.track(call, contact, undefined, onEndTransaction);
    entry.ringTimer = this.timers.start('RingTimeout', input.ringTimeoutS * 1000, () => this.stop(entry, 'ring_timeout'));
    this.dial(entry);
    return call;
  }

  /**
   * A leg that called us: stored as ringing (with its SIP Call-ID) and counted like any other. Refused with
   * capacity_exceeded when the ceiling is reached, before anything is stored. The returned events are how the
   * signalling side reports the caller's CANCEL and the dialog's end.
   */
  async receive(input: ReceiveInput, signal: InboundSignal): Promise<{ call: Call; events: InboundLegEvents }> {
    this.checkCapacity();
    const created = await this.calls.create({
      ...(input.id ? { id: input.id } : {}),
      accountId: input.accountId,
      direction: 'inbound',
      from: input.from,
      to: input.to,
      ringTimeoutS: 0,
      maxDurationS: input.maxDurationS,
      priceMinor: input.priceMinor,
      applicationId: input.applicationId ?? null,
    });
    const entry = this.track(created, undefined, signal, input.onEndTransaction);
    entry.state = 'queued';
    entry.pending = { sipCallId: input.sipCallId, trunk: input.trunk };
    this.advance(entry, 'ringing', {});
    signal.ring();
    const events: InboundLegEvents = {
      canceled: () => this.finish(entry, { reason: entry.ending ?? 'remote_hangup' }),
      ended: (by) => this.finish(entry, { reason: by === 'remote' && !entry.ending ? 'remote_hangup' : (entry.ending ?? 'local_hangup') }),
      transferRequested: (request) => this.transferRequested(entry, request),
    };
    signal.attach?.(events, created.id);
    return { call: created, events };
  }

  /** Answers a leg that called us (200 OK): its audio. not_found when it is not a ringing inbound leg. */
  answer(callId: string): LegMedia {
    const entry = this.live.get(callId);
    if (!entry?.inbound || entry.ending) throw new DialplaneError('not_found', 'no ringing inbound call with that id');
    if (entry.media) return entry.media;
    const media = entry.inbound.answer();
    this.answered(entry, media, 200, 'OK');
    return media;
  }

  /** Refuses a leg that called us with a final status (486 when the callee was busy, ...). */
  reject(callId: string, status: number, reason: string): void {
    const entry = this.live.get(callId);
    if (!entry?.inbound || entry.answered || entry.ending) return;
    entry.ending = 'sip_failure';
    entry.inbound.reject(status, reason);
    this.finish(entry, { reason: 'sip_failure', sipStatus: status, sipReason: reason });
  }

  private checkCapacity(): void {
    if (this.live.size >= this.maxCalls) {
      throw new DialplaneError('capacity_exceeded', `No capacity: ${this.maxCalls} calls in progress`);
    }
  }

  private track(
    call: Call,
    contact: DeviceContact | undefined,
    inbound: InboundSignal | undefined,
    onEndTransaction: ((trx: Db, ended: Call) => Promise<void>) | undefined,
  ): LiveCall {
    let settle = () => undefined as void;
    const settled = new Promise<void>((resolve) => (settle = resolve));
    const entry: LiveCall = {
      call,
      contact,
      inbound,
      answeredAt: undefined,
      onEndTransaction,
      leg: undefined,
      trunk: 0,
      state: 'dialing',
      pending: {},
      media: undefined,
      answered: false,
      ending: undefined,
      ringTimer: undefined,
      durationTimer: undefined,
      settled,
      settle,
      chain: Promise.resolve(),
    };
    this.live.set(call.id, entry);
    return entry;
  }

  /** Hang-up by API, of either direction: CANCEL (or a refusal) if still ringing, BYE if answered. Resolves with the ended call. */
  async hangup(accountId: string, callId: string): Promise<Call> {
    const entry = this.live.get(callId);
    if (!entry || entry.call.accountId !== accountId) return this.calls.get(accountId, callId);
    this.stop(entry, 'api_hangup');
    await entry.settled;
    return this.calls.get(accountId, callId);
  }

  /** The answered call's audio, or not_found when the call is not live and answered. */
  media(accountId: string, callId: string): LegMedia {
    const entry = this.live.get(callId);
    if (!entry || entry.call.accountId !== accountId || !entry.media) {
      throw new DialplaneError('not_found', 'no answered call in progress with that id');
    }
    return entry.media;
  }

  /** Ends a live leg for a reason of ours (time limit of a program, credits exhausted, ...); resolves when it has ended. */
  async end(callId: string, reason: EndReason): Promise<void> {
    const entry = this.live.get(callId);
    if (!entry) return;
    this.stop(entry, reason);
    await entry.settled;
  }

  /** Hears the transfers the far end of leg `callId` asks for, until the returned function is called. */
  onTransferRequest(callId: string, listener: (request: TransferRequest) => void): () => void {
    this.transferListeners.set(callId, listener);
    return () => {
      if (this.transferListeners.get(callId) === listener) this.transferListeners.delete(callId);
    };
  }

  /** Asks the far end of an answered leg to call `destination` (a REFER); `ended` when the leg is not up. */
  async transfer(callId: string, destination: TransferDestination): Promise<TransferResult> {
    const entry = this.live.get(callId);
    if (!entry?.answered || entry.ending) return { outcome: 'ended' };
    const transferring = entry.inbound ? entry.inbound.transfer?.(destination) : entry.leg?.transfer?.(destination);
    return transferring ?? { outcome: 'refused', status: 501, reason: 'Not Implemented' };
  }

  /** Whether the call is still live in this engine. */
  isLive(callId: string): boolean {
    return this.live.has(callId);
  }

  /** A live leg's state as this engine last set it (its write to the store may still be under way). */
  stateOf(callId: string): CallState | undefined {
    return this.live.get(callId)?.state;
  }

  /** The media of a live answered call, whatever its account (for the telephony layer). */
  mediaOf(callId: string): LegMedia | undefined {
    return this.live.get(callId)?.media;
  }

  /** Resolves when the call has ended (for the CLI's live view and tests). */
  async whenEnded(callId: string): Promise<void> {
    await (this.live.get(callId)?.settled ?? this.ending.get(callId));
  }

  /** Ends every live call (server shutdown) and waits for them. */
  async shutdown(): Promise<void> {
    const entries = [...this.live.values()];
    for (const entry of entries) this.stop(entry, 'shutdown');
    await Promise.all(entries.map((e) => e.settled));
  }

  private dial(entry: LiveCall, targets?: readonly DialTarget[]): void {
    const { call } = entry;
    const request: DialRequest = {
      callId: call.id,
      from: call.from,
      to: call.to,
      trunk: entry.trunk,
      ...(entry.contact ? { contact: entry.contact } : {}),
      ...(targets ? { targets } : {}),
      ...(call.parentCallId ? { parentCallId: call.parentCallId } : {}),
    };
    const leg = this.signaling.dial(request, {
      onStarted: (sipCallId) => {
        entry.pending = { ...entry.pending, sipCallId };
      },
      onProgress: (state, status, reason) => this.advance(entry, state, { sipStatus: status, sipReason: reason }),
      onAnswered: (status, reason, media) => this.answered(entry, media, status, reason),
      onFailed: (failure) => this.onFailed(entry, failure),
      onEnded: (by) => this.finish(entry, { reason: by === 'remote' && !entry.ending ? 'remote_hangup' : (entry.ending ?? 'local_hangup') }),
      onTransferRequest: (transfer) => this.transferRequested(entry, transfer),
    });
    entry.leg = leg;
  }

  /** Nobody decides transfers for a leg that is not live or has no session listening: declined (603). */
  private transferRequested(entry: LiveCall, request: TransferRequest): void {
    const listener = this.live.get(entry.call.id) === entry && !entry.ending ? this.transferListeners.get(entry.call.id) : undefined;
    if (!listener) {
      request.refuse(603, 'Decline');
      return;
    }
    try {
      listener(request);
    } catch {
      request.refuse(500, 'Server Internal Error');
    }
  }

  private answered(entry: LiveCall, media: LegMedia | undefined, status: number, reason: string): void {
    entry.answered = true;
    entry.media = media;
    entry.ringTimer?.cancel();
    this.advance(entry, 'answered', { sipStatus: status, sipReason: reason });
    if (this.onAnswered) {
      const observe = this.onAnswered;
      void entry.chain.then(() => {
        try {
          observe(entry.call, media);
        } catch {
          // An observer's failure is its own.
        }
      });
    }
    if (entry.ending) {
      // Hung up while the 200 was on its way: the leg sends BYE itself; the call still ends for our reason.
      return;
    }
    entry.durationTimer = this.timers.start('MaxDuration', entry.call.maxDurationS * 1000, () => this.stop(entry, 'time_limit'));
    // A leg whose far end stopped sending audio is dead, whatever SIP says: it is not billed up to its limit.
    media?.onInactive(() => this.stop(entry, 'rtp_timeout'));
    media?.onFailed?.(() => this.stop(entry, 'media_failure'));
  }

  private advance(entry: LiveCall, to: 'ringing' | 'early_media' | 'answered', sip: SipDetail): void {
    if (entry.state === 'ended' || !canTransition(entry.state, to)) return;
    entry.state = to;
    const details = this.takePending(entry);
    this.write(entry, async () => {
      const call = await this.calls.advance(entry.call.id, to, sip, details);
      if (call?.answeredAt) entry.answeredAt = call.answeredAt;
    });
  }

  private takePending(entry: LiveCall): SipDetails {
    const details = entry.pending;
    entry.pending = {};
    return details;
  }

  private onFailed(entry: LiveCall, failure: LegFailure): void {
    if (entry.ending) {
      this.finish(entry, { reason: entry.ending });
      return;
    }
    const status = failure.kind === 'response' ? failure.status : undefined;
    // One failover path: the trunk's next target (a 503, a timeout or a transport error), then the next trunk.
    if (!entry.contact && failure.untried && failure.untried.length > 0 && shouldTryNextTarget(status)) {
      this.dial(entry, failure.untried);
      return;
    }
    if (!entry.contact && shouldFailOver(status) && entry.trunk + 1 < this.signaling.trunkNames.length) {
      entry.trunk += 1;
      entry.pending = { ...entry.pending, trunk: this.signaling.trunkNames[entry.trunk] ?? '' };
      this.dial(entry);
      return;
    }
    if (failure.kind === 'response') {
      this.finish(entry, { reason: 'sip_failure', sipStatus: failure.status, sipReason: failure.reason });
    } else {
      this.finish(entry, { reason: failure.kind === 'timeout' ? 'timeout' : 'transport_error' });
    }
  }

  private stop(entry: LiveCall, reason: EndReason): void {
    if (entry.ending) return;
    entry.ending = reason;
    entry.ringTimer?.cancel();
    entry.durationTimer?.cancel();
    if (entry.inbound) {
      if (entry.answered) {
        entry.inbound.hangup();
      } else {
        // Never answered: a final refusal ends it at once (the caller is told we are going away at shutdown).
        if (reason === 'shutdown') entry.inbound.reject(503, 'Service Unavailable');
        else entry.inbound.reject(480, 'Temporarily Unavailable');
        this.finish(entry, { reason });
      }
      return;
    }
    if (entry.leg) entry.leg.hangup();
    else this.finish(entry, { reason });
  }

  private finish(entry: LiveCall, end: { reason: EndReason; sipStatus?: number; sipReason?: string }): void {
    const id = entry.call.id;
    if (!this.live.has(id)) return;
    this.live.delete(id);
    this.transferListeners.delete(id);
    this.ending.set(id, entry.settled);
    entry.ringTimer?.cancel();
    entry.durationTimer?.cancel();
    // The state as last written, and the leg's price: with the answer's time once that write is done, the leg's cost
    // goes into the end's own UPDATE.
    const known = { state: entry.state, priceMinor: entry.call.priceMinor };
    entry.state = 'ended';
    const details = this.takePending(entry);
    void this.write(entry, () =>
      this.calls.end(id, end, { ...known, answeredAt: known.state === 'answered' ? (entry.answeredAt ?? undefined) : null }, details, entry.onEndTransaction),
    ).finally(() => {
      this.ending.delete(id);
      entry.settle();
    });
  }

  private write(entry: LiveCall, op: () => Promise<unknown>): Promise<unknown> {
    // A failed write must not stop the ones after it (the final event above all).
    const retried = () => this.retryWhileDatabaseAway(op);
    entry.chain = entry.chain.then(retried, retried).catch(() => undefined);
    return entry.chain;
  }

  private async retryWhileDatabaseAway(op: () => Promise<unknown>): Promise<unknown> {
    let waitMs = WRITE_RETRY_MS;
    for (let waited = 0; ; waited += waitMs, waitMs = Math.min(waitMs * 2, WRITE_RETRY_MAX_MS)) {
      try {
        return await op();
      } catch (error) {
        if (!isDatabaseUnavailable(error) || waited >= WRITE_RETRY_HORIZON_MS) throw error;
      }
      await new Promise<void>((resolve) => this.timers.start('WriteRetry', waitMs, resolve));
    }
  }
}
