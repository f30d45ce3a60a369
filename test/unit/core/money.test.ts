import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MINOR_PER_CREDIT, creditsToMinor, minorToCredits } from '../../../src/core/money.js';

/** The largest magnitude creditsToMinor accepts: 13 whole digits and two decimals. */
const MAX_MINOR = 999_999_999_999_999;

describe('creditsToMinor', () => {
  test('one credit is a hundred minor units', () => {
    assert.equal(MINOR_PER_CREDIT, 100);
  });

  const accepted: ReadonlyArray<readonly [string | number, number]> = [
    ['1250.75', 125_075],
    [12.5, 1250],
    ['10', 1000],
    [10, 1000],
    ['-3.5', -350],
    [-3.5, -350],
    ['0', 0],
    [0, 0],
    ['0.01', 1],
    [0.01, 1],
    ['0.1', 10],
    [0.1, 10],
    ['-0.05', -5],
    ['007.5', 750],
    ['  42.10  ', 4210],
    ['9999999999999.99', MAX_MINOR],
    ['-9999999999999.99', -MAX_MINOR],
    [9_999_999_999_999.99, MAX_MINOR],
  ];
  for (const [input, expected] of accepted) {
    test(`${JSON.stringify(input)} (${typeof input}) → ${expected}`, () => {
      assert.equal(creditsToMinor(input), expected);
    });
  }

  const refused: ReadonlyArray<string | number> = [
    '0.125',
    0.125,
    '1.005',
    'abc',
    '',
    '   ',
    '1e30',
    1e30,
    '1e2',
    1e-7,
    '.5',
    '5.',
    '+5',
    '--5',
    '1,000',
    '1 000',
    '0x10',
    '12.3.4',
    '10000000000000',
    10_000_000_000_000,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    0.1 + 0.2,
    'NaN',
    'Infinity',
  ];
  for (const input of refused) {
    test(`refuses ${typeof input === 'string' ? JSON.stringify(input) : String(input)} (${typeof input})`, () => {
      assert.throws(() => creditsToMinor(input), RangeError);
    });
  }

  test('the RangeError message quotes the refused value', () => {
    assert.throws(() => creditsToMinor('0.125'), (error: unknown) => {
      assert.ok(error instanceof RangeError);
      assert.match(error.message, /0\.125/);
      return true;
    });
  });

  test('every string with one or two decimals parses to the integer it spells', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.bigInt({ min: 0n, max: 9_999_999_999_999n }),
        fc.constantFrom('', '.0', '.5', '.05', '.50', '.99', '.1', '.07'),
        (negative, whole, fraction) => {
          const text = `${negative ? '-' : ''}${whole}${fraction}`;
          const digits = fraction.slice(1).padEnd(2, '0');
          const magnitude = Number(whole) * 100 + Number(digits);
          const expected = negative ? -magnitude : magnitude;
          // -0 and 0 are the same amount; compare numerically.
          assert.ok(creditsToMinor(text) === expected, `${text} → ${creditsToMinor(text)}, expected ${expected}`);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('always returns a safe integer or throws RangeError, for any string', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 24 }), (text) => {
        try {
          const minor = creditsToMinor(text);
          assert.ok(Number.isSafeInteger(minor), `${JSON.stringify(text)} → ${minor}`);
        } catch (error) {
          assert.ok(error instanceof RangeError, `${JSON.stringify(text)} threw ${String(error)}`);
        }
      }),
      { numRuns: 300 },
    );
  });

  test('always returns a safe integer or throws RangeError, for any double', () => {
    fc.assert(
      fc.property(fc.double(), (value) => {
        try {
          const minor = creditsToMinor(value);
          assert.ok(Number.isSafeInteger(minor), `${value} → ${minor}`);
          // Whatever is accepted is the number itself, to the cent.
          assert.ok(minor / 100 === value, `${value} → ${minor}`);
        } catch (error) {
          assert.ok(error instanceof RangeError, `${value} threw ${String(error)}`);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('minorToCredits', () => {
  const vectors: ReadonlyArray<readonly [number, number]> = [
    [125_075, 1250.75],
    [1250, 12.5],
    [1000, 10],
    [-350, -3.5],
    [1, 0.01],
    [-1, -0.01],
    [0, 0],
    [99, 0.99],
    [MAX_MINOR, 9_999_999_999_999.99],
  ];
  for (const [minor, credits] of vectors) {
    test(`${minor} → ${credits}`, () => {
      assert.equal(minorToCredits(minor), credits);
    });
  }

  test('shows at most two decimals', () => {
    fc.assert(
      fc.property(fc.integer({ min: -MAX_MINOR, max: MAX_MINOR }), (minor) => {
        assert.match(String(minorToCredits(minor)), /^-?\d+(?:\.\d{1,2})?$/);
      }),
      { numRuns: 300 },
    );
  });
});

describe('round trip', () => {
  test('creditsToMinor(minorToCredits(m)) === m for every integer m in the accepted range', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.integer({ min: -MAX_MINOR, max: MAX_MINOR }),
          fc.integer({ min: -100_000, max: 100_000 }),
          fc.constantFrom(0, 1, -1, 99, 100, 101, MAX_MINOR, -MAX_MINOR, MAX_MINOR - 1),
        ),
        (minor) => {
          const back = creditsToMinor(minorToCredits(minor));
          assert.ok(back === minor, `${minor} → ${minorToCredits(minor)} → ${back}`);
        },
      ),
      { numRuns: 400 },
    );
  });

  test('creditsToMinor(String(minorToCredits(m))) === m as well (the JSON path)', () => {
    fc.assert(
      fc.property(fc.integer({ min: -MAX_MINOR, max: MAX_MINOR }), (minor) => {
        const shown = JSON.stringify(minorToCredits(minor));
        assert.ok(creditsToMinor(shown) === minor, `${minor} → ${shown}`);
      }),
      { numRuns: 300 },
    );
  });
});
