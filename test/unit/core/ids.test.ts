import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BASE62, base62Time, newId, randomBase62 } from '../../../src/core/ids.js';
import type { IdPrefix } from '../../../src/core/ids.js';

const PREFIXES: readonly IdPrefix[] = ['acct', 'user', 'key', 'app', 'pn', 'txn', 'hold', 'price'];

describe('BASE62', () => {
  test('is the 62 digits and letters, in ASCII order, each once', () => {
    assert.equal(BASE62.length, 62);
    assert.equal(new Set(BASE62).size, 62);
    assert.match(BASE62, /^[0-9A-Za-z]{62}$/);
    assert.equal(BASE62, [...BASE62].sort().join(''));
  });
});

describe('randomBase62', () => {
  test('returns exactly the requested length', () => {
    for (const length of [0, 1, 2, 7, 20, 31, 32, 64, 100, 257, 1000, 4096]) {
      assert.equal(randomBase62(length).length, length, `length ${length}`);
    }
  });

  test('property: any length up to 500 gives that many base62 characters', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 500 }), (length) => {
        const text = randomBase62(length);
        assert.equal(text.length, length);
        assert.match(text, /^[0-9A-Za-z]*$/);
      }),
      { numRuns: 200 },
    );
  });

  test('successive calls differ', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 10_000; i++) seen.add(randomBase62(12));
    assert.equal(seen.size, 10_000);
  });

  test('characters are roughly uniform over ~62,000 draws (loose chi-square bound)', () => {
    const draws = 62_000;
    const counts = new Map<string, number>();
    // Many short calls as well as long ones, so the per-call refill logic is exercised too.
    let text = randomBase62(31_000);
    for (let i = 0; i < 1_000; i++) text += randomBase62(31);
    assert.equal(text.length, draws);
    for (const char of text) counts.set(char, (counts.get(char) ?? 0) + 1);
    assert.equal(counts.size, 62, 'every character appears');
    for (const char of counts.keys()) assert.ok(BASE62.includes(char), `unexpected ${JSON.stringify(char)}`);

    const expected = draws / 62; // 1,000 per character
    let chiSquare = 0;
    for (const char of BASE62) {
      const observed = counts.get(char) ?? 0;
      chiSquare += (observed - expected) ** 2 / expected;
      // One character's count has sd ≈ 31; 400 away is about 13 sd.
      assert.ok(Math.abs(observed - expected) < 400, `${char} appeared ${observed} times, expected about ${expected}`);
    }
    // 61 degrees of freedom: mean 61, sd ≈ 11. 250 is about 17 sd out, so this never flakes on a uniform source,
    // while e.g. a plain byte % 62 (first 8 characters 25% likelier) lands well above it.
    assert.ok(chiSquare < 250, `chi-square ${chiSquare.toFixed(1)} over 61 degrees of freedom`);

    // The modulo-bias check on its own: without dropping bytes ≥ 248, '0'..'7' would take ~15.6% instead of ~12.9%.
    let firstEight = 0;
    for (const char of BASE62.slice(0, 8)) firstEight += counts.get(char) ?? 0;
    // Uniform: 8,000 ± 84 (sd); biased: about 9,690.
    assert.ok(Math.abs(firstEight - 8_000) < 700, `'0'..'7' appeared ${firstEight} times, expected about 8000`);
  });

  test('every position of a fixed-length string is uniform too (no positional bias)', () => {
    const length = 8;
    const samples = 7_750; // 62,000 characters in all; 125 expected per character per position
    const counts = Array.from({ length }, () => new Map<string, number>());
    for (let i = 0; i < samples; i++) {
      const text = randomBase62(length);
      for (let p = 0; p < length; p++) {
        const map = counts[p]!;
        map.set(text[p]!, (map.get(text[p]!) ?? 0) + 1);
      }
    }
    const expected = samples / 62;
    for (let p = 0; p < length; p++) {
      let chiSquare = 0;
      for (const char of BASE62) chiSquare += ((counts[p]!.get(char) ?? 0) - expected) ** 2 / expected;
      assert.ok(chiSquare < 250, `position ${p}: chi-square ${chiSquare.toFixed(1)}`);
    }
  });
});

describe('newId', () => {
  for (const prefix of PREFIXES) {
    test(`${prefix}_ ids: prefix, underscore, 20 base62 characters`, () => {
      for (let i = 0; i < 100; i++) {
        const id = newId(prefix);
        assert.match(id, new RegExp(`^${prefix}_[0-9A-Za-z]{20}$`));
        assert.equal(id.length, prefix.length + 1 + 20);
        assert.ok(id.startsWith(`${prefix}_`));
        assert.equal(id.split('_').length, 2, 'the random part never contains an underscore');
      }
    });
  }

  test('10,000 ids are all different', () => {
    const ids = new Set<string>();
    for (let i = 0; i < 10_000; i++) ids.add(newId('pn'));
    assert.equal(ids.size, 10_000);
  });

  test('ids made later sort after ids made earlier (the first 8 characters are the time)', () => {
    const times = [0, 1, 61, 62, 3_843, 3_844, Date.UTC(2026, 0, 1), Date.UTC(2026, 0, 1) + 1, Date.UTC(9999, 0, 1)];
    const ids = times.map((t) => newId('call', t));
    assert.deepEqual([...ids].sort(), ids);
    assert.equal(base62Time(0), '00000000');
    assert.equal(base62Time(62), '00000010');
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 47 }), fc.integer({ min: 0, max: 2 ** 47 }), (a, b) => {
        const [x, y] = [base62Time(a), base62Time(b)];
        assert.equal(x.length, 8);
        assert.equal(Math.sign(a - b), x < y ? -1 : x > y ? 1 : 0);
      }),
      { numRuns: 500 },
    );
  });

  test('ids made in the same millisecond still differ', () => {
    const ids = new Set<string>();
    for (let i = 0; i < 10_000; i++) ids.add(newId('call', 1_000));
    assert.equal(ids.size, 10_000);
  });

  test('the kind can be read back from the id', () => {
    for (const prefix of PREFIXES) {
      const id = newId(prefix);
      assert.equal(id.slice(0, id.indexOf('_')), prefix);
    }
  });
});
