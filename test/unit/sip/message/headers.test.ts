import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  formatAuthChallenge,
  formatAuthCredentials,
  formatCSeq,
  formatNameAddr,
  formatParams,
  formatSipDate,
  formatUri,
  formatVia,
  getHeader,
  getHeaders,
  parseAuthChallenge,
  parseCSeq,
  parseMaxForwards,
  parseNameAddr,
  parseParams,
  parseSipDate,
  parseUri,
  parseVia,
  splitHeaderValues,
} from '../../../../src/sip/message/headers.js';
import { SipParseError } from '../../../../src/sip/message/types.js';
import type { SipMessage, SipUri } from '../../../../src/sip/message/types.js';

function invalid(fn: () => unknown, pattern?: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof SipParseError, `expected SipParseError, got ${String(error)}`);
    if (pattern) assert.match(error.message, pattern);
    return true;
  });
}

function uri(partial: Partial<SipUri> & Pick<SipUri, 'host'>): SipUri {
  return { scheme: 'sip', user: undefined, password: undefined, port: undefined, params: [], headers: [], ...partial };
}

describe('parseUri / formatUri', () => {
  test('a full SIP URI', () => {
    const parsed = parseUri('SIPS:alice:secret@Atlanta.example.com:5061;transport=TCP;lr;maddr=239.255.255.1?subject=project%20x&priority=urgent');
    assert.deepEqual(parsed, {
      scheme: 'sips',
      user: 'alice',
      password: 'secret',
      host: 'Atlanta.example.com',
      port: 5061,
      params: [['transport', 'TCP'], ['lr', null], ['maddr', '239.255.255.1']],
      headers: [['subject', 'project x'], ['priority', 'urgent']],
    });
    assert.equal(
      formatUri(parsed),
      'sips:alice:secret@Atlanta.example.com:5061;transport=TCP;lr;maddr=239.255.255.1?subject=project%20x&priority=urgent',
    );
  });

  test('IPv4, IPv6 references and hosts without a user', () => {
    assert.deepEqual(parseUri('sip:[2001:db8::10]:5070;lr'), uri({ host: '[2001:db8::10]', port: 5070, params: [['lr', null]] }));
    assert.deepEqual(parseUri('sip:192.0.2.4'), uri({ host: '192.0.2.4' }));
    assert.equal(parseUri('sip:user@host.example.com.').host, 'host.example.com.');
    invalid(() => parseUri('sip:[2001:db8::10'), /IPv6/);
    invalid(() => parseUri('sip:[not-v6]'), /host/);
    invalid(() => parseUri('sip:256.1.1.1'), /host/);
    invalid(() => parseUri('sip:-bad.example.com'), /host/);
    invalid(() => parseUri('sip:user@'), /host/);
    invalid(() => parseUri('sip:host:70000'), /port/);
    invalid(() => parseUri('sip:host:'), /port/);
  });

  test('escapes are resolved on parse and re-applied on format', () => {
    const parsed = parseUri('sip:sips%3Auser%40example.com@example.net;n%61me=v%61lue%25%34%31');
    assert.equal(parsed.user, 'sips:user@example.com');
    assert.deepEqual(parsed.params, [['name', 'value%41']]);
    assert.equal(formatUri(parsed), 'sip:sips%3Auser%40example.com@example.net;name=value%2541');
    assert.equal(formatUri(uri({ user: 'I have spaces', host: 'example.net' })), 'sip:I%20have%20spaces@example.net');
    assert.equal(formatUri(uri({ user: 'é', host: 'example.net' })), 'sip:%C3%A9@example.net');
    invalid(() => parseUri('sip:%zz@example.net'), /escape/);
    invalid(() => parseUri('sip:%ff@example.net'), /UTF-8/);
    invalid(() => parseUri('sip:us er@example.net'), /invalid character/);
  });

  test('the user part may hold ";", "?" and telephone-subscriber syntax', () => {
    assert.equal(parseUri('sip:user;par=u%40example.net@example.com').user, 'user;par=u@example.net');
    const phone = parseUri('sip:+1-212-555-1212;phone-context=example.com@gw.example.com;user=phone');
    assert.equal(phone.user, '+1-212-555-1212;phone-context=example.com');
    assert.deepEqual(phone.params, [['user', 'phone']]);
  });

  test('tel URIs', () => {
    const tel = parseUri('tel:+1-201-555-0123;ext=1234');
    assert.deepEqual(tel, { scheme: 'tel', user: undefined, password: undefined, host: '+1-201-555-0123', port: undefined, params: [['ext', '1234']], headers: [] });
    assert.equal(formatUri(tel), 'tel:+1-201-555-0123;ext=1234');
    assert.equal(parseUri('tel:7042;phone-context=example.com').host, '7042');
    invalid(() => parseUri('tel:+'), /tel/);
    invalid(() => formatUri({ ...tel, port: 5060 }), /tel/);
  });

  test('other schemes and malformed input are refused', () => {
    invalid(() => parseUri('http://www.example.com'), /scheme/);
    invalid(() => parseUri('no-scheme'), /scheme/);
    invalid(() => parseUri('sip:host;;lr'), /parameter/);
    invalid(() => parseUri('sip:host?novalue'), /header/);
    invalid(() => formatUri(uri({ host: 'bad host' })), /host/);
    invalid(() => formatUri(uri({ host: 'h.example', user: '' })), /user/);
    invalid(() => formatUri(uri({ host: 'h.example', password: 'x' })), /password/);
  });
});

describe('parseParams / formatParams', () => {
  test('generic parameters with LWS, flags, quoted values kept raw, names lower-cased', () => {
    assert.deepEqual(parseParams(' ;Tag = abc ; LR;q=0.5;x="a;b, c"'), [
      ['tag', 'abc'],
      ['lr', null],
      ['q', '0.5'],
      ['x', '"a;b, c"'],
    ]);
    assert.deepEqual(parseParams('tag=1'), [['tag', '1']]);
    assert.deepEqual(parseParams(''), []);
    assert.equal(formatParams([['tag', 'abc'], ['lr', null], ['x', '"a b"']]), ';tag=abc;lr;x="a b"');
    invalid(() => parseParams(';;'), /parameter name/);
    invalid(() => parseParams(';a=b c'), /expected ";"/);
    invalid(() => parseParams(';a="unterminated'), /unterminated/);
    invalid(() => formatParams([['a b', null]]), /name/);
    invalid(() => formatParams([['a', 'b c']]), /value/);
  });
});

describe('parseNameAddr / formatNameAddr', () => {
  test('quoted display names with escapes', () => {
    const parsed = parseNameAddr('"J Rosenberg \\\\\\""       <sip:jdrosen@example.com> ; tag = 98asjd8');
    assert.equal(parsed.displayName, 'J Rosenberg \\"');
    assert.equal(parsed.uri.user, 'jdrosen');
    assert.deepEqual(parsed.params, [['tag', '98asjd8']]);
    assert.equal(formatNameAddr(parsed), '"J Rosenberg \\\\\\"" <sip:jdrosen@example.com>;tag=98asjd8');
  });

  test('token display names, with or without LWS before "<"', () => {
    assert.equal(parseNameAddr('caller<sip:caller@example.com>;tag=323').displayName, 'caller');
    assert.equal(parseNameAddr('A. Bell <sip:a.g.bell@example.com>').displayName, 'A. Bell');
    assert.equal(parseNameAddr('<sip:a@example.com>').displayName, undefined);
    assert.equal(parseNameAddr('"" <sip:a@example.com>').displayName, '');
  });

  test('a bare addr-spec: parameters belong to the header', () => {
    const parsed = parseNameAddr('sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n');
    assert.deepEqual(parsed.uri.params, []);
    assert.deepEqual(parsed.params, [['tag', '1918181833n']]);
    assert.deepEqual(parseNameAddr('<sip:a@example.com;lr>;tag=1').uri.params, [['lr', null]]);
    assert.equal(formatNameAddr(parsed), '<sip:vivekg@chair-dnrc.example.com>;tag=1918181833n');
  });

  test('malformed name-addr values are refused', () => {
    invalid(() => parseNameAddr('"Mr. J. User <sip:j.user@example.com>'), /unterminated/);
    invalid(() => parseNameAddr('"Watson, Thomas" < sip:t.watson@example.org >'), /whitespace/);
    invalid(() => parseNameAddr('Bell, Alexander <sip:a.g.bell@example.com>;tag=43'), /display name/);
    invalid(() => parseNameAddr('sip:user@example.com?Route=%3Csip:sip.example.com%3E'), /enclosed/);
    invalid(() => parseNameAddr('"Joe" <sip:joe@example.org>;;;;'), /parameter/);
    invalid(() => parseNameAddr('"Joe" sip:joe@example.org'), /"<"/);
    invalid(() => parseNameAddr('<sip:joe@example.org'), /">"/);
    invalid(() => parseNameAddr('<http://example.com>'), /scheme/);
    invalid(() => parseNameAddr('"bad\rname" <sip:a@example.com>'), /quoted/);
    invalid(() => formatNameAddr({ displayName: 'a\nb', uri: uri({ host: 'example.com' }), params: [] }), /CR or LF/);
  });

  test('display names with control characters are escaped with quoted-pair', () => {
    const value = { displayName: 'BEL:\u0007 NUL:\u0000 "q" \\', uri: uri({ host: 'example.com' }), params: [] };
    const text = formatNameAddr(value);
    assert.equal(text, '"BEL:\\\u0007 NUL:\\\u0000 \\"q\\" \\\\" <sip:example.com>');
    assert.deepEqual(parseNameAddr(text), value);
  });
});

describe('parseVia / formatVia', () => {
  test('LWS around the slashes, received, rport flag and value, branch', () => {
    const via = parseVia('SIP  /    2.0   / udp  192.168.255.111   ; branch= z9hG4bK30239 ;received=192.0.2.1;rport');
    assert.deepEqual(via, {
      transport: 'UDP',
      host: '192.168.255.111',
      port: undefined,
      params: [['branch', 'z9hG4bK30239'], ['received', '192.0.2.1'], ['rport', null]],
    });
    assert.equal(formatVia(via), 'SIP/2.0/UDP 192.168.255.111;branch=z9hG4bK30239;received=192.0.2.1;rport');
    const response = parseVia('SIP/2.0/TCP [2001:db8::1] : 5061;rport=5061;received=2001:db8::9;branch=z9hG4bK1');
    assert.equal(response.host, '[2001:db8::1]');
    assert.equal(response.port, 5061);
    assert.deepEqual(response.params.slice(0, 2), [['rport', '5061'], ['received', '2001:db8::9']]);
  });

  test('malformed Via values are refused', () => {
    invalid(() => parseVia('SIP/2.0/UDP 192.0.2.15;;'), /parameter/);
    invalid(() => parseVia('SIP/7.0/UDP c.example.com'), /SIP\/2.0/);
    invalid(() => parseVia('SIP/2.0/UDP'), /whitespace/);
    invalid(() => parseVia('SIP/2.0 UDP host'), /"\/"/);
    invalid(() => parseVia('SIP/2.0/UDP host;received=host.example.com'), /received/);
    invalid(() => parseVia('SIP/2.0/UDP host;rport=abc'), /port/);
    invalid(() => parseVia('SIP/2.0/UDP host;branch="quoted"'), /branch/);
    invalid(() => parseVia('SIP/2.0/UDP a.example.com, SIP/2.0/UDP b.example.com'), /expected ";"/);
    invalid(() => formatVia({ transport: 'U D P', host: 'h.example', port: undefined, params: [] }), /transport/);
  });
});

describe('parseCSeq / parseMaxForwards', () => {
  test('numbers with leading zeros, LWS before the method, range limits', () => {
    assert.deepEqual(parseCSeq('0009 INVITE'), { seq: 9, method: 'INVITE' });
    assert.deepEqual(parseCSeq(' 2147483647\tRE%47IST%45R '), { seq: 2147483647, method: 'RE%47IST%45R' });
    assert.equal(formatCSeq({ seq: 1, method: 'BYE' }), '1 BYE');
    invalid(() => parseCSeq('2147483648 INVITE'), /range/);
    invalid(() => parseCSeq('36893488147419103232 REGISTER'), /range/);
    invalid(() => parseCSeq('INVITE'), /number and a method/);
    invalid(() => parseCSeq('1INVITE'), /number and a method/);
    invalid(() => parseCSeq('1 IN@VITE'), /method/);
    invalid(() => formatCSeq({ seq: -1, method: 'BYE' }), /range/);
    assert.equal(parseMaxForwards('0068'), 68);
    invalid(() => parseMaxForwards('300'), /range/);
  });
});

describe('splitHeaderValues', () => {
  test('splits on commas outside quotes and angle brackets', () => {
    assert.deepEqual(splitHeaderValues('"Doe, John" <sip:j@x.example;p=a,b>;q=1 , <sip:k@y.example> ,sip:z@z.example'), [
      '"Doe, John" <sip:j@x.example;p=a,b>;q=1',
      '<sip:k@y.example>',
      'sip:z@z.example',
    ]);
    assert.deepEqual(splitHeaderValues('"a \\", b", c'), ['"a \\", b"', 'c']);
    assert.deepEqual(splitHeaderValues('a,,b,'), ['a', '', 'b', '']);
    assert.deepEqual(splitHeaderValues('  '), []);
    invalid(() => splitHeaderValues('"open, b'), /unterminated/);
    invalid(() => splitHeaderValues('<sip:a, b'), /">"/);
  });
});

describe('getHeader / getHeaders', () => {
  const m: SipMessage = {
    kind: 'response',
    status: 200,
    reason: 'OK',
    headers: [
      { name: 'Via', value: 'SIP/2.0/UDP a.example;branch=z9hG4bK1, SIP/2.0/UDP b.example;branch=z9hG4bK2' },
      { name: 'Via', value: 'SIP/2.0/UDP c.example;branch=z9hG4bK3' },
      { name: 'Date', value: 'Sat, 13 Nov 2010 23:29:00 GMT' },
      { name: 'UnknownHeaderWithUnusualValue', value: ';;,,;;,;' },
      { name: 'WWW-Authenticate', value: 'Digest realm="a", nonce="1"' },
      { name: 'WWW-Authenticate', value: 'Digest realm="b", nonce="2"' },
    ],
    body: Buffer.alloc(0),
  };

  test('first value, case-insensitive, compact accepted', () => {
    assert.equal(getHeader(m, 'v'), 'SIP/2.0/UDP a.example;branch=z9hG4bK1, SIP/2.0/UDP b.example;branch=z9hG4bK2');
    assert.equal(getHeader(m, 'VIA'), getHeader(m, 'Via'));
    assert.equal(getHeader(m, 'Contact'), undefined);
  });

  test('list headers are split; other headers give one value per line', () => {
    assert.equal(getHeaders(m, 'via').length, 3);
    assert.deepEqual(getHeaders(m, 'Date'), ['Sat, 13 Nov 2010 23:29:00 GMT']);
    assert.deepEqual(getHeaders(m, 'unknownheaderwithunusualvalue'), [';;,,;;,;']);
    assert.equal(getHeaders(m, 'WWW-Authenticate').length, 2);
    assert.deepEqual(getHeaders(m, 'm'), []);
  });
});

describe('authentication headers', () => {
  test('a Digest challenge', () => {
    const challenge = parseAuthChallenge(
      'Digest realm="atlanta.example.com", nonce="84a4cc6f3082121f32b42a2187831a9e",qop="auth,auth-int" , algorithm=MD5, opaque="5cc\\"c", stale=FALSE',
    );
    assert.equal(challenge.scheme, 'Digest');
    assert.deepEqual(challenge.params, {
      realm: 'atlanta.example.com',
      nonce: '84a4cc6f3082121f32b42a2187831a9e',
      qop: 'auth,auth-int',
      algorithm: 'MD5',
      opaque: '5cc"c',
      stale: 'FALSE',
    });
    assert.equal(
      formatAuthChallenge(challenge.scheme, challenge.params),
      'Digest realm="atlanta.example.com", nonce="84a4cc6f3082121f32b42a2187831a9e", qop="auth,auth-int", algorithm=MD5, opaque="5cc\\"c", stale=FALSE',
    );
  });

  test('credentials quote what RFC 2617 quotes', () => {
    const text = formatAuthCredentials('Digest', {
      username: 'bob',
      realm: 'biloxi.example.com',
      nonce: 'dcd98b',
      uri: 'sip:bob@biloxi.example.com',
      response: '245f23',
      algorithm: 'MD5',
      cnonce: '0a4f113b',
      qop: 'auth',
      nc: '00000001',
    });
    assert.equal(
      text,
      'Digest username="bob", realm="biloxi.example.com", nonce="dcd98b", uri="sip:bob@biloxi.example.com", response="245f23", algorithm=MD5, cnonce="0a4f113b", qop=auth, nc=00000001',
    );
    assert.equal(parseAuthChallenge(text).params.uri, 'sip:bob@biloxi.example.com');
  });

  test('names are case-insensitive; odd but harmless input is tolerated; bad input refused', () => {
    assert.deepEqual(parseAuthChallenge('NoOneKnowsThisScheme opaque-data=here').params, { 'opaque-data': 'here' });
    assert.deepEqual(parseAuthChallenge('Digest REALM="x",, nonce=ab/c=='), { scheme: 'Digest', params: { realm: 'x', nonce: 'ab/c==' } });
    assert.deepEqual(parseAuthChallenge('Digest'), { scheme: 'Digest', params: {} });
    const proto = parseAuthChallenge('Digest __proto__="x"');
    assert.equal(Object.getPrototypeOf(proto.params), Object.prototype);
    assert.equal(proto.params['__proto__'], 'x');
    invalid(() => parseAuthChallenge('Digest realm="a", realm="b"'), /duplicate/);
    invalid(() => parseAuthChallenge('Digest realm'), /no value/);
    invalid(() => parseAuthChallenge('Digest realm="a" nonce="b"'), /","/);
    invalid(() => parseAuthChallenge('Digest realm="a'), /unterminated/);
    invalid(() => parseAuthChallenge(''), /scheme/);
    invalid(() => formatAuthCredentials('Digest', { realm: 'a\r\nX: y' }), /CR or LF/);
    invalid(() => formatAuthCredentials('Di gest', {}), /scheme/);
  });
});

describe('parseSipDate / formatSipDate', () => {
  test('RFC 1123 dates in GMT only', () => {
    const date = parseSipDate('Sat, 13 Nov 2010 23:29:00 GMT');
    assert.equal(date.toISOString(), '2010-11-13T23:29:00.000Z');
    assert.equal(formatSipDate(date), 'Sat, 13 Nov 2010 23:29:00 GMT');
    invalid(() => parseSipDate('Fri, 01 Jan 2010 16:00:00 EST'), /GMT/);
    invalid(() => parseSipDate('Fri, 30 Feb 2010 16:00:00 GMT'), /calendar/);
    invalid(() => parseSipDate('Fri, 01 Foo 2010 16:00:00 GMT'), /month/);
    invalid(() => formatSipDate(new Date(NaN)), /invalid/);
  });
});
