import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { keyIdOf, parseSecretKey, SecretBox, SecretBoxError, type SealedColumn } from '../../../src/store/secret-box.js';

const KEY_A = Buffer.alloc(32, 1);
const KEY_B = Buffer.alloc(32, 2);
const COLUMNS: SealedColumn[] = [
  'webhook_endpoints.secret',
  'webhook_endpoints.previous_secret',
  'webhook_deliveries.secret',
  'applications.hook_secret',
  'gateway_apps.webhook_secret',
  'devices.ha1',
];

function refusal(fn: () => unknown): SecretBoxError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof SecretBoxError, String(error));
    return error;
  }
  assert.fail('expected the value to be refused');
}

describe('SecretBox', () => {
  test('a sealed value names its format and key, holds no plaintext, and differs every time (random IV)', () => {
    const box = new SecretBox(KEY_A);
    const a = box.seal('devices.ha1', '0123456789abcdef0123456789abcdef');
    const b = box.seal('devices.ha1', '0123456789abcdef0123456789abcdef');
    assert.match(a, new RegExp(`^dpsec1\\.${keyIdOf(KEY_A)}\\.[A-Za-z0-9_-]+$`));
    assert.notEqual(a, b);
    assert.ok(!a.includes('0123456789abcdef'));
    assert.equal(box.open('devices.ha1', a), '0123456789abcdef0123456789abcdef');
    // 12-byte IV, 32 bytes of ciphertext, 16-byte tag.
    assert.equal(Buffer.from(a.split('.')[2]!, 'base64url').length, 12 + 32 + 16);
  });

  test('seal/open round-trips any string in every column', () => {
    const box = new SecretBox(KEY_A);
    fc.assert(
      fc.property(fc.constantFrom(...COLUMNS), fc.string({ unit: 'binary', maxLength: 300 }), (column, text) => {
        assert.equal(box.open(column, box.seal(column, text)), text);
      }),
      { numRuns: 2_000, interruptAfterTimeLimit: 3_000 },
    );
  });

  test('any flipped bit of the sealed bytes is refused', () => {
    const box = new SecretBox(KEY_A);
    let runs = 0;
    fc.assert(
      fc.property(fc.string({ maxLength: 100 }), fc.nat(), fc.integer({ min: 0, max: 7 }), (text, at, bit) => {
        runs++;
        const [prefix, kid, body] = box.seal('webhook_endpoints.secret', text).split('.');
        const bytes = Buffer.from(body!, 'base64url');
        bytes[at % bytes.length]! ^= 1 << bit;
        const tampered = `${prefix}.${kid}.${bytes.toString('base64url')}`;
        assert.equal(refusal(() => box.open('webhook_endpoints.secret', tampered)).code, 'does_not_open');
      }),
      { numRuns: 2_000, interruptAfterTimeLimit: 3_000 },
    );
    assert.ok(runs >= 100, `only ${runs} runs`);
  });

  test('a value moved to another column does not open there (the column is authenticated)', () => {
    const box = new SecretBox(KEY_A);
    const sealed = box.seal('webhook_deliveries.secret', 'whsec_one');
    assert.equal(refusal(() => box.open('webhook_endpoints.secret', sealed)).code, 'does_not_open');
  });

  test('a value sealed with a previous key opens while that key is listed; an unknown key is named as such', () => {
    const old = new SecretBox(KEY_A).seal('applications.hook_secret', 'whsec_old');
    const rotated = new SecretBox(KEY_B, [KEY_A]);
    assert.equal(rotated.open('applications.hook_secret', old), 'whsec_old');
    assert.ok(!rotated.sealedWithCurrentKey(old));
    assert.ok(rotated.sealedWithCurrentKey(rotated.seal('applications.hook_secret', 'x')));
    assert.equal(refusal(() => new SecretBox(KEY_B).open('applications.hook_secret', old)).code, 'unknown_key');
  });

  test('plaintext and malformed values are refused, never passed through', () => {
    const box = new SecretBox(KEY_A);
    assert.equal(refusal(() => box.open('devices.ha1', '0123456789abcdef0123456789abcdef')).code, 'not_sealed');
    assert.equal(refusal(() => box.open('devices.ha1', `dpsec1.${box.currentKeyId}.AAAA`)).code, 'does_not_open');
  });

  test('sealRow and openRow touch only the sealed columns, and leave null alone', () => {
    const box = new SecretBox(KEY_A);
    const row = { id: 'we_1', secret: 'whsec_x', previous_secret: null, url: 'https://example.com/' };
    const sealed = box.sealRow('webhook_endpoints', row);
    assert.equal(sealed.id, 'we_1');
    assert.equal(sealed.url, 'https://example.com/');
    assert.equal(sealed.previous_secret, null);
    assert.match(sealed.secret, /^dpsec1\./);
    assert.deepEqual(box.openRow('webhook_endpoints', sealed), row);
    assert.equal(row.secret, 'whsec_x', 'the input row is not changed');
  });

  test('keys are 32 bytes as base64 (openssl rand -base64 32) or 64 hex digits', () => {
    const key = randomBytes(32);
    assert.deepEqual(parseSecretKey(key.toString('base64')), key);
    assert.deepEqual(parseSecretKey(key.toString('hex')), key);
    assert.deepEqual(parseSecretKey(`${key.toString('base64url')}\n`), key);
    assert.equal(parseSecretKey(randomBytes(16).toString('base64')), undefined);
    assert.equal(parseSecretKey('not a key'), undefined);
    assert.equal(parseSecretKey(''), undefined);
  });
});
