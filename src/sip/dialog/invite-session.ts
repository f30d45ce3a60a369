import { getHeader, getHeaders } from '../message/headers.js';
import { formatMinSe, formatSessionExpires, parseMinSe, parseSessionExpires } from '../message/session-headers.js';
import type { SipHeader, SipRequest, SipResponse } from '../message/types.js';
import type { SipTimerBase, TimerHandle, TimerScheduler } from '../transaction/timers.js';
import type { IncomingRequest } from '../ua/sip-stack.js';
import { ACCEPT, badRequestReason, SUPPORTED } from '../ua/build.js';
import type { Dialog } from './dialog.js';
import { DEFAULT_SESSION_EXPIRES_S, MIN_SE_S, refresherFrom, refresherParam, SessionTimer, type SessionInterval } from './session-timer.js';
import { dtmfFromInfo } from './dtmf-info.js';
import { eventOf, referTargetFor, ReferNotifier, ReferSubscriber, type IncomingRefer, type ReferResult, type TransferDestination } from './refer.js';
import { parseReferredBy, parseReferTo, referMethodOf, replacesOf } from '../message/refer-headers.js';

/** The media side of a session: answers the peer's new offers and knows our current description. */
export interface SessionDescriptions {
  /** An offer in a re-INVITE or UPDATE: our answer, or undefined to refuse it (488) and keep the session as it was. */
  answer(offer: Buffer): Buffer | undefined;
  /** Our current description: offered when the peer's re-INVITE has none, and sent again in our refreshes. */
  current(): Buffer;
  /** The answer to an offer of ours (the ACK of an offerless re-INVITE, or of a late-offer INVITE). */
  answered(answer: Buffer): void;
}

export interface InviteSessionEvents {
  /** A key signalled by INFO (application/dtmf-relay or application/dtmf). */
  onDigit(digit: string): void;
  /** The session expired or its refresh failed: the owner ends the dialog with a BYE. */
  onExpired(reason: 'refresh_failed' | 'expired'): void;
  /**
   * The peer asks us to place a call (REFER, RFC 3515): the owner accepts or refuses it and reports the new call's
   * progress. Without a listener, a REFER is declined (603).
   */
  onRefer?(refer: IncomingRefer): void;
}

export interface InviteSessionOptions {
  readonly dialog: Dialog;
  /** Whether we sent the dialog's INVITE (refresher=uac then names us). */
  readonly weAreUac: boolean;
  readonly descriptions: SessionDescriptions;
  readonly events: InviteSessionEvents;
  readonly timers: TimerScheduler;
  readonly base: SipTimerBase;
  /** RFC 4028 scheduler (SessionRefresh, SessionExpiry); the stack's by default, scaled in tests. */
  readonly sessionTimers?: TimerScheduler;
  /** The interval the initial INVITE transaction agreed, if any. */
  readonly interval: SessionInterval | undefined;
}

/**
 * An established INVITE session (RFC 3261 §14, RFC 3311, RFC 4028, RFC 6086 for INFO): mid-dialog offers by
 * re-INVITE or UPDATE, an offerless re-INVITE (our offer in the 200, the answer in the ACK), session-timer refreshes
 * in both directions, INFO keys and OPTIONS. BYE and the dialog's end belong to its owner.
 */
export class InviteSession {
  private readonly timer: SessionTimer;
  /** A re-INVITE of ours in progress: a crossing one from the peer gets 491 (§14.2). */
  private refreshing = false;
  /** Our 2xx to the peer's re-INVITE, retransmitted until its ACK (§13.3.1.4). */
  private pendingOk: { cseq: number; offered: boolean; retransmit?: TimerHandle; giveUp?: TimerHandle } | undefined;
  private closed = false;
  /** One retry per refresh after a 491 (§14.1). */
  private retried491 = false;
  /** REFERs received (the second and later ones' NOTIFYs carry an Event id) and their subscriptions. */
  private refersReceived = 0;
  private readonly notifiers: ReferNotifier[] = [];
  /** REFERs we sent whose outcome is not known yet. */
  private readonly referrals: ReferSubscriber[] = [];

  constructor(private readonly options: InviteSessionOptions) {
    this.timer = new SessionTimer(
      options.sessionTimers ?? options.timers,
      () => this.refresh(this.timer.interval?.seconds ?? DEFAULT_SESSION_EXPIRES_S),
      () => this.expire('expired'),
    );
    this.timer.start(options.interval);
  }

  get interval(): SessionInterval | undefined {
    return this.timer.interval;
  }

  close(): void {
    this.closed = true;
    this.timer.stop();
    this.pendingOk?.retransmit?.cancel();
    this.pendingOk?.giveUp?.cancel();
    this.pendingOk = undefined;
    for (const notifier of this.notifiers.splice(0)) notifier.close();
    for (const referral of this.referrals.splice(0)) referral.close();
  }

  /**
   * Sends the peer a REFER (RFC 3515) to `destination`, naming us in Referred-By; `onResult` hears how it came out
   * (the final sipfrag of its NOTIFYs, a refusal, a timeout, or the dialog's end) exactly once.
   */
  refer(destination: TransferDestination, onResult: (result: ReferResult) => void): void {
    if (this.closed) {
      onResult({ kind: 'ended' });
      return;
    }
    const { dialog, timers, base } = this.options;
    const target = referTargetFor(dialog, destination);
    const referral: ReferSubscriber = new ReferSubscriber(dialog, timers, base, (result) => {
      const index = this.referrals.indexOf(referral);
      if (index >= 0) this.referrals.splice(index, 1);
      onResult(result);
    });
    this.referrals.push(referral);
    referral.start(target);
  }

  /** A request in this dialog other than BYE; false when it is not one the session handles. */
  receive(incoming: IncomingRequest): boolean {
    const { request } = incoming;
    switch (request.method) {
      case 'INVITE':
      case 'UPDATE':
        this.receiveOffer(incoming);
        return true;
      case 'INFO':
        this.receiveInfo(incoming);
        return true;
      case 'OPTIONS':
        incoming.respond(200, 'OK', { headers: capabilities() });
        return true;
      case 'REFER':
        this.receiveRefer(incoming);
        return true;
      case 'NOTIFY':
        this.receiveNotify(incoming);
        return true;
      default:
        return false;
    }
  }

  /** The ACK of our 2xx to a re-INVITE, carrying the answer when our 2xx made the offer. */
  receiveAck(ack: SipRequest): void {
    const pending = this.pendingOk;
    if (!pending) return;
    const cseq = Number((getHeader(ack, 'CSeq') ?? '').trim().split(/\s+/)[0]);
    if (cseq !== pending.cseq) return;
    pending.retransmit?.cancel();
    pending.giveUp?.cancel();
    this.pendingOk = undefined;
    if (pending.offered && ack.body.length > 0) this.options.descriptions.answered(ack.body);
  }

  private receiveOffer(incoming: IncomingRequest): void {
    const { request } = incoming;
    const { dialog, descriptions } = this.options;
    if (!dialog.receive(request)) {
      incoming.respond(500, 'Server Internal Error', { headers: [{ name: 'Retry-After', value: '1' }] });
      return;
    }
    if (request.method === 'INVITE' && (this.refreshing || this.pendingOk)) {
      incoming.respond(491, 'Request Pending');
      return;
    }
    const se = sessionExpiresOf(request);
    if (se && se.seconds < MIN_SE_S) {
      incoming.respond(422, 'Session Interval Too Small', { headers: [{ name: 'Min-SE', value: formatMinSe({ seconds: MIN_SE_S }) }] });
      return;
    }
    let body: Buffer | undefined;
    const offered = request.body.length === 0;
    if (offered) {
      // A refresh or an offerless re-INVITE: an UPDATE without SDP changes nothing; a re-INVITE gets our offer.
      body = request.method === 'INVITE' ? descriptions.current() : undefined;
    } else {
      body = descriptions.answer(request.body);
      if (!body) {
        incoming.respond(488, 'Not Acceptable Here');
        return;
      }
    }
    // §9 of RFC 4028: the refresh's Session-Expires, or none, decides the session's interval from now on.
    const interval: SessionInterval | undefined = se
      ? { seconds: se.seconds, refresher: se.refresher ? refresherFrom(se.refresher, false) : supportsTimer(request) ? 'remote' : 'local' }
      : undefined;
    // §9: Require: timer only toward a UAC that supports it (a Session-Expires a proxy added makes us the refresher).
    const headers: SipHeader[] = interval
      ? [
          ...(supportsTimer(request) ? [{ name: 'Require', value: 'timer' }] : []),
          { name: 'Session-Expires', value: formatSessionExpires({ seconds: interval.seconds, refresher: refresherParam(interval.refresher, false) }) },
        ]
      : [];
    const ok = incoming.respond(200, 'OK', {
      toTag: dialog.localTag,
      contact: dialog.contact,
      headers: [...headers, { name: 'Supported', value: SUPPORTED }],
      ...(body ? { body } : {}),
    });
    this.timer.start(interval);
    if (request.method === 'INVITE') this.awaitAck(incoming, ok, offered);
  }

  private awaitAck(incoming: IncomingRequest, ok: SipResponse, offered: boolean): void {
    const { timers, base } = this.options;
    const cseq = Number((getHeader(ok, 'CSeq') ?? '').trim().split(/\s+/)[0]);
    const pending: NonNullable<InviteSession['pendingOk']> = { cseq, offered };
    this.pendingOk = pending;
    const again = (interval: number) => {
      pending.retransmit = timers.start('G', interval, () => {
        if (this.pendingOk !== pending) return;
        incoming.sendRaw(ok);
        again(Math.min(interval * 2, base.T2));
      });
    };
    if (incoming.source.transport === 'udp') again(base.T1);
    pending.giveUp = timers.start('H', 64 * base.T1, () => {
      if (this.pendingOk !== pending) return;
      pending.retransmit?.cancel();
      this.pendingOk = undefined;
      // §14.2: no ACK for the 2xx of a re-INVITE ends the dialog.
      this.expire('refresh_failed');
    });
  }

  private receiveInfo(incoming: IncomingRequest): void {
    const { request } = incoming;
    if (!this.options.dialog.receive(request)) {
      incoming.respond(500, 'Server Internal Error');
      return;
    }
    if (request.body.length === 0) {
      incoming.respond(200, 'OK');
      return;
    }
    const digit = dtmfFromInfo(getHeader(request, 'Content-Type'), request.body);
    if (digit === undefined) {
      incoming.respond(415, 'Unsupported Media Type', { headers: [{ name: 'Accept', value: 'application/dtmf-relay, application/dtmf' }] });
      return;
    }
    incoming.respond(200, 'OK');
    if (digit !== null) this.options.events.onDigit(digit);
  }

  /** A REFER in this dialog: its headers checked, then the owner decides (onRefer). */
  private receiveRefer(incoming: IncomingRequest): void {
    const { request } = incoming;
    const { dialog, events } = this.options;
    if (!dialog.receive(request)) {
      incoming.respond(500, 'Server Internal Error');
      return;
    }
    const referTos = request.headers.filter((h) => h.name === 'Refer-To');
    if (referTos.length !== 1) {
      incoming.respond(400, 'Bad Request (a REFER has exactly one Refer-To)');
      return;
    }
    let parsed: Pick<IncomingRefer, 'referTo' | 'referredBy' | 'replaces' | 'method'>;
    try {
      const referTo = parseReferTo(referTos[0]!.value);
      const referredBy = getHeader(request, 'Referred-By');
      parsed = {
        referTo,
        referredBy: referredBy === undefined ? undefined : parseReferredBy(referredBy),
        replaces: replacesOf(referTo),
        method: referMethodOf(referTo),
      };
    } catch (error) {
      incoming.respond(400, badRequestReason(error));
      return;
    }
    if (!events.onRefer) {
      incoming.respond(603, 'Decline');
      return;
    }
    const cseq = (getHeader(request, 'CSeq') ?? '').trim().split(/\s+/)[0];
    const eventId = this.refersReceived++ > 0 ? cseq : undefined;
    const notifier = new ReferNotifier(incoming, dialog, eventId, () => !this.closed, parsed.referTo, parsed.referredBy, parsed.replaces, parsed.method);
    this.notifiers.push(notifier);
    try {
      events.onRefer(notifier);
    } catch {
      notifier.refuse(500, 'Server Internal Error');
    }
  }

  /** A NOTIFY of the subscription a REFER of ours created; any other is 481 (no such subscription) or 489. */
  private receiveNotify(incoming: IncomingRequest): void {
    if (!this.options.dialog.receive(incoming.request)) {
      incoming.respond(500, 'Server Internal Error');
      return;
    }
    const event = eventOf(incoming);
    if (!event) {
      incoming.respond(489, 'Bad Event');
      return;
    }
    const referral = this.referrals.find((r) => r.matches(event));
    if (!referral) {
      incoming.respond(481, 'Subscription Does Not Exist');
      return;
    }
    referral.receiveNotify(incoming);
  }

  /** As the refresher: a re-INVITE with our current description and the interval (§7.4); 422 raises it once. */
  private refresh(seconds: number, minSe?: number): void {
    if (this.closed) return;
    const { dialog, descriptions } = this.options;
    this.refreshing = true;
    const headers: SipHeader[] = [
      { name: 'Supported', value: SUPPORTED },
      // We are the UAC of the refresh and stay the refresher.
      { name: 'Session-Expires', value: formatSessionExpires({ seconds, refresher: 'uac' }) },
      { name: 'Min-SE', value: formatMinSe({ seconds: minSe ?? MIN_SE_S }) },
    ];
    dialog.send('INVITE', { headers, body: descriptions.current() }, {
      onResponse: (response) => {
        if (response.status < 200) return;
        if (response.status < 300) {
          dialog.sendStateless(dialog.request('ACK', { cseq: Number((getHeader(response, 'CSeq') ?? '').trim().split(/\s+/)[0]) }));
          dialog.refreshTarget(response);
          if (response.body.length > 0) descriptions.answered(response.body);
          this.refreshing = false;
          this.retried491 = false;
          if (this.closed) return;
          const se = sessionExpiresOf(response);
          this.timer.start(se ? { seconds: se.seconds, refresher: se.refresher ? refresherFrom(se.refresher, true) : 'local' } : undefined);
          return;
        }
        this.refreshing = false;
        if (this.closed) return;
        const min = response.status === 422 ? minSeOf(response) : undefined;
        if (min !== undefined && min > seconds && minSe === undefined) {
          this.refresh(min, min);
          return;
        }
        // RFC 4028 §10: a 408 or 481 means the dialog is gone: BYE now.
        if (response.status === 408 || response.status === 481) {
          this.expire('refresh_failed');
          return;
        }
        // RFC 3261 §14.1: our refresh crossed a re-INVITE of the peer's; try again after a random wait, longer for
        // the side that owns the Call-ID (the dialog's UAC).
        if (response.status === 491 && !this.retried491) {
          this.retried491 = true;
          const wait = this.options.weAreUac ? 2_100 + Math.random() * 1_900 : Math.random() * 2_000;
          this.options.timers.start('RequestPending', wait, () => this.refresh(seconds, minSe));
          return;
        }
        // Any other refusal leaves the session as it was (§14.1): it ends at its expiry unless it is refreshed.
        this.timer.expireAfterFailedRefresh();
      },
      onTimeout: () => {
        this.refreshing = false;
        this.expire('refresh_failed');
      },
      onTransportError: () => {
        this.refreshing = false;
        this.expire('refresh_failed');
      },
    });
  }

  private expire(reason: 'refresh_failed' | 'expired'): void {
    if (this.closed) return;
    this.close();
    this.options.events.onExpired(reason);
  }
}

/** The headers that say what we do: OPTIONS answers and our 2xx. */
export function capabilities(): SipHeader[] {
  return [
    { name: 'Accept', value: ACCEPT },
    { name: 'Supported', value: SUPPORTED },
  ];
}

export function sessionExpiresOf(message: SipRequest | SipResponse): ReturnType<typeof parseSessionExpires> | undefined {
  const value = getHeader(message, 'Session-Expires');
  if (value === undefined) return undefined;
  try {
    return parseSessionExpires(value);
  } catch {
    return undefined;
  }
}

export function minSeOf(message: SipRequest | SipResponse): number | undefined {
  const value = getHeader(message, 'Min-SE');
  if (value === undefined) return undefined;
  try {
    return parseMinSe(value).seconds;
  } catch {
    return undefined;
  }
}

export function supportsTimer(message: SipRequest | SipResponse): boolean {
  return [...getHeaders(message, 'Supported'), ...getHeaders(message, 'Require')].some((o) => o.toLowerCase() === 'timer');
}

