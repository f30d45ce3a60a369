import { computeDigestCredentials, formatDigestCredentials, isSupportedDigestChallenge, type DigestUserCredentials } from '../auth/digest.js';
import { Dialog, tagOf } from '../dialog/dialog.js';
import type { IncomingRefer, ReferResult, TransferDestination } from '../dialog/refer.js';
import { InviteSession, minSeOf, sessionExpiresOf, type SessionDescriptions } from '../dialog/invite-session.js';
import { DEFAULT_SESSION_EXPIRES_S, MIN_SE_S, refresherFrom, type SessionInterval } from '../dialog/session-timer.js';
import { getHeader, getHeaders, parseAuthChallenge, parseCSeq } from '../message/headers.js';
import { formatMinSe, formatRAck, formatSessionExpires, parseRSeq } from '../message/session-headers.js';
import type { SipHeader, SipRequest, SipResponse, SipUri } from '../message/types.js';
import type { TimerHandle, TimerScheduler } from '../transaction/timers.js';
import type { SipEndpoint } from '../transport/types.js';
import { buildCancel, buildRequest, SUPPORTED } from './build.js';
import { newCallId, newTag } from './ids.js';
import type { IncomingRequest, SipStack } from './sip-stack.js';

export interface OutboundInviteOptions {
  readonly stack: SipStack;
  /** Where the INVITE goes (the trunk's address). */
  readonly target: SipEndpoint;
  readonly requestUri: string;
  readonly from: SipUri;
  readonly to: SipUri;
  readonly contact: SipUri;
  readonly sdp: Buffer;
  readonly credentials?: DigestUserCredentials;
  readonly headers?: ReadonlyArray<{ name: string; value: string }>;
  /** The media side of the session once answered (re-INVITE, UPDATE); without it new offers get 488. */
  readonly descriptions?: SessionDescriptions;
  /** RFC 4028's scheduler; the stack's by default. */
  readonly sessionTimers?: TimerScheduler;
}

/** How an INVITE that never got answered ended. */
export type InviteFailure =
  | { readonly kind: 'response'; readonly status: number; readonly reason: string }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'transport'; readonly error: Error };

export interface OutboundInviteEvents {
  onProvisional(status: number, reason: string, sdp: Buffer | undefined): void;
  onAnswered(status: number, reason: string, sdp: Buffer): void;
  onFailed(failure: InviteFailure): void;
  /** After an answer: the dialog ended (remote BYE, our BYE done, or our BYE failed). */
  onEnded(by: 'remote' | 'local'): void;
  /** A key the far end signalled by INFO. */
  onDigit?(digit: string): void;
  /** The callee asks us to call someone else (REFER); declined without a listener. */
  onRefer?(refer: IncomingRefer): void;
}

type Phase = 'idle' | 'inviting' | 'early' | 'confirmed' | 'terminating' | 'terminated';

/**
 * The UAC side of one INVITE (RFC 3261 §13) and the dialog set it creates (§12, §13.2.2.4): sends the INVITE
 * (with Supported: timer, 100rel and a Session-Expires), answers digest challenges once per realm and a 422 once,
 * PRACKs reliable provisional responses (RFC 3262), ACKs every 2xx, ends a second fork's dialog with a BYE, cancels
 * after any provisional (§9.1, giving up 64*T1 later), hangs up with BYE, and runs the answered session.
 */
export class OutboundInvite {
  readonly callId: string;
  private readonly localTag = newTag();
  private phase: Phase = 'idle';
  private cseq = 1;
  private invite: SipRequest | undefined;
  private provisionalSeen = false;
  private cancelRequested = false;
  private cancelSent = false;
  private inviteTransaction: { terminate(): void } | undefined;
  private cancelGiveUp: TimerHandle | undefined;
  private readonly authenticatedRealms = new Set<string>();
  private sessionExpires = DEFAULT_SESSION_EXPIRES_S;
  private minSe = MIN_SE_S;
  private raised422 = false;
  /** The dialog of the 2xx we took, and its session. */
  private dialog: Dialog | undefined;
  private session: InviteSession | undefined;
  /** Dialogs of other forks' 2xx, ACKed and ended with BYE (by remote tag). */
  private readonly forks = new Map<string, Dialog>();
  /** Highest RSeq PRACKed per early dialog (RFC 3262 §4). */
  private readonly rseqs = new Map<string, number>();

  constructor(
    private readonly options: OutboundInviteOptions,
    private readonly events: OutboundInviteEvents,
  ) {
    this.callId = newCallId(options.stack.transports.host);
  }

  get state(): Phase {
    return this.phase;
  }

  start(): void {
    if (this.phase !== 'idle') return;
    this.phase = 'inviting';
    this.sendInvite([]);
  }

  /** Ends the call whatever its phase: CANCEL before the answer, BYE after it. */
  hangup(): void {
    if (this.phase === 'inviting' || this.phase === 'early') {
      this.cancelRequested = true;
      if (this.provisionalSeen) this.sendCancel();
    } else if (this.phase === 'confirmed') {
      this.sendBye();
    }
  }

  /** Sends the callee a REFER (see InviteSession.refer); `ended` when the call is not answered and up. */
  refer(destination: TransferDestination, onResult: (result: ReferResult) => void): void {
    if (!this.session || this.phase !== 'confirmed') {
      onResult({ kind: 'ended' });
      return;
    }
    this.session.refer(destination, onResult);
  }

  /** Whether an in-dialog request (by its tags) belongs to this dialog set. */
  owns(request: SipRequest): boolean {
    if (tagOf(getHeader(request, 'To')) !== this.localTag) return false;
    const remote = tagOf(getHeader(request, 'From'));
    return remote !== undefined && (remote === this.dialog?.remoteTag || this.forks.has(remote));
  }

  /** An in-dialog request routed here by its dialog id. */
  receiveInDialog(incoming: IncomingRequest): void {
    const { request } = incoming;
    const remote = tagOf(getHeader(request, 'From'));
    if (remote !== undefined && this.forks.has(remote)) {
      // A fork we are ending: only its BYE matters.
      incoming.respond(request.method === 'BYE' ? 200 : 481, request.method === 'BYE' ? 'OK' : 'Call/Transaction Does Not Exist');
      if (request.method === 'BYE') this.forks.delete(remote);
      return;
    }
    if (request.method === 'BYE') {
      incoming.respond(200, 'OK');
      if (this.phase === 'confirmed' || this.phase === 'terminating') this.end('remote');
      return;
    }
    if (this.session?.receive(incoming)) return;
    incoming.respond(481, 'Call/Transaction Does Not Exist');
  }

  receiveAck(ack: SipRequest): void {
    this.session?.receiveAck(ack);
  }

  /** A 2xx retransmitted after the INVITE transaction ended: our ACK was lost, send it again (§13.2.2.4). */
  receiveStray2xx(response: SipResponse): void {
    if (response.status >= 200 && response.status < 300 && getHeader(response, 'CSeq')?.endsWith('INVITE')) this.on2xx(response);
  }

  private sendInvite(extra: readonly SipHeader[]): void {
    const { options } = this;
    const invite = buildRequest({
      method: 'INVITE',
      uri: options.requestUri,
      from: { displayName: undefined, uri: options.from, params: [['tag', this.localTag]] },
      to: { displayName: undefined, uri: options.to, params: [] },
      callId: this.callId,
      cseq: this.cseq,
      via: options.stack.transports.local(options.target.transport, options.target.address),
      contact: options.contact,
      headers: [
        ...(options.headers ?? []),
        { name: 'Supported', value: SUPPORTED },
        { name: 'Session-Expires', value: formatSessionExpires({ seconds: this.sessionExpires }) },
        { name: 'Min-SE', value: formatMinSe({ seconds: this.minSe }) },
        ...extra,
      ],
      body: options.sdp,
    });
    this.invite = invite;
    this.inviteTransaction = options.stack.request(invite, options.target, {
      onResponse: (response) => this.onInviteResponse(response),
      onTimeout: () => this.fail({ kind: 'timeout' }),
      onTransportError: (error) => this.fail({ kind: 'transport', error }),
    });
  }

  private onInviteResponse(response: SipResponse): void {
    const { status } = response;
    if (status < 200) {
      // Any provisional response, 100 Trying included, lets a CANCEL go (§9.1): a trunk that only ever sends 100
      // can still be cancelled.
      this.provisionalSeen = true;
      if (this.cancelRequested) this.sendCancel();
      if (status === 100) return;
      if (!this.acknowledgeReliably(response)) return;
      if (this.phase === 'inviting') this.phase = 'early';
      this.events.onProvisional(status, response.reason, response.body.length > 0 ? response.body : undefined);
      return;
    }
    if (status < 300) {
      this.on2xx(response);
      return;
    }
    if ((status === 401 || status === 407) && this.retryWithCredentials(response)) return;
    if (status === 422 && this.retryWithLargerInterval(response)) return;
    this.fail({ kind: 'response', status, reason: response.reason });
  }

  /**
   * RFC 3262: a provisional response that requires 100rel is PRACKed in its early dialog; a retransmission (RSeq
   * already PRACKed) is PRACKed again but not reported twice. False for a response to ignore.
   */
  private acknowledgeReliably(response: SipResponse): boolean {
    const reliable = getHeaders(response, 'Require').some((o) => o.toLowerCase() === '100rel');
    const rseqValue = getHeader(response, 'RSeq');
    if (!reliable || rseqValue === undefined || !this.invite) return true;
    let rseq: number;
    try {
      rseq = parseRSeq(rseqValue);
    } catch {
      return false;
    }
    const remoteTag = tagOf(getHeader(response, 'To')) ?? '';
    const last = this.rseqs.get(remoteTag);
    // §4: a response out of order (not the next RSeq) is not PRACKed; a retransmission is, again.
    if (last !== undefined && rseq !== last + 1 && rseq !== last) return false;
    this.rseqs.set(remoteTag, rseq);
    const early = this.newDialog(response);
    const cseq = parseCSeq(getHeader(this.invite, 'CSeq') ?? '').seq;
    this.cseq += 1;
    const prack = early.request('PRACK', { cseq: this.cseq, headers: [{ name: 'RAck', value: formatRAck({ rseq, cseq, method: 'INVITE' }) }] });
    this.options.stack.request(prack, early.nextHop(), { onResponse: () => undefined, onTimeout: () => undefined, onTransportError: () => undefined });
    return rseq !== last;
  }

  private newDialog(response: SipResponse, localSeq?: number): Dialog {
    return Dialog.fromResponse(this.options.stack, this.invite!, response, {
      ...(localSeq !== undefined ? { localSeq } : {}),
      contact: this.options.contact,
      fallback: this.options.target,
      ...(this.options.credentials ? { credentials: this.options.credentials } : {}),
    });
  }

  /** Every 2xx is ACKed (§13.2.2.4); the first makes the call, another fork's is then ended with a BYE. */
  private on2xx(response: SipResponse): void {
    this.cancelGiveUp?.cancel();
    if (!this.invite) return;
    const remoteTag = tagOf(getHeader(response, 'To')) ?? '';
    const inviteCseq = parseCSeq(getHeader(response, 'CSeq') ?? '').seq;
    const known = this.dialog?.remoteTag === remoteTag ? this.dialog : this.forks.get(remoteTag);
    if (known) {
      known.sendStateless(known.request('ACK', { cseq: inviteCseq }));
      return;
    }
    // Later in-dialog requests continue after the INVITE's CSeq and any PRACK's.
    const dialog = this.newDialog(response, this.cseq);
    dialog.sendStateless(dialog.request('ACK', { cseq: inviteCseq }));
    if (this.dialog || this.phase === 'terminated') {
      this.forks.set(remoteTag, dialog);
      dialog.send('BYE', {}, { onResponse: (r) => r.status >= 200 && this.forks.delete(remoteTag), onTimeout: () => this.forks.delete(remoteTag), onTransportError: () => this.forks.delete(remoteTag) });
      return;
    }
    this.dialog = dialog;
    this.phase = 'confirmed';
    this.session = this.newSession(dialog, response);
    this.events.onAnswered(response.status, response.reason, response.body);
    // The 200 crossed our CANCEL: the call was answered, so it is ended with a BYE (§15).
    if (this.cancelRequested) this.sendBye();
  }

  private newSession(dialog: Dialog, response: SipResponse): InviteSession {
    const se = sessionExpiresOf(response);
    const interval: SessionInterval | undefined = se
      ? { seconds: se.seconds, refresher: se.refresher ? refresherFrom(se.refresher, true) : 'local' }
      : undefined;
    const { stack, sdp, descriptions, sessionTimers } = this.options;
    return new InviteSession({
      dialog,
      weAreUac: true,
      descriptions: descriptions ?? { answer: () => undefined, current: () => sdp, answered: () => undefined },
      events: {
        onDigit: (digit) => this.events.onDigit?.(digit),
        onExpired: () => this.sendBye(),
        ...(this.events.onRefer ? { onRefer: (refer: IncomingRefer) => this.events.onRefer?.(refer) } : {}),
      },
      timers: stack.timers,
      base: stack.base,
      ...(sessionTimers ? { sessionTimers } : {}),
      interval,
    });
  }

  private retryWithCredentials(response: SipResponse): boolean {
    const { credentials } = this.options;
    if (!credentials || !this.invite) return false;
    const proxy = response.status === 407;
    const header = proxy ? 'Proxy-Authenticate' : 'WWW-Authenticate';
    const challenge = getHeaders(response, header)
      .map((value) => safe(() => parseAuthChallenge(value)))
      .find((c) => c !== undefined && isSupportedDigestChallenge(c));
    const realm = challenge?.params.realm;
    if (!challenge || realm === undefined) return false;
    // Credentials refused once for a realm are refused: retrying would loop (unless the nonce was only stale).
    if (this.authenticatedRealms.has(realm) && challenge.params.stale?.toLowerCase() !== 'true') return false;
    this.authenticatedRealms.add(realm);
    const digest = computeDigestCredentials({ challenge, credentials, method: 'INVITE', uri: this.options.requestUri });
    this.cseq += 1;
    this.auth = [{ name: proxy ? 'Proxy-Authorization' : 'Authorization', value: formatDigestCredentials(digest) }];
    this.sendInvite(this.auth);
    return true;
  }

  private auth: SipHeader[] = [];

  /** RFC 4028 §7.3: a 422 names the smallest interval the far end takes; the INVITE goes again once with it. */
  private retryWithLargerInterval(response: SipResponse): boolean {
    const min = minSeOf(response);
    if (this.raised422 || min === undefined || min <= this.sessionExpires && min <= this.minSe) return false;
    this.raised422 = true;
    this.minSe = Math.max(this.minSe, min);
    this.sessionExpires = Math.max(this.sessionExpires, min);
    this.cseq += 1;
    this.sendInvite(this.auth);
    return true;
  }

  private sendCancel(): void {
    if (!this.invite || this.cancelSent) return;
    this.cancelSent = true;
    const cancel = buildCancel(this.invite);
    // §9.1: without a final response 64*T1 after the CANCEL, the INVITE is considered cancelled and its transaction
    // destroyed, so the leg ends and gives back what it holds even when the far end never answers again.
    const { timers, base } = this.options.stack;
    this.cancelGiveUp = timers.start('CancelGiveUp', 64 * base.T1, () => {
      this.inviteTransaction?.terminate();
      this.fail({ kind: 'timeout' });
    });
    // The CANCEL's own outcome does not matter: the INVITE's 487 (or a racing 200) decides what happened.
    this.options.stack.request(cancel, this.options.target, {
      onResponse: () => undefined,
      onTimeout: () => undefined,
      onTransportError: () => undefined,
    });
  }

  private sendBye(): void {
    const dialog = this.dialog;
    if (!dialog || this.phase !== 'confirmed') return;
    this.phase = 'terminating';
    this.session?.close();
    const done = () => this.end('local');
    dialog.send('BYE', {}, { onResponse: (r) => r.status >= 200 && done(), onTimeout: done, onTransportError: done });
  }

  private end(by: 'remote' | 'local'): void {
    if (this.phase === 'terminated') return;
    this.phase = 'terminated';
    this.session?.close();
    this.events.onEnded(by);
  }

  private fail(failure: InviteFailure): void {
    this.cancelGiveUp?.cancel();
    if (this.phase === 'terminated' || this.phase === 'confirmed' || this.phase === 'terminating') return;
    this.phase = 'terminated';
    this.events.onFailed(failure);
  }
}

function safe<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}
