/**
 * The checks a message must pass after it parses and before the transaction layer acts on it (RFC 3261 §8.1.1,
 * §8.2, §16.3, §18.1.2 / §18.2.1). parseMessage only checks framing and line syntax; the header grammar is
 * parsed on demand. Several RFC 4475 "invalid" messages (mismatch01/02, multi01, insuf, ...) are well-framed and
 * are only refused here: a server answers them 400 instead of dropping them.
 */
import { canonicalHeaderName } from './header-names.js';
import { getHeader, getHeaders, parseCSeq, parseMaxForwards, parseNameAddr, parseVia } from './headers.js';
import { fail, guard } from './syntax.js';
import type { SipMessage, SipRequest, SipResponse } from './types.js';

/** §8.1.1: the headers every request and response carries (Max-Forwards is optional: RFC 2543 peers omit it). */
const REQUIRED = ['To', 'From', 'Call-ID', 'CSeq', 'Via'] as const;
/** Headers whose grammar allows exactly one value (§7.3.1: only list headers may be repeated). */
const SINGLE = ['To', 'From', 'Call-ID', 'CSeq', 'Max-Forwards', 'Content-Type', 'Expires', 'Min-Expires'];

function checkCommon(m: SipMessage): void {
  for (const name of REQUIRED) if (getHeader(m, name) === undefined) fail(`missing ${name} header`);
  for (const name of SINGLE) {
    const count = m.headers.filter((h) => canonicalHeaderName(h.name) === name).length;
    if (count > 1) fail(`${name} header appears ${count} times`);
  }
  parseCSeq(getHeader(m, 'CSeq') as string);
  const callId = getHeader(m, 'Call-ID') as string;
  if (callId === '' || /[\s]/.test(callId)) fail('invalid Call-ID');
  parseNameAddr(getHeader(m, 'To') as string);
  parseNameAddr(getHeader(m, 'From') as string);
  const vias = getHeaders(m, 'Via');
  if (vias.length === 0) fail('missing Via header');
  for (const via of vias) parseVia(via);
  const maxForwards = getHeader(m, 'Max-Forwards');
  if (maxForwards !== undefined) parseMaxForwards(maxForwards);
}

/** Throws SipParseError (to be answered 400) unless the request is fit for the transaction layer. */
export function validateRequest(m: SipRequest): void {
  guard('request', () => {
    checkCommon(m);
    const cseq = parseCSeq(getHeader(m, 'CSeq') as string);
    // §8.1.1.5: the CSeq method MUST match the request's method (RFC 4475 §3.1.2.17, §3.1.2.18).
    if (cseq.method !== m.method) fail(`CSeq method ${cseq.method} does not match ${m.method}`);
    // A request's Contact becomes a registration or a dialog's remote target, so a bad one is refused up front
    // (RFC 4475 §3.1.2.13). A Contact with a scheme other than sip/sips/tel is refused too; a registrar that
    // wants to answer 416 instead should look at the scheme before calling this.
    for (const contact of getHeaders(m, 'Contact')) if (contact !== '*') parseNameAddr(contact);
  });
}

/** Throws SipParseError (the response is then discarded, §18.1.2) unless the response is usable. */
export function validateResponse(m: SipResponse): void {
  guard('response', () => checkCommon(m));
}

export function validateMessage(m: SipMessage): void {
  if (m.kind === 'request') validateRequest(m);
  else validateResponse(m);
}
