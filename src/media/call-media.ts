import type { LegMedia, ReceptionQuality } from '../core/calls/call-engine.js';
import { decodeG711, encodeG711, type G711Law } from './codecs/g711.js';
import { DtmfToneDetector } from './dtmf/goertzel.js';
import { Rfc4733Receiver, rfc4733Packets } from './dtmf/rfc4733.js';
import type { MediaClock } from './media-clock.js';
import { systemMediaTimers, type MediaTimers } from './media-timers.js';
import type { NegotiatedSrtp, SdpDirection } from '../sdp/types.js';
import type { SrtpRejection } from './srtp/srtp-context.js';
import type { RtpEndpoint } from './rtp-session.js';
import { RtpSession } from './rtp-session.js';
import type { Socket } from 'node:dgram';

const SAMPLES_PER_PACKET = 160;
/** Peers that ignore the negotiated number often send telephone-events as 96 or 101; both are accepted. */
const TOLERATED_EVENT_TYPES = [96, 101];

export interface CallMediaOptions {
  readonly socket: Socket;
  /** The RTCP socket of the pair; reports are sent when given. */
  readonly rtcpSocket?: Socket;
  readonly remote: RtpEndpoint;
  readonly codec: { readonly name: G711Law; readonly payloadType: number };
  /** The negotiated telephone-event payload type, if the peer agreed to RFC 4733. */
  readonly telephoneEvent: number | undefined;
  readonly clock: MediaClock;
  /**
   * Listen for keys as tones in the audio too. Default: only when the peer did not agree to telephone-events, as
   * Asterisk's "auto" mode does; tone detection costs more than relaying the packet.
   */
  readonly inbandDtmf?: boolean;
  /**
   * OUR direction from offer/answer (NegotiatedAudio.direction). Default sendrecv. recvonly or inactive: nothing
   * is sent (play() resolves at once); sendonly or inactive: the peer sends nothing, so no inactivity watch runs.
   */
  readonly direction?: SdpDirection;
  /** Seconds without RTP from the peer before onInactive listeners hear of it; 0 or absent: never. */
  readonly rtpTimeoutS?: number;
  readonly timers?: MediaTimers;
  /** SDES keys from offer/answer: the leg's RTP and RTCP are SRTP and SRTCP. */
  readonly srtp?: NegotiatedSrtp | undefined;
  /** A received packet failed SRTP (counted in /metrics by the caller). */
  readonly onSrtpRejected?: (reason: SrtpRejection) => void;
}

/** Whether a direction (ours) lets us send media. */
export function mediaSends(direction: SdpDirection): boolean {
  return direction === 'sendrecv' || direction === 'sendonly';
}

/** Whether, given our direction, the peer will send us media. */
export function mediaReceives(direction: SdpDirection): boolean {
  return direction === 'sendrecv' || direction === 'recvonly';
}

/**
 * One call leg's audio: prompts out as paced G.711, and keys in, whether the peer sends RFC 4733 events (on the
 * negotiated payload type, or 96/101 from peers that ignore it) or plain tones in the audio (Goertzel, by default
 * only for peers that did not agree to telephone-events). A digit heard both ways is reported once.
 */
export class CallMedia implements LegMedia {
  readonly rtp: RtpSession;
  private readonly events = new Rfc4733Receiver();
  /** Made with the first audio it has to listen to: most legs never carry in-band keys. */
  private tones: DtmfToneDetector | undefined;
  private readonly digitListeners = new Set<(digit: string) => void>();
  /** RTP timestamp of the last event digit, to drop the in-band copy some peers send along with it. */
  private lastEventDigitAt = -Infinity;
  private readonly eventTypes: ReadonlySet<number>;
  private currentDirection: SdpDirection;
  private readonly timers: MediaTimers;
  private readonly inactiveListeners = new Set<() => void>();
  private inactivity: { cancel(): void } | undefined;
  private lastHeardAt = 0;
  private inactiveReported = false;
  private closed = false;

  constructor(private readonly options: CallMediaOptions) {
    this.currentDirection = options.direction ?? 'sendrecv';
    this.timers = options.timers ?? systemMediaTimers;
    this.rtp = new RtpSession({
      socket: options.socket,
      remote: options.remote,
      payloadType: options.codec.payloadType,
      clock: options.clock,
      sending: mediaSends(this.currentDirection),
      ...(options.rtcpSocket ? { rtcpSocket: options.rtcpSocket } : {}),
      ...(options.srtp ? { srtp: options.srtp } : {}),
      ...(options.onSrtpRejected ? { onSrtpRejected: options.onSrtpRejected } : {}),
    });
    const inband = options.inbandDtmf ?? options.telephoneEvent === undefined;
    this.eventTypes = new Set([...(options.telephoneEvent !== undefined ? [options.telephoneEvent] : []), ...TOLERATED_EVENT_TYPES]);
    this.rtp.listen((packet) => {
      // Every RTP packet from the peer (audio, comfort noise, telephone-events) proves the leg alive. RTCP does not
      // count, as in rtpengine's and Asterisk's RTP timeouts: a peer whose audio has stopped (a hung endpoint, a
      // B2BUA whose other side is gone) often goes on sending reports, and a leg kept up by reports alone is the dead
      // call this watch exists to end. RtpSession hands us only packets from the latched source, so a stray sender
      // cannot keep a call alive either.
      this.lastHeardAt = this.timers.now();
      if (this.isTelephoneEvent(packet.payloadType)) {
        for (const digit of this.events.push(packet.timestamp, packet.marker, packet.payload)) {
          this.lastEventDigitAt = performance.now();
          this.emit(digit.digit);
        }
        return;
      }
      if (packet.payloadType !== options.codec.payloadType || !inband) return;
      const digits = (this.tones ??= new DtmfToneDetector()).push(decodeG711(packet.payload, options.codec.name));
      for (const digit of digits) {
        if (performance.now() - this.lastEventDigitAt > 500) this.emit(digit);
      }
    });
  }

  quality(): ReceptionQuality {
    const stats = this.rtp.stats;
    // Jitter is kept in timestamp units: 8 per millisecond at 8 kHz.
    return { received: this.rtp.received, lost: Math.max(0, stats.cumulativeLost), jitterMs: Math.round((stats.jitter / 8) * 10) / 10 };
  }

  get codec(): { readonly name: G711Law; readonly payloadType: number } {
    return this.options.codec;
  }

  /** Our negotiated direction. */
  get direction(): SdpDirection {
    return this.currentDirection;
  }

  /** Follows a new offer/answer (a re-INVITE putting the call on or off hold). */
  setDirection(direction: SdpDirection): void {
    this.currentDirection = direction;
    this.rtp.setSending(mediaSends(direction));
    if (this.watching) this.armInactivity();
    else this.disarmInactivity();
  }

  /** Follows a new offer/answer that moved the peer's media address (see RtpSession.setRemote). */
  setRemote(remote: RtpEndpoint): void {
    this.rtp.setRemote(remote);
  }

  /** Follows a new offer/answer's SDES keys (a re-INVITE, or the answer to a late offer). */
  setSrtp(srtp: NegotiatedSrtp | undefined): void {
    this.rtp.setSrtp(srtp);
  }

  /** A key the peer signalled outside the media (SIP INFO): heard like any other key. */
  signalDigit(digit: string): void {
    this.emit(digit);
  }

  get telephoneEvent(): number | undefined {
    return this.options.telephoneEvent;
  }

  isTelephoneEvent(payloadType: number): boolean {
    return this.eventTypes.has(payloadType) && payloadType !== this.options.codec.payloadType;
  }

  play(samples: Int16Array): Promise<void> {
    return this.playEncoded(encodeG711(samples, this.options.codec.name));
  }

  /** play() for audio already in the leg's law (a media worker gets prompts encoded on the main thread). */
  playEncoded(encoded: Buffer): Promise<void> {
    const { name } = this.options.codec;
    const silence = name === 'PCMU' ? 0xff : 0xd5;
    const frames: Buffer[] = [];
    for (let at = 0; at < encoded.length; at += SAMPLES_PER_PACKET) {
      const frame = encoded.subarray(at, at + SAMPLES_PER_PACKET);
      // The last frame is padded with silence so that every packet carries a whole 20 ms.
      frames.push(frame.length === SAMPLES_PER_PACKET ? frame : Buffer.concat([frame, Buffer.alloc(SAMPLES_PER_PACKET - frame.length, silence)]));
    }
    return this.rtp.play(frames);
  }

  stop(): void {
    this.rtp.stopPlaying();
  }

  /**
   * Presses keys toward the far end as RFC 4733 telephone-events on the negotiated payload type: for each key a start
   * packet (marker), updates every 50 ms and three end packets, all carrying the event's start timestamp.
   */
  async pressKeys(keys: string, durationMs = 100, gapMs = 100): Promise<void> {
    const payloadType = this.options.telephoneEvent;
    if (payloadType === undefined) throw new Error('the far end did not agree to telephone-events');
    if (!this.rtp.sending) return;
    for (const key of keys) {
      const startedAt = this.rtp.nextTimestamp;
      const started = performance.now();
      for (const packet of rfc4733Packets(key, { durationMs })) {
        const wait = packet.sendOffsetMs - (performance.now() - started);
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        this.rtp.forward(packet.payload, payloadType, packet.marker, startedAt);
      }
      await new Promise((resolve) => setTimeout(resolve, gapMs));
    }
  }

  onAudio(listener: (payload: Buffer) => void): () => void {
    return this.rtp.listen((packet) => {
      if (packet.payloadType === this.options.codec.payloadType) listener(packet.payload);
    });
  }

  onDigit(listener: (digit: string) => void): () => void {
    this.digitListeners.add(listener);
    return () => this.digitListeners.delete(listener);
  }

  /**
   * Hears, once, that no RTP has come from the peer for `rtpTimeoutS`. The watch runs while at least one listener
   * is subscribed (subscribe when the leg is answered: a caller need not send before the 200 OK), counts from the
   * first subscription or the last packet, and is off while our direction means the peer sends nothing.
   */
  onInactive(listener: () => void): () => void {
    this.inactiveListeners.add(listener);
    if (this.watching) this.armInactivity();
    return () => {
      this.inactiveListeners.delete(listener);
      if (this.inactiveListeners.size === 0) this.disarmInactivity();
    };
  }

  close(): void {
    this.closed = true;
    this.disarmInactivity();
    this.inactiveListeners.clear();
    this.rtp.close();
    this.digitListeners.clear();
  }

  private get timeoutMs(): number {
    return (this.options.rtpTimeoutS ?? 0) * 1000;
  }

  private get watching(): boolean {
    return (
      !this.closed &&
      !this.inactiveReported &&
      this.timeoutMs > 0 &&
      this.inactiveListeners.size > 0 &&
      mediaReceives(this.currentDirection)
    );
  }

  private armInactivity(): void {
    if (this.inactivity) return;
    // The peer gets a whole timeout from the moment we start watching.
    this.lastHeardAt = this.timers.now();
    this.checkAfter(this.timeoutMs);
  }

  /**
   * One timer per leg, checked when it fires, rather than one restarted per packet (50 a second per leg): when
   * packets came meanwhile it is started again for what is left of the timeout since the last one.
   */
  private checkAfter(ms: number): void {
    this.inactivity = this.timers.start('RtpInactivity', ms, () => {
      this.inactivity = undefined;
      if (!this.watching) return;
      const silentMs = this.timers.now() - this.lastHeardAt;
      if (silentMs < this.timeoutMs) {
        this.checkAfter(this.timeoutMs - silentMs);
        return;
      }
      this.inactiveReported = true;
      for (const listener of [...this.inactiveListeners]) {
        try {
          listener();
        } catch {
          // A listener's failure is its own.
        }
      }
    });
  }

  private disarmInactivity(): void {
    this.inactivity?.cancel();
    this.inactivity = undefined;
  }

  private emit(digit: string): void {
    for (const listener of this.digitListeners) {
      try {
        listener(digit);
      } catch {
        // A listener's failure is its own; the media path goes on.
      }
    }
  }
}
