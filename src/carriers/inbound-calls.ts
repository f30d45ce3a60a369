import type { Logger } from 'pino';
import type { Services } from '../core/services.js';
import { CallMedia } from '../media/call-media.js';
import type { MediaClock } from '../media/media-clock.js';
import type { RtpPortPool } from '../media/rtp-ports.js';
import { negotiateAnswer, parseSdp } from '../sdp/index.js';
import { getHeader, parseNameAddr, parseUri } from '../sip/message/headers.js';
import type { IncomingRequest } from '../sip/ua/sip-stack.js';
import type { SipUserAgent } from '../sip/ua/user-agent.js';
import { normalizePhoneNumber } from '../core/phone-number.js';

export interface InboundContext {
  readonly ua: SipUserAgent;
  readonly services: Services;
  readonly rtpPorts: RtpPortPool;
  readonly mediaAddress: string;
  readonly logger: Logger;
  readonly clock: MediaClock;
  /** The answered call's media, for the verbs and listeners above; undefined again when it ends. */
  readonly onMedia: (callId: string, media: CallMedia | undefined) => void;
}

const INBOUND_MAX_DURATION_S = 3_600;

/**
 * An INVITE from a trunk to one of the accounts' numbers: recorded as an inbound call, answered, and followed until
 * either side hangs up. A number no account holds is 404; an offer we cannot answer is 488.
 */
export async function answerInboundCall(incoming: IncomingRequest, context: InboundContext): Promise<void> {
  const { services } = context;
  const to = userPart(incoming.request.uri) ?? userPart(getHeader(incoming.request, 'To'));
  const from = userPart(getHeader(incoming.request, 'From')) ?? 'anonymous';
  const number = to ? safe(() => normalizePhoneNumber(to, services.defaultCountry, 'to')) : undefined;
  const owned = number ? await services.store.numbers.findByNumber(number) : undefined;
  if (!owned || owned.voice !== 1) {
    incoming.respond(404, 'Not Found');
    return;
  }
  let rtp;
  let answer;
  try {
    rtp = await context.rtpPorts.reserve();
    answer = negotiateAnswer(parseSdp(incoming.request.body.toString('utf8')), { address: context.mediaAddress, port: rtp.port });
  } catch {
    void rtp?.release();
    incoming.respond(488, 'Not Acceptable Here');
    return;
  }
  const caller = safe(() => normalizePhoneNumber(from, services.defaultCountry, 'from')) ?? from;
  const call = await services.calls.create({
    accountId: owned.account_id,
    direction: 'inbound',
    from: caller,
    to: owned.number,
    ringTimeoutS: 0,
    maxDurationS: INBOUND_MAX_DURATION_S,
  });
  const media = new CallMedia({
    socket: rtp.rtp,
    rtcpSocket: rtp.rtcp,
    remote: answer.remote,
    codec: answer.codec,
    telephoneEvent: answer.telephoneEvent,
    clock: context.clock,
  });
  const release = () => {
    media.close();
    context.onMedia(call.id, undefined);
    void rtp.release();
  };
  let timer: NodeJS.Timeout | undefined;
  const session = context.ua.accept(incoming, {
    onCanceled: () => {
      release();
      void services.calls.end(call.id, { reason: 'remote_hangup' });
    },
    onConfirmed: () => {
      timer = setTimeout(() => session.hangup(), INBOUND_MAX_DURATION_S * 1000);
      timer.unref();
    },
    onAckTimeout: () => undefined,
    onEnded: (by) => {
      release();
      if (timer) clearTimeout(timer);
      void services.calls.end(call.id, { reason: by === 'remote' ? 'remote_hangup' : 'local_hangup' });
    },
  });
  await services.calls.advance(call.id, 'ringing', {}, { sipCallId: session.callId });
  session.ring();
  session.answer(Buffer.from(answer.answerSdp));
  context.onMedia(call.id, media);
  await services.calls.advance(call.id, 'answered', { sipStatus: 200, sipReason: 'OK' });
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
