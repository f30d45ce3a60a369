/**
 * Character classes and small lexical helpers shared by the message and header parsers (RFC 3261 §25.1).
 * Everything here works on JS strings that were decoded from UTF-8, so a "character" above 0x7F is always a
 * UTF8-NONASCII code point; the URI helpers deal in octets only where percent-escapes require it.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { SipParseError } from './types.js';

function charSet(chars: string, alphanum = true): Uint8Array {
  const set = new Uint8Array(128);
  if (alphanum) {
    for (let c = 0x30; c <= 0x39; c++) set[c] = 1;
    for (let c = 0x41; c <= 0x5a; c++) set[c] = 1;
    for (let c = 0x61; c <= 0x7a; c++) set[c] = 1;
  }
  for (const ch of chars) set[ch.charCodeAt(0)] = 1;
  return set;
}

/** token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~") */
export const TOKEN_CHARS = charSet("-.!%*_+`'~");
const MARK = "-_.!~*'()";
/** user = 1*( unreserved / escaped / user-unreserved ) */
export const USER_CHARS = charSet(MARK + '&=+$,;?/');
/** password = *( unreserved / escaped / "&" / "=" / "+" / "$" / "," ) */
export const PASSWORD_CHARS = charSet(MARK + '&=+$,');
/** paramchar = param-unreserved / unreserved / escaped */
export const PARAM_CHARS = charSet(MARK + '[]/:&+$');
/** hname / hvalue = *( hnv-unreserved / unreserved / escaped ) */
export const HEADER_CHARS = charSet(MARK + '[]/?:+$');
/** RFC 3986 absolute-URI characters (minus '%', handled as escapes): enough to vouch for an unknown-scheme URI. */
export const ABSOLUTE_URI_CHARS = charSet(MARK + ';/?:@&=+$,[]#');

export function inSet(set: Uint8Array, code: number): boolean {
  return code < 128 && set[code] === 1;
}

export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) if (!inSet(TOKEN_CHARS, s.charCodeAt(i))) return false;
  return true;
}

export function isWsp(code: number | undefined): boolean {
  return code === 0x20 || code === 0x09;
}

/**
 * Trims SP and HTAB only. String.prototype.trim would also strip U+FEFF and other Unicode spaces, which are
 * legitimate UTF-8 content in SIP header values (RFC 4475 §3.1.1.2 puts a BOM at the start of one).
 */
export function trimWsp(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && isWsp(s.charCodeAt(start))) start++;
  while (end > start && isWsp(s.charCodeAt(end - 1))) end--;
  return start === 0 && end === s.length ? s : s.slice(start, end);
}

export function skipWsp(s: string, i: number): number {
  while (i < s.length && isWsp(s.charCodeAt(i))) i++;
  return i;
}

export function fail(message: string): never {
  throw new SipParseError(message);
}

/** Runs a parser so that nothing but SipParseError can escape it, whatever the input did to the code. */
export function guard<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof SipParseError) throw error;
    throw new SipParseError(`${what}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/**
 * Reads a quoted-string starting at s[i] === '"'. Returns the unescaped content and the index after the closing
 * quote. qdtext excludes raw control characters; quoted-pair admits any ASCII except CR and LF (so NUL may be quoted).
 */
export function readQuoted(s: string, i: number): { value: string; end: number } {
  if (s.charCodeAt(i) !== 0x22) fail('expected a quoted string');
  let out = '';
  let j = i + 1;
  while (j < s.length) {
    const c = s.charCodeAt(j);
    if (c === 0x22) return { value: out, end: j + 1 };
    if (c === 0x5c) {
      const next = s.charCodeAt(j + 1);
      if (Number.isNaN(next) || next > 0x7f || next === 0x0a || next === 0x0d) fail('bad quoted-pair in quoted string');
      out += s[j + 1];
      j += 2;
      continue;
    }
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) fail('control character in quoted string');
    out += s[j];
    j++;
  }
  return fail('unterminated quoted string');
}

/** Quotes a string as a quoted-string, escaping what qdtext cannot carry; CR and LF cannot be carried at all. */
export function quote(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x0a || c === 0x0d) fail('CR or LF cannot appear in a quoted string');
    if (c === 0x22 || c === 0x5c || (c < 0x20 && c !== 0x09) || c === 0x7f) out += '\\';
    out += s[i];
  }
  return out + '"';
}

/** True for a syntactically complete quoted-string (used where a raw gen-value is stored with its quotes). */
export function isQuotedString(s: string): boolean {
  if (s.charCodeAt(0) !== 0x22) return false;
  try {
    return readQuoted(s, 0).end === s.length;
  } catch {
    return false;
  }
}

const HEX = '0123456789ABCDEF';
// ignoreBOM: a leading U+FEFF is content (it must survive a round trip), not a byte-order mark to drop.
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();

/** Percent-escapes every octet of the UTF-8 form of s that is not in the allowed set. */
export function escapeComponent(s: string, allowed: Uint8Array): string {
  let plain = true;
  for (let i = 0; i < s.length && plain; i++) plain = inSet(allowed, s.charCodeAt(i));
  if (plain) return s;
  let out = '';
  for (const byte of encoder.encode(s)) {
    if (inSet(allowed, byte)) out += String.fromCharCode(byte);
    else out += '%' + HEX[byte >> 4] + HEX[byte & 15];
  }
  return out;
}

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x41 && code <= 0x46) return code - 0x37;
  if (code >= 0x61 && code <= 0x66) return code - 0x57;
  return -1;
}

/**
 * Validates a URI component against its character set and resolves escapes. The escaped octets must form UTF-8:
 * the model holds strings, and a lossy decoding would make two different URIs compare equal.
 */
export function unescapeComponent(s: string, allowed: Uint8Array, what: string): string {
  if (!s.includes('%')) {
    for (let i = 0; i < s.length; i++) if (!inSet(allowed, s.charCodeAt(i))) fail(`invalid character in ${what}`);
    return s;
  }
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25) {
      const hi = hexValue(s.charCodeAt(i + 1));
      const lo = hexValue(s.charCodeAt(i + 2));
      if (hi < 0 || lo < 0) fail(`bad escape in ${what}`);
      bytes.push(hi * 16 + lo);
      i += 2;
    } else if (inSet(allowed, c)) {
      bytes.push(c);
    } else {
      fail(`invalid character in ${what}`);
    }
  }
  try {
    return decoder.decode(Uint8Array.from(bytes));
  } catch {
    return fail(`escapes in ${what} are not UTF-8`);
  }
}

const LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?$/;

/**
 * host = hostname / IPv4address / IPv6reference. Underscores are tolerated in labels because real deployments
 * use them (container and SRV-style names) even though RFC 3261 hostname excludes them.
 */
export function isValidHost(host: string): boolean {
  // The same few hosts (our own, the trunk's, the phones') are checked in every message.
  if (validHosts.has(host)) return true;
  const valid = checkHost(host);
  if (valid) {
    if (validHosts.size >= VALID_HOSTS_KEPT) validHosts.clear();
    validHosts.add(host);
  }
  return valid;
}

const VALID_HOSTS_KEPT = 1024;
const validHosts = new Set<string>();

function checkHost(host: string): boolean {
  if (host.startsWith('[')) return host.endsWith(']') && isIPv6(host.slice(1, -1));
  if (host.length === 0 || host.length > 255) return false;
  const labels = host.endsWith('.') ? host.slice(0, -1).split('.') : host.split('.');
  if (!labels.every((label) => LABEL.test(label))) return false;
  // A numeric top label can only be the last octet of an IPv4 address (toplabel starts with ALPHA).
  if (/^[0-9]+$/.test(labels[labels.length - 1] ?? '')) return isIPv4(host);
  return true;
}

export function parsePort(text: string): number {
  if (!/^[0-9]{1,5}$/.test(text)) fail('invalid port');
  const port = Number(text);
  if (port > 65535) fail('port out of range');
  return port;
}

export { isIPv4, isIPv6 };
