import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  DigestSession,
  computeDigestCredentials,
  formatDigestCredentials,
  DigestError,
  type DigestCredentials,
} from '../../../src/sip/auth/digest.js';
import {
  DigestServer,
  expectedDigestResponse,
  parseDigestAuthorization,
  type DigestAuthorization,
} from '../../../src/sip/auth/digest-server.js';
import { parseAuthChallenge } from '../../../src/sip/message/auth.js';

const md5 = (s: string): string => createHash('md5').update(s).digest('hex');
const TIME_BOUND = { numRuns: 300, interruptAfterTimeLimit: 5_000 };

function digestError(code: string): (error: unknown) => boolean {
  return (error) => error instanceof DigestError && error.code === code;
}

/** A server on a clock the test moves. */
function serverAt(start = 1_000_000, options: { realm?: string; secret?: Uint8Array; nonceTtlMs?: number; maxTrackedNonces?: number } = {}) {
  let now = start;
  const server = new DigestServer({ realm: options.realm ?? 'dialplane', now: () => now, ...options });
  return { server, advance: (ms: number) => (now += ms) };
}

/** What our own client sends for the server's challenge. */
function clientAnswer(
  server: DigestServer,
  password: string,
  options: { username?: string; uri?: string; method?: string; nc?: number; stale?: boolean } = {},
): { header: string; credentials: DigestCredentials } {
  const challenge = parseAuthChallenge(server.challenge({ stale: options.stale ?? false }));
  const credentials = computeDigestCredentials({
    challenge,
    credentials: { username: options.username ?? 'alice', password },
    method: options.method ?? 'REGISTER',
    uri: options.uri ?? 'sip:127.0.0.1:5060',
    nonceCount: options.nc ?? 1,
  });
  return { header: formatDigestCredentials(credentials), credentials };
}

const HA1 = md5('alice:dialplane:s3cret-password');
const REQUEST = { method: 'REGISTER', uri: 'sip:127.0.0.1:5060' };

describe('digest server: fixtures', () => {
  test('RFC 2617 §3.5: the response the server expects for the Mufasa exchange', () => {
    const ha1 = md5('Mufasa:testrealm@host.com:Circle Of Life');
    assert.equal(
      expectedDigestResponse({
        ha1,
        nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093',
        method: 'GET',
        uri: '/dir/index.html',
        qop: 'auth',
        nc: '00000001',
        cnonce: '0a4f113b',
      }),
      '6629fae49393a05397450978507c4ef1',
    );
  });

  test('RFC 2617 §3.5: the Authorization header parses to its fields', () => {
    const parsed = parseDigestAuthorization(
      'Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", ' +
        'uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b", ' +
        'response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41"',
    );
    assert.deepEqual(parsed, {
      username: 'Mufasa',
      realm: 'testrealm@host.com',
      nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093',
      uri: '/dir/index.html',
      response: '6629fae49393a05397450978507c4ef1',
      algorithm: 'MD5',
      qop: 'auth',
      nc: '00000001',
      cnonce: '0a4f113b',
      opaque: '5ccc069c403ebaf9f0171e9517f40e41',
    });
  });

  test('SIP phones\' spellings: folded spaces, upper-case names and hex, quoted qop, lower-case md5', () => {
    const parsed = parseDigestAuthorization(
      'digest  USERNAME = "1001" ,Realm="dialplane",nonce="abc",uri="sip:10.0.0.1;transport=tcp",' +
        'response="0123456789ABCDEF0123456789ABCDEF",algorithm=md5,cnonce="x y",nc=0000000A,qop="AUTH"',
    );
    assert.equal(parsed.username, '1001');
    assert.equal(parsed.uri, 'sip:10.0.0.1;transport=tcp');
    assert.equal(parsed.response, '0123456789abcdef0123456789abcdef');
    assert.equal(parsed.algorithm, 'MD5');
    assert.equal(parsed.qop, 'auth');
    assert.equal(parsed.nc, '0000000a');
    assert.equal(parsed.cnonce, 'x y');
  });

  test('RFC 2069 credentials (no qop) parse; nc and cnonce are not required then', () => {
    const parsed = parseDigestAuthorization(
      'Digest username="a", realm="r", nonce="n", uri="sip:x", response="00000000000000000000000000000000"',
    );
    assert.equal(parsed.qop, undefined);
    assert.equal(parsed.nc, undefined);
    assert.equal(parsed.algorithm, 'MD5');
  });

  const refused: Array<[string, string]> = [
    ['Basic YWxhZGRpbjpvcGVuc2VzYW1l', 'unsupported_scheme'],
    ['Digest realm="r", nonce="n", uri="u", response="00000000000000000000000000000000"', 'missing_param'],
    ['Digest username="a", realm="r", uri="u", response="00000000000000000000000000000000"', 'missing_param'],
    ['Digest username="a", realm="r", nonce="", uri="u", response="00000000000000000000000000000000"', 'missing_param'],
    ['Digest username="a", nonce="n", uri="u", response="00000000000000000000000000000000"', 'missing_param'],
    ['Digest username="a", realm="r", nonce="n", uri="u", response="xyz"', 'invalid_value'],
    ['Digest username="a", realm="r", nonce="n", uri="u", response="00000000000000000000000000000000", qop=auth, cnonce="c"', 'missing_param'],
    ['Digest username="a", realm="r", nonce="n", uri="u", response="00000000000000000000000000000000", qop=auth, nc=1, cnonce="c"', 'invalid_value'],
    ['Digest username="a", realm="r", nonce="n", uri="u", response="00000000000000000000000000000000", qop=auth, nc=00000001', 'missing_param'],
    ['Digest username="a", username="b", realm="r", nonce="n", uri="u", response="00000000000000000000000000000000"', 'invalid_value'],
    ['Digest username="unterminated', 'invalid_value'],
    ['', 'invalid_value'],
    [`Digest username="${'a'.repeat(2000)}", realm="r", nonce="n", uri="u", response="00000000000000000000000000000000"`, 'invalid_value'],
  ];
  for (const [header, code] of refused) {
    test(`refused (${code}): ${header.slice(0, 70)}`, () => {
      assert.throws(() => parseDigestAuthorization(header), digestError(code));
    });
  }

  test('the challenge: realm, a fresh 43-character nonce each time, MD5, qop="auth"; stale=true on request', () => {
    const { server } = serverAt();
    const text = server.challenge();
    assert.match(text, /^Digest realm="dialplane", nonce="[A-Za-z0-9_-]{43}", algorithm=MD5, qop="auth"$/);
    const a = parseAuthChallenge(text);
    const b = parseAuthChallenge(server.challenge({ stale: true }));
    assert.notEqual(a.params.nonce, b.params.nonce);
    assert.equal(b.params.stale, 'true');
    assert.equal(a.params.stale, undefined);
    assert.equal(server.checkNonce(a.params.nonce ?? ''), 'fresh');
  });
});

describe('digest server: our client answers, the server verifies', () => {
  test('the right password verifies; the wrong one is wrong_response', () => {
    const { server } = serverAt();
    const right = parseDigestAuthorization(clientAnswer(server, 's3cret-password').header);
    assert.deepEqual(server.verify(right, REQUEST, HA1), { ok: true });
    const wrong = parseDigestAuthorization(clientAnswer(server, 'guess').header);
    assert.deepEqual(server.verify(wrong, REQUEST, HA1), { ok: false, reason: 'wrong_response' });
  });

  test('a DigestSession reusing the nonce with nc 2, 3 verifies; the same nc again is a replay', () => {
    const { server } = serverAt();
    const session = new DigestSession({ username: 'alice', password: 's3cret-password' });
    const challenge = parseAuthChallenge(server.challenge());
    const first = session.respond(challenge, 'REGISTER', REQUEST.uri);
    assert.deepEqual(server.verify(parseDigestAuthorization(formatDigestCredentials(first)), REQUEST, HA1), { ok: true });
    const second = session.authorize('dialplane', 'REGISTER', REQUEST.uri);
    assert.ok(second);
    assert.equal(second.nc, '00000002');
    const secondHeader = formatDigestCredentials(second);
    assert.deepEqual(server.verify(parseDigestAuthorization(secondHeader), REQUEST, HA1), { ok: true });
    assert.deepEqual(server.verify(parseDigestAuthorization(secondHeader), REQUEST, HA1), { ok: false, reason: 'replay' });
    assert.deepEqual(server.verify(parseDigestAuthorization(formatDigestCredentials(first)), REQUEST, HA1), {
      ok: false,
      reason: 'replay',
    });
    const third = session.authorize('dialplane', 'REGISTER', REQUEST.uri);
    assert.ok(third);
    assert.deepEqual(server.verify(parseDigestAuthorization(formatDigestCredentials(third)), REQUEST, HA1), { ok: true });
  });

  test('an expired nonce is stale only when the digest is right; a wrong password stays wrong_response', () => {
    const { server, advance } = serverAt(5_000, { nonceTtlMs: 60_000 });
    const right = parseDigestAuthorization(clientAnswer(server, 's3cret-password').header);
    const wrong = parseDigestAuthorization(clientAnswer(server, 'nope').header);
    advance(60_000);
    assert.equal(server.checkNonce(right.nonce), 'fresh', 'valid through its whole lifetime');
    advance(1);
    assert.equal(server.checkNonce(right.nonce), 'stale');
    assert.deepEqual(server.verify(right, REQUEST, HA1), { ok: false, reason: 'stale' });
    assert.deepEqual(server.verify(wrong, REQUEST, HA1), { ok: false, reason: 'wrong_response' });
  });

  test('nonces of another process (another secret), tampered or invented ones are unknown', () => {
    const { server } = serverAt(0, { secret: Buffer.alloc(32, 1) });
    const { server: other } = serverAt(0, { secret: Buffer.alloc(32, 2) });
    const foreign = parseDigestAuthorization(clientAnswer(other, 's3cret-password').header);
    assert.deepEqual(server.verify(foreign, REQUEST, HA1), { ok: false, reason: 'unknown_nonce' });
    const nonce = foreign.nonce;
    const tampered = `${nonce.slice(0, 5)}${nonce[5] === 'A' ? 'B' : 'A'}${nonce.slice(6)}`;
    assert.equal(other.checkNonce(nonce), 'fresh');
    assert.equal(other.checkNonce(tampered), 'unknown');
    assert.equal(server.checkNonce('dcd98b7102dd2f0e8b11d0f600bfb0c093'), 'unknown');
    assert.equal(server.checkNonce(''), 'unknown');
  });

  test('realm, uri, algorithm and qop are checked', () => {
    const { server } = serverAt();
    const { server: elsewhere } = serverAt(1_000_000, { realm: 'elsewhere' });
    const otherRealm = parseDigestAuthorization(clientAnswer(elsewhere, 's3cret-password').header);
    assert.deepEqual(server.verify(otherRealm, REQUEST, HA1), { ok: false, reason: 'wrong_realm' });

    const right = parseDigestAuthorization(clientAnswer(server, 's3cret-password').header);
    assert.deepEqual(server.verify(right, { method: 'REGISTER', uri: 'sip:127.0.0.2:5060' }, HA1), { ok: false, reason: 'uri_mismatch' });
    assert.deepEqual(server.verify(right, { method: 'INVITE', uri: REQUEST.uri }, HA1), { ok: false, reason: 'wrong_response' });
    // The same URI written with another host case is the same Request-URI.
    const upper = parseDigestAuthorization(clientAnswer(server, 's3cret-password', { uri: 'sip:LOCALHOST:5060' }).header);
    assert.deepEqual(server.verify(upper, { method: 'REGISTER', uri: 'sip:localhost:5060' }, HA1), { ok: true });

    const sha = computeDigestCredentials({
      challenge: { scheme: 'Digest', params: { ...parseAuthChallenge(server.challenge()).params, algorithm: 'SHA-256' } },
      credentials: { username: 'alice', password: 's3cret-password' },
      method: 'REGISTER',
      uri: REQUEST.uri,
    });
    assert.deepEqual(server.verify(parseDigestAuthorization(formatDigestCredentials(sha)), REQUEST, HA1), { ok: false, reason: 'unsupported' });

    const { qop: _qop, ...withoutQop } = parseAuthChallenge(server.challenge()).params;
    const rfc2069 = computeDigestCredentials({
      challenge: { scheme: 'Digest', params: withoutQop },
      credentials: { username: 'alice', password: 's3cret-password' },
      method: 'REGISTER',
      uri: REQUEST.uri,
    });
    assert.deepEqual(server.verify(parseDigestAuthorization(formatDigestCredentials(rfc2069)), REQUEST, HA1), {
      ok: false,
      reason: 'unsupported',
    });
  });

  test('the replay memory is bounded, and forgets nonces once they expired', () => {
    const { server, advance } = serverAt(0, { nonceTtlMs: 1_000, maxTrackedNonces: 5 });
    for (let i = 0; i < 20; i++) {
      const auth = parseDigestAuthorization(clientAnswer(server, 's3cret-password').header);
      assert.deepEqual(server.verify(auth, REQUEST, HA1), { ok: true });
      assert.ok(server.trackedNonces <= 5, String(server.trackedNonces));
    }
    advance(2_000);
    const fresh = parseDigestAuthorization(clientAnswer(server, 's3cret-password').header);
    assert.deepEqual(server.verify(fresh, REQUEST, HA1), { ok: true });
    assert.equal(server.trackedNonces, 1);
  });
});

const quotable = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }).filter((s) => !/[\x00-\x1f\x7f]/.test(s));

describe('digest server: properties (time-bounded)', () => {
  test('any text: parseDigestAuthorization returns credentials or throws DigestError, nothing else', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), fc.string({ maxLength: 200 }).map((s) => `Digest ${s}`)), (text) => {
        try {
          const parsed = parseDigestAuthorization(text);
          assert.ok(parsed.username !== '' && parsed.nonce !== '' && parsed.uri !== '');
          assert.match(parsed.response, /^[0-9a-f]+$/);
        } catch (error) {
          if (!(error instanceof DigestError)) throw error;
        }
      }),
      TIME_BOUND,
    );
  });

  test('a valid header with one character inserted, deleted or replaced: credentials or DigestError', () => {
    const base =
      'Digest username="alice", realm="dialplane", nonce="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", uri="sip:127.0.0.1:5060", ' +
      'response="0123456789abcdef0123456789abcdef", algorithm=MD5, cnonce="c0ffee", qop=auth, nc=00000001';
    fc.assert(
      fc.property(fc.nat(base.length), fc.constantFrom('insert', 'delete', 'replace'), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }), (at, op, ch) => {
        const text = op === 'insert' ? base.slice(0, at) + ch + base.slice(at) : op === 'delete' ? base.slice(0, at) + base.slice(at + 1) : base.slice(0, at) + ch + base.slice(at + 1);
        try {
          parseDigestAuthorization(text);
        } catch (error) {
          if (!(error instanceof DigestError)) throw error;
        }
      }),
      TIME_BOUND,
    );
  });

  test('round trip: what our client formats parses back to the same fields', () => {
    fc.assert(
      fc.property(
        fc.record({
          username: quotable,
          realm: fc.string({ maxLength: 20 }).filter((s) => !/[\x00-\x1f\x7f]/.test(s)),
          nonce: quotable,
          uri: quotable,
          method: fc.constantFrom('REGISTER', 'INVITE', 'OPTIONS'),
          password: fc.string({ maxLength: 20 }),
          cnonce: quotable,
          nc: fc.integer({ min: 1, max: 0xffffffff }),
          opaque: fc.option(quotable, { nil: undefined }),
        }),
        (c) => {
          const credentials = computeDigestCredentials({
            challenge: { scheme: 'Digest', params: { realm: c.realm, nonce: c.nonce, qop: 'auth', ...(c.opaque !== undefined ? { opaque: c.opaque } : {}) } },
            credentials: { username: c.username, password: c.password },
            method: c.method,
            uri: c.uri,
            nonceCount: c.nc,
            cnonce: () => c.cnonce,
          });
          const parsed = parseDigestAuthorization(formatDigestCredentials(credentials));
          const expected: DigestAuthorization = {
            username: c.username,
            realm: c.realm,
            nonce: c.nonce,
            uri: c.uri,
            response: credentials.response,
            algorithm: 'MD5',
            qop: 'auth',
            nc: c.nc.toString(16).padStart(8, '0'),
            cnonce: c.cnonce,
            ...(c.opaque !== undefined ? { opaque: c.opaque } : {}),
          };
          assert.deepEqual(parsed, expected);
          // And the response is the one the server computes from HA1 alone.
          assert.equal(
            expectedDigestResponse({
              ha1: md5(`${c.username}:${c.realm}:${c.password}`),
              nonce: c.nonce,
              method: c.method,
              uri: c.uri,
              qop: 'auth',
              nc: parsed.nc,
              cnonce: c.cnonce,
            }),
            parsed.response,
          );
        },
      ),
      TIME_BOUND,
    );
  });

  test('for any username and password: the right password verifies, any other one does not', () => {
    const { server } = serverAt();
    fc.assert(
      fc.property(
        fc.stringMatching(/^[a-z0-9_.-]{3,64}$/),
        fc.string({ minLength: 1, maxLength: 40 }),
        fc.string({ minLength: 1, maxLength: 40 }),
        (username, password, other) => {
          const ha1 = md5(`${username}:dialplane:${password}`);
          const right = parseDigestAuthorization(clientAnswer(server, password, { username }).header);
          assert.deepEqual(server.verify(right, REQUEST, ha1), { ok: true });
          if (other !== password) {
            const wrong = parseDigestAuthorization(clientAnswer(server, other, { username }).header);
            assert.deepEqual(server.verify(wrong, REQUEST, ha1), { ok: false, reason: 'wrong_response' });
          }
        },
      ),
      TIME_BOUND,
    );
  });
});
