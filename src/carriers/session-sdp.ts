import type { SessionMedia } from '../media/workers/remote-leg-media.js';
import { applyAnswer, createOffer, negotiateAnswer, parseSdp } from '../sdp/index.js';
import type { AudioCodecName, ParsedSdp, SrtpPolicy } from '../sdp/types.js';
import type { SrtpMasterKey } from '../media/srtp/srtp-suites.js';
import type { SessionDescriptions } from '../sip/dialog/invite-session.js';

/**
 * Offer/answer after the first one (RFC 3264 §8), for one leg: the peer's new offer (a re-INVITE putting the call on
 * or off hold, moving its media, or refreshing the session) is answered on the same port with the codec already in
 * use, and the leg's media follows the new direction (no RTP is sent while the peer holds the call) and address. Our
 * description keeps its o= session id; its version goes up by one only when the description changes (§8). Under
 * SDES our key stays the same across re-offers and the media is re-keyed only when the peer's key changes.
 */
export interface LegSecurity {
  readonly srtp?: SrtpPolicy;
  /** Our SDES key in `initial`, when it carries one. */
  readonly srtpKey?: SrtpMasterKey | undefined;
}

export class LegDescriptions implements SessionDescriptions {
  private local: string;
  private version: bigint;
  private readonly sessionId: string;
  /** Our offer awaiting its answer (a late offer, or our offer in the 200 to an offerless re-INVITE). */
  private ourOffer: string | undefined;
  private srtpKey: SrtpMasterKey | undefined;

  constructor(
    private readonly media: () => SessionMedia | undefined,
    private readonly address: string,
    private readonly port: number,
    /** Our current description: the offer we sent or the answer we gave. */
    initial: string,
    /** `initial` is an offer still waiting for its answer (a late offer's 200). */
    awaitingAnswer = false,
    private readonly security: LegSecurity = {},
    /** `initial` parsed, when the caller has it already. */
    parsedInitial: ParsedSdp = parseSdp(initial),
  ) {
    this.srtpKey = security.srtpKey;
    this.local = initial;
    if (awaitingAnswer) this.ourOffer = initial;
    const origin = parsedInitial.origin;
    this.sessionId = origin.sessionId;
    this.version = BigInt(origin.sessionVersion);
  }

  answer(offer: Buffer): Buffer | undefined {
    const media = this.media();
    try {
      const codecs: AudioCodecName[] | undefined = media ? [media.codec.name] : undefined;
      const negotiate = (version: bigint) =>
        negotiateAnswer(parseSdp(offer.toString('utf8')), {
          address: this.address,
          port: this.port,
          sessionId: this.sessionId,
          sessionVersion: version.toString(),
          ...(codecs ? { codecs } : {}),
          ...(this.security.srtp ? { srtp: this.security.srtp } : {}),
          ...(this.srtpKey ? { srtpKey: this.srtpKey } : {}),
        });
      let answer = negotiate(this.version);
      if (answer.answerSdp !== this.local) {
        this.version += 1n;
        answer = negotiate(this.version);
      }
      this.local = answer.answerSdp;
      this.srtpKey = answer.srtp?.local ?? this.srtpKey;
      media?.setRemote(answer.remote);
      media?.setDirection(answer.direction);
      media?.setSrtp(answer.srtp);
      return Buffer.from(answer.answerSdp);
    } catch {
      return undefined;
    }
  }

  current(): Buffer {
    this.ourOffer = this.local;
    return Buffer.from(this.local);
  }

  answered(answer: Buffer): void {
    const media = this.media();
    if (!this.ourOffer || !media) return;
    try {
      const negotiated = applyAnswer(parseSdp(this.ourOffer), parseSdp(answer.toString('utf8')));
      media.setRemote(negotiated.remote);
      media.setDirection(negotiated.direction);
      media.setSrtp(negotiated.srtp);
    } catch {
      // An answer we cannot use leaves the media as it was.
    }
    this.ourOffer = undefined;
  }

  /** A late offer (RFC 3261 §13.2.1: an INVITE without SDP): our offer for the 200, its answer in the ACK. */
  static lateOffer(address: string, port: number, codec: AudioCodecName, srtp: SrtpPolicy = 'off'): string {
    return createOffer({ address, port, codecs: [codec], srtp });
  }
}
