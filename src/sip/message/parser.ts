/**
 * Parses one whole SIP message (RFC 3261 §7, §18.3, §25) from a datagram, and re-exports the stream framer.
 *
 * Tolerant where the RFC asks receivers to be (bare LF line ends, leading CRLFs, compact and oddly-cased header
 * names, folding, LWS around ':'), strict where leniency would change the meaning of a message (the request line,
 * SIP version, Request-URI, Content-Length). Every failure is a SipParseError.
 */
import { buildMessage, findHeadEnd, parseHead, partialOf, skipLineBreaks } from './head.js';
import { DEFAULT_SIP_LIMITS, SipParseError } from './types.js';
import type { SipLimits, SipMessage } from './types.js';

export { SipStreamFramer } from './framer.js';

export function parseMessage(data: Buffer, limits: SipLimits = DEFAULT_SIP_LIMITS): SipMessage {
  try {
    if (data.length > limits.maxMessageBytes) throw new SipParseError('message exceeds the size limit');
    // §7.5: CRLFs before the start line are ignored (keep-alives, sloppy senders).
    const start = skipLineBreaks(data, 0, data.length);
    if (start === data.length) throw new SipParseError('empty message');
    // A datagram that ends right after its last header line, without the empty line, is accepted as having no
    // body: a datagram cannot be cut short in transit, and the RFC's own baddn.dat (RFC 4475) is sent that way.
    const end =
      findHeadEnd(data, start, data.length) ??
      (data[data.length - 1] === 0x0a ? { headEnd: data.length, bodyStart: data.length } : undefined);
    if (!end) throw new SipParseError('no empty line after the header section');
    const head = parseHead(data, start, end.headEnd, limits);
    const available = data.length - end.bodyStart;
    // §18.3: over UDP a missing Content-Length means the body runs to the end of the datagram; octets past
    // Content-Length are discarded; fewer octets than announced make the message unusable.
    const length = head.contentLength ?? available;
    if (length > available) throw new SipParseError('message body is shorter than Content-Length', partialOf(head));
    if (length > limits.maxBodyBytes) throw new SipParseError('message body exceeds the size limit', partialOf(head));
    // A copy, so the message does not pin (or change with) the caller's receive buffer.
    const body = Buffer.from(data.subarray(end.bodyStart, end.bodyStart + length));
    return buildMessage(head, body);
  } catch (error) {
    if (error instanceof SipParseError) throw error;
    throw new SipParseError(`unparseable message: ${error instanceof Error ? error.message : String(error)}`);
  }
}
