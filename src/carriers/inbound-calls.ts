import type { Logger } from 'pino';
import type { CallEngine, DeviceContact } from '../core/calls/call-engine.js';
import type { Call } from '../core/calls/call-service.js';
import type { CallEvent } from '../core/calls/call-state.js';
import { legCharge, MinuteReserve } from '../core/calls/minute-reserve.js';
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
  /** What the number rings; without it every call is answered here. */
  readonly plan?: (route: { accountId: string; number: string }) => Promise<RingPlan>;
  /** Places the legs a ring plan asks for. */
  readonly engine?: () => CallEngine;
  /** Joins the caller's audio to the leg that answered. */
  readonly bridge?: (a: string, b: string) => (() => void) | undefined;
  readonly ringTimeoutS?: number;
  readonly rtpTimeoutS?: number;
}

/**
 * Where an inbound call goes: answered here (the programmable default for the API's own call handling), rung on the
 * devices registered to the number's extension and/or its forward number (first to answer wins), or nowhere (480).
 */
export type RingPlan =
  | { readonly kind: 'answer' }
  | { readonly kind: 'ring'; readonly forwardTo: string | null; readonly contacts: readonly DeviceContact[] }
  | { readonly kind: 'none' };

const INBOUND_MAX_DURATION_S = 3_600;
const DEFAULT_RING_TIMEOUT_S = 30;

/**
 * An INVITE from a trunk to one of the accounts' numbers: recorded as an inbound call (its incoming-call event is
 * written with it), then answered here, or rung out by the number's ring plan, or refused with 480 when the plan
 * has nothing to ring. A number no account holds is 404; an offer we cannot answer is 488.
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
  const plan = context.plan ? await context.plan({ accountId: owned.account_id, number: owned.number }) : ({ kind: 'answer' } as const);
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
    direction: answer.direction,
    rtpTimeoutS: context.rtpTimeoutS ?? 0,
  });
  const release = () => {
    media.close();
    context.onMedia(call.id, undefined);
    void rtp.release();
  };
  let timer: NodeJS.Timeout | undefined;
  /** What ringing out does when the caller cancels or hangs up. */
  let callerGone: (() => void) | undefined;
  const session = context.ua.accept(incoming, {
    onCanceled: () => {
      release();
      callerGone?.();
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
      if (by === 'remote') callerGone?.();
      void services.calls.end(call.id, { reason: by === 'remote' ? 'remote_hangup' : 'local_hangup' });
    },
  });
  await services.calls.advance(call.id, 'ringing', {}, { sipCallId: session.callId });
  session.ring();
  const answerHere = async () => {
    session.answer(Buffer.from(answer.answerSdp));
    context.onMedia(call.id, media);
    await services.calls.advance(call.id, 'answered', { sipStatus: 200, sipReason: 'OK' });
  };
  if (plan.kind === 'answer') {
    await answerHere();
    return;
  }
  const engine = context.engine?.();
  const legs = plan.kind === 'ring' && engine ? planLegs(plan) : [];
  if (legs.length === 0 || !engine) {
    refuse(480, 'Temporarily Unavailable');
    return;
  }
  await ringOut(call, legs, engine, {
    ...context,
    answerHere,
    refuse,
    hangupCaller: () => session.hangup(),
    onCallerGone: (fn) => (callerGone = fn),
  });

  function refuse(status: number, reason: string): void {
    session.reject(status, reason);
    release();
    void services.calls.end(call.id, { reason: 'sip_failure', sipStatus: status, sipReason: reason });
  }
}

interface Leg {
  readonly to: string;
  readonly contact?: DeviceContact;
}

function planLegs(plan: { forwardTo: string | null; contacts: readonly DeviceContact[] }): Leg[] {
  return [...plan.contacts.map((contact) => ({ to: contact.uri, contact })), ...(plan.forwardTo ? [{ to: plan.forwardTo }] : [])];
}

/**
 * Rings every leg at once. The first to answer is joined to the caller and the others are cancelled; when all fail
 * the caller gets 486 if any was busy, else 480. A forward number goes out through the trunk and is billed to the
 * number's account per started minute; devices cost nothing.
 */
async function ringOut(
  inbound: Call,
  legs: readonly Leg[],
  engine: CallEngine,
  context: InboundContext & {
    answerHere: () => Promise<void>;
    refuse: (status: number, reason: string) => void;
    hangupCaller: () => void;
    onCallerGone: (fn: () => void) => void;
  },
): Promise<void> {
  const { services, logger } = context;
  const placed = new Map<string, Call>();
  let winner: string | undefined;
  let over = false;
  let stopBridge: (() => void) | undefined;
  const reserve = new MinuteReserve(services.credits, inbound.accountId, () => hangupAll(), undefined, inbound.id);
  const prices = new Map<string, number>();
  const hangupAll = (except?: string) => {
    for (const id of placed.keys()) if (id !== except && engine.isLive(id)) void engine.hangup(inbound.accountId, id).catch(() => undefined);
  };
  const unsubscribe = services.calls.subscribe((event: CallEvent, call: Call) => {
    if (call.parentCallId !== inbound.id || !placed.has(call.id)) return;
    void onLeg(event, call).catch((err: unknown) => logger.error({ err, callId: inbound.id }, 'ringing out failed'));
  });
  context.onCallerGone(() => {
    over = true;
    hangupAll();
  });

  async function onLeg(event: CallEvent, call: Call): Promise<void> {
    if (event.state === 'answered') {
      if (winner !== undefined || over) {
        if (winner !== call.id) void engine.hangup(inbound.accountId, call.id).catch(() => undefined);
        return;
      }
      winner = call.id;
      hangupAll(call.id);
      const price = prices.get(call.id);
      if (price !== undefined) reserve.legAnswered(call.id, price, Date.parse(event.at));
      await context.answerHere();
      stopBridge = context.bridge?.(inbound.id, call.id);
      return;
    }
    if (event.state !== 'ended') return;
    reserve.legEnded(call.id);
    if (winner === call.id) {
      stopBridge?.();
      // The callee hung up: so does the caller's side.
      context.hangupCaller();
    }
    const all = [...placed.values()];
    const ended = await Promise.all(all.map((leg) => services.calls.get(inbound.accountId, leg.id)));
    if (!ended.every((leg) => leg.state === 'ended')) return;
    unsubscribe();
    const charge = ended.reduce((sum, leg) => sum + legCharge(leg, prices.get(leg.id) ?? 0), 0);
    await reserve.settle(charge, `forwarded call from ${inbound.from}`, (err) => logger.error({ err }, 'settling a forwarded call'));
    if (winner === undefined && !over) {
      const busy = ended.some((leg) => leg.outcome === 'busy');
      context.refuse(busy ? 486 : 480, busy ? 'Busy Here' : 'Temporarily Unavailable');
    }
  }

  for (const leg of legs) {
    try {
      if (!leg.contact) {
        const price = await services.prices.lookup('voice', inbound.accountId, leg.to);
        await reserve.reserve(price);
        prices.set(leg.to, price);
      }
      const call = await engine.place({
        accountId: inbound.accountId,
        from: inbound.from,
        to: leg.contact ? inbound.to : leg.to,
        ringTimeoutS: context.ringTimeoutS ?? DEFAULT_RING_TIMEOUT_S,
        maxDurationS: INBOUND_MAX_DURATION_S,
        parentCallId: inbound.id,
        ...(leg.contact ? { contact: leg.contact } : {}),
      });
      const price = prices.get(leg.to);
      if (price !== undefined && !leg.contact) prices.set(call.id, price);
      placed.set(call.id, call);
    } catch (err) {
      logger.warn({ err, to: leg.to }, 'a leg of an inbound call could not be rung');
    }
  }
  if (placed.size === 0) {
    unsubscribe();
    await reserve.settle(0, 'inbound call not rung');
    context.refuse(480, 'Temporarily Unavailable');
  }
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
