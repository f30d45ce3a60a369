import { DialplaneError } from '../../errors.js';
import type { Call, CallService, SipDetail, SipDetails } from './call-service.js';
import { canTransition, type CallState } from './call-state.js';
import { shouldFailOver, type EndReason } from './hangup-causes.js';

/** What the engine asks of the signalling side (SIP trunks); core knows no SIP beyond status codes. */
export interface DialRequest {
  readonly callId: string;
  readonly from: string;
  readonly to: string;
  /** Index into the signalling's trunk list: the engine walks it for failover. */
  readonly trunk: number;
  /** A registered device to ring directly instead of a trunk (its Contact and the flow it registered from). */
  readonly contact?: DeviceContact;
}

/** Where a registered device is reached: its Contact URI, sent to the address its REGISTER came from. */
export interface DeviceContact {
  readonly uri: string;
  readonly transport: 'udp' | 'tcp';
  readonly address: string;
  readonly port: number;
}

export type LegFailure =
  | { readonly kind: 'response'; readonly status: number; readonly reason: string }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'transport'; readonly message: string };

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
}

export interface LegEvents {
  /** The request left (the SIP Call-ID, for correlating with the carrier's records). */
  onStarted(sipCallId: string): void;
  onProgress(state: 'ringing' | 'early_media', status: number, reason: string): void;
  onAnswered(status: number, reason: string, media?: LegMedia): void;
  onFailed(failure: LegFailure): void;
  onEnded(by: 'remote' | 'local'): void;
}

export interface OutboundLeg {
  /** CANCEL before the answer, BYE after it; the leg reports the end through its events. */
  hangup(): void;
}

export interface CallSignaling {
  readonly trunkNames: readonly string[];
  dial(request: DialRequest, events: LegEvents): OutboundLeg;
}

export interface EngineTimers {
  start(name: 'RingTimeout' | 'MaxDuration', ms: number, fire: () => void): { cancel(): void };
}

export interface PlaceCallInput {
  readonly accountId: string;
  readonly from: string;
  readonly to: string;
  readonly ringTimeoutS: number;
  readonly maxDurationS: number;
  readonly metadata?: Record<string, unknown> | null;
  readonly parentCallId?: string | null;
  /** Ring this registered device rather than dial out through the trunks. */
  readonly contact?: DeviceContact;
}

interface LiveCall {
  readonly call: Call;
  readonly contact: DeviceContact | undefined;
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
 * Drives outbound call legs through the signalling side: ring timeout (CANCEL → no_answer), maximum duration
 * (BYE → time_limit), hang-up by API before and after the answer, remote BYE, failover to the next trunk on 5xx or
 * silence but never on the callee's own refusal, and a ceiling on simultaneous calls.
 */
export class CallEngine {
  private readonly live = new Map<string, LiveCall>();
  /** Calls whose final write is still under way, so whenEnded can wait for it. */
  private readonly ending = new Map<string, Promise<void>>();

  constructor(
    private readonly calls: CallService,
    private readonly signaling: CallSignaling,
    private readonly timers: EngineTimers,
    private readonly maxCalls: number,
  ) {}

  get activeCalls(): number {
    return this.live.size;
  }

  /** Refused with capacity_exceeded (a 503 in every face) when the ceiling is reached; nothing is created then. */
  async place(input: PlaceCallInput): Promise<Call> {
    if (this.live.size >= this.maxCalls) {
      throw new DialplaneError('capacity_exceeded', `No outbound capacity: ${this.maxCalls} calls in progress`);
    }
    if (!input.contact && this.signaling.trunkNames.length === 0) throw new DialplaneError('capacity_exceeded', 'No SIP trunk is configured');
    const { contact, ...create } = input;
    const call = await this.calls.create({
      ...create,
      direction: 'outbound',
      dialing: { trunk: contact ? 'device' : (this.signaling.trunkNames[0] ?? '') },
    });
    let settle = () => undefined as void;
    const settled = new Promise<void>((resolve) => (settle = resolve));
    const entry: LiveCall = {
      call,
      contact,
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
    entry.ringTimer = this.timers.start('RingTimeout', input.ringTimeoutS * 1000, () => this.stop(entry, 'ring_timeout'));
    this.dial(entry);
    return call;
  }

  /** Hang-up by API: CANCEL if still ringing, BYE if answered. Resolves with the ended call. */
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

  /** Whether the call is still live in this engine. */
  isLive(callId: string): boolean {
    return this.live.has(callId);
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

  private dial(entry: LiveCall): void {
    const { call } = entry;
    const request = { callId: call.id, from: call.from, to: call.to, trunk: entry.trunk, ...(entry.contact ? { contact: entry.contact } : {}) };
    const leg = this.signaling.dial(request, {
      onStarted: (sipCallId) => {
        entry.pending = { ...entry.pending, sipCallId };
      },
      onProgress: (state, status, reason) => this.advance(entry, state, { sipStatus: status, sipReason: reason }),
      onAnswered: (status, reason, media) => {
        entry.answered = true;
        entry.media = media;
        entry.ringTimer?.cancel();
        this.advance(entry, 'answered', { sipStatus: status, sipReason: reason });
        if (entry.ending) {
          // Hung up while the 200 was on its way: the leg sends BYE itself; the call still ends for our reason.
          return;
        }
        entry.durationTimer = this.timers.start('MaxDuration', call.maxDurationS * 1000, () => this.stop(entry, 'time_limit'));
      },
      onFailed: (failure) => this.onFailed(entry, failure),
      onEnded: (by) => this.finish(entry, { reason: by === 'remote' && !entry.ending ? 'remote_hangup' : (entry.ending ?? 'local_hangup') }),
    });
    entry.leg = leg;
  }

  private advance(entry: LiveCall, to: 'ringing' | 'early_media' | 'answered', sip: SipDetail): void {
    if (entry.state === 'ended' || !canTransition(entry.state, to)) return;
    entry.state = to;
    const details = this.takePending(entry);
    this.write(entry, () => this.calls.advance(entry.call.id, to, sip, details));
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
    if (entry.leg) entry.leg.hangup();
    else this.finish(entry, { reason });
  }

  private finish(entry: LiveCall, end: { reason: EndReason; sipStatus?: number; sipReason?: string }): void {
    const id = entry.call.id;
    if (!this.live.has(id)) return;
    this.live.delete(id);
    this.ending.set(id, entry.settled);
    entry.ringTimer?.cancel();
    entry.durationTimer?.cancel();
    const known = { state: entry.state };
    entry.state = 'ended';
    const details = this.takePending(entry);
    void this.write(entry, () => this.calls.end(id, end, known, details)).finally(() => {
      this.ending.delete(id);
      entry.settle();
    });
  }

  private write(entry: LiveCall, op: () => Promise<unknown>): Promise<unknown> {
    // A failed write must not stop the ones after it (the final event above all).
    entry.chain = entry.chain.then(op, op).catch(() => undefined);
    return entry.chain;
  }
}
