/**
 * Writes a SipMessage in wire form (RFC 3261 §7): start line, headers in order, Content-Length, CRLF, body.
 * Content-Length is always recomputed from the body, so a message built or edited in code cannot announce a
 * length that disagrees with what is sent. Values are written as held (one line each, no folding).
 */
import { sameHeaderName } from './header-names.js';
import { isToken } from './syntax.js';
import { SipParseError } from './types.js';
import type { SipMessage } from './types.js';

const CRLF = '\r\n';

/** Throws SipParseError when the message cannot be represented on the wire (e.g. a CR or LF inside a value). */
export function serializeMessage(m: SipMessage): Buffer {
  let head: string;
  if (m.kind === 'request') {
    if (!isToken(m.method)) throw new SipParseError('cannot serialize: invalid method');
    if (m.uri === '' || /[\s]/.test(m.uri)) throw new SipParseError('cannot serialize: invalid Request-URI');
    head = `${m.method} ${m.uri} SIP/2.0${CRLF}`;
  } else {
    if (!Number.isInteger(m.status) || m.status < 100 || m.status > 699) {
      throw new SipParseError('cannot serialize: status code out of range');
    }
    if (/[\r\n]/.test(m.reason)) throw new SipParseError('cannot serialize: CR or LF in reason phrase');
    head = `SIP/2.0 ${m.status} ${m.reason}${CRLF}`;
  }
  let lengthWritten = false;
  for (const { name, value } of m.headers) {
    if (sameHeaderName(name, 'Content-Length')) {
      // The first Content-Length keeps its position; any others would contradict it.
      if (!lengthWritten) head += `Content-Length: ${m.body.length}${CRLF}`;
      lengthWritten = true;
      continue;
    }
    if (!isToken(name)) throw new SipParseError(`cannot serialize: invalid header name "${name.slice(0, 64)}"`);
    // A CR or LF would end the header early and let a value inject headers of its own.
    if (/[\r\n]/.test(value)) throw new SipParseError(`cannot serialize: CR or LF in ${name} value`);
    head += `${name}: ${value}${CRLF}`;
  }
  if (!lengthWritten) head += `Content-Length: ${m.body.length}${CRLF}`;
  head += CRLF;
  return m.body.length === 0 ? Buffer.from(head, 'utf8') : Buffer.concat([Buffer.from(head, 'utf8'), m.body]);
}
