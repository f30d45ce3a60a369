import { getHeader } from '../message/headers.js';
import type { SipRequest, SipResponse, SipUri } from '../message/types.js';
import type { SipTimerBase, TimerHandle, TimerScheduler } from '../transaction/timers.js';
import { buildResponse } from './build.js';
import { newTag } from './ids.js';
import type { IncomingRequest } from './sip-stack.js';

export interface InboundInviteEvents {
  /** The caller gave up before we answered (CANCEL). */
  onCanceled(): void;
  /** Our 2xx was ACKed: media may flow. */
  onConfirmed(): void;
  /** No ACK for our 2xx within 64*T1: the dialog is torn down (§13.3.1.4). */
  onAckTimeout(): void;
  onEnded(by: 'remote' | 'local'): void;
}

/**
 * The UAS side of one INVITE dialog: provisional and final answers, 2xx retransmission until the ACK (T1 doubling to
 * T2, §13.3.1.4), CANCEL (487), the remote BYE, and our own BYE.
 */
export class InboundInvite {
  readonly callId: string;
  readonly request: SipRequest;
  private readonly localTag = newTag();
  private phase: 'ringing' | 'answered' | 'confirmed' | 'terminating' | 'terminated' = 'ringing';
  private ok: SipResponse | undefined;
  private retransmit: TimerHandle | undefined;
  private giveUp: TimerHandle | undefined;
  private cseq = 1;

  constructor(
    private readonly incoming: IncomingRequest,
    private readonly contact: SipUri,
    private readonly timers: { scheduler: TimerScheduler; base: SipTimerBase },
    private readonly events: InboundInviteEvents,
    private readonly sendBye: (bye: InboundInvite) => void,
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

  nextCseq(): number {
    this.cseq += 1;
    return this.cseq;
  }

  ring(status = 180, reason = 'Ringing', sdp?: Buffer): void {
    if (this.phase !== 'ringing') return;
    this.incoming.respond(status, reason, { toTag: this.localTag, contact: this.contact, ...(sdp ? { body: sdp } : {}) });
  }

  answer(sdp: Buffer): void {
    if (this.phase !== 'ringing') return;
    this.phase = 'answered';
    this.ok = this.incoming.respond(200, 'OK', { toTag: this.localTag, contact: this.contact, body: sdp });
    const { scheduler, base } = this.timers;
    const again = (interval: number) => {
      this.retransmit = scheduler.start('G', interval, () => {
        if (this.phase !== 'answered' || !this.ok) return;
        this.incoming.sendRaw(this.ok);
        again(Math.min(interval * 2, base.T2));
      });
    };
    if (this.incoming.source.transport === 'udp') again(base.T1);
    this.giveUp = scheduler.start('H', 64 * base.T1, () => {
      if (this.phase !== 'answered') return;
      this.retransmit?.cancel();
      this.events.onAckTimeout();
      this.hangup();
    });
  }

  reject(status: number, reason: string): void {
    if (this.phase !== 'ringing') return;
    this.phase = 'terminated';
    this.incoming.respond(status, reason, { toTag: this.localTag });
  }

  receiveAck(): void {
    if (this.phase !== 'answered') return;
    this.phase = 'confirmed';
    this.retransmit?.cancel();
    this.giveUp?.cancel();
    this.events.onConfirmed();
  }

  receiveCancel(cancel: IncomingRequest): void {
    cancel.respond(200, 'OK');
    if (this.phase !== 'ringing') return;
    this.phase = 'terminated';
    this.incoming.respond(487, 'Request Terminated', { toTag: this.localTag });
    this.events.onCanceled();
  }

  receiveInDialog(request: SipRequest, respond: (status: number, reason: string) => void): void {
    if (request.method === 'BYE') {
      respond(200, 'OK');
      if (this.phase === 'answered' || this.phase === 'confirmed' || this.phase === 'terminating') {
        this.retransmit?.cancel();
        this.giveUp?.cancel();
        this.phase = 'terminated';
        this.events.onEnded('remote');
      }
      return;
    }
    respond(request.method === 'INVITE' ? 488 : 200, request.method === 'INVITE' ? 'Not Acceptable Here' : 'OK');
  }

  hangup(): void {
    if (this.phase === 'ringing') {
      this.reject(480, 'Temporarily Unavailable');
      return;
    }
    if (this.phase !== 'answered' && this.phase !== 'confirmed') return;
    this.retransmit?.cancel();
    this.giveUp?.cancel();
    this.phase = 'terminating';
    this.sendBye(this);
  }

  /** Called by the user agent when our BYE completed (or failed: the dialog is over either way). */
  byeDone(): void {
    if (this.phase === 'terminated') return;
    this.phase = 'terminated';
    this.events.onEnded('local');
  }

  /** For the UA to build the BYE: our 200's To (with our tag) becomes the From. */
  dialogHeaders(): { from: string; to: string } {
    const response = this.ok ?? buildResponse(this.request, 200, 'OK', { toTag: this.localTag });
    return { from: getHeader(response, 'To') ?? '', to: getHeader(this.request, 'From') ?? '' };
  }
}
