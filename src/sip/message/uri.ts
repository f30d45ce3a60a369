/**
 * SIP, SIPS (RFC 3261 §19.1, §25.1) and tel (RFC 3966) URIs.
 *
 *   SIP-URI  = "sip:" [ userinfo ] hostport uri-parameters [ headers ]
 *   userinfo = ( user / telephone-subscriber ) [ ":" password ] "@"
 *
 * Components are held unescaped (user "I have spaces", not "I%20have%20spaces") because §19.1.4 compares URIs
 * after unescaping; formatUri escapes exactly what each component's character set does not allow.
 */
import { fail, guard, escapeComponent, isValidHost, parsePort, unescapeComponent, inSet } from './syntax.js';
import { ABSOLUTE_URI_CHARS, HEADER_CHARS, PARAM_CHARS, PASSWORD_CHARS, USER_CHARS } from './syntax.js';
import type { SipParams, SipUri } from './types.js';

const GLOBAL_NUMBER = /^\+[0-9().-]*[0-9][0-9().-]*$/;
const LOCAL_NUMBER = /^[0-9A-Fa-f*#().-]*[0-9A-Fa-f*#][0-9A-Fa-f*#().-]*$/;

export function parseUri(text: string): SipUri {
  return guard('URI', () => {
    const colon = text.indexOf(':');
    if (colon <= 0) fail('URI has no scheme');
    const scheme = text.slice(0, colon).toLowerCase();
    const rest = text.slice(colon + 1);
    if (scheme === 'sip' || scheme === 'sips') return parseSipUri(scheme, rest);
    if (scheme === 'tel') return parseTelUri(rest);
    return fail(`unsupported URI scheme "${text.slice(0, Math.min(colon, 32))}"`);
  });
}

function parseSipUri(scheme: 'sip' | 'sips', rest: string): SipUri {
  let user: string | undefined;
  let password: string | undefined;
  // '@' cannot appear unescaped after the userinfo, while ';' and '?' can appear inside the user part
  // (RFC 4475 §3.1.1.2 and §3.1.1.9): so the userinfo is found first, by its '@'.
  const at = rest.indexOf('@');
  const hostPart = at >= 0 ? rest.slice(at + 1) : rest;
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    const colon = userinfo.indexOf(':');
    const rawUser = colon >= 0 ? userinfo.slice(0, colon) : userinfo;
    if (rawUser === '') fail('URI has an empty user');
    user = unescapeComponent(rawUser, USER_CHARS, 'URI user');
    if (colon >= 0) password = unescapeComponent(userinfo.slice(colon + 1), PASSWORD_CHARS, 'URI password');
  }

  let i: number;
  let host: string;
  if (hostPart.startsWith('[')) {
    const close = hostPart.indexOf(']');
    if (close < 0) fail('unterminated IPv6 reference');
    host = hostPart.slice(0, close + 1);
    i = close + 1;
  } else {
    i = endOf(hostPart, 0, ':;?');
    host = hostPart.slice(0, i);
  }
  if (!isValidHost(host)) fail('invalid host in URI');

  let port: number | undefined;
  if (hostPart[i] === ':') {
    const end = endOf(hostPart, i + 1, ';?');
    port = parsePort(hostPart.slice(i + 1, end));
    i = end;
  }
  let params: SipParams = [];
  if (hostPart[i] === ';') {
    const end = endOf(hostPart, i + 1, '?');
    params = parseUriParams(hostPart.slice(i + 1, end));
    i = end;
  }
  let headers: Array<readonly [string, string]> = [];
  if (hostPart[i] === '?') {
    headers = parseUriHeaders(hostPart.slice(i + 1));
    i = hostPart.length;
  }
  if (i !== hostPart.length) fail('unexpected characters in URI');
  return { scheme, user, password, host, port, params, headers };
}

function parseTelUri(rest: string): SipUri {
  const semi = rest.indexOf(';');
  const number = semi >= 0 ? rest.slice(0, semi) : rest;
  if (!GLOBAL_NUMBER.test(number) && !LOCAL_NUMBER.test(number)) fail('invalid tel URI number');
  const params = semi >= 0 ? parseUriParams(rest.slice(semi + 1)) : [];
  return { scheme: 'tel', user: undefined, password: undefined, host: number, port: undefined, params, headers: [] };
}

function endOf(s: string, from: number, stops: string): number {
  let i = from;
  while (i < s.length && !stops.includes(s[i] as string)) i++;
  return i;
}

function parseUriParams(text: string): SipParams {
  return text.split(';').map((part) => {
    const eq = part.indexOf('=');
    const rawName = eq >= 0 ? part.slice(0, eq) : part;
    if (rawName === '') fail('empty URI parameter');
    const name = unescapeComponent(rawName, PARAM_CHARS, 'URI parameter').toLowerCase();
    const value = eq >= 0 ? unescapeComponent(part.slice(eq + 1), PARAM_CHARS, 'URI parameter') : null;
    return [name, value] as const;
  });
}

function parseUriHeaders(text: string): Array<readonly [string, string]> {
  return text.split('&').map((part) => {
    const eq = part.indexOf('=');
    if (eq <= 0) fail('URI header needs a name and "="');
    return [
      unescapeComponent(part.slice(0, eq), HEADER_CHARS, 'URI header'),
      unescapeComponent(part.slice(eq + 1), HEADER_CHARS, 'URI header'),
    ] as const;
  });
}

export function formatUri(u: SipUri): string {
  return guard('URI', () => {
    let out: string;
    if (u.scheme === 'tel') {
      if (u.user !== undefined || u.password !== undefined || u.port !== undefined || u.headers.length > 0) {
        fail('a tel URI has only a number and parameters');
      }
      if (!GLOBAL_NUMBER.test(u.host) && !LOCAL_NUMBER.test(u.host)) fail('invalid tel URI number');
      out = `tel:${u.host}`;
    } else if (u.scheme === 'sip' || u.scheme === 'sips') {
      out = `${u.scheme}:`;
      if (u.user !== undefined) {
        if (u.user === '') fail('URI user cannot be empty');
        out += escapeComponent(u.user, USER_CHARS);
        if (u.password !== undefined) out += ':' + escapeComponent(u.password, PASSWORD_CHARS);
        out += '@';
      } else if (u.password !== undefined) {
        fail('URI password without a user');
      }
      if (!isValidHost(u.host)) fail('invalid host in URI');
      out += u.host;
      if (u.port !== undefined) {
        if (!Number.isInteger(u.port) || u.port < 0 || u.port > 65535) fail('port out of range');
        out += `:${u.port}`;
      }
    } else {
      return fail('unsupported URI scheme');
    }
    for (const [name, value] of u.params) {
      if (name === '') fail('empty URI parameter');
      out += ';' + escapeComponent(name, PARAM_CHARS);
      if (value !== null) out += '=' + escapeComponent(value, PARAM_CHARS);
    }
    u.headers.forEach(([name, value], index) => {
      if (name === '') fail('empty URI header name');
      out += (index === 0 ? '?' : '&') + escapeComponent(name, HEADER_CHARS) + '=' + escapeComponent(value, HEADER_CHARS);
    });
    return out;
  });
}

/**
 * Checks a Request-URI (RFC 3261 §25.1 Request-URI = SIP-URI / SIPS-URI / absoluteURI). SIP, SIPS and tel URIs
 * are parsed in full; §19.1.1 Table 1 forbids the headers component in a Request-URI. Other schemes only need to be
 * absolute URIs: a proxy may route them, or a UAS answers 416.
 */
export function checkRequestUri(uri: string): void {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(uri);
  if (!scheme) fail('Request-URI is not an absolute URI');
  const name = (scheme[1] as string).toLowerCase();
  if (name === 'sip' || name === 'sips' || name === 'tel') {
    if (parseUri(uri).headers.length > 0) fail('Request-URI must not contain URI headers');
    return;
  }
  for (let i = 0; i < uri.length; i++) {
    const c = uri.charCodeAt(i);
    if (c === 0x25 && /^%[0-9A-Fa-f]{2}/.test(uri.slice(i, i + 3))) {
      i += 2;
      continue;
    }
    if (!inSet(ABSOLUTE_URI_CHARS, c)) fail('invalid character in Request-URI');
  }
}
