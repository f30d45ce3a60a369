/**
 * Typed views of individual header values (RFC 3261 §20, §25.1). The message parser keeps every header as raw
 * text; these functions parse one value on demand and throw SipParseError when it does not match its grammar.
 *
 * Header parameters (generic-param) keep a quoted-string value with its quotes: feature tags (RFC 3840) give a
 * quoted value a different meaning from a token, and keeping it raw lets a formatter re-emit it unchanged.
 */
import { canonicalHeaderName, isListHeader } from './header-names.js';
import { fail, guard, inSet, isIPv4, isIPv6, isQuotedString, isToken, isValidHost, isWsp, parsePort } from './syntax.js';
import { quote, readQuoted, skipWsp, TOKEN_CHARS, trimWsp } from './syntax.js';
import { formatUri, parseUri } from './uri.js';
import type { CSeq, NameAddr, SipMessage, SipParams, Via } from './types.js';

export { formatUri, parseUri } from './uri.js';
export { parseAuthChallenge, parseAuthCredentials, formatAuthChallenge, formatAuthCredentials } from './auth.js';
export type { AuthChallenge } from './auth.js';
export { canonicalHeaderName, isListHeader } from './header-names.js';

/** gen-value = token / host / quoted-string; a bare IPv6 address is admitted for Via received (§20.42). */
function isGenValue(value: string): boolean {
  return isToken(value) || isValidHost(value) || isIPv6(value) || isQuotedString(value);
}

function readToken(s: string, i: number): number {
  while (i < s.length && inSet(TOKEN_CHARS, s.charCodeAt(i))) i++;
  return i;
}

/** Reads `*( SEMI generic-param )` from s[i] to the end; SEMI and EQUAL allow whitespace on both sides. */
function readParams(s: string, from: number): SipParams {
  const params: Array<readonly [string, string | null]> = [];
  let i = skipWsp(s, from);
  while (i < s.length) {
    if (s[i] !== ';') fail(`expected ";" in parameters, found "${s[i]}"`);
    i = skipWsp(s, i + 1);
    const nameEnd = readToken(s, i);
    if (nameEnd === i) fail('empty or invalid parameter name');
    const name = s.slice(i, nameEnd).toLowerCase();
    i = skipWsp(s, nameEnd);
    let value: string | null = null;
    if (s[i] === '=') {
      i = skipWsp(s, i + 1);
      if (s[i] === '"') {
        const end = readQuoted(s, i).end;
        value = s.slice(i, end);
        i = end;
      } else {
        const start = i;
        while (i < s.length && !isWsp(s.charCodeAt(i)) && s[i] !== ';' && s[i] !== ',') i++;
        value = s.slice(start, i);
        if (!isGenValue(value)) fail(`invalid value for parameter "${name}"`);
      }
      i = skipWsp(s, i);
    }
    params.push([name, value]);
  }
  return params;
}

/** Parses a header parameter list such as `;tag=abc ; lr;q=0.5` (the leading ';' may be omitted). */
export function parseParams(text: string): SipParams {
  return guard('parameters', () => {
    const start = skipWsp(text, 0);
    return readParams(text[start] === ';' || start === text.length ? text : `;${text.slice(start)}`, 0);
  });
}

export function formatParams(params: SipParams): string {
  return guard('parameters', () => {
    let out = '';
    for (const [name, value] of params) {
      if (!isToken(name)) fail(`invalid parameter name "${name}"`);
      if (value !== null && !isGenValue(value)) fail(`invalid value for parameter "${name}"`);
      out += value === null ? `;${name}` : `;${name}=${value}`;
    }
    return out;
  });
}

function readBracketedUri(s: string, open: number): { uri: string; end: number } {
  const close = s.indexOf('>', open);
  if (close < 0) fail('missing ">"');
  const uri = s.slice(open + 1, close);
  // LAQUOT = SWS "<" and RAQUOT = ">" SWS: whitespace inside the brackets is not allowed (RFC 4475 §3.1.2.15).
  if (isWsp(uri.charCodeAt(0)) || isWsp(uri.charCodeAt(uri.length - 1))) fail('whitespace inside "<>"');
  return { uri, end: close + 1 };
}

/**
 * name-addr / addr-spec followed by header parameters (From, To, Contact, Route, Record-Route, Refer-To, ...).
 * For a bare addr-spec every ';' starts a header parameter (§20), so such a URI cannot carry ',', '?' or ';'.
 */
export function parseNameAddr(text: string): NameAddr {
  return guard('name-addr', () => {
    const s = text;
    let i = skipWsp(s, 0);
    let displayName: string | undefined;
    let uriText: string;
    if (s[i] === '"') {
      const quoted = readQuoted(s, i);
      displayName = quoted.value;
      i = skipWsp(s, quoted.end);
      if (s[i] !== '<') fail('expected "<" after the display name');
      ({ uri: uriText, end: i } = readBracketedUri(s, i));
    } else {
      // display-name = *(token LWS): look past tokens and whitespace for the "<" of a name-addr.
      let j = i;
      while (j < s.length && (inSet(TOKEN_CHARS, s.charCodeAt(j)) || isWsp(s.charCodeAt(j)))) j++;
      if (s[j] === '<') {
        const name = trimWsp(s.slice(i, j));
        displayName = name === '' ? undefined : name;
        ({ uri: uriText, end: i } = readBracketedUri(s, j));
      } else {
        const semi = s.indexOf(';', i);
        const end = semi < 0 ? s.length : semi;
        uriText = trimWsp(s.slice(i, end));
        if (/[<>"]/.test(uriText)) fail('a display name must be tokens or a quoted string');
        if (/[\s,?]/.test(uriText)) fail('a URI with ",", "?" or ";" must be enclosed in "<>"');
        i = end;
      }
    }
    return { displayName, uri: parseUri(uriText), params: readParams(s, i) };
  });
}

/** Always writes the name-addr form: it is valid for every URI, while a bare addr-spec is not. */
export function formatNameAddr(value: NameAddr): string {
  return guard('name-addr', () => {
    const name = value.displayName === undefined ? '' : `${quote(value.displayName)} `;
    return `${name}<${formatUri(value.uri)}>${formatParams(value.params)}`;
  });
}

/**
 * One via-parm (split a Via header value with splitHeaderValues first).
 *   via-parm = sent-protocol LWS sent-by *( SEMI via-params );  sent-protocol = "SIP" SLASH "2.0" SLASH transport
 */
export function parseVia(text: string): Via {
  return guard('Via', () => {
    const s = text;
    const parts: string[] = [];
    let i = skipWsp(s, 0);
    for (let k = 0; k < 3; k++) {
      if (k > 0) {
        if (s[i] !== '/') fail('expected "/" in Via sent-protocol');
        i = skipWsp(s, i + 1);
      }
      const end = readToken(s, i);
      if (end === i) fail('invalid Via sent-protocol');
      parts.push(s.slice(i, end));
      i = skipWsp(s, end);
    }
    const [name, version, transport] = parts as [string, string, string];
    if (name.toUpperCase() !== 'SIP' || version !== '2.0') fail('Via sent-protocol is not SIP/2.0');
    if (!isWsp(s.charCodeAt(i - 1))) fail('Via needs whitespace before sent-by');

    let host: string;
    if (s[i] === '[') {
      const close = s.indexOf(']', i);
      if (close < 0) fail('unterminated IPv6 reference in Via');
      host = s.slice(i, close + 1);
      i = close + 1;
    } else {
      const start = i;
      while (i < s.length && !isWsp(s.charCodeAt(i)) && !':;,'.includes(s[i] as string)) i++;
      host = s.slice(start, i);
    }
    if (!isValidHost(host)) fail('invalid Via sent-by host');
    i = skipWsp(s, i);
    let port: number | undefined;
    if (s[i] === ':') {
      i = skipWsp(s, i + 1);
      const start = i;
      while (i < s.length && s.charCodeAt(i) >= 0x30 && s.charCodeAt(i) <= 0x39) i++;
      port = parsePort(s.slice(start, i));
    }
    const params = readParams(s, i);
    for (const [param, value] of params) checkViaParam(param, value);
    return { transport: transport.toUpperCase(), host, port, params };
  });
}

function checkViaParam(name: string, value: string | null): void {
  switch (name) {
    case 'received': {
      const address = value?.startsWith('[') ? value.slice(1, -1) : value;
      if (address == null || !(isIPv4(address) || isIPv6(address))) fail('Via received must be an IP address');
      break;
    }
    case 'rport':
      if (value !== null) parsePort(value); // RFC 3581: a flag in requests, the source port in responses
      break;
    case 'ttl':
      if (value === null || !/^[0-9]{1,3}$/.test(value) || Number(value) > 255) fail('Via ttl must be 0-255');
      break;
    case 'maddr':
      if (value === null || !isValidHost(value)) fail('Via maddr must be a host');
      break;
    case 'branch':
      if (value === null || !isToken(value)) fail('Via branch must be a token');
      break;
  }
}

export function formatVia(via: Via): string {
  return guard('Via', () => {
    if (!isToken(via.transport)) fail('invalid Via transport');
    if (!isValidHost(via.host)) fail('invalid Via host');
    for (const [name, value] of via.params) checkViaParam(name, value);
    let out = `SIP/2.0/${via.transport.toUpperCase()} ${via.host}`;
    if (via.port !== undefined) {
      if (!Number.isInteger(via.port) || via.port < 0 || via.port > 65535) fail('port out of range');
      out += `:${via.port}`;
    }
    return out + formatParams(via.params);
  });
}

/** CSeq = 1*DIGIT LWS Method; §8.1.1.5 caps the number below 2**31. */
export function parseCSeq(text: string): CSeq {
  return guard('CSeq', () => {
    const match = /^([0-9]+)[ \t]+([^ \t]+)$/.exec(trimWsp(text));
    if (!match) return fail('CSeq must be a number and a method');
    const seq = parseBoundedInteger(match[1] as string, 2 ** 31 - 1, 'CSeq number');
    const method = match[2] as string;
    if (!isToken(method)) fail('invalid CSeq method');
    return { seq, method };
  });
}

export function formatCSeq(cseq: CSeq): string {
  return guard('CSeq', () => {
    if (!Number.isInteger(cseq.seq) || cseq.seq < 0 || cseq.seq > 2 ** 31 - 1) fail('CSeq number out of range');
    if (!isToken(cseq.method)) fail('invalid CSeq method');
    return `${cseq.seq} ${cseq.method}`;
  });
}

/** Max-Forwards = 1*DIGIT, 0-255 (§20.22); leading zeros are legal (RFC 4475 §3.1.1.1 sends 0068). */
export function parseMaxForwards(text: string): number {
  return guard('Max-Forwards', () => parseBoundedInteger(trimWsp(text), 255, 'Max-Forwards'));
}

function parseBoundedInteger(digits: string, max: number, what: string): number {
  if (!/^[0-9]+$/.test(digits)) fail(`${what} must be digits`);
  const significant = digits.replace(/^0+(?=.)/, '');
  if (significant.length > 15 || Number(significant) > max) fail(`${what} out of range`);
  return Number(significant);
}

/**
 * Splits a comma-separated header value into its elements, ignoring commas inside quoted strings and inside
 * "<...>". Elements are trimmed; empty elements are kept (so that "a,,b" is visibly malformed) except that an
 * empty value has no elements at all.
 */
export function splitHeaderValues(value: string): string[] {
  return guard('header list', () => {
    const out: string[] = [];
    let start = 0;
    let i = 0;
    while (i < value.length) {
      const c = value[i];
      if (c === '"') {
        i = readQuoted(value, i).end;
        continue;
      }
      if (c === '<') {
        const close = value.indexOf('>', i);
        if (close < 0) fail('missing ">" in header value');
        i = close + 1;
        continue;
      }
      if (c === ',') {
        out.push(trimWsp(value.slice(start, i)));
        start = i + 1;
      }
      i++;
    }
    const last = trimWsp(value.slice(start));
    if (out.length === 0 && last === '') return [];
    out.push(last);
    return out;
  });
}

function matches(headerName: string, wanted: string): boolean {
  return canonicalHeaderName(headerName).toLowerCase() === wanted;
}

/** The first value of a header (name case-insensitive, compact form accepted), as one raw line. */
export function getHeader(m: SipMessage, name: string): string | undefined {
  const wanted = canonicalHeaderName(name).toLowerCase();
  return m.headers.find((h) => matches(h.name, wanted))?.value;
}

/**
 * Every value of a header in order: list headers (Via, Contact, Route, ...) are split into elements, any other
 * header (unknown ones included, §7.3.1 and RFC 4475 §3.1.1.1) gives one value per line.
 */
export function getHeaders(m: SipMessage, name: string): string[] {
  const wanted = canonicalHeaderName(name).toLowerCase();
  const split = isListHeader(name);
  const out: string[] = [];
  for (const header of m.headers) {
    if (!matches(header.name, wanted)) continue;
    if (split) out.push(...splitHeaderValues(header.value));
    else out.push(header.value);
  }
  return out;
}

const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const RFC1123 = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), ([0-9]{2}) ([A-Z][a-z]{2}) ([0-9]{4}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) GMT$/;

/** SIP-date = rfc1123-date, always in GMT (§20.17); RFC 4475 §3.1.2.11 sends "EST", which is invalid. */
export function parseSipDate(text: string): Date {
  return guard('Date', () => {
    const match = RFC1123.exec(trimWsp(text));
    if (!match) return fail('Date must be an RFC 1123 date in GMT');
    const [, , day, mon, year, hh, mm, ss] = match.map(String);
    const month = MONTHS.indexOf(mon as string);
    if (month < 0) fail('invalid month in Date');
    const date = new Date(Date.UTC(Number(year), month, Number(day), Number(hh), Number(mm), Number(ss)));
    const consistent =
      date.getUTCDate() === Number(day) && date.getUTCMonth() === month &&
      date.getUTCHours() === Number(hh) && date.getUTCMinutes() === Number(mm) && date.getUTCSeconds() === Number(ss);
    if (!consistent) fail('Date is not a real calendar time');
    return date;
  });
}

export function formatSipDate(date: Date): string {
  return guard('Date', () => {
    if (Number.isNaN(date.getTime())) fail('invalid Date');
    const pad = (n: number, width = 2): string => String(n).padStart(width, '0');
    return (
      `${WEEKDAYS[date.getUTCDay()]}, ${pad(date.getUTCDate())} ${MONTHS[date.getUTCMonth()]} ` +
      `${pad(date.getUTCFullYear(), 4)} ${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} GMT`
    );
  });
}
