import { formatNameAddr, formatVia, getHeader, getHeaders, parseNameAddr } from '../message/headers.js';
import type { NameAddr, SipHeader, SipRequest, SipResponse, SipUri } from '../message/types.js';
import type { SipEndpoint } from '../transport/types.js';
import { newBranch } from './ids.js';

export const USER_AGENT = 'Dialplane';
const MAX_FORWARDS = '70';
/** The methods we take (§20.5): REFER and the NOTIFYs of its implicit subscription (RFC 3515) in a dialog. */
export const ALLOW = 'INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO, PRACK, REFER, NOTIFY';
/** The option tags we support (§20.37): session timers (RFC 4028) and reliable provisional responses (RFC 3262). */
export const SUPPORTED = 'timer, 100rel';
export const SUPPORTED_OPTIONS: ReadonlySet<string> = new Set(['timer', '100rel']);
/** The bodies we read in requests (§20.1). */
export const ACCEPT = 'application/sdp';

export interface RequestSpec {
  readonly method: string;
  readonly uri: string;
  readonly from: NameAddr;
  readonly to: NameAddr;
  readonly callId: string;
  readonly cseq: number;
  /** Our address for the Via; the branch is new unless given (CANCEL and non-2xx ACK reuse the INVITE's). */
  readonly via: SipEndpoint;
  readonly branch?: string;
  readonly contact?: SipUri;
  readonly routes?: readonly string[];
  readonly headers?: readonly SipHeader[];
  readonly body?: Buffer;
  readonly contentType?: string;
}

/** The top-Via branch of each request buildRequest made: its client transaction is keyed by it without parsing it back. */
const branches = new WeakMap<SipRequest, string>();

/** The branch buildRequest put in `request`'s top Via; undefined for a request made otherwise (parse its Via then). */
export function builtBranch(request: SipRequest): string | undefined {
  return branches.get(request);
}

export function buildRequest(spec: RequestSpec): SipRequest {
  const branch = spec.branch ?? newBranch();
  const headers: SipHeader[] = [
    {
      name: 'Via',
      value: formatVia({
        transport: spec.via.transport.toUpperCase(),
        host: hostForHeader(spec.via.address),
        port: spec.via.port,
        params: [
          ['branch', branch],
          ['rport', null],
        ],
      }),
    },
    { name: 'Max-Forwards', value: MAX_FORWARDS },
    ...(spec.routes ?? []).map((value) => ({ name: 'Route', value })),
    { name: 'From', value: formatNameAddr(spec.from) },
    { name: 'To', value: formatNameAddr(spec.to) },
    { name: 'Call-ID', value: spec.callId },
    { name: 'CSeq', value: `${spec.cseq} ${spec.method}` },
  ];
  if (spec.contact) headers.push({ name: 'Contact', value: formatNameAddr({ displayName: undefined, uri: spec.contact, params: [] }) });
  if (spec.method === 'INVITE' || spec.method === 'OPTIONS') headers.push({ name: 'Allow', value: ALLOW });
  headers.push({ name: 'User-Agent', value: USER_AGENT });
  headers.push(...(spec.headers ?? []));
  const body = spec.body ?? Buffer.alloc(0);
  if (body.length > 0) headers.push({ name: 'Content-Type', value: spec.contentType ?? 'application/sdp' });
  const request: SipRequest = { kind: 'request', method: spec.method, uri: spec.uri, headers, body };
  branches.set(request, branch);
  return request;
}

export interface ResponseSpec {
  readonly toTag?: string;
  readonly contact?: SipUri;
  readonly headers?: readonly SipHeader[];
  readonly body?: Buffer;
  readonly contentType?: string;
}

/** §8.2.6.2: a response copies Via, From, To, Call-ID and CSeq of its request (and Record-Route for dialogs). */
/** The most of a parse error's message a 400's reason phrase carries. */
const MAX_REASON_DETAIL = 100;

/**
 * The reason phrase of a 400 for a request that could not be read: the parser's message says why, but it may quote
 * the request (a parameter, a URI scheme), and §25.1's Reason-Phrase allows no control character besides HTAB: a NUL
 * or ESC copied from the request would make the answer itself malformed. Those become "?", and a long message is cut.
 */
export function badRequestReason(error: unknown): string {
  const message = (error instanceof Error ? error.message : String(error)).replace(/[\x00-\x08\x0a-\x1f\x7f]/g, '?');
  return `Bad Request (${message.length > MAX_REASON_DETAIL ? `${message.slice(0, MAX_REASON_DETAIL)}...` : message})`;
}

export function buildResponse(request: SipRequest, status: number, reason: string, spec: ResponseSpec = {}): SipResponse {
  const copied = (name: string) => request.headers.filter((h) => h.name === name);
  const toValue = getHeader(request, 'To') ?? '';
  let to = toValue;
  if (spec.toTag && status > 100) {
    const parsed = parseNameAddr(toValue);
    if (!parsed.params.some(([name]) => name === 'tag')) {
      to = formatNameAddr({ ...parsed, params: [...parsed.params, ['tag', spec.toTag]] });
    }
  }
  const headers: SipHeader[] = [
    ...copied('Via'),
    ...(status > 100 && status < 300 ? copied('Record-Route') : []),
    ...copied('From'),
    { name: 'To', value: to },
    ...copied('Call-ID'),
    ...copied('CSeq'),
  ];
  if (spec.contact) headers.push({ name: 'Contact', value: formatNameAddr({ displayName: undefined, uri: spec.contact, params: [] }) });
  if (request.method === 'INVITE' || request.method === 'OPTIONS') headers.push({ name: 'Allow', value: ALLOW });
  headers.push({ name: 'Server', value: USER_AGENT }, ...(spec.headers ?? []));
  const body = spec.body ?? Buffer.alloc(0);
  if (body.length > 0) headers.push({ name: 'Content-Type', value: spec.contentType ?? 'application/sdp' });
  return { kind: 'response', status, reason, headers, body };
}

/**
 * §17.1.1.3: the ACK for a non-2xx final response has the INVITE's Request-URI, Call-ID, From, top Via (same branch),
 * CSeq number and Route set, and the response's To (with the tag it added).
 */
export function buildNon2xxAck(invite: SipRequest, response: SipResponse): SipRequest {
  const pick = (message: SipRequest | SipResponse, name: string) => message.headers.filter((h) => h.name === name);
  const topVia = pick(invite, 'Via')[0];
  const cseq = (getHeader(invite, 'CSeq') ?? '').split(/\s+/)[0] ?? '1';
  const headers: SipHeader[] = [
    ...(topVia ? [topVia] : []),
    { name: 'Max-Forwards', value: MAX_FORWARDS },
    ...pick(invite, 'Route'),
    ...pick(invite, 'From'),
    ...pick(response, 'To'),
    ...pick(invite, 'Call-ID'),
    { name: 'CSeq', value: `${cseq} ACK` },
  ];
  return { kind: 'request', method: 'ACK', uri: invite.uri, headers, body: Buffer.alloc(0) };
}

/** §9.1: CANCEL copies the INVITE's Request-URI, Call-ID, To, From, top Via, Route and CSeq number. */
export function buildCancel(invite: SipRequest): SipRequest {
  const pick = (name: string) => invite.headers.filter((h) => h.name === name);
  const cseq = (getHeader(invite, 'CSeq') ?? '').split(/\s+/)[0] ?? '1';
  const topVia = pick('Via')[0];
  const headers: SipHeader[] = [
    ...(topVia ? [topVia] : []),
    { name: 'Max-Forwards', value: MAX_FORWARDS },
    ...pick('Route'),
    ...pick('From'),
    ...pick('To'),
    ...pick('Call-ID'),
    { name: 'CSeq', value: `${cseq} CANCEL` },
    { name: 'User-Agent', value: USER_AGENT },
  ];
  return { kind: 'request', method: 'CANCEL', uri: invite.uri, headers, body: Buffer.alloc(0) };
}

/** Record-Route values of a 2xx, reversed: the UAC's route set (§12.1.2). */
export function routeSetFromResponse(response: SipResponse): string[] {
  return getHeaders(response, 'Record-Route').reverse();
}

export function hostForHeader(address: string): string {
  return address.includes(':') && !address.startsWith('[') ? `[${address}]` : address;
}
