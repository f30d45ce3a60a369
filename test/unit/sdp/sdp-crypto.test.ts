import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  applyAnswer,
  createOffer,
  negotiateAnswer,
  parseCrypto,
  parseSdp,
  SdpError,
  SdpNegotiationError,
  usableKey,
  writeCrypto,
  type SdpCrypto,
} from '../../../src/sdp/index.js';
import { BEST_EFFORT_SRTP_OFFER, PBX_OFFER, RFC4568_SAVP_OFFER, SOFTPHONE_SAVP_OFFER } from './fixtures.js';

const TIME_LIMIT_MS = 2_000;
const local = { address: '127.0.0.1', port: 40000 };
const notAcceptable = (error: unknown): boolean => error instanceof SdpNegotiationError && error.sipStatus === 488;

describe('a=crypto: fixtures', () => {
  test('RFC 4568 offer: lifetimes, MKIs, several keys, session parameters', () => {
    const audio = parseSdp(RFC4568_SAVP_OFFER).audio!;
    assert.equal(audio.protocol, 'RTP/SAVP');
    assert.equal(audio.crypto.length, 2);
    const [first, second] = audio.crypto;
    assert.equal(first?.tag, 1);
    assert.equal(first?.suite, 'AES_CM_128_HMAC_SHA1_80');
    assert.equal(first?.keys.length, 1);
    assert.equal(first?.keys[0]?.keySalt?.length, 30);
    assert.equal(first?.keys[0]?.lifetime, '2^20');
    assert.deepEqual(first?.keys[0]?.mki, { value: '1', length: 4 });
    assert.deepEqual(first?.sessionParams, ['FEC_ORDER=FEC_SRTP']);
    assert.equal(second?.suite, 'F8_128_HMAC_SHA1_80');
    assert.deepEqual(second?.keys.map((k) => k.mki?.value), ['1', '2']);
    // An MKI, a session parameter or a suite we do not run makes a line unusable.
    assert.equal(usableKey(first!), undefined);
    assert.equal(usableKey(second!), undefined);
  });

  test('softphone offer: both suites usable, key and salt split 16 + 14', () => {
    const audio = parseSdp(SOFTPHONE_SAVP_OFFER).audio!;
    const keys = audio.crypto.map(usableKey);
    assert.equal(keys[0]?.suite, 'AES_CM_128_HMAC_SHA1_32');
    assert.equal(keys[1]?.suite, 'AES_CM_128_HMAC_SHA1_80');
    const raw = Buffer.from('2rsmiRVDgrr0w0oyfGVn6YwX6JAdjzuF44ItpU2p', 'base64');
    assert.deepEqual(keys[1]?.key, raw.subarray(0, 16));
    assert.deepEqual(keys[1]?.salt, raw.subarray(16));
  });

  test('writes byte-exact and round-trips', () => {
    const lines = [
      '1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:4 FEC_ORDER=FEC_SRTP',
      '2 AES_CM_128_HMAC_SHA1_32 inline:2rsmiRVDgrr0w0oyfGVn6YwX6JAdjzuF44ItpU2p',
      '99 AES_CM_128_HMAC_SHA1_80 inline:2rsmiRVDgrr0w0oyfGVn6YwX6JAdjzuF44ItpU2p|1048576 KDR=0 UNENCRYPTED_SRTCP',
      '3 SOME_FUTURE_SUITE othermethod:opaque-value;inline:QUJj',
    ];
    for (const line of lines) assert.equal(writeCrypto(parseCrypto(line)), line);
  });

  test('malformed lines are SdpError, and left out of a parsed description', () => {
    for (const bad of ['', '1', '1 AES_CM_128_HMAC_SHA1_80', 'x AES inline:QUJj', '1234567890 S inline:QUJj',
      '1 AES inline:not*base64', '1 AES inline:QUJj|1:4|2^20', '1 AES inline:QUJj|bad', '1 A-B inline:QUJj', '1 AES :QUJj']) {
      assert.throws(() => parseCrypto(bad), (e: unknown) => e instanceof SdpError && e.code === 'malformed', bad);
    }
    const sdp = parseSdp(SOFTPHONE_SAVP_OFFER.replace('a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:', 'a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:*'));
    assert.deepEqual(sdp.audio?.crypto.map((c) => c.tag), [2]);
  });

  test('an SdpError about a crypto line never quotes the key', () => {
    try {
      parseCrypto('1 AES_CM_128_HMAC_SHA1_80 inline:2rsmiRVDgrr0w0oyfGVn6YwX6JAdjzuF44ItpU2p|junk');
      assert.fail('should throw');
    } catch (error) {
      assert.ok(!(error as Error).message.includes('2rsmiRVD'));
    }
  });
});

describe('SDES negotiation', () => {
  test('require: our offer is RTP/SAVP with one fresh key per suite', () => {
    const a = parseSdp(createOffer({ ...local, srtp: 'require' })).audio!;
    const b = parseSdp(createOffer({ ...local, srtp: 'require' })).audio!;
    assert.equal(a.protocol, 'RTP/SAVP');
    assert.deepEqual(a.crypto.map((c) => [c.tag, c.suite]), [[1, 'AES_CM_128_HMAC_SHA1_80'], [2, 'AES_CM_128_HMAC_SHA1_32']]);
    assert.ok(a.crypto.every((c) => usableKey(c) !== undefined));
    assert.notDeepEqual(a.crypto[0]?.keys[0]?.keySalt, b.crypto[0]?.keys[0]?.keySalt);
  });

  test('offer: RTP/AVP with crypto lines (best effort); off: no crypto at all', () => {
    const offered = parseSdp(createOffer({ ...local, srtp: 'offer' })).audio!;
    assert.equal(offered.protocol, 'RTP/AVP');
    assert.equal(offered.crypto.length, 2);
    const plain = createOffer(local);
    assert.ok(!plain.includes('a=crypto'));
  });

  test('an RTP/SAVP offer is answered with the first usable line: same tag and suite, our own key', () => {
    const offer = parseSdp(SOFTPHONE_SAVP_OFFER);
    const answer = negotiateAnswer(offer, { ...local, srtp: 'offer' });
    const ours = parseSdp(answer.answerSdp).audio!;
    assert.equal(ours.protocol, 'RTP/SAVP');
    assert.equal(ours.crypto.length, 1);
    assert.equal(ours.crypto[0]?.tag, 1);
    assert.equal(ours.crypto[0]?.suite, 'AES_CM_128_HMAC_SHA1_32');
    assert.equal(answer.srtp?.suite, 'AES_CM_128_HMAC_SHA1_32');
    assert.deepEqual(answer.srtp?.remote, usableKey(offer.audio!.crypto[0]!));
    assert.deepEqual(usableKey(ours.crypto[0]!), answer.srtp?.local);
    assert.notDeepEqual(answer.srtp?.local.key, answer.srtp?.remote.key);
  });

  test('RTP/SAVP with SRTP off, or without a usable line, is not acceptable (488)', () => {
    assert.throws(() => negotiateAnswer(parseSdp(SOFTPHONE_SAVP_OFFER), local), notAcceptable);
    assert.throws(() => negotiateAnswer(parseSdp(RFC4568_SAVP_OFFER), { ...local, srtp: 'require' }), notAcceptable);
  });

  test('require refuses a plain offer; offer and off answer it plain', () => {
    assert.throws(() => negotiateAnswer(parseSdp(PBX_OFFER), { ...local, srtp: 'require' }), notAcceptable);
    for (const srtp of ['offer', 'off'] as const) {
      const answer = negotiateAnswer(parseSdp(PBX_OFFER), { ...local, srtp });
      assert.equal(answer.srtp, undefined);
      assert.ok(!answer.answerSdp.includes('a=crypto'));
      assert.ok(answer.answerSdp.includes('RTP/AVP'));
    }
  });

  test('best-effort offer: SRTP unless our policy is off', () => {
    const offer = parseSdp(BEST_EFFORT_SRTP_OFFER);
    const secure = negotiateAnswer(offer, { ...local, srtp: 'require' });
    assert.equal(secure.srtp?.suite, 'AES_CM_128_HMAC_SHA1_80');
    assert.match(secure.answerSdp, /m=audio 40000 RTP\/AVP 8 101\r\n[^]*a=crypto:7 AES_CM_128_HMAC_SHA1_80 inline:/);
    const plain = negotiateAnswer(offer, local);
    assert.equal(plain.srtp, undefined);
    assert.ok(!plain.answerSdp.includes('a=crypto'));
  });

  test('a re-offer answered with srtpKey keeps our key', () => {
    const offer = parseSdp(SOFTPHONE_SAVP_OFFER);
    const first = negotiateAnswer(offer, { ...local, srtp: 'offer' });
    const again = negotiateAnswer(offer, { ...local, srtp: 'offer', srtpKey: first.srtp!.local });
    assert.deepEqual(again.srtp?.local, first.srtp?.local);
  });

  test('applyAnswer: the tag picks our key; a missing or foreign crypto line is refused where SRTP was required', () => {
    const ourText = createOffer({ ...local, srtp: 'require' });
    const ours = parseSdp(ourText);
    const answered = negotiateAnswer(ours, { address: '127.0.0.2', port: 50000, srtp: 'offer' });
    const applied = applyAnswer(ours, parseSdp(answered.answerSdp));
    assert.equal(applied.srtp?.suite, 'AES_CM_128_HMAC_SHA1_80');
    assert.deepEqual(applied.srtp?.local, answered.srtp?.remote);
    assert.deepEqual(applied.srtp?.remote, answered.srtp?.local);

    const noCrypto = answered.answerSdp.replace(/a=crypto:[^\r]*\r\n/, '');
    assert.throws(() => applyAnswer(ours, parseSdp(noCrypto)), notAcceptable);
    const wrongTag = answered.answerSdp.replace('a=crypto:1 ', 'a=crypto:9 ');
    assert.throws(() => applyAnswer(ours, parseSdp(wrongTag)), notAcceptable);

    // Best effort: an answer without crypto is a plain call.
    const bestEffort = parseSdp(createOffer({ ...local, srtp: 'offer' }));
    const plainAnswer = negotiateAnswer(bestEffort, { address: '127.0.0.2', port: 50000 });
    assert.equal(applyAnswer(bestEffort, parseSdp(plainAnswer.answerSdp)).srtp, undefined);
  });
});

describe('a=crypto: properties', () => {
  const base64Key = fc.uint8Array({ minLength: 1, maxLength: 60 }).map((a) => Buffer.from(a));
  const key = fc.record({
    method: fc.constant('inline'),
    keySalt: base64Key,
    lifetime: fc.option(fc.oneof(fc.integer({ min: 0, max: 2 ** 40 }).map(String), fc.integer({ min: 0, max: 64 }).map((n) => `2^${n}`)), { nil: undefined }),
    mki: fc.option(fc.record({ value: fc.integer({ min: 0, max: 2 ** 32 }).map(String), length: fc.integer({ min: 1, max: 128 }) }), { nil: undefined }),
  }).map((k) => ({ ...k, info: '' }));
  const crypto: fc.Arbitrary<SdpCrypto> = fc.record({
    tag: fc.integer({ min: 0, max: 999_999_999 }),
    suite: fc.stringMatching(/^[A-Za-z0-9_]{1,40}$/),
    keys: fc.array(key, { minLength: 1, maxLength: 3 }),
    sessionParams: fc.array(fc.stringMatching(/^[A-Z_]{1,10}(=[0-9]{1,3})?$/), { maxLength: 3 }),
  });

  test('property: parseCrypto(writeCrypto(x)) gives back x', () => {
    fc.assert(
      fc.property(crypto, (value) => {
        const text = writeCrypto(value);
        const parsed = parseCrypto(text);
        assert.equal(writeCrypto(parsed), text);
        assert.equal(parsed.tag, value.tag);
        assert.equal(parsed.suite, value.suite);
        assert.deepEqual(parsed.sessionParams, value.sessionParams);
        const plain = (k: SdpCrypto['keys'][number]) => [k.keySalt, k.lifetime, k.mki ? { ...k.mki } : undefined];
        assert.deepEqual(parsed.keys.map(plain), value.keys.map(plain));
      }),
      { numRuns: 1_000, interruptAfterTimeLimit: TIME_LIMIT_MS },
    );
  });

  test('fuzz: any text is parsed or refused with SdpError, and an SDP with such a line still parses', () => {
    const text = fc.oneof(
      fc.string({ maxLength: 80 }),
      fc.stringMatching(/^[0-9]{1,3} [A-Z_0-9]{1,20} inline:[A-Za-z0-9+/=|:^;]{0,60}( [A-Z=_0-9]{1,10})?$/),
    );
    fc.assert(
      fc.property(text, (value) => {
        try {
          parseCrypto(value);
        } catch (error) {
          assert.ok(error instanceof SdpError, String(error));
        }
        if (!/[\r\n\0]/.test(value)) {
          const sdp = parseSdp(`${SOFTPHONE_SAVP_OFFER}a=crypto:${value}\r\n`);
          assert.ok(sdp.audio!.crypto.length >= 2);
        }
      }),
      { numRuns: 3_000, interruptAfterTimeLimit: TIME_LIMIT_MS },
    );
  });

  test('property: SRTP offer/answer agree on both sides for every policy pair', () => {
    const policy = fc.constantFrom('off' as const, 'offer' as const, 'require' as const);
    fc.assert(
      fc.property(policy, policy, (offerer, answerer) => {
        const ours = parseSdp(createOffer({ ...local, srtp: offerer }));
        const secureWanted = offerer !== 'off' && answerer !== 'off';
        const impossible = (offerer === 'require' && answerer === 'off') || (answerer === 'require' && offerer === 'off');
        if (impossible) {
          assert.throws(() => negotiateAnswer(ours, { address: '127.0.0.2', port: 50000, srtp: answerer }), notAcceptable);
          return;
        }
        const answered = negotiateAnswer(ours, { address: '127.0.0.2', port: 50000, srtp: answerer });
        const applied = applyAnswer(ours, parseSdp(answered.answerSdp));
        assert.equal(answered.srtp !== undefined, secureWanted);
        assert.deepEqual(applied.srtp?.local, answered.srtp?.remote);
        assert.deepEqual(applied.srtp?.remote, answered.srtp?.local);
      }),
      { numRuns: 50, interruptAfterTimeLimit: TIME_LIMIT_MS },
    );
  });
});
