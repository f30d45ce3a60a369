import type { DigestUserCredentials } from '../auth/digest.js';
import { Dialog, tagOf } from '../dialog/dialog.js';
import type { IncomingRefer, ReferResult, TransferDestination } from '../dialog/refer.js';
import { InviteSession, sessionExpiresOf, supportsTimer, type SessionDescriptions } from '../dialog/invite-session.js';
import { refresherFrom, refresherParam, type SessionInterval } from '../dialog/session-timer.js';
import { getHeader, getHeaders } from '../message/headers.js';
import { formatRSeq, formatSessionExpires, parseRAck } from '../message/session-headers.js';
import type { SipHeader, SipRequest, SipResponse, SipUri } from '../message/types.js';
import type { SipTimerBase, TimerHandle, TimerScheduler } from '../transaction/timers.js';
import { SUPPORTED } from './build.js';
import { newTag } from './ids.js';
import type { IncomingRequest, SipStack } from './sip-stack.js';

export interface InboundInviteEvents {
  /** The caller gave up before we answered (CANCEL). */
  onCanceled(): void;
  /** Our 2xx was ACKed: media may flow. */
  onConfirmed(): void;
  /** No ACK for our 2xx within 64*T1: the dialog is torn down (§13.3.1.4). */
  onAckTimeout(): void;
  onEnded(by: 'remote' | 'local'): void;
  /** A key the caller signalled by INFO. */
  onDigit?(digit: string): void;
  /** The caller asks us to call someone else (REFER); declined without a listener. */
  onRefer?(refer: IncomingRefer): void;
}

export interface InboundInviteOptions {
  readonly stack: SipStack;
  readonly contact: SipUri;
  readonly timers: TimerScheduler;
  readonly base: SipTimerBase;
  /** RFC 4028's scheduler; `timers` by default. */
  readonly sessionTimers?: TimerScheduler;
  /** For our in-dialog requests a trunk challenges (401/407). */
  readonly credentials?: DigestUserCredentials;
}

/**
 * The UAS side of one INVITE dialog: provisional answers (reliable, RFC 3262, when the caller requires 100rel),
 * the final answer (with our offer when the INVITE had none: the answer comes in the ACK), 2xx retransmission until
 * the ACK (T1 doubling to T2, §13.3.1.4), session-timer negotiation (RFC 4028), CANCEL (487), the remote BYE, our
 * BYE along the route set, and the answered session (re-INVITE, UPDATE, INFO, OPTIONS).
 */
export class InboundInvite {
  readonly callId: string;
  readonly request: SipRequest;
  private readonly localTag = newTag();
  private phase: 'ringing' | 'answered' | 'confirmed' | 'terminating' | 'terminated' = 'ringing';
  private ok: SipResponse | undefined;
  private retransmit: TimerHandle | undefined;
  private giveUp: TimerHandle | undefined;
  private dialog: Dialog | undefined;
  private session: InviteSession | undefined;
  private descriptions: SessionDescriptions | undefined;
  /** RFC 3262: our unacknowledged reliable provisional response, and an answer waiting for its PRACK. */
  private reliable: { rseq: number; response: SipResponse; retransmit?: TimerHandle; giveUp?: TimerHandle } | undefined;
  private rseq = 0;
  private deferredAnswer: (() => void) | undefined;
  /** Hung up between our 200 and its ACK: the BYE goes out with the ACK (RFC 3261 §15). */
  private byeOnAck = false;
  /** Our 200 was never ACKed (Timer H): the BYE need not wait any longer. */
  private ackGivenUp = false;

  constructor(
    private readonly incoming: IncomingRequest,
    private readonly options: InboundInviteOptions,
    private readonly events: InboundInviteEvents,
  ) {
    this.request = incoming.request;
    this.callId = getHeader(incoming.request, 'Call-ID') ?? '';
  }

  get state(): string {
    return this.phase;
  }

  get tag(): string {
    return this.localTag;
  }

  /** Whether the INVITE carried no offer: our 200 makes it, and the ACK brings the answer. */
  get lateOffer(): boolean {
    return this.request.body.length === 0;
  }

  ring(status = 180, reason = 'Ringing', sdp?: Buffer): void {
    if (this.phase !== 'ringing') return;
    if (requires(this.request, '100rel')) {
      this.ringReliably(status, reason, sdp);
      return;
    }
    this.incoming.respond(status, reason, { toTag: this.localTag, contact: this.options.contact, ...(sdp ? { body: sdp } : {}) });
  }

  /**
   * The 200 with `sdp` (our answer, or our offer for a late-offer INVITE). `descriptions` serves the session's later
   * offers. With a reliable provisional not yet PRACKed, the 200 waits for the PRACK (RFC 3262 §3).
   */
  answer(sdp: Buffer, descriptions?: SessionDescriptions): void {
    if (this.phase !== 'ringing') return;
    this.descriptions = descriptions;
    if (this.reliable) {
      this.deferredAnswer = () => this.answer(sdp, descriptions);
      return;
    }
    this.phase = 'answered';
    const interval = this.sessionInterval();
    const headers: SipHeader[] = [{ name: 'Supported', value: SUPPORTED }];
    if (interval) {
      if (supportsTimer(this.request)) headers.push({ name: 'Require', value: 'timer' });
      headers.push({ name: 'Session-Expires', value: formatSessionExpires({ seconds: interval.seconds, refresher: refresherParam(interval.refresher, false) }) });
    }
    this.ok = this.incoming.respond(200, 'OK', { toTag: this.localTag, contact: this.options.contact, headers, body: sdp });
    const { stack, contact, credentials, timers, base, sessionTimers } = this.options;
    this.dialog = Dialog.fromRequest(stack, this.request, this.localTag, {
      contact,
      fallback: this.incoming.source,
      ...(credentials ? { credentials } : {}),
    });
    this.session = new InviteSession({
      dialog: this.dialog,
      weAreUac: false,
      descriptions: descriptions ?? { answer: () => undefined, current: () => sdp, answered: () => undefined },
      events: {
        onDigit: (digit) => this.events.onDigit?.(digit),
        onExpired: () => this.hangup(),
        ...(this.events.onRefer ? { onRefer: (refer: IncomingRefer) => this.events.onRefer?.(refer) } : {}),
      },
      timers,
      base,
      ...(sessionTimers ? { sessionTimers } : {}),
      interval,
    });
    const again = (ms: number) => {
      this.retransmit = timers.start('G', ms, () => {
        if (this.phase !== 'answered' || !this.ok) return;
        this.incoming.sendRaw(this.ok);
        again(Math.min(ms * 2, base.T2));
      });
    };
    if (this.incoming.source.transport === 'udp') again(base.T1);
    this.giveUp = timers.start('H', 64 * base.T1, () => {
      if (this.phase !== 'answered') return;
      this.retransmit?.cancel();
      this.ackGivenUp = true;
      this.events.onAckTimeout();
      this.hangup();
    });
  }

  reject(status: number, reason: string, headers?: readonly SipHeader[]): void {
    if (this.phase !== 'ringing') return;
    this.phase = 'terminated';
    this.stopReliable();
    this.incoming.respond(status, reason, { toTag: this.localTag, ...(headers ? { headers } : {}) });
  }

  /** An ACK in this dialog: of our 200 (the call is confirmed; a late offer's answer is in it), or of a re-INVITE's. */
  receiveAck(ack: SipRequest): void {
    if (this.phase !== 'answered') {
      this.session?.receiveAck(ack);
      return;
    }
    if (!this.ok || getHeader(ack, 'CSeq')?.split(/\s+/)[0] !== getHeader(this.ok, 'CSeq')?.split(/\s+/)[0]) return;
    this.phase = 'confirmed';
    this.retransmit?.cancel();
    this.giveUp?.cancel();
    if (this.lateOffer && ack.body.length > 0) this.descriptions?.answered(ack.body);
    this.events.onConfirmed();
    if (this.byeOnAck) this.hangup();
  }

  receiveCancel(cancel: IncomingRequest): void {
    cancel.respond(200, 'OK');
    if (this.phase !== 'ringing') return;
    this.phase = 'terminated';
    this.stopReliable();
    this.deferredAnswer = undefined;
    this.incoming.respond(487, 'Request Terminated', { toTag: this.localTag });
    this.events.onCanceled();
  }

  /** Whether a request with our To tag belongs here (its From tag is the caller's). */
  owns(request: SipRequest): boolean {
    return tagOf(getHeader(request, 'To')) === this.localTag;
  }

  receiveInDialog(incoming: IncomingRequest): void {
    const { request } = incoming;
    if (request.method === 'PRACK') {
      this.receivePrack(incoming);
      return;
    }
    if (request.method === 'BYE') {
      incoming.respond(200, 'OK');
      if (this.phase === 'answered' || this.phase === 'confirmed' || this.phase === 'terminating') {
        this.retransmit?.cancel();
        this.giveUp?.cancel();
        this.session?.close();
        this.phase = 'terminated';
        this.events.onEnded('remote');
      }
      return;
    }
    if (this.session?.receive(incoming)) return;
    incoming.respond(481, 'Call/Transaction Does Not Exist');
  }

  /** Sends the caller a REFER (see InviteSession.refer); `ended` when the call is not answered and up. */
  refer(destination: TransferDestination, onResult: (result: ReferResult) => void): void {
    if (!this.session || (this.phase !== 'answered' && this.phase !== 'confirmed')) {
      onResult({ kind: 'ended' });
      return;
    }
    this.session.refer(destination, onResult);
  }

  hangup(): void {
    if (this.phase === 'ringing') {
      this.reject(480, 'Temporarily Unavailable');
      return;
    }
    if ((this.phase !== 'answered' && this.phase !== 'confirmed') || !this.dialog) return;
    // §15: the callee sends no BYE before the ACK of its 2xx arrives (or its retransmissions gave up, Timer H); the
    // 200 goes on being retransmitted meanwhile.
    if (this.phase === 'answered' && !this.ackGivenUp) {
      this.byeOnAck = true;
      return;
    }
    this.retransmit?.cancel();
    this.giveUp?.cancel();
    this.session?.close();
    this.phase = 'terminating';
    // §15.1.1: the callee's BYE goes along the route set (to the first Route when there is one, §12.2.1.1).
    const done = () => {
      if (this.phase === 'terminated') return;
      this.phase = 'terminated';
      this.events.onEnded('local');
    };
    this.dialog.send('BYE', {}, { onResponse: (r) => r.status >= 200 && done(), onTimeout: done, onTransportError: done });
  }

  /** RFC 4028 §9: the caller's Session-Expires, with the refresher it chose (or it, when it supports timers). */
  private sessionInterval(): SessionInterval | undefined {
    const se = sessionExpiresOf(this.request);
    if (!se) return undefined;
    const refresher = se.refresher ? refresherFrom(se.refresher, false) : supportsTimer(this.request) ? 'remote' : 'local';
    return { seconds: se.seconds, refresher };
  }

  private ringReliably(status: number, reason: string, sdp: Buffer | undefined): void {
    if (this.reliable) return; // one at a time (RFC 3262 §3); the first is enough to ring
    this.rseq += 1;
    const response = this.incoming.respond(status, reason, {
      toTag: this.localTag,
      contact: this.options.contact,
      headers: [
        { name: 'Require', value: '100rel' },
        { name: 'RSeq', value: formatRSeq(this.rseq) },
      ],
      ...(sdp ? { body: sdp } : {}),
    });
    const reliable: NonNullable<InboundInvite['reliable']> = { rseq: this.rseq, response };
    this.reliable = reliable;
    const { timers, base } = this.options;
    const again = (ms: number) => {
      reliable.retransmit = timers.start('ReliableProvisional', ms, () => {
        if (this.reliable !== reliable) return;
        this.incoming.sendRaw(response);
        again(ms * 2);
      });
    };
    again(base.T1);
    // §3: no PRACK in 64*T1: the INVITE is refused with a 5xx.
    reliable.giveUp = timers.start('ReliableProvisional', 64 * base.T1, () => {
      if (this.reliable !== reliable) return;
      this.stopReliable();
      this.deferredAnswer = undefined;
      this.reject(504, 'Server Time-out');
      this.events.onCanceled();
    });
  }

  private receivePrack(incoming: IncomingRequest): void {
    const reliable = this.reliable;
    let rack: ReturnType<typeof parseRAck> | undefined;
    try {
      rack = parseRAck(getHeader(incoming.request, 'RAck') ?? '');
    } catch {
      rack = undefined;
    }
    if (!reliable || !rack || rack.rseq !== reliable.rseq || rack.method !== 'INVITE') {
      incoming.respond(481, 'Call/Transaction Does Not Exist');
      return;
    }
    incoming.respond(200, 'OK');
    this.stopReliable();
    const deferred = this.deferredAnswer;
    this.deferredAnswer = undefined;
    deferred?.();
  }

  private stopReliable(): void {
    this.reliable?.retransmit?.cancel();
    this.reliable?.giveUp?.cancel();
    this.reliable = undefined;
  }
}

function requires(request: SipRequest, option: string): boolean {
  return getHeaders(request, 'Require').some((o) => o.toLowerCase() === option);
}
