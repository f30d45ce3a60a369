import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import {
  DigestError,
  DigestSession,
  computeDigestCredentials,
  formatDigestCredentials,
  formatNonceCount,
  isStaleChallenge,
  selectDigestChallenge,
} from '../../../../src/sip/auth/digest.js';
import type { DigestChallenge, DigestCredentials } from '../../../../src/sip/auth/digest.js';

const md5 = (s: string): string => createHash('md5').update(s).digest('hex');
const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

function digestError(code: string): (error: unknown) => boolean {
  return (error) => error instanceof DigestError && error.code === code;
}

// RFC 2617 §3.5: the "Mufasa" exchange.
const RFC2617_CHALLENGE: DigestChallenge = {
  scheme: 'Digest',
  params: {
    realm: 'testrealm@host.com',
    qop: 'auth,auth-int',
    nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093',
    opaque: '5ccc069c403ebaf9f0171e9517f40e41',
  },
};
const MUFASA = { username: 'Mufasa', password: 'Circle Of Life' };

describe('computeDigestCredentials: published vectors', () => {
  test('RFC 2617 §3.5 (MD5, qop=auth)', () => {
    const creds = computeDigestCredentials({
      challenge: RFC2617_CHALLENGE,
      credentials: MUFASA,
      method: 'GET',
      uri: '/dir/index.html',
      nonceCount: 1,
      cnonce: () => '0a4f113b',
    });
    assert.deepEqual(creds, {
      username: 'Mufasa',
      realm: 'testrealm@host.com',
      nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093',
      uri: '/dir/index.html',
      response: '6629fae49393a05397450978507c4ef1',
      algorithm: 'MD5',
      cnonce: '0a4f113b',
      qop: 'auth',
      nc: '00000001',
      opaque: '5ccc069c403ebaf9f0171e9517f40e41',
    });
    assert.equal(
      formatDigestCredentials(creds),
      'Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", ' +
        'uri="/dir/index.html", response="6629fae49393a05397450978507c4ef1", algorithm=MD5, cnonce="0a4f113b", ' +
        'qop=auth, nc=00000001, opaque="5ccc069c403ebaf9f0171e9517f40e41"',
    );
  });

  test('RFC 7616 §3.9.1 (SHA-256, qop=auth)', () => {
    const creds = computeDigestCredentials({
      challenge: {
        scheme: 'Digest',
        params: {
          realm: 'http-auth@example.org',
          qop: 'auth, auth-int',
          algorithm: 'SHA-256',
          nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v',
          opaque: 'FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS',
        },
      },
      credentials: { username: 'Mufasa', password: 'Circle of Life' },
      method: 'GET',
      uri: '/dir/index.html',
      nonceCount: 1,
      cnonce: () => 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
    });
    assert.equal(creds.response, '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1');
    assert.equal(creds.algorithm, 'SHA-256');
    assert.equal(creds.qop, 'auth');
    assert.equal(creds.nc, '00000001');
  });

  test('no qop (RFC 2069 compatibility): response = H(HA1:nonce:HA2), no cnonce/nc/qop sent', () => {
    // RFC 2069 §2.4's example inputs. The response printed there does not follow from them; the value below is
    // what the RFC 2069 formula gives, and is also recomputed independently.
    const creds = computeDigestCredentials({
      challenge: {
        scheme: 'Digest',
        params: {
          realm: 'testrealm@host.com',
          nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093',
          opaque: '5ccc069c403ebaf9f0171e9517f40e41',
        },
      },
      credentials: { username: 'Mufasa', password: 'CircleOfLife' },
      method: 'GET',
      uri: '/dir/index.html',
      cnonce: () => assert.fail('no cnonce is needed without qop'),
    });
    const expected = md5(
      `${md5('Mufasa:testrealm@host.com:CircleOfLife')}:dcd98b7102dd2f0e8b11d0f600bfb0c093:${md5('GET:/dir/index.html')}`,
    );
    assert.equal(expected, '1949323746fe6a43ef61f9606e7febea');
    assert.equal(creds.response, expected);
    assert.equal(creds.cnonce, undefined);
    assert.equal(creds.qop, undefined);
    assert.equal(creds.nc, undefined);
    assert.equal(
      formatDigestCredentials(creds),
      'Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", ' +
        'uri="/dir/index.html", response="1949323746fe6a43ef61f9606e7febea", algorithm=MD5, ' +
        'opaque="5ccc069c403ebaf9f0171e9517f40e41"',
    );
  });

  test('a SIP REGISTER (RFC 3261 style, MD5 default, digest-uri = Request-URI)', () => {
    const creds = computeDigestCredentials({
      challenge: {
        scheme: 'Digest',
        params: { realm: 'atlanta.example.com', qop: 'auth', nonce: '84f1c1ae6cbe5ua9c8e88dfa3ecm3459', opaque: '' },
      },
      credentials: { username: 'bob', password: 'zanzibar' },
      method: 'REGISTER',
      uri: 'sip:atlanta.example.com',
      nonceCount: 2,
      cnonce: () => 'abc',
    });
    const ha1 = md5('bob:atlanta.example.com:zanzibar');
    const ha2 = md5('REGISTER:sip:atlanta.example.com');
    assert.equal(creds.response, md5(`${ha1}:84f1c1ae6cbe5ua9c8e88dfa3ecm3459:00000002:abc:auth:${ha2}`));
    // An empty opaque is still echoed: the server put it there.
    assert.match(formatDigestCredentials(creds), /, opaque=""$/);
  });
});

describe('computeDigestCredentials: -sess variants (computed by hand)', () => {
  const base = { realm: 'sip.example.net', nonce: 'n0nce', qop: 'auth' };

  test('MD5-sess: HA1 = MD5(MD5(user:realm:pass):nonce:cnonce)', () => {
    const creds = computeDigestCredentials({
      challenge: { scheme: 'Digest', params: { ...base, algorithm: 'MD5-sess' } },
      credentials: { username: 'alice', password: 's3cret' },
      method: 'INVITE',
      uri: 'sip:bob@example.net',
      nonceCount: 3,
      cnonce: () => 'c1',
    });
    const ha1 = md5(`${md5('alice:sip.example.net:s3cret')}:n0nce:c1`);
    const ha2 = md5('INVITE:sip:bob@example.net');
    assert.equal(creds.response, md5(`${ha1}:n0nce:00000003:c1:auth:${ha2}`));
    assert.equal(creds.algorithm, 'MD5-sess');
  });

  test('SHA-256-sess: same shape with SHA-256', () => {
    const creds = computeDigestCredentials({
      challenge: { scheme: 'Digest', params: { ...base, algorithm: 'SHA-256-sess' } },
      credentials: { username: 'alice', password: 's3cret' },
      method: 'BYE',
      uri: 'sip:bob@198.51.100.7:5060',
      cnonce: () => 'c2',
    });
    const ha1 = sha256(`${sha256('alice:sip.example.net:s3cret')}:n0nce:c2`);
    const ha2 = sha256('BYE:sip:bob@198.51.100.7:5060');
    assert.equal(creds.response, sha256(`${ha1}:n0nce:00000001:c2:auth:${ha2}`));
    assert.equal(creds.algorithm, 'SHA-256-sess');
  });

  test('-sess without qop still sends the cnonce its HA1 depends on, but no nc/qop', () => {
    const creds = computeDigestCredentials({
      challenge: { scheme: 'Digest', params: { realm: 'r', nonce: 'n', algorithm: 'MD5-sess' } },
      credentials: { username: 'u', password: 'p' },
      method: 'OPTIONS',
      uri: 'sip:r',
      cnonce: () => 'cc',
    });
    const ha1 = md5(`${md5('u:r:p')}:n:cc`);
    assert.equal(creds.response, md5(`${ha1}:n:${md5('OPTIONS:sip:r')}`));
    assert.equal(creds.cnonce, 'cc');
    assert.equal(creds.nc, undefined);
    assert.equal(creds.qop, undefined);
  });

  test('SHA-512-256 (RFC 8760) uses SHA-512/256', () => {
    const h = (s: string): string => createHash('sha512-256').update(s).digest('hex');
    const creds = computeDigestCredentials({
      challenge: { scheme: 'Digest', params: { realm: 'r', nonce: 'n', qop: 'auth', algorithm: 'SHA-512-256' } },
      credentials: { username: 'u', password: 'p' },
      method: 'REGISTER',
      uri: 'sip:r',
      cnonce: () => 'cc',
    });
    assert.equal(creds.response, h(`${h('u:r:p')}:n:00000001:cc:auth:${h('REGISTER:sip:r')}`));
  });
});

describe('computeDigestCredentials: challenge quirks', () => {
  const call = (params: Record<string, string>, scheme = 'Digest'): DigestCredentials =>
    computeDigestCredentials({
      challenge: { scheme, params },
      credentials: MUFASA,
      method: 'INVITE',
      uri: 'sip:x@y',
      cnonce: () => 'c',
    });

  test('unknown algorithm is an error', () => {
    assert.throws(() => call({ realm: 'r', nonce: 'n', algorithm: 'SHA-1' }), digestError('unsupported_algorithm'));
    assert.throws(() => call({ realm: 'r', nonce: 'n', algorithm: 'AKAv1-MD5' }), digestError('unsupported_algorithm'));
    // Prototype names must not look like table entries.
    assert.throws(() => call({ realm: 'r', nonce: 'n', algorithm: 'constructor' }), digestError('unsupported_algorithm'));
  });

  test('algorithm and qop tokens are case-insensitive; parameter names too', () => {
    const creds = call({ REALM: 'r', Nonce: 'n', Algorithm: 'md5', QOP: 'AUTH' });
    assert.equal(creds.algorithm, 'MD5');
    assert.equal(creds.qop, 'auth');
    assert.equal(creds.realm, 'r');
    assert.equal(call({ realm: 'r', nonce: 'n', algorithm: 'sha-256-SESS' }).algorithm, 'SHA-256-sess');
  });

  test('qop list: auth is chosen wherever it appears', () => {
    assert.equal(call({ realm: 'r', nonce: 'n', qop: 'auth-int, auth' }).qop, 'auth');
    assert.equal(call({ realm: 'r', nonce: 'n', qop: ' auth ' }).qop, 'auth');
  });

  test('auth-int only is refused with a clear error', () => {
    assert.throws(
      () => call({ realm: 'r', nonce: 'n', qop: 'auth-int' }),
      (error: unknown) => error instanceof DigestError && error.code === 'unsupported_qop' && /auth-int/.test(error.message),
    );
    assert.throws(() => call({ realm: 'r', nonce: 'n', qop: 'token-x' }), digestError('unsupported_qop'));
  });

  test('non-Digest schemes and missing realm/nonce are errors', () => {
    assert.throws(() => call({ realm: 'r', nonce: 'n' }, 'Basic'), digestError('unsupported_scheme'));
    assert.throws(() => call({ nonce: 'n' }), digestError('missing_param'));
    assert.throws(() => call({ realm: 'r' }), digestError('missing_param'));
    assert.throws(() => call({ realm: 'r', nonce: '' }), digestError('missing_param'));
    assert.equal(call({ realm: 'r', nonce: 'n' }, 'DIGEST').realm, 'r');
  });

  test('nonce-count is 8 lower-case hex digits and must be in range', () => {
    assert.equal(formatNonceCount(1), '00000001');
    assert.equal(formatNonceCount(255), '000000ff');
    assert.equal(formatNonceCount(0xffffffff), 'ffffffff');
    for (const bad of [0, -1, 1.5, 0x1_0000_0000, Number.NaN]) {
      assert.throws(() => formatNonceCount(bad), digestError('invalid_value'), String(bad));
    }
  });

  test('stale flag', () => {
    assert.equal(isStaleChallenge({ scheme: 'Digest', params: { stale: 'TRUE' } }), true);
    assert.equal(isStaleChallenge({ scheme: 'Digest', params: { stale: 'false' } }), false);
    assert.equal(isStaleChallenge({ scheme: 'Digest', params: {} }), false);
  });

  test('selectDigestChallenge takes the topmost supported challenge', () => {
    const challenges: DigestChallenge[] = [
      { scheme: 'Basic', params: { realm: 'r' } },
      { scheme: 'Digest', params: { realm: 'r', nonce: 'a', algorithm: 'SHA-1' } },
      { scheme: 'Digest', params: { realm: 'r', nonce: 'b', algorithm: 'SHA-256', qop: 'auth-int' } },
      { scheme: 'Digest', params: { realm: 'r', nonce: 'c', algorithm: 'SHA-256' } },
      { scheme: 'Digest', params: { realm: 'r', nonce: 'd', algorithm: 'MD5' } },
    ];
    assert.equal(selectDigestChallenge(challenges)?.params['nonce'], 'c');
    assert.equal(selectDigestChallenge(challenges.slice(0, 3)), undefined);
  });
});

describe('formatDigestCredentials', () => {
  const creds: DigestCredentials = {
    username: 'al"ice\\',
    realm: 'r',
    nonce: 'n',
    uri: 'sip:a@b;transport=tcp',
    response: 'ab',
    algorithm: 'SHA-256',
    cnonce: 'c',
    qop: 'auth',
    nc: '0000000a',
  };

  test('escapes quotes and backslashes inside quoted-strings; qop, nc and algorithm stay bare', () => {
    assert.equal(
      formatDigestCredentials(creds),
      'Digest username="al\\"ice\\\\", realm="r", nonce="n", uri="sip:a@b;transport=tcp", response="ab", ' +
        'algorithm=SHA-256, cnonce="c", qop=auth, nc=0000000a',
    );
  });

  test('refuses CR/LF that would split the header', () => {
    assert.throws(() => formatDigestCredentials({ ...creds, realm: 'r\r\nX-Evil: 1' }), digestError('invalid_value'));
    assert.throws(() => formatDigestCredentials({ ...creds, nc: '1 2' }), digestError('invalid_value'));
  });
});

describe('DigestSession', () => {
  const challenge = (nonce: string): DigestChallenge => ({
    scheme: 'Digest',
    params: { realm: 'example.net', nonce, qop: 'auth' },
  });

  test('reuses the last challenge per realm with an increasing nc', () => {
    const session = new DigestSession({ username: 'u', password: 'p' }, { cnonce: () => 'c' });
    assert.equal(session.authorize('example.net', 'REGISTER', 'sip:example.net'), undefined);
    assert.equal(session.respond(challenge('n1'), 'REGISTER', 'sip:example.net').nc, '00000001');
    assert.equal(session.authorize('example.net', 'REGISTER', 'sip:example.net')?.nc, '00000002');
    const third = session.authorize('example.net', 'INVITE', 'sip:bob@example.net');
    assert.equal(third?.nc, '00000003');
    assert.equal(third?.nonce, 'n1');
    assert.deepEqual(session.realms, ['example.net']);
    assert.equal(session.authorize('other.net', 'INVITE', 'sip:x'), undefined);
  });

  test('a new nonce restarts nc; the same nonce again keeps counting', () => {
    const session = new DigestSession({ username: 'u', password: 'p' }, { cnonce: () => 'c' });
    session.respond(challenge('n1'), 'REGISTER', 'sip:example.net');
    session.authorize('example.net', 'REGISTER', 'sip:example.net');
    assert.equal(session.respond(challenge('n1'), 'REGISTER', 'sip:example.net').nc, '00000003');
    assert.equal(session.respond(challenge('n2'), 'REGISTER', 'sip:example.net').nc, '00000001');
    assert.equal(session.authorize('example.net', 'REGISTER', 'sip:example.net')?.nonce, 'n2');
  });

  test('forget drops the realm; a refused challenge leaves no state behind', () => {
    const session = new DigestSession({ username: 'u', password: 'p' });
    session.respond(challenge('n1'), 'REGISTER', 'sip:example.net');
    session.forget('example.net');
    assert.equal(session.authorize('example.net', 'REGISTER', 'sip:example.net'), undefined);
    assert.throws(
      () => session.respond({ scheme: 'Digest', params: { realm: 'x', nonce: 'n', qop: 'auth-int' } }, 'INVITE', 'sip:x'),
      digestError('unsupported_qop'),
    );
    assert.deepEqual(session.realms, []);
  });

  test('the default cnonce is fresh each time', () => {
    const session = new DigestSession({ username: 'u', password: 'p' });
    const a = session.respond(challenge('n1'), 'REGISTER', 'sip:example.net');
    const b = session.authorize('example.net', 'REGISTER', 'sip:example.net');
    assert.match(a.cnonce ?? '', /^[0-9a-f]{32}$/);
    assert.notEqual(a.cnonce, b?.cnonce);
  });
});

describe('properties', () => {
  const text = fc.string({ minLength: 0, maxLength: 40 });
  const algorithms = ['MD5', 'MD5-sess', 'SHA-256', 'SHA-256-sess', 'SHA-512-256', 'SHA-512-256-sess'] as const;

  test('response is 32 hex digits for MD5 and 64 for the SHA-2 algorithms', () => {
    fc.assert(
      fc.property(
        fc.record({
          username: text,
          password: text,
          realm: text,
          nonce: fc.string({ minLength: 1, maxLength: 40 }),
          uri: text,
          method: fc.constantFrom('INVITE', 'REGISTER', 'BYE', 'OPTIONS', 'MESSAGE'),
          algorithm: fc.constantFrom(...algorithms),
          qop: fc.constantFrom<string | undefined>(undefined, 'auth', 'auth,auth-int'),
          nc: fc.integer({ min: 1, max: 0xffffffff }),
        }),
        (input) => {
          const creds = computeDigestCredentials({
            challenge: {
              scheme: 'Digest',
              params: {
                realm: input.realm,
                nonce: input.nonce,
                algorithm: input.algorithm,
                ...(input.qop !== undefined ? { qop: input.qop } : {}),
              },
            },
            credentials: { username: input.username, password: input.password },
            method: input.method,
            uri: input.uri,
            nonceCount: input.nc,
          });
          assert.match(creds.response, input.algorithm.startsWith('MD5') ? /^[0-9a-f]{32}$/ : /^[0-9a-f]{64}$/);
          if (input.qop !== undefined) assert.match(creds.nc ?? '', /^[0-9a-f]{8}$/);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('the formatted header is one line and round-trips its quoted values', () => {
    const safe = fc.string({ maxLength: 30 }).filter((s) => !/[\r\n\0]/.test(s));
    fc.assert(
      fc.property(safe, safe, (username, realm) => {
        const header = formatDigestCredentials({
          username,
          realm,
          nonce: 'n',
          uri: 'sip:x',
          response: '0',
          algorithm: 'MD5',
        });
        const values = [...header.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [
          m[1],
          (m[2] ?? '').replace(/\\(.)/g, '$1'),
        ]);
        assert.deepEqual(values.slice(0, 2), [
          ['username', username],
          ['realm', realm],
        ]);
      }),
      { numRuns: 300 },
    );
  });
});
