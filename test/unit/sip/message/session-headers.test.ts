import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseMessage } from '../../../../src/sip/message/parser.js';
import { serializeMessage } from '../../../../src/sip/message/serializer.js';
import { getHeader, getHeaders } from '../../../../src/sip/message/headers.js';
import {
  formatMinSe,
  formatRAck,
  formatRSeq,
  formatSessionExpires,
  parseMinSe,
  parseRAck,
  parseRSeq,
  parseSessionExpires,
} from '../../../../src/sip/message/session-headers.js';
import { SipParseError } from '../../../../src/sip/message/types.js';
import { tokenArb } from './arbitraries.js';
import { sipFixture } from './fixtures.js';

function invalid(fn: () => unknown, pattern?: RegExp): void {
  assert.throws(fn, (error: unknown) => error instanceof SipParseError && (!pattern || pattern.test(error.message)));
}

/** Properties stop after this long whatever numRuns says, so the suite's time stays bounded on a busy machine. */
const TIME_LIMIT_MS = 2_000;

describe('session header fixtures', () => {
  test('the compact form x is Session-Expires', () => {
    const message = parseMessage(Buffer.from('OPTIONS sip:a@b SIP/2.0\r\nx: 120\r\nContent-Length: 0\r\n\r\n'));
    assert.deepEqual(parseSessionExpires(getHeader(message, 'Session-Expires') ?? ''), { seconds: 120, refresher: undefined, params: [] });
  });

  test('a 200 with session timers: refresher case-insensitive, Min-SE; the message round-trips byte for byte', () => {
    const bytes = sipFixture('ok-200-session-timer.sip');
    const message = parseMessage(bytes);
    assert.deepEqual(serializeMessage(message), bytes);
    assert.deepEqual(parseSessionExpires(getHeader(message, 'Session-Expires') ?? ''), {
      seconds: 90,
      refresher: 'uac',
      params: [['refresher', 'UAC']],
    });
    assert.deepEqual(parseMinSe(getHeader(message, 'Min-SE') ?? ''), { seconds: 90, params: [] });
    assert.deepEqual(getHeaders(message, 'Supported'), ['timer', '100rel']);
    assert.deepEqual(getHeaders(message, 'Require'), ['timer']);
  });

  test('a reliable 180 (RSeq) and its PRACK (RAck) round-trip byte for byte', () => {
    const ringing = sipFixture('ringing-180-100rel.sip');
    const prack = sipFixture('prack.sip');
    assert.deepEqual(serializeMessage(parseMessage(ringing)), ringing);
    assert.deepEqual(serializeMessage(parseMessage(prack)), prack);
    const rseq = parseRSeq(getHeader(parseMessage(ringing), 'RSeq') ?? '');
    assert.equal(rseq, 988789);
    const rack = parseRAck(getHeader(parseMessage(prack), 'RAck') ?? '');
    assert.deepEqual(rack, { rseq: 988789, cseq: 1, method: 'INVITE' });
    assert.equal(formatRAck(rack), '988789 1 INVITE');
  });
});

describe('Session-Expires / Min-SE / RSeq / RAck', () => {
  test('valid and invalid values', () => {
    assert.deepEqual(parseSessionExpires('1800'), { seconds: 1800, refresher: undefined, params: [] });
    assert.deepEqual(parseSessionExpires(' 0090;refresher=uas;x=1 '), { seconds: 90, refresher: 'uas', params: [['refresher', 'uas'], ['x', '1']] });
    assert.equal(formatSessionExpires({ seconds: 90, refresher: 'uac' }), '90;refresher=uac');
    assert.equal(formatSessionExpires({ seconds: 1800 }), '1800');
    assert.equal(formatMinSe({ seconds: 90 }), '90');
    assert.equal(formatRSeq(1), '1');
    invalid(() => parseSessionExpires('abc'), /digits/);
    invalid(() => parseSessionExpires('90;refresher=proxy'), /uac or uas/);
    invalid(() => parseSessionExpires('90;refresher'), /needs a value/);
    invalid(() => parseSessionExpires('2147483648'), /range/);
    invalid(() => parseMinSe('-1'), /digits/);
    invalid(() => parseRSeq('0'), /at least 1/);
    invalid(() => parseRSeq('1 2'), /digits/);
    invalid(() => parseRAck('1 INVITE'), /response number/);
    invalid(() => parseRAck('1 2 IN VITE'), /response number/);
    invalid(() => formatSessionExpires({ seconds: -1 }), /range/);
    invalid(() => formatRAck({ rseq: 1, cseq: 1, method: 'A B' }), /method/);
  });

  const seconds = fc.integer({ min: 0, max: 2 ** 31 - 1 });
  const positive = fc.integer({ min: 1, max: 2 ** 31 - 1 });

  test('property: values survive format → parse', () => {
    fc.assert(
      fc.property(seconds, fc.constantFrom<'uac' | 'uas' | undefined>('uac', 'uas', undefined), (n, refresher) => {
        const formatted = formatSessionExpires({ seconds: n, refresher });
        assert.deepEqual(parseSessionExpires(formatted), { seconds: n, refresher, params: refresher ? [['refresher', refresher]] : [] });
        assert.deepEqual(parseMinSe(formatMinSe({ seconds: n })), { seconds: n, params: [] });
      }),
      { numRuns: 500, interruptAfterTimeLimit: TIME_LIMIT_MS },
    );
    fc.assert(
      fc.property(positive, seconds, tokenArb, (rseq, cseq, method) => {
        assert.equal(parseRSeq(formatRSeq(rseq)), rseq);
        assert.deepEqual(parseRAck(formatRAck({ rseq, cseq, method })), { rseq, cseq, method });
      }),
      { numRuns: 500, interruptAfterTimeLimit: TIME_LIMIT_MS },
    );
  });

  test('property: any text is parsed or refused with SipParseError, never anything else', () => {
    const text = fc.oneof(fc.string({ maxLength: 40 }), fc.stringMatching(/^[0-9 ;=a-zA-Z\t]{0,30}$/));
    fc.assert(
      fc.property(text, (value) => {
        for (const parse of [parseSessionExpires, parseMinSe, parseRSeq, parseRAck]) {
          try {
            parse(value);
          } catch (error) {
            if (!(error instanceof SipParseError)) throw error;
          }
        }
      }),
      { numRuns: 2_000, interruptAfterTimeLimit: TIME_LIMIT_MS },
    );
  });
});
