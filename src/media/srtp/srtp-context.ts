/**
 * SRTP and SRTCP packet protection (RFC 3711) for one direction of one session, keyed by one SDES master key.
 *
 *  SRTP (§3.1)                                     SRTCP (§3.4)
 *  +----------------------------+                  +----------------------------+
 *  | RTP header (clear)         |                  | first 8 octets (clear)     |
 *  +----------------------------+                  +----------------------------+
 *  | payload (AES-CM encrypted) |                  | rest (AES-CM encrypted)    |
 *  +----------------------------+                  +-+--------------------------+
 *  | auth tag (80 or 32 bits)   |                  |E|     SRTCP index (31)     |
 *  +----------------------------+                  +-+--------------------------+
 *                                                  | auth tag (80 bits)         |
 *  tag = HMAC-SHA1(k_a, header || payload || ROC)  +----------------------------+
 *                                                  tag = HMAC-SHA1(k_a, all before it)
 *
 * The counter-mode IV is (k_s * 2^16) XOR (SSRC * 2^64) XOR (index * 2^16) (§4.1.1), the index being ROC * 2^16 +
 * SEQ for SRTP and the 31-bit SRTCP index for SRTCP. State (rollover counter, highest sequence number, replay
 * window) is kept per SSRC (§3.2.3). Unprotecting never throws: a packet that is too short, not RTP, replayed or
 * fails authentication comes back as a rejection, and changes no state.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { AesCounterMode } from './aes-cm.js';
import { ReplayWindow } from './replay-window.js';
import { deriveSessionKeys, type SrtpSessionKeys } from './srtp-kdf.js';
import { SRTP_SUITES, type SrtpMasterKey, type SrtpSuite } from './srtp-suites.js';

export type SrtpRejection = 'malformed' | 'replayed' | 'auth_failed';

export type Unprotected = { readonly ok: true; readonly packet: Buffer } | { readonly ok: false; readonly reason: SrtpRejection };

/** SSRCs whose state is kept; a peer changing SSRC more often than this starts the oldest afresh. */
const MAX_STREAMS = 16;
const RTP_HEADER = 12;
const RTCP_HEADER = 8;
const SRTCP_INDEX = 4;
const MAX_SRTCP_INDEX = 0x7fffffff;

interface RtpStream {
  /** Rollover counter. */
  roc: number;
  /** Highest sequence number authenticated (s_l), or -1 before the first packet. */
  highest: number;
  readonly replay: ReplayWindow;
}

class Keys {
  readonly cipher: AesCounterMode;
  readonly authKey: Buffer;
  readonly salt: Buffer;

  constructor(keys: SrtpSessionKeys) {
    this.cipher = new AesCounterMode(keys.cipherKey);
    this.authKey = keys.authKey;
    this.salt = keys.salt;
  }
}

export class SrtpContext {
  readonly suite: SrtpSuite;
  private readonly rtp: Keys;
  private readonly rtcp: Keys;
  private readonly rtpStreams = new Map<number, RtpStream>();
  private readonly rtcpStreams = new Map<number, ReplayWindow>();
  private rtcpIndex = 0;
  /** One IV buffer reused for every packet (the cipher reads it synchronously). */
  private readonly iv = Buffer.alloc(16);
  private readonly rocBytes = Buffer.alloc(4);

  constructor(master: SrtpMasterKey) {
    this.suite = SRTP_SUITES[master.suite];
    this.rtp = new Keys(deriveSessionKeys(master.key, master.salt, false));
    this.rtcp = new Keys(deriveSessionKeys(master.key, master.salt, true));
  }

  /** The SRTP packet for an RTP packet we send (a new buffer; the input is left alone). */
  protectRtp(packet: Buffer): Buffer {
    const headerLength = rtpHeaderLength(packet);
    if (headerLength < 0) throw new RangeError('not an RTP packet');
    const ssrc = packet.readUInt32BE(8);
    const sequence = packet.readUInt16BE(2);
    const stream = this.stream(ssrc);
    const roc = estimateRoc(stream, sequence);
    advance(stream, roc, sequence);

    const tagLength = this.suite.rtpTagLength;
    const out = Buffer.allocUnsafe(packet.length + tagLength);
    packet.copy(out, 0);
    this.rtpIv(ssrc, roc, sequence);
    this.rtp.cipher.apply(this.iv, out, headerLength, packet.length);
    this.rtpTag(out.subarray(0, packet.length), roc).copy(out, packet.length, 0, tagLength);
    return out;
  }

  /** The RTP packet inside an SRTP packet we received, or why it was rejected. */
  unprotectRtp(packet: Buffer): Unprotected {
    const tagLength = this.suite.rtpTagLength;
    const end = packet.length - tagLength;
    const headerLength = end >= RTP_HEADER ? rtpHeaderLength(packet.subarray(0, end)) : -1;
    if (headerLength < 0) return { ok: false, reason: 'malformed' };
    const ssrc = packet.readUInt32BE(8);
    const sequence = packet.readUInt16BE(2);
    const known = this.rtpStreams.get(ssrc);
    const probe: RtpStream = known ?? { roc: 0, highest: -1, replay: new ReplayWindow() };
    const roc = estimateRoc(probe, sequence);
    const index = roc * 0x10000 + sequence;
    if (roc < 0 || !probe.replay.check(index)) return { ok: false, reason: 'replayed' };

    const tag = this.rtpTag(packet.subarray(0, end), roc);
    if (!timingSafeEqual(tag.subarray(0, tagLength), packet.subarray(end))) return { ok: false, reason: 'auth_failed' };

    const out = Buffer.from(packet.subarray(0, end));
    this.rtpIv(ssrc, roc, sequence);
    this.rtp.cipher.apply(this.iv, out, headerLength, end);
    const stream = known ?? this.stream(ssrc, probe);
    advance(stream, roc, sequence);
    stream.replay.mark(index);
    return { ok: true, packet: out };
  }

  /** The SRTCP packet for an RTCP (compound) packet we send, encrypted, with the next SRTCP index. */
  protectRtcp(packet: Buffer): Buffer {
    if (packet.length < RTCP_HEADER) throw new RangeError('not an RTCP packet');
    const index = this.rtcpIndex;
    // §3.4: the index is 31 bits; keys must change before it wraps, which at RTCP rates takes decades.
    this.rtcpIndex = index === MAX_SRTCP_INDEX ? 0 : index + 1;
    const ssrc = packet.readUInt32BE(4);
    const tagLength = this.suite.rtcpTagLength;
    const out = Buffer.allocUnsafe(packet.length + SRTCP_INDEX + tagLength);
    packet.copy(out, 0);
    this.rtcpIv(ssrc, index);
    this.rtcp.cipher.apply(this.iv, out, RTCP_HEADER, packet.length);
    out.writeUInt32BE((0x80000000 | index) >>> 0, packet.length);
    const authenticated = packet.length + SRTCP_INDEX;
    hmac(this.rtcp.authKey, out.subarray(0, authenticated)).copy(out, authenticated, 0, tagLength);
    return out;
  }

  unprotectRtcp(packet: Buffer): Unprotected {
    const tagLength = this.suite.rtcpTagLength;
    const authenticated = packet.length - tagLength;
    const end = authenticated - SRTCP_INDEX;
    if (end < RTCP_HEADER || (packet[0]! & 0xc0) !== 0x80) return { ok: false, reason: 'malformed' };
    const word = packet.readUInt32BE(end);
    // E = 0 (unencrypted SRTCP) is only for sessions that negotiated UNENCRYPTED_SRTCP, which we never do.
    if ((word & 0x80000000) === 0) return { ok: false, reason: 'malformed' };
    const index = word & MAX_SRTCP_INDEX;
    const ssrc = packet.readUInt32BE(4);
    const window = this.rtcpStreams.get(ssrc);
    if (window && !window.check(index)) return { ok: false, reason: 'replayed' };

    const tag = hmac(this.rtcp.authKey, packet.subarray(0, authenticated));
    if (!timingSafeEqual(tag.subarray(0, tagLength), packet.subarray(authenticated))) return { ok: false, reason: 'auth_failed' };

    const out = Buffer.from(packet.subarray(0, end));
    this.rtcpIv(ssrc, index);
    this.rtcp.cipher.apply(this.iv, out, RTCP_HEADER, end);
    let replay = window;
    if (!replay) {
      replay = new ReplayWindow();
      remember(this.rtcpStreams, ssrc, replay);
    }
    replay.mark(index);
    return { ok: true, packet: out };
  }

  private stream(ssrc: number, fresh?: RtpStream): RtpStream {
    let stream = this.rtpStreams.get(ssrc);
    if (!stream) {
      stream = fresh ?? { roc: 0, highest: -1, replay: new ReplayWindow() };
      remember(this.rtpStreams, ssrc, stream);
    }
    return stream;
  }

  private rtpIv(ssrc: number, roc: number, sequence: number): void {
    const iv = this.iv;
    this.rtp.salt.copy(iv, 0);
    iv[14] = 0;
    iv[15] = 0;
    xor32(iv, 4, ssrc);
    xor32(iv, 8, roc);
    iv[12]! ^= sequence >>> 8;
    iv[13]! ^= sequence & 0xff;
  }

  private rtcpIv(ssrc: number, index: number): void {
    const iv = this.iv;
    this.rtcp.salt.copy(iv, 0);
    iv[14] = 0;
    iv[15] = 0;
    xor32(iv, 4, ssrc);
    xor32(iv, 10, index);
  }

  private rtpTag(authenticated: Buffer, roc: number): Buffer {
    this.rocBytes.writeUInt32BE(roc >>> 0, 0);
    return createHmac('sha1', this.rtp.authKey).update(authenticated).update(this.rocBytes).digest();
  }
}

function hmac(key: Buffer, data: Buffer): Buffer {
  return createHmac('sha1', key).update(data).digest();
}

function xor32(buffer: Buffer, at: number, value: number): void {
  buffer[at]! ^= value >>> 24;
  buffer[at + 1]! ^= (value >>> 16) & 0xff;
  buffer[at + 2]! ^= (value >>> 8) & 0xff;
  buffer[at + 3]! ^= value & 0xff;
}

function remember<T>(map: Map<number, T>, ssrc: number, value: T): void {
  if (map.size >= MAX_STREAMS) {
    const oldest = map.keys().next().value;
    if (oldest !== undefined) map.delete(oldest);
  }
  map.set(ssrc, value);
}

/**
 * The length of an RTP header (fixed part, CSRCs, extension), or -1 when `packet` is not RTP version 2 or too short
 * to hold its header.
 */
export function rtpHeaderLength(packet: Buffer): number {
  if (packet.length < RTP_HEADER || (packet[0]! & 0xc0) !== 0x80) return -1;
  let length = RTP_HEADER + (packet[0]! & 0x0f) * 4;
  if (packet[0]! & 0x10) {
    if (packet.length < length + 4) return -1;
    length += 4 + packet.readUInt16BE(length + 2) * 4;
  }
  return packet.length < length ? -1 : length;
}

/**
 * RFC 3711 §3.3.1 (Appendix A): the rollover counter v of a packet with sequence number `sequence`, guessed from the
 * highest sequence number s_l seen on the stream and its ROC. -1 when the guess is ROC - 1 with ROC already 0.
 */
export function estimateRoc(stream: { readonly roc: number; readonly highest: number }, sequence: number): number {
  const { roc, highest } = stream;
  if (highest < 0) return roc;
  if (highest < 0x8000) return sequence - highest > 0x8000 ? roc - 1 : roc;
  return highest - 0x8000 > sequence ? roc + 1 : roc;
}

/** §3.3.1: after a packet with index v * 2^16 + sequence is accepted, s_l and ROC follow it. */
function advance(stream: RtpStream, v: number, sequence: number): void {
  if (stream.highest < 0) {
    stream.roc = v;
    stream.highest = sequence;
  } else if (v === stream.roc + 1) {
    stream.roc = v;
    stream.highest = sequence;
  } else if (v === stream.roc && sequence > stream.highest) {
    stream.highest = sequence;
  }
}
