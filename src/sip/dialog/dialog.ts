import { computeDigestCredentials, formatDigestCredentials, isSupportedDigestChallenge, type DigestUserCredentials } from '../auth/digest.js';
import { formatUri, getHeader, getHeaders, parseAuthChallenge, parseCSeq, parseNameAddr, splitHeaderValues } from '../message/headers.js';
import type { NameAddr, SipHeader, SipRequest, SipResponse, SipUri } from '../message/types.js';
import type { ClientTransactionUser } from '../transaction/client-transactions.js';
import { defaultPort, isStreamTransport, uriTransport, type SipEndpoint } from '../transport/types.js';
import { buildRequest } from '../ua/build.js';
import type { SipStack } from '../ua/sip-stack.js';

/** What a dialog is made of (RFC 3261 §12): its id, both URIs, the remote target, the route set and the CSeqs. */
export interface DialogInit {
  readonly callId: string;
  readonly localTag: string;
  readonly remoteTag: string;
  /** From of our requests (with our tag added by the dialog). */
  readonly localUri: NameAddr;
  /** To of our requests (with the remote tag added by the dialog). */
  readonly remoteUri: NameAddr;
  /** The URI of the peer's Contact: the Request-URI of our requests. */
  readonly remoteTarget: string;
  /** Route headers for our requests, in order (the UAC reverses Record-Route, the UAS keeps it, §12.1). */
  readonly routeSet: readonly string[];
  readonly localSeq: number;
  readonly remoteSeq: number | undefined;
  /** Our Contact, sent in target-refresh requests. */
  readonly contact: SipUri;
  /** Where the dialog's first request went or came from: its transport, and where to send when no URI resolves. */
  readonly fallback: SipEndpoint;
  /** Digest credentials for a request of ours the peer (or a proxy on the route) challenges. */
  readonly credentials?: DigestUserCredentials;
}

export interface RequestBody {
  readonly headers?: readonly SipHeader[];
  readonly body?: Buffer;
  readonly contentType?: string;
}

/** Dialog ids are Call-ID plus both tags (§12); the key is the same string whichever side computes it. */
export function dialogKey(callId: string, localTag: string, remoteTag: string): string {
  return `${callId}\n${localTag}\n${remoteTag}`;
}

export function tagOf(value: string | undefined): string | undefined {
  if (!value) return undefined;
  return safe(() => tagParam(parseNameAddr(value)));
}

function tagParam(value: NameAddr): string | undefined {
  return value.params.find(([n]) => n === 'tag')?.[1] ?? undefined;
}

function withTag(value: NameAddr, tag: string): NameAddr {
  return { ...value, params: [...value.params.filter(([n]) => n !== 'tag'), ['tag', tag]] };
}

function contactUri(message: SipRequest | SipResponse): string | undefined {
  const value = getHeader(message, 'Contact');
  if (!value) return undefined;
  return safe(() => formatUri(parseNameAddr(splitHeaderValues(value)[0] ?? value).uri));
}

function isLooseRoute(route: string): boolean {
  return safe(() => parseNameAddr(route).uri.params.some(([n]) => n === 'lr')) ?? false;
}

/**
 * One dialog (RFC 3261 §12): builds its in-dialog requests (§12.2.1.1: Request-URI, Route set, CSeq, tags),
 * sends them to the next hop of the route set (the first Route when there is one, else the remote target), checks
 * the order of the peer's requests (§12.2.2), follows target refreshes, and answers a 401/407 challenge to one of its
 * requests once per realm with the credentials it was given. In-dialog methods beyond INVITE (REFER, NOTIFY, ...)
 * use the same `request` and `send`.
 */
export class Dialog {
  readonly callId: string;
  readonly localTag: string;
  readonly remoteTag: string;
  private localSeq: number;
  private remoteSeq: number | undefined;
  private remoteTarget: string;
  private readonly routeSet: readonly string[];
  private readonly localUri: NameAddr;
  private readonly remoteUri: NameAddr;
  /** The URI of the last next hop parsed (the first route or the remote target), kept while it stays the same. */
  private hop: { readonly next: string; readonly uri: SipUri | undefined } | undefined;

  constructor(
    private readonly stack: SipStack,
    private readonly init: DialogInit,
  ) {
    this.callId = init.callId;
    this.localTag = init.localTag;
    this.remoteTag = init.remoteTag;
    this.localSeq = init.localSeq;
    this.remoteSeq = init.remoteSeq;
    this.remoteTarget = init.remoteTarget;
    this.routeSet = init.routeSet;
    this.localUri = withTag(init.localUri, init.localTag);
    this.remoteUri = withTag(init.remoteUri, init.remoteTag);
  }

  /** §12.1.2: the UAC's dialog from a response with a To tag to its INVITE. */
  static fromResponse(
    stack: SipStack,
    invite: SipRequest,
    response: SipResponse,
    extra: Pick<DialogInit, 'contact' | 'fallback' | 'credentials'> & { readonly localSeq?: number },
  ): Dialog {
    const from = parseNameAddr(getHeader(invite, 'From') ?? '');
    const to = parseNameAddr(getHeader(response, 'To') ?? '');
    return new Dialog(stack, {
      callId: getHeader(invite, 'Call-ID') ?? '',
      localTag: tagParam(from) ?? '',
      remoteTag: tagParam(to) ?? '',
      localUri: from,
      remoteUri: to,
      remoteTarget: contactUri(response) ?? invite.uri,
      routeSet: getHeaders(response, 'Record-Route').reverse(),
      remoteSeq: undefined,
      ...extra,
      localSeq: extra.localSeq ?? parseCSeq(getHeader(invite, 'CSeq') ?? '').seq,
    });
  }

  /** §12.1.1: the UAS's dialog from the INVITE it answers with `localTag`. */
  static fromRequest(stack: SipStack, request: SipRequest, localTag: string, extra: Pick<DialogInit, 'contact' | 'fallback' | 'credentials'>): Dialog {
    return new Dialog(stack, {
      callId: getHeader(request, 'Call-ID') ?? '',
      localTag,
      remoteTag: tagOf(getHeader(request, 'From')) ?? '',
      localUri: parseNameAddr(getHeader(request, 'To') ?? ''),
      remoteUri: parseNameAddr(getHeader(request, 'From') ?? ''),
      remoteTarget: contactUri(request) ?? request.uri,
      routeSet: getHeaders(request, 'Record-Route'),
      localSeq: 0,
      remoteSeq: parseCSeq(getHeader(request, 'CSeq') ?? '').seq,
      ...extra,
    });
  }

  get key(): string {
    return dialogKey(this.callId, this.localTag, this.remoteTag);
  }

  /** Our Contact in this dialog. */
  get contact(): SipUri {
    return this.init.contact;
  }

  /** Our name-addr in the dialog (with our tag): the From of our requests. */
  get local(): NameAddr {
    return this.localUri;
  }

  get routes(): readonly string[] {
    return this.routeSet;
  }

  get target(): string {
    return this.remoteTarget;
  }

  /** Builds the next in-dialog request; an ACK reuses the INVITE's CSeq number (pass `cseq`), anything else takes a new one. */
  request(method: string, spec: RequestBody & { readonly cseq?: number } = {}): SipRequest {
    const cseq = spec.cseq ?? ++this.localSeq;
    const strict = this.routeSet.length > 0 && !isLooseRoute(this.routeSet[0]!);
    // §12.2.1.1: a strict router gets the Request-URI and the remote target goes last in the Route set.
    const uri = strict ? (safe(() => formatUri(parseNameAddr(this.routeSet[0]!).uri)) ?? this.remoteTarget) : this.remoteTarget;
    const routes = strict ? [...this.routeSet.slice(1), `<${this.remoteTarget}>`] : this.routeSet;
    const refresh = method === 'INVITE' || method === 'UPDATE';
    // RFC 3515 §2.4.1 and RFC 6665 §8.2: REFER and NOTIFY carry a Contact too, though they do not refresh the target.
    const withContact = refresh || method === 'ACK' || method === 'REFER' || method === 'NOTIFY';
    const hop = this.nextHop();
    return buildRequest({
      method,
      uri,
      from: this.localUri,
      to: this.remoteUri,
      callId: this.callId,
      cseq,
      via: this.stack.transports.local(hop.transport, hop.address),
      ...(withContact ? { contact: this.init.contact } : {}),
      routes,
      ...(spec.headers ? { headers: spec.headers } : {}),
      ...(spec.body && spec.body.length > 0 ? { body: spec.body, contentType: spec.contentType ?? 'application/sdp' } : {}),
    });
  }

  /**
   * Where in-dialog requests go: the first route if there is a route set, else the remote target (§12.2.1.1, RFC 3263).
   * Without a route set, a dialog made over TCP or TLS keeps using its connection while it is open (the flow, as in
   * RFC 5626 and RFC 5923): a phone behind NAT, or one that cannot accept connections, is reached only on it.
   */
  nextHop(): SipEndpoint {
    const { fallback } = this.init;
    if (this.routeSet.length === 0 && isStreamTransport(fallback.transport) && this.stack.transports.hasConnection(fallback)) {
      return fallback;
    }
    const next = this.routeSet[0] ?? `<${this.remoteTarget}>`;
    if (this.hop?.next !== next) this.hop = { next, uri: safe(() => parseNameAddr(next).uri) };
    const { uri } = this.hop;
    if (!uri) return fallback;
    const transport = uriTransport(uri.scheme, uri.params.find(([n]) => n === 'transport')?.[1]) ?? fallback.transport;
    const address = uri.host.replace(/^\[|\]$/g, '');
    const port = uri.port ?? defaultPort(transport);
    const same = fallback.address === address && fallback.port === port && fallback.transport === transport;
    // A TLS hop keeps the name it is verified against when it is the peer the dialog began with.
    return same && fallback.tls ? { transport, address, port, tls: fallback.tls } : { transport, address, port };
  }

  /** Sends a request outside any transaction (the ACK of a 2xx, §13.2.2.4). */
  sendStateless(request: SipRequest): void {
    this.stack.sendStateless(request, this.nextHop());
  }

  /**
   * Builds and sends an in-dialog request in its own client transaction. A 401/407 is answered once per realm
   * (again when the nonce was only stale) with the same request under a new CSeq carrying the credentials; the user
   * hears only the final outcome.
   */
  send(method: string, spec: RequestBody, user: ClientTransactionUser): SipRequest {
    const tried = new Set<string>();
    const attempt = (auth: readonly SipHeader[]): SipRequest => {
      const request = this.request(method, { ...spec, headers: [...(spec.headers ?? []), ...auth] });
      this.stack.request(request, this.nextHop(), {
        ...user,
        onResponse: (response) => {
          if (response.status === 401 || response.status === 407) {
            const header = this.credentialsFor(request, response, tried);
            if (header) {
              attempt([header]);
              return;
            }
          }
          user.onResponse(response);
        },
      });
      return request;
    };
    return attempt([]);
  }

  private credentialsFor(request: SipRequest, response: SipResponse, tried: Set<string>): SipHeader | undefined {
    const credentials = this.init.credentials;
    if (!credentials) return undefined;
    const proxy = response.status === 407;
    const challenge = getHeaders(response, proxy ? 'Proxy-Authenticate' : 'WWW-Authenticate')
      .map((value) => safe(() => parseAuthChallenge(value)))
      .find((c) => c !== undefined && isSupportedDigestChallenge(c));
    const realm = challenge?.params.realm;
    if (!challenge || realm === undefined) return undefined;
    // Credentials refused once for a realm are refused: retrying would loop (unless the nonce was only stale).
    if (tried.has(realm) && challenge.params.stale?.toLowerCase() !== 'true') return undefined;
    tried.add(realm);
    const digest = computeDigestCredentials({ challenge, credentials, method: request.method, uri: request.uri });
    return { name: proxy ? 'Proxy-Authorization' : 'Authorization', value: formatDigestCredentials(digest) };
  }

  /**
   * §12.2.2: a request of the peer's in this dialog. False when its CSeq is lower than the last one (answer 500);
   * a target-refresh request's Contact becomes the remote target.
   */
  receive(request: SipRequest): boolean {
    if (request.method === 'ACK' || request.method === 'CANCEL') return true;
    const seq = safe(() => parseCSeq(getHeader(request, 'CSeq') ?? '').seq);
    if (seq === undefined) return false;
    if (this.remoteSeq !== undefined && seq < this.remoteSeq) return false;
    this.remoteSeq = seq;
    if (request.method === 'INVITE' || request.method === 'UPDATE') this.refreshTarget(request);
    return true;
  }

  /** A 2xx to our target-refresh request carries the peer's new Contact (§12.2.1.2). */
  refreshTarget(message: SipRequest | SipResponse): void {
    const uri = contactUri(message);
    if (uri) this.remoteTarget = uri;
  }
}

function safe<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}
