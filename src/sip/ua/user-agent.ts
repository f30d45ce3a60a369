import { getHeader, parseNameAddr, splitHeaderValues } from '../message/headers.js';
import type { SipRequest, SipUri } from '../message/types.js';
import type { SipTimerBase, TimerScheduler } from '../transaction/timers.js';
import type { SipEndpoint } from '../transport/types.js';
import { buildRequest } from './build.js';
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
}

/**
 * The dialog layer: INVITE sessions in both directions, indexed by Call-ID so that in-dialog requests (BYE, ACK for
 * a 2xx, CANCEL, re-INVITE) and late 2xx retransmissions reach the session they belong to.
 */
export class SipUserAgent {
  private readonly outbound = new Map<string, OutboundInvite>();
  private readonly inbound = new Map<string, InboundInvite>();
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
      onAck: (ack) => this.inbound.get(getHeader(ack, 'Call-ID') ?? '')?.receiveAck(),
      onStrayResponse: (response) => this.outbound.get(getHeader(response, 'Call-ID') ?? '')?.receiveStray2xx(response),
    });
  }

  get activeDialogs(): number {
    return this.outbound.size + this.inbound.size;
  }

  /** Our Contact for a transport: where the far end sends in-dialog requests. */
  contact(transport: 'udp' | 'tcp', user?: string): SipUri {
    const local = this.stack.transports.local(transport);
    return {
      scheme: 'sip',
      user,
      password: undefined,
      host: local.address.includes(':') ? `[${local.address}]` : local.address,
      port: local.port,
      params: transport === 'tcp' ? [['transport', 'tcp']] : [],
      headers: [],
    };
  }

  invite(options: Omit<OutboundInviteOptions, 'stack'>, events: OutboundInviteEvents): OutboundInvite {
    let session: OutboundInvite;
    const forget = () => this.outbound.delete(session.callId);
    session = new OutboundInvite(
      { ...options, stack: this.stack },
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
      },
    );
    this.outbound.set(session.callId, session);
    session.start();
    return session;
  }

  accept(incoming: IncomingRequest, events: InboundInviteEvents): InboundInvite {
    let session: InboundInvite;
    const forget = () => this.inbound.delete(session.callId);
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
    };
    session = new InboundInvite(
      incoming,
      this.contact(incoming.source.transport),
      { scheduler: this.scheduler, base: this.base },
      wrapped,
      (s) => this.sendUasBye(s, incoming.source),
    );
    this.inbound.set(session.callId, session);
    return session;
  }

  private onRequest(incoming: IncomingRequest): void {
    const { request } = incoming;
    const callId = getHeader(request, 'Call-ID') ?? '';
    if (request.method === 'INVITE' && !hasToTag(request)) {
      if (this.inbound.has(callId)) return; // a retransmission racing its own transaction: already handled
      this.options.onInvite(incoming);
      return;
    }
    if (request.method === 'REGISTER') {
      if (this.options.onRegister) this.options.onRegister(incoming);
      else incoming.respond(405, 'Method Not Allowed', { headers: [{ name: 'Allow', value: 'INVITE, ACK, CANCEL, BYE, OPTIONS' }] });
      return;
    }
    if (request.method === 'CANCEL') {
      const session = this.inbound.get(callId);
      if (session) session.receiveCancel(incoming);
      else incoming.respond(481, 'Call/Transaction Does Not Exist');
      return;
    }
    const session = this.outbound.get(callId) ?? this.inbound.get(callId);
    if (session) {
      session.receiveInDialog(request, (status, reason) => incoming.respond(status, reason));
      return;
    }
    if (request.method === 'OPTIONS') {
      incoming.respond(200, 'OK', { headers: [{ name: 'Accept', value: 'application/sdp' }] });
      return;
    }
    incoming.respond(481, 'Call/Transaction Does Not Exist');
  }

  /** §15.1.1: the callee's BYE, From = our To (with our tag), To = the caller's From, to the caller's Contact. */
  private sendUasBye(session: InboundInvite, fallback: SipEndpoint): void {
    const { from, to } = session.dialogHeaders();
    const contactValue = getHeader(session.request, 'Contact');
    const contact = contactValue ? safe(() => parseNameAddr(splitHeaderValues(contactValue)[0] ?? contactValue).uri) : undefined;
    const target: SipEndpoint = contact
      ? { transport: fallback.transport, address: contact.host.replace(/^\[|\]$/g, ''), port: contact.port ?? 5060 }
      : fallback;
    const bye = buildRequest({
      method: 'BYE',
      uri: contactValue ? (/<([^>]*)>/.exec(contactValue)?.[1] ?? session.request.uri) : session.request.uri,
      from: parseNameAddr(from),
      to: parseNameAddr(to),
      callId: session.callId,
      cseq: session.nextCseq(),
      via: this.stack.transports.local(target.transport),
      routes: session.request.headers.filter((h) => h.name === 'Record-Route').map((h) => h.value),
    });
    const done = () => session.byeDone();
    this.stack.request(bye, target, { onResponse: (r) => r.status >= 200 && done(), onTimeout: done, onTransportError: done });
  }
}

function hasToTag(request: SipRequest): boolean {
  const to = getHeader(request, 'To');
  return to !== undefined && /;\s*tag=/i.test(to);
}

function safe<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}
