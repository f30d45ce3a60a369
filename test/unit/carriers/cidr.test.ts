import assert from 'node:assert/strict';
import { BlockList } from 'node:net';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { cidrContains, formatCidr, matchesAny, parseCidr, parseIp, type Cidr } from '../../../src/carriers/cidr.js';

const range = (text: string): Cidr => {
  const parsed = parseCidr(text);
  assert.ok(parsed, `${text} parses`);
  return parsed;
};

describe('parseIp', () => {
  test('IPv4 and IPv6 in their usual forms', () => {
    assert.deepEqual(parseIp('192.0.2.1'), { version: 4, bytes: Uint8Array.from([192, 0, 2, 1]) });
    assert.equal(parseIp('2001:db8::1')?.version, 6);
    assert.deepEqual([...parseIp('::1')!.bytes], [...new Array(15).fill(0), 1]);
    assert.deepEqual([...parseIp('::')!.bytes], new Array(16).fill(0));
    assert.deepEqual(parseIp('[2001:db8::1]'), parseIp('2001:DB8:0:0:0:0:0:1'));
    assert.deepEqual(parseIp('fe80::1%eth0'), parseIp('fe80::1'));
    assert.deepEqual(parseIp('64:ff9b::198.51.100.7'), parseIp('64:ff9b::c633:6407'));
  });

  test('an IPv4-mapped IPv6 address is the IPv4 address (what a dual-stack socket reports)', () => {
    assert.deepEqual(parseIp('::ffff:127.0.0.2'), parseIp('127.0.0.2'));
    assert.deepEqual(parseIp('::ffff:7f00:2'), parseIp('127.0.0.2'));
  });

  test('anything else is no address', () => {
    for (const text of ['', 'localhost', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1.2.3.4:5060', '1:2:3:4:5:6:7:8:9',
      '1::2::3', ':1', '1:', ':::', '12345::', 'g::1', '1.2.3.4/24', '::1.2.3']) {
      assert.equal(parseIp(text), undefined, text);
    }
  });
});

describe('parseCidr and cidrContains', () => {
  test('a bare address is that one address', () => {
    assert.equal(cidrContains(range('203.0.113.7'), parseIp('203.0.113.7')!), true);
    assert.equal(cidrContains(range('203.0.113.7'), parseIp('203.0.113.8')!), false);
    assert.equal(cidrContains(range('2001:db8::7'), parseIp('2001:db8::7')!), true);
    assert.equal(cidrContains(range('2001:db8::7'), parseIp('2001:db8::8')!), false);
  });

  test('IPv4 ranges, with host bits written or not, at byte and bit boundaries', () => {
    assert.equal(matchesAny([range('203.0.113.0/24')], '203.0.113.255'), true);
    assert.equal(matchesAny([range('203.0.113.99/24')], '203.0.113.1'), true);
    assert.equal(matchesAny([range('203.0.113.0/24')], '203.0.114.0'), false);
    assert.equal(matchesAny([range('10.0.0.0/9')], '10.127.255.255'), true);
    assert.equal(matchesAny([range('10.0.0.0/9')], '10.128.0.0'), false);
    assert.equal(matchesAny([range('0.0.0.0/0')], '198.51.100.1'), true);
    assert.equal(matchesAny([range('0.0.0.0/0')], '2001:db8::1'), false, 'never across versions');
  });

  test('IPv6 ranges', () => {
    assert.equal(matchesAny([range('2001:db8::/32')], '2001:db8:ffff::1'), true);
    assert.equal(matchesAny([range('2001:db8::/32')], '2001:db9::1'), false);
    assert.equal(matchesAny([range('2001:db8:0:8000::/49')], '2001:db8:0:ffff::1'), true);
    assert.equal(matchesAny([range('2001:db8:0:8000::/49')], '2001:db8:0:7fff::1'), false);
    assert.equal(matchesAny([range('::/0')], '127.0.0.1'), false, 'never across versions');
  });

  test('IPv4-mapped addresses and ranges match as IPv4', () => {
    assert.equal(matchesAny([range('127.0.0.0/8')], '::ffff:127.0.0.2'), true);
    assert.equal(matchesAny([range('::ffff:192.0.2.0/120')], '192.0.2.200'), true);
    assert.equal(matchesAny([range('::ffff:192.0.2.0/120')], '192.0.3.1'), false);
    assert.equal(parseCidr('::ffff:192.0.2.0/95'), undefined);
  });

  test('prefixes out of range and junk are refused', () => {
    for (const text of ['1.2.3.4/33', '1.2.3.4/', '1.2.3.4/-1', '1.2.3.4/08', '2001:db8::/129', 'example.com/24', '/24', '1.2.3.4/24/1']) {
      assert.equal(parseCidr(text), undefined, text);
    }
    assert.equal(matchesAny([range('0.0.0.0/0')], 'not an address'), false);
  });

  test('formatCidr writes the network address', () => {
    assert.equal(formatCidr(range('203.0.113.99/24')), '203.0.113.0/24');
    assert.equal(formatCidr(range('2001:db8:0:0:1::7/64')), '2001:db8::/64');
    assert.equal(formatCidr(range('2001:db8::1')), '2001:db8::1/128');
    assert.equal(formatCidr(range('::/0')), '::/0');
  });
});

const ipv4 = fc.uint8Array({ minLength: 4, maxLength: 4 });
const ipv6 = fc
  .uint8Array({ minLength: 16, maxLength: 16 })
  // IPv4-mapped addresses are IPv4 here by design; node's BlockList, the oracle, keeps them IPv6.
  .filter((b) => !(b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff));
const v4Text = (b: Uint8Array) => [...b].join('.');
const v6Text = (b: Uint8Array) => Array.from({ length: 8 }, (_, i) => ((b[2 * i]! << 8) | b[2 * i + 1]!).toString(16)).join(':');

/** The network address of bytes/prefix, which BlockList.addSubnet expects. */
function network(bytes: Uint8Array, prefix: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  for (let bit = prefix; bit < out.length * 8; bit++) out[bit >> 3]! &= ~(0x80 >> (bit & 7));
  return out;
}

describe('CIDR matching agrees with node:net BlockList (property)', () => {
  test('IPv4', () => {
    fc.assert(
      fc.property(ipv4, fc.integer({ min: 0, max: 32 }), ipv4, fc.boolean(), (base, prefix, other, near) => {
        // Half the time the address shares the range's first bits, so both outcomes are exercised.
        const candidate = near ? Uint8Array.from(base.map((byte, i) => (i < prefix >> 3 ? byte : other[i]!))) : other;
        const list = new BlockList();
        list.addSubnet(v4Text(network(base, prefix)), prefix, 'ipv4');
        const expected = list.check(v4Text(candidate), 'ipv4');
        assert.equal(matchesAny([range(`${v4Text(base)}/${prefix}`)], v4Text(candidate)), expected);
      }),
      { numRuns: 2000 },
    );
  });

  test('IPv6', () => {
    fc.assert(
      fc.property(ipv6, fc.integer({ min: 0, max: 128 }), ipv6, fc.boolean(), (base, prefix, other, near) => {
        const candidate = near ? Uint8Array.from(base.map((byte, i) => (i < prefix >> 3 ? byte : other[i]!))) : other;
        fc.pre(!(candidate.slice(0, 10).every((x) => x === 0) && candidate[10] === 0xff && candidate[11] === 0xff));
        const list = new BlockList();
        list.addSubnet(v6Text(network(base, prefix)), prefix, 'ipv6');
        const expected = list.check(v6Text(candidate), 'ipv6');
        assert.equal(matchesAny([range(`${v6Text(base)}/${prefix}`)], v6Text(candidate)), expected);
      }),
      { numRuns: 2000 },
    );
  });

  test('every address lies in each of its own ranges, and formatCidr round-trips', () => {
    fc.assert(
      fc.property(fc.oneof(ipv4.map(v4Text), ipv6.map(v6Text)), fc.integer({ min: 0, max: 128 }), (address, wanted) => {
        const prefix = address.includes(':') ? wanted : wanted % 33;
        const parsed = range(`${address}/${prefix}`);
        assert.equal(matchesAny([parsed], address), true);
        assert.deepEqual(parseCidr(formatCidr(parsed)), range(formatCidr(parsed)));
        assert.equal(formatCidr(range(formatCidr(parsed))), formatCidr(parsed));
      }),
    );
  });
});
