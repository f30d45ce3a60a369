import { computeDigestCredentials, formatDigestCredentials, isSupportedDigestChallenge, type DigestUserCredentials } from '../auth/digest.js';
import { formatUri, getHeader, getHeaders, parseAuthChallenge, parseNameAddr, splitHeaderValues } from '../message/headers.js';
import type { SipRequest, SipResponse, SipUri } from '../message/types.js';
import type { SipEndpoint } from '../transport/types.js';
import { buildCancel, buildRequest, routeSetFromResponse } from './build.js';
import { newCallId, newTag } from './ids.js';
import type { TimerHandle } from '../transaction/timers.js';
import type { SipStack } from './sip-stack.js';

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
}

type Phase = 'idle' | 'inviting' | 'early' | 'confirmed' | 'terminating' | 'terminated';

/**
 * The UAC side of one INVITE dialog (RFC 3261 §13, §12): sends the INVITE, answers digest challenges once per realm,
 * ACKs every 2xx, cancels (only after a provisional, §9.1), hangs up with BYE, and takes the remote BYE.
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
  private remoteTag: string | undefined;
  private remoteTarget: SipEndpoint | undefined;
  private remoteTargetUri: string | undefined;
  private routeSet: string[] = [];
  private ack: SipRequest | undefined;
  private readonly authenticatedRealms = new Set<string>();

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

  /** An in-dialog request routed here by Call-ID (BYE, re-INVITE, OPTIONS, INFO). */
  receiveInDialog(request: SipRequest, respond: (status: number, reason: string) => void): void {
    if (request.method === 'BYE') {
      respond(200, 'OK');
      if (this.phase === 'confirmed' || this.phase === 'terminating') {
        this.phase = 'terminated';
        this.events.onEnded('remote');
      }
      return;
    }
    // Session refreshes and mid-call offers are not supported yet: keep the current session (RFC 3261 §14.2).
    respond(request.method === 'INVITE' ? 488 : 200, request.method === 'INVITE' ? 'Not Acceptable Here' : 'OK');
  }

  /** A 2xx retransmitted after the INVITE transaction ended: our ACK was lost, send it again (§13.2.2.4). */
  receiveStray2xx(response: SipResponse): void {
    if (response.status >= 200 && response.status < 300 && this.ack && this.remoteTarget) {
      this.options.stack.sendStateless(this.ack, this.remoteTarget);
    }
  }

  private sendInvite(authHeaders: ReadonlyArray<{ name: string; value: string }>): void {
    const { options } = this;
    const invite = buildRequest({
      method: 'INVITE',
      uri: options.requestUri,
      from: { displayName: undefined, uri: options.from, params: [['tag', this.localTag]] },
      to: { displayName: undefined, uri: options.to, params: [] },
      callId: this.callId,
      cseq: this.cseq,
      via: options.stack.transports.local(options.target.transport),
      contact: options.contact,
      headers: [...(options.headers ?? []), ...authHeaders],
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
      if (this.phase === 'inviting') this.phase = 'early';
      this.events.onProvisional(status, response.reason, response.body.length > 0 ? response.body : undefined);
      return;
    }
    if (status < 300) {
      this.confirm(response);
      return;
    }
    if ((status === 401 || status === 407) && this.retryWithCredentials(response)) return;
    this.fail({ kind: 'response', status, reason: response.reason });
  }

  private confirm(response: SipResponse): void {
    this.cancelGiveUp?.cancel();
    const first = this.ack === undefined;
    if (first) {
      this.remoteTag = tagOf(getHeader(response, 'To'));
      this.routeSet = routeSetFromResponse(response);
      const contact = getHeader(response, 'Contact');
      const contactUri = contact ? safe(() => formatUri(parseNameAddr(splitHeaderValues(contact)[0] ?? contact).uri)) : undefined;
      this.remoteTargetUri = contactUri ?? this.options.requestUri;
      this.remoteTarget = this.resolveTarget();
      this.ack = this.inDialogRequest('ACK', this.cseq);
    }
    if (this.ack && this.remoteTarget) this.options.stack.sendStateless(this.ack, this.remoteTarget);
    if (!first) return;
    if (this.phase === 'terminated') return;
    if (this.cancelRequested) {
      // The 200 crossed our CANCEL: the call was answered, so it is ended with a BYE (§15).
      this.phase = 'confirmed';
      this.events.onAnswered(response.status, response.reason, response.body);
      this.sendBye();
      return;
    }
    this.phase = 'confirmed';
    this.events.onAnswered(response.status, response.reason, response.body);
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
    this.sendInvite([{ name: proxy ? 'Proxy-Authorization' : 'Authorization', value: formatDigestCredentials(digest) }]);
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
    if (!this.remoteTarget) return;
    this.phase = 'terminating';
    this.cseq += 1;
    const bye = this.inDialogRequest('BYE', this.cseq);
    const done = () => {
      if (this.phase === 'terminated') return;
      this.phase = 'terminated';
      this.events.onEnded('local');
    };
    this.options.stack.request(bye, this.remoteTarget, { onResponse: (r) => r.status >= 200 && done(), onTimeout: done, onTransportError: done });
  }

  private inDialogRequest(method: string, cseq: number): SipRequest {
    const { options } = this;
    const uri = this.routeSet.length > 0 && !isLooseRoute(this.routeSet[0]!) ? this.routeSet[0]! : (this.remoteTargetUri ?? options.requestUri);
    return buildRequest({
      method,
      uri,
      from: { displayName: undefined, uri: options.from, params: [['tag', this.localTag]] },
      to: { displayName: undefined, uri: options.to, params: this.remoteTag ? [['tag', this.remoteTag]] : [] },
      callId: this.callId,
      cseq,
      via: options.stack.transports.local(this.remoteTarget?.transport ?? options.target.transport),
      contact: options.contact,
      routes: this.routeSet,
    });
  }

  /** Where in-dialog requests go: the first route if there is a route set, else the remote target (§12.2.1.1). */
  private resolveTarget(): SipEndpoint {
    const next = this.routeSet[0] ?? this.remoteTargetUri;
    const uri = next ? safe(() => parseNameAddr(next).uri) : undefined;
    if (!uri) return this.options.target;
    const transportParam = uri.params.find(([n]) => n === 'transport')?.[1]?.toLowerCase();
    return {
      transport: transportParam === 'tcp' ? 'tcp' : transportParam === 'udp' ? 'udp' : this.options.target.transport,
      address: uri.host.replace(/^\[|\]$/g, ''),
      port: uri.port ?? 5060,
    };
  }

  private fail(failure: InviteFailure): void {
    this.cancelGiveUp?.cancel();
    if (this.phase === 'terminated' || this.phase === 'confirmed' || this.phase === 'terminating') return;
    this.phase = 'terminated';
    this.events.onFailed(failure);
  }
}

function tagOf(value: string | undefined): string | undefined {
  if (!value) return undefined;
  return safe(() => parseNameAddr(value).params.find(([n]) => n === 'tag')?.[1] ?? undefined);
}

function isLooseRoute(route: string): boolean {
  return /;lr\b/i.test(route);
}

function safe<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}
