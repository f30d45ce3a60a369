import type { DigestUserCredentials } from '../auth/digest.js';
import type { IncomingRefer } from '../dialog/refer.js';
import { capabilities, sessionExpiresOf } from '../dialog/invite-session.js';
import { MIN_SE_S } from '../dialog/session-timer.js';
import { getHeader, getHeaders } from '../message/headers.js';
import { formatMinSe } from '../message/session-headers.js';
import type { SipRequest, SipUri } from '../message/types.js';
import type { SipTimerBase, TimerScheduler } from '../transaction/timers.js';
import type { TransportProtocol } from '../transport/types.js';
import { ALLOW, SUPPORTED_OPTIONS } from './build.js';
import { newTag } from './ids.js';
import { InboundInvite, type InboundInviteEvents } from './inbound-invite.js';
import { OutboundInvite, type OutboundInviteEvents, type OutboundInviteOptions } from './outbound-invite.js';
import type { IncomingRequest, SipStack } from './sip-stack.js';

export interface UserAgentOptions {
  /** A new INVITE from outside (no To tag). Accept it with `accept`, or answer it with an error. */
  readonly onInvite: (incoming: IncomingRequest) => void;
  /** A REGISTER (a registrar answers it). Without one, REGISTER gets 405 Method Not Allowed. */
  readonly onRegister?: (incoming: IncomingRequest) => void;
  readonly timers?: TimerScheduler;
  readonly timerBase?: SipTimerBase;
  /** RFC 4028's refresh and expiry timers (SessionRefresh, SessionExpiry); `timers` by default. */
  readonly sessionTimers?: TimerScheduler;
}

/**
 * The dialog layer: INVITE sessions in both directions. Sessions are found by Call-ID and then by their tags (a
 * dialog is Call-ID plus both tags, §12), so that in-dialog requests (BYE, re-INVITE, UPDATE, INFO, PRACK,
 * OPTIONS), ACKs for 2xx responses and late 2xx retransmissions reach the dialog they belong to. A request naming
 * an option we do not support in Require gets 420 (§8.2.2.3).
 */
export class SipUserAgent {
  private readonly outbound = new Map<string, OutboundInvite>();
  private readonly inbound = new Map<string, InboundInvite[]>();
  private readonly scheduler: TimerScheduler;
  private readonly base: SipTimerBase;

  constructor(
    readonly stack: SipStack,
    private readonly options: UserAgentOptions,
  ) {
    this.scheduler = options.timers ?? stack.timers;
    this.base = options.timerBase ?? stack.base;
    stack.setHandlers({
      onRequest: (incoming) => this.onRequest(incoming),
      onAck: (ack) => this.sessionOf(ack)?.receiveAck(ack),
      onStrayResponse: (response) => this.outbound.get(getHeader(response, 'Call-ID') ?? '')?.receiveStray2xx(response),
    });
  }

  get activeDialogs(): number {
    let inbound = 0;
    for (const list of this.inbound.values()) inbound += list.length;
    return this.outbound.size + inbound;
  }

  /**
   * Our Contact for a transport: where the far end sends in-dialog requests. Over TLS it names the TLS port with
   * `;transport=tls`, or is a `sips:` URI when the dialog is a sips one (RFC 5630 §3.1.3: a sips request's Contact is
   * sips).
   */
  contact(transport: TransportProtocol, user?: string, peer?: string, scheme: 'sip' | 'sips' = 'sip'): SipUri {
    const local = this.stack.transports.local(transport, peer);
    const sips = scheme === 'sips' && transport === 'tls';
    return {
      scheme: sips ? 'sips' : 'sip',
      user,
      password: undefined,
      host: local.address.includes(':') ? `[${local.address}]` : local.address,
      port: local.port,
      params: transport === 'udp' || sips ? [] : [['transport', transport]],
      headers: [],
    };
  }

  invite(options: Omit<OutboundInviteOptions, 'stack'>, events: OutboundInviteEvents): OutboundInvite {
    let session: OutboundInvite;
    const forget = () => this.outbound.delete(session.callId);
    session = new OutboundInvite(
      { ...(this.options.sessionTimers ? { sessionTimers: this.options.sessionTimers } : {}), ...options, stack: this.stack },
      {
        onProvisional: (...args) => events.onProvisional(...args),
        onAnswered: (...args) => events.onAnswered(...args),
        onFailed: (failure) => {
          forget();
          events.onFailed(failure);
        },
        onEnded: (by) => {
          forget();
          events.onEnded(by);
        },
        onDigit: (digit) => events.onDigit?.(digit),
        ...(events.onRefer ? { onRefer: (refer: IncomingRefer) => events.onRefer?.(refer) } : {}),
      },
    );
    this.outbound.set(session.callId, session);
    session.start();
    return session;
  }

  /** Takes an INVITE as its UAS; `credentials` answer a challenge to our in-dialog requests (a trunk's). */
  accept(incoming: IncomingRequest, events: InboundInviteEvents, credentials?: DigestUserCredentials): InboundInvite {
    let session: InboundInvite;
    const forget = () => {
      const list = (this.inbound.get(session.callId) ?? []).filter((s) => s !== session);
      if (list.length > 0) this.inbound.set(session.callId, list);
      else this.inbound.delete(session.callId);
    };
    const wrapped: InboundInviteEvents = {
      onCanceled: () => {
        forget();
        events.onCanceled();
      },
      onConfirmed: () => events.onConfirmed(),
      onAckTimeout: () => events.onAckTimeout(),
      onEnded: (by) => {
        forget();
        events.onEnded(by);
      },
      onDigit: (digit) => events.onDigit?.(digit),
      ...(events.onRefer ? { onRefer: (refer: IncomingRefer) => events.onRefer?.(refer) } : {}),
    };
    session = new InboundInvite(
      incoming,
      {
        stack: this.stack,
        contact: this.contact(
          incoming.source.transport,
          undefined,
          incoming.source.address,
          /^sips:/i.test(incoming.request.uri) ? 'sips' : 'sip',
        ),
        timers: this.scheduler,
        base: this.base,
        ...(this.options.sessionTimers ? { sessionTimers: this.options.sessionTimers } : {}),
        ...(credentials ? { credentials } : {}),
      },
      wrapped,
    );
    const list = this.inbound.get(session.callId) ?? [];
    list.push(session);
    this.inbound.set(session.callId, list);
    return session;
  }

  private onRequest(incoming: IncomingRequest): void {
    const { request } = incoming;
    const callId = getHeader(request, 'Call-ID') ?? '';
    if (request.method !== 'CANCEL' && request.method !== 'ACK') {
      const unsupported = getHeaders(request, 'Require').filter((o) => !SUPPORTED_OPTIONS.has(o.toLowerCase()));
      if (unsupported.length > 0) {
        // §8.2.6.2: a final response outside a dialog adds a To tag.
        incoming.respond(420, 'Bad Extension', { toTag: newTag(), headers: [{ name: 'Unsupported', value: unsupported.join(', ') }] });
        return;
      }
    }
    if (request.method === 'INVITE' && !hasToTag(request)) {
      if (this.inbound.get(callId)?.some((s) => s.request === request)) return;
      // RFC 4028 §8.1: an interval below our floor is refused with the floor.
      const se = sessionExpiresOf(request);
      if (se && se.seconds < MIN_SE_S) {
        incoming.respond(422, 'Session Interval Too Small', { toTag: newTag(), headers: [{ name: 'Min-SE', value: formatMinSe({ seconds: MIN_SE_S }) }] });
        return;
      }
      this.options.onInvite(incoming);
      return;
    }
    if (request.method === 'REGISTER') {
      if (this.options.onRegister) this.options.onRegister(incoming);
      else incoming.respond(405, 'Method Not Allowed', { headers: [{ name: 'Allow', value: ALLOW }] });
      return;
    }
    if (request.method === 'CANCEL') {
      const session = this.inbound.get(callId)?.find((s) => sameBranch(s.request, request));
      if (session) session.receiveCancel(incoming);
      else incoming.respond(481, 'Call/Transaction Does Not Exist');
      return;
    }
    const session = this.sessionOf(request);
    if (session) {
      session.receiveInDialog(incoming);
      return;
    }
    if (request.method === 'OPTIONS' && !hasToTag(request)) {
      incoming.respond(200, 'OK', { headers: capabilities() });
      return;
    }
    incoming.respond(481, 'Call/Transaction Does Not Exist');
  }

  /** The session a request with To and From tags belongs to: its dialog id (Call-ID and both tags). */
  private sessionOf(request: SipRequest): OutboundInvite | InboundInvite | undefined {
    const callId = getHeader(request, 'Call-ID') ?? '';
    const outbound = this.outbound.get(callId);
    if (outbound?.owns(request)) return outbound;
    return this.inbound.get(callId)?.find((s) => s.owns(request));
  }
}

function hasToTag(request: SipRequest): boolean {
  const to = getHeader(request, 'To');
  return to !== undefined && /;\s*tag=/i.test(to);
}

/** §9.2: a CANCEL matches the INVITE with the same top Via branch. */
function sameBranch(invite: SipRequest, cancel: SipRequest): boolean {
  const branch = (m: SipRequest) => /branch=([^;,\s]+)/i.exec(getHeader(m, 'Via') ?? '')?.[1];
  return branch(invite) === branch(cancel);
}
