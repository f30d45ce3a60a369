import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { applyAnswer } from '../../../src/sdp/sdp-apply.js';
import { localDirection, reverseDirection } from '../../../src/sdp/sdp-direction.js';
import { negotiateAnswer } from '../../../src/sdp/sdp-negotiate.js';
import { createOffer } from '../../../src/sdp/sdp-offer.js';
import { parseSdp } from '../../../src/sdp/sdp-parse.js';
import type { SdpDirection } from '../../../src/sdp/types.js';
import {
  INACTIVE_SESSION_OFFER,
  IPV6_HOLD_OFFER,
  OVERRIDDEN_SESSION_DIRECTION_OFFER,
  RECVONLY_OFFER,
  SENDONLY_SESSION_OFFER,
  crlf,
} from './fixtures.js';

/** RFC 3264 §5.1 / §6.1: a=sendrecv/sendonly/recvonly/inactive at session and media level, offer and answer. */
const LOCAL = { address: '192.0.2.1', port: 20000, sessionId: 5 };
const DIRECTIONS: readonly SdpDirection[] = ['sendrecv', 'sendonly', 'recvonly', 'inactive'];

describe('the answer mirrors the offer, byte for byte', () => {
  test('recvonly (media level) -> sendonly', () => {
    const result = negotiateAnswer(parseSdp(RECVONLY_OFFER), LOCAL);
    assert.equal(result.direction, 'sendonly');
    assert.equal(
      result.answerSdp,
      crlf(`v=0
o=- 5 5 IN IP4 192.0.2.1
s=-
c=IN IP4 192.0.2.1
t=0 0
m=audio 20000 RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=ptime:20
a=sendonly
`),
    );
  });

  test('inactive (session level) -> inactive, written at media level', () => {
    const result = negotiateAnswer(parseSdp(INACTIVE_SESSION_OFFER), LOCAL);
    assert.equal(result.direction, 'inactive');
    assert.equal(
      result.answerSdp,
      crlf(`v=0
o=- 5 5 IN IP4 192.0.2.1
s=-
c=IN IP4 192.0.2.1
t=0 0
m=audio 20000 RTP/AVP 8
a=rtpmap:8 PCMA/8000
a=ptime:20
a=inactive
`),
    );
  });

  test('sendonly (session level) -> recvonly; the events we take are our own list', () => {
    const result = negotiateAnswer(parseSdp(SENDONLY_SESSION_OFFER), LOCAL);
    assert.equal(result.direction, 'recvonly');
    assert.equal(
      result.answerSdp,
      crlf(`v=0
o=- 5 5 IN IP4 192.0.2.1
s=-
c=IN IP4 192.0.2.1
t=0 0
m=audio 20000 RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=ptime:20
a=recvonly
`),
    );
  });

  test('sendonly (media level, IPv6) -> recvonly', () => {
    assert.equal(negotiateAnswer(parseSdp(IPV6_HOLD_OFFER), { ...LOCAL, address: '2001:db8::1' }).direction, 'recvonly');
  });

  test('a media-level direction wins over the session-level one', () => {
    const offer = parseSdp(OVERRIDDEN_SESSION_DIRECTION_OFFER);
    assert.equal(offer.direction, 'sendonly');
    assert.equal(offer.audio?.direction, 'sendrecv');
    const result = negotiateAnswer(offer, LOCAL);
    assert.equal(result.direction, 'sendrecv');
    assert.ok(result.answerSdp.endsWith('a=ptime:20\r\na=sendrecv\r\n'));
  });

  test('no direction anywhere means sendrecv', () => {
    const offer = parseSdp(SENDONLY_SESSION_OFFER.replace('a=sendonly\r\n', ''));
    assert.equal(offer.direction, undefined);
    assert.equal(negotiateAnswer(offer, LOCAL).direction, 'sendrecv');
  });

  test('each fixture answer parses back to the direction it was written with (round trip)', () => {
    for (const fixture of [RECVONLY_OFFER, INACTIVE_SESSION_OFFER, SENDONLY_SESSION_OFFER, OVERRIDDEN_SESSION_DIRECTION_OFFER]) {
      const offer = parseSdp(fixture);
      const result = negotiateAnswer(offer, LOCAL);
      const reparsed = parseSdp(result.answerSdp);
      assert.equal(reparsed.audio?.direction, result.direction);
      assert.equal(reparsed.audio?.direction, reverseDirection(offer.audio!.direction));
      // The offerer, reading our answer, lands on what it offered.
      assert.equal(applyAnswer(offer, reparsed).direction, offer.audio!.direction);
    }
  });
});

describe('answers we receive', () => {
  const offer = parseSdp(createOffer({ address: '192.0.2.1', port: 20000, sessionId: 1 }));
  const answer = (session: string, media: string) =>
    parseSdp(crlf(`v=0\no=- 9 9 IN IP4 198.51.100.5\ns=-\nc=IN IP4 198.51.100.5\nt=0 0\n${session}m=audio 30000 RTP/AVP 0\n${media}`));

  test('media-level and session-level directions are read; ours is the mirror', () => {
    const cases: Array<[string, string, SdpDirection]> = [
      ['', 'a=recvonly\n', 'sendonly'],
      ['', 'a=sendonly\n', 'recvonly'],
      ['', 'a=inactive\n', 'inactive'],
      ['a=recvonly\n', '', 'sendonly'],
      ['a=sendonly\n', '', 'recvonly'],
      ['a=inactive\n', '', 'inactive'],
      ['a=inactive\n', 'a=sendrecv\n', 'sendrecv'],
      ['', '', 'sendrecv'],
    ];
    for (const [session, media, ours] of cases) {
      assert.equal(applyAnswer(offer, answer(session, media)).direction, ours, JSON.stringify({ session, media }));
    }
  });

  test('c=0.0.0.0 in an answer: we never send towards it', () => {
    const held = parseSdp(crlf('v=0\no=- 9 9 IN IP4 198.51.100.5\ns=-\nc=IN IP4 0.0.0.0\nt=0 0\nm=audio 30000 RTP/AVP 0\n'));
    assert.equal(applyAnswer(offer, held).direction, 'recvonly');
  });
});

test('property: whatever direction we offer, the answer mirrors it and applying it gives it back', () => {
  fc.assert(
    fc.property(fc.constantFrom(...DIRECTIONS), fc.boolean(), (direction, sessionLevel) => {
      let text = createOffer({ address: '192.0.2.1', port: 4000, direction });
      if (sessionLevel) text = text.replace(`a=${direction}\r\n`, '').replace('t=0 0\r\n', `t=0 0\r\na=${direction}\r\n`);
      const ours = parseSdp(text);
      assert.equal(ours.audio?.direction, direction);
      const answered = negotiateAnswer(ours, { address: '198.51.100.5', port: 5000 });
      assert.equal(answered.direction, reverseDirection(direction));
      assert.equal(answered.direction, localDirection(direction, '192.0.2.1'));
      assert.equal(applyAnswer(ours, parseSdp(answered.answerSdp)).direction, direction);
    }),
    { numRuns: 100 },
  );
});
