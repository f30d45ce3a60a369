/**
 * Our SDP offer for an audio call (RFC 3264 §5): G.711 in the caller's order of preference, RFC 4733
 * telephone-event for DTMF, 20 ms packets.
 *
 *   v=0
 *   o=- <sess-id> <sess-version> IN IP4 <address>
 *   s=-
 *   c=IN IP4 <address>
 *   t=0 0
 *   m=audio <port> RTP/AVP 0 8 101
 *   a=rtpmap:0 PCMU/8000
 *   a=rtpmap:8 PCMA/8000
 *   a=rtpmap:101 telephone-event/8000
 *   a=fmtp:101 0-16
 *   a=ptime:20
 *   a=sendrecv
 *
 * With an SRTP policy, one a=crypto line per suite we run, each with a fresh key (RFC 4568), in our order of
 * preference. `require` offers RTP/SAVP, which a peer without SRTP must refuse; `offer` keeps RTP/AVP with the
 * crypto lines (best-effort SRTP): a peer that answers without one gives a plain call instead of a failed one, which
 * an RTP/SAVP offer could not (the answer must keep the offer's profile, RFC 3264 §6).
 */
import { SdpError } from './sdp-error.js';
import {
  AUDIO_CODEC_NAMES,
  AUDIO_CODEC_PAYLOAD_TYPES,
  DEFAULT_TELEPHONE_EVENT_PT,
  PTIME_MS,
  TELEPHONE_EVENT_FMTP,
} from './rtp-payload-types.js';
import { isSdpDirection } from './sdp-direction.js';
import { checkMediaPort, connectionFor, newSessionId, sessionNumber, writeSdp } from './sdp-write.js';
import { cryptoAttribute, newMasterKey } from './sdp-crypto.js';
import { SRTP_SUITE_NAMES, type SrtpMasterKey } from '../media/srtp/srtp-suites.js';
import type { AudioCodecName, SdpDirection, SrtpPolicy } from './types.js';

export interface CreateOfferOptions {
  /** Our RTP address, an IPv4 or IPv6 literal. */
  readonly address: string;
  /** Our RTP port (RTCP is port + 1). */
  readonly port: number;
  /** Default: random. Keep it for the dialog's later offers. */
  readonly sessionId?: string | number;
  /** Default: the session id. Increment it for each new offer in the same dialog (RFC 3264 §8). */
  readonly sessionVersion?: string | number;
  /** In order of preference. Default: PCMU, PCMA. */
  readonly codecs?: readonly AudioCodecName[];
  /** The dynamic payload type for telephone-event, or false to offer no RFC 4733 DTMF. Default 101. */
  readonly telephoneEvent?: number | false;
  /** Default sendrecv; sendonly/inactive put the peer on hold (RFC 3264 §8.4). */
  readonly direction?: SdpDirection;
  /** SRTP policy (SDES). Default off: plain RTP/AVP. */
  readonly srtp?: SrtpPolicy;
  /** Our keys for the crypto lines (tags 1, 2, ...); default one fresh key per suite we run. */
  readonly srtpKeys?: readonly SrtpMasterKey[];
}

export function createOffer(options: CreateOfferOptions): string {
  connectionFor(options.address);
  const port = checkMediaPort(options.port);
  const sessionId = sessionNumber(options.sessionId ?? newSessionId(), 'session id');
  const sessionVersion = sessionNumber(options.sessionVersion ?? sessionId, 'session version');

  const codecs = options.codecs ?? AUDIO_CODEC_NAMES;
  if (codecs.length === 0) throw new SdpError('invalid_value', 'An offer needs at least one codec');
  if (new Set(codecs).size !== codecs.length) throw new SdpError('invalid_value', 'Codecs are listed twice');
  for (const codec of codecs) {
    if (!AUDIO_CODEC_NAMES.includes(codec)) throw new SdpError('invalid_value', `Unsupported codec ${JSON.stringify(codec)}`);
  }

  const telephoneEvent = options.telephoneEvent ?? DEFAULT_TELEPHONE_EVENT_PT;
  if (telephoneEvent !== false && (!Number.isInteger(telephoneEvent) || telephoneEvent < 96 || telephoneEvent > 127)) {
    throw new SdpError('invalid_value', `telephone-event payload type ${telephoneEvent} is not dynamic (96-127)`);
  }

  const formats = codecs.map((codec) => String(AUDIO_CODEC_PAYLOAD_TYPES[codec]));
  // rtpmap is optional for static types but many peers (and RFC 4566 §6 "SHOULD") want it anyway.
  const attributes = codecs.map((codec) => `rtpmap:${AUDIO_CODEC_PAYLOAD_TYPES[codec]} ${codec}/8000`);
  if (telephoneEvent !== false) {
    formats.push(String(telephoneEvent));
    attributes.push(`rtpmap:${telephoneEvent} telephone-event/8000`, `fmtp:${telephoneEvent} ${TELEPHONE_EVENT_FMTP}`);
  }
  const direction = options.direction ?? 'sendrecv';
  if (!isSdpDirection(direction)) throw new SdpError('invalid_value', `Unknown direction ${JSON.stringify(direction)}`);
  const srtp = options.srtp ?? 'off';
  if (srtp !== 'off') {
    const keys = options.srtpKeys ?? SRTP_SUITE_NAMES.map((suite) => newMasterKey(suite));
    keys.forEach((key, i) => attributes.push(`crypto:${cryptoAttribute(i + 1, key)}`));
  }
  attributes.push(`ptime:${PTIME_MS}`, direction);

  return writeSdp({
    sessionId,
    sessionVersion,
    address: options.address,
    timing: { start: '0', stop: '0' },
    media: [{ media: 'audio', port, protocol: srtp === 'require' ? 'RTP/SAVP' : 'RTP/AVP', formats, attributes }],
  });
}
