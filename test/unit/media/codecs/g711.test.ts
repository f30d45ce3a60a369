import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  alawToLinear,
  alawToMulaw,
  decodeAlaw,
  decodeG711,
  decodeMulaw,
  encodeAlaw,
  encodeG711,
  encodeMulaw,
  linearToAlaw,
  linearToMulaw,
  mulawToAlaw,
  mulawToLinear,
  transcode,
  transcodeInto,
} from '../../../../src/media/codecs/g711.js';

const ALL_SAMPLES = (() => {
  const a = new Int16Array(65536);
  for (let i = 0; i < 65536; i++) a[i] = i - 32768;
  return a;
})();
const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

describe('G.711 µ-law', () => {
  test('reference values', () => {
    assert.equal(mulawToLinear(0xff), 0);
    assert.equal(mulawToLinear(0x7f), 0);
    assert.equal(mulawToLinear(0x80), 32124);
    assert.equal(mulawToLinear(0x00), -32124);
    assert.equal(mulawToLinear(0xfe), 8);
    assert.equal(mulawToLinear(0x7e), -8);
    assert.equal(mulawToLinear(0xef), 132); // segment 1 starts: (0x80+0x84)<<1... first code of exp 1
    assert.equal(mulawToLinear(0xf0), 120); // last code of segment 0
    assert.equal(linearToMulaw(0), 0xff);
    assert.equal(linearToMulaw(-1), 0x7f);
    assert.equal(linearToMulaw(32767), 0x80);
    assert.equal(linearToMulaw(-32768), 0x00);
    assert.equal(linearToMulaw(32124), 0x80);
    assert.equal(linearToMulaw(-32124), 0x00);
    assert.equal(linearToMulaw(8), 0xfe);
    assert.equal(linearToMulaw(1000), 0xce);
    assert.equal(mulawToLinear(0xce), 988);
    // Out-of-range single samples are clamped, not wrapped.
    assert.equal(linearToMulaw(100000), 0x80);
    assert.equal(linearToMulaw(-100000), 0x00);
    assert.equal(linearToMulaw(Number.NaN), 0x00);
  });

  test('decode(encode(x)) is within half a quantisation step for every 16-bit value', () => {
    const decoded = decodeMulaw(encodeMulaw(ALL_SAMPLES));
    for (let i = 0; i < ALL_SAMPLES.length; i++) {
      const x = ALL_SAMPLES[i]!;
      const y = decoded[i]!;
      const code = linearToMulaw(x);
      const step = 8 << ((~code & 0x70) >> 4);
      const bound = Math.abs(x) > 32635 ? Math.abs(x) - 32124 : step / 2;
      assert.ok(Math.abs(x - y) <= bound, `x=${x} y=${y} step=${step}`);
      assert.ok(Math.abs(x - y) <= 1024);
      assert.equal(Math.sign(y) * Math.sign(x) >= 0, true, `sign flip at ${x}`);
    }
  });

  test('encode(decode(b)) === b for every byte except the −0 code 0x7F, which becomes +0 (0xFF)', () => {
    const again = encodeMulaw(decodeMulaw(ALL_BYTES));
    for (let b = 0; b < 256; b++) assert.equal(again[b], b === 0x7f ? 0xff : b, `byte ${b}`);
  });

  test('encoding is monotonic in the linear value', () => {
    let prev = -Infinity;
    for (const x of ALL_SAMPLES) {
      const y = mulawToLinear(linearToMulaw(x));
      assert.ok(y >= prev);
      prev = y;
    }
  });
});

describe('G.711 A-law', () => {
  test('reference values', () => {
    assert.equal(alawToLinear(0xd5), 8);
    assert.equal(alawToLinear(0x55), -8);
    assert.equal(alawToLinear(0xaa), 32256);
    assert.equal(alawToLinear(0x2a), -32256);
    assert.equal(alawToLinear(0xd4), 24);
    assert.equal(alawToLinear(0xc5), 264); // first code of segment 1 (0x80|0x10 ^ 0x55)
    assert.equal(linearToAlaw(0), 0xd5);
    assert.equal(linearToAlaw(15), 0xd5);
    assert.equal(linearToAlaw(16), 0xd4);
    assert.equal(linearToAlaw(-1), 0x55);
    assert.equal(linearToAlaw(-16), 0x55);
    assert.equal(linearToAlaw(-17), 0x54);
    assert.equal(linearToAlaw(32767), 0xaa);
    assert.equal(linearToAlaw(-32768), 0x2a);
    assert.equal(linearToAlaw(1000), 0xfa);
    assert.equal(alawToLinear(0xfa), 1008);
  });

  test('decode(encode(x)) is within half a quantisation step for every 16-bit value', () => {
    const decoded = decodeAlaw(encodeAlaw(ALL_SAMPLES));
    for (let i = 0; i < ALL_SAMPLES.length; i++) {
      const x = ALL_SAMPLES[i]!;
      const y = decoded[i]!;
      const exponent = ((linearToAlaw(x) ^ 0x55) & 0x70) >> 4;
      const step = exponent <= 1 ? 16 : 16 << (exponent - 1);
      assert.ok(Math.abs(x - y) <= step / 2, `x=${x} y=${y} step=${step}`);
      assert.ok(x < 0 === y < 0, `sign flip at ${x}`);
    }
  });

  test('encode(decode(b)) === b for every byte', () => {
    assert.deepEqual(encodeAlaw(decodeAlaw(ALL_BYTES)), ALL_BYTES);
  });

  test('encoding is monotonic in the linear value', () => {
    let prev = -Infinity;
    for (const x of ALL_SAMPLES) {
      const y = alawToLinear(linearToAlaw(x));
      assert.ok(y >= prev);
      prev = y;
    }
  });
});

describe('G.711 bulk helpers and transcoding', () => {
  test('bulk and single-sample functions agree', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -32768, max: 32767 }), { maxLength: 200 }), (xs) => {
        const pcm = Int16Array.from(xs);
        const mu = encodeMulaw(pcm);
        const a = encodeAlaw(pcm);
        assert.deepEqual([...mu], xs.map(linearToMulaw));
        assert.deepEqual([...a], xs.map(linearToAlaw));
        assert.deepEqual(encodeG711(pcm, 'PCMU'), mu);
        assert.deepEqual(encodeG711(pcm, 'PCMA'), a);
        assert.deepEqual(decodeG711(mu, 'PCMU'), decodeMulaw(mu));
        assert.deepEqual(decodeG711(a, 'PCMA'), decodeAlaw(a));
      }),
      { numRuns: 200 },
    );
  });

  test('transcode matches decode-then-encode and the single-byte lookups', () => {
    assert.deepEqual(transcode(ALL_BYTES, 'PCMU', 'PCMA'), encodeAlaw(decodeMulaw(ALL_BYTES)));
    assert.deepEqual(transcode(ALL_BYTES, 'PCMA', 'PCMU'), encodeMulaw(decodeAlaw(ALL_BYTES)));
    for (let b = 0; b < 256; b++) {
      assert.equal(mulawToAlaw(b), linearToAlaw(mulawToLinear(b)));
      assert.equal(alawToMulaw(b), linearToMulaw(alawToLinear(b)));
    }
    assert.equal(mulawToAlaw(0xff), 0xd5);
    assert.equal(alawToMulaw(0xd5), 0xfe); // +8 → µ-law +8
    assert.equal(mulawToAlaw(0x80), 0xaa);
    assert.equal(alawToMulaw(0xaa), 0x80);
  });

  test('transcodeInto writes the same bytes as transcode, at the offset, from a window of the source', () => {
    for (const [from, to] of [['PCMU', 'PCMA'], ['PCMA', 'PCMU'], ['PCMU', 'PCMU']] as const) {
      const src = Buffer.concat([Buffer.from([7, 7]), ALL_BYTES, Buffer.from([7])]);
      const dst = Buffer.alloc(12 + 256, 0x33);
      transcodeInto(src, 2, 2 + 256, dst, 12, from, to);
      assert.deepEqual(dst.subarray(0, 12), Buffer.alloc(12, 0x33), 'bytes before the offset untouched');
      assert.deepEqual(dst.subarray(12), transcode(ALL_BYTES, from, to), `${from} → ${to}`);
    }
  });

  test('same-law transcode is an independent copy', () => {
    const src = Buffer.from([1, 2, 3]);
    const out = transcode(src, 'PCMU', 'PCMU');
    assert.deepEqual(out, src);
    out[0] = 9;
    assert.equal(src[0], 1);
    assert.equal(transcode(Buffer.alloc(0), 'PCMA', 'PCMU').length, 0);
  });

  test('round trips are stable after one pass', () => {
    const ua = transcode(ALL_BYTES, 'PCMU', 'PCMA');
    const uau = transcode(ua, 'PCMA', 'PCMU');
    const uaua = transcode(uau, 'PCMU', 'PCMA');
    assert.deepEqual(uaua, ua);
    assert.deepEqual(transcode(uaua, 'PCMA', 'PCMU'), uau);

    const au = transcode(ALL_BYTES, 'PCMA', 'PCMU');
    const aua = transcode(au, 'PCMU', 'PCMA');
    const auau = transcode(aua, 'PCMA', 'PCMU');
    assert.deepEqual(auau, au);
    assert.deepEqual(transcode(auau, 'PCMU', 'PCMA'), aua);
  });

  test('transcoding error is bounded by the coarser law’s step', () => {
    for (let b = 0; b < 256; b++) {
      const x = mulawToLinear(b);
      const y = alawToLinear(mulawToAlaw(b));
      assert.ok(Math.abs(x - y) <= Math.max(16, Math.abs(x) / 16), `µ ${b}: ${x} → ${y}`);
      const p = alawToLinear(b);
      const q = mulawToLinear(alawToMulaw(b));
      assert.ok(Math.abs(p - q) <= Math.max(16, Math.abs(p) / 16), `A ${b}: ${p} → ${q}`);
    }
  });
});
