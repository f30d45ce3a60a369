/**
 * The answerer's half of RFC 3264 (§6) for an incoming INVITE's offer: accept the first usable audio stream,
 * reject every other m= line with port 0, and pick one codec.
 *
 * - The answer has exactly the offer's m= lines, in order; a rejected one keeps its media, proto and formats and
 *   gets port 0 (§6).
 * - The codec is the first of the OFFERER's list that we support: the offerer's order is its preference (§5.1),
 *   and we keep its payload type numbers (§6.1) so both directions use the same mapping.
 * - Only the chosen codec (plus telephone-event) is answered, so the peer cannot switch codec mid-call.
 * - The direction mirrors the offer's: sendonly ↔ recvonly (§6.1).
 * - SRTP by SDES (RFC 4568), per the `srtp` policy: an RTP/SAVP stream is accepted only with a crypto line we can
 *   run (the first usable one in the offer's order), answered with the same tag and suite and a key of our own; an
 *   RTP/AVP stream carrying crypto lines (best-effort SRTP, as many phones send) gets SRTP too unless the policy is
 *   off. With `require`, a stream without a usable crypto line is refused, so a plain offer is not acceptable (488).
 */
import { SdpNegotiationError } from './sdp-error.js';
import { AUDIO_CODEC_NAMES, PTIME_MS, TELEPHONE_EVENT_FMTP, audioCodecOf } from './rtp-payload-types.js';
import { localDirection } from './sdp-direction.js';
import { checkMediaPort, connectionFor, newSessionId, sessionNumber, writeSdp } from './sdp-write.js';
import type { SdpMediaToWrite } from './sdp-write.js';
import { cryptoAttribute, newMasterKey, usableKey } from './sdp-crypto.js';
import type { SrtpMasterKey } from '../media/srtp/srtp-suites.js';
import type { AudioCodecName, NegotiatedAudio, NegotiatedSrtp, ParsedSdp, SdpMedia, SrtpPolicy } from './types.js';

export interface AnswerOptions {
  /** Our RTP address, an IPv4 or IPv6 literal. */
  readonly address: string;
  readonly port: number;
  /**
   * The codecs we can run, default PCMU and PCMA. Order does not pick the codec (the offerer's does, RFC 3264
   * §5.1); it is accepted so callers can pass the same list they offer with.
   */
  readonly codecs?: readonly AudioCodecName[];
  /** Default: random. */
  readonly sessionId?: string | number;
  /** Default: the session id. */
  readonly sessionVersion?: string | number;
  /** Accept the offer's RFC 4733 telephone-event. Default true. */
  readonly telephoneEvent?: boolean;
  /** SRTP policy (SDES). Default off: only plain RTP/AVP is answered. */
  readonly srtp?: SrtpPolicy;
  /** Our master key to answer with when the chosen suite is its suite (a re-offer keeps the session's key). */
  readonly srtpKey?: SrtpMasterKey;
}

export interface NegotiatedAnswer extends NegotiatedAudio {
  readonly answerSdp: string;
}

interface Choice {
  readonly stream: SdpMedia;
  readonly name: AudioCodecName;
  readonly payloadType: number;
  readonly crypto: { readonly tag: number; readonly remote: SrtpMasterKey } | undefined;
}

/**
 * Whether we can carry the stream, and with which of its crypto lines: undefined when we cannot (a profile we do
 * not run, RTP/SAVP without a usable crypto line or with SRTP off, plain RTP when SRTP is required).
 */
function streamSecurity(stream: SdpMedia, policy: SrtpPolicy): { crypto: Choice['crypto'] } | undefined {
  const protocol = stream.protocol.toUpperCase();
  if (protocol !== 'RTP/AVP' && protocol !== 'RTP/SAVP') return undefined;
  let crypto: Choice['crypto'];
  if (policy !== 'off') {
    for (const line of stream.crypto) {
      const remote = usableKey(line);
      if (remote) {
        crypto = { tag: line.tag, remote };
        break;
      }
    }
  }
  if (crypto === undefined && (protocol === 'RTP/SAVP' || policy === 'require')) return undefined;
  return { crypto };
}

function chooseCodec(stream: SdpMedia, supported: readonly AudioCodecName[], policy: SrtpPolicy): Choice | undefined {
  if (stream.media !== 'audio' || stream.port === 0) return undefined;
  const security = streamSecurity(stream, policy);
  if (security === undefined) return undefined;
  for (const offered of stream.payloadTypes) {
    const name = audioCodecOf(offered.encodingName, offered.clockRate, offered.channels);
    if (name !== undefined && supported.includes(name)) return { stream, name, payloadType: offered.payloadType, crypto: security.crypto };
  }
  return undefined;
}

function rejected(stream: SdpMedia): SdpMediaToWrite {
  return { media: stream.media, port: 0, protocol: stream.protocol, formats: stream.formats, attributes: [] };
}

export function negotiateAnswer(offer: ParsedSdp, local: AnswerOptions): NegotiatedAnswer {
  connectionFor(local.address);
  const port = checkMediaPort(local.port);
  const sessionId = sessionNumber(local.sessionId ?? newSessionId(), 'session id');
  const sessionVersion = sessionNumber(local.sessionVersion ?? sessionId, 'session version');

  const supported = local.codecs ?? AUDIO_CODEC_NAMES;
  const policy = local.srtp ?? 'off';
  let choice: Choice | undefined;
  for (const stream of offer.media) {
    choice = chooseCodec(stream, supported, policy);
    if (choice !== undefined) break;
  }
  if (choice === undefined) {
    const active = offer.media.some((m) => m.media === 'audio' && m.port !== 0);
    throw new SdpNegotiationError(
      !active
        ? 'The offer has no active audio stream'
        : policy === 'require'
          ? 'SRTP is required and no offered audio stream has a crypto suite and codec we support'
          : policy === 'offer'
            ? 'No offered audio stream uses RTP or SDES SRTP with a codec and crypto suite we support'
            : 'No offered audio stream uses plain RTP with a codec we support',
    );
  }

  const accepted = choice.stream;
  const remoteAddress = accepted.connection?.address;
  if (remoteAddress === undefined) {
    // parseSdp guarantees a connection for a non-zero port; a hand-built ParsedSdp might not.
    throw new SdpNegotiationError('The accepted audio stream has no connection address');
  }
  const telephoneEvent = local.telephoneEvent === false ? undefined : accepted.telephoneEvent;
  const direction = localDirection(accepted.direction, remoteAddress);

  const formats = [String(choice.payloadType)];
  const attributes = [`rtpmap:${choice.payloadType} ${choice.name}/8000`];
  if (telephoneEvent !== undefined) {
    formats.push(String(telephoneEvent));
    attributes.push(`rtpmap:${telephoneEvent} telephone-event/8000`, `fmtp:${telephoneEvent} ${TELEPHONE_EVENT_FMTP}`);
  }
  let srtp: NegotiatedSrtp | undefined;
  if (choice.crypto !== undefined) {
    const { tag, remote } = choice.crypto;
    const ours = local.srtpKey?.suite === remote.suite ? local.srtpKey : newMasterKey(remote.suite);
    srtp = { suite: remote.suite, local: ours, remote };
    attributes.push(`crypto:${cryptoAttribute(tag, ours)}`);
  }
  attributes.push(`ptime:${PTIME_MS}`, direction);

  const answerSdp = writeSdp({
    sessionId,
    sessionVersion,
    address: local.address,
    timing: offer.timing,
    media: offer.media.map((stream) =>
      stream === accepted ? { media: 'audio', port, protocol: accepted.protocol, formats, attributes } : rejected(stream),
    ),
  });

  return {
    answerSdp,
    codec: { name: choice.name, payloadType: choice.payloadType },
    telephoneEvent,
    remote: { address: remoteAddress, port: accepted.port },
    direction,
    ...(srtp ? { srtp } : {}),
  };
}
