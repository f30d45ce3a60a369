import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseTrunks, trunkEndpoint, trunkResolveRequest, trunkUri } from '../../src/carriers/trunks.js';
import { describeConfig, loadConfig } from '../../src/config/config.js';

const base = { username: 'global', password: 'global-secret', register: false, callerIdFormat: 'e164' as const, prefix: undefined };

test('trunks in failover order, with transport and port defaults', () => {
  const trunks = parseTrunks({ ...base, uri: 'sip:127.0.0.2, sip:carrier.example:5070;transport=tcp' });
  assert.deepEqual(
    trunks.map((t) => [t.host, t.port, t.transport]),
    [
      ['127.0.0.2', 5060, 'udp'],
      ['carrier.example', 5070, 'tcp'],
    ],
  );
});

test("a trunk's own credentials override the global ones, and its name never shows the password", () => {
  const [own, shared] = parseTrunks({ ...base, uri: 'sip:alice:s3cret@carrier.example,sip:backup.example' });
  assert.equal(own?.username, 'alice');
  assert.equal(own?.password, 's3cret');
  assert.equal(own?.name.includes('s3cret'), false);
  assert.equal(shared?.username, 'global');
  assert.equal(shared?.password, 'global-secret');
});

test('dialplane config masks a password inside DIALPLANE_TRUNK', () => {
  const config = loadConfig({ DIALPLANE_TRUNK: 'sip:alice:s3cret@carrier.example;transport=tcp' });
  const row = describeConfig(config).find((r) => r.variable === 'DIALPLANE_TRUNK');
  assert.equal(row?.value, 'sip:alice:********@carrier.example;transport=tcp');
});

test("a trunk's inbound= addresses and ranges, joined by +; without it, none (its host's addresses apply)", () => {
  const [listed, plain] = parseTrunks({ ...base, uri: 'sip:carrier.example;transport=udp;inbound=203.0.113.0/24+198.51.100.7+2001:db8::/32,sip:127.0.0.2' });
  assert.deepEqual(listed?.inbound?.map((r) => r.prefix), [24, 32, 32]);
  assert.equal(listed?.transport, 'udp');
  assert.equal(listed?.name, 'sip:carrier.example;transport=udp', 'call records name the trunk without its allow list');
  assert.equal(plain?.inbound, undefined);
  assert.throws(() => parseTrunks({ ...base, uri: 'sip:carrier.example;inbound=203.0.113.0/33' }), /"203\.0\.113\.0\/33" is not an IP address or CIDR range/);
  assert.throws(() => parseTrunks({ ...base, uri: 'sip:carrier.example;inbound=' }), /at least one/);
});

test('a DIALPLANE_TRUNK whose inbound= list holds no address or range stops the start', () => {
  assert.throws(() => loadConfig({ DIALPLANE_TRUNK: 'sip:carrier.example;inbound=carrier.example' }), /DIALPLANE_TRUNK: expected every ;inbound= entry/);
  assert.equal(loadConfig({ DIALPLANE_TRUNK: 'sip:carrier.example;inbound=203.0.113.0/24+2001:db8::/32' }).trunk.uri, 'sip:carrier.example;inbound=203.0.113.0/24+2001:db8::/32');
});

test('a trunk remembers whether its URI named the port and the transport, and is written back as it was', () => {
  const [bare, tcp, ported, address] = parseTrunks({ ...base, uri: 'sip:carrier.example,sip:carrier.example;transport=tcp,sip:carrier.example:5070,sip:[2001:db8::1]' });
  assert.deepEqual([bare, tcp, ported, address].map((t) => [t?.port, t?.portGiven, t?.transport, t?.transportGiven]), [
    [5060, false, 'udp', false],
    [5060, false, 'tcp', true],
    [5070, true, 'udp', false],
    [5060, false, 'udp', false],
  ]);
  // A host name keeps no port it was not given (its SRV records choose one); an address keeps 5060.
  assert.equal(trunkUri(bare!, '+14155550100'), 'sip:+14155550100@carrier.example');
  assert.equal(trunkUri(tcp!), 'sip:carrier.example;transport=tcp');
  assert.equal(trunkUri(ported!, '0527121102'), 'sip:0527121102@carrier.example:5070');
  assert.equal(trunkUri(address!), 'sip:[2001:db8::1]:5060');
  assert.deepEqual(trunkResolveRequest(bare!), { host: 'carrier.example' });
  assert.deepEqual(trunkResolveRequest(tcp!), { host: 'carrier.example', transport: 'tcp' });
  assert.deepEqual(trunkResolveRequest(ported!), { host: 'carrier.example', port: 5070 });
});

test("a trunk's srtp= policy: off by default, offer or require, anything else refused", () => {
  const [plain, offered, required] = parseTrunks({ ...base, uri: 'sip:127.0.0.2,sip:127.0.0.3;srtp=offer,sip:127.0.0.4;srtp=REQUIRE' });
  assert.equal(plain?.srtp, 'off');
  assert.equal(offered?.srtp, 'offer');
  assert.equal(required?.srtp, 'require');
  assert.throws(() => parseTrunks({ ...base, uri: 'sip:127.0.0.2;srtp=mandatory' }), /srtp must be off, offer or require/);
});

test('TLS trunks: transport=tls or a sips: URI, port 5061 by default, the certificate checked unless ;verify=off', () => {
  const [tls, sips, lab, pinned] = parseTrunks({
    ...base,
    uri: 'sip:carrier.example;transport=tls, sips:secure.example, sip:lab.example;transport=TLS;verify=off, sips:pinned.example:5071',
  });
  assert.deepEqual([tls?.transport, tls?.port, tls?.scheme, tls?.verify], ['tls', 5061, 'sip', true]);
  assert.deepEqual([sips?.transport, sips?.port, sips?.scheme, sips?.verify], ['tls', 5061, 'sips', true]);
  assert.deepEqual([lab?.transport, lab?.verify], ['tls', false]);
  assert.equal(lab?.name, 'sip:lab.example;transport=TLS;verify=off', 'an unverified trunk says so wherever it is named');
  assert.equal(pinned?.port, 5071);
});

test('a TLS trunk endpoint names the host its certificate must show; other trunks have none', () => {
  const [tls, udp] = parseTrunks({ ...base, uri: 'sip:carrier.example;transport=tls,sip:carrier.example' });
  assert.deepEqual(trunkEndpoint(tls!, '192.0.2.10'), { transport: 'tls', address: '192.0.2.10', port: 5061, tls: { serverName: 'carrier.example', verify: true } });
  assert.deepEqual(trunkEndpoint(udp!, '192.0.2.10'), { transport: 'udp', address: '192.0.2.10', port: 5060 });
});

test('unknown transports and verify values are refused; sips: takes no transport=udp', () => {
  assert.throws(() => parseTrunks({ ...base, uri: 'sip:carrier.example;transport=sctp' }), /transport must be udp, tcp or tls/);
  assert.throws(() => parseTrunks({ ...base, uri: 'sips:carrier.example;transport=udp' }), /tls for sips:/);
  assert.throws(() => parseTrunks({ ...base, uri: 'sip:carrier.example;transport=tls;verify=maybe' }), /verify must be on or off/);

});
