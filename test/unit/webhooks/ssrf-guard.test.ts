import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  SsrfError,
  assertAllowedTarget,
  classifyAddress,
  isAllowedTarget,
  normalizeAddress,
  sameAddress,
} from '../../../src/webhooks/ssrf-guard.js';
import type { AddressClass } from '../../../src/webhooks/ssrf-guard.js';

const TABLE: ReadonlyArray<readonly [string, AddressClass]> = [
  // IPv4
  ['0.0.0.0', 'unspecified'],
  ['0.1.2.3', 'unspecified'],
  ['127.0.0.1', 'loopback'],
  ['127.255.255.254', 'loopback'],
  ['10.0.0.1', 'private'],
  ['10.255.255.255', 'private'],
  ['172.16.0.1', 'private'],
  ['172.31.255.255', 'private'],
  ['172.15.255.255', 'public'],
  ['172.32.0.0', 'public'],
  ['192.168.1.1', 'private'],
  ['169.254.169.254', 'metadata'],
  ['169.254.170.2', 'metadata'],
  ['100.100.100.200', 'metadata'],
  ['169.254.0.1', 'link_local'],
  ['169.254.255.255', 'link_local'],
  ['100.64.0.1', 'cgnat'],
  ['100.127.255.255', 'cgnat'],
  ['100.128.0.0', 'public'],
  ['224.0.0.1', 'multicast'],
  ['239.255.255.250', 'multicast'],
  ['240.0.0.1', 'reserved'],
  ['255.255.255.255', 'reserved'],
  ['192.0.2.10', 'documentation'],
  ['198.51.100.7', 'documentation'],
  ['203.0.113.200', 'documentation'],
  ['198.18.0.1', 'reserved'],
  ['192.0.0.8', 'reserved'],
  ['8.8.8.8', 'public'],
  ['93.184.216.34', 'public'],
  ['1.1.1.1', 'public'],
  // IPv6
  ['::', 'unspecified'],
  ['::1', 'loopback'],
  ['0:0:0:0:0:0:0:1', 'loopback'],
  ['[::1]', 'loopback'],
  ['fc00::1', 'ula'],
  ['fd00::1', 'ula'],
  ['fdff:ffff::1', 'ula'],
  ['fd00:ec2::254', 'metadata'],
  ['FD00:EC2:0:0:0:0:0:254', 'metadata'],
  ['fe80::1', 'link_local'],
  ['fe80::1%eth0', 'link_local'],
  ['febf::1', 'link_local'],
  ['fec0::1', 'private'],
  ['ff02::1', 'multicast'],
  ['ff05::1:3', 'multicast'],
  ['2001:db8::1', 'documentation'],
  ['3fff::1', 'documentation'],
  ['2001::1', 'reserved'], // Teredo
  ['100::1', 'reserved'],
  ['2606:4700:4700::1111', 'public'],
  ['2001:4860:4860::8888', 'public'],
  ['4000::1', 'reserved'],
  // IPv4-mapped, in both spellings
  ['::ffff:10.0.0.1', 'private'],
  ['::ffff:a00:1', 'private'],
  ['::ffff:127.0.0.1', 'loopback'],
  ['::ffff:7f00:1', 'loopback'],
  ['::ffff:169.254.169.254', 'metadata'],
  ['::ffff:a9fe:a9fe', 'metadata'],
  ['::ffff:0.0.0.0', 'unspecified'],
  ['::ffff:8.8.8.8', 'public'],
  ['0:0:0:0:0:ffff:c0a8:101', 'private'],
  // SIIT translated
  ['::ffff:0:7f00:1', 'loopback'],
  // IPv4-compatible (deprecated): never public
  ['::127.0.0.1', 'loopback'],
  ['::a00:1', 'private'],
  ['::8.8.8.8', 'reserved'],
  // NAT64
  ['64:ff9b::7f00:1', 'loopback'],
  ['64:ff9b::169.254.169.254', 'metadata'],
  ['64:ff9b::8.8.8.8', 'public'],
  ['64:ff9b:1::a00:1', 'private'],
  ['64:ff9b:1::808:808', 'reserved'],
  // 6to4
  ['2002:7f00:1::1', 'loopback'],
  ['2002:a9fe:a9fe::', 'metadata'],
  ['2002:c0a8:101::1', 'private'],
  ['2002:808:808::1', 'public'],
];

describe('classifyAddress', () => {
  for (const [ip, expected] of TABLE) {
    test(`${ip} -> ${expected}`, () => {
      assert.equal(classifyAddress(ip), expected);
    });
  }

  test('throws SsrfError(invalid_address) for non-addresses', () => {
    for (const bad of ['', 'localhost', '1.2.3', '010.0.0.1', '1.2.3.4.5', '::g', '1:2:3:4:5:6:7:8:9', 'example.com']) {
      assert.throws(
        () => classifyAddress(bad),
        (err: unknown) => err instanceof SsrfError && err.code === 'invalid_address',
        bad,
      );
    }
  });

  const octet = fc.integer({ min: 0, max: 255 });
  const internal = fc.oneof(
    fc.tuple(octet, octet, octet).map(([b, c, d]) => `10.${b}.${c}.${d}`),
    fc.tuple(octet, octet).map(([c, d]) => `192.168.${c}.${d}`),
    fc.tuple(octet, octet, octet).map(([b, c, d]) => `127.${b}.${c}.${d}`),
  );

  test('property: random addresses in 10/8, 192.168/16, 127/8 are never public (also IPv4-mapped)', () => {
    fc.assert(
      fc.property(internal, (ip) => {
        assert.notEqual(classifyAddress(ip), 'public');
        assert.notEqual(classifyAddress(`::ffff:${ip}`), 'public');
        assert.equal(isAllowedTarget(ip, { allowPrivate: false }), false);
      }),
      { numRuns: 2000 },
    );
  });

  test('property: mapped hex spelling classifies like the dotted IPv4', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (n) => {
        const dotted = [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
        const hex = `::ffff:${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
        assert.equal(classifyAddress(hex), classifyAddress(dotted));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('isAllowedTarget', () => {
  test('guard on: only public addresses', () => {
    const off = { allowPrivate: false };
    assert.equal(isAllowedTarget('93.184.216.34', off), true);
    assert.equal(isAllowedTarget('2606:4700:4700::1111', off), true);
    for (const ip of ['127.0.0.1', '10.0.0.1', '192.168.1.1', '169.254.169.254', '::1', 'fd00::1', 'fe80::1', '0.0.0.0', '::', '100.64.0.1', '224.0.0.1', '192.0.2.1', '::ffff:10.0.0.1']) {
      assert.equal(isAllowedTarget(ip, off), false, ip);
    }
  });

  test('allowPrivate permits loopback/private/ula/link_local but never metadata or unspecified', () => {
    const on = { allowPrivate: true };
    for (const ip of ['127.0.0.1', '10.0.0.1', '172.16.5.5', '192.168.1.1', '::1', 'fd00::1', 'fe80::1%eth0', '169.254.1.1', '::ffff:192.168.0.1']) {
      assert.equal(isAllowedTarget(ip, on), true, ip);
    }
    for (const ip of ['169.254.169.254', '::ffff:169.254.169.254', 'fd00:ec2::254', '0.0.0.0', '::', '::ffff:0.0.0.0', '224.0.0.1', 'ff02::1', '240.0.0.1', '192.0.2.1', '100.64.0.1']) {
      assert.equal(isAllowedTarget(ip, on), false, ip);
    }
  });

  test('invalid input is never allowed', () => {
    assert.equal(isAllowedTarget('localhost', { allowPrivate: true }), false);
    assert.equal(isAllowedTarget('', { allowPrivate: true }), false);
  });

  test('assertAllowedTarget throws a coded SsrfError with the class', () => {
    assert.throws(
      () => assertAllowedTarget('169.254.169.254', { allowPrivate: true }, 'evil.test'),
      (err: unknown) =>
        err instanceof SsrfError &&
        err.code === 'disallowed_address' &&
        err.details.addressClass === 'metadata' &&
        err.details.host === 'evil.test',
    );
    assert.equal(assertAllowedTarget('8.8.8.8', { allowPrivate: false }), 'public');
  });
});

describe('normalizeAddress / sameAddress', () => {
  test('canonical forms', () => {
    assert.equal(normalizeAddress('::ffff:127.0.0.1'), '127.0.0.1');
    assert.equal(normalizeAddress('::ffff:7f00:1'), '127.0.0.1');
    assert.equal(normalizeAddress('[::1]'), '0:0:0:0:0:0:0:1');
    assert.equal(normalizeAddress('FE80::1%eth0'), 'fe80:0:0:0:0:0:0:1');
    assert.equal(sameAddress('2001:DB8::1', '2001:db8:0:0::1'), true);
    assert.equal(sameAddress('127.0.0.1', '127.0.0.2'), false);
    assert.equal(sameAddress('127.0.0.1', 'nonsense'), false);
  });
});
