import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMessage } from '../../../../src/sip/message/parser.js';
import { serializeMessage } from '../../../../src/sip/message/serializer.js';
import { getHeader, getHeaders, parseAuthChallenge, parseCSeq, parseNameAddr, parseVia } from '../../../../src/sip/message/headers.js';
import { DEFAULT_SIP_LIMITS, SipParseError } from '../../../../src/sip/message/types.js';
import type { SipMessage, SipRequest, SipResponse } from '../../../../src/sip/message/types.js';
import { sipFixture } from './fixtures.js';

const CANONICAL_FIXTURES = [
  'invite-sdp.sip',
  'ringing-180.sip',
  'ok-200-record-route.sip',
  'ack.sip',
  'bye.sip',
  'cancel.sip',
  'options.sip',
  'register.sip',
  'unauthorized-401.sip',
  'register-auth.sip',
];

function wire(text: string): Buffer {
  return Buffer.from(text.replace(/\n/g, '\r\n'), 'utf8');
}

function request(m: SipMessage): SipRequest {
  assert.equal(m.kind, 'request');
  return m as SipRequest;
}

function response(m: SipMessage): SipResponse {
  assert.equal(m.kind, 'response');
  return m as SipResponse;
}

function rejects(data: Buffer | string, pattern?: RegExp, limits = DEFAULT_SIP_LIMITS): SipParseError {
  const bytes = typeof data === 'string' ? wire(data) : data;
  try {
    parseMessage(bytes, limits);
  } catch (error) {
    assert.ok(error instanceof SipParseError, `expected SipParseError, got ${String(error)}`);
    if (pattern) assert.match(error.message, pattern);
    return error;
  }
  assert.fail('expected parseMessage to throw');
}

const OPTIONS = `OPTIONS sip:carol@chicago.example.com SIP/2.0
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKhjhs8ass877
Max-Forwards: 70
To: <sip:carol@chicago.example.com>
From: <sip:alice@atlanta.example.com>;tag=1928301774
Call-ID: a84b4c76e66710
CSeq: 63104 OPTIONS
`;

describe('parseMessage: fixtures', () => {
  test('a typical INVITE with SDP', () => {
    const m = request(parseMessage(sipFixture('invite-sdp.sip')));
    assert.equal(m.method, 'INVITE');
    assert.equal(m.uri, 'sip:bob@biloxi.example.com');
    assert.deepEqual(
      m.headers.map((h) => h.name),
      ['Via', 'Max-Forwards', 'To', 'From', 'Call-ID', 'CSeq', 'Contact', 'Allow', 'Supported', 'Content-Type', 'Content-Length'],
    );
    assert.deepEqual(parseCSeq(getHeader(m, 'cseq') ?? ''), { seq: 314159, method: 'INVITE' });
    assert.equal(parseNameAddr(getHeader(m, 'From') ?? '').params[0]?.[1], '1928301774');
    assert.equal(parseVia(getHeader(m, 'v') ?? '').params.find(([n]) => n === 'rport')?.[1], null);
    assert.equal(Number(getHeader(m, 'l')), m.body.length);
    assert.match(m.body.toString('utf8'), /^v=0\r\n[\s\S]*a=sendrecv\r\n$/);
    assert.deepEqual(getHeaders(m, 'Allow'), ['INVITE', 'ACK', 'CANCEL', 'BYE', 'OPTIONS']);
  });

  test('180 Ringing keeps a comma-separated Record-Route as one header line', () => {
    const m = response(parseMessage(sipFixture('ringing-180.sip')));
    assert.equal(m.status, 180);
    assert.equal(m.reason, 'Ringing');
    assert.equal(m.headers.filter((h) => h.name === 'Record-Route').length, 1);
    assert.equal(getHeaders(m, 'Record-Route').length, 2);
    assert.equal(getHeaders(m, 'Via').length, 3);
    assert.equal(m.body.length, 0);
  });

  test('200 OK keeps repeated Record-Route lines in order', () => {
    const m = response(parseMessage(sipFixture('ok-200-record-route.sip')));
    assert.equal(m.status, 200);
    assert.deepEqual(getHeaders(m, 'record-route'), [
      '<sip:server10.biloxi.example.com;lr>',
      '<sip:bigbox3.site3.atlanta.example.com;lr;transport=tcp>',
    ]);
    const contact = parseNameAddr(getHeader(m, 'm') ?? '');
    assert.equal(contact.uri.port, 5062);
    assert.deepEqual(contact.params, [['expires', '3600']]);
  });

  test('ACK, BYE, CANCEL, OPTIONS, REGISTER', () => {
    assert.equal(request(parseMessage(sipFixture('ack.sip'))).method, 'ACK');
    const bye = request(parseMessage(sipFixture('bye.sip')));
    assert.equal(parseVia(getHeader(bye, 'Via') ?? '').host, '[2001:db8::4]');
    assert.equal(getHeaders(bye, 'Route').length, 2);
    assert.equal(request(parseMessage(sipFixture('cancel.sip'))).method, 'CANCEL');
    const options = request(parseMessage(sipFixture('options.sip')));
    assert.equal(parseNameAddr(getHeader(options, 'Contact') ?? '').uri.scheme, 'sips');
    const register = request(parseMessage(sipFixture('register.sip')));
    assert.equal(getHeader(register, 'Expires'), '7200');
  });

  test('401 challenge and the authenticated retry', () => {
    const challenge = response(parseMessage(sipFixture('unauthorized-401.sip')));
    assert.equal(challenge.status, 401);
    const parsed = parseAuthChallenge(getHeader(challenge, 'www-authenticate') ?? '');
    assert.equal(parsed.scheme, 'Digest');
    assert.deepEqual(parsed.params, {
      realm: 'biloxi.example.com',
      nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093',
      qop: 'auth,auth-int',
      algorithm: 'MD5',
      opaque: '5ccc069c403ebaf9f0171e9517f40e41',
    });
    const retry = request(parseMessage(sipFixture('register-auth.sip')));
    const credentials = parseAuthChallenge(getHeader(retry, 'Authorization') ?? '');
    assert.equal(credentials.params.username, 'bob');
    assert.equal(credentials.params.nc, '00000001');
  });

  test('compact forms, odd case, folding and bare LF become canonical headers', () => {
    const m = request(parseMessage(sipFixture('compact.sip')));
    assert.deepEqual(
      m.headers.map((h) => [h.name, h.value]),
      [
        ['Via', 'SIP/2.0/TCP pc33.atlanta.example.com;branch=z9hG4bK776sgdkse'],
        ['Max-Forwards', '70'],
        ['To', '<sip:bob@biloxi.example.com>'],
        ['From', '"Alice" <sip:alice@atlanta.example.com> ;tag=49583'],
        ['Call-ID', 'asd88asd77a@1.2.3.4'],
        ['CSeq', '1 MESSAGE'],
        ['Contact', '<sip:alice@pc33.atlanta.example.com;transport=tcp>'],
        ['Supported', 'path, outbound'],
        ['x-custom-header', 'kept as received'],
        ['Content-Type', 'text/plain'],
        ['Content-Length', '12'],
      ],
    );
    assert.equal(m.body.toString(), 'Hello, Bob!\n');
  });
});

describe('serializeMessage: fixtures', () => {
  for (const name of CANONICAL_FIXTURES) {
    test(`${name} serialises back byte for byte`, () => {
      const bytes = sipFixture(name);
      assert.deepEqual(serializeMessage(parseMessage(bytes)), bytes);
    });
  }

  test('the compact-form message serialises to its canonical form', () => {
    const canonical = serializeMessage(parseMessage(sipFixture('compact.sip')));
    assert.deepEqual(canonical, sipFixture('compact.expected.sip'));
  });
});

describe('parseMessage: start line', () => {
  test('methods are case-sensitive tokens and extension methods are allowed', () => {
    const lower = request(parseMessage(wire(OPTIONS.replace(/^OPTIONS/, 'options') + '\n')));
    assert.equal(lower.method, 'options');
    const ext = request(parseMessage(wire(OPTIONS.replace(/^OPTIONS/, 'X-FOO.bar!') + '\n')));
    assert.equal(ext.method, 'X-FOO.bar!');
    rejects(OPTIONS.replace(/^OPTIONS/, 'OPT@IONS') + '\n', /method/);
  });

  test('only SIP/2.0 (any case), single SP separators, no trailing space', () => {
    assert.equal(request(parseMessage(wire(OPTIONS.replace('SIP/2.0\n', 'sip/2.0\n') + '\n'))).uri, 'sip:carol@chicago.example.com');
    rejects(OPTIONS.replace('SIP/2.0\n', 'SIP/3.0\n') + '\n', /version/);
    rejects(OPTIONS.replace(' sip:', '  sip:') + '\n', /request line/);
    rejects(OPTIONS.replace('SIP/2.0\n', 'SIP/2.0 \n') + '\n', /request line/);
    rejects(OPTIONS.replace(' sip:', '\tsip:') + '\n');
    rejects('SIP/2.1 200 OK\nCall-ID: x\n\n', /version/);
  });

  test('status codes 100-699 with the reason phrase kept exactly', () => {
    const m = response(parseMessage(wire('SIP/2.0 699  Odd  reason \nCall-ID: x\n\n')));
    assert.equal(m.status, 699);
    assert.equal(m.reason, ' Odd  reason ');
    assert.equal(response(parseMessage(wire('SIP/2.0 100 \n\n'))).reason, '');
    assert.equal(response(parseMessage(wire('SIP/2.0 100\n\n'))).reason, '');
    rejects('SIP/2.0 099 Low\n\n', /status/);
    rejects('SIP/2.0 700 High\n\n', /status/);
    rejects('SIP/2.0 20 OK\n\n', /status line/);
    rejects('SIP/2.0 4294967301 better not break the receiver\n\n', /status line/);
  });

  test('the Request-URI must be an absolute URI; SIP URIs are parsed and may not carry headers', () => {
    assert.equal(request(parseMessage(wire(OPTIONS.replace('sip:carol@chicago.example.com', 'tel:+1-201-555-0123') + '\n'))).uri, 'tel:+1-201-555-0123');
    assert.equal(request(parseMessage(wire(OPTIONS.replace('sip:carol@chicago.example.com', 'urn:service:sos') + '\n'))).uri, 'urn:service:sos');
    rejects(OPTIONS.replace('sip:carol@chicago.example.com', 'carol') + '\n', /absolute URI/);
    rejects(OPTIONS.replace('sip:carol@chicago.example.com', 'sip:carol@chicago.example.com?Subject=hi') + '\n', /headers/);
    rejects(OPTIONS.replace('sip:carol@chicago.example.com', 'sip:carol@bad..host') + '\n', /host/);
  });
});

describe('parseMessage: headers', () => {
  test('folding with CRLF or LF and SP or HTAB becomes one space; outer whitespace is trimmed', () => {
    const text = 'OPTIONS sip:a@b.example SIP/2.0\r\nSubject:  first  \r\n\t second\n   third \r\nX-Empty:\r\n\r\n';
    const m = parseMessage(Buffer.from(text));
    assert.deepEqual(m.headers, [
      { name: 'Subject', value: 'first second third' },
      { name: 'X-Empty', value: '' },
    ]);
  });

  test('known names are re-cased, unknown names kept as received, compact forms expanded', () => {
    const names = ['call-id', 'CSEQ', 'www-authenticate', 'i', 'L', 'o', 'u', 'r', 'b', 'x', 'y', 'j', 'a', 'X-Odd-Case', 'e', 'n', 'd'];
    const text = 'SIP/2.0 200 OK\n' + names.map((n) => `${n}: 0`).join('\n') + '\n\n';
    const m = parseMessage(wire(text));
    assert.deepEqual(
      m.headers.map((h) => h.name),
      ['Call-ID', 'CSeq', 'WWW-Authenticate', 'Call-ID', 'Content-Length', 'Event', 'Allow-Events', 'Refer-To', 'Referred-By',
        'Session-Expires', 'Identity', 'Reject-Contact', 'Accept-Contact', 'X-Odd-Case', 'Content-Encoding', 'Identity-Info',
        'Request-Disposition'],
    );
  });

  test('header values keep UTF-8, NUL and a leading BOM', () => {
    const m = parseMessage(Buffer.from('SIP/2.0 200 OK\r\nX-A: \uFEFF大停電\r\nX-B: a\u0000b\r\n\r\n', 'utf8'));
    assert.equal(getHeader(m, 'X-A'), '\uFEFF大停電');
    assert.equal(getHeader(m, 'x-b'), 'a\u0000b');
  });

  test('malformed header sections are refused', () => {
    rejects(OPTIONS + 'No colon here\n\n', /colon/);
    rejects(OPTIONS + 'Bad Name: x\n\n', /colon/);
    rejects(OPTIONS + ': no name\n\n', /field name/);
    rejects('OPTIONS sip:a@b.example SIP/2.0\n continued\n\n', /continuation/);
    rejects(Buffer.from(OPTIONS.replace(/\n/g, '\r\n') + 'X-A: a\rb\r\n\r\n'), /bare CR/);
    const latin1 = rejects(Buffer.concat([wire(OPTIONS), Buffer.from('X-A: M\xfcller\r\nX-B: 1\r\n\r\n', 'latin1')]), /UTF-8/);
    assert.equal(latin1.partial?.headers?.length, 8);
    rejects(Buffer.from('OPTIONS sip:\xff@b.example SIP/2.0\r\n\r\n', 'latin1'), /start line is not valid UTF-8/);
    rejects('', /empty/);
    rejects('\r\n\r\n', /empty/);
    rejects(Buffer.from('OPTIONS sip:a@b.example SIP/2.0\r\nVia: x'), /empty line/);
  });

  test('a request that fails after its start line carries a partial view for a 400', () => {
    const error = rejects(OPTIONS + 'Broken header\nX-After: 1\n\n');
    assert.equal(error.partial?.method, 'OPTIONS');
    assert.deepEqual(error.partial?.headers?.map((h) => h.name), [
      'Via', 'Max-Forwards', 'To', 'From', 'Call-ID', 'CSeq', 'X-After',
    ]);
    const startLine = rejects(OPTIONS.replace(' sip:', '  sip:') + '\n');
    assert.equal(startLine.partial?.method, 'OPTIONS');
    assert.equal(startLine.partial?.headers?.length, 6);
    assert.equal(rejects('SIP/2.0 200 OK\nBroken\n\n').partial, undefined);
  });

  test('leading CRLFs are skipped and the final empty line may be missing in a datagram', () => {
    const m = request(parseMessage(wire('\n\n' + OPTIONS + '\n')));
    assert.equal(m.method, 'OPTIONS');
    assert.equal(parseMessage(wire(OPTIONS)).headers.length, 6);
  });
});

describe('parseMessage: body and Content-Length', () => {
  test('extra datagram bytes past Content-Length are ignored; too few are an error', () => {
    const m = parseMessage(wire(OPTIONS + 'Content-Length: 3\n\nabcdef'));
    assert.equal(m.body.toString(), 'abc');
    const short = rejects(OPTIONS + 'Content-Length: 10\n\nabc', /shorter/);
    assert.equal(short.partial?.method, 'OPTIONS');
  });

  test('without Content-Length a datagram body runs to the end', () => {
    assert.equal(parseMessage(wire(OPTIONS + '\nabc')).body.toString(), 'abc');
  });

  test('Content-Length must be digits, and copies must agree', () => {
    rejects(OPTIONS + 'Content-Length: -1\n\n', /Content-Length/);
    rejects(OPTIONS + 'Content-Length: 1x\n\nab', /Content-Length/);
    rejects(OPTIONS + 'Content-Length: 1\nl: 2\n\nab', /conflicting/);
    assert.equal(parseMessage(wire(OPTIONS + 'Content-Length: 2\nl: 02\n\nab')).body.toString(), 'ab');
  });

  test('the body is a copy of the received bytes', () => {
    const data = wire(OPTIONS + 'Content-Length: 3\n\nabc');
    const m = parseMessage(data);
    data.fill(0x78);
    assert.equal(m.body.toString(), 'abc');
  });

  test('binary bodies with NUL, CR and LF are kept intact', () => {
    const body = Buffer.from([0, 13, 10, 13, 10, 255, 0]);
    const m = parseMessage(Buffer.concat([wire(OPTIONS + `Content-Length: ${body.length}\n\n`), body]));
    assert.deepEqual(m.body, body);
  });
});

describe('parseMessage: limits', () => {
  const limits = { maxMessageBytes: 2000, maxHeaders: 8, maxHeaderLineBytes: 100, maxBodyBytes: 10 };
  test('each limit is enforced', () => {
    rejects(OPTIONS + `X-Pad: ${'a'.repeat(2000)}\n\n`, /size/, limits);
    rejects(OPTIONS + 'A: 1\nB: 2\nC: 3\n\n', /too many headers/, limits);
    rejects(OPTIONS + `X-Long: ${'a'.repeat(100)}\n\n`, /too long/, limits);
    rejects(OPTIONS + `X-Long: a\n ${'b'.repeat(100)}\n\n`, /too long/, limits);
    rejects(`OPTIONS sip:${'a'.repeat(100)}@b.example SIP/2.0\n\n`, /start line too long/, limits);
    rejects(OPTIONS + '\n' + 'x'.repeat(11), /body/, limits);
    rejects(OPTIONS + 'Content-Length: 11\n\n' + 'x'.repeat(11), /body/, limits);
    assert.equal(parseMessage(wire(OPTIONS + '\n' + 'x'.repeat(10)), limits).body.length, 10);
  });
});

describe('serializeMessage', () => {
  const base: SipRequest = {
    kind: 'request',
    method: 'MESSAGE',
    uri: 'sip:bob@biloxi.example.com',
    headers: [
      { name: 'Call-ID', value: 'x' },
      { name: 'Content-Length', value: '999' },
      { name: 'Subject', value: 'hi' },
      { name: 'Content-Length', value: '1' },
    ],
    body: Buffer.from('hello'),
  };

  test('Content-Length replaces the first one in place, drops the others, or is appended', () => {
    assert.equal(
      serializeMessage(base).toString(),
      'MESSAGE sip:bob@biloxi.example.com SIP/2.0\r\nCall-ID: x\r\nContent-Length: 5\r\nSubject: hi\r\n\r\nhello',
    );
    const response: SipResponse = { kind: 'response', status: 486, reason: 'Busy Here', headers: [], body: Buffer.alloc(0) };
    assert.equal(serializeMessage(response).toString(), 'SIP/2.0 486 Busy Here\r\nContent-Length: 0\r\n\r\n');
  });

  test('refuses what cannot be written without changing its meaning', () => {
    const bad = (m: SipMessage): void => assert.throws(() => serializeMessage(m), SipParseError);
    bad({ ...base, headers: [{ name: 'Subject', value: 'a\r\nInjected: 1' }] });
    bad({ ...base, headers: [{ name: 'Bad Name', value: 'a' }] });
    bad({ ...base, method: 'BAD METHOD' });
    bad({ ...base, uri: 'sip:a b' });
    bad({ kind: 'response', status: 99, reason: 'x', headers: [], body: Buffer.alloc(0) });
    bad({ kind: 'response', status: 200, reason: 'a\nb', headers: [], body: Buffer.alloc(0) });
  });
});
