import type { RemoteInfo, Socket } from 'node:dgram';
import { randomBytesPooled } from '../random-pool.js';
import type { MediaClock } from './media-clock.js';
import { sdesCname, serializeRtcpCompound } from './rtp/rtcp-packet.js';
import { transcodeInto, type G711Law } from './codecs/g711.js';
import { isRtcp, parseRtp, RtpView, serializeRtp, type RtpPacket } from './rtp/rtp-packet.js';
import { ReceiverStats } from './rtp/sequence.js';
import { SrtpContext, type SrtpRejection } from './srtp/srtp-context.js';
import type { NegotiatedSrtp } from '../sdp/types.js';

export interface RtpEndpoint {
  readonly address: string;
  readonly port: number;
}

export interface RtpSessionOptions {
  /** The leg's RTP socket (from the port pool); the session owns its 'message' events from now on. */
  readonly socket: Socket;
  /** Where the SDP says to send; replaced by where the peer's packets really come from (symmetric RTP). */
  readonly remote: RtpEndpoint;
  readonly payloadType: number;
  readonly clock: MediaClock;
  /** RTP timestamp units per packet: 160 for 20 ms at 8 kHz. */
  readonly samplesPerPacket?: number;
  /** Hears every accepted packet as a packet of its own (a copy: for tests and tools, not the per-packet path). */
  readonly onPacket?: (packet: RtpPacket) => void;
  /** The leg's RTCP socket (RTP port + 1): reports go to the peer's RTP port + 1 (RFC 3550 §11). */
  readonly rtcpSocket?: Socket;
  /** How often reports are sent (RFC 3550 §6.2's minimum for small sessions is 5 s). */
  readonly rtcpIntervalMs?: number;
  readonly cname?: string;
  /**
   * Whether the SDP lets us send media (our direction sendrecv or sendonly). Default true. While false, play()
   * resolves at once and relayed packets are dropped; RTCP still goes out (RFC 3264 §5.1).
   */
  readonly sending?: boolean;
  /** SDES keys: every packet sent is protected and every packet received must authenticate (RFC 3711). */
  readonly srtp?: NegotiatedSrtp | undefined;
  /** A received SRTP or SRTCP packet was dropped (failed authentication, replayed, malformed). */
  readonly onSrtpRejected?: (reason: SrtpRejection) => void;
}

/** The two directions of an SRTP session: ours protects what we send, the peer's checks what we receive. */
interface SrtpPair {
  readonly send: SrtpContext;
  readonly receive: SrtpContext;
}

function srtpPair(srtp: NegotiatedSrtp | undefined): SrtpPair | undefined {
  return srtp ? { send: new SrtpContext(srtp.local), receive: new SrtpContext(srtp.remote) } : undefined;
}

export const RTCP_INTERVAL_MS = 5_000;
/** A header without CSRCs or extension: what relay() rewrites in place. */
const RTP_HEADER = 12;
/** Seconds between 1900 (NTP's epoch) and 1970 (Unix's). */
const NTP_EPOCH_OFFSET = 2_208_988_800n;

/**
 * One leg's RTP: a random SSRC, sequence and timestamp origin (RFC 3550 §5.1), paced sending on the shared media
 * clock, and symmetric RTP — after the first packet from the peer we send to where it came from, which is what gets
 * audio through NATs that rewrote the SDP's address.
 */
export class RtpSession {
  readonly ssrc: number;
  /** Reception statistics of the source heard now: a new SSRC starts them afresh (RFC 3550 §8.2, A.1). */
  private receiverStats = new ReceiverStats({ minSequential: 1 });
  private sequence: number;
  private timestamp: number;
  private remote: RtpEndpoint;
  private queue: Buffer[] = [];
  private readonly listeners = new Set<(packet: RtpView) => void>();
  /** Every received packet is read into this one view (see RtpView): the receive path allocates nothing of its own. */
  private readonly view = new RtpView();
  private readonly sentListeners = new Set<(payloadType: number, payload: Buffer) => void>();
  private onDrained: (() => void) | undefined;
  private unsubscribe: (() => void) | undefined;
  private closed = false;
  private latched = false;
  private octets = 0;
  private receivedFrom: number | undefined;
  private rtcpTimer: NodeJS.Timeout | undefined;
  private mediaAllowed: boolean;
  private srtp: SrtpPair | undefined;
  private srtpKeys: NegotiatedSrtp | undefined;
  sent = 0;
  received = 0;
  /** The SSRC and sequence number of the last packet accepted (a new object only when the source changes). */
  lastHeard: { ssrc: number; sequenceNumber: number } | undefined;
  /** Received packets dropped by SRTP/SRTCP (failed authentication, replays, plaintext). */
  srtpRejected = 0;

  get stats(): ReceiverStats {
    return this.receiverStats;
  }

  constructor(private readonly options: RtpSessionOptions) {
    const random = randomBytesPooled(10);
    this.ssrc = random.readUInt32BE(0);
    this.sequence = random.readUInt16BE(4);
    this.timestamp = random.readUInt32BE(6);
    this.remote = options.remote;
    this.mediaAllowed = options.sending ?? true;
    this.srtpKeys = options.srtp;
    this.srtp = srtpPair(options.srtp);
    options.socket.on('message', (data: Buffer, from: RemoteInfo) => this.receive(data, from));
    if (options.rtcpSocket) {
      options.rtcpSocket.on('message', (data) => this.receiveRtcp(data));
      this.rtcpTimer = setInterval(() => this.sendReport(), options.rtcpIntervalMs ?? RTCP_INTERVAL_MS);
      this.rtcpTimer.unref();
    }
  }

  /**
   * A Sender Report when we have sent since the last one, else a Receiver Report, with a reception block for the
   * peer when we hear it, and our CNAME (SDES) in the same compound packet.
   */
  buildReport(): Buffer {
    const reports =
      this.receivedFrom !== undefined && this.received > 0
        ? [{ ssrc: this.receivedFrom, ...this.stats.report() }]
        : [];
    const sdes = sdesCname(this.ssrc, this.options.cname ?? `dialplane@${this.options.socket.address().address}`);
    if (this.sent > 0) {
      const now = Date.now();
      const seconds = BigInt(Math.floor(now / 1000)) + NTP_EPOCH_OFFSET;
      const fraction = BigInt(Math.floor(((now % 1000) / 1000) * 2 ** 32));
      return serializeRtcpCompound([
        {
          type: 'sr',
          ssrc: this.ssrc,
          ntpTimestamp: (seconds << 32n) | fraction,
          rtpTimestamp: this.timestamp,
          packetCount: this.sent >>> 0,
          octetCount: this.octets >>> 0,
          reports,
        },
        sdes,
      ]);
    }
    return serializeRtcpCompound([{ type: 'rr', ssrc: this.ssrc, reports }, sdes]);
  }

  private sendReport(): void {
    if (this.closed || !this.options.rtcpSocket) return;
    const report = this.buildReport();
    this.options.rtcpSocket.send(this.srtp ? this.srtp.send.protectRtcp(report) : report, this.remote.port + 1, this.remote.address);
  }

  /** Reports are not acted on; under SRTP they are still checked, so forged ones are counted like forged RTP. */
  private receiveRtcp(data: Buffer): void {
    if (this.closed || !this.srtp) return;
    const result = this.srtp.receive.unprotectRtcp(data);
    if (!result.ok) this.rejected(result.reason);
  }

  private rejected(reason: SrtpRejection): void {
    this.srtpRejected += 1;
    try {
      this.options.onSrtpRejected?.(reason);
    } catch {
      // A counter's failure must not stop the media.
    }
  }

  /** Whether packets are protected (SRTP negotiated). */
  get secure(): boolean {
    return this.srtp !== undefined;
  }

  /**
   * New SDES keys from a later offer/answer (RFC 4568 §7.1.4: a changed key starts new crypto contexts); the same
   * keys keep the current contexts, whose rollover counters and replay windows must survive.
   */
  setSrtp(srtp: NegotiatedSrtp | undefined): void {
    const current = this.srtpKeys;
    const same =
      current !== undefined && srtp !== undefined &&
      current.local.key.equals(srtp.local.key) && current.local.salt.equals(srtp.local.salt) &&
      current.remote.key.equals(srtp.remote.key) && current.remote.salt.equals(srtp.remote.salt) &&
      current.suite === srtp.suite;
    if (same || (current === undefined && srtp === undefined)) return;
    this.srtpKeys = srtp;
    this.srtp = srtpPair(srtp);
  }

  private transmit(packet: Buffer): void {
    this.options.socket.send(this.srtp ? this.srtp.send.protectRtp(packet) : packet, this.remote.port, this.remote.address);
  }

  get destination(): RtpEndpoint {
    return this.remote;
  }

  /** Our RTP address and port (the leg's socket). */
  get local(): RtpEndpoint {
    const { address, port } = this.options.socket.address();
    return { address, port };
  }

  /**
   * Hears every accepted packet; returns the unsubscribe. The packet is a view reused for the next one: read it
   * during the call (its `payload` may be kept, it is not overwritten).
   */
  listen(listener: (packet: RtpView) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Hears every packet this session sends (for recording our side of the call). */
  listenSent(listener: (payloadType: number, payload: Buffer) => void): () => void {
    this.sentListeners.add(listener);
    return () => this.sentListeners.delete(listener);
  }

  /** Whether media may be sent now (the negotiated direction lets us send). */
  get sending(): boolean {
    return this.mediaAllowed;
  }

  /**
   * A new offer/answer moved the peer's media (a re-INVITE, or the answer of a late offer): send there and latch
   * again on the first packet from the new place.
   */
  setRemote(remote: RtpEndpoint): void {
    if (remote.address === this.remote.address && remote.port === this.remote.port) return;
    this.remote = remote;
    this.latched = false;
  }

  /** Follows a new negotiated direction; turning sending off stops what is playing (its play() resolves). */
  setSending(sending: boolean): void {
    this.mediaAllowed = sending;
    if (!sending) this.stopPlaying();
  }

  /**
   * Queues payloads (one per packet) to go out one per clock tick; resolves when the last has been sent, or at once
   * (sending nothing) when the direction does not let us send.
   */
  play(payloads: readonly Buffer[]): Promise<void> {
    if (this.closed || !this.mediaAllowed) return Promise.resolve();
    this.queue.push(...payloads);
    this.unsubscribe ??= this.options.clock.subscribe(() => this.tick());
    return new Promise((resolve) => {
      const previous = this.onDrained;
      this.onDrained = () => {
        previous?.();
        resolve();
      };
    });
  }

  /** Stops what is playing (barge-in); the pending play() resolves. */
  stopPlaying(): void {
    this.queue = [];
    this.drained();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopPlaying();
    this.options.socket.removeAllListeners('message');
    if (this.rtcpTimer) clearInterval(this.rtcpTimer);
    this.options.rtcpSocket?.removeAllListeners('message');
  }

  private tick(): void {
    const payload = this.queue.shift();
    if (!payload) {
      this.drained();
      return;
    }
    this.sendPacket(payload, this.sent === 0);
    if (this.queue.length === 0) this.drained();
  }

  private drained(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    const done = this.onDrained;
    this.onDrained = undefined;
    done?.();
  }

  /**
   * Relays a packet from elsewhere (a bridged leg) at once, under this session's SSRC and sequence. `timestamp` is
   * already in this session's timeline (the bridge maps it), so the far end sees one continuous stream.
   */
  forward(payload: Buffer, payloadType: number, marker: boolean, timestamp: number): void {
    if (this.closed || !this.mediaAllowed) return;
    const packet = serializeRtp({
      version: 2,
      padding: false,
      marker,
      payloadType,
      sequenceNumber: this.sequence,
      timestamp: timestamp >>> 0,
      ssrc: this.ssrc,
      csrcs: [],
      payload,
    });
    this.sequence = (this.sequence + 1) & 0xffff;
    this.timestamp = (timestamp + (this.options.samplesPerPacket ?? 160)) >>> 0;
    this.sent += 1;
    this.octets += payload.length;
    this.transmit(packet);
    for (const listener of this.sentListeners) listener(payloadType, payload);
  }

  /**
   * forward() for a packet heard on a bridged leg. A packet with a plain 12-octet header (no CSRCs, no extension:
   * what phones and trunks send) is rewritten where it lies, under this session's payload type, SSRC and sequence,
   * and sent as it is: the datagram is ours alone, and listeners that kept its payload keep bytes that do not change.
   * A payload that changes law is written once, through the transcoding table, into the one new buffer it needs.
   */
  relay(packet: RtpView, payloadType: number, timestamp: number, from: G711Law, to: G711Law): void {
    if (this.closed || !this.mediaAllowed) return;
    const payloadLength = packet.payloadEnd - packet.headerLength;
    let out: Buffer;
    if (from !== to) {
      out = Buffer.allocUnsafe(RTP_HEADER + payloadLength);
      transcodeInto(packet.data, packet.headerLength, packet.payloadEnd, out, RTP_HEADER, from, to);
      out[0] = 0x80;
    } else if (packet.headerLength === RTP_HEADER) {
      out = packet.data;
      out[0] = packet.padding ? 0xa0 : 0x80;
    } else {
      this.forward(packet.payload, payloadType, packet.marker, timestamp);
      return;
    }
    out[1] = (packet.marker ? 0x80 : 0) | payloadType;
    out.writeUInt16BE(this.sequence, 2);
    out.writeUInt32BE(timestamp >>> 0, 4);
    out.writeUInt32BE(this.ssrc, 8);
    this.sequence = (this.sequence + 1) & 0xffff;
    this.timestamp = (timestamp + (this.options.samplesPerPacket ?? 160)) >>> 0;
    this.sent += 1;
    this.octets += payloadLength;
    this.transmit(out);
    if (this.sentListeners.size === 0) return;
    const payload = out.subarray(RTP_HEADER, RTP_HEADER + payloadLength);
    for (const listener of this.sentListeners) listener(payloadType, payload);
  }

  /** The timestamp the next packet sent by this session will carry. */
  get nextTimestamp(): number {
    return this.timestamp;
  }

  private sendPacket(payload: Buffer, marker: boolean): void {
    const packet = serializeRtp({
      version: 2,
      padding: false,
      marker,
      payloadType: this.options.payloadType,
      sequenceNumber: this.sequence,
      timestamp: this.timestamp,
      ssrc: this.ssrc,
      csrcs: [],
      payload,
    });
    this.sequence = (this.sequence + 1) & 0xffff;
    this.timestamp = (this.timestamp + (this.options.samplesPerPacket ?? 160)) >>> 0;
    this.sent += 1;
    this.octets += payload.length;
    this.transmit(packet);
    for (const listener of this.sentListeners) listener(this.options.payloadType, payload);
  }

  private receive(data: Buffer, from: RemoteInfo): void {
    if (this.closed || isRtcp(data)) return;
    if (this.srtp) {
      // Authenticated before anything else, latching included: a plaintext or forged packet must not move the
      // stream to its sender.
      const result = this.srtp.receive.unprotectRtp(data);
      if (!result.ok) {
        this.rejected(result.reason);
        return;
      }
      data = result.packet;
    }
    const packet = this.view;
    // Not RTP: a stray or hostile datagram is dropped, never fatal.
    if (!packet.read(data)) return;
    // Latch once, on the first valid packet; afterwards only that source is heard, so a stray sender cannot
    // redirect the stream.
    if (!this.latched) {
      this.latched = true;
      this.remote = { address: from.address, port: from.port };
    } else if (from.address !== this.remote.address || from.port !== this.remote.port) {
      return;
    }
    this.received += 1;
    // A new source (a phone switching streams, a restart) has its own sequence and timestamp origins: comparing them
    // with the old one's would read as a loss or jitter spike.
    if (this.receivedFrom !== undefined && packet.ssrc !== this.receivedFrom) this.receiverStats = new ReceiverStats({ minSequential: 1 });
    this.receivedFrom = packet.ssrc;
    if (this.lastHeard?.ssrc === packet.ssrc) this.lastHeard.sequenceNumber = packet.sequenceNumber;
    else this.lastHeard = { ssrc: packet.ssrc, sequenceNumber: packet.sequenceNumber };
    this.stats.receive(packet.sequenceNumber, packet.timestamp, Math.round(performance.now() * 8));
    if (this.options.onPacket) this.options.onPacket(parseRtp(data));
    for (const listener of this.listeners) listener(packet);
  }
}
