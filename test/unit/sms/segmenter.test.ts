import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { GSM7_BASIC_TABLE, GSM7_ESCAPE, GSM7_EXTENSION_TABLE, gsm7Septets, isGsm7 } from '../../../src/sms/gsm7.js';
import {
  DEFAULT_MAX_SEGMENTS,
  SMS_LIMITS,
  SmsTooLongError,
  buildConcatUdh,
  decodePayload,
  decodeUcs2,
  encodeUcs2,
  parseConcatUdh,
  segment,
  splitUdh,
  type Segmentation,
} from '../../../src/sms/segmenter.js';

const TIME_BOUND = { numRuns: 200, interruptAfterTimeLimit: 5000 };
const HEBREW = 'שלום עולם, מה שלומך היום? '; // 26 code units, all BMP, none in GSM-7
const EMOJI = '😀'; // U+1F600, surrogate pair D83D DE00

function isHigh(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}
function isLow(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}

/** Cost of each character the segmenter treats as indivisible, in text order. */
function tokens(text: string, encoding: Segmentation['encoding']): Array<{ text: string; cost: number }> {
  const out: Array<{ text: string; cost: number }> = [];
  for (let i = 0; i < text.length; ) {
    const c = text.charCodeAt(i);
    const len = isHigh(c) && isLow(text.charCodeAt(i + 1)) ? 2 : 1;
    const t = text.slice(i, i + len);
    out.push({ text: t, cost: encoding === 'GSM-7' ? (gsm7Septets(t) ?? NaN) : len });
    i += len;
  }
  return out;
}

/** The invariants every segmentation must satisfy; used by the vectors and the property tests. */
function checkInvariants(input: string, seg: Segmentation, reference?: number): void {
  assert.equal(seg.encoding, isGsm7(input) ? 'GSM-7' : 'UCS-2');
  assert.equal(seg.dataCoding, seg.encoding === 'GSM-7' ? 0 : 8);
  assert.equal(seg.segments, seg.parts.length);
  assert.ok(seg.segments >= 1);
  assert.equal(seg.parts.map((p) => p.text).join(''), input);
  assert.equal(seg.units, seg.encoding === 'GSM-7' ? gsm7Septets(input) : input.length);
  assert.equal(seg.parts.reduce((sum, p) => sum + p.units, 0), seg.units);

  const limits = SMS_LIMITS[seg.encoding];
  const limit = seg.segments === 1 ? limits.single : limits.part;
  let ref: number | undefined;
  seg.parts.forEach((part, i) => {
    assert.ok(part.units <= limit, `part ${i + 1}: ${part.units} > ${limit}`);
    assert.equal(part.units, seg.encoding === 'GSM-7' ? gsm7Septets(part.text) : part.text.length);
    assert.equal(decodePayload(part.payload, seg.encoding), part.text);
    if (seg.encoding === 'GSM-7') {
      assert.equal(part.payload.length, part.units);
      assert.notEqual(part.payload[part.payload.length - 1], GSM7_ESCAPE, 'escape pair split');
    } else {
      assert.equal(part.payload.length, part.units * 2);
    }
    if (seg.segments === 1) {
      assert.equal(part.udh, undefined);
    } else {
      assert.ok(part.udh !== undefined);
      assert.equal(part.udh.length, 6);
      const info = parseConcatUdh(part.udh);
      assert.ok(info !== undefined);
      assert.equal(info.referenceBits, 8);
      assert.equal(info.total, seg.segments);
      assert.equal(info.seq, i + 1);
      ref ??= info.reference;
      assert.equal(info.reference, ref, 'one reference for all parts');
      if (reference !== undefined) assert.equal(info.reference, reference);
    }
    const next = seg.parts[i + 1];
    if (next !== undefined) {
      assert.ok(part.text.length > 0 && next.text.length > 0, 'no empty part');
      // No surrogate pair divided between two parts.
      assert.ok(!(isHigh(part.text.charCodeAt(part.text.length - 1)) && isLow(next.text.charCodeAt(0))), 'surrogate pair split');
      // Greedy: the next part's first character would not have fitted into this one.
      const first = tokens(next.text, seg.encoding)[0];
      assert.ok(first !== undefined && part.units + first.cost > limits.part, `part ${i + 1} not filled`);
    }
  });
}

describe('segment: GSM-7', () => {
  test('empty text: one GSM-7 part of 0 units', () => {
    const seg = segment('');
    assert.equal(seg.encoding, 'GSM-7');
    assert.equal(seg.dataCoding, 0);
    assert.equal(seg.segments, 1);
    assert.equal(seg.units, 0);
    assert.equal(seg.parts.length, 1);
    assert.deepEqual(seg.parts[0], { text: '', units: 0, payload: Buffer.alloc(0) });
  });

  test('exactly 160 septets is one part without a UDH', () => {
    const text = 'a'.repeat(160);
    const seg = segment(text);
    assert.equal(seg.segments, 1);
    assert.equal(seg.units, 160);
    assert.equal(seg.parts[0]?.udh, undefined);
    assert.deepEqual(seg.parts[0]?.payload, Buffer.alloc(160, 0x61));
    checkInvariants(text, seg);
  });

  test('161 septets is two parts of 153 + 8', () => {
    const text = 'a'.repeat(161);
    const seg = segment(text, { reference: 0x42 });
    assert.equal(seg.segments, 2);
    assert.deepEqual(seg.parts.map((p) => p.units), [153, 8]);
    assert.deepEqual(seg.parts.map((p) => p.text.length), [153, 8]);
    assert.deepEqual(seg.parts[0]?.udh, Buffer.from([0x05, 0x00, 0x03, 0x42, 0x02, 0x01]));
    assert.deepEqual(seg.parts[1]?.udh, Buffer.from([0x05, 0x00, 0x03, 0x42, 0x02, 0x02]));
    checkInvariants(text, seg, 0x42);
  });

  test('extension characters count two septets toward the single-message limit', () => {
    assert.equal(segment(`${'a'.repeat(158)}€`).segments, 1); // 160 septets
    const over = segment(`${'a'.repeat(159)}€`); // 161 septets, 160 characters
    assert.equal(over.units, 161);
    assert.equal(over.segments, 2);
    assert.deepEqual(over.parts.map((p) => p.units), [153, 8]);
    // 160 characters, 320 septets, all extension: 76 pairs (152 septets) per part, as a 77th would need 154.
    assert.deepEqual(segment('{}'.repeat(80)).parts.map((p) => p.units), [152, 152, 16]);
  });

  test('an extension character at a part boundary moves whole to the next part', () => {
    // 152 'a' + '€' alone is 154 septets, a single message; text after it forces concatenation.
    assert.equal(segment(`${'a'.repeat(152)}€`).segments, 1);
    const text = `${'a'.repeat(152)}€${'b'.repeat(10)}`; // 164 septets
    const seg = segment(text, { reference: 7 });
    assert.equal(seg.segments, 2);
    assert.equal(seg.parts[0]?.text, 'a'.repeat(152));
    assert.equal(seg.parts[0]?.units, 152);
    assert.equal(seg.parts[1]?.text, `€${'b'.repeat(10)}`);
    assert.equal(seg.parts[1]?.units, 12);
    assert.deepEqual(seg.parts[1]?.payload.subarray(0, 3), Buffer.from([0x1b, 0x65, 0x62]));
    checkInvariants(text, seg, 7);

    // One 'a' fewer and the escape pair ends part 1 exactly at 153 septets.
    const fits = segment(`${'a'.repeat(151)}€${'b'.repeat(10)}`);
    assert.deepEqual(fits.parts.map((p) => p.units), [153, 10]);
    assert.deepEqual(fits.parts[0]?.payload.subarray(151), Buffer.from([0x1b, 0x65]));
  });

  test('all GSM-7 characters, basic and extension, stay GSM-7', () => {
    const all = GSM7_BASIC_TABLE.filter((_, code) => code !== GSM7_ESCAPE).join('') + [...GSM7_EXTENSION_TABLE.values()].join('');
    const seg = segment(all);
    assert.equal(seg.encoding, 'GSM-7');
    assert.equal(seg.units, 127 + 2 * 10);
    checkInvariants(all, seg);
  });

  test('a 1,000-character GSM-7 text with extension characters', () => {
    const pattern = 'Order #{id} [ok] costs €12 ~ 10% off | path C:\\tmp ^_^ @home\n';
    const text = pattern.repeat(Math.ceil(1000 / pattern.length)).slice(0, 1000);
    assert.equal(text.length, 1000);
    const extCount = [...text].filter((ch) => [...GSM7_EXTENSION_TABLE.values()].includes(ch)).length;
    const seg = segment(text, { reference: 200 });
    assert.equal(seg.encoding, 'GSM-7');
    assert.equal(seg.units, 1000 + extCount);
    assert.equal(seg.units, 1165);
    // Parts of 152 septets are those where an escape pair would have straddled the 153rd septet.
    assert.deepEqual(seg.parts.map((p) => p.units), [153, 153, 152, 153, 152, 153, 153, 96]);
    checkInvariants(text, seg, 200);
  });
});

describe('segment: UCS-2', () => {
  test('one character outside GSM-7 switches the whole text to UCS-2', () => {
    const seg = segment('Hello ç');
    assert.equal(seg.encoding, 'UCS-2');
    assert.equal(seg.dataCoding, 8);
    assert.equal(seg.units, 7);
    assert.deepEqual(seg.parts[0]?.payload, Buffer.from('00480065006c006c006f002000e7', 'hex'));
  });

  test('Hebrew: 70 units is one part, 71 is 67 + 4', () => {
    const seventy = HEBREW.repeat(3).slice(0, 70);
    const one = segment(seventy);
    assert.equal(one.encoding, 'UCS-2');
    assert.equal(one.segments, 1);
    assert.equal(one.units, 70);
    assert.equal(one.parts[0]?.payload.length, 140);
    checkInvariants(seventy, one);

    const seventyOne = HEBREW.repeat(3).slice(0, 71);
    const two = segment(seventyOne, { reference: 255 });
    assert.equal(two.segments, 2);
    assert.deepEqual(two.parts.map((p) => p.units), [67, 4]);
    assert.deepEqual(two.parts[0]?.payload.subarray(0, 4), Buffer.from([0x05, 0xe9, 0x05, 0xdc])); // ש ל
    assert.deepEqual(two.parts[1]?.udh, Buffer.from([0x05, 0x00, 0x03, 0xff, 0x02, 0x02]));
    checkInvariants(seventyOne, two, 255);
  });

  test('a surrogate pair at the 67-unit boundary moves whole to the next part', () => {
    const text = `${'a'.repeat(66)}${EMOJI}${'b'.repeat(10)}`; // 78 units
    const seg = segment(text);
    assert.equal(seg.encoding, 'UCS-2');
    assert.equal(seg.units, 78);
    assert.deepEqual(seg.parts.map((p) => p.units), [66, 12]);
    assert.equal(seg.parts[0]?.text, 'a'.repeat(66));
    assert.equal(seg.parts[1]?.text, `${EMOJI}${'b'.repeat(10)}`);
    assert.deepEqual(seg.parts[1]?.payload.subarray(0, 4), Buffer.from([0xd8, 0x3d, 0xde, 0x00]));
    checkInvariants(text, seg);

    const fits = segment(`${'a'.repeat(65)}${EMOJI}${'b'.repeat(10)}`);
    assert.deepEqual(fits.parts.map((p) => p.units), [67, 10]);
    assert.ok(fits.parts[0]?.text.endsWith(EMOJI));
  });

  test('emoji-only text: 35 emoji fit one message, 36 need two parts of 33 + 3', () => {
    assert.equal(segment(EMOJI.repeat(35)).segments, 1); // 70 units
    const seg = segment(EMOJI.repeat(36)); // 72 units; 67 is odd, so a part holds 33 emoji (66 units)
    assert.deepEqual(seg.parts.map((p) => p.units), [66, 6]);
    checkInvariants(EMOJI.repeat(36), seg);
  });

  test('lone surrogates are carried as single units', () => {
    const text = `${'a'.repeat(66)}\udc00\ud83d`.repeat(2);
    const seg = segment(text);
    assert.equal(seg.encoding, 'UCS-2');
    assert.equal(seg.units, 136);
    checkInvariants(text, seg);
  });

  test('a 1,000-character mixed text (Latin, extension, Hebrew, emoji)', () => {
    const pattern = `Hi {name}! שלום ${EMOJI} €5 [ok] ñ ü 😀👍🏽 `;
    const text = pattern.repeat(Math.ceil(1000 / pattern.length)).slice(0, 1000);
    assert.equal(text.length, 1000);
    assert.ok(!isHigh(text.charCodeAt(999)));
    assert.throws(() => segment(text), SmsTooLongError); // 15 parts > 10
    const seg = segment(text, { maxSegments: 20, reference: 1 });
    assert.equal(seg.encoding, 'UCS-2');
    assert.equal(seg.units, 1000);
    assert.deepEqual(seg.parts.map((p) => p.units), [...Array<number>(14).fill(67), 62]);
    checkInvariants(text, seg, 1);
  });
});

describe('segment: options', () => {
  test('maxSegments: default 10 is enforced with a typed error', () => {
    assert.equal(DEFAULT_MAX_SEGMENTS, 10);
    assert.equal(segment('a'.repeat(153 * 10)).segments, 10);
    const eleven = 'a'.repeat(153 * 10 + 1);
    assert.throws(
      () => segment(eleven),
      (err: unknown) => {
        assert.ok(err instanceof SmsTooLongError);
        assert.equal(err.name, 'SmsTooLongError');
        assert.equal(err.segments, 11);
        assert.equal(err.maxSegments, 10);
        assert.equal(err.encoding, 'GSM-7');
        assert.equal(err.units, 1531);
        return true;
      },
    );
    assert.equal(segment(eleven, { maxSegments: 11 }).segments, 11);
  });

  test('maxSegments: 1 allows only a single message', () => {
    assert.equal(segment('a'.repeat(160), { maxSegments: 1 }).segments, 1);
    assert.throws(() => segment('a'.repeat(161), { maxSegments: 1 }), (err: unknown) => err instanceof SmsTooLongError && err.segments === 2);
    assert.throws(() => segment('א'.repeat(71), { maxSegments: 1 }), (err: unknown) => err instanceof SmsTooLongError && err.encoding === 'UCS-2');
  });

  test('maxSegments up to 255 parts', () => {
    const seg = segment('x'.repeat(153 * 255), { maxSegments: 255, reference: 9 });
    assert.equal(seg.segments, 255);
    assert.deepEqual(seg.parts[254]?.udh, Buffer.from([0x05, 0x00, 0x03, 0x09, 0xff, 0xff]));
    assert.throws(() => segment('x'.repeat(153 * 255 + 1), { maxSegments: 255 }), SmsTooLongError);
  });

  test('invalid options are RangeErrors', () => {
    for (const maxSegments of [0, -1, 1.5, 256, Number.NaN]) {
      assert.throws(() => segment('hi', { maxSegments }), RangeError, String(maxSegments));
    }
    for (const reference of [-1, 256, 0.5, Number.NaN]) {
      assert.throws(() => segment('hi', { reference }), RangeError, String(reference));
    }
  });

  test('without a reference, all parts share one drawn reference', () => {
    const seg = segment('a'.repeat(400));
    const refs = seg.parts.map((p) => parseConcatUdh(p.udh ?? Buffer.alloc(0))?.reference);
    assert.equal(refs.length, 3);
    assert.ok(refs.every((r) => r !== undefined && r === refs[0] && r >= 0 && r <= 255));
  });
});

describe('concatenation UDH', () => {
  test('buildConcatUdh bytes and validation', () => {
    assert.deepEqual(buildConcatUdh(0xab, 3, 2), Buffer.from([0x05, 0x00, 0x03, 0xab, 0x03, 0x02]));
    assert.throws(() => buildConcatUdh(256, 2, 1), RangeError);
    assert.throws(() => buildConcatUdh(1, 0, 1), RangeError);
    assert.throws(() => buildConcatUdh(1, 2, 3), RangeError);
    assert.throws(() => buildConcatUdh(1, 2, 0), RangeError);
  });

  test('parseConcatUdh: 8-bit reference (IE 0x00)', () => {
    assert.deepEqual(parseConcatUdh(Buffer.from([0x05, 0x00, 0x03, 0x2a, 0x04, 0x03])), {
      reference: 0x2a,
      referenceBits: 8,
      total: 4,
      seq: 3,
    });
  });

  test('parseConcatUdh: 16-bit reference (IE 0x08)', () => {
    assert.deepEqual(parseConcatUdh(Buffer.from([0x06, 0x08, 0x04, 0x12, 0x34, 0x03, 0x02])), {
      reference: 0x1234,
      referenceBits: 16,
      total: 3,
      seq: 2,
    });
  });

  test('parseConcatUdh: whole user data with payload, other IEs, last valid IE wins', () => {
    const message = Buffer.concat([Buffer.from([0x05, 0x00, 0x03, 0x01, 0x02, 0x01]), Buffer.from('Hello', 'latin1')]);
    assert.deepEqual(parseConcatUdh(message), { reference: 1, referenceBits: 8, total: 2, seq: 1 });
    // National language single shift IE (0x24, length 1) before the concatenation IE.
    assert.deepEqual(parseConcatUdh(Buffer.from([0x08, 0x24, 0x01, 0x02, 0x00, 0x03, 0x07, 0x05, 0x05, 0x61])), {
      reference: 7,
      referenceBits: 8,
      total: 5,
      seq: 5,
    });
    // Two concatenation IEs: the last one is used.
    assert.deepEqual(parseConcatUdh(Buffer.from([0x0b, 0x00, 0x03, 0x01, 0x02, 0x01, 0x08, 0x04, 0x00, 0x02, 0x02, 0x02])), {
      reference: 2,
      referenceBits: 16,
      total: 2,
      seq: 2,
    });
  });

  test('parseConcatUdh: absent, ignored or malformed', () => {
    const cases: Array<[string, number[]]> = [
      ['empty', []],
      ['empty UDH', [0x00, 0x61]],
      ['other IE only', [0x03, 0x24, 0x01, 0x02]],
      ['UDHL past the end', [0x05, 0x00, 0x03, 0x01, 0x02]],
      ['IE past the UDHL', [0x05, 0x00, 0x04, 0x01, 0x02, 0x01, 0x00]],
      ['truncated IE header', [0x06, 0x00, 0x03, 0x01, 0x02, 0x01, 0x00]],
      ['wrong IE length', [0x06, 0x00, 0x04, 0x01, 0x02, 0x01, 0x00]],
      ['total 0', [0x05, 0x00, 0x03, 0x01, 0x00, 0x00]],
      ['seq 0', [0x05, 0x00, 0x03, 0x01, 0x02, 0x00]],
      ['seq above total', [0x05, 0x00, 0x03, 0x01, 0x02, 0x03]],
      ['16-bit seq above total', [0x06, 0x08, 0x04, 0x00, 0x01, 0x02, 0x03]],
    ];
    for (const [name, bytes] of cases) assert.equal(parseConcatUdh(Buffer.from(bytes)), undefined, name);
  });

  test('parseConcatUdh never throws (fast-check)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
        const info = parseConcatUdh(bytes);
        if (info !== undefined) assert.ok(info.seq >= 1 && info.seq <= info.total && info.total <= 255);
      }),
      { numRuns: 1000 },
    );
  });

  test('splitUdh separates the header from the payload', () => {
    const seg = segment('€'.repeat(100), { reference: 3 });
    const part = seg.parts[1];
    assert.ok(part?.udh !== undefined);
    const shortMessage = Buffer.concat([part.udh, part.payload]);
    const split = splitUdh(shortMessage);
    assert.ok(split !== undefined);
    assert.deepEqual(split.udh, part.udh);
    assert.equal(decodePayload(split.payload, 'GSM-7'), part.text);
    assert.deepEqual(parseConcatUdh(shortMessage), { reference: 3, referenceBits: 8, total: 2, seq: 2 });
    assert.equal(splitUdh(Buffer.from([0x05, 0x00])), undefined);
    assert.equal(splitUdh(Buffer.alloc(0)), undefined);
  });
});

describe('UCS-2 coding', () => {
  test('big-endian vectors', () => {
    assert.deepEqual(encodeUcs2(`Aא€${EMOJI}`), Buffer.from([0x00, 0x41, 0x05, 0xd0, 0x20, 0xac, 0xd8, 0x3d, 0xde, 0x00]));
    assert.equal(decodeUcs2(Buffer.from([0x00, 0x41, 0x05, 0xd0, 0x20, 0xac, 0xd8, 0x3d, 0xde, 0x00])), `Aא€${EMOJI}`);
    assert.equal(decodeUcs2(Buffer.from([0x00, 0x41, 0x00])), 'A'); // odd trailing octet ignored
    assert.equal(decodeUcs2(Buffer.alloc(0)), '');
  });

  test('decodeUcs2 does not modify its input', () => {
    const bytes = Buffer.from([0x00, 0x41]);
    decodeUcs2(bytes);
    assert.deepEqual(bytes, Buffer.from([0x00, 0x41]));
  });

  test('round trip for any code unit sequence, including lone surrogates (fast-check)', () => {
    const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
    fc.assert(
      fc.property(fc.string({ unit: codeUnit, maxLength: 300, size: 'large' }), (text) => {
        const bytes = encodeUcs2(text);
        assert.equal(bytes.length, text.length * 2);
        assert.equal(decodeUcs2(bytes), text);
      }),
      TIME_BOUND,
    );
  });
});

describe('segment: properties (fast-check)', () => {
  const basic = fc.constantFrom(...GSM7_BASIC_TABLE.filter((_, code) => code !== GSM7_ESCAPE));
  const extension = fc.constantFrom(...GSM7_EXTENSION_TABLE.values());
  const bmp = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)); // includes lone surrogates
  const astral = fc.integer({ min: 0x10000, max: 0x10ffff }).map((cp) => String.fromCodePoint(cp));
  const gsmOnly = fc.string({ unit: fc.oneof({ weight: 5, arbitrary: basic }, { weight: 1, arbitrary: extension }), maxLength: 1200, size: 'max' });
  const mixed = fc.string({
    unit: fc.oneof(
      { weight: 6, arbitrary: basic },
      { weight: 2, arbitrary: extension },
      { weight: 1, arbitrary: bmp },
      { weight: 1, arbitrary: astral },
    ),
    maxLength: 900,
    size: 'max',
  });

  test('GSM-7 texts: reassemble, decode, fit their limits, never split an escape pair', () => {
    fc.assert(
      fc.property(gsmOnly, fc.integer({ min: 0, max: 255 }), (text, reference) => {
        checkInvariants(text, segment(text, { maxSegments: 255, reference }), reference);
      }),
      TIME_BOUND,
    );
  });

  test('mixed texts (GSM, extension, BMP incl. lone surrogates, astral): reassemble, decode, fit, never split a pair', () => {
    fc.assert(
      fc.property(mixed, (text) => {
        checkInvariants(text, segment(text, { maxSegments: 255 }));
      }),
      TIME_BOUND,
    );
  });

  test('maxSegments is enforced exactly (fast-check)', () => {
    fc.assert(
      fc.property(mixed, fc.integer({ min: 1, max: 12 }), (text, maxSegments) => {
        const needed = segment(text, { maxSegments: 255 }).segments;
        if (needed <= maxSegments) {
          assert.equal(segment(text, { maxSegments }).segments, needed);
        } else {
          assert.throws(
            () => segment(text, { maxSegments }),
            (err: unknown) => err instanceof SmsTooLongError && err.segments === needed && err.maxSegments === maxSegments,
          );
        }
      }),
      TIME_BOUND,
    );
  });
});
