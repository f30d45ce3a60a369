import assert from 'node:assert/strict';
import type { NaptrRecord, SrvRecord } from 'node:dns';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { parseTrunks } from '../../../../src/carriers/trunks.js';
import { trunkTargets } from '../../../../src/carriers/trunk-targets.js';
import { orderSrv, SipResolveError, SipResolver, usableNaptr, type DnsResolver, type SipTarget } from '../../../../src/sip/transport/sip-resolver.js';

/**
 * RFC 3263 resolution against an in-memory zone: the resolver's DNS is injected, so no query leaves the process.
 * Names the zone lacks fail as the system resolver does (ENOTFOUND), and every query is recorded.
 */
interface Zone {
  naptr?: Record<string, NaptrRecord[]>;
  srv?: Record<string, SrvRecord[]>;
  a?: Record<string, string[]>;
  aaaa?: Record<string, string[]>;
  /** Queries (`A name`, `SRV name`, ...) that fail with a server error rather than "no such name". */
  broken?: string[];
}

function fakeDns(zone: Zone): DnsResolver & { readonly asked: string[] } {
  const asked: string[] = [];
  const answer = <T>(kind: string, table: Record<string, T[]> | undefined, name: string): Promise<T[]> => {
    asked.push(`${kind} ${name}`);
    if (zone.broken?.includes(`${kind} ${name}`)) return Promise.reject(Object.assign(new Error(`queryX ESERVFAIL ${name}`), { code: 'ESERVFAIL' }));
    const found = table?.[name];
    if (found) return Promise.resolve(found.map((r) => (typeof r === 'object' ? { ...r } : r)));
    return Promise.reject(Object.assign(new Error(`query ENOTFOUND ${name}`), { code: 'ENOTFOUND' }));
  };
  return {
    asked,
    resolveNaptr: (name) => answer('NAPTR', zone.naptr, name),
    resolveSrv: (name) => answer('SRV', zone.srv, name),
    resolve4: (name) => answer('A', zone.a, name),
    resolve6: (name) => answer('AAAA', zone.aaaa, name),
  };
}

const naptr = (order: number, preference: number, service: string, replacement: string, flags = 's'): NaptrRecord => ({
  flags,
  service,
  regexp: '',
  replacement,
  order,
  preference,
});
const srv = (priority: number, weight: number, port: number, name: string): SrvRecord => ({ priority, weight, port, name });
const target = (transport: SipTarget['transport'], address: string, port: number): SipTarget => ({ transport, address, port });

/** A random source that plays back the given draws, then 0. */
function draws(...values: number[]): () => number {
  let i = 0;
  return () => values[i++] ?? 0;
}

describe('SipResolver (RFC 3263)', () => {
  test('a numeric host asks no DNS: UDP on 5060 unless the URI says otherwise', async () => {
    const dns = fakeDns({});
    const resolver = new SipResolver({ dns });
    assert.deepEqual(await resolver.resolve({ host: '127.0.0.5' }), [target('udp', '127.0.0.5', 5060)]);
    assert.deepEqual(await resolver.resolve({ host: '[::1]', port: 5070, transport: 'tcp' }), [target('tcp', '::1', 5070)]);
    assert.deepEqual(await resolver.resolve({ host: '::1', transport: 'tls' }), [target('tls', '::1', 5061)]);
    assert.deepEqual(dns.asked, []);
  });

  test('NAPTR → SRV → A: the NAPTR order chooses the transport, the SRV records the hosts and ports', async () => {
    const dns = fakeDns({
      naptr: {
        'carrier.test': [
          naptr(20, 10, 'SIP+D2U', '_sip._udp.carrier.test'),
          naptr(10, 20, 'SIP+D2T', '_sip._tcp.carrier.test'),
          naptr(10, 10, 'SIPS+D2T', '_sips._tcp.carrier.test'),
        ],
      },
      srv: {
        '_sip._tcp.carrier.test': [srv(10, 0, 5080, 'b.carrier.test'), srv(5, 0, 5070, 'a.carrier.test')],
        '_sip._udp.carrier.test': [srv(10, 0, 5060, 'c.carrier.test')],
        '_sips._tcp.carrier.test': [srv(10, 0, 5061, 'a.carrier.test')],
      },
      a: { 'a.carrier.test': ['192.0.2.1'], 'b.carrier.test': ['192.0.2.2'], 'c.carrier.test': ['192.0.2.3'] },
    });
    const resolver = new SipResolver({ dns, random: draws() });
    // Without TLS the SIPS record (order 10, preference 10) is passed over: TCP first, then UDP as a further fallback.
    assert.deepEqual(await resolver.resolve({ host: 'carrier.test' }), [
      target('tcp', '192.0.2.1', 5070),
      target('tcp', '192.0.2.2', 5080),
      target('udp', '192.0.2.3', 5060),
    ]);
    // With TLS available it comes first.
    const withTls = await new SipResolver({ dns, random: draws() }).resolve({ host: 'carrier.test', tls: true });
    assert.deepEqual(withTls[0], target('tls', '192.0.2.1', 5061));
    assert.deepEqual(withTls.slice(1).map((t) => t.transport), ['tcp', 'tcp', 'udp']);
  });

  test('NAPTR records we cannot use (other flags, services or an empty replacement) are passed over', () => {
    const records = [
      naptr(1, 1, 'E2U+sip', 'x.test'),
      naptr(2, 1, 'SIP+D2U', 'x.test', 'u'),
      naptr(3, 1, 'SIP+D2S', '_sip._sctp.x.test'),
      naptr(4, 1, 'SIP+D2U', ''),
      naptr(5, 2, 'sip+d2u', '_sip._udp.x.test'),
      naptr(5, 1, 'SIP+D2T', '_sip._tcp.x.test'),
      naptr(6, 1, 'SIPS+D2T', '_sips._tcp.x.test'),
    ];
    assert.deepEqual(usableNaptr(records, false).map((r) => r.replacement), ['_sip._tcp.x.test', '_sip._udp.x.test']);
    assert.deepEqual(usableNaptr(records, true).map((r) => r.replacement), ['_sip._tcp.x.test', '_sip._udp.x.test', '_sips._tcp.x.test']);
  });

  test('no NAPTR: SRV for UDP, then TCP (TLS only when available); NAPTR whose SRV names have no records falls back likewise', async () => {
    const zone: Zone = {
      naptr: { 'nonaptr.test': [naptr(1, 1, 'SIP+D2T', '_sip._tcp.missing.test')] },
      srv: {
        '_sip._udp.nonaptr.test': [srv(1, 0, 5062, 'host.nonaptr.test')],
        '_sip._tcp.nonaptr.test': [srv(1, 0, 5063, 'host.nonaptr.test')],
        '_sips._tcp.nonaptr.test': [srv(1, 0, 5064, 'host.nonaptr.test')],
        '_sip._tcp.plain.test': [srv(1, 0, 5065, 'host.nonaptr.test')],
      },
      a: { 'host.nonaptr.test': ['198.51.100.9'] },
    };
    const resolver = new SipResolver({ dns: fakeDns(zone) });
    assert.deepEqual(await resolver.resolve({ host: 'nonaptr.test' }), [
      target('udp', '198.51.100.9', 5062),
      target('tcp', '198.51.100.9', 5063),
    ]);
    assert.deepEqual((await resolver.resolve({ host: 'nonaptr.test', tls: true })).map((t) => t.port), [5062, 5063, 5064]);
    assert.deepEqual(await resolver.resolve({ host: 'plain.test' }), [target('tcp', '198.51.100.9', 5065)]);
  });

  test('no NAPTR, no SRV: A then AAAA on UDP 5060', async () => {
    const dns = fakeDns({ a: { 'only-a.test': ['203.0.113.4', '203.0.113.5'] }, aaaa: { 'only-a.test': ['2001:db8::4'] } });
    const resolver = new SipResolver({ dns });
    assert.deepEqual(await resolver.resolve({ host: 'only-a.test' }), [
      target('udp', '203.0.113.4', 5060),
      target('udp', '203.0.113.5', 5060),
      target('udp', '2001:db8::4', 5060),
    ]);
    assert.deepEqual(dns.asked, [
      'NAPTR only-a.test',
      'SRV _sip._udp.only-a.test',
      'SRV _sip._tcp.only-a.test',
      'A only-a.test',
      'AAAA only-a.test',
    ]);
  });

  test('an IPv6-only host, and an SRV target with only an AAAA record', async () => {
    const resolver = new SipResolver({
      dns: fakeDns({
        aaaa: { 'v6.test': ['2001:db8::6'], 'sip6.v6srv.test': ['2001:db8::7'] },
        srv: { '_sip._udp.v6srv.test': [srv(1, 0, 5090, 'sip6.v6srv.test.')] },
      }),
    });
    assert.deepEqual(await resolver.resolve({ host: 'v6.test' }), [target('udp', '2001:db8::6', 5060)]);
    assert.deepEqual(await resolver.resolve({ host: 'v6srv.test' }), [target('udp', '2001:db8::7', 5090)]);
  });

  test('an explicit port asks A/AAAA only; an explicit transport asks SRV for that transport only', async () => {
    const zone: Zone = {
      naptr: { 'both.test': [naptr(1, 1, 'SIP+D2U', '_sip._udp.both.test')] },
      srv: {
        '_sip._udp.both.test': [srv(1, 0, 5072, 'srv.both.test')],
        '_sip._tcp.both.test': [srv(1, 0, 5073, 'srv.both.test')],
      },
      a: { 'both.test': ['192.0.2.10'], 'srv.both.test': ['192.0.2.11'], 'nosrv.test': ['192.0.2.12'] },
    };
    const dns = fakeDns(zone);
    const resolver = new SipResolver({ dns });
    assert.deepEqual(await resolver.resolve({ host: 'both.test', port: 5099 }), [target('udp', '192.0.2.10', 5099)]);
    assert.deepEqual(await resolver.resolve({ host: 'both.test', port: 5099, transport: 'tcp' }), [target('tcp', '192.0.2.10', 5099)]);
    assert.equal(dns.asked.some((q) => q.startsWith('NAPTR') || q.startsWith('SRV')), false);
    assert.deepEqual(await resolver.resolve({ host: 'both.test', transport: 'tcp' }), [target('tcp', '192.0.2.11', 5073)]);
    assert.equal(dns.asked.some((q) => q.startsWith('NAPTR')), false);
    // A transport without SRV records: the host's own address on the transport's default port.
    assert.deepEqual(await resolver.resolve({ host: 'nosrv.test', transport: 'tls' }), [target('tls', '192.0.2.12', 5061)]);
  });

  test('NXDOMAIN everywhere: the system lookup (/etc/hosts) is asked last, and without an answer the resolution fails', async () => {
    const withHosts = new SipResolver({ dns: fakeDns({}), lookup: async (host) => (host === 'hosts-file.test' ? ['127.0.0.9'] : []) });
    assert.deepEqual(await withHosts.resolve({ host: 'hosts-file.test' }), [target('udp', '127.0.0.9', 5060)]);
    await assert.rejects(withHosts.resolve({ host: 'nowhere.test' }), SipResolveError);
    await assert.rejects(new SipResolver({ dns: fakeDns({}) }).resolve({ host: 'nowhere.test' }), /nowhere\.test: no SIP target/);
  });

  test('a server failure on NAPTR or SRV is treated as no records; a "." SRV target offers nothing', async () => {
    const resolver = new SipResolver({
      dns: fakeDns({
        broken: ['NAPTR flaky.test', 'SRV _sip._udp.flaky.test'],
        srv: { '_sip._tcp.flaky.test': [srv(1, 0, 0, '.')] },
        a: { 'flaky.test': ['192.0.2.30'] },
      }),
    });
    assert.deepEqual(await resolver.resolve({ host: 'flaky.test' }), [target('udp', '192.0.2.30', 5060)]);
  });

  test('SRV targets that resolve to the same address and port are listed once', async () => {
    const resolver = new SipResolver({
      dns: fakeDns({
        srv: { '_sip._udp.dup.test': [srv(1, 0, 5060, 'a.dup.test'), srv(2, 0, 5060, 'b.dup.test')] },
        a: { 'a.dup.test': ['192.0.2.40'], 'b.dup.test': ['192.0.2.40', '192.0.2.41'] },
      }),
    });
    assert.deepEqual(await resolver.resolve({ host: 'dup.test' }), [target('udp', '192.0.2.40', 5060), target('udp', '192.0.2.41', 5060)]);
  });

  test('answers are cached for the TTL on the injected clock, then asked again', async () => {
    let now = 1_000;
    const dns = fakeDns({ a: { 'cached.test': ['192.0.2.50'] } });
    const resolver = new SipResolver({ dns, now: () => now, cacheTtlMs: 30_000 });
    await resolver.resolve({ host: 'cached.test', port: 5060 });
    await resolver.resolve({ host: 'cached.test', port: 5060 });
    assert.equal(dns.asked.filter((q) => q === 'A cached.test').length, 1);
    now += 30_000;
    await resolver.resolve({ host: 'cached.test', port: 5060 });
    assert.equal(dns.asked.filter((q) => q === 'A cached.test').length, 2);
  });

  test('a server failure is not cached: the next resolution asks again', async () => {
    const zone: Zone = { broken: ['A recovering.test', 'AAAA recovering.test'] };
    const dns = fakeDns(zone);
    const resolver = new SipResolver({ dns, lookup: async () => [] });
    await assert.rejects(resolver.resolve({ host: 'recovering.test', port: 5060 }));
    zone.broken = [];
    zone.a = { 'recovering.test': ['192.0.2.60'] };
    assert.deepEqual(await resolver.resolve({ host: 'recovering.test', port: 5060 }), [target('udp', '192.0.2.60', 5060)]);
  });
});

describe('orderSrv (RFC 2782)', () => {
  const records = [srv(20, 0, 1, 'backup.test'), srv(10, 60, 2, 'big.test'), srv(10, 30, 3, 'small.test'), srv(10, 0, 4, 'zero.test')];

  test('lowest priority first; within it, a draw over the running sums of the weights', () => {
    // Priority 10: zero (running sum 0), big (60), small (90): total 90, a draw in [0, 90].
    // random 0.5 → floor(0.5 * 91) = 45 → big; then zero (0), small (30): 0.9 → floor(0.9 * 31) = 27 → small; then zero.
    assert.deepEqual(orderSrv(records, draws(0.5, 0.9)).map((r) => r.name), ['big.test', 'small.test', 'zero.test', 'backup.test']);
    // random 0.8 → 72 → small (running 90); then zero, big: 0.99 → 60 → big; then zero.
    assert.deepEqual(orderSrv(records, draws(0.8, 0.99)).map((r) => r.name), ['small.test', 'big.test', 'zero.test', 'backup.test']);
    // A draw of 0 takes the weight-0 record, placed first as the RFC arranges.
    assert.deepEqual(orderSrv(records, draws(0)).map((r) => r.name), ['zero.test', 'big.test', 'small.test', 'backup.test']);
  });

  test('over many draws each record leads its priority about as often as its weight says', () => {
    let seed = 12345;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const first = new Map<string, number>();
    const rounds = 9_000;
    for (let i = 0; i < rounds; i++) {
      const name = orderSrv(records, random)[0]!.name;
      first.set(name, (first.get(name) ?? 0) + 1);
    }
    // Weights 60 : 30 : 0 over a draw of 91 values: 60/91, 30/91, 1/91.
    assert.ok(Math.abs((first.get('big.test') ?? 0) / rounds - 60 / 91) < 0.03, JSON.stringify([...first]));
    assert.ok(Math.abs((first.get('small.test') ?? 0) / rounds - 30 / 91) < 0.03, JSON.stringify([...first]));
    assert.equal(first.get('backup.test'), undefined);
  });

  test('property: a permutation of the usable records, priorities never decreasing', () => {
    const record = fc.record({
      priority: fc.integer({ min: 0, max: 3 }),
      weight: fc.integer({ min: 0, max: 100 }),
      port: fc.integer({ min: 1, max: 65535 }),
      name: fc.constantFrom('a.test', 'b.test', 'c.test', '.'),
    });
    fc.assert(
      fc.property(fc.array(record, { maxLength: 12 }), fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { maxLength: 20 }), (list, randoms) => {
        const ordered = orderSrv(list, draws(...randoms));
        const usable = list.filter((r) => r.name !== '.');
        assert.equal(ordered.length, usable.length);
        for (const r of ordered) assert.ok((usable as SrvRecord[]).includes(r));
        for (let i = 1; i < ordered.length; i++) assert.ok(ordered[i - 1]!.priority <= ordered[i]!.priority);
      }),
      { numRuns: 300, interruptAfterTimeLimit: 5_000 },
    );
  });
});

test('property: every target comes from the records (an SRV port and address of its target, or the host’s own address)', async () => {
  const names = ['h1.test', 'h2.test', 'h3.test'];
  const address = fc.oneof(fc.ipV4(), fc.ipV6());
  const zoneArb = fc.record({
    naptr: fc.array(
      fc.record({
        order: fc.integer({ min: 0, max: 3 }),
        preference: fc.integer({ min: 0, max: 3 }),
        service: fc.constantFrom('SIP+D2U', 'SIP+D2T', 'SIPS+D2T', 'E2U+sip'),
        replacement: fc.constantFrom('_sip._udp.zone.test', '_sip._tcp.zone.test', '_sips._tcp.zone.test', ''),
        flags: fc.constantFrom('s', 'S', 'u'),
      }),
      { maxLength: 4 },
    ),
    srv: fc.dictionary(
      fc.constantFrom('_sip._udp.zone.test', '_sip._tcp.zone.test', '_sips._tcp.zone.test'),
      fc.array(
        fc.record({ priority: fc.nat(3), weight: fc.nat(50), port: fc.integer({ min: 1, max: 65535 }), name: fc.constantFrom(...names, '.') }),
        { maxLength: 4 },
      ),
    ),
    a: fc.dictionary(fc.constantFrom('zone.test', ...names), fc.array(fc.ipV4(), { maxLength: 2 })),
    aaaa: fc.dictionary(fc.constantFrom('zone.test', ...names), fc.array(address, { maxLength: 2 })),
    tls: fc.boolean(),
    port: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
    transport: fc.option(fc.constantFrom('udp' as const, 'tcp' as const, 'tls' as const), { nil: undefined }),
  });
  await fc.assert(
    fc.asyncProperty(zoneArb, fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), async (zone, r) => {
      const dns = fakeDns({ naptr: { 'zone.test': zone.naptr.map((n) => ({ ...n, regexp: '' })) }, srv: zone.srv, a: zone.a, aaaa: zone.aaaa });
      const resolver = new SipResolver({ dns, random: () => r });
      let targets: SipTarget[];
      try {
        targets = await resolver.resolve({ host: 'zone.test', tls: zone.tls, port: zone.port, transport: zone.transport });
      } catch (error) {
        assert.ok(error instanceof SipResolveError);
        return;
      }
      const addressesOf = (name: string) => [...(zone.a[name] ?? []), ...(zone.aaaa[name] ?? [])];
      const prefix = { udp: '_sip._udp.', tcp: '_sip._tcp.', tls: '_sips._tcp.' } as const;
      for (const t of targets) {
        if (!zone.tls && zone.transport !== 'tls') assert.notEqual(t.transport, 'tls');
        if (zone.transport) assert.equal(t.transport, zone.transport);
        // NAPTR may name any SRV name for a transport; without NAPTR it is the transport's own name.
        const srvNames = zone.naptr.length > 0 ? Object.keys(zone.srv) : [`${prefix[t.transport]}zone.test`];
        const fromSrv = srvNames.some((name) => (zone.srv[name] ?? []).some((s) => s.port === t.port && addressesOf(s.name).includes(t.address)));
        const fromHost = addressesOf('zone.test').includes(t.address) && t.port === (zone.port ?? (t.transport === 'tls' ? 5061 : 5060));
        assert.ok(fromSrv || fromHost, `${JSON.stringify(t)} is in no record`);
        if (zone.port !== undefined) assert.ok(fromHost && t.port === zone.port);
      }
    }),
    { numRuns: 200, interruptAfterTimeLimit: 5_000 },
  );
});

test('a trunk asks by what its URI names: port and transport only when written', async () => {
  const dns = fakeDns({
    srv: { '_sip._udp.trunk.test': [srv(1, 0, 5080, 'edge.trunk.test')], '_sip._tcp.trunk.test': [srv(1, 0, 5081, 'edge.trunk.test')] },
    a: { 'trunk.test': ['192.0.2.70'], 'edge.trunk.test': ['192.0.2.71'] },
  });
  const targetsOf = trunkTargets(new SipResolver({ dns }));
  const base = { username: undefined, password: undefined, register: false, callerIdFormat: 'e164' as const, prefix: undefined };
  const [bare, tcp, ported] = parseTrunks({ ...base, uri: 'sip:trunk.test,sip:trunk.test;transport=tcp,sip:trunk.test:5090' });
  assert.deepEqual(await targetsOf(bare!), [
    { transport: 'udp', address: '192.0.2.71', port: 5080 },
    { transport: 'tcp', address: '192.0.2.71', port: 5081 },
  ]);
  assert.deepEqual(await targetsOf(tcp!), [{ transport: 'tcp', address: '192.0.2.71', port: 5081 }]);
  assert.deepEqual(await targetsOf(ported!), [{ transport: 'udp', address: '192.0.2.70', port: 5090 }]);
});
