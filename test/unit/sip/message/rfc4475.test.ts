// RFC 4475 "SIP Torture Test Messages": the §3.1.1 valid messages, the §3.1.2 invalid ones and two §3.3
// application-layer ones (multi01, insuf), as byte-exact fixture files in test/fixtures/sip/rfc4475/ (see
// generate.mjs and README.md there for how they were written).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMessage } from '../../../../src/sip/message/parser.js';
import { serializeMessage } from '../../../../src/sip/message/serializer.js';
import {
  getHeader,
  getHeaders,
  parseCSeq,
  parseMaxForwards,
  parseNameAddr,
  parseSipDate,
  parseUri,
  parseVia,
} from '../../../../src/sip/message/headers.js';
import { validateMessage, validateRequest, validateResponse } from '../../../../src/sip/message/validate.js';
import { SipParseError } from '../../../../src/sip/message/types.js';
import type { SipMessage, SipRequest, SipResponse } from '../../../../src/sip/message/types.js';
import { sipFixture } from './fixtures.js';
import { normaliseContentLength } from './arbitraries.js';

function load(name: string): SipMessage {
  return parseMessage(sipFixture(`rfc4475/${name}.dat`));
}

function req(name: string): SipRequest {
  const m = load(name);
  assert.equal(m.kind, 'request');
  return m as SipRequest;
}

function res(name: string): SipResponse {
  const m = load(name);
  assert.equal(m.kind, 'response');
  return m as SipResponse;
}

function header(m: SipMessage, name: string): string {
  const value = getHeader(m, name);
  assert.notEqual(value, undefined, `missing ${name}`);
  return value as string;
}

function refuses(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (error: unknown) => error instanceof SipParseError && pattern.test(error.message));
}

const VALID = ['wsinv', 'intmeth', 'esc01', 'escnull', 'esc02', 'lwsdisp', 'longreq', 'dblreq', 'semiuri', 'transports', 'mpart01', 'unreason', 'noreason'];

describe('RFC 4475 §3.1.1 valid messages', () => {
  for (const name of VALID) {
    test(`${name}: parses, passes validation, and survives serialise → parse`, () => {
      const m = load(name);
      validateMessage(m);
      assert.equal(getHeader(m, 'Content-Length'), String(m.body.length));
      assert.deepEqual(parseMessage(serializeMessage(m)), normaliseContentLength(m));
    });
  }

  test('wsinv (§3.1.1.1): a short tortuous INVITE', () => {
    const m = req('wsinv');
    assert.equal(m.method, 'INVITE');
    assert.deepEqual(parseUri(m.uri).params, [['unknownparam', null]]);
    assert.deepEqual(
      m.headers.map((h) => h.name),
      ['To', 'From', 'Max-Forwards', 'Call-ID', 'Content-Length', 'CSeq', 'Via', 'Subject', 'NewFangledHeader',
        'UnknownHeaderWithUnusualValue', 'Content-Type', 'Route', 'Via', 'Contact'],
    );
    const to = parseNameAddr(header(m, 'To'));
    assert.equal(to.uri.user, 'vivekg');
    assert.deepEqual(to.params, [['tag', '1918181833n']]);
    const from = parseNameAddr(header(m, 'From'));
    assert.equal(from.displayName, 'J Rosenberg \\"');
    assert.deepEqual(from.params, [['tag', '98asjd8']]);
    assert.equal(parseMaxForwards(header(m, 'Max-Forwards')), 68);
    assert.deepEqual(parseCSeq(header(m, 'CSeq')), { seq: 9, method: 'INVITE' });
    const vias = getHeaders(m, 'Via').map(parseVia);
    assert.deepEqual(vias.map((v) => [v.transport, v.host, v.params]), [
      ['UDP', '192.0.2.2', [['branch', '390skdjuw']]],
      ['TCP', 'spindle.example.com', [['branch', 'z9hG4bK9ikj8']]],
      ['UDP', '192.168.255.111', [['branch', 'z9hG4bK30239']]],
    ]);
    assert.equal(header(m, 'Subject'), '');
    assert.equal(header(m, 'NewFangledHeader'), 'newfangled value continued newfangled value');
    assert.deepEqual(getHeaders(m, 'UnknownHeaderWithUnusualValue'), [';;,,;;,;']);
    assert.deepEqual(parseNameAddr(header(m, 'Route')).uri.params, [
      ['lr', null], ['unknownwith', 'value'], ['unknown-no-value', null],
    ]);
    const contact = parseNameAddr(header(m, 'Contact'));
    assert.equal(contact.displayName, 'Quoted string ""');
    assert.deepEqual(contact.params, [['newparam', 'newvalue'], ['secondparam', null], ['q', '0.33']]);
    assert.equal(m.body.length, 150);
  });

  test('intmeth (§3.1.1.2): a wide range of valid characters', () => {
    const m = req('intmeth');
    const method = "!interesting-Method0123456789_*+`.%indeed'~";
    assert.equal(m.method, method);
    const ruri = parseUri(m.uri);
    assert.equal(ruri.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
    assert.equal(ruri.password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
    assert.equal(ruri.host, 'example.com');
    assert.deepEqual(parseVia(header(m, 'Via')).params, [['branch', "z9hG4bK-.!%66*_+`'~"]]);
    const to = parseNameAddr(header(m, 'To'));
    assert.equal(to.displayName, 'BEL:\u0007 NUL:\u0000 DEL:\u007f');
    assert.equal(to.uri.user, ruri.user);
    const from = parseNameAddr(header(m, 'From'));
    assert.equal(from.displayName, "token1~` token2'+_ token3*%!.-");
    assert.deepEqual(from.params, [["fromparam''~+*_!.-%", '"работающий"'], ['tag', "_token~1'+`*%!-."]]);
    assert.equal(header(m, 'Call-ID'), "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{");
    assert.deepEqual(parseCSeq(header(m, 'CSeq')), { seq: 139122385, method });
    assert.equal(parseMaxForwards(header(m, 'Max-Forwards')), 255);
    assert.equal(getHeader(m, "extensionHeader-!.%*+_`'~"), '\uFEFF大停電');
  });

  test('esc01 (§3.1.1.3): escapes in URIs resolve to the unescaped components', () => {
    const m = req('esc01');
    const ruri = parseUri(m.uri);
    assert.equal(ruri.user, 'sips:user@example.com');
    assert.equal(ruri.host, 'example.net');
    assert.equal(parseNameAddr(header(m, 'To')).uri.user, 'user');
    assert.equal(parseNameAddr(header(m, 'From')).uri.user, 'I have spaces');
    assert.equal(header(m, 'i'), 'esc01.239409asdfakjkn23onasd0-3234');
    assert.equal(header(m, 'Content-Type'), 'application/sdp');
    const contact = parseNameAddr(header(m, 'Contact')).uri;
    assert.equal(contact.user, 'caller');
    assert.deepEqual(contact.params, [['lr', null], ['name', 'value%41']]);
  });

  test('escnull (§3.1.1.4): escaped NULs in URIs', () => {
    const m = req('escnull');
    assert.equal(parseNameAddr(header(m, 'To')).uri.user, 'null-\u0000-null');
    assert.deepEqual(getHeaders(m, 'Contact').map((c) => parseNameAddr(c).uri.user), ['\u0000', '\u0000\u0000']);
    assert.equal(header(m, 'Content-Length'), '0');
  });

  test('esc02 (§3.1.1.5): % that is not an escape', () => {
    const m = req('esc02');
    assert.equal(m.method, 'RE%47IST%45R');
    assert.equal(parseCSeq(header(m, 'CSeq')).method, 'RE%47IST%45R');
    assert.equal(parseNameAddr(header(m, 'To')).displayName, '%Z%45');
    assert.deepEqual(parseVia(header(m, 'Via')).params, [['branch', 'z9hG4bK209%fzsnel234']]);
    assert.equal(getHeaders(m, 'Contact').length, 2);
    assert.equal(getHeader(m, 'C%6Fntact'), '<sip:alias2@host2.example.com>');
  });

  test('lwsdisp (§3.1.1.6): no LWS between display name and "<"', () => {
    const from = parseNameAddr(header(req('lwsdisp'), 'From'));
    assert.equal(from.displayName, 'caller');
    assert.deepEqual(from.params, [['tag', '323']]);
  });

  test('longreq (§3.1.1.7): long values and 34 Via values in mixed spellings', () => {
    const m = req('longreq');
    const to = parseNameAddr(header(m, 'To'));
    assert.match(to.displayName ?? '', /^I have a user name of (extreme){10} proportion$/);
    assert.equal(to.uri.port, 6000);
    assert.equal(to.uri.params.length, 3);
    assert.equal(parseNameAddr(header(m, 'From')).params.length, 3);
    const vias = getHeaders(m, 'Via').map(parseVia);
    assert.equal(vias.length, 34);
    assert.equal(vias[33]?.params[0]?.[1], '192.0.2.5');
    assert.equal(m.body.length, 150);
  });

  test('dblreq (§3.1.1.8): octets past Content-Length are ignored', () => {
    const m = req('dblreq');
    assert.equal(m.method, 'REGISTER');
    assert.equal(m.body.length, 0);
    assert.equal(header(m, 'Call-ID'), 'dblreq.0ha0isndaksdj99sdfafnl3lk233412');
  });

  test('semiuri (§3.1.1.9): ";" inside the user part of a Request-URI', () => {
    const m = req('semiuri');
    const ruri = parseUri(m.uri);
    assert.equal(ruri.user, 'user;par=u@example.net');
    assert.equal(ruri.host, 'example.com');
    assert.deepEqual(ruri.params, []);
    assert.equal(getHeaders(m, 'Accept').length, 6);
  });

  test('transports (§3.1.1.10): known and unknown Via transports', () => {
    const m = req('transports');
    assert.deepEqual(getHeaders(m, 'Via').map((v) => parseVia(v).transport), ['UDP', 'SCTP', 'TLS', 'UNKNOWN', 'TCP']);
    assert.equal(header(m, 'Call-ID'), 'transports.kijh4akdnaqjkwendsasfdj');
  });

  test('mpart01 (§3.1.1.11): a multipart body with binary octets', () => {
    const m = req('mpart01');
    assert.equal(m.body.length, 553);
    assert.ok(m.body.includes(0));
    assert.match(m.body.subarray(0, 20).toString(), /^--7a9cbec02ceef655\r\n/);
    assert.deepEqual(parseVia(header(m, 'Via')).params.at(-1), ['rport', null]);
    assert.equal(parseSipDate(header(m, 'Date')).toISOString(), '2005-10-15T04:44:56.000Z');
  });

  test('unreason (§3.1.1.12): a UTF-8 reason phrase', () => {
    const m = res('unreason');
    assert.equal(m.status, 200);
    assert.equal(m.reason, '= 2**3 * 5**2 но сто девяносто девять - простое');
  });

  test('noreason (§3.1.1.13): an empty reason phrase', () => {
    const m = res('noreason');
    assert.equal(m.status, 100);
    assert.equal(m.reason, '');
  });
});

type Layer =
  | { readonly layer: 'parseMessage'; readonly error: RegExp; readonly partialMethod?: string }
  | { readonly layer: 'header'; readonly check: (m: SipMessage) => void; readonly validateToo: boolean }
  | { readonly layer: 'validate'; readonly error: RegExp };

/**
 * Which layer refuses each §3.1.2 message. "header" means the message frames and parses, and the typed parser of
 * the offending header throws (validateMessage throws too unless the header is one it does not check).
 * "validate" means every header is well-formed on its own; the semantic check (validate.ts) refuses it.
 */
const INVALID: Record<string, Layer> = {
  // §3.1.2.1 Via and Contact with empty parameters.
  badinv01: {
    layer: 'header',
    check: (m) => {
      refuses(() => parseVia(getHeaders(m, 'Via')[0] as string), /parameter/);
      refuses(() => parseNameAddr(header(m, 'Contact')), /parameter/);
    },
    validateToo: true,
  },
  // §3.1.2.2 Content-Length 9999, far beyond the datagram.
  clerr: { layer: 'parseMessage', error: /shorter than Content-Length/, partialMethod: 'INVITE' },
  // §3.1.2.4 CSeq above 2**31 (also Max-Forwards above 255; Expires values are left to the registrar).
  scalar02: {
    layer: 'header',
    check: (m) => {
      refuses(() => parseCSeq(header(m, 'CSeq')), /range/);
      refuses(() => parseMaxForwards(header(m, 'Max-Forwards')), /range/);
    },
    validateToo: true,
  },
  // §3.1.2.5 A response with an overlarge CSeq: discarded.
  scalarlg: { layer: 'header', check: (m) => refuses(() => parseCSeq(header(m, 'CSeq')), /range/), validateToo: true },
  // §3.1.2.6 Unterminated quoted display name in To.
  quotbal: { layer: 'header', check: (m) => refuses(() => parseNameAddr(header(m, 'To')), /unterminated/), validateToo: true },
  // §3.1.2.7 - §3.1.2.11 Request-Line errors: the start line is unreadable but the method is, so a 400 is possible.
  ltgtruri: { layer: 'parseMessage', error: /absolute URI/, partialMethod: 'INVITE' },
  lwsruri: { layer: 'parseMessage', error: /request line/, partialMethod: 'INVITE' },
  lwsstart: { layer: 'parseMessage', error: /request line/, partialMethod: 'INVITE' },
  trws: { layer: 'parseMessage', error: /request line/, partialMethod: 'OPTIONS' },
  escruri: { layer: 'parseMessage', error: /must not contain URI headers/, partialMethod: 'INVITE' },
  // §3.1.2.12 Date in EST. validateMessage does not look at Date: a proxy forwards it, a UA may ignore it.
  baddate: { layer: 'header', check: (m) => refuses(() => parseSipDate(header(m, 'Date')), /GMT/), validateToo: false },
  // §3.1.2.13 A URI with "?" in Contact not enclosed in "<>".
  regbadct: { layer: 'header', check: (m) => refuses(() => parseNameAddr(header(m, 'Contact')), /enclosed/), validateToo: true },
  // §3.1.2.14 Whitespace inside "<>".
  badaspec: { layer: 'header', check: (m) => refuses(() => parseNameAddr(header(m, 'To')), /whitespace/), validateToo: true },
  // §3.1.2.15 Unquoted display names containing ",".
  baddn: {
    layer: 'header',
    check: (m) => {
      refuses(() => parseNameAddr(header(m, 'From')), /display name/);
      refuses(() => parseNameAddr(header(m, 'To')), /display name/);
    },
    validateToo: true,
  },
  // §3.1.2.16 SIP/7.0 (a server answers 505).
  badvers: { layer: 'parseMessage', error: /version/, partialMethod: 'OPTIONS' },
  // §3.1.2.17 / §3.1.2.18 CSeq method differs from the request method.
  mismatch01: { layer: 'validate', error: /CSeq method INVITE does not match OPTIONS/ },
  mismatch02: { layer: 'validate', error: /CSeq method INVITE does not match NEWMETHOD/ },
  // §3.3.8 Single-valued headers repeated.
  multi01: { layer: 'validate', error: /appears 2 times/ },
  // §3.3.1 To, From and Call-ID missing.
  insuf: { layer: 'validate', error: /missing To/ },
};

describe('RFC 4475 §3.1.2 and §3.3 invalid messages', () => {
  for (const [name, expected] of Object.entries(INVALID)) {
    test(`${name}: refused by ${expected.layer}`, () => {
      const bytes = sipFixture(`rfc4475/${name}.dat`);
      if (expected.layer === 'parseMessage') {
        assert.throws(
          () => parseMessage(bytes),
          (error: unknown) => {
            assert.ok(error instanceof SipParseError);
            assert.match(error.message, expected.error);
            assert.equal(error.partial?.method, expected.partialMethod);
            return true;
          },
        );
        return;
      }
      const m = parseMessage(bytes);
      if (expected.layer === 'header') {
        expected.check(m);
        if (expected.validateToo) assert.throws(() => validateMessage(m), SipParseError);
        else validateMessage(m);
        return;
      }
      // Every header is well-formed in isolation: only the cross-header checks refuse the message.
      for (const name of ['To', 'From', 'Contact']) for (const value of getHeaders(m, name)) parseNameAddr(value);
      for (const value of getHeaders(m, 'Via')) parseVia(value);
      for (const value of getHeaders(m, 'CSeq')) parseCSeq(value);
      assert.equal(m.kind, 'request');
      refuses(() => validateRequest(m as SipRequest), expected.error);
    });
  }

  test('a response is checked by validateResponse', () => {
    refuses(() => validateResponse(res('scalarlg')), /CSeq number out of range/);
  });
});
