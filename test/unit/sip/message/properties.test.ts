import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseMessage, SipStreamFramer } from '../../../../src/sip/message/parser.js';
import { serializeMessage } from '../../../../src/sip/message/serializer.js';
import {
  formatAuthCredentials,
  formatCSeq,
  formatNameAddr,
  formatParams,
  formatUri,
  formatVia,
  getHeaders,
  parseAuthChallenge,
  parseCSeq,
  parseMaxForwards,
  parseNameAddr,
  parseParams,
  parseSipDate,
  parseUri,
  parseVia,
  splitHeaderValues,
} from '../../../../src/sip/message/headers.js';
import { validateMessage } from '../../../../src/sip/message/validate.js';
import { SipParseError } from '../../../../src/sip/message/types.js';
import type { SipMessage } from '../../../../src/sip/message/types.js';
import { messageArb, nameAddrArb, normaliseContentLength, tokenArb, uriArb, viaArb } from './arbitraries.js';
import { sipFixture } from './fixtures.js';

/** Runs fn and fails the property unless it returns or throws SipParseError. */
function onlySipParseError(fn: () => unknown): void {
  try {
    fn();
  } catch (error) {
    if (!(error instanceof SipParseError)) throw new Error(`threw ${String(error)} instead of SipParseError`);
  }
}

/** Everything a consumer might do with a received message: all of it must fail only with SipParseError. */
function exercise(data: Buffer): void {
  onlySipParseError(() => new SipStreamFramer().push(data));
  let m: SipMessage;
  try {
    m = parseMessage(data);
  } catch (error) {
    if (error instanceof SipParseError) return;
    throw error;
  }
  onlySipParseError(() => validateMessage(m));
  onlySipParseError(() => serializeMessage(m));
  if (m.kind === 'request') onlySipParseError(() => parseUri(m.uri));
  for (const { name, value } of m.headers) {
    onlySipParseError(() => getHeaders(m, name));
    onlySipParseError(() => splitHeaderValues(value));
    onlySipParseError(() => parseNameAddr(value));
    onlySipParseError(() => parseVia(value));
    onlySipParseError(() => parseCSeq(value));
    onlySipParseError(() => parseMaxForwards(value));
    onlySipParseError(() => parseAuthChallenge(value));
    onlySipParseError(() => parseParams(value));
    onlySipParseError(() => parseSipDate(value));
  }
}

const SEEDS = ['invite-sdp.sip', 'ringing-180.sip', 'register-auth.sip', 'compact.sip', 'rfc4475/wsinv.dat', 'rfc4475/intmeth.dat', 'rfc4475/mpart01.dat'].map(
  (name) => sipFixture(name),
);

const mutationArb = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant('splice' as const), at: fc.nat(), text: fc.constantFrom('\r\n', '\n ', '"', '<', '>', ';', ',', ':', '%', '\\', '\0', '\r', '=', '@', '[', ']', 'SIP/2.0', 'Content-Length: 99999\r\n') }),
);
type Mutation = typeof mutationArb extends fc.Arbitrary<infer T> ? T : never;

function mutate(data: Buffer, mutations: readonly Mutation[]): Buffer {
  let out = Buffer.from(data);
  for (const mutation of mutations) {
    const at = out.length === 0 ? 0 : mutation.at % (out.length + 1);
    switch (mutation.kind) {
      case 'flip':
        if (at < out.length) out[at] = mutation.byte;
        break;
      case 'truncate':
        out = out.subarray(0, at);
        break;
      case 'insert':
        out = Buffer.concat([out.subarray(0, at), Buffer.from(mutation.bytes), out.subarray(at)]);
        break;
      case 'delete':
        out = Buffer.concat([out.subarray(0, at), out.subarray(at + mutation.count)]);
        break;
      case 'splice':
        out = Buffer.concat([out.subarray(0, at), Buffer.from(mutation.text), out.subarray(at)]);
        break;
    }
  }
  return out;
}

describe('round trips', () => {
  test('property: parse(serialize(m)) deep-equals m after Content-Length normalisation', () => {
    fc.assert(
      fc.property(messageArb, (m) => {
        assert.deepEqual(parseMessage(serializeMessage(m)), normaliseContentLength(m));
      }),
      { numRuns: 500 },
    );
  });

  test('property: URIs survive format → parse', () => {
    fc.assert(
      fc.property(uriArb, (u) => {
        assert.deepEqual(parseUri(formatUri(u)), u);
      }),
      { numRuns: 1000 },
    );
  });

  test('property: name-addr values survive format → parse', () => {
    fc.assert(
      fc.property(nameAddrArb, (value) => {
        assert.deepEqual(parseNameAddr(formatNameAddr(value)), value);
      }),
      { numRuns: 400 },
    );
  });

  test('property: Via values survive format → parse, alone and in a list', () => {
    fc.assert(
      fc.property(fc.array(viaArb, { minLength: 1, maxLength: 3 }), (vias) => {
        const text = vias.map(formatVia).join(', ');
        assert.deepEqual(splitHeaderValues(text).map(parseVia), vias);
      }),
      { numRuns: 300 },
    );
  });

  test('property: CSeq, parameters and credentials survive format → parse', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        tokenArb,
        fc.dictionary(tokenArb.map((t) => t.toLowerCase()), fc.string({ maxLength: 12 }).filter((s) => !/[\r\n]/.test(s)), { maxKeys: 5 }),
        (seq, method, params) => {
          assert.deepEqual(parseCSeq(formatCSeq({ seq, method })), { seq, method });
          const list = Object.entries(params).map(([name, value]) => [name, /^[A-Za-z0-9]+$/.test(value) ? value : null] as const);
          assert.deepEqual(parseParams(formatParams(list)), list);
          const parsed = parseAuthChallenge(formatAuthCredentials('Digest', params));
          assert.deepEqual({ ...parsed.params }, { ...params });
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('robustness: only SipParseError, never a hang', () => {
  test('property: random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => exercise(Buffer.from(bytes))),
      { numRuns: 1000 },
    );
  });

  test('property: SIP-flavoured random text', () => {
    const piece = fc.constantFrom('INVITE ', 'SIP/2.0', ' 200 OK', 'sip:', 'a@b.example', '\r\n', '\n', ' ', '\t', ':', ';', ',', '"', '\\', '<', '>', '%4', 'Via: ', 'v:', 'l: 5', 'Content-Length: ', '0', '9', 'tag=', '[::1]', '\r\n\r\n');
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 60 }), (pieces) => exercise(Buffer.from(pieces.join('')))),
      { numRuns: 1000 },
    );
  });

  test('property: mutated valid messages (flips, truncation, insertion, deletion)', () => {
    fc.assert(
      fc.property(fc.constantFrom(...SEEDS), fc.array(mutationArb, { minLength: 1, maxLength: 4 }), (seed, mutations) =>
        exercise(mutate(seed, mutations)),
      ),
      { numRuns: 1500 },
    );
  });

  test('property: mutated generated messages', () => {
    fc.assert(
      fc.property(messageArb, fc.array(mutationArb, { minLength: 1, maxLength: 3 }), (m, mutations) =>
        exercise(mutate(serializeMessage(m), mutations)),
      ),
      { numRuns: 500 },
    );
  });

  test('pathological inputs are handled in linear time', () => {
    const big = 60_000;
    const inputs = [
      `OPTIONS sip:a@b.example SIP/2.0\r\nX: ${'<'.repeat(8000)}\r\n\r\n`,
      `OPTIONS sip:a@b.example SIP/2.0\r\nX: a${'\r\n '.repeat(2600)}\r\n\r\n`,
      `OPTIONS sip:a@b.example SIP/2.0\r\n${'A: 1\r\n'.repeat(120)}\r\n`,
      `SIP/2.0 200 ${'x'.repeat(8000)}\r\n\r\n`,
      '\r\n'.repeat(big / 2),
      'x'.repeat(big),
      `OPTIONS sip:a@b.example SIP/2.0\r\n${'\r\n'.repeat(big / 2 - 40)}`,
    ];
    const values = [';'.repeat(8000), '"'.repeat(8000), `${'<'.repeat(4000)}>`, `Digest ${'a=b,'.repeat(2000)}`, `sip:${'%41'.repeat(2600)}@h.example`, `${'1'.repeat(4000)} INVITE`, `SIP/2.0/UDP h.example${';a'.repeat(4000)}`];
    const started = performance.now();
    for (const input of inputs) exercise(Buffer.from(input));
    for (const value of values) {
      for (const fn of [splitHeaderValues, parseNameAddr, parseVia, parseCSeq, parseAuthChallenge, parseParams, parseUri]) {
        onlySipParseError(() => fn(value));
      }
    }
    assert.ok(performance.now() - started < 1500, 'pathological inputs took too long');
  });
});
