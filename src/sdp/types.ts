/**
 * The typed view of an SDP session description (RFC 4566) that the call layer needs for audio offer/answer
 * (RFC 3264). Only what we act on is modelled; everything else in the text is accepted and ignored.
 */

import type { SrtpMasterKey, SrtpSuiteName } from '../media/srtp/srtp-suites.js';
import type { SdpCrypto } from './sdp-crypto.js';

/** The codecs Dialplane's media engine can encode and decode (RFC 3551 static payload types 0 and 8). */
export type AudioCodecName = 'PCMU' | 'PCMA';

/** RFC 3264 §5.1 stream direction, as seen by the side that wrote the description. */
export type SdpDirection = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

/** c=<nettype> <addrtype> <connection-address>; only nettype IN exists in practice. */
export interface SdpConnection {
  readonly addressType: 'IP4' | 'IP6';
  /** An IP literal or, rarely, a host name (RFC 4566 §5.7 allows an FQDN). Multicast /ttl suffixes are dropped. */
  readonly address: string;
}

/** o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address> */
export interface SdpOrigin {
  readonly username: string;
  /** Kept as text: NTP-based ids exceed 2^53. */
  readonly sessionId: string;
  readonly sessionVersion: string;
  readonly addressType: string;
  readonly address: string;
}

/** One RTP payload type of an m= line, named by its a=rtpmap or by the RFC 3551 static table. */
export interface SdpPayloadType {
  readonly payloadType: number;
  /** As written by the peer; compare case-insensitively (RFC 4566 §6: encoding names are case-insensitive). */
  readonly encodingName: string;
  readonly clockRate: number;
  /** Audio channel count from the rtpmap encoding parameters; undefined means 1. */
  readonly channels: number | undefined;
  /** The a=fmtp parameters for this payload type, if any. */
  readonly fmtp: string | undefined;
}

/** One m= section. */
export interface SdpMedia {
  /** Position among the m= lines: RFC 3264 §6 pairs offer and answer streams by position. */
  readonly index: number;
  /** "audio", "video", "image", ... */
  readonly media: string;
  /** 0 means the stream is rejected (in an answer) or disabled (in an offer). */
  readonly port: number;
  readonly portCount: number | undefined;
  /** "RTP/AVP", "RTP/SAVP", "udptl", ... as written. */
  readonly protocol: string;
  /** The fmt list as written. */
  readonly formats: readonly string[];
  /** Media-level c= if present, else the session-level one. Present whenever port is not 0. */
  readonly connection: SdpConnection | undefined;
  /** Media-level direction attribute, else the session-level one, else sendrecv (RFC 3264 §5.1). */
  readonly direction: SdpDirection;
  /** a=ptime in milliseconds. */
  readonly ptime: number | undefined;
  /**
   * For RTP protocols: the formats in m= order that we can name. A dynamic payload type without an a=rtpmap has
   * no meaning and is left out (it stays in `formats`).
   */
  readonly payloadTypes: readonly SdpPayloadType[];
  /** The first payload type mapped to telephone-event/8000 (RFC 4733), the rate our 8 kHz codecs pair with. */
  readonly telephoneEvent: number | undefined;
  /** The SDES a=crypto attributes (RFC 4568) that parse, in order; malformed ones are left out (§5.1.2). */
  readonly crypto: readonly SdpCrypto[];
}

export interface ParsedSdp {
  readonly origin: SdpOrigin;
  readonly sessionName: string;
  /** Session-level c=, the default for every m= section without its own. */
  readonly connection: SdpConnection | undefined;
  /** The first t= line; RFC 3264 §6 makes the answer repeat it. "0 0" when absent. */
  readonly timing: { readonly start: string; readonly stop: string };
  /** Session-level direction attribute, if any. */
  readonly direction: SdpDirection | undefined;
  readonly media: readonly SdpMedia[];
  /** The first m=audio section, if any (also in `media`). */
  readonly audio: SdpMedia | undefined;
}

/** The outcome of offer/answer for the audio stream, shared by both sides. */
export interface NegotiatedAudio {
  readonly codec: { readonly name: AudioCodecName; readonly payloadType: number };
  /** The telephone-event payload type to send DTMF with, or undefined when the peer did not agree to RFC 4733. */
  readonly telephoneEvent: number | undefined;
  /** Where to send RTP (RTCP goes to port + 1 unless the peer says otherwise). */
  readonly remote: { readonly address: string; readonly port: number };
  /** What WE may do on this stream, e.g. 'recvonly' when the peer put us on hold with sendonly. */
  readonly direction: SdpDirection;
  /** The SRTP keys agreed by SDES, or undefined for plain RTP. */
  readonly srtp?: NegotiatedSrtp | undefined;
}

/** SDES outcome (RFC 4568): we protect with our key and unprotect with the peer's. Secret: never log it. */
export interface NegotiatedSrtp {
  readonly suite: SrtpSuiteName;
  /** Our master key, sent in our description: what we protect our packets with. */
  readonly local: SrtpMasterKey;
  /** The peer's master key, from its description: what its packets are checked and decrypted with. */
  readonly remote: SrtpMasterKey;
}

/** Per trunk or device: no SRTP, SRTP when the peer agrees (else plain RTP), or SRTP only (else 488). */
export type SrtpPolicy = 'off' | 'offer' | 'require';
