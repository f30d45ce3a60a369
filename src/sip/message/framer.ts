/**
 * Splits a TCP/TLS byte stream into SIP messages (RFC 3261 §18.3): a stream has no datagram boundaries, so
 * Content-Length is mandatory and is the only way to find where a body ends. CRLFs between messages are
 * keep-alives (RFC 5626 §3.5.1) and are skipped.
 *
 * Any error is fatal to the framer: after a bad header section or a missing Content-Length the position of the
 * next message is unknowable, so the transport should close the connection. Messages completed earlier in the
 * same push are lost with it, which is acceptable on a connection being torn down for sending garbage.
 */
import { buildMessage, findHeadEnd, parseHead, partialOf, skipLineBreaks } from './head.js';
import type { ParsedHead } from './head.js';
import { DEFAULT_SIP_LIMITS, SipParseError } from './types.js';
import type { SipLimits, SipMessage } from './types.js';

interface Pending {
  readonly head: ParsedHead;
  /** Offset of the body in the buffer (moves when the buffer is compacted). */
  bodyStart: number;
  readonly length: number;
}

export class SipStreamFramer {
  // One growable buffer with a live window [start, end): appending a chunk copies only the chunk, so a peer
  // dribbling a message byte by byte costs linear, not quadratic, time.
  private buf: Buffer = Buffer.alloc(0);
  private start = 0;
  private end = 0;
  /** Where to resume looking for the blank line, so each byte is scanned about once. */
  private scanFrom = 0;
  private pending: Pending | undefined;
  private failure: SipParseError | undefined;

  constructor(private readonly limits: SipLimits = DEFAULT_SIP_LIMITS) {}

  /** Bytes received but not yet returned as part of a message. */
  get bufferedBytes(): number {
    return this.end - this.start;
  }

  /** Feeds received bytes; returns the messages they complete, in order. Throws SipParseError, then stays failed. */
  push(chunk: Buffer): SipMessage[] {
    if (this.failure) throw this.failure;
    try {
      this.append(chunk);
      return this.drain();
    } catch (error) {
      this.failure =
        error instanceof SipParseError
          ? error
          : new SipParseError(`stream framing failed: ${error instanceof Error ? error.message : String(error)}`);
      this.buf = Buffer.alloc(0);
      this.start = this.end = this.scanFrom = 0;
      this.pending = undefined;
      throw this.failure;
    }
  }

  private drain(): SipMessage[] {
    const out: SipMessage[] = [];
    const { maxMessageBytes, maxBodyBytes } = this.limits;
    for (;;) {
      if (!this.pending) {
        this.start = skipLineBreaks(this.buf, this.start, this.end);
        if (this.scanFrom < this.start) this.scanFrom = this.start;
        if (this.start === this.end) break;
        const found = findHeadEnd(this.buf, this.scanFrom, this.end);
        if (!found) {
          if (this.end - this.start > maxMessageBytes) throw new SipParseError('header section exceeds the size limit');
          // The terminator starts at an LF, and the last LF that might begin an incomplete one is 2 bytes back.
          this.scanFrom = Math.max(this.start, this.end - 2);
          break;
        }
        const headBytes = found.bodyStart - this.start;
        if (headBytes > maxMessageBytes) throw new SipParseError('header section exceeds the size limit');
        const head = parseHead(this.buf, this.start, found.headEnd, this.limits);
        const partial = partialOf(head);
        const length = head.contentLength;
        if (length === undefined) throw new SipParseError('Content-Length is required on a stream transport', partial);
        if (length > maxBodyBytes || headBytes + length > maxMessageBytes) {
          throw new SipParseError('message exceeds the size limit', partial);
        }
        this.pending = { head, bodyStart: found.bodyStart, length };
      }
      const { head, bodyStart, length } = this.pending;
      if (this.end - bodyStart < length) break;
      out.push(buildMessage(head, Buffer.from(this.buf.subarray(bodyStart, bodyStart + length))));
      this.start = this.scanFrom = bodyStart + length;
      this.pending = undefined;
    }
    if (this.start === this.end && !this.pending) this.start = this.end = this.scanFrom = 0;
    return out;
  }

  private append(chunk: Buffer): void {
    if (chunk.length === 0) return;
    if (this.end + chunk.length > this.buf.length) {
      const live = this.end - this.start;
      const needed = live + chunk.length;
      const target = needed > this.buf.length ? Buffer.alloc(Math.max(needed, this.buf.length * 2, 4096)) : this.buf;
      this.buf.copy(target, 0, this.start, this.end);
      this.buf = target;
      this.scanFrom -= this.start;
      if (this.pending) this.pending.bodyStart -= this.start;
      this.start = 0;
      this.end = live;
    }
    chunk.copy(this.buf, this.end);
    this.end += chunk.length;
  }
}
