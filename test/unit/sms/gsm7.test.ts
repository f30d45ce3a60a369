import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  GSM7_BASIC_TABLE,
  GSM7_ESCAPE,
  GSM7_EXTENSION_TABLE,
  decodeGsm7,
  encodeGsm7,
  gsm7Septets,
  gsm7UnitSeptets,
  isGsm7,
} from '../../../src/sms/gsm7.js';

const BASIC_CHARS = GSM7_BASIC_TABLE.filter((_, code) => code !== GSM7_ESCAPE);
const EXTENSION_CHARS = [...GSM7_EXTENSION_TABLE.values()];
const gsmChar = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...BASIC_CHARS) },
  { weight: 1, arbitrary: fc.constantFrom(...EXTENSION_CHARS) },
);
const TIME_BOUND = { numRuns: 200, interruptAfterTimeLimit: 5000 };

describe('GSM-7 tables', () => {
  test('basic table: 128 codes, 127 distinct single-code-unit characters besides the escape', () => {
    assert.equal(GSM7_BASIC_TABLE.length, 128);
    assert.equal(BASIC_CHARS.length, 127);
    assert.equal(new Set(BASIC_CHARS).size, 127);
    for (const ch of BASIC_CHARS) assert.equal(ch.length, 1);
  });

  test('basic table: reference positions (3GPP TS 23.038 §6.2.1)', () => {
    const expected: Array<[number, string]> = [
      [0x00, '@'], [0x01, '£'], [0x02, '$'], [0x03, '¥'], [0x04, 'è'], [0x05, 'é'], [0x06, 'ù'], [0x07, 'ì'],
      [0x08, 'ò'], [0x09, 'Ç'], [0x0a, '\n'], [0x0b, 'Ø'], [0x0c, 'ø'], [0x0d, '\r'], [0x0e, 'Å'], [0x0f, 'å'],
      [0x10, '\u0394'], [0x11, '_'], [0x12, '\u03a6'], [0x13, '\u0393'], [0x14, '\u039b'], [0x15, '\u03a9'],
      [0x16, '\u03a0'], [0x17, '\u03a8'], [0x18, '\u03a3'], [0x19, '\u0398'], [0x1a, '\u039e'],
      [0x1c, 'Æ'], [0x1d, 'æ'], [0x1e, 'ß'], [0x1f, 'É'], [0x20, ' '], [0x24, '\u00a4'], [0x27, "'"],
      [0x30, '0'], [0x39, '9'], [0x40, '¡'], [0x41, 'A'], [0x5a, 'Z'], [0x5b, 'Ä'], [0x5c, 'Ö'], [0x5d, 'Ñ'],
      [0x5e, 'Ü'], [0x5f, '§'], [0x60, '¿'], [0x61, 'a'], [0x7a, 'z'], [0x7b, 'ä'], [0x7c, 'ö'], [0x7d, 'ñ'],
      [0x7e, 'ü'], [0x7f, 'à'],
    ];
    for (const [code, ch] of expected) {
      assert.equal(GSM7_BASIC_TABLE[code], ch, `code 0x${code.toString(16)}`);
      assert.deepEqual([...encodeGsm7(ch)], [code]);
    }
  });

  test('extension table: escape 0x1B then code', () => {
    const expected: Array<[string, number]> = [
      ['\f', 0x0a], ['^', 0x14], ['{', 0x28], ['}', 0x29], ['\\', 0x2f], ['[', 0x3c], ['~', 0x3d], [']', 0x3e],
      ['|', 0x40], ['€', 0x65],
    ];
    assert.equal(GSM7_EXTENSION_TABLE.size, expected.length);
    for (const [ch, code] of expected) {
      assert.equal(GSM7_EXTENSION_TABLE.get(code), ch);
      assert.deepEqual([...encodeGsm7(ch)], [0x1b, code], ch);
      assert.equal(decodeGsm7(Buffer.from([0x1b, code])), ch);
      assert.equal(gsm7UnitSeptets(ch.charCodeAt(0)), 2);
    }
  });

  test('every code 0x00..0x7F except the escape decodes to its table character and back', () => {
    for (let code = 0; code < 128; code++) {
      if (code === GSM7_ESCAPE) continue;
      const ch = decodeGsm7(Buffer.from([code]));
      assert.equal(ch, GSM7_BASIC_TABLE[code]);
      assert.deepEqual([...encodeGsm7(ch)], [code]);
      assert.equal(gsm7UnitSeptets(ch.charCodeAt(0)), 1);
    }
  });
});

describe('GSM-7 classification and length', () => {
  test('look-alikes and other characters are not GSM-7', () => {
    for (const ch of ['ç', 'á', 'í', 'ó', 'ú', 'â', 'Ê', '`', '\t', '\u00a0', '\u2126', '\u2206', '\u05d0', '\u20ac\u0301', '😀', '\ud83d']) {
      assert.equal(isGsm7(ch), false, JSON.stringify(ch));
      assert.throws(() => encodeGsm7(`ok${ch}`), RangeError);
    }
    assert.throws(() => encodeGsm7('abç'), /U\+00E7 at index 2/);
    assert.throws(() => encodeGsm7('a😀'), /U\+1F600 at index 1/);
  });

  test('septet counts', () => {
    assert.equal(gsm7Septets(''), 0);
    assert.equal(isGsm7(''), true);
    assert.equal(gsm7Septets('Hello, world!'), 13);
    assert.equal(gsm7Septets('€'), 2);
    assert.equal(gsm7Septets('{a}'), 5);
    assert.equal(gsm7Septets('a\fb'), 4);
    assert.equal(gsm7Septets('naïve'), undefined);
    assert.equal(gsm7UnitSeptets(0x1b), 0); // the escape code itself is not a character
  });

  test('encode: a mixed text', () => {
    assert.deepEqual([...encodeGsm7('@£[€]\n')], [0x00, 0x01, 0x1b, 0x3c, 0x1b, 0x65, 0x1b, 0x3e, 0x0a]);
    assert.equal(encodeGsm7('').length, 0);
  });
});

describe('GSM-7 decoding of irregular input', () => {
  test('undefined extension codes fall back to the basic table', () => {
    assert.equal(decodeGsm7(Buffer.from([0x1b, 0x41])), 'A');
    assert.equal(decodeGsm7(Buffer.from([0x1b, 0x00, 0x62])), '@b');
    assert.equal(decodeGsm7(Buffer.from([0x1b, 0x0d])), '\r');
  });

  test('0x1B 0x1B is a space; a final lone escape is dropped; octets above 0x7F are U+FFFD', () => {
    assert.equal(decodeGsm7(Buffer.from([0x61, 0x1b, 0x1b, 0x62])), 'a b');
    assert.equal(decodeGsm7(Buffer.from([0x61, 0x1b])), 'a');
    assert.equal(decodeGsm7(Buffer.from([0x1b])), '');
    assert.equal(decodeGsm7(Buffer.from([0x61, 0x80, 0xff, 0x62])), 'a\ufffd\ufffdb');
    assert.equal(decodeGsm7(Buffer.from([0x1b, 0xe5])), '\ufffd');
  });

  test('decoding never throws and yields GSM-7 or U+FFFD only (fast-check)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300, size: 'large' }), (bytes) => {
        const text = decodeGsm7(bytes);
        assert.ok(isGsm7(text.replaceAll('\ufffd', '')));
      }),
      TIME_BOUND,
    );
  });
});

describe('GSM-7 round trips (fast-check)', () => {
  test('decode(encode(text)) === text, encoded length === septet count', () => {
    fc.assert(
      fc.property(fc.string({ unit: gsmChar, maxLength: 400, size: 'large' }), (text) => {
        const bytes = encodeGsm7(text);
        assert.equal(bytes.length, gsm7Septets(text));
        assert.ok(bytes.every((b) => b <= 0x7f));
        assert.equal(decodeGsm7(bytes), text);
      }),
      TIME_BOUND,
    );
  });

  test('encode(decode(bytes)) === bytes for canonical septet streams', () => {
    const extensionCodes = [...GSM7_EXTENSION_TABLE.keys()];
    const symbol = fc.oneof(
      fc.integer({ min: 0, max: 0x7f }).filter((b) => b !== GSM7_ESCAPE).map((b) => [b]),
      fc.constantFrom(...extensionCodes).map((code) => [GSM7_ESCAPE, code]),
    );
    fc.assert(
      fc.property(fc.array(symbol, { maxLength: 300, size: 'large' }), (symbols) => {
        const bytes = Buffer.from(symbols.flat());
        assert.deepEqual(encodeGsm7(decodeGsm7(bytes)), bytes);
      }),
      TIME_BOUND,
    );
  });
});
