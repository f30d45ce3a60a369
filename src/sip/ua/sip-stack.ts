import { formatVia, getHeader, parseCSeq, parseVia, splitHeaderValues } from '../message/headers.js';
import { SipParseError, type SipHeader, type SipLimits, type SipRequest, type SipResponse } from '../message/types.js';
import { SourceRateLimiter } from '../transport/source-limit.js';
import { validateRequest } from '../message/validate.js';
import {
  InviteClientTransaction,
  NonInviteClientTransaction,
  type ClientTransactionUser,
} from '../transaction/client-transactions.js';
import { InviteServerTransaction, NonInviteServerTransaction } from '../transaction/server-transactions.js';
import { DEFAULT_TIMER_BASE, realTimers, type SipTimerBase, type TimerScheduler } from '../transaction/timers.js';
import { SipTransports, type SipTlsServerOptions } from '../transport/sip-transports.js';
import { isStreamTransport, type InboundMessage, type SipEndpoint } from '../transport/types.js';
import { badRequestReason, buildNon2xxAck, buildResponse, builtBranch, type ResponseSpec } from './build.js';

export type ClientTransaction = InviteClientTransaction | NonInviteClientTransaction;
export type ServerTransaction = InviteServerTransaction | NonInviteServerTransaction;

/** A request that opened a server transaction, with the means to answer it. */
export interface IncomingRequest {
  readonly request: SipRequest;
  readonly source: SipEndpoint;
  readonly local: SipEndpoint;
  respond(status: number, reason: string, spec?: ResponseSpec): SipResponse;
  /** Sends a response built elsewhere (the UAS core's 2xx retransmissions go straight to the transport). */
  sendRaw(response: SipResponse): void;
}

export interface SipStackHandlers {
  /** A new request (not a retransmission, not an ACK): INVITE, BYE, OPTIONS, CANCEL, ... */
  onRequest(incoming: IncomingRequest): void;
  /** An ACK matching no transaction: the ACK for a 2xx, which belongs to a dialog. */
  onAck?(ack: SipRequest, source: SipEndpoint): void;
  /** A response matching no transaction: a 2xx retransmitted after the transaction ended. */
  onStrayResponse?(response: SipResponse, source: SipEndpoint): void;
  onParseError?(error: SipParseError, source: SipEndpoint): void;
}

export interface SipStackOptions {
  readonly host: string;
  readonly port: number;
  /** Advertised in Via and Contact instead of host. */
  readonly publicAddress?: string | undefined;
  readonly limits?: SipLimits;
  readonly timers?: TimerScheduler;
  readonly timerBase?: SipTimerBase;
  /** Per-source request limit (DIALPLANE_SIP_SOURCE_RATE / _BURST); none when absent or rate 0. */
  readonly sourceLimit?: SourceLimitOptions;
  /** SIP over TLS: the listener's certificate and port (none without), CAs trusted besides Node's own. */
  readonly tls?: SipTlsServerOptions | undefined;
  readonly tlsCa?: readonly string[] | undefined;
  /** How long an idle TCP or TLS connection is kept (2 minutes by default). */
  readonly streamIdleMs?: number;
  /** An outbound TLS connection opened without checking the peer's certificate (`;verify=off`). */
  readonly onUnverifiedTls?: (target: SipEndpoint) => void;
}

export interface SourceLimitOptions {
  readonly rate: number;
  readonly burst: number;
  readonly now?: () => number;
  /** A request over the limit: `answered` when it got 503 (INVITE, REGISTER), else it was dropped. */
  readonly onLimited?: (method: string, source: SipEndpoint, answered: boolean) => void;
}

/**
 * The transaction layer over the transports (RFC 3261 §17): matches every message to its transaction, creates server
 * transactions for new requests, absorbs retransmissions, and answers what no one else can (400 for a malformed
 * request whose start line was readable, 481 for a CANCEL matching nothing).
 */
export class SipStack {
  readonly transports: SipTransports;
  private readonly clients = new Map<string, ClientTransaction>();
  private readonly servers = new Map<string, ServerTransaction>();
  /** The scheduler and T1/T2/T4 every transaction and dialog of this stack runs on. */
  readonly timers: TimerScheduler;
  readonly base: SipTimerBase;
  private readonly limiter: SourceRateLimiter | undefined;
  private readonly onLimited: SourceLimitOptions['onLimited'];
  private handlers: SipStackHandlers = { onRequest: (incoming) => void incoming.respond(501, 'Not Implemented') };

  constructor(options: SipStackOptions) {
    this.timers = options.timers ?? realTimers;
    this.base = options.timerBase ?? DEFAULT_TIMER_BASE;
    const limit = options.sourceLimit;
    this.limiter = limit && limit.rate > 0 ? new SourceRateLimiter(limit.rate, limit.burst, limit.now) : undefined;
    this.onLimited = limit?.onLimited;
    this.transports = new SipTransports({
      host: options.host,
      ...(options.publicAddress ? { publicAddress: options.publicAddress } : {}),
      port: options.port,
      ...(options.limits ? { limits: options.limits } : {}),
      ...(options.tls ? { tls: options.tls } : {}),
      ...(options.tlsCa ? { tlsCa: options.tlsCa } : {}),
      ...(options.streamIdleMs !== undefined ? { tcpIdleMs: options.streamIdleMs } : {}),
      ...(options.onUnverifiedTls ? { onUnverifiedTls: options.onUnverifiedTls } : {}),
      onMessage: (inbound) => this.receive(inbound),
      onParseError: (error, source) => this.handlers.onParseError?.(error, source),
    });
  }

  setHandlers(handlers: SipStackHandlers): void {
    this.handlers = handlers;
  }

  async start(): Promise<number> {
    return this.transports.listen();
  }

  async stop(): Promise<void> {
    for (const tx of this.clients.values()) tx.terminate();
    for (const tx of this.servers.values()) tx.terminate();
    await this.transports.close();
  }

  get activeTransactions(): number {
    return this.clients.size + this.servers.size;
  }

  /** Starts a client transaction; the request's top Via must carry a fresh branch. */
  request(request: SipRequest, target: SipEndpoint, user: ClientTransactionUser): ClientTransaction {
    const key = clientKey(request);
    const options = {
      request,
      reliable: isStreamTransport(target.transport),
      timers: this.timers,
      base: this.base,
      send: (message: SipRequest) =>
        this.transports.send(message, target, (error) => {
          const tx = this.clients.get(key);
          if (tx && tx.state !== 'terminated') {
            tx.terminate();
            user.onTransportError(error);
          }
        }),
      user: { ...user, onTerminated: () => this.clients.delete(key) },
    };
    const tx =
      request.method === 'INVITE'
        ? new InviteClientTransaction(options, buildNon2xxAck)
        : new NonInviteClientTransaction(options);
    this.clients.set(key, tx);
    tx.start();
    return tx;
  }

  /** Sends outside any transaction: the ACK for a 2xx (a dialog's business, §13.2.2.4). */
  sendStateless(message: SipRequest | SipResponse, target: SipEndpoint): void {
    this.transports.send(message, target);
  }

  private receive(inbound: InboundMessage): void {
    const { source, local } = inbound;
    let message = inbound.message;
    if (message.kind === 'response') {
      let key: string;
      try {
        key = clientKey(message);
      } catch {
        return; // A response we cannot match is dropped (§18.1.2).
      }
      const tx = this.clients.get(key);
      if (tx) tx.receive(message);
      else this.handlers.onStrayResponse?.(message, source);
      return;
    }
    let key: string;
    try {
      key = serverKey(message);
      // Mismatched CSeq methods, repeated or missing mandatory headers (RFC 4475 §3.1.2.17-18, §3.3): refused here.
      validateRequest(message);
      message = stampReceived(message, source);
    } catch (error) {
      if (message.method !== 'ACK') this.replyStateless(message, source, 400, badRequestReason(error));
      return;
    }
    const existing = this.servers.get(key);
    if (message.method === 'ACK') {
      if (existing instanceof InviteServerTransaction) existing.receiveAck();
      else this.handlers.onAck?.(message, source);
      return;
    }
    if (existing) {
      existing.receiveRetransmission();
      return;
    }
    // New requests only: retransmissions and ACKs (above) are not counted, so a live call is not cut by its own peer.
    if (this.limiter && !this.limiter.take(source.address)) {
      const answered = message.method === 'INVITE' || message.method === 'REGISTER';
      if (answered) {
        const retryAfter = { name: 'Retry-After', value: String(this.limiter.retryAfterS(source.address)) };
        this.replyStateless(message, source, 503, 'Service Unavailable', [retryAfter]);
      }
      this.onLimited?.(message.method, source, answered);
      return;
    }
    if (message.method === 'CANCEL' && !this.servers.has(serverKey(message, 'INVITE'))) {
      this.replyStateless(message, source, 481, 'Call/Transaction Does Not Exist');
      return;
    }
    this.openServerTransaction(message, source, local, key);
  }

  private openServerTransaction(request: SipRequest, source: SipEndpoint, local: SipEndpoint, key: string): void {
    const target = responseTarget(request, source);
    const options = {
      request,
      reliable: isStreamTransport(source.transport),
      timers: this.timers,
      base: this.base,
      send: (response: SipResponse) => this.transports.send(response, target),
      user: { onTerminated: () => this.servers.delete(key) },
      trying: (r: SipRequest) => buildResponse(r, 100, 'Trying'),
    };
    const tx = request.method === 'INVITE' ? new InviteServerTransaction(options) : new NonInviteServerTransaction(options);
    this.servers.set(key, tx);
    if (tx instanceof InviteServerTransaction) tx.start();
    const incoming: IncomingRequest = {
      request,
      source,
      local,
      respond: (status, reason, spec) => {
        const response = buildResponse(request, status, reason, spec);
        tx.respond(response);
        return response;
      },
      sendRaw: (response) => this.transports.send(response, target),
    };
    try {
      this.handlers.onRequest(incoming);
    } catch {
      if (tx.state === 'trying' || tx.state === 'proceeding') incoming.respond(500, 'Server Internal Error');
    }
  }

  /** Finds the INVITE server transaction a CANCEL refers to (same branch, §9.2). */
  inviteTransactionFor(cancel: SipRequest): InviteServerTransaction | undefined {
    const tx = this.servers.get(serverKey(cancel, 'INVITE'));
    return tx instanceof InviteServerTransaction ? tx : undefined;
  }

  private replyStateless(request: SipRequest, source: SipEndpoint, status: number, reason: string, headers: SipHeader[] = []): void {
    try {
      this.transports.send(buildResponse(request, status, reason, { headers }), responseTarget(request, source));
    } catch {
      // Not even a response could be built: the request is dropped.
    }
  }
}

/** §17.1.3: a response matches the client transaction with the same top-Via branch and CSeq method. */
function clientKey(message: SipRequest | SipResponse): string {
  if (message.kind === 'request') {
    const built = builtBranch(message);
    if (built) return `${built}|${message.method === 'ACK' ? 'INVITE' : message.method}`;
  }
  const via = parseVia(firstValue(getHeader(message, 'Via')));
  const branch = paramOf(via.params, 'branch');
  if (!branch) throw new SipParseError('top Via has no branch');
  const method = message.kind === 'request' ? message.method : parseCSeq(getHeader(message, 'CSeq') ?? '').method;
  return `${branch}|${method === 'ACK' ? 'INVITE' : method}`;
}

/** §17.2.3: branch, sent-by and method; an ACK (and a CANCEL when asked) looks for the INVITE's transaction. */
function serverKey(request: SipRequest, asMethod?: string): string {
  const via = parseVia(firstValue(getHeader(request, 'Via')));
  const branch = paramOf(via.params, 'branch');
  if (!branch) throw new SipParseError('top Via has no branch');
  parseCSeq(getHeader(request, 'CSeq') ?? '');
  const method = asMethod ?? (request.method === 'ACK' ? 'INVITE' : request.method);
  return `${branch}|${via.host}:${via.port ?? 5060}|${method}`;
}

/**
 * §18.2.1 and RFC 3581 §4: the top Via of a request gets `received` (the source address) when its sent-by host differs
 * from it, and, when it asks with a bare `rport`, `rport=<source port>` and `received` always. Responses copy that Via,
 * so the client sees the address and port we saw.
 */
export function stampReceived(request: SipRequest, source: SipEndpoint): SipRequest {
  const index = request.headers.findIndex((h) => h.name === 'Via');
  if (index < 0) return request;
  const values = splitHeaderValues(request.headers[index]!.value);
  const via = parseVia(values[0]!);
  const wantsRport = via.params.some(([name, value]) => name === 'rport' && value === null);
  const host = via.host.replace(/^\[|\]$/g, '').toLowerCase();
  if (!wantsRport && host === source.address.toLowerCase()) return request;
  const params = via.params.filter(([name]) => name !== 'received' && !(wantsRport && name === 'rport'));
  params.push(['received', source.address]);
  if (wantsRport) params.push(['rport', String(source.port)]);
  values[0] = formatVia({ ...via, params });
  const headers = [...request.headers];
  headers[index] = { name: 'Via', value: values.join(', ') };
  return { ...request, headers };
}

/** Responses go back where the request came from (symmetric response routing, RFC 3581), on the same transport. */
function responseTarget(_request: SipRequest, source: SipEndpoint): SipEndpoint {
  return source;
}

function firstValue(value: string | undefined): string {
  if (value === undefined) throw new SipParseError('no Via header');
  return splitHeaderValues(value)[0] ?? value;
}

function paramOf(params: ReadonlyArray<readonly [string, string | null]>, name: string): string | undefined {
  return params.find(([n]) => n === name)?.[1] ?? undefined;
}
