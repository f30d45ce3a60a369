import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseMessage, SipStreamFramer } from '../../../../src/sip/message/parser.js';
import { serializeMessage } from '../../../../src/sip/message/serializer.js';
import { SipParseError } from '../../../../src/sip/message/types.js';
import type { SipLimits, SipMessage } from '../../../../src/sip/message/types.js';
import { messageArb, normaliseContentLength } from './arbitraries.js';
import { sipFixture } from './fixtures.js';

// Four messages with Content-Length: CRLF and bare-LF line ends, a binary body with CR, LF and NUL octets.
const PARTS = ['invite-sdp.sip', 'ringing-180.sip', 'rfc4475/mpart01.dat', 'compact.sip'].map((name) => sipFixture(name));
const EXPECTED = PARTS.map((bytes) => parseMessage(bytes));
// Keep-alives before, between and after the messages (RFC 5626 double CRLF, a lone CRLF, a bare LF).
const STREAM = Buffer.concat([
  Buffer.from('\r\n\r\n'),
  PARTS[0] as Buffer,
  PARTS[1] as Buffer,
  Buffer.from('\r\n'),
  PARTS[2] as Buffer,
  Buffer.from('\n\r\n\r\n'),
  PARTS[3] as Buffer,
  Buffer.from('\r\n\r\n'),
]);

function feed(framer: SipStreamFramer, chunks: readonly Buffer[]): SipMessage[] {
  return chunks.flatMap((chunk) => framer.push(chunk));
}

function failure(fn: () => unknown): SipParseError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof SipParseError, `expected SipParseError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected a SipParseError');
}

describe('SipStreamFramer', () => {
  test('a stream split at every possible byte boundary yields the same messages', () => {
    for (let cut = 0; cut <= STREAM.length; cut++) {
      const framer = new SipStreamFramer();
      const messages = feed(framer, [STREAM.subarray(0, cut), STREAM.subarray(cut)]);
      assert.deepEqual(messages, EXPECTED, `split at ${cut}`);
      assert.equal(framer.bufferedBytes, 0);
    }
  });

  test('one byte at a time, and all at once', () => {
    const bytes = Array.from(STREAM, (byte) => Buffer.from([byte]));
    assert.deepEqual(feed(new SipStreamFramer(), bytes), EXPECTED);
    assert.deepEqual(new SipStreamFramer().push(STREAM), EXPECTED);
  });

  test('property: serialized messages with keep-alives, cut into random chunks', () => {
    const keepAlive = fc.constantFrom('', '\r\n', '\r\n\r\n', '\n');
    fc.assert(
      fc.property(
        fc.array(fc.tuple(messageArb, keepAlive), { minLength: 1, maxLength: 5 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        (items, cutSeeds) => {
          const stream = Buffer.concat(items.flatMap(([m, gap]) => [Buffer.from(gap), serializeMessage(m)]));
          const cuts = [...new Set(cutSeeds.map((n) => n % (stream.length + 1)))].sort((a, b) => a - b);
          const chunks = [0, ...cuts].map((start, i) => stream.subarray(start, [...cuts, stream.length][i]));
          assert.deepEqual(feed(new SipStreamFramer(), chunks), items.map(([m]) => normaliseContentLength(m)));
        },
      ),
      { numRuns: 150 },
    );
  });

  test('an incomplete message stays buffered until its body arrives', () => {
    const framer = new SipStreamFramer();
    const bytes = PARTS[0] as Buffer;
    assert.deepEqual(framer.push(bytes.subarray(0, bytes.length - 1)), []);
    assert.equal(framer.bufferedBytes, bytes.length - 1);
    assert.deepEqual(framer.push(bytes.subarray(bytes.length - 1)), [EXPECTED[0]]);
    assert.deepEqual(framer.push(Buffer.from('\r\n\r\n')), []);
    assert.equal(framer.bufferedBytes, 0);
  });

  test('Content-Length is required on a stream, and a failed framer stays failed', () => {
    const framer = new SipStreamFramer();
    const error = failure(() => framer.push(Buffer.from('OPTIONS sip:a@b.example SIP/2.0\r\nCall-ID: x\r\n\r\n')));
    assert.match(error.message, /Content-Length is required/);
    assert.equal(error.partial?.method, 'OPTIONS');
    assert.equal(failure(() => framer.push(PARTS[0] as Buffer)), error);
  });

  test('a malformed header section is refused', () => {
    const error = failure(() => new SipStreamFramer().push(Buffer.from('INVITE  sip:a@b.example SIP/2.0\r\nl: 0\r\n\r\n')));
    assert.equal(error.partial?.method, 'INVITE');
    failure(() => new SipStreamFramer().push(Buffer.from('SIP/2.0 200 OK\r\nl: 5\r\nl: 6\r\n\r\n')));
  });

  test('limits refuse a message before it is all buffered', () => {
    const limits: SipLimits = { maxMessageBytes: 300, maxHeaders: 10, maxHeaderLineBytes: 200, maxBodyBytes: 50 };
    const endless = new SipStreamFramer(limits);
    endless.push(Buffer.from('OPTIONS sip:a@b.example SIP/2.0\r\n'));
    assert.match(failure(() => {
      for (let i = 0; i < 20; i++) endless.push(Buffer.from('X-Pad: aaaaaaaaaaaaaaaaaaaa\r\n'));
    }).message, /size limit/);
    const bigBody = new SipStreamFramer(limits);
    assert.match(failure(() => bigBody.push(Buffer.from('SIP/2.0 200 OK\r\nContent-Length: 51\r\n\r\n'))).message, /size limit/);
    const tooMany = new SipStreamFramer(limits);
    const headers = Array.from({ length: 11 }, (_, i) => `X-${i}: 1\r\n`).join('');
    assert.match(failure(() => tooMany.push(Buffer.from(`SIP/2.0 200 OK\r\n${headers}l: 0\r\n\r\n`))).message, /too many headers/);
  });
});
