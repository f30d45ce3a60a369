import type { LegMedia, ReceptionQuality } from '../../core/calls/call-engine.js';
import type { NegotiatedSrtp, SdpDirection } from '../../sdp/types.js';
import { encodeG711, type G711Law } from '../codecs/g711.js';
import type { RtpEndpoint } from '../rtp-session.js';
import type { HostCommand, LegInspection, LegOpen, WorkerEvent } from './media-protocol.js';

/** A leg's audio as its signalling side drives it: LegMedia, plus what later offer/answer exchanges change. */
export interface SessionMedia extends LegMedia {
  readonly codec: { readonly name: G711Law; readonly payloadType: number };
  /** Follows a new offer/answer that moved the peer's media. */
  setRemote(remote: RtpEndpoint): void;
  /** Follows a new negotiated direction (hold, resume). */
  setDirection(direction: SdpDirection): void;
  /** Follows new SDES keys. */
  setSrtp(srtp: NegotiatedSrtp | undefined): void;
  /** A key the peer signalled outside the media (SIP INFO): heard like any other key. */
  signalDigit(digit: string): void;
  close(): void;
}

/** How a proxy reaches its worker: commands out, and whether the worker it was opened in is still there. */
export interface LegChannel {
  readonly id: number;
  send(command: HostCommand, transfer?: ArrayBuffer[]): void;
  /** A command that is answered; rejected when the worker is gone. */
  ask(command: HostCommand): Promise<WorkerEvent>;
}

const NO_QUALITY: ReceptionQuality = { received: 0, lost: 0, jitterMs: 0 };

/** Listeners' failures are their own: the media path and the other listeners go on. */
function each<T extends unknown[]>(listeners: Iterable<(...args: T) => void>, ...args: T): void {
  for (const listener of [...listeners]) {
    try {
      listener(...args);
    } catch {
      // See above.
    }
  }
}

/** The bytes of `encoded` as something postMessage can hand over without copying (a copy when they share memory). */
function transferable(encoded: Buffer): { bytes: Uint8Array; transfer: ArrayBuffer[] } {
  const whole = encoded.byteOffset === 0 && encoded.byteLength === encoded.buffer.byteLength && encoded.buffer instanceof ArrayBuffer;
  const bytes = whole ? new Uint8Array(encoded.buffer, 0, encoded.byteLength) : new Uint8Array(encoded);
  return { bytes, transfer: [bytes.buffer as ArrayBuffer] };
}

/**
 * A leg whose RTP runs in a media worker, as the main thread sees it: every command is a message to the worker and
 * every event (a key, a prompt played out, the inactivity watch, reception figures) a message back. Prompts are
 * encoded here into the leg's law and their bytes handed over, not copied. When the worker is lost, the leg fails
 * once: onFailed's listeners hear it, and what was playing resolves.
 */
export class RemoteLegMedia implements SessionMedia {
  private readonly plays = new Map<number, () => void>();
  private nextPlay = 1;
  private readonly digitListeners = new Set<(digit: string) => void>();
  private readonly audioListeners = new Set<(payload: Buffer) => void>();
  private readonly inactiveListeners = new Set<() => void>();
  private readonly failedListeners = new Set<() => void>();
  private lastQuality: ReceptionQuality = NO_QUALITY;
  private closed = false;
  private failed = false;
  readonly codec: { readonly name: G711Law; readonly payloadType: number };
  private currentDirection: SdpDirection;

  constructor(
    private readonly channel: LegChannel,
    opened: LegOpen,
  ) {
    this.codec = opened.codec;
    this.currentDirection = opened.direction;
  }

  /** Our negotiated direction, as the last offer/answer left it. */
  get direction(): SdpDirection {
    return this.currentDirection;
  }

  /** The leg's RTP state in its worker (tests, diagnostics); undefined once the leg is closed or its worker gone. */
  async inspect(): Promise<LegInspection | undefined> {
    if (this.closed || this.failed) return undefined;
    const answer = await this.channel.ask({ op: 'inspect', id: this.channel.id }).catch(() => undefined);
    return answer?.ev === 'inspected' ? answer.inspection : undefined;
  }

  /** Whether the leg's worker was lost (onFailed has fired or fires on subscription). */
  get lost(): boolean {
    return this.failed;
  }

  play(samples: Int16Array): Promise<void> {
    if (this.closed || this.failed) return Promise.resolve();
    const play = this.nextPlay++;
    const { bytes, transfer } = transferable(encodeG711(samples, this.codec.name));
    return new Promise((resolve) => {
      this.plays.set(play, resolve);
      this.send({ op: 'play', id: this.channel.id, play, g711: bytes }, transfer);
    });
  }

  stop(): void {
    this.send({ op: 'stop', id: this.channel.id });
  }

  onAudio(listener: (payload: Buffer) => void): () => void {
    this.audioListeners.add(listener);
    if (this.audioListeners.size === 1) this.send({ op: 'audio', id: this.channel.id, on: true });
    return () => {
      if (this.audioListeners.delete(listener) && this.audioListeners.size === 0) this.send({ op: 'audio', id: this.channel.id, on: false });
    };
  }

  onDigit(listener: (digit: string) => void): () => void {
    this.digitListeners.add(listener);
    return () => this.digitListeners.delete(listener);
  }

  onInactive(listener: () => void): () => void {
    this.inactiveListeners.add(listener);
    if (this.inactiveListeners.size === 1) this.send({ op: 'watch', id: this.channel.id, on: true });
    return () => {
      if (this.inactiveListeners.delete(listener) && this.inactiveListeners.size === 0) this.send({ op: 'watch', id: this.channel.id, on: false });
    };
  }

  /** Hears, once, that the leg's media worker is gone: the leg has no audio any more (end it with media_failure). */
  onFailed(listener: () => void): () => void {
    if (this.failed) {
      queueMicrotask(() => {
        if (this.failedListeners.delete(listener)) each([listener]);
      });
    }
    this.failedListeners.add(listener);
    return () => this.failedListeners.delete(listener);
  }

  /** As of the worker's last report (once a second), or of the leg's end. */
  quality(): ReceptionQuality {
    return this.lastQuality;
  }

  setRemote(remote: RtpEndpoint): void {
    this.send({ op: 'remote', id: this.channel.id, remote: { address: remote.address, port: remote.port } });
  }

  setDirection(direction: SdpDirection): void {
    this.currentDirection = direction;
    this.send({ op: 'direction', id: this.channel.id, direction });
  }

  setSrtp(srtp: NegotiatedSrtp | undefined): void {
    this.send({ op: 'srtp', id: this.channel.id, srtp });
  }

  signalDigit(digit: string): void {
    if (!this.closed) each(this.digitListeners, digit);
  }

  close(): void {
    if (this.closed) return;
    this.send({ op: 'close', id: this.channel.id });
    this.closed = true;
    this.settlePlays();
    this.digitListeners.clear();
    this.audioListeners.clear();
    this.inactiveListeners.clear();
    this.failedListeners.clear();
  }

  /** An event from the worker about this leg. */
  hear(event: WorkerEvent): void {
    if (this.closed) return;
    switch (event.ev) {
      case 'digit':
        each(this.digitListeners, event.digit);
        return;
      case 'played':
        this.plays.get(event.play)?.();
        this.plays.delete(event.play);
        return;
      case 'inactive':
        each(this.inactiveListeners);
        return;
      case 'audio': {
        const payload = Buffer.from(event.payload.buffer, event.payload.byteOffset, event.payload.byteLength);
        each(this.audioListeners, payload);
        return;
      }
      default:
        return;
    }
  }

  report(quality: ReceptionQuality): void {
    this.lastQuality = quality;
  }

  /** The worker is gone: whatever was playing ends, and the leg's failure is heard once. */
  fail(): void {
    if (this.failed || this.closed) return;
    this.failed = true;
    this.settlePlays();
    const listeners = [...this.failedListeners];
    this.failedListeners.clear();
    each(listeners);
  }

  private send(command: HostCommand, transfer?: ArrayBuffer[]): void {
    if (this.closed || this.failed) return;
    this.channel.send(command, transfer);
  }

  private settlePlays(): void {
    for (const resolve of this.plays.values()) resolve();
    this.plays.clear();
  }
}
