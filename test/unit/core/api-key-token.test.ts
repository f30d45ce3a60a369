import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import {
  KEY_PREFIX,
  constantTimeEqual,
  generateApiKeyToken,
  hashApiKeyToken,
  isWellFormedApiKeyToken,
} from '../../../src/core/api-key-token.js';
import { BASE62 } from '../../../src/core/ids.js';

const TOKEN_SHAPE = /^dk_live_[0-9A-Za-z]{38}$/;
const BODY_LENGTH = 38;
const RANDOM_LENGTH = 32;

/** An independent rendering of the documented checksum: CRC32 of the random part, six base62 digits, most significant first. */
function referenceChecksum(random: string): string {
  let value = crc32(random);
  let out = '';
  for (let i = 0; i < 6; i++) {
    out = BASE62[value % 62]! + out;
    value = Math.floor(value / 62);
  }
  return out;
}

function replaceAt(text: string, index: number, char: string): string {
  return text.slice(0, index) + char + text.slice(index + 1);
}

describe('generateApiKeyToken', () => {
  test('uses the dk_live_ prefix', () => {
    assert.equal(KEY_PREFIX, 'dk_live_');
  });

  test('tokens have the documented shape and are well-formed', () => {
    for (let i = 0; i < 200; i++) {
      const { token } = generateApiKeyToken();
      assert.match(token, TOKEN_SHAPE);
      assert.equal(isWellFormedApiKeyToken(token), true, token);
    }
  });

  test('the last six characters are the base62 CRC32 of the 32 random ones', () => {
    for (let i = 0; i < 200; i++) {
      const { token } = generateApiKeyToken();
      const body = token.slice(KEY_PREFIX.length);
      assert.equal(body.slice(RANDOM_LENGTH), referenceChecksum(body.slice(0, RANDOM_LENGTH)), token);
    }
  });

  test('1,000 tokens are all different, and so are their hashes', () => {
    const tokens = new Set<string>();
    const hashes = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const generated = generateApiKeyToken();
      tokens.add(generated.token);
      hashes.add(generated.hash);
    }
    assert.equal(tokens.size, 1000);
    assert.equal(hashes.size, 1000);
  });

  test('hash is the hex SHA-256 of the whole token and last4 its last four characters', () => {
    for (let i = 0; i < 100; i++) {
      const { token, hash, last4 } = generateApiKeyToken();
      assert.match(hash, /^[0-9a-f]{64}$/);
      assert.equal(hash, createHash('sha256').update(token, 'utf8').digest('hex'));
      assert.equal(hash, hashApiKeyToken(token));
      assert.equal(last4.length, 4);
      assert.equal(last4, token.slice(-4));
      assert.ok(token.endsWith(last4));
    }
  });

  test('the random part uses the whole base62 alphabet', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      for (const char of generateApiKeyToken().token.slice(KEY_PREFIX.length, KEY_PREFIX.length + RANDOM_LENGTH)) {
        seen.add(char);
      }
    }
    // 6,400 draws from 62 characters: missing one has probability about 62·(61/62)^6400 ≈ 10^-43.
    assert.equal(seen.size, 62);
  });
});

describe('hashApiKeyToken', () => {
  test('known SHA-256 vectors', () => {
    assert.equal(hashApiKeyToken(''), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    assert.equal(hashApiKeyToken('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});

describe('isWellFormedApiKeyToken', () => {
  const { token } = generateApiKeyToken();
  const body = token.slice(KEY_PREFIX.length);

  test('every single-character substitution in the body of a token is rejected (exhaustive over base62)', () => {
    let checked = 0;
    for (let index = 0; index < BODY_LENGTH; index++) {
      for (const char of BASE62) {
        if (char === body[index]) continue;
        const changed = KEY_PREFIX + replaceAt(body, index, char);
        assert.equal(isWellFormedApiKeyToken(changed), false, `${changed} (position ${index} → ${char})`);
        checked += 1;
      }
    }
    assert.equal(checked, BODY_LENGTH * 61);
  });

  test('property: a changed character anywhere in the body of any token is rejected', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: BODY_LENGTH - 1 }),
        // A shift of 1..61 within the alphabet always lands on a different base62 character.
        fc.integer({ min: 1, max: 61 }),
        (index, shift) => {
          const fresh = generateApiKeyToken().token;
          const freshBody = fresh.slice(KEY_PREFIX.length);
          const original = freshBody[index]!;
          const replacement = BASE62[(BASE62.indexOf(original) + shift) % 62]!;
          assert.notEqual(replacement, original);
          const changed = KEY_PREFIX + replaceAt(freshBody, index, replacement);
          assert.equal(isWellFormedApiKeyToken(changed), false, changed);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('property: any other character (not base62) in the body is rejected', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: BODY_LENGTH - 1 }),
        fc
          .oneof(
            fc.constantFrom('_', '-', '+', '/', '=', ' ', '.', '\0', '\n', 'é', 'Ａ', '０'),
            fc.integer({ min: 0, max: 0x10ffff }).map((cp) => String.fromCodePoint(cp)),
          )
          .filter((c) => !BASE62.includes(c)),
        (index, char) => {
          const changed = KEY_PREFIX + replaceAt(body, index, char);
          assert.equal(isWellFormedApiKeyToken(changed), false, JSON.stringify(changed));
        },
      ),
      { numRuns: 300 },
    );
  });

  test('property: swapping two different adjacent characters is rejected', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: BODY_LENGTH - 2 }), (index) => {
        const fresh = generateApiKeyToken().token.slice(KEY_PREFIX.length);
        const a = fresh[index]!;
        const b = fresh[index + 1]!;
        fc.pre(a !== b);
        const swapped = fresh.slice(0, index) + b + a + fresh.slice(index + 2);
        assert.equal(isWellFormedApiKeyToken(KEY_PREFIX + swapped), false, swapped);
      }),
      { numRuns: 200 },
    );
  });

  test('wrong or altered prefixes are rejected', () => {
    for (const prefix of ['dk_test_', 'DK_LIVE_', 'dk_live', 'dk-live-', 'sk_live_', '', 'xdk_live_', ' dk_live_']) {
      assert.equal(isWellFormedApiKeyToken(prefix + body), false, JSON.stringify(prefix));
    }
    for (let index = 0; index < KEY_PREFIX.length; index++) {
      const changed = replaceAt(KEY_PREFIX, index, 'x') + body;
      assert.equal(isWellFormedApiKeyToken(changed), false, changed);
    }
  });

  test('wrong lengths, padding and foreign strings are rejected', () => {
    assert.equal(isWellFormedApiKeyToken(token), true);
    assert.equal(isWellFormedApiKeyToken(token.slice(0, -1)), false);
    assert.equal(isWellFormedApiKeyToken(`${token}0`), false);
    assert.equal(isWellFormedApiKeyToken(`${KEY_PREFIX}0${body}`), false);
    assert.equal(isWellFormedApiKeyToken(` ${token}`), false);
    assert.equal(isWellFormedApiKeyToken(`${token} `), false);
    assert.equal(isWellFormedApiKeyToken(`${token}\n`), false);
    assert.equal(isWellFormedApiKeyToken(''), false);
    assert.equal(isWellFormedApiKeyToken(KEY_PREFIX), false);
    assert.equal(isWellFormedApiKeyToken(`${KEY_PREFIX}${'0'.repeat(BODY_LENGTH)}`), false);
  });

  test('a token built by hand with the documented checksum is accepted', () => {
    const random = 'A'.repeat(RANDOM_LENGTH);
    assert.equal(isWellFormedApiKeyToken(KEY_PREFIX + random + referenceChecksum(random)), true);
  });

  test('random strings of the right shape are rejected (the checksum is not trivially satisfied)', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...BASE62), { minLength: BODY_LENGTH, maxLength: BODY_LENGTH }), (chars) => {
        const candidate = KEY_PREFIX + chars.join('');
        const random = chars.slice(0, RANDOM_LENGTH).join('');
        const expected = chars.slice(RANDOM_LENGTH).join('') === referenceChecksum(random);
        assert.equal(isWellFormedApiKeyToken(candidate), expected, candidate);
      }),
      { numRuns: 300 },
    );
  });
});

describe('constantTimeEqual', () => {
  test('equal strings compare equal', () => {
    assert.equal(constantTimeEqual('', ''), true);
    assert.equal(constantTimeEqual('abc', 'abc'), true);
    assert.equal(constantTimeEqual('héllo ✓', 'héllo ✓'), true);
  });

  test('different strings of the same length compare unequal', () => {
    assert.equal(constantTimeEqual('abc', 'abd'), false);
    assert.equal(constantTimeEqual('abc', 'ABC'), false);
    assert.equal(constantTimeEqual('xbc', 'abc'), false);
  });

  test('different lengths compare unequal without throwing', () => {
    assert.equal(constantTimeEqual('abc', 'abcd'), false);
    assert.equal(constantTimeEqual('abcd', 'abc'), false);
    assert.equal(constantTimeEqual('', 'a'), false);
    assert.equal(constantTimeEqual('a', ''), false);
    assert.equal(constantTimeEqual('abc', 'abc\0'), false);
  });

  test('compares UTF-8 bytes: same character count but different byte lengths are unequal', () => {
    assert.equal(constantTimeEqual('é', 'e'), false);
    assert.equal(constantTimeEqual('ab', 'é'), false);
  });

  test('property: agrees with === on arbitrary strings', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 20 }), fc.string({ maxLength: 20 }), (a, b) => {
        assert.equal(constantTimeEqual(a, b), a === b);
        assert.equal(constantTimeEqual(a, a), true);
      }),
      { numRuns: 300 },
    );
  });
});
