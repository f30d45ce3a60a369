import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { describe, test } from 'node:test';
import { advertisedAddress, isLoopback, isUnspecified } from '../../../../src/sip/transport/advertised-address.js';
import { SipTransports } from '../../../../src/sip/transport/sip-transports.js';
import type { InboundMessage } from '../../../../src/sip/transport/types.js';
import type { SipRequest } from '../../../../src/sip/message/types.js';
import { stampReceived } from '../../../../src/sip/ua/sip-stack.js';

const HOST_INTERFACES = {
  lo: [{ address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4', mac: '00:00:00:00:00:00', internal: true, cidr: '127.0.0.1/8' }],
  eth0: [
    { address: 'fe80::1', netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '02:00:00:00:00:01', internal: false, cidr: 'fe80::1/64', scopeid: 2 },
    { address: '2001:db8::10', netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '02:00:00:00:00:01', internal: false, cidr: '2001:db8::10/64', scopeid: 0 },
    { address: '192.0.2.10', netmask: '255.255.255.0', family: 'IPv4', mac: '02:00:00:00:00:01', internal: false, cidr: '192.0.2.10/24' },
  ],
} as const;
const interfaces = HOST_INTERFACES as unknown as NonNullable<Parameters<typeof advertisedAddress>[0]['interfaces']>;

describe('advertisedAddress', () => {
  test('a configured public address wins over everything', () => {
    assert.equal(advertisedAddress({ bind: '0.0.0.0', publicAddress: '203.0.113.5', peer: '127.0.0.1', interfaces }), '203.0.113.5');
    assert.equal(advertisedAddress({ bind: '10.0.0.2', publicAddress: '203.0.113.5', interfaces }), '203.0.113.5');
  });

  test('a concrete bind address is advertised as it is', () => {
    assert.equal(advertisedAddress({ bind: '10.0.0.2', peer: '127.0.0.1', interfaces }), '10.0.0.2');
    assert.equal(advertisedAddress({ bind: '::1', interfaces }), '::1');
  });

  test('bound to 0.0.0.0: loopback for a loopback peer, the first non-loopback interface for others', () => {
    assert.equal(advertisedAddress({ bind: '0.0.0.0', peer: '127.0.0.2', interfaces }), '127.0.0.1');
    assert.equal(advertisedAddress({ bind: '0.0.0.0', peer: '198.51.100.7', interfaces }), '192.0.2.10');
    assert.equal(advertisedAddress({ bind: '0.0.0.0', interfaces }), '192.0.2.10');
  });

  test('bound to :: it picks a global IPv6 address (not link-local) or ::1', () => {
    assert.equal(advertisedAddress({ bind: '::', peer: '2001:db8::99', interfaces }), '2001:db8::10');
    assert.equal(advertisedAddress({ bind: '::', peer: '::1', interfaces }), '::1');
  });

  test('with no usable interface it falls back to loopback, never the unspecified address', () => {
    assert.equal(advertisedAddress({ bind: '0.0.0.0', peer: '198.51.100.7', interfaces: { lo: HOST_INTERFACES.lo } as never }), '127.0.0.1');
    assert.equal(advertisedAddress({ bind: '::', interfaces: {} }), '::1');
  });

  test('isUnspecified and isLoopback', () => {
    for (const a of ['0.0.0.0', '::', '0:0:0:0:0:0:0:0']) assert.ok(isUnspecified(a), a);
    for (const a of ['127.0.0.1', '::1', '10.0.0.1']) assert.ok(!isUnspecified(a), a);
    for (const a of ['127.0.0.1', '127.9.9.9', '::1', '::ffff:127.0.0.1']) assert.ok(isLoopback(a), a);
    for (const a of ['10.0.0.1', '::', '2001:db8::1']) assert.ok(!isLoopback(a), a);
  });
});

describe('SipTransports bound to 0.0.0.0', () => {
  test('the local endpoint of a request from a loopback peer says 127.0.0.1; a public address replaces it', async () => {
    for (const [publicAddress, expected] of [[undefined, '127.0.0.1'], ['203.0.113.5', '203.0.113.5']] as const) {
      const received: InboundMessage[] = [];
      const transports = new SipTransports({ host: '0.0.0.0', port: 0, publicAddress, onMessage: (m) => received.push(m) });
      const port = await transports.listen();
      const client = createSocket('udp4');
      try {
        client.send(
          'OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x@y>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n',
          port,
          '127.0.0.1',
        );
        while (received.length === 0) await new Promise((r) => setTimeout(r, 10));
        assert.equal(received[0]!.local.address, expected);
        assert.equal(received[0]!.local.port, port);
        assert.notEqual(transports.local('udp').address, '0.0.0.0');
      } finally {
        client.close();
        await transports.close();
      }
    }
  });
});

describe('stampReceived (RFC 3581)', () => {
  const request = (via: string): SipRequest => ({
    kind: 'request',
    method: 'OPTIONS',
    uri: 'sip:x@127.0.0.1',
    version: 'SIP/2.0',
    headers: [
      { name: 'Via', value: via },
      { name: 'Via', value: 'SIP/2.0/UDP 10.9.9.9;branch=z9hG4bKother' },
    ],
    body: Buffer.alloc(0),
  }) as unknown as SipRequest;
  const topVia = (r: SipRequest) => r.headers.filter((h) => h.name === 'Via').map((h) => h.value);

  test('a bare rport gets the source port and received, in the top Via only', () => {
    const out = stampReceived(request('SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKa;rport'), { transport: 'udp', address: '203.0.113.9', port: 40123 });
    assert.deepEqual(topVia(out), ['SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKa;received=203.0.113.9;rport=40123', 'SIP/2.0/UDP 10.9.9.9;branch=z9hG4bKother']);
  });

  test('rport also gets received when the host matches the source', () => {
    const out = stampReceived(request('SIP/2.0/UDP 127.0.0.1:5070;rport;branch=z9hG4bKa'), { transport: 'udp', address: '127.0.0.1', port: 5070 });
    assert.deepEqual(topVia(out)[0], 'SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKa;received=127.0.0.1;rport=5070');
  });

  test('without rport: received only when the sent-by host differs (§18.2.1)', () => {
    const same = request('SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKa');
    assert.equal(stampReceived(same, { transport: 'udp', address: '127.0.0.1', port: 5070 }), same);
    const other = stampReceived(request('SIP/2.0/UDP 10.0.0.5:5070;branch=z9hG4bKa'), { transport: 'udp', address: '127.0.0.1', port: 5070 });
    assert.equal(topVia(other)[0], 'SIP/2.0/UDP 10.0.0.5:5070;branch=z9hG4bKa;received=127.0.0.1');
  });
});
