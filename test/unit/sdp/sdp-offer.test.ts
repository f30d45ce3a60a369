import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createOffer } from '../../../src/sdp/sdp-offer.js';
import { parseSdp } from '../../../src/sdp/sdp-parse.js';
import { SdpError } from '../../../src/sdp/sdp-error.js';
import { isUnspecifiedAddress } from '../../../src/sdp/sdp-write.js';
import type { AudioCodecName, SdpDirection } from '../../../src/sdp/types.js';

describe('createOffer', () => {
  test('default offer, exactly', () => {
    assert.equal(
      createOffer({ address: '192.0.2.10', port: 40000, sessionId: 12345, sessionVersion: 1 }),
      [
        'v=0',
        'o=- 12345 1 IN IP4 192.0.2.10',
        's=-',
        'c=IN IP4 192.0.2.10',
        't=0 0',
        'm=audio 40000 RTP/AVP 0 8 101',
        'a=rtpmap:0 PCMU/8000',
        'a=rtpmap:8 PCMA/8000',
        'a=rtpmap:101 telephone-event/8000',
        'a=fmtp:101 0-16',
        'a=ptime:20',
        'a=sendrecv',
        '',
      ].join('\r\n'),
    );
  });

  test('IPv6, codec order, another telephone-event type', () => {
    const text = createOffer({ address: '2001:db8::7', port: 4002, codecs: ['PCMA'], telephoneEvent: 96, sessionId: '9' });
    assert.match(text, /^o=- 9 9 IN IP6 2001:db8::7\r$/m);
    assert.match(text, /^c=IN IP6 2001:db8::7\r$/m);
    assert.match(text, /^m=audio 4002 RTP\/AVP 8 96\r$/m);
    assert.match(text, /^a=fmtp:96 0-16\r$/m);
  });

  test('without telephone-event, and on hold', () => {
    const text = createOffer({ address: '192.0.2.10', port: 40000, telephoneEvent: false, direction: 'sendonly' });
    assert.match(text, /^m=audio 40000 RTP\/AVP 0 8\r$/m);
    assert.doesNotMatch(text, /telephone-event/);
    assert.match(text, /^a=sendonly\r$/m);
  });

  test('a random session id when none is given', () => {
    const a = parseSdp(createOffer({ address: '192.0.2.10', port: 40000 })).origin;
    const b = parseSdp(createOffer({ address: '192.0.2.10', port: 40000 })).origin;
    assert.match(a.sessionId, /^[0-9]+$/);
    assert.equal(a.sessionVersion, a.sessionId);
    assert.notEqual(a.sessionId, b.sessionId);
  });

  test('refuses bad options', () => {
    const base = { address: '192.0.2.10', port: 40000 };
    const bad: Array<Parameters<typeof createOffer>[0]> = [
      { ...base, address: 'pbx.example.com' },
      { ...base, address: 'fe80::1%eth0' },
      { ...base, address: '0.0.0.0' },
      { ...base, address: '::' },
      { ...base, port: 0 },
      { ...base, port: 65536 },
      { ...base, port: 1.5 },
      { ...base, codecs: [] },
      { ...base, codecs: ['PCMU', 'PCMU'] },
      { ...base, codecs: ['G729' as AudioCodecName] },
      { ...base, telephoneEvent: 50 },
      { ...base, sessionId: 'abc' },
      { ...base, sessionId: -1 },
      { ...base, direction: 'sideways' as SdpDirection },
    ];
    for (const options of bad) {
      assert.throws(
        () => createOffer(options),
        (error: unknown) => error instanceof SdpError && error.code === 'invalid_value',
        JSON.stringify(options),
      );
    }
  });

  test('property: parseSdp(createOffer(x)) gives back x', () => {
    const codecLists: AudioCodecName[][] = [['PCMU'], ['PCMA'], ['PCMU', 'PCMA'], ['PCMA', 'PCMU']];
    fc.assert(
      fc.property(
        fc.record({
          address: fc.oneof(fc.ipV4(), fc.ipV6()).filter((a) => !isUnspecifiedAddress(a)),
          port: fc.integer({ min: 1, max: 65535 }),
          sessionId: fc.bigInt({ min: 0n, max: 2n ** 63n }).map(String),
          sessionVersion: fc.nat(),
          codecs: fc.constantFrom(...codecLists),
          telephoneEvent: fc.oneof(fc.constant<false>(false), fc.integer({ min: 96, max: 127 })),
          direction: fc.constantFrom<SdpDirection>('sendrecv', 'sendonly', 'recvonly', 'inactive'),
        }),
        (input) => {
          const sdp = parseSdp(createOffer(input));
          const audio = sdp.audio;
          assert.ok(audio);
          assert.equal(sdp.media.length, 1);
          assert.equal(sdp.origin.sessionId, input.sessionId);
          assert.equal(sdp.origin.sessionVersion, String(input.sessionVersion));
          assert.equal(audio.connection?.address, input.address);
          assert.equal(audio.connection?.addressType, input.address.includes(':') ? 'IP6' : 'IP4');
          assert.equal(audio.port, input.port);
          assert.equal(audio.protocol, 'RTP/AVP');
          assert.equal(audio.ptime, 20);
          assert.equal(audio.direction, input.direction);
          assert.equal(audio.telephoneEvent, input.telephoneEvent === false ? undefined : input.telephoneEvent);
          const codecs = audio.payloadTypes
            .filter((pt) => pt.encodingName !== 'telephone-event')
            .map((pt) => [pt.encodingName, pt.payloadType, pt.clockRate]);
          assert.deepEqual(
            codecs,
            input.codecs.map((name) => [name, name === 'PCMU' ? 0 : 8, 8000]),
          );
          if (input.telephoneEvent !== false) {
            assert.equal(audio.payloadTypes.at(-1)?.fmtp, '0-16');
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
