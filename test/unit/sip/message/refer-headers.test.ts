import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseMessage } from '../../../../src/sip/message/parser.js';
import { serializeMessage } from '../../../../src/sip/message/serializer.js';
import { getHeader } from '../../../../src/sip/message/headers.js';
import {
  formatEvent,
  formatReferredBy,
  formatReferTo,
  formatReplaces,
  formatSipFrag,
  formatSubscriptionState,
  parseEvent,
  parseReferredBy,
  parseReferTo,
  parseReplaces,
  parseSipFrag,
  parseSubscriptionState,
  referMethodOf,
  replacesOf,
} from '../../../../src/sip/message/refer-headers.js';
import { SipParseError, type SipUri } from '../../../../src/sip/message/types.js';
import { lineTextArb, nameAddrArb, tokenArb } from './arbitraries.js';
import { sipFixture } from './fixtures.js';

function invalid(fn: () => unknown, pattern?: RegExp): void {
  assert.throws(fn, (error: unknown) => error instanceof SipParseError && (!pattern || pattern.test(error.message)));
}

/** Properties stop after this long whatever numRuns says, so the suite's time stays bounded on a busy machine. */
const TIME_LIMIT_MS = 2_000;

describe('transfer fixtures', () => {
  test('a REFER for an attended transfer: Refer-To with an escaped Replaces, Referred-By with cid; byte for byte', () => {
    const bytes = sipFixture('refer.sip');
    const message = parseMessage(bytes);
    assert.deepEqual(serializeMessage(message), bytes);
    const referTo = parseReferTo(getHeader(message, 'Refer-To') ?? '');
    assert.equal(referTo.displayName, 'Carol');
    assert.equal(referTo.uri.user, 'carol');
    assert.equal(referTo.uri.host, '203.0.113.9');
    assert.equal(referMethodOf(referTo), 'INVITE');
    assert.deepEqual(replacesOf(referTo), { callId: '12345@192.0.2.20', toTag: '12345', fromTag: '5FFE-3994', earlyOnly: false, params: [] });
    assert.equal(
      formatReferTo(referTo),
      '"Carol" <sip:carol@203.0.113.9?Replaces=12345%40192.0.2.20%3Bto-tag%3D12345%3Bfrom-tag%3D5FFE-3994>',
    );
    const referredBy = parseReferredBy(getHeader(message, 'Referred-By') ?? '');
    assert.equal(referredBy.cid, '20398823.2UWQFN309shb3@referrer.example');
    assert.equal(referredBy.referrer.uri.user, '+14155551234');
    assert.equal(formatReferredBy(referredBy), '<sip:+14155551234@192.0.2.10>;cid="20398823.2UWQFN309shb3@referrer.example"');
  });

  test('a NOTIFY of the refer subscription: Event with id, terminated state, a 486 sipfrag; byte for byte', () => {
    const bytes = sipFixture('notify-sipfrag.sip');
    const message = parseMessage(bytes);
    assert.deepEqual(serializeMessage(message), bytes);
    assert.deepEqual(parseEvent(getHeader(message, 'Event') ?? ''), { type: 'refer', id: '3', params: [['id', '3']] });
    assert.deepEqual(parseSubscriptionState(getHeader(message, 'Subscription-State') ?? ''), {
      state: 'terminated',
      reason: 'noresource',
      expires: undefined,
      params: [['reason', 'noresource']],
    });
    assert.deepEqual(parseSipFrag(message.body), { status: 486, reason: 'Busy Here', headers: [] });
  });

  test('compact forms r, b and o are Refer-To, Referred-By and Event', () => {
    const message = parseMessage(
      Buffer.from('REFER sip:a@b SIP/2.0\r\nr: sip:+15550100@carrier.example\r\nb: <sip:x@y>\r\no: refer\r\nContent-Length: 0\r\n\r\n'),
    );
    assert.equal(parseReferTo(getHeader(message, 'Refer-To') ?? '').uri.user, '+15550100');
    assert.equal(parseReferredBy(getHeader(message, 'Referred-By') ?? '').referrer.uri.user, 'x');
    assert.equal(parseEvent(getHeader(message, 'Event') ?? '').type, 'refer');
  });
});

describe('Refer-To / Referred-By / Replaces / Event / Subscription-State / sipfrag', () => {
  test('valid and invalid values', () => {
    assert.equal(parseReferTo('sip:+15550100@carrier.example;x=1').params[0]?.[0], 'x', 'an addr-spec: ";" starts a header parameter');
    assert.equal(parseReferTo('<tel:+15550100>').uri.scheme, 'tel');
    assert.equal(referMethodOf(parseReferTo('<sip:a@b;method=bye>')), 'BYE');
    assert.equal(replacesOf(parseReferTo('<sip:a@b>')), undefined);
    assert.deepEqual(parseReplaces('abc@h;from-tag=2;to-tag=1;early-only;x=y'), {
      callId: 'abc@h',
      toTag: '1',
      fromTag: '2',
      earlyOnly: true,
      params: [['x', 'y']],
    });
    assert.equal(formatReplaces({ callId: 'c', toTag: 't', fromTag: 'f', earlyOnly: true, params: [] }), 'c;to-tag=t;from-tag=f;early-only');
    assert.equal(formatEvent({ type: 'refer', id: '7' }), 'refer;id=7');
    assert.equal(formatSubscriptionState({ state: 'active', expires: 60 }), 'active;expires=60');
    assert.equal(formatSubscriptionState({ state: 'terminated', reason: 'noresource' }), 'terminated;reason=noresource');
    assert.equal(formatSipFrag({ status: 100, reason: 'Trying' }), 'SIP/2.0 100 Trying\r\n');
    assert.deepEqual(parseSipFrag('SIP/2.0 200 OK\r\nContent-Type: application/sdp\r\n\r\nv=0'), {
      status: 200,
      reason: 'OK',
      headers: [{ name: 'Content-Type', value: 'application/sdp' }],
    });
    assert.deepEqual(parseSipFrag('SIP/2.0 603 Declined'), { status: 603, reason: 'Declined', headers: [] });
    invalid(() => parseReferTo('<sip:a@b'), />/);
    invalid(() => parseReferredBy('<sip:a@b>;cid=nocolon'), /cid/);
    invalid(() => parseReplaces('abc;to-tag=1'), /to-tag and a from-tag/);
    invalid(() => parseReplaces('abc;to-tag=1;from-tag=2;to-tag=3'), /twice/);
    invalid(() => parseReplaces(';to-tag=1;from-tag=2'), /Call-ID/);
    invalid(() => parseReplaces('a b;to-tag=1;from-tag=2'), /Call-ID/);
    invalid(() => parseReplaces('a;to-tag=1;from-tag=2;early-only=yes'), /early-only/);
    invalid(() => parseEvent('refer;id'), /id/);
    invalid(() => parseEvent(''), /event type/);
    invalid(() => parseSubscriptionState('active;expires=soon'), /expires/);
    invalid(() => parseSipFrag('INVITE sip:a@b SIP/2.0\r\n'), /status line/);
    invalid(() => parseSipFrag('SIP/2.0 99 Odd\r\n'), /status line/);
    invalid(() => parseSipFrag('SIP/2.0 200 OK\r\nnot a header\r\n'), /header/);
    invalid(() => formatSipFrag({ status: 700, reason: 'x' }), /range/);
    invalid(() => formatSipFrag({ status: 200, reason: 'a\r\nb' }), /control/);
    invalid(() => formatReplaces({ callId: 'a b', toTag: 't', fromTag: 'f', earlyOnly: false, params: [] }), /Call-ID/);
  });

  const callIdArb = fc
    .tuple(tokenArb, fc.option(tokenArb, { nil: undefined }))
    .map(([local, host]) => (host === undefined ? local : `${local}@${host}`));

  test('property: values survive format → parse', () => {
    fc.assert(
      fc.property(nameAddrArb, (referTo) => {
        assert.deepEqual(parseReferTo(formatReferTo(referTo)), referTo);
      }),
      { numRuns: 500, interruptAfterTimeLimit: TIME_LIMIT_MS },
    );
    fc.assert(
      fc.property(callIdArb, tokenArb, tokenArb, fc.boolean(), (callId, toTag, fromTag, earlyOnly) => {
        const value = { callId, toTag, fromTag, earlyOnly, params: [] };
        assert.deepEqual(parseReplaces(formatReplaces(value)), value);
        // Carried inside a Refer-To URI (escaped there) it comes back the same.
        const uri: SipUri = { scheme: 'sip', user: 'c', password: undefined, host: 'example.com', port: undefined, params: [], headers: [['Replaces', formatReplaces(value)]] };
        assert.deepEqual(replacesOf(parseReferTo(formatReferTo({ displayName: undefined, uri, params: [] }))), value);
      }),
      { numRuns: 500, interruptAfterTimeLimit: TIME_LIMIT_MS },
    );
    fc.assert(
      fc.property(fc.integer({ min: 100, max: 699 }), lineTextArb, (status, reason) => {
        const clean = reason.replace(/[\u0000-\u0008\u000a-\u001f\u007f]/g, '');
        assert.deepEqual(parseSipFrag(formatSipFrag({ status, reason: clean })), { status, reason: clean, headers: [] });
      }),
      { numRuns: 500, interruptAfterTimeLimit: TIME_LIMIT_MS },
    );
    fc.assert(
      fc.property(tokenArb, fc.option(tokenArb, { nil: undefined }), fc.option(fc.nat(), { nil: undefined }), (state, reason, expires) => {
        const parsed = parseSubscriptionState(formatSubscriptionState({ state, ...(reason ? { reason } : {}), ...(expires !== undefined ? { expires } : {}) }));
        assert.equal(parsed.state, state.toLowerCase());
        assert.equal(parsed.reason, reason?.toLowerCase());
        assert.equal(parsed.expires, expires);
      }),
      { numRuns: 500, interruptAfterTimeLimit: TIME_LIMIT_MS },
    );
  });

  test('property: any text is parsed or refused with SipParseError, never anything else', () => {
    const text = fc.oneof(
      fc.string({ maxLength: 60 }),
      fc.stringMatching(/^[<>"a-z0-9 ;=@:.%?&\-\t]{0,40}$/),
      fc.stringMatching(/^SIP\/2\.0 [0-9]{1,4} [ -~\r\n]{0,20}$/),
    );
    fc.assert(
      fc.property(text, (value) => {
        for (const parse of [parseReferTo, parseReferredBy, parseReplaces, parseEvent, parseSubscriptionState, parseSipFrag]) {
          try {
            parse(value);
          } catch (error) {
            if (!(error instanceof SipParseError)) throw error;
          }
        }
      }),
      { numRuns: 2_000, interruptAfterTimeLimit: TIME_LIMIT_MS },
    );
  });
});
