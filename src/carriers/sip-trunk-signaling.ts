import { parsePhoneNumberFromString } from 'libphonenumber-js';
import type { CallSignaling, DialRequest, LegEvents, OutboundLeg } from '../core/calls/call-engine.js';
import type { MediaPorts, MediaReservation } from '../media/workers/media-host.js';
import type { SessionMedia } from '../media/workers/remote-leg-media.js';
import { applyAnswer, createOffer, parseSdp, type ParsedSdp } from '../sdp/index.js';
import type { SipUri } from '../sip/message/types.js';
import type { TransportProtocol } from '../sip/transport/types.js';
import type { OutboundInvite } from '../sip/ua/outbound-invite.js';
import type { SipEndpoint } from '../sip/transport/types.js';
import type { SipUserAgent } from '../sip/ua/user-agent.js';
import { LegDescriptions } from './session-sdp.js';
import type { TrunkTargets } from './trunk-targets.js';
import { transferRequestOf, transferResultOf } from './transfer.js';
import { trunkUri, type TrunkConfig } from './trunks.js';

/**
 * Places call legs through SIP trunks: formats the numbers as the trunk wants them, reserves an RTP port for the
 * SDP offer, and turns the INVITE's progress into the engine's leg events.
 */
export class SipTrunkSignaling implements CallSignaling {
  readonly trunkNames: readonly string[];

  constructor(
    private readonly ua: SipUserAgent,
    private readonly trunks: readonly TrunkConfig[],
    /** RTP port pairs and media (the media workers). */
    private readonly rtpPorts: MediaPorts,
    /** Our SDP address, or how to choose it for the peer's address (see advertisedAddress). */
    private readonly mediaAddress: string | ((peer: string) => string),
    /** DIALPLANE_RTP_TIMEOUT_S for the answered legs' inactivity watch; 0 never. */
    private readonly rtpTimeoutS = 0,
    /** A trunk's targets in order (RFC 3263). */
    private readonly targetsOf: TrunkTargets,
  ) {
    this.trunkNames = trunks.map((t) => t.name);
  }

  /** The answered leg's RTP, on the port the offer reserved; undefined when the answer is unusable. */
  private media(offer: ParsedSdp, answer: Buffer, rtp: MediaReservation): SessionMedia | undefined {
    let negotiated;
    try {
      negotiated = applyAnswer(offer, parseSdp(answer.toString('utf8')));
    } catch {
      return undefined;
    }
    return rtp.open({
      remote: negotiated.remote,
      codec: negotiated.codec,
      telephoneEvent: negotiated.telephoneEvent,
      direction: negotiated.direction,
      rtpTimeoutS: this.rtpTimeoutS,
      srtp: negotiated.srtp,
    });
  }

  dial(request: DialRequest, events: LegEvents): OutboundLeg {
    const trunk = request.contact ? undefined : this.trunks[request.trunk];
    let invite: OutboundInvite | undefined;
    let rtp: MediaReservation | undefined;
    let hungUpEarly = false;
    let session: SessionMedia | undefined;
    const release = () => {
      session?.close();
      void rtp?.release();
    };
    // The engine's events for this leg, and the leg's closed media, are let go once the INVITE has ended (the user
    // agent then routes nothing more to it): the SIP stack keeps the INVITE's transaction (and with it the closures
    // below) for 64*T1 after its final response (RFC 6026) to absorb retransmissions, and must not keep the whole
    // call (its session, program, billing, RTP state) alive with it.
    let legEvents: LegEvents | undefined = events;
    const over = (): LegEvents | undefined => {
      const heard = legEvents;
      legEvents = undefined;
      session = undefined;
      rtp = undefined;
      return heard;
    };

    // The trunk's targets after this attempt's, handed back with a failure for the engine's next attempt.
    let untried: readonly SipEndpoint[] = [];
    const start = async () => {
      const device = request.contact;
      if (!trunk && !device) throw new Error(`no trunk ${request.trunk}`);
      let target: SipEndpoint;
      if (device) {
        target = { transport: device.transport, address: device.address, port: device.port };
      } else {
        const targets = request.targets ?? (await this.targetsOf(trunk!));
        if (targets.length === 0) throw new Error(`trunk ${trunk!.name}: no target to send to`);
        [target, ...untried] = targets as [SipEndpoint, ...SipEndpoint[]];
      }
      const { address } = target;
      // In the media worker of the call it belongs to (the first leg's, for a later leg).
      const reservation = await this.rtpPorts.reserve(request.parentCallId ?? request.callId);
      rtp = reservation;
      if (hungUpEarly) {
        release();
        legEvents?.onFailed({ kind: 'transport', message: 'hung up before dialling' });
        return;
      }
      const mediaAddress = typeof this.mediaAddress === 'string' ? this.mediaAddress : this.mediaAddress(address);
      // The trunk's SRTP policy, or for a registered device its extension's.
      const srtp = trunk?.srtp ?? device?.srtp ?? 'off';
      const offer = createOffer({ address: mediaAddress, port: reservation.port, srtp });
      // Parsed once: the leg's descriptions take its origin, the answer is applied to it.
      const parsedOffer = parseSdp(offer);
      let dialled: { requestUri: string; from: SipUri; to: SipUri; transport: TransportProtocol; scheme: 'sip' | 'sips' };
      if (device) {
        // A registered device: its Contact is the Request-URI, the number it is rung for the To.
        dialled = {
          requestUri: device.uri,
          from: sipUri(request.from, mediaAddress),
          to: sipUri(request.to, address),
          transport: device.transport,
          scheme: /^sips:/i.test(device.uri) ? 'sips' : 'sip',
        };
      } else {
        // The Request-URI names the trunk as written; the target is where RFC 3263 resolution sent it.
        const line = trunk!;
        const to = dialString(request.to, line);
        dialled = {
          requestUri: trunkUri(line, to),
          from: sipUri(callerId(request.from, line), mediaAddress),
          to: sipUri(to, line.host),
          transport: target.transport,
          scheme: line.scheme,
        };
      }
      const heard = legEvents;
      invite = this.ua.invite(
        {
          target,
          requestUri: dialled.requestUri,
          from: dialled.from,
          to: dialled.to,
          contact: this.ua.contact(dialled.transport, undefined, address, dialled.scheme),
          sdp: Buffer.from(offer),
          descriptions: new LegDescriptions(() => session, mediaAddress, reservation.port, offer, false, { srtp }, parsedOffer),
          ...(trunk?.username && trunk.password ? { credentials: { username: trunk.username, password: trunk.password } } : {}),
        },
        {
          onProvisional: (status, reason, sdp) =>
            legEvents?.onProgress(status === 183 && sdp ? 'early_media' : 'ringing', status, reason),
          onAnswered: (status, reason, answer) => {
            session = this.media(parsedOffer, answer, reservation);
            legEvents?.onAnswered(status, reason, session);
          },
          onFailed: (failure) => {
            release();
            const more = untried.length > 0 ? { untried } : {};
            over()?.onFailed(
              failure.kind === 'transport' ? { kind: 'transport', message: failure.error.message, ...more } : { ...failure, ...more },
            );
          },
          onEnded: (by) => {
            release();
            over()?.onEnded(by);
          },
          onDigit: (digit) => session?.signalDigit(digit),
          onRefer: (refer) => {
            if (legEvents?.onTransferRequest) legEvents.onTransferRequest(transferRequestOf(refer));
            else refer.refuse(603, 'Decline');
          },
        },
      );
      heard?.onStarted(invite.callId);
    };
    start().catch((error: unknown) => {
      release();
      legEvents?.onFailed({ kind: 'transport', message: error instanceof Error ? error.message : String(error) });
    });
    return {
      hangup: () => {
        if (invite) invite.hangup();
        else hungUpEarly = true;
      },
      transfer: (destination) =>
        new Promise((resolve) => {
          if (!invite) resolve({ outcome: 'ended' });
          // A number the far end is to call through the trunk is written as the trunk wants its numbers.
          else invite.refer(trunk && 'number' in destination ? { number: dialString(destination.number, trunk) } : destination, (result) => resolve(transferResultOf(result)));
        }),
    };
  }
}

/** The number as the trunk wants it: E.164 with '+', or national digits, after the tech prefix. */
function dialString(e164: string, trunk: TrunkConfig): string {
  return `${trunk.prefix ?? ''}${callerId(e164, trunk)}`;
}

/** National format is the country's own dialling digits: 0527121102 in Israel, 4155551234 in the US. */
function callerId(e164: string, trunk: TrunkConfig): string {
  if (trunk.callerIdFormat !== 'national') return e164;
  const national = parsePhoneNumberFromString(e164)?.formatNational().replace(/\D/g, '');
  return national || e164;
}

function sipUri(user: string, host: string): SipUri {
  return {
    scheme: 'sip',
    user,
    password: undefined,
    host: host.includes(':') && !host.startsWith('[') ? `[${host}]` : host,
    port: undefined,
    params: [['user', 'phone']],
    headers: [],
  };
}
