import { getHeader, parseUri } from '../message/headers.js';
import {
  formatEvent,
  formatReferredBy,
  formatReferTo,
  formatSipFrag,
  formatSubscriptionState,
  parseEvent,
  parseSipFrag,
  parseSubscriptionState,
  type EventHeader,
  type ReferredBy,
  type ReferTo,
  type Replaces,
} from '../message/refer-headers.js';
import type { SipHeader, SipUri } from '../message/types.js';
import type { SipTimerBase, TimerHandle, TimerScheduler } from '../transaction/timers.js';
import type { IncomingRequest } from '../ua/sip-stack.js';
import type { Dialog } from './dialog.js';

/** The body type of a refer subscription's NOTIFYs (RFC 3515 §2.4.5). */
export const SIPFRAG = 'message/sipfrag;version=2.0';
/** How long our implicit subscription lasts while the new call rings: long enough for any ring timeout we allow. */
export const REFER_SUBSCRIPTION_S = 660;
/** What we wait at most for the next NOTIFY of a REFER we sent, whatever the notifier's expires says. */
const MAX_NOTIFY_WAIT_S = 660;

/**
 * A REFER received in a dialog (RFC 3515), as the dialog's owner decides it: accept() (202 and the first NOTIFY,
 * "100 Trying") or refuse() once, then, once accepted, notify() with the new call's progress; a final status (200 or
 * more) ends the implicit subscription (`terminated;reason=noresource`).
 */
export interface IncomingRefer {
  readonly referTo: ReferTo;
  readonly referredBy: ReferredBy | undefined;
  /** Set for an attended transfer: the dialog the new call replaces (RFC 3891). */
  readonly replaces: Replaces | undefined;
  /** The method the new request is to use (the Refer-To's `method` parameter), upper-case; INVITE by default. */
  readonly method: string;
  accept(): void;
  refuse(status: number, reason: string): void;
  notify(status: number, reason: string): void;
}

/**
 * The notifier side of one REFER's implicit subscription. NOTIFYs go one at a time in the dialog (each waits for
 * the final response to the previous, so the subscriber sees them in order even over UDP); a 481 or the dialog's end
 * stops them.
 */
export class ReferNotifier implements IncomingRefer {
  private phase: 'new' | 'accepted' | 'refused' | 'terminated' = 'new';
  private readonly queue: Array<{ status: number; reason: string }> = [];
  private sending = false;
  private gone = false;

  constructor(
    private readonly incoming: IncomingRequest,
    private readonly dialog: Dialog,
    /** The Event id: the REFER's CSeq number, for every REFER after the first in the dialog (RFC 3515 §2.4.6). */
    private readonly eventId: string | undefined,
    private readonly isOpen: () => boolean,
    readonly referTo: ReferTo,
    readonly referredBy: ReferredBy | undefined,
    readonly replaces: Replaces | undefined,
    readonly method: string,
  ) {}

  accept(): void {
    if (this.phase !== 'new') return;
    this.phase = 'accepted';
    this.incoming.respond(202, 'Accepted', { contact: this.dialog.contact });
    this.notify(100, 'Trying');
  }

  refuse(status: number, reason: string): void {
    if (this.phase !== 'new') return;
    this.phase = 'refused';
    this.incoming.respond(status, reason);
  }

  notify(status: number, reason: string): void {
    if (this.phase !== 'accepted') return;
    if (status >= 200) this.phase = 'terminated';
    this.queue.push({ status, reason });
    this.next();
  }

  /** The dialog ended: nothing more is sent. */
  close(): void {
    this.gone = true;
    this.queue.length = 0;
  }

  private next(): void {
    if (this.sending || this.gone || !this.isOpen()) return;
    const item = this.queue.shift();
    if (!item) return;
    this.sending = true;
    const final = item.status >= 200;
    const headers: SipHeader[] = [
      { name: 'Event', value: formatEvent({ type: 'refer', id: this.eventId }) },
      {
        name: 'Subscription-State',
        value: final ? formatSubscriptionState({ state: 'terminated', reason: 'noresource' }) : formatSubscriptionState({ state: 'active', expires: REFER_SUBSCRIPTION_S }),
      },
    ];
    const done = (status?: number) => {
      this.sending = false;
      // RFC 6665 §4.2.2: a 481 (or no answer at all) means the subscriber is gone.
      if (status === undefined || status === 481) this.close();
      this.next();
    };
    this.dialog.send('NOTIFY', { headers, body: Buffer.from(formatSipFrag(item)), contentType: SIPFRAG }, {
      onResponse: (response) => response.status >= 200 && done(response.status),
      onTimeout: () => done(),
      onTransportError: () => done(),
    });
  }
}

/** How a REFER we sent came out. */
export type ReferResult =
  /** The last NOTIFY's sipfrag: the status the referee's new request ended with (2xx: the transfer worked). */
  | { readonly kind: 'notified'; readonly status: number; readonly reason: string }
  /** The REFER itself was refused (or challenged beyond our credentials). */
  | { readonly kind: 'refused'; readonly status: number; readonly reason: string }
  /** No answer to the REFER, or no NOTIFY in time. */
  | { readonly kind: 'timeout' }
  /** The dialog ended before the outcome was known. */
  | { readonly kind: 'ended' };

export interface ReferTarget {
  /** The Refer-To value (a name-addr). */
  readonly referTo: string;
  /** The Referred-By value, when we name the referrer. */
  readonly referredBy?: string;
}

/** Where a REFER of ours sends the peer: a number (at the peer's own host, `user=phone`) or a URI as given. */
export type TransferDestination = { readonly number: string } | { readonly uri: string };

/**
 * The Refer-To and Referred-By of a REFER in `dialog`: a number becomes `sip:<number>@<the peer's host>;user=phone`
 * (the peer routes it as it would a call of its own); we refer as our identity in the dialog (our From or To URI).
 */
export function referTargetFor(dialog: Dialog, destination: TransferDestination): ReferTarget {
  let uri: SipUri;
  if ('uri' in destination) {
    uri = parseUri(destination.uri);
  } else {
    const peer = parseUri(dialog.target);
    uri = { scheme: 'sip', user: destination.number, password: undefined, host: peer.host, port: peer.port, params: [['user', 'phone']], headers: [] };
  }
  return {
    referTo: formatReferTo({ displayName: undefined, uri, params: [] }),
    referredBy: formatReferredBy({ referrer: { ...dialog.local, displayName: undefined, params: [] }, cid: undefined }),
  };
}

/**
 * The subscriber side of a REFER we sent (RFC 3515 §2.4.4): the REFER in the dialog, then its NOTIFYs, each answered
 * 200, until one carries a final status or says the subscription is terminated. The outcome is reported once.
 */
export class ReferSubscriber {
  private cseq: number | undefined;
  private timer: TimerHandle | undefined;
  private last: { status: number; reason: string } | undefined;
  private done = false;

  constructor(
    private readonly dialog: Dialog,
    private readonly timers: TimerScheduler,
    private readonly base: SipTimerBase,
    private readonly onResult: (result: ReferResult) => void,
  ) {}

  get finished(): boolean {
    return this.done;
  }

  start(target: ReferTarget): void {
    const headers: SipHeader[] = [
      { name: 'Refer-To', value: target.referTo },
      ...(target.referredBy ? [{ name: 'Referred-By', value: target.referredBy }] : []),
    ];
    const refer = this.dialog.send('REFER', { headers }, {
      onResponse: (response) => {
        if (response.status < 200 || this.done) return;
        // The REFER's CSeq after a challenge differs from the first one: NOTIFYs may name either.
        this.cseq = Number((getHeader(response, 'CSeq') ?? '').trim().split(/\s+/)[0]);
        if (response.status >= 300) this.finish({ kind: 'refused', status: response.status, reason: response.reason });
      },
      onTimeout: () => this.finish({ kind: 'timeout' }),
      onTransportError: () => this.finish({ kind: 'timeout' }),
    });
    this.cseq = Number((getHeader(refer, 'CSeq') ?? '').trim().split(/\s+/)[0]);
    this.wait(64 * this.base.T1);
  }

  /** Whether a NOTIFY's Event belongs to this REFER: `refer`, with our REFER's CSeq as id when it names one. */
  matches(event: EventHeader): boolean {
    return !this.done && event.type === 'refer' && (event.id === undefined || event.id === String(this.cseq));
  }

  receiveNotify(incoming: IncomingRequest): void {
    const { request } = incoming;
    let state: ReturnType<typeof parseSubscriptionState>;
    try {
      state = parseSubscriptionState(getHeader(request, 'Subscription-State') ?? '');
    } catch {
      incoming.respond(400, 'Bad Request (Subscription-State)');
      return;
    }
    let frag: { status: number; reason: string } | undefined;
    if (request.body.length > 0) {
      try {
        frag = parseSipFrag(request.body);
      } catch {
        frag = undefined;
      }
    }
    incoming.respond(200, 'OK');
    if (frag) this.last = { status: frag.status, reason: frag.reason };
    if (frag && frag.status >= 200) {
      this.finish({ kind: 'notified', status: frag.status, reason: frag.reason });
    } else if (state.state === 'terminated') {
      // Ended without a final status: whatever was heard last (a 1xx) or no outcome at all.
      this.finish(this.last ? { kind: 'notified', ...this.last } : { kind: 'timeout' });
    } else {
      this.wait(Math.min(state.expires ?? MAX_NOTIFY_WAIT_S, MAX_NOTIFY_WAIT_S) * 1000);
    }
  }

  close(): void {
    this.finish({ kind: 'ended' });
  }

  private wait(ms: number): void {
    this.timer?.cancel();
    this.timer = this.timers.start('ReferSubscription', ms, () => this.finish({ kind: 'timeout' }));
  }

  private finish(result: ReferResult): void {
    if (this.done) return;
    this.done = true;
    this.timer?.cancel();
    this.onResult(result);
  }
}

/** The Event header of a NOTIFY, or undefined when it has none we can read. */
export function eventOf(incoming: IncomingRequest): EventHeader | undefined {
  try {
    return parseEvent(getHeader(incoming.request, 'Event') ?? '');
  } catch {
    return undefined;
  }
}
