/**
 * Headers and bodies of call transfer: REFER (RFC 3515), Referred-By (RFC 3892), Replaces (RFC 3891), the implicit
 * subscription's Event and Subscription-State (RFC 6665 §8.2) and the message/sipfrag status line its NOTIFYs carry
 * (RFC 3420). Each parser throws SipParseError when the value does not match its grammar.
 *
 *   Refer-To           = ("Refer-To" / "r") HCOLON ( name-addr / addr-spec ) *(SEMI generic-param)
 *   Referred-By        = ("Referred-By" / "b") HCOLON referrer-uri *( SEMI (referredby-id-param / generic-param) )
 *   referredby-id-param = "cid" EQUAL sip-clean-msg-id
 *   Replaces           = "Replaces" HCOLON callid *(SEMI replaces-param)
 *   replaces-param     = to-tag / from-tag / early-flag / generic-param
 *   to-tag = "to-tag" EQUAL token;  from-tag = "from-tag" EQUAL token;  early-flag = "early-only"
 *   Event              = ("Event" / "o") HCOLON event-type *( SEMI event-param );  event-param = "id" EQUAL token
 *   Subscription-State = "Subscription-State" HCOLON substate-value *( SEMI subexp-params )
 *   sipfrag            = [ start-line ] *message-header [ CRLF [ message-body ] ]
 *   Status-Line        = SIP-Version SP Status-Code SP Reason-Phrase CRLF
 *
 * A Refer-To URI carries the headers of the request to send as URI headers (`?Replaces=...`, escaped); parseUri
 * unescapes them, so replacesOf reads the Replaces value as it would appear in an INVITE.
 */
import { formatNameAddr, formatParams, parseNameAddr, parseParams } from './headers.js';
import { fail, guard, isToken, trimWsp } from './syntax.js';
import type { NameAddr, SipHeader, SipParams } from './types.js';

/** The target of a REFER: a name-addr whose URI may hold URI headers (Replaces) and a `method` parameter. */
export type ReferTo = NameAddr;

export interface ReferredBy {
  readonly referrer: NameAddr;
  /** The cid parameter (a Content-ID of an S/MIME token in the body), without its quotes. */
  readonly cid: string | undefined;
}

export interface Replaces {
  readonly callId: string;
  readonly toTag: string;
  readonly fromTag: string;
  readonly earlyOnly: boolean;
  /** Parameters other than to-tag, from-tag and early-only, in order. */
  readonly params: SipParams;
}

export interface EventHeader {
  /** The event package, lower-cased ("refer"). */
  readonly type: string;
  readonly id: string | undefined;
  readonly params: SipParams;
}

export interface SubscriptionState {
  /** "active", "pending", "terminated" or an extension value, lower-cased. */
  readonly state: string;
  readonly reason: string | undefined;
  readonly expires: number | undefined;
  readonly params: SipParams;
}

export interface SipFrag {
  readonly status: number;
  readonly reason: string;
  /** Headers after the status line, as `Name: value` lines (message/sipfrag may carry any, or none). */
  readonly headers: readonly SipHeader[];
}

/** word = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~" / "(" / ")" / "<" / ">" / ":" / "\" / DQUOTE / "/" / "[" / "]" / "?" / "{" / "}") */
const WORD = /^[A-Za-z0-9\-.!%*_+`'~()<>:\\"/[\]?{}]+$/;
/** callid = word [ "@" word ] */
function isCallId(value: string): boolean {
  const at = value.indexOf('@');
  if (at < 0) return WORD.test(value);
  return WORD.test(value.slice(0, at)) && WORD.test(value.slice(at + 1));
}

/** dot-atom "@" (dot-atom / host), between double quotes; the atom characters of RFC 3892 §3. */
const CLEAN_MSG_ID = /^"[A-Za-z0-9\-!#$%&'*+/=?^_`{|}~.]+@[A-Za-z0-9\-!#$%&'*+/=?^_`{|}~.[\]:]+"$/;

export function parseReferTo(text: string): ReferTo {
  return guard('Refer-To', () => {
    const value = parseNameAddr(text);
    if (value.uri.scheme === 'tel' && value.uri.headers.length > 0) fail('a tel URI has no headers');
    return value;
  });
}

export function formatReferTo(value: ReferTo): string {
  return guard('Refer-To', () => formatNameAddr(value));
}

/** The Replaces URI header of a Refer-To (an attended transfer), parsed; undefined when there is none. */
export function replacesOf(referTo: ReferTo): Replaces | undefined {
  const header = referTo.uri.headers.find(([name]) => name.toLowerCase() === 'replaces');
  return header ? parseReplaces(header[1]) : undefined;
}

/** The method the referee is asked to use (the `method` URI parameter, RFC 3515 §2.1); INVITE when absent. */
export function referMethodOf(referTo: ReferTo): string {
  return (referTo.uri.params.find(([name]) => name === 'method')?.[1] ?? 'INVITE').toUpperCase();
}

export function parseReferredBy(text: string): ReferredBy {
  return guard('Referred-By', () => {
    const referrer = parseNameAddr(text);
    const cid = referrer.params.find(([name]) => name === 'cid');
    if (cid && (cid[1] === null || !CLEAN_MSG_ID.test(cid[1]))) fail('cid must be a quoted "local@host" message id');
    return { referrer, cid: cid?.[1] ? cid[1].slice(1, -1) : undefined };
  });
}

export function formatReferredBy(value: ReferredBy): string {
  return guard('Referred-By', () => {
    const others = value.referrer.params.filter(([name]) => name !== 'cid');
    if (value.cid !== undefined && !CLEAN_MSG_ID.test(`"${value.cid}"`)) fail('cid must be a "local@host" message id');
    const params: SipParams = value.cid === undefined ? others : [...others, ['cid', `"${value.cid}"`]];
    return formatNameAddr({ ...value.referrer, params });
  });
}

export function parseReplaces(text: string): Replaces {
  return guard('Replaces', () => {
    const value = trimWsp(text);
    const semi = value.indexOf(';');
    const callId = trimWsp(semi < 0 ? value : value.slice(0, semi));
    if (!isCallId(callId)) fail('Replaces must start with a Call-ID');
    const all = semi < 0 ? [] : parseParams(value.slice(semi));
    let toTag: string | undefined;
    let fromTag: string | undefined;
    let earlyOnly = false;
    const params: Array<readonly [string, string | null]> = [];
    for (const [name, v] of all) {
      if (name === 'to-tag' || name === 'from-tag') {
        if (v === null || !isToken(v)) fail(`${name} must be a token`);
        if ((name === 'to-tag' ? toTag : fromTag) !== undefined) fail(`${name} appears twice`);
        if (name === 'to-tag') toTag = v;
        else fromTag = v;
      } else if (name === 'early-only') {
        if (v !== null) fail('early-only takes no value');
        earlyOnly = true;
      } else {
        params.push([name, v]);
      }
    }
    // RFC 3891 §6.1: exactly one to-tag and one from-tag.
    if (toTag === undefined || fromTag === undefined) fail('Replaces needs a to-tag and a from-tag');
    return { callId, toTag, fromTag, earlyOnly, params };
  });
}

export function formatReplaces(value: Replaces): string {
  return guard('Replaces', () => {
    if (!isCallId(value.callId)) fail('invalid Call-ID');
    if (!isToken(value.toTag) || !isToken(value.fromTag)) fail('tags must be tokens');
    const reserved = new Set(['to-tag', 'from-tag', 'early-only']);
    if (value.params.some(([name]) => reserved.has(name))) fail('params must not repeat to-tag, from-tag or early-only');
    const params: SipParams = [
      ['to-tag', value.toTag],
      ['from-tag', value.fromTag],
      ...(value.earlyOnly ? [['early-only', null] as const] : []),
      ...value.params,
    ];
    return `${value.callId}${formatParams(params)}`;
  });
}

export function parseEvent(text: string): EventHeader {
  return guard('Event', () => {
    const value = trimWsp(text);
    const semi = value.indexOf(';');
    const type = trimWsp(semi < 0 ? value : value.slice(0, semi));
    // event-type = event-package *( "." event-template ): tokens without "." inside each part.
    if (!isToken(type) || type.startsWith('.') || type.endsWith('.')) fail('invalid event type');
    const params = semi < 0 ? [] : parseParams(value.slice(semi));
    const id = params.find(([name]) => name === 'id');
    if (id && (id[1] === null || !isToken(id[1]))) fail('id must be a token');
    return { type: type.toLowerCase(), id: id?.[1] ?? undefined, params };
  });
}

export function formatEvent(value: { readonly type: string; readonly id?: string | undefined }): string {
  return guard('Event', () => {
    if (!isToken(value.type)) fail('invalid event type');
    if (value.id !== undefined && !isToken(value.id)) fail('id must be a token');
    return `${value.type}${value.id === undefined ? '' : `;id=${value.id}`}`;
  });
}

export function parseSubscriptionState(text: string): SubscriptionState {
  return guard('Subscription-State', () => {
    const value = trimWsp(text);
    const semi = value.indexOf(';');
    const state = trimWsp(semi < 0 ? value : value.slice(0, semi));
    if (!isToken(state)) fail('invalid subscription state');
    const params = semi < 0 ? [] : parseParams(value.slice(semi));
    const reason = params.find(([name]) => name === 'reason');
    if (reason && (reason[1] === null || !isToken(reason[1]))) fail('reason must be a token');
    const expires = params.find(([name]) => name === 'expires');
    if (expires && (expires[1] === null || !/^[0-9]{1,10}$/.test(expires[1]) || Number(expires[1]) > 2 ** 32 - 1)) {
      fail('expires must be delta-seconds');
    }
    return {
      state: state.toLowerCase(),
      reason: reason?.[1]?.toLowerCase() ?? undefined,
      expires: expires?.[1] ? Number(expires[1]) : undefined,
      params,
    };
  });
}

export function formatSubscriptionState(value: { readonly state: string; readonly reason?: string; readonly expires?: number }): string {
  return guard('Subscription-State', () => {
    if (!isToken(value.state)) fail('invalid subscription state');
    const params: Array<readonly [string, string | null]> = [];
    if (value.reason !== undefined) {
      if (!isToken(value.reason)) fail('reason must be a token');
      params.push(['reason', value.reason]);
    }
    if (value.expires !== undefined) {
      if (!Number.isInteger(value.expires) || value.expires < 0 || value.expires > 2 ** 32 - 1) fail('expires out of range');
      params.push(['expires', String(value.expires)]);
    }
    return `${value.state}${formatParams(params)}`;
  });
}

const STATUS_LINE = /^SIP\/2\.0 ([1-6][0-9]{2}) ([^\r\n]*)$/;

/**
 * A message/sipfrag body as a REFER's NOTIFY carries it: a status line (the referee's new call's progress), then
 * optional headers. A fragment without a status line (a request line, or headers only) is refused: it says
 * nothing about the call.
 */
export function parseSipFrag(body: Buffer | string): SipFrag {
  return guard('message/sipfrag', () => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    const lines = text.split(/\r\n|\n/);
    const match = STATUS_LINE.exec(lines[0] ?? '');
    if (!match) return fail('a sipfrag must start with a SIP/2.0 status line');
    const reason = match[2] as string;
    if (/[\u0000-\u0008\u000a-\u001f\u007f]/.test(reason)) fail('control character in the reason phrase');
    const headers: SipHeader[] = [];
    for (const line of lines.slice(1)) {
      if (line === '') break; // the end of the headers: a body may follow, which a status report does not need
      const colon = line.indexOf(':');
      const name = colon > 0 ? trimWsp(line.slice(0, colon)) : '';
      if (!isToken(name)) fail('invalid header line in the sipfrag');
      headers.push({ name, value: trimWsp(line.slice(colon + 1)) });
    }
    return { status: Number(match[1]), reason, headers };
  });
}

/** Writes a sipfrag status report: `SIP/2.0 200 OK` and any headers, each line ending in CRLF. */
export function formatSipFrag(value: { readonly status: number; readonly reason: string; readonly headers?: readonly SipHeader[] }): string {
  return guard('message/sipfrag', () => {
    if (!Number.isInteger(value.status) || value.status < 100 || value.status > 699) fail('status out of range');
    if (/[\u0000-\u0008\u000a-\u001f\u007f]/.test(value.reason)) fail('control character in the reason phrase');
    let out = `SIP/2.0 ${value.status} ${value.reason}\r\n`;
    for (const header of value.headers ?? []) {
      if (!isToken(header.name) || /[\r\n]/.test(header.value)) fail('invalid header in the sipfrag');
      out += `${header.name}: ${header.value}\r\n`;
    }
    return out;
  });
}
