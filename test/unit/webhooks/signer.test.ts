import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import {
  DIALANYONE_SIGNATURE_HEADER,
  TIMESTAMPED_SIGNATURE_HEADER,
  signBody,
  signTimestamped,
  verifyBody,
  verifyTimestamped,
} from '../../../src/webhooks/signer.js';

const SECRET = 'whsec_test_5f2b9c';
const BODY = '{"event":"call.completed","call_sid":"CA123","duration":42,"to":"+15551234567","note":"caf\u00e9 \u2713"}';
const NOW = 1_767_225_600; // 2026-01-01T00:00:00Z

// The document's verifier, verbatim, plus a driver: body on stdin (UTF-8), signature and secret in argv.
const DOCUMENT_SNIPPET = `import hmac, hashlib
def verify_webhook(body, signature, secret):
    expected = hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)
`;
const DRIVER = `
import sys
print(verify_webhook(sys.stdin.buffer.read().decode('utf-8'), sys.argv[1], sys.argv[2]))
`;

function python3Available(): boolean {
  const r = spawnSync('python3', ['-c', 'import hmac, hashlib'], { encoding: 'utf8' });
  return r.error === undefined && r.status === 0;
}

function runDocumentVerifier(body: string, signature: string, secret: string): string {
  const r = spawnSync('python3', ['-c', DOCUMENT_SNIPPET + DRIVER, signature, secret], {
    input: Buffer.from(body, 'utf8'),
    encoding: 'utf8',
  });
  assert.equal(r.error, undefined);
  assert.equal(r.status, 0, `python3 failed: ${r.stderr}`);
  return r.stdout.trim();
}

test('header name constants', () => {
  assert.equal(DIALANYONE_SIGNATURE_HEADER, 'X-DialAnyone-Signature');
  assert.equal(TIMESTAMPED_SIGNATURE_HEADER, 'X-Dialplane-Signature');
});

test('signBody: fixed vector computed independently with node:crypto', () => {
  const expected = createHmac('sha256', Buffer.from(SECRET, 'utf8')).update(Buffer.from(BODY, 'utf8')).digest('hex');
  assert.equal(signBody(BODY, SECRET), expected);
  assert.equal(signBody(Buffer.from(BODY, 'utf8'), SECRET), expected);
  assert.match(signBody(BODY, SECRET), /^[0-9a-f]{64}$/);
  // RFC 4231 test case 2 (key "Jefe"), a vector not computed by our own code at all.
  assert.equal(
    signBody('what do ya want for nothing?', 'Jefe'),
    '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
  );
});

test('verifyBody mirrors hmac.compare_digest semantics', () => {
  const sig = signBody(BODY, SECRET);
  assert.equal(verifyBody(BODY, sig, SECRET), true);
  assert.equal(verifyBody(BODY + ' ', sig, SECRET), false);
  assert.equal(verifyBody(BODY, sig, SECRET + 'x'), false);
  assert.equal(verifyBody(BODY, sig.slice(1), SECRET), false);
  assert.equal(verifyBody(BODY, undefined, SECRET), false);
  assert.equal(verifyBody(BODY, '', SECRET), false);
});

test("the document's Python verifier accepts our signBody output", (t) => {
  if (!python3Available()) {
    if (process.env.CI === 'true') assert.fail('python3 is required in CI for the DialAnyone compatibility test');
    t.skip('python3 not found: skipping the DialAnyone Python snippet compatibility check');
    return;
  }
  const sig = signBody(BODY, SECRET);
  assert.equal(runDocumentVerifier(BODY, sig, SECRET), 'True');
  assert.equal(runDocumentVerifier(BODY.replace('42', '43'), sig, SECRET), 'False');
  assert.equal(runDocumentVerifier(BODY, sig, 'other-secret'), 'False');
  // A non-ASCII secret is encoded as UTF-8 on both sides.
  const uSecret = 'sécret-\u00fc\u20ac';
  assert.equal(runDocumentVerifier(BODY, signBody(BODY, uSecret), uSecret), 'True');
});

test('signTimestamped: format and independent vector', () => {
  const header = signTimestamped(BODY, [SECRET], NOW);
  const expected = createHmac('sha256', SECRET).update(`${NOW}.${BODY}`, 'utf8').digest('hex');
  assert.equal(header, `t=${NOW},v1=${expected}`);
  const two = signTimestamped(Buffer.from(BODY, 'utf8'), ['a', 'b'], NOW);
  assert.match(two, /^t=\d+,v1=[0-9a-f]{64},v1=[0-9a-f]{64}$/);
  assert.throws(() => signTimestamped(BODY, [], NOW), RangeError);
  assert.throws(() => signTimestamped(BODY, [SECRET], 1.5), RangeError);
});

test('verifyTimestamped: round trip', () => {
  const header = signTimestamped(BODY, [SECRET], NOW);
  assert.deepEqual(verifyTimestamped(BODY, header, [SECRET], { nowSeconds: NOW }), { ok: true });
  assert.deepEqual(verifyTimestamped(Buffer.from(BODY), header, [SECRET], { nowSeconds: NOW + 10 }), { ok: true });
  // Upper-case hex and whitespace after commas are tolerated; unknown schemes are ignored.
  const [tPart, vPart] = header.split(',');
  assert.deepEqual(
    verifyTimestamped(BODY, `${tPart}, v0=zzz, ${vPart?.toUpperCase().replace('V1=', 'v1=')}`, [SECRET], {
      nowSeconds: NOW,
    }),
    { ok: true },
  );
});

test('verifyTimestamped: rotation - either of two active secrets verifies, a third does not', () => {
  const header = signTimestamped(BODY, ['old-secret', 'new-secret'], NOW);
  const opts = { nowSeconds: NOW };
  assert.deepEqual(verifyTimestamped(BODY, header, ['old-secret'], opts), { ok: true });
  assert.deepEqual(verifyTimestamped(BODY, header, ['new-secret'], opts), { ok: true });
  assert.deepEqual(verifyTimestamped(BODY, header, ['third-secret'], opts), { ok: false, reason: 'mismatch' });
  // Receiver holding both while the sender signs with only one of them.
  const onlyNew = signTimestamped(BODY, ['new-secret'], NOW);
  assert.deepEqual(verifyTimestamped(BODY, onlyNew, ['old-secret', 'new-secret'], opts), { ok: true });
});

test('verifyTimestamped: replay older than 5 minutes is expired, future beyond tolerance rejected', () => {
  const header = signTimestamped(BODY, [SECRET], NOW);
  assert.deepEqual(verifyTimestamped(BODY, header, [SECRET], { nowSeconds: NOW + 300 }), { ok: true });
  assert.deepEqual(verifyTimestamped(BODY, header, [SECRET], { nowSeconds: NOW + 301 }), {
    ok: false,
    reason: 'expired',
  });
  assert.deepEqual(verifyTimestamped(BODY, header, [SECRET], { nowSeconds: NOW + 3600 }), {
    ok: false,
    reason: 'expired',
  });
  assert.deepEqual(verifyTimestamped(BODY, header, [SECRET], { nowSeconds: NOW - 300 }), { ok: true });
  assert.deepEqual(verifyTimestamped(BODY, header, [SECRET], { nowSeconds: NOW - 301 }), {
    ok: false,
    reason: 'future',
  });
  // Custom tolerance.
  assert.deepEqual(verifyTimestamped(BODY, header, [SECRET], { nowSeconds: NOW + 31, toleranceSeconds: 30 }), {
    ok: false,
    reason: 'expired',
  });
  // An attacker cannot refresh the timestamp: the hmac covers it.
  const forged = header.replace(`t=${NOW}`, `t=${NOW + 3600}`);
  assert.deepEqual(verifyTimestamped(BODY, forged, [SECRET], { nowSeconds: NOW + 3600 }), {
    ok: false,
    reason: 'mismatch',
  });
});

test('verifyTimestamped: malformed headers are rejected as malformed', () => {
  const good = signTimestamped(BODY, [SECRET], NOW);
  const v1 = good.split(',')[1] ?? '';
  const cases: (string | undefined)[] = [
    undefined,
    '',
    'garbage',
    `t=${NOW}`,
    v1,
    `t=,${v1}`,
    `t=abc,${v1}`,
    `t=-5,${v1}`,
    `t=${NOW}.5,${v1}`,
    `t=${NOW},t=${NOW},${v1}`,
    `t=${NOW},v1=abcd`,
    `t=${NOW},v1=${'g'.repeat(64)}`,
    `t=${NOW},,${v1}`,
    `t=${NOW},${v1}0`,
    `=${NOW},${v1}`,
    `t=${NOW},${v1},`.padEnd(9000, 'x'),
  ];
  for (const header of cases) {
    assert.deepEqual(verifyTimestamped(BODY, header, [SECRET], { nowSeconds: NOW }), { ok: false, reason: 'malformed' }, String(header));
  }
});

test('verifyTimestamped: random header strings never throw and never verify (fast-check)', () => {
  const opts = { nowSeconds: NOW };
  fc.assert(
    fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string({ unit: 'binary', maxLength: 9000 })), (header) => {
      const r = verifyTimestamped(BODY, header, [SECRET], opts);
      assert.equal(r.ok, false);
    }),
    { numRuns: 500 },
  );
  // Structured near-misses: plausible shapes with random parts.
  const hex = fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF'), minLength: 0, maxLength: 70 });
  fc.assert(
    fc.property(fc.integer({ min: -1e6, max: 1e6 }), hex, fc.string(), (dt, h, extra) => {
      const header = `t=${NOW + dt},v1=${h}${extra}`;
      const r = verifyTimestamped(BODY, header, [SECRET], opts);
      assert.equal(r.ok, false);
    }),
    { numRuns: 500 },
  );
});

test('verifyTimestamped: any body byte change is rejected (fast-check)', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 1, maxLength: 256 }),
      fc.nat(),
      fc.integer({ min: 1, max: 255 }),
      (bytes, pos, xor) => {
        const body = Buffer.from(bytes);
        const header = signTimestamped(body, [SECRET], NOW);
        assert.deepEqual(verifyTimestamped(body, header, [SECRET], { nowSeconds: NOW }), { ok: true });
        const tampered = Buffer.from(body);
        const i = pos % tampered.length;
        tampered[i] = (tampered[i] ?? 0) ^ xor;
        assert.deepEqual(verifyTimestamped(tampered, header, [SECRET], { nowSeconds: NOW }), {
          ok: false,
          reason: 'mismatch',
        });
        // Appending or truncating also fails.
        assert.equal(verifyTimestamped(Buffer.concat([body, Buffer.from([0])]), header, [SECRET], { nowSeconds: NOW }).ok, false);
        assert.equal(verifyTimestamped(body.subarray(0, body.length - 1), header, [SECRET], { nowSeconds: NOW }).ok, false);
      },
    ),
    { numRuns: 200 },
  );
});

test('verifyTimestamped: programming errors throw', () => {
  const header = signTimestamped(BODY, [SECRET], NOW);
  assert.throws(() => verifyTimestamped(BODY, header, [], { nowSeconds: NOW }), RangeError);
  assert.throws(() => verifyTimestamped(BODY, header, [SECRET], { nowSeconds: NaN }), RangeError);
  assert.throws(() => verifyTimestamped(BODY, header, [SECRET], { nowSeconds: NOW, toleranceSeconds: -1 }), RangeError);
});
