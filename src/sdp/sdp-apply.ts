/**
 * The offerer's half of RFC 3264 (§7): read the answer to an offer we sent and learn what was agreed.
 *
 * - The answer must have as many m= lines as the offer, each of the same media type (§6), and keep our audio
 *   stream's transport protocol.
 * - Our audio stream is the first m=audio of our offer with a non-zero port; port 0 at that position in the
 *   answer means it was rejected.
 * - The codec is the first format of the answer that is one of the codecs we offered, matched by encoding name
 *   and clock rate. The answer's payload type number is returned: it is the one the peer expects to receive
 *   (§6.1 only says it SHOULD equal ours). Formats we never offered are allowed in an answer (§6.1) and ignored.
 * - SDES (RFC 4568 §5.1.3): when we offered crypto lines, an answer's crypto line must repeat the tag and suite of one
 *   of ours; our key of that tag protects what we send, the answer's key what we receive. An RTP/SAVP offer needs
 *   one; a best-effort offer (RTP/AVP with crypto lines) answered without any is a plain call.
 */
import { SdpError, SdpNegotiationError } from './sdp-error.js';
import { audioCodecOf } from './rtp-payload-types.js';
import { localDirection } from './sdp-direction.js';
import { usableKey } from './sdp-crypto.js';
import type { AudioCodecName, NegotiatedAudio, NegotiatedSrtp, ParsedSdp, SdpMedia } from './types.js';

export function applyAnswer(offer: ParsedSdp, answer: ParsedSdp): NegotiatedAudio {
  if (answer.media.length !== offer.media.length) {
    throw new SdpError(
      'mismatched_answer',
      `The answer has ${answer.media.length} m= lines for the offer's ${offer.media.length}`,
    );
  }
  for (const [index, offered] of offer.media.entries()) {
    const answered = answer.media[index];
    if (answered?.media !== offered.media) {
      throw new SdpError('mismatched_answer', `Answer m= line ${index + 1} is not ${offered.media} as offered`);
    }
  }

  const ours = offer.media.find((m) => m.media === 'audio' && m.port !== 0);
  if (ours === undefined) throw new SdpError('invalid_value', 'Our offer has no active audio stream');
  const theirs = answer.media[ours.index];
  if (theirs === undefined || theirs.port === 0) throw new SdpNegotiationError('The answer rejected the audio stream');
  if (theirs.protocol.toUpperCase() !== ours.protocol.toUpperCase()) {
    throw new SdpError('mismatched_answer', `The answer changed the audio protocol to ${theirs.protocol}`);
  }

  const offeredCodecs = new Set<AudioCodecName>();
  for (const pt of ours.payloadTypes) {
    const name = audioCodecOf(pt.encodingName, pt.clockRate, pt.channels);
    if (name !== undefined) offeredCodecs.add(name);
  }
  let codec: NegotiatedAudio['codec'] | undefined;
  for (const pt of theirs.payloadTypes) {
    const name = audioCodecOf(pt.encodingName, pt.clockRate, pt.channels);
    if (name !== undefined && offeredCodecs.has(name)) {
      codec = { name, payloadType: pt.payloadType };
      break;
    }
  }
  if (codec === undefined) throw new SdpNegotiationError('The answer accepts none of the codecs we offered');

  const address = theirs.connection?.address;
  if (address === undefined) throw new SdpError('missing_field', 'The answer gives no address for the audio stream');

  const srtp = answeredSrtp(ours, theirs);
  return {
    codec,
    telephoneEvent: ours.telephoneEvent === undefined ? undefined : theirs.telephoneEvent,
    remote: { address, port: theirs.port },
    direction: localDirection(theirs.direction, address),
    ...(srtp ? { srtp } : {}),
  };
}

function answeredSrtp(ours: SdpMedia, theirs: SdpMedia): NegotiatedSrtp | undefined {
  const secure = ours.protocol.toUpperCase() === 'RTP/SAVP';
  if (ours.crypto.length === 0) return undefined;
  if (theirs.crypto.length === 0) {
    if (secure) throw new SdpNegotiationError('The answer has no crypto line for our RTP/SAVP offer');
    return undefined;
  }
  const answered = theirs.crypto[0]!;
  const offered = ours.crypto.find((line) => line.tag === answered.tag && line.suite === answered.suite);
  const local = offered && usableKey(offered);
  const remote = usableKey(answered);
  if (!local || !remote) throw new SdpNegotiationError('The answer accepts none of the crypto suites we offered');
  return { suite: remote.suite, local, remote };
}
