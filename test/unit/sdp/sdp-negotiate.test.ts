import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { applyAnswer } from '../../../src/sdp/sdp-apply.js';
import { createOffer } from '../../../src/sdp/sdp-offer.js';
import { negotiateAnswer } from '../../../src/sdp/sdp-negotiate.js';
import { parseSdp } from '../../../src/sdp/sdp-parse.js';
import { SdpError, SdpNegotiationError } from '../../../src/sdp/sdp-error.js';
import { isUnspecifiedAddress } from '../../../src/sdp/sdp-write.js';
import type { AudioCodecName } from '../../../src/sdp/types.js';
import {
  AUDIO_AND_T38_OFFER,
  BARE_STATIC_OFFER,
  G729_ONLY_OFFER,
  IPV6_HOLD_OFFER,
  PBX_OFFER,
  RFC4317_AUDIO_VIDEO_OFFER,
  SRTP_OFFER,
  WIDEBAND_OFFER,
  ZERO_ADDRESS_HOLD_OFFER,
  crlf,
} from './fixtures.js';

const LOCAL = { address: '192.0.2.1', port: 20000, codecs: ['PCMU', 'PCMA'] as AudioCodecName[], sessionId: 5 };

function answerLines(text: string): string[] {
  return text.split('\r\n');
}

describe('negotiateAnswer', () => {
  test('RFC 4317 offer: PCMU chosen, video rejected with port 0, exact answer', () => {
    const result = negotiateAnswer(parseSdp(RFC4317_AUDIO_VIDEO_OFFER), LOCAL);
    assert.deepEqual(result.codec, { name: 'PCMU', payloadType: 0 });
    assert.equal(result.telephoneEvent, undefined);
    assert.deepEqual(result.remote, { address: 'host.atlanta.example.com', port: 49170 });
    assert.equal(result.direction, 'sendrecv');
    assert.equal(
      result.answerSdp,
      [
        'v=0',
        'o=- 5 5 IN IP4 192.0.2.1',
        's=-',
        'c=IN IP4 192.0.2.1',
        't=0 0',
        'm=audio 20000 RTP/AVP 0',
        'a=rtpmap:0 PCMU/8000',
        'a=ptime:20',
        'a=sendrecv',
        'm=video 0 RTP/AVP 31 32',
        '',
      ].join('\r\n'),
    );
  });

  test("the offerer's order wins over ours; telephone-event answered with the offerer's type", () => {
    const result = negotiateAnswer(parseSdp(PBX_OFFER), { ...LOCAL, codecs: ['PCMU', 'PCMA'] });
    assert.deepEqual(result.codec, { name: 'PCMA', payloadType: 8 });
    assert.equal(result.telephoneEvent, 101);
    const lines = answerLines(result.answerSdp);
    assert.ok(lines.includes('m=audio 20000 RTP/AVP 8 101'));
    assert.ok(lines.includes('a=rtpmap:101 telephone-event/8000'));
    assert.ok(lines.includes('a=fmtp:101 0-16'));
  });

  test('codecs default to PCMU and PCMA', () => {
    assert.deepEqual(negotiateAnswer(parseSdp(PBX_OFFER), { address: '192.0.2.1', port: 20000 }).codec, {
      name: 'PCMA',
      payloadType: 8,
    });
  });

  test('only the codecs we support are considered', () => {
    assert.deepEqual(negotiateAnswer(parseSdp(PBX_OFFER), { ...LOCAL, codecs: ['PCMU'] }).codec, {
      name: 'PCMU',
      payloadType: 0,
    });
    // G.729 first in the offer, then PCMU, and no rtpmap anywhere.
    assert.deepEqual(negotiateAnswer(parseSdp(BARE_STATIC_OFFER), LOCAL).codec, { name: 'PCMU', payloadType: 0 });
  });

  test('wideband codecs skipped; 8 kHz telephone-event chosen; telephone-event can be declined', () => {
    const offer = parseSdp(WIDEBAND_OFFER);
    const result = negotiateAnswer(offer, LOCAL);
    assert.deepEqual(result.codec, { name: 'PCMU', payloadType: 0 });
    assert.equal(result.telephoneEvent, 126);
    assert.ok(answerLines(result.answerSdp).includes('m=audio 20000 RTP/AVP 0 126'));
    const without = negotiateAnswer(offer, { ...LOCAL, telephoneEvent: false });
    assert.equal(without.telephoneEvent, undefined);
    assert.ok(answerLines(without.answerSdp).includes('m=audio 20000 RTP/AVP 0'));
  });

  test('the offerer keeps its payload type numbers even for a dynamic G.711', () => {
    const offer = parseSdp(
      crlf(`v=0
o=- 1 1 IN IP4 203.0.113.9
s=-
c=IN IP4 203.0.113.9
t=0 0
m=audio 7000 RTP/AVP 98
a=rtpmap:98 pcma/8000
`),
    );
    const result = negotiateAnswer(offer, LOCAL);
    assert.deepEqual(result.codec, { name: 'PCMA', payloadType: 98 });
    assert.ok(answerLines(result.answerSdp).includes('a=rtpmap:98 PCMA/8000'));
  });

  test('sendonly offer gets recvonly, over IPv6, answered from an IPv6 address', () => {
    const result = negotiateAnswer(parseSdp(IPV6_HOLD_OFFER), { ...LOCAL, address: '2001:db8::1' });
    assert.equal(result.direction, 'recvonly');
    assert.deepEqual(result.remote, { address: '2001:db8::10', port: 40000 });
    const lines = answerLines(result.answerSdp);
    assert.ok(lines.includes('c=IN IP6 2001:db8::1'));
    assert.ok(lines.includes('a=recvonly'));
  });

  test('c=0.0.0.0 (RFC 2543 hold): we do not send', () => {
    const result = negotiateAnswer(parseSdp(ZERO_ADDRESS_HOLD_OFFER), LOCAL);
    assert.equal(result.direction, 'recvonly');
    assert.equal(result.remote.address, '0.0.0.0');
    const sendonly = negotiateAnswer(parseSdp(ZERO_ADDRESS_HOLD_OFFER.replace('a=sendrecv', 'a=recvonly')), LOCAL);
    assert.equal(sendonly.direction, 'inactive');
  });

  test('T.38 before audio: image rejected in place, audio accepted, t= echoed', () => {
    const offer = parseSdp(AUDIO_AND_T38_OFFER.replace('t=0 0', 't=3034423619 0'));
    const result = negotiateAnswer(offer, LOCAL);
    const lines = answerLines(result.answerSdp);
    assert.deepEqual(
      lines.filter((l) => l.startsWith('m=') || l.startsWith('t=')),
      ['t=3034423619 0', 'm=image 0 udptl t38', 'm=audio 20000 RTP/AVP 0'],
    );
    const answer = parseSdp(result.answerSdp);
    assert.equal(answer.media.length, offer.media.length);
  });

  test('nothing acceptable is an SdpNegotiationError (488)', () => {
    for (const text of [G729_ONLY_OFFER, SRTP_OFFER, 'v=0\r\no=- 1 1 IN IP4 192.0.2.9\r\n']) {
      assert.throws(
        () => negotiateAnswer(parseSdp(text), LOCAL),
        (error: unknown) =>
          error instanceof SdpNegotiationError && error instanceof SdpError && error.sipStatus === 488 && error.code === 'not_acceptable',
      );
    }
    assert.throws(() => negotiateAnswer(parseSdp(PBX_OFFER), { ...LOCAL, codecs: [] }), SdpNegotiationError);
  });

  test('bad local options are invalid_value, not negotiation failures', () => {
    assert.throws(
      () => negotiateAnswer(parseSdp(PBX_OFFER), { ...LOCAL, address: 'localhost' }),
      (error: unknown) => error instanceof SdpError && error.code === 'invalid_value',
    );
    assert.throws(
      () => negotiateAnswer(parseSdp(PBX_OFFER), { ...LOCAL, port: 0 }),
      (error: unknown) => error instanceof SdpError && error.code === 'invalid_value',
    );
  });
});

describe('applyAnswer', () => {
  const offerText = createOffer({ address: '192.0.2.1', port: 20000, sessionId: 1 });
  const offer = parseSdp(offerText);
  const answer = (media: string): ReturnType<typeof parseSdp> =>
    parseSdp(crlf(`v=0\no=- 9 9 IN IP4 198.51.100.5\ns=-\nc=IN IP4 198.51.100.5\nt=0 0\n${media}`));

  test('reads the chosen codec, telephone-event and remote address', () => {
    const result = applyAnswer(
      offer,
      answer('m=audio 30000 RTP/AVP 8 101\na=rtpmap:101 telephone-event/8000\na=fmtp:101 0-15\na=sendrecv\n'),
    );
    assert.deepEqual(result, {
      codec: { name: 'PCMA', payloadType: 8 },
      telephoneEvent: 101,
      remote: { address: '198.51.100.5', port: 30000 },
      direction: 'sendrecv',
    });
  });

  test("formats we did not offer are ignored; the answer's own telephone-event type is used", () => {
    const result = applyAnswer(
      offer,
      answer('m=audio 30000 RTP/AVP 18 0 96\na=rtpmap:18 G729/8000\na=rtpmap:96 telephone-event/8000\na=recvonly\n'),
    );
    assert.deepEqual(result.codec, { name: 'PCMU', payloadType: 0 });
    assert.equal(result.telephoneEvent, 96);
    assert.equal(result.direction, 'sendonly');
  });

  test('no telephone-event unless we offered it', () => {
    const plain = parseSdp(createOffer({ address: '192.0.2.1', port: 20000, telephoneEvent: false }));
    const result = applyAnswer(plain, answer('m=audio 30000 RTP/AVP 0 101\na=rtpmap:101 telephone-event/8000\n'));
    assert.equal(result.telephoneEvent, undefined);
  });

  test('rejections and mismatches', () => {
    const negotiation = (error: unknown): boolean => error instanceof SdpNegotiationError;
    const mismatch = (error: unknown): boolean => error instanceof SdpError && error.code === 'mismatched_answer';
    assert.throws(() => applyAnswer(offer, answer('m=audio 0 RTP/AVP 0\n')), negotiation);
    assert.throws(() => applyAnswer(offer, answer('m=audio 30000 RTP/AVP 18\n')), negotiation);
    assert.throws(() => applyAnswer(offer, answer('m=audio 30000 RTP/AVP 9\na=rtpmap:9 G722/8000\n')), negotiation);
    assert.throws(() => applyAnswer(offer, answer('')), mismatch);
    assert.throws(() => applyAnswer(offer, answer('m=audio 30000 RTP/AVP 0\nm=video 0 RTP/AVP 31\n')), mismatch);
    assert.throws(() => applyAnswer(offer, answer('m=video 30000 RTP/AVP 31\n')), mismatch);
    assert.throws(() => applyAnswer(offer, answer('m=audio 30000 RTP/SAVP 0\n')), mismatch);
  });

  test('property: negotiateAnswer and applyAnswer agree on both sides of a call', () => {
    const address = fc.oneof(fc.ipV4(), fc.ipV6()).filter((a) => !isUnspecifiedAddress(a));
    const codecLists: AudioCodecName[][] = [[], ['PCMU'], ['PCMA'], ['PCMU', 'PCMA'], ['PCMA', 'PCMU']];
    fc.assert(
      fc.property(
        fc.constantFrom(...codecLists.slice(1)),
        fc.constantFrom(...codecLists),
        fc.oneof(fc.constant<false>(false), fc.integer({ min: 96, max: 127 })),
        fc.boolean(),
        address,
        address,
        (offered, supported, te, acceptTe, ourAddress, theirAddress) => {
          const ours = parseSdp(createOffer({ address: ourAddress, port: 4000, codecs: offered, telephoneEvent: te }));
          const common = offered.filter((c) => supported.includes(c));
          if (common.length === 0) {
            assert.throws(
              () => negotiateAnswer(ours, { address: theirAddress, port: 5000, codecs: supported }),
              SdpNegotiationError,
            );
            return;
          }
          const answered = negotiateAnswer(ours, {
            address: theirAddress,
            port: 5000,
            codecs: supported,
            telephoneEvent: acceptTe,
          });
          assert.equal(answered.codec.name, common[0]);
          assert.deepEqual(answered.remote, { address: ourAddress, port: 4000 });
          assert.equal(answered.telephoneEvent, te !== false && acceptTe ? te : undefined);
          const applied = applyAnswer(ours, parseSdp(answered.answerSdp));
          assert.deepEqual(applied.codec, answered.codec);
          assert.equal(applied.telephoneEvent, answered.telephoneEvent);
          assert.deepEqual(applied.remote, { address: theirAddress, port: 5000 });
          assert.equal(applied.direction, 'sendrecv');
        },
      ),
      { numRuns: 500 },
    );
  });
});
