import type { Logger } from 'pino';
import type { CallControl } from '../core/calls/call-control.js';
import type { InboundLegEvents, InboundSignal, LegMedia } from '../core/calls/call-engine.js';
import { normalizePhoneNumber } from '../core/phone-number.js';
import type { Services } from '../core/services.js';
import type { MediaPorts, MediaReservation } from '../media/workers/media-host.js';
import type { SessionMedia } from '../media/workers/remote-leg-media.js';
import { negotiateAnswer, parseSdp, type SrtpPolicy } from '../sdp/index.js';
import { getHeader, parseNameAddr, parseUri } from '../sip/message/headers.js';
import type { IncomingRequest } from '../sip/ua/sip-stack.js';
import type { SipUserAgent } from '../sip/ua/user-agent.js';
import type { DigestUserCredentials } from '../sip/auth/digest.js';
import { LegDescriptions } from './session-sdp.js';
import { transferRequestOf, transferResultOf } from './transfer.js';

export interface InboundContext {
  readonly ua: SipUserAgent;
  readonly services: Services;
  readonly control: CallControl;
  /** Where the leg's RTP port pair and media come from (the media workers). */
  readonly rtpPorts: MediaPorts;
  readonly mediaAddress: string;
  readonly logger: Logger;
  /** How the INVITE gate let it in: through a trunk (its name) or from a registered device. */
  readonly trunk: string;
  /** Seconds without RTP from the caller before its leg ends (0: never). */
  readonly rtpTimeoutS: number;
  /** The trunk's digest credentials, for our in-dialog requests it challenges (a BYE answered 401/407). */
  readonly credentials?: DigestUserCredentials;
  /** The registered device the INVITE came from (after its digest), when it came from one. */
  readonly device?: { readonly deviceId: string; readonly accountId: string; readonly extensionId: string };
  /** The trunk's SRTP policy (a device's is its extension's, looked up here). Default off. */
  readonly srtp?: SrtpPolicy;
}

/**
 * An INVITE to one of the accounts' numbers, turned into an inbound leg of call control: the SIP side (ringing,
 * the 200 with our SDP answer, refusals, BYE) is the leg's signal, and call control decides what the call does.
 * From a registered device, anything else it dials (an extension's number, a phone number) is its call out
 * (CallControl.receiveFromDevice). A number no account holds is 404 otherwise; an offer we cannot answer is 488 (an
 * RTP/SAVP offer without SRTP, or a plain one where SRTP is required); no capacity is 503.
 */
export async function answerInboundCall(incoming: IncomingRequest, context: InboundContext): Promise<void> {
  const { services } = context;
  const to = userPart(incoming.request.uri) ?? userPart(getHeader(incoming.request, 'To'));
  const from = userPart(getHeader(incoming.request, 'From')) ?? 'anonymous';
  const number = to ? safe(() => normalizePhoneNumber(to, services.defaultCountry, 'to')) : undefined;
  const owned = number ? await services.numbers.findVoiceNumber(number) : undefined;
  const device = context.device;
  if (!owned && (!device || !to)) {
    incoming.respond(404, 'Not Found');
    return;
  }
  const srtp = device ? (await services.extensions.get(device.accountId, device.extensionId)).srtp : (context.srtp ?? 'off');
  const caller = safe(() => normalizePhoneNumber(from, services.defaultCountry, 'from')) ?? from;
  let reservation: MediaReservation | undefined;
  let media: SessionMedia | undefined;
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    media?.close();
    void reservation?.release();
  };
  let events: InboundLegEvents | undefined;
  // A CANCEL can come while the port is reserved (a round trip to a media worker) or while call control is still
  // taking the call (its price, its route, the leg's row): the INVITE is taken first, so the CANCEL is answered, and
  // the leg hears it the moment it exists, before anything would answer the INVITE it ended.
  let canceledEarly = false;
  const session = context.ua.accept(incoming, {
    onCanceled: () => {
      release();
      if (events) events.canceled();
      else canceledEarly = true;
    },
    onConfirmed: () => undefined,
    onAckTimeout: () => undefined,
    onEnded: (by) => {
      release();
      events?.ended(by);
    },
    onDigit: (digit) => media?.signalDigit(digit),
    onRefer: (refer) => {
      if (events?.transferRequested) events.transferRequested(transferRequestOf(refer));
      else refer.refuse(603, 'Decline');
    },
  }, context.credentials);
  let answer;
  try {
    reservation = await context.rtpPorts.reserve();
    // Cancelled meanwhile: the pair goes back at once (release() ran before there was one).
    if (released) void reservation.release();
    answer = incoming.request.body.length === 0
      ? lateOffer(context.mediaAddress, reservation.port, srtp)
      : negotiateAnswer(parseSdp(incoming.request.body.toString('utf8')), { address: context.mediaAddress, port: reservation.port, srtp });
  } catch {
    release();
    session.reject(488, 'Not Acceptable Here');
    return;
  }
  const held = reservation;
  const negotiated = answer;
  const descriptions = new LegDescriptions(() => media, context.mediaAddress, held.port, negotiated.answerSdp, incoming.request.body.length === 0, {
    srtp,
    srtpKey: negotiated.srtp?.local,
  });
  const signal: InboundSignal = {
    ring: () => session.ring(),
    answer: (): LegMedia => {
      media ??= held.open({
        remote: negotiated.remote,
        codec: negotiated.codec,
        telephoneEvent: negotiated.telephoneEvent,
        direction: negotiated.direction,
        rtpTimeoutS: context.rtpTimeoutS,
        srtp: negotiated.srtp,
      });
      session.answer(Buffer.from(negotiated.answerSdp), descriptions);
      return media;
    },
    reject: (status, reason) => {
      session.reject(status, reason);
      release();
    },
    hangup: () => session.hangup(),
    transfer: (destination) => new Promise((resolve) => session.refer(destination, (result) => resolve(transferResultOf(result)))),
    attach: (legEvents, callId) => {
      // The call's later legs (a dial, a transfer) are placed with this one, in the same media worker.
      held.join(callId);
      events = legEvents;
      if (canceledEarly) legEvents.canceled();
    },
  };
  try {
    if (owned) {
      events = await context.control.receive(
        { accountId: owned.accountId, from: caller, to: owned.number, sipCallId: session.callId, trunk: context.trunk },
        signal,
      );
    } else if (device && to) {
      events = await context.control.receiveFromDevice({ ...device, from: caller, dialed: to, sipCallId: session.callId }, signal);
    }
  } catch (error) {
    const busy = (error as { code?: string }).code === 'capacity_exceeded';
    signal.reject(busy ? 503 : 500, busy ? 'Service Unavailable' : 'Server Internal Error');
    if (!busy) throw error;
  }
}

/**
 * An INVITE without SDP (RFC 3261 §13.2.1): our 200 carries the offer (PCMU and telephone-event, so the codec is
 * known before the answer), and the answer arrives in the ACK. Until then nothing is sent: the direction is
 * inactive and the remote address a placeholder (the discard port) that the answer replaces.
 */
function lateOffer(address: string, port: number, srtp: SrtpPolicy) {
  return {
    answerSdp: LegDescriptions.lateOffer(address, port, 'PCMU', srtp),
    codec: { name: 'PCMU' as const, payloadType: 0 },
    telephoneEvent: 101,
    remote: { address, port: 9 },
    direction: 'inactive' as const,
    // The keys are known once the answer (in the ACK) names the suite it took.
    srtp: undefined,
  };
}

function userPart(value: string | undefined): string | undefined {
  if (!value) return undefined;
  return safe(() => (value.includes('<') ? parseNameAddr(value).uri.user : parseUri(value).user));
}

function safe<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}
