/**
 * The start line and header section of a message (RFC 3261 §7.1-§7.3), shared by the datagram parser and the
 * stream framer. Works on the bytes up to the blank line; the caller decides where the body is.
 */
import { canonicalHeaderName } from './header-names.js';
import { inSet, isToken, isWsp, TOKEN_CHARS, trimWsp } from './syntax.js';
import { checkRequestUri } from './uri.js';
import { SipParseError } from './types.js';
import type { SipHeader, SipLimits, SipMessage } from './types.js';

type StartLine =
  | { readonly kind: 'request'; readonly method: string; readonly uri: string }
  | { readonly kind: 'response'; readonly status: number; readonly reason: string };

export interface ParsedHead {
  readonly start: StartLine;
  readonly headers: readonly SipHeader[];
  /** The Content-Length value, if the message carries one (all copies agreeing). */
  readonly contentLength: number | undefined;
}

const LF = 0x0a;
const CR = 0x0d;
// ignoreBOM: a leading U+FEFF is content (it must survive a round trip), not a byte-order mark to drop.
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const lenientDecoder = new TextDecoder('utf-8', { ignoreBOM: true });

/**
 * Finds the empty line that ends the header section in buf[from, to): CRLF CRLF, LF LF or a mix. Returns the
 * offset just past the last header line's terminator and the offset where the body starts.
 */
export function findHeadEnd(buf: Buffer, from: number, to: number): { headEnd: number; bodyStart: number } | undefined {
  const view = to === buf.length ? buf : buf.subarray(0, to);
  let i = view.indexOf(LF, from);
  while (i >= 0) {
    if (i + 1 < to && view[i + 1] === LF) return { headEnd: i + 1, bodyStart: i + 2 };
    if (i + 2 < to && view[i + 1] === CR && view[i + 2] === LF) return { headEnd: i + 1, bodyStart: i + 3 };
    i = view.indexOf(LF, i + 1);
  }
  return undefined;
}

export function skipLineBreaks(buf: Buffer, from: number, to: number): number {
  let i = from;
  while (i < to && (buf[i] === CR || buf[i] === LF)) i++;
  return i;
}

/** The partial view a server needs to answer 400 to a request it could not parse. */
export function partialOf(head: ParsedHead): SipParseError['partial'] {
  return head.start.kind === 'request' ? { method: head.start.method, headers: head.headers } : undefined;
}

export function buildMessage(head: ParsedHead, body: Buffer): SipMessage {
  const { start, headers } = head;
  return start.kind === 'request'
    ? { kind: 'request', method: start.method, uri: start.uri, headers, body }
    : { kind: 'response', status: start.status, reason: start.reason, headers, body };
}

/** Parses buf[start, headEnd): a start line and header lines, each ending in LF or CRLF. */
export function parseHead(buf: Buffer, start: number, headEnd: number, limits: SipLimits): ParsedHead {
  const bytes = buf.subarray(start, headEnd);
  for (let i = bytes.indexOf(CR); i >= 0; i = bytes.indexOf(CR, i + 1)) {
    // A bare CR is neither a line break nor header content; accepting it invites header-injection ambiguity.
    if (bytes[i + 1] !== LF) throw new SipParseError('bare CR in header section');
  }
  // Decoded line by line so that one header in a legacy charset (Latin-1 display names are common) spoils only
  // itself: the message is still refused, but a request keeps a partial view that a 400 can be built from.
  const lines: string[] = [];
  let invalidUtf8 = false;
  for (let from = 0; from < bytes.length; ) {
    const lf = bytes.indexOf(LF, from);
    const end = lf < 0 ? bytes.length : lf;
    const line = bytes.subarray(from, end > from && bytes[end - 1] === CR ? end - 1 : end);
    try {
      lines.push(decoder.decode(line));
    } catch {
      if (lines.length === 0) throw new SipParseError('start line is not valid UTF-8');
      invalidUtf8 = true;
      lines.push(lenientDecoder.decode(line));
    }
    from = end + 1;
  }
  const startText = lines[0] ?? '';
  if (Buffer.byteLength(startText) > limits.maxHeaderLineBytes) throw new SipParseError('start line too long');

  let startLine: StartLine | undefined;
  let method: string | undefined;
  let firstError: string | undefined;
  try {
    startLine = parseStartLine(startText);
    if (startLine.kind === 'request') method = startLine.method;
  } catch (error) {
    if (!(error instanceof SipParseError) || /^SIP\//i.test(startText)) throw error;
    // Not a readable request line, but if it starts with a method the server can still answer 400 (RFC 4475
    // §3.1.2.7-§3.1.2.11 expect that), so keep reading the headers for the error's partial view.
    const space = startText.indexOf(' ');
    const token = space < 0 ? startText : startText.slice(0, space);
    if (!isToken(token)) throw error;
    method = token;
    firstError = error.message;
  }

  const headers: SipHeader[] = [];
  const partial = (): SipParseError['partial'] => (method === undefined ? undefined : { method, headers });
  const fatal = (message: string): never => {
    throw new SipParseError(message, partial());
  };
  const noteError = (message: string): void => {
    if (startLine?.kind === 'response') fatal(message);
    firstError ??= message;
  };

  let pending: string[] | undefined;
  const flush = (): void => {
    if (!pending) return;
    const logical = pending;
    pending = undefined;
    if (Buffer.byteLength(logical.join('\r\n')) > limits.maxHeaderLineBytes) fatal('header line too long');
    if (headers.length >= limits.maxHeaders) fatal('too many headers');
    const header = parseHeaderLine(logical);
    if (typeof header === 'string') noteError(header);
    else headers.push(header);
  };
  if (invalidUtf8) noteError('header section is not valid UTF-8');
  for (let n = 1; n < lines.length; n++) {
    const line = lines[n] as string;
    if (isWsp(line.charCodeAt(0))) {
      if (!pending) noteError('continuation line without a header');
      else pending.push(line);
      continue;
    }
    flush();
    pending = [line];
  }
  flush();

  let contentLength: number | undefined;
  for (const header of headers) {
    if (header.name !== 'Content-Length') continue;
    const value = /^[0-9]{1,10}$/.test(header.value) ? Number(header.value) : NaN;
    if (Number.isNaN(value)) noteError('invalid Content-Length');
    else if (contentLength !== undefined && contentLength !== value) noteError('conflicting Content-Length values');
    else contentLength = value;
  }
  if (firstError !== undefined || startLine === undefined) fatal(firstError ?? 'unreadable start line');
  return { start: startLine as StartLine, headers, contentLength };
}

/** Returns the header, or the reason it is malformed. */
function parseHeaderLine(lines: string[]): SipHeader | string {
  const first = lines[0] as string;
  let i = 0;
  while (i < first.length && inSet(TOKEN_CHARS, first.charCodeAt(i))) i++;
  if (i === 0) return 'header line does not start with a field name';
  const name = first.slice(0, i);
  while (isWsp(first.charCodeAt(i))) i++;
  if (first[i] !== ':') return `header "${name.slice(0, 64)}" has no colon`;
  // Folding (CRLF + whitespace) and the whitespace around it become one SP (§7.3.1); a continuation line that is
  // only whitespace adds nothing. Joining the pieces once keeps a header with many folds linear.
  const pieces = [first.slice(i + 1), ...lines.slice(1)].map(trimWsp).filter((piece) => piece !== '');
  return { name: canonicalHeaderName(name), value: pieces.join(' ') };
}

function parseStartLine(line: string): StartLine {
  if (/^SIP\//i.test(line)) {
    // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
    const match = /^(SIP\/[^ ]*) ([0-9]{3})(?: (.*))?$/.exec(line);
    if (!match) throw new SipParseError('malformed status line');
    if ((match[1] as string).toUpperCase() !== 'SIP/2.0') throw new SipParseError('unsupported SIP version');
    const status = Number(match[2]);
    if (status < 100 || status > 699) throw new SipParseError('status code out of range');
    // The SP before an empty Reason-Phrase is required, but its absence harms nothing, so it is tolerated.
    const reason = match[3] ?? '';
    if (/[\x00-\x08\x0a-\x1f\x7f]/.test(reason)) throw new SipParseError('control character in reason phrase');
    return { kind: 'response', status, reason };
  }
  // Request-Line = Method SP Request-URI SP SIP-Version: exactly one SP between elements (RFC 4475 §3.1.2.8-10).
  const parts = line.split(' ');
  if (parts.length !== 3) throw new SipParseError('request line must be Method SP Request-URI SP SIP-Version');
  const [method, uri, version] = parts as [string, string, string];
  if (!isToken(method)) throw new SipParseError('invalid method');
  if (version.toUpperCase() !== 'SIP/2.0') throw new SipParseError('unsupported SIP version');
  checkRequestUri(uri);
  return { kind: 'request', method, uri };
}
