import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseSdp } from '../../../src/sdp/sdp-parse.js';
import { SdpError } from '../../../src/sdp/sdp-error.js';
import {
  AUDIO_AND_T38_OFFER,
  BARE_STATIC_OFFER,
  IPV6_HOLD_OFFER,
  PBX_OFFER,
  RFC4317_AUDIO_VIDEO_OFFER,
  WIDEBAND_OFFER,
  ZERO_ADDRESS_HOLD_OFFER,
  crlf,
} from './fixtures.js';

function sdpError(code: string): (error: unknown) => boolean {
  return (error) => error instanceof SdpError && error.code === code;
}

const names = (sdp: ReturnType<typeof parseSdp>): string[] =>
  (sdp.audio?.payloadTypes ?? []).map((pt) => `${pt.payloadType}:${pt.encodingName}/${pt.clockRate}`);

describe('parseSdp: fixtures', () => {
  test('RFC 4317 audio+video offer', () => {
    const sdp = parseSdp(RFC4317_AUDIO_VIDEO_OFFER);
    assert.deepEqual(sdp.origin, {
      username: 'alice',
      sessionId: '2890844526',
      sessionVersion: '2890844526',
      addressType: 'IP4',
      address: 'host.atlanta.example.com',
    });
    assert.equal(sdp.sessionName, '');
    assert.deepEqual(sdp.connection, { addressType: 'IP4', address: 'host.atlanta.example.com' });
    assert.equal(sdp.media.length, 2);
    assert.equal(sdp.audio, sdp.media[0]);
    assert.equal(sdp.audio?.port, 49170);
    assert.equal(sdp.audio?.protocol, 'RTP/AVP');
    assert.deepEqual(names(sdp), ['0:PCMU/8000', '8:PCMA/8000', '97:iLBC/8000']);
    assert.equal(sdp.audio?.telephoneEvent, undefined);
    assert.equal(sdp.audio?.direction, 'sendrecv');
    const video = sdp.media[1];
    assert.equal(video?.media, 'video');
    assert.equal(video?.index, 1);
    assert.deepEqual(video?.formats, ['31', '32']);
  });

  test('PBX offer: order kept, telephone-event, ptime, fmtp', () => {
    const sdp = parseSdp(PBX_OFFER);
    assert.deepEqual(names(sdp), ['8:PCMA/8000', '0:PCMU/8000', '3:GSM/8000', '101:telephone-event/8000']);
    assert.equal(sdp.audio?.telephoneEvent, 101);
    assert.equal(sdp.audio?.payloadTypes[3]?.fmtp, '0-16');
    assert.equal(sdp.audio?.ptime, 20);
    assert.equal(sdp.audio?.direction, 'sendrecv');
    assert.deepEqual(sdp.audio?.connection, { addressType: 'IP4', address: '203.0.113.10' });
    assert.equal(sdp.origin.sessionVersion, '1235');
  });

  test('static payload types without rtpmap, media-level c=, LF endings, blank lines', () => {
    const sdp = parseSdp(BARE_STATIC_OFFER);
    assert.equal(sdp.connection, undefined);
    assert.deepEqual(sdp.audio?.connection, { addressType: 'IP4', address: '198.51.100.20' });
    assert.deepEqual(names(sdp), ['18:G729/8000', '0:PCMU/8000']);
    assert.equal(sdp.audio?.ptime, undefined);
  });

  test('telephone-event is the 8 kHz one; channels are read from rtpmap', () => {
    const sdp = parseSdp(WIDEBAND_OFFER);
    assert.equal(sdp.audio?.telephoneEvent, 126);
    assert.equal(sdp.audio?.payloadTypes[0]?.channels, 2);
    assert.equal(sdp.audio?.payloadTypes[0]?.fmtp, 'useinbandfec=1');
    assert.equal(sdp.audio?.payloadTypes.find((pt) => pt.payloadType === 126)?.fmtp, '0-15');
  });

  test('IPv6 and sendonly', () => {
    const sdp = parseSdp(IPV6_HOLD_OFFER);
    assert.deepEqual(sdp.audio?.connection, { addressType: 'IP6', address: '2001:db8::10' });
    assert.equal(sdp.audio?.direction, 'sendonly');
    assert.equal(sdp.audio?.telephoneEvent, 101);
  });

  test('session-level direction applies to media without its own', () => {
    const sdp = parseSdp(ZERO_ADDRESS_HOLD_OFFER);
    assert.equal(sdp.direction, 'sendrecv');
    assert.equal(sdp.audio?.direction, 'sendrecv');
    const inactive = parseSdp(ZERO_ADDRESS_HOLD_OFFER.replace('a=sendrecv', 'a=inactive'));
    assert.equal(inactive.audio?.direction, 'inactive');
    const overridden = parseSdp(`${ZERO_ADDRESS_HOLD_OFFER}a=recvonly\r\n`);
    assert.equal(overridden.audio?.direction, 'recvonly');
  });

  test('non-RTP streams keep their formats and have no payload types', () => {
    const sdp = parseSdp(AUDIO_AND_T38_OFFER);
    assert.equal(sdp.media[0]?.media, 'image');
    assert.equal(sdp.media[0]?.protocol, 'udptl');
    assert.deepEqual(sdp.media[0]?.formats, ['t38']);
    assert.deepEqual(sdp.media[0]?.payloadTypes, []);
    assert.equal(sdp.audio?.index, 1);
  });

  test('multicast TTL suffix, port count, fractional ptime, dynamic type without rtpmap', () => {
    const sdp = parseSdp(
      crlf(`v=0
o=- 1 1 IN IP4 224.2.17.12
s=-
t=0 0
m=audio 49170/2 RTP/AVP 96 0
c=IN IP4 224.2.17.12/127
a=ptime:0.5
`),
    );
    assert.equal(sdp.audio?.portCount, 2);
    assert.equal(sdp.audio?.connection?.address, '224.2.17.12');
    assert.equal(sdp.audio?.ptime, 0.5);
    assert.deepEqual(sdp.audio?.formats, ['96', '0']);
    assert.deepEqual(names(sdp), ['0:PCMU/8000']);
  });

  test('a disabled stream needs no connection; timing defaults to 0 0', () => {
    const sdp = parseSdp('v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nm=audio 0 RTP/AVP 0\r\n');
    assert.equal(sdp.audio?.port, 0);
    assert.equal(sdp.audio?.connection, undefined);
    assert.deepEqual(sdp.timing, { start: '0', stop: '0' });
    assert.equal(parseSdp('v=0\no=- 1 1 IN IP4 192.0.2.1\n').audio, undefined);
  });
});

describe('parseSdp: errors', () => {
  const valid = PBX_OFFER;
  const cases: Array<[string, string, string]> = [
    ['empty', '', 'missing_field'],
    ['not SDP', 'hello world', 'malformed'],
    ['v= not first', valid.replace('v=0\r\n', ''), 'malformed'],
    ['v=1', valid.replace('v=0', 'v=1'), 'malformed'],
    ['no o=', valid.replace(/o=.*\r\n/, ''), 'missing_field'],
    ['o= with five fields', valid.replace('o=- 1234 1235', 'o=- 1234'), 'malformed'],
    ['port out of range', valid.replace('m=audio 10000', 'm=audio 70000'), 'malformed'],
    ['port not a number', valid.replace('m=audio 10000', 'm=audio x'), 'malformed'],
    ['RTP format not a number', valid.replace('RTP/AVP 8 0 3 101', 'RTP/AVP 8 abc'), 'malformed'],
    ['RTP format over 127', valid.replace('RTP/AVP 8 0 3 101', 'RTP/AVP 8 200'), 'malformed'],
    ['m= without formats', valid.replace('RTP/AVP 8 0 3 101', 'RTP/AVP'), 'malformed'],
    ['IP4 with an IPv6 literal', valid.replace('c=IN IP4 203.0.113.10', 'c=IN IP4 2001:db8::1'), 'invalid_value'],
    ['bad address', valid.replace('c=IN IP4 203.0.113.10', 'c=IN IP4 -nope-'), 'invalid_value'],
    ['non-IN network', valid.replace('c=IN IP4 203.0.113.10', 'c=ATM NSAP 47.0005'), 'invalid_value'],
    ['no connection anywhere', valid.replace('c=IN IP4 203.0.113.10\r\n', ''), 'missing_field'],
    ['malformed rtpmap', valid.replace('a=rtpmap:8 PCMA/8000', 'a=rtpmap:8 PCMA'), 'malformed'],
    ['malformed ptime', valid.replace('a=ptime:20', 'a=ptime:twenty'), 'malformed'],
    ['line without =', valid.replace('s=Asterisk', 'Asterisk'), 'malformed'],
    ['stray CR', valid.replace('s=Asterisk', 's=Ast\rerisk'), 'malformed'],
  ];
  for (const [name, text, code] of cases) {
    test(name, () => {
      assert.throws(() => parseSdp(text), sdpError(code));
    });
  }

  test('errors name the line', () => {
    try {
      parseSdp(valid.replace('a=ptime:20', 'a=ptime:twenty'));
      assert.fail('should throw');
    } catch (error) {
      assert.ok(error instanceof SdpError);
      assert.equal(error.line, 13);
      assert.match(error.message, /line 13/);
    }
  });
});

describe('parseSdp: fuzz', () => {
  const onlySdpErrors = (text: string): void => {
    try {
      parseSdp(text);
    } catch (error) {
      if (!(error instanceof SdpError)) throw error;
    }
  };

  test('random strings throw only SdpError', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), onlySdpErrors), { numRuns: 2000 });
  });

  test('random SDP-shaped lines throw only SdpError', () => {
    const line = fc.oneof(
      fc.constantFrom(
        'v=0', 'o=- 1 1 IN IP4 192.0.2.1', 's=-', 'c=IN IP4 192.0.2.1', 'c=IN IP6 ::1', 't=0 0',
        'm=audio 4000 RTP/AVP 0 8 101', 'm=video 0 RTP/AVP 31', 'm=image 4000 udptl t38', 'a=rtpmap:101 telephone-event/8000',
        'a=fmtp:101 0-16', 'a=ptime:20', 'a=sendonly', 'a=rtpmap:', 'a=fmtp:', 'a=ptime:', 'c=', 'm=', 'o=', 't=',
      ),
      fc.tuple(fc.constantFrom('v', 'o', 's', 'c', 't', 'm', 'a', 'b', 'x'), fc.string({ maxLength: 40 })).map(
        ([type, value]) => `${type}=${value}`,
      ),
      fc.string({ maxLength: 20 }),
    );
    fc.assert(
      fc.property(fc.boolean(), fc.array(line, { maxLength: 15 }), fc.constantFrom('\r\n', '\n'), (lead, lines, eol) => {
        onlySdpErrors([...(lead ? ['v=0'] : []), ...lines].join(eol));
      }),
      { numRuns: 2000 },
    );
  });

  test('mutations of a valid offer throw only SdpError', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(), fc.string({ unit: 'binary', maxLength: 3 }), fc.nat({ max: 3 })), { minLength: 1, maxLength: 5 }),
        (edits) => {
          let text = WIDEBAND_OFFER;
          for (const [at, insert, remove] of edits) {
            const i = at % (text.length + 1);
            text = text.slice(0, i) + insert + text.slice(i + remove);
          }
          onlySdpErrors(text);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
