import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { test } from 'node:test';
import { parseTrunks } from '../../src/carriers/trunks.js';
import { checkSipTls } from '../../src/cli/doctor-tls.js';
import { probeOptions } from '../../src/cli/doctor.js';
import { loadConfig } from '../../src/config/config.js';
import { SipStack } from '../../src/sip/ua/sip-stack.js';
import { makeTestCertificate } from '../helpers/tls-cert.js';

/** `dialplane doctor` on SIP over TLS: the certificate lines, and an OPTIONS probe that verifies as calls do. */

test('doctor: SIP over TLS off, on with a self-signed certificate, a key of another certificate, an unverified trunk', async (t) => {
  const cert = await makeTestCertificate(t, { days: 365 });
  const other = await makeTestCertificate(t);
  const soon = await makeTestCertificate(t, { days: 3 });
  const config = (env: Record<string, string>) => loadConfig({ DIALPLANE_DATA_DIR: '/nonexistent-unused', ...env });

  const off = await checkSipTls(config({}), []);
  assert.deepEqual(off.map((l) => l.status), ['ok']);
  assert.match(off[0]!.message, /SIP over TLS is off/);

  const on = await checkSipTls(config({ DIALPLANE_SIP_TLS_CERT: cert.certFile, DIALPLANE_SIP_TLS_KEY: cert.keyFile }), []);
  assert.equal(on[0]?.status, 'warn');
  assert.match(on[0]!.message, /certificate for DNS:localhost, IP Address:127\.0\.0\.1.*self-signed/);
  assert.ok(!JSON.stringify(on).includes('PRIVATE KEY'), 'no key material in the output');

  const expiring = await checkSipTls(config({ DIALPLANE_SIP_TLS_CERT: soon.certFile, DIALPLANE_SIP_TLS_KEY: soon.keyFile }), []);
  assert.equal(expiring[0]?.status, 'warn');
  assert.match(expiring[0]!.message, /expires within 14 days/);

  const mismatched = await checkSipTls(config({ DIALPLANE_SIP_TLS_CERT: cert.certFile, DIALPLANE_SIP_TLS_KEY: other.keyFile }), []);
  assert.equal(mismatched[0]?.status, 'fail');
  assert.match(mismatched[0]!.message, /not a usable certificate and key pair/);

  const half = await checkSipTls(config({ DIALPLANE_SIP_TLS_CERT: cert.certFile }), []);
  assert.match(half[0]!.message, /set together or not at all/);

  const badCa = `${cert.certFile}.not-a-ca`;
  await writeFile(badCa, 'hello');
  const ca = await checkSipTls(config({ DIALPLANE_SIP_TLS_CA: badCa }), []);
  assert.equal(ca[0]?.status, 'fail');
  assert.match(ca[0]!.message, /DIALPLANE_SIP_TLS_CA/);

  const trunks = parseTrunks({ uri: 'sip:127.0.0.1:5071;transport=tls;verify=off', username: undefined, password: undefined, register: false, callerIdFormat: 'e164', prefix: undefined });
  const lab = await checkSipTls(config({}), trunks);
  assert.deepEqual(lab.map((l) => l.status), ['warn', 'warn']);
  assert.match(lab[0]!.message, /no SIP certificate is configured/);
  assert.match(lab[1]!.message, /not verified \(;verify=off\)/);
});

test('doctor: the OPTIONS probe over TLS answers when the trunk is trusted, and names a refused certificate', async (t) => {
  const cert = await makeTestCertificate(t);
  const stack = new SipStack({ host: '127.0.0.1', port: 0, tls: { cert: cert.cert, key: cert.key, port: 0 } });
  stack.setHandlers({ onRequest: (incoming) => void incoming.respond(200, 'OK') });
  await stack.start();
  t.after(() => stack.stop());
  const trunk = { host: '127.0.0.1', port: stack.transports.tlsPort, transport: 'tls' as const };
  const trusted = await probeOptions(trunk, 3000, { ca: [cert.cert] });
  assert.equal(trusted?.status, 200);
  let failure = '';
  const refused = await probeOptions(trunk, 3000, { onError: (message) => (failure = message) });
  assert.equal(refused, undefined);
  assert.match(failure, /self[- ]signed/i);
});
