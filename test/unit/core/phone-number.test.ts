import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isE164, normalizePhoneNumber } from '../../../src/core/phone-number.js';
import { DialplaneError } from '../../../src/errors.js';

function assertInvalid(input: string, country: string, field?: string): void {
  const expectedField = field ?? 'phone_number';
  assert.throws(
    () => (field === undefined ? normalizePhoneNumber(input, country) : normalizePhoneNumber(input, country, field)),
    (error: unknown) => {
      assert.ok(error instanceof DialplaneError, `expected a DialplaneError, got ${String(error)}`);
      assert.equal(error.code, 'invalid_phone_number');
      assert.equal(error.status, 400);
      assert.ok(error.message.startsWith(`${expectedField} `), `message should name ${expectedField}: ${error.message}`);
      assert.deepEqual(error.details, { field: expectedField });
      return true;
    },
  );
}

describe('normalizePhoneNumber', () => {
  const accepted: ReadonlyArray<readonly [string, string, string]> = [
    ['0527121102', 'IL', '+972527121102'],
    ['052-712-1102', 'IL', '+972527121102'],
    ['0527121102', 'il', '+972527121102'],
    ['+972 52-712-1102', 'US', '+972527121102'],
    ['+972 52-712-1102', 'IL', '+972527121102'],
    ['+972527121102', 'GB', '+972527121102'],
    ['4252337837', 'US', '+14252337837'],
    ['(415) 555-1234', 'US', '+14155551234'],
    ['415.555.1234', 'US', '+14155551234'],
    ['  (415) 555-1234  ', 'US', '+14155551234'],
    ['+1 415 555 1234', 'IL', '+14155551234'],
    ['+44 20 7946 0958', 'US', '+442079460958'],
    ['020 7946 0958', 'GB', '+442079460958'],
  ];
  for (const [input, country, expected] of accepted) {
    test(`${JSON.stringify(input)} with ${country} → ${expected}`, () => {
      assert.equal(normalizePhoneNumber(input, country), expected);
    });
  }

  const refused: readonly string[] = ['', '   ', '12', 'abc', '+', '+0123', '+0 527 121 102', '1'.repeat(41)];
  for (const input of refused) {
    test(`refuses ${JSON.stringify(input.length > 20 ? `${input.slice(0, 8)}… (${input.length} chars)` : input)}`, () => {
      assertInvalid(input, 'US');
      assertInvalid(input, 'IL');
    });
  }

  test('the 41-character refusal is about length: the same number at 40 characters or less is not refused for it', () => {
    const padded = `+14155551234${' '.repeat(29)}`;
    assert.equal(padded.length, 41);
    // Leading/trailing spaces are trimmed before the length check.
    assert.equal(normalizePhoneNumber(padded, 'US'), '+14155551234');
    assertInvalid(`+1 (415) 555-1234${'-'.repeat(41 - 17)}`, 'US');
  });

  test('the error names the field it was given', () => {
    assertInvalid('abc', 'US', 'to');
    assertInvalid('12', 'US', 'from');
    assertInvalid('', 'IL', 'caller_id');
    assertInvalid('abc', 'US');
  });

  test('the error message quotes the input', () => {
    assert.throws(
      () => normalizePhoneNumber('abc', 'US', 'to'),
      (error: unknown) => error instanceof DialplaneError && error.message === 'to is not a valid phone number: "abc"',
    );
  });

  test('an unknown default country refuses national numbers with invalid_phone_number, not a crash', () => {
    assertInvalid('4155551234', 'XX');
    assertInvalid('4155551234', '');
    assert.equal(normalizePhoneNumber('+14155551234', 'XX'), '+14155551234');
  });
});

describe('isE164', () => {
  const yes = ['+14155551234', '+972527121102', '+442079460958', '+1234567', '+123456789012345'];
  const no = [
    '',
    '+',
    '14155551234',
    '+0123456789',
    '+123456',
    '+1234567890123456',
    '+1 415 555 1234',
    '+1-415-555-1234',
    ' +14155551234',
    '+14155551234 ',
    '+1415555123a',
    '++14155551234',
    '+١٤١٥٥٥٥١٢٣٤',
  ];
  for (const value of yes) test(`accepts ${value}`, () => assert.equal(isE164(value), true));
  for (const value of no) test(`rejects ${JSON.stringify(value)}`, () => assert.equal(isE164(value), false));
});

describe('normalizePhoneNumber properties', () => {
  const countries = fc.constantFrom('US', 'IL', 'GB', 'DE', 'FR', 'IN', 'BR', 'JP', 'AU', 'CA', 'us', 'XX');
  // Mostly phone-looking text (digits and the usual separators), so the accepting path is exercised too.
  const phoneish = fc
    .array(fc.constantFrom('0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ' ', '-', '(', ')', '.', '+'), {
      maxLength: 20,
    })
    .map((chars) => chars.join(''));
  const plusDigits = fc
    .array(fc.constantFrom('0', '1', '2', '3', '4', '5', '6', '7', '8', '9'), { minLength: 1, maxLength: 16 })
    .map((digits) => `+${digits.join('')}`);
  const input = fc.oneof(fc.string({ maxLength: 45 }), fc.string({ unit: 'binary', maxLength: 45 }), phoneish, plusDigits);

  test('throws only DialplaneError(invalid_phone_number), and whatever it returns is E.164', () => {
    let acceptedCount = 0;
    fc.assert(
      fc.property(input, countries, (text, country) => {
        let result: string;
        try {
          result = normalizePhoneNumber(text, country);
        } catch (error) {
          assert.ok(error instanceof DialplaneError, `${JSON.stringify(text)} threw ${String(error)}`);
          assert.equal(error.code, 'invalid_phone_number');
          return;
        }
        acceptedCount += 1;
        assert.ok(isE164(result), `${JSON.stringify(text)} → ${JSON.stringify(result)} is not E.164`);
      }),
      { numRuns: 400 },
    );
    // Sanity: the generators reach the accepting path, so the E.164 check actually ran.
    assert.ok(acceptedCount > 0, 'no generated input was accepted');
  });

  test('normalising a realistic number twice gives the same E.164 string, whatever the default country', () => {
    const inputs: ReadonlyArray<readonly [string, string]> = [
      ['0527121102', 'IL'],
      ['+972 52-712-1102', 'US'],
      ['+972 052-712-1102', 'US'],
      ['4252337837', 'US'],
      ['(415) 555-1234', 'US'],
      ['(604) 555-1234', 'CA'],
      ['+44 20 7946 0958', 'US'],
      ['+44 (0)20 7946 0958', 'US'],
      ['020 7946 0958', 'GB'],
      ['030 1234567', 'DE'],
    ];
    for (const [text, country] of inputs) {
      const once = normalizePhoneNumber(text, country);
      for (const again of [country, 'US', 'IL', 'GB', 'XX']) {
        assert.equal(normalizePhoneNumber(once, again), once, `${JSON.stringify(text)} → ${once}, again with ${again}`);
      }
    }
  });

  /** Either refused, or normalised to a string that normalises to itself: never a form that changes on re-entry. */
  function assertFixedPointOrRefused(text: string, country: string): void {
    let once: string;
    try {
      once = normalizePhoneNumber(text, country);
    } catch (error) {
      assert.ok(error instanceof DialplaneError && error.code === 'invalid_phone_number');
      return;
    }
    assert.equal(normalizePhoneNumber(once, country), once);
  }

  test('regression: a 7-digit Canadian local number is not stored in a form refused later', () => {
    // Was: '555-1234' with CA → '+15551234', which normalizePhoneNumber then refused with any default country.
    assertFixedPointOrRefused('555-1234', 'CA');
  });

  test('regression: a doubled trunk zero after the country code never yields a form that changes again', () => {
    // Was: '+97200527121102' → '+9720527121102' → '+972527121102' (one zero per pass).
    assertFixedPointOrRefused('+97200527121102', 'US');
    assertFixedPointOrRefused('000550818599', 'DE');
  });

  test('property: normalising the result again (any default country) gives the same string', () => {
    fc.assert(
      fc.property(input, countries, countries, (text, country, otherCountry) => {
        let result: string;
        try {
          result = normalizePhoneNumber(text, country);
        } catch (error) {
          assert.ok(error instanceof DialplaneError, `${JSON.stringify(text)} threw ${String(error)}`);
          return;
        }
        assert.ok(isE164(result));
        assert.equal(normalizePhoneNumber(result, country), result, `${JSON.stringify(text)} (${country}) → ${result}`);
        assert.equal(normalizePhoneNumber(result, otherCountry), result, `${JSON.stringify(text)} (${country}) → ${result}`);
      }),
      {
        numRuns: 400,
        // The known counterexamples are replayed first, so this fails deterministically rather than now and then.
        examples: [
          ['555-1234', 'CA', 'US'],
          ['+97200527121102', 'US', 'US'],
        ],
      },
    );
  });
});
