import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  AesCounterMode,
  deriveKey,
  deriveSessionKeys,
  estimateRoc,
  ReplayWindow,
  SrtpContext,
  type SrtpSuiteName,
} from '../../../../src/media/srtp/index.js';
import { serializeRtp } from '../../../../src/media/rtp/rtp-packet.js';

const TIME_LIMIT_MS = 2_000;
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// RFC 3711 Appendix B.3 (also the master key of libsrtp's known-answer packets below).
const MASTER_KEY = hex('E1F97A0D3E018BE0D64FA32C06DE4139');
const MASTER_SALT = hex('0EC675AD498AFEEBB6960B3AABE6');

const context = (suite: SrtpSuiteName = 'AES_CM_128_HMAC_SHA1_80', key = MASTER_KEY, salt = MASTER_SALT) =>
  new SrtpContext({ suite, key, salt });

describe('RFC 3711 Appendix B.2: AES-CM keystream', () => {
  test('the first blocks and those around the counter wrapping through 0xFF00 match', () => {
    const aes = new AesCounterMode(hex('2B7E151628AED2A6ABF7158809CF4F3C'));
    const iv = hex('F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000');
    const stream = aes.keystream(iv, 0xff02 * 16);
    assert.equal(stream.subarray(0, 16).toString('hex').toUpperCase(), 'E03EAD0935C95E80E166B16DD92B4EB4');
    assert.equal(stream.subarray(16, 32).toString('hex').toUpperCase(), 'D23513162B02D0F72A43A2FE4A5F97AB');
    assert.equal(stream.subarray(32, 48).toString('hex').toUpperCase(), '41E95B3BB0A2E8DD477901E4FCA894C0');
    assert.equal(stream.subarray(0xfeff * 16, 0xff00 * 16).toString('hex').toUpperCase(), 'EC8CDF7398607CB0F2D21675EA9EA1E4');
    assert.equal(stream.subarray(0xff00 * 16, 0xff01 * 16).toString('hex').toUpperCase(), '362B7C3C6773516318A077D7FC5073AE');
    assert.equal(stream.subarray(0xff01 * 16, 0xff02 * 16).toString('hex').toUpperCase(), '6A2CC3787889374FBEB4C81B17BA6C44');
  });

  test('apply() XORs a range in place and twice restores it', () => {
    const aes = new AesCounterMode(hex('2B7E151628AED2A6ABF7158809CF4F3C'));
    const iv = hex('F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000');
    const data = Buffer.alloc(20, 0);
    aes.apply(iv, data, 2, 18);
    assert.equal(data.subarray(2, 18).toString('hex').toUpperCase(), 'E03EAD0935C95E80E166B16DD92B4EB4');
    assert.equal(data[0], 0);
    assert.equal(data[19], 0);
    aes.apply(iv, data, 2, 18);
    assert.deepEqual(data, Buffer.alloc(20, 0));
  });
});

describe('RFC 3711 Appendix B.3: key derivation', () => {
  test('cipher key, salt and authentication key', () => {
    assert.equal(deriveKey(MASTER_KEY, MASTER_SALT, 0, 16).toString('hex').toUpperCase(), 'C61E7A93744F39EE10734AFE3FF7A087');
    assert.equal(deriveKey(MASTER_KEY, MASTER_SALT, 2, 14).toString('hex').toUpperCase(), '30CBBC08863D8C85D49DB34A9AE1');
    // B.3 lists a longer PRF output for the authentication key; HMAC-SHA1 takes its first 160 bits.
    assert.equal(
      deriveKey(MASTER_KEY, MASTER_SALT, 1, 32).toString('hex').toUpperCase(),
      'CEBE321F6FF7716B6FD4AB49AF256A156D38BAA48F0A0ACF3C34E2359E6CDBCE',
    );
    const keys = deriveSessionKeys(MASTER_KEY, MASTER_SALT, false);
    assert.equal(keys.authKey.toString('hex').toUpperCase(), 'CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4');
  });

  test('master keys of the wrong size are refused', () => {
    assert.throws(() => deriveKey(Buffer.alloc(15), MASTER_SALT, 0, 16), RangeError);
    assert.throws(() => deriveKey(MASTER_KEY, Buffer.alloc(16), 0, 16), RangeError);
  });
});

// libsrtp's srtp_validate(): SSRC 0xcafebabe, SEQ 0x1234, ROC 0, 16 octets of 0xab.
const RTP_PLAIN = hex('800f1234decafbadcafebabe' + 'ab'.repeat(16));
const SRTP_80 = hex('800f1234decafbadcafebabe 4e55dc4ce79978d88ca4d215949d2402 b78d6acc99ea179b8dbb');
const RTCP_PLAIN = hex('81c8000bcafebabe' + 'ab'.repeat(16));
const SRTCP_INDEX_1 = hex('81c8000bcafebabe 7128035be487b9bdbef89041f977a5a8 80000001 993e08cd54d6c1230798');

describe('known-answer packets (AES_CM_128_HMAC_SHA1_80)', () => {
  test('SRTP protect gives the reference packet and unprotect the plain one', () => {
    assert.deepEqual(context().protectRtp(RTP_PLAIN), SRTP_80);
    const result = context().unprotectRtp(SRTP_80);
    assert.ok(result.ok);
    assert.deepEqual(result.packet, RTP_PLAIN);
  });

  test('AES_CM_128_HMAC_SHA1_32 differs only in the shorter tag', () => {
    const protectedPacket = context('AES_CM_128_HMAC_SHA1_32').protectRtp(RTP_PLAIN);
    assert.equal(protectedPacket.length, RTP_PLAIN.length + 4);
    assert.deepEqual(protectedPacket.subarray(0, RTP_PLAIN.length + 4), SRTP_80.subarray(0, RTP_PLAIN.length + 4));
  });

  test('SRTCP: the second packet sent carries index 1 and matches the reference', () => {
    const sender = context();
    const first = sender.protectRtcp(RTCP_PLAIN);
    assert.equal(first.readUInt32BE(RTCP_PLAIN.length), 0x80000000);
    assert.deepEqual(sender.protectRtcp(RTCP_PLAIN), SRTCP_INDEX_1);
    const result = context().unprotectRtcp(SRTCP_INDEX_1);
    assert.ok(result.ok);
    assert.deepEqual(result.packet, RTCP_PLAIN);
  });

  test('a replayed SRTP or SRTCP packet is rejected the second time', () => {
    const receiver = context();
    assert.ok(receiver.unprotectRtp(SRTP_80).ok);
    assert.deepEqual(receiver.unprotectRtp(SRTP_80), { ok: false, reason: 'replayed' });
    assert.ok(receiver.unprotectRtcp(SRTCP_INDEX_1).ok);
    assert.deepEqual(receiver.unprotectRtcp(SRTCP_INDEX_1), { ok: false, reason: 'replayed' });
  });

  test('the plain RTP packet is refused (what an injected plaintext packet looks like)', () => {
    const result = context().unprotectRtp(RTP_PLAIN);
    assert.equal(result.ok, false);
    const padded = Buffer.concat([RTP_PLAIN, Buffer.alloc(10)]);
    assert.deepEqual(context().unprotectRtp(padded), { ok: false, reason: 'auth_failed' });
  });

  test('an unencrypted SRTCP packet (E = 0) is refused', () => {
    const clear = Buffer.from(SRTCP_INDEX_1);
    clear[RTCP_PLAIN.length] = 0;
    assert.deepEqual(context().unprotectRtcp(clear), { ok: false, reason: 'malformed' });
  });
});

function rtp(sequence: number, ssrc: number, payload: Buffer, extras: { marker?: boolean; csrcs?: number[] } = {}): Buffer {
  return serializeRtp({
    version: 2,
    padding: false,
    marker: extras.marker ?? false,
    payloadType: 0,
    sequenceNumber: sequence,
    timestamp: sequence * 160,
    ssrc,
    csrcs: extras.csrcs ?? [],
    payload,
  });
}

describe('rollover counter and index estimation (RFC 3711 §3.3.1)', () => {
  test('estimateRoc follows Appendix A', () => {
    assert.equal(estimateRoc({ roc: 0, highest: -1 }, 5), 0);
    assert.equal(estimateRoc({ roc: 0, highest: 65530 }, 3), 1);
    assert.equal(estimateRoc({ roc: 0, highest: 65530 }, 65000), 0);
    assert.equal(estimateRoc({ roc: 2, highest: 3 }, 65530), 1);
    assert.equal(estimateRoc({ roc: 0, highest: 3 }, 65530), -1);
    assert.equal(estimateRoc({ roc: 1, highest: 100 }, 200), 1);
  });

  test('a stream crossing the 16-bit sequence wrap keeps decrypting, with reordering around it', () => {
    const sender = context();
    const receiver = context();
    const packets: Buffer[] = [];
    for (let i = 0; i < 40; i++) packets.push(sender.protectRtp(rtp((65520 + i) & 0xffff, 7, Buffer.from([i, i, i]))));
    // Swap neighbours around the wrap.
    [packets[15], packets[16]] = [packets[16]!, packets[15]!];
    for (const packet of packets) {
      const result = receiver.unprotectRtp(packet);
      assert.ok(result.ok);
    }
    const last = receiver.unprotectRtp(sender.protectRtp(rtp(30, 7, Buffer.from([9]))));
    assert.ok(last.ok);
    assert.deepEqual(last.packet.subarray(12), Buffer.from([9]));
  });

  test('the SRTP index after a wrap uses ROC 1 (the packet does not decrypt with ROC 0)', () => {
    const sender = context();
    sender.protectRtp(rtp(65535, 1, Buffer.from([1])));
    const wrapped = sender.protectRtp(rtp(0, 1, Buffer.from([2])));
    // A fresh receiver guesses ROC 0 for its first packet: authentication fails.
    assert.deepEqual(context().unprotectRtp(wrapped), { ok: false, reason: 'auth_failed' });
  });
});

describe('replay window of 64', () => {
  test('too old, repeated and fresh indices', () => {
    const window = new ReplayWindow();
    window.mark(100);
    assert.equal(window.check(100), false);
    assert.equal(window.check(101), true);
    assert.equal(window.check(99), true);
    assert.equal(window.check(37), true);
    assert.equal(window.check(36), false);
    window.mark(99);
    assert.equal(window.check(99), false);
    window.mark(300);
    assert.equal(window.check(299), true);
    assert.equal(window.check(236), false);
    assert.equal(window.check(237), true);
    assert.equal(window.check(300), false);
  });

  test('a forged packet does not move the window', () => {
    const sender = context();
    const receiver = context();
    const good = sender.protectRtp(rtp(10, 3, Buffer.from('hello')));
    const forged = sender.protectRtp(rtp(5000, 3, Buffer.from('later')));
    forged[forged.length - 1]! ^= 1;
    assert.equal(receiver.unprotectRtp(forged).ok, false);
    assert.ok(receiver.unprotectRtp(good).ok);
  });
});

describe('properties', () => {
  const suite = fc.constantFrom<SrtpSuiteName>('AES_CM_128_HMAC_SHA1_80', 'AES_CM_128_HMAC_SHA1_32');
  const key = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((a) => Buffer.from(a));
  const salt = fc.uint8Array({ minLength: 14, maxLength: 14 }).map((a) => Buffer.from(a));
  const packet = fc
    .record({
      sequence: fc.integer({ min: 0, max: 0xffff }),
      ssrc: fc.integer({ min: 0, max: 0xffffffff }),
      payload: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
      marker: fc.boolean(),
      csrcs: fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 3 }),
    })
    .map((p) => rtp(p.sequence, p.ssrc, p.payload, { marker: p.marker, csrcs: p.csrcs }));
  const rtcp = fc
    .tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.uint8Array({ maxLength: 200 }))
    .map(([ssrc, body]) => {
      const head = Buffer.alloc(8);
      head.writeUInt8(0x80, 0);
      head.writeUInt8(201, 1);
      head.writeUInt16BE(1, 2);
      head.writeUInt32BE(ssrc, 4);
      return Buffer.concat([head, Buffer.from(body)]);
    });

  test('property: unprotect(protect(p)) == p for SRTP and SRTCP', () => {
    fc.assert(
      fc.property(suite, key, salt, packet, rtcp, (name, k, s, p, c) => {
        const sent = context(name, k, s).protectRtp(p);
        const back = context(name, k, s).unprotectRtp(sent);
        assert.ok(back.ok);
        assert.deepEqual(back.packet, p);
        const sentRtcp = context(name, k, s).protectRtcp(c);
        const backRtcp = context(name, k, s).unprotectRtcp(sentRtcp);
        assert.ok(backRtcp.ok);
        assert.deepEqual(backRtcp.packet, c);
      }),
      { numRuns: 300, interruptAfterTimeLimit: TIME_LIMIT_MS },
    );
  });

  test('property: any single flipped bit of an SRTP or SRTCP packet is rejected', () => {
    fc.assert(
      fc.property(suite, key, salt, packet, rtcp, fc.nat(), (name, k, s, p, c, at) => {
        const sent = context(name, k, s).protectRtp(p);
        const bit = at % (sent.length * 8);
        sent[bit >> 3]! ^= 1 << (bit & 7);
        assert.equal(context(name, k, s).unprotectRtp(sent).ok, false);
        const sentRtcp = context(name, k, s).protectRtcp(c);
        const bitRtcp = at % (sentRtcp.length * 8);
        sentRtcp[bitRtcp >> 3]! ^= 1 << (bitRtcp & 7);
        assert.equal(context(name, k, s).unprotectRtcp(sentRtcp).ok, false);
      }),
      { numRuns: 500, interruptAfterTimeLimit: TIME_LIMIT_MS },
    );
  });

  test('fuzz: unprotect of random bytes never throws and never accepts', () => {
    const receiver = context();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.boolean(), (bytes, asRtp) => {
        const data = Buffer.from(bytes);
        // Give half of them a plausible RTP/RTCP first octet so they get past the header checks.
        if (asRtp && data.length > 0) data[0] = 0x80 | (data[0]! & 0x3f);
        const a = receiver.unprotectRtp(data);
        const b = receiver.unprotectRtcp(data);
        assert.equal(a.ok, false);
        assert.equal(b.ok, false);
      }),
      { numRuns: 20_000, interruptAfterTimeLimit: TIME_LIMIT_MS },
    );
  });
});
