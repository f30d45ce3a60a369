import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Registry } from 'prom-client';
import { buildApp } from '../../../src/api/app.js';
import { readTlsFiles } from '../../../src/api/dual-protocol-server.js';
import { MemoryRateLimitStore } from '../../../src/api/rate-limit/memory-store.js';
import { RateLimiter } from '../../../src/api/rate-limit/rate-limiter.js';
import { writeDevCert } from '../../../src/cli/dev-cert-command.js';
import { createServices } from '../../../src/core/services.js';
import { systemClock } from '../../../src/core/clock.js';
import { createStore } from '../../../src/store/store.js';
import { createTestDatabase } from '../../helpers/databases.js';

/**
 * `dialplane dev-cert` writes a pair Node's TLS accepts, and with DIALPLANE_TLS_* the one HTTP port serves HTTPS and
 * plain HTTP side by side; a connection that never says anything does not hold the server's close.
 */
let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dialplane-tls-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('dev-cert: a self-signed pair for localhost, 127.0.0.1 and ::1, the key readable by its owner only', async () => {
  const written = await writeDevCert(join(dir, 'a'), { hosts: ['dialplane.test'], days: 30 });
  const cert = new X509Certificate(readFileSync(written.cert));
  assert.ok(cert.verify(cert.publicKey), 'self-signed');
  assert.ok(cert.checkPrivateKey(createPrivateKey(readFileSync(written.key))));
  for (const host of ['localhost', 'dialplane.test']) assert.equal(cert.checkHost(host), host);
  for (const ip of ['127.0.0.1', '::1']) assert.equal(cert.checkIP(ip), ip);
  assert.equal(cert.ca, false);
  const days = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 86_400_000;
  assert.ok(days > 30 && days < 30.1, `valid ${days} days`);
  assert.equal(statSync(written.key).mode & 0o777, 0o600);
  await assert.rejects(writeDevCert(join(dir, 'a')), /exists: pass --force/);
  await writeDevCert(join(dir, 'a'), { force: true });
  await assert.rejects(writeDevCert(join(dir, 'b'), { hosts: ['not a host'] }), /neither a host name nor an IP address/);
});

test('a certificate without its key (or the reverse) is refused, naming both variables', async () => {
  await assert.rejects(readTlsFiles({ tlsCert: '/x/cert.pem', tlsKey: undefined }), /DIALPLANE_TLS_CERT and DIALPLANE_TLS_KEY/);
  await assert.rejects(readTlsFiles({ tlsCert: undefined, tlsKey: '/x/key.pem' }), /DIALPLANE_TLS_CERT and DIALPLANE_TLS_KEY/);
  await assert.rejects(readTlsFiles({ tlsCert: '/nonexistent/cert.pem', tlsKey: '/nonexistent/key.pem' }), /DIALPLANE_TLS_CERT: cannot read/);
  assert.equal(await readTlsFiles({ tlsCert: undefined, tlsKey: undefined }), undefined);
});

function get(kind: 'http' | 'https', port: number, ca?: Buffer): Promise<{ status: number; body: string; encrypted: boolean }> {
  return new Promise((resolve, reject) => {
    const options = { host: '127.0.0.1', port, path: '/healthz', ...(ca ? { ca, servername: 'localhost' } : {}) };
    const req = (kind === 'https' ? httpsRequest : httpRequest)(options, (res) => {
      const chunks: Buffer[] = [];
      const encrypted = 'encrypted' in res.socket;
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), encrypted }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('one port answers HTTPS (the dev certificate verifies) and plain HTTP; close() is not held by a silent client', async () => {
  const written = await writeDevCert(join(dir, 'serve'));
  const tls = await readTlsFiles({ tlsCert: written.cert, tlsKey: written.key });
  assert.ok(tls);
  const db = await createTestDatabase('sqlite');
  const services = createServices(createStore(db.database), { clock: systemClock, defaultCountry: 'US', keyCacheTtlMs: 60_000 });
  const rateStore = new MemoryRateLimitStore();
  const app = await buildApp({
    services,
    http: { bodyLimit: 1_048_576, trustProxy: false },
    tls,
    rateLimiter: new RateLimiter(rateStore),
    logger: false,
    metrics: new Registry(),
    ready: async () => undefined,
  });
  try {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as AddressInfo;
    const secure = await get('https', port, tls.cert);
    assert.equal(secure.status, 200);
    assert.equal(secure.encrypted, true);
    assert.match(secure.body, /"status":"ok"/);
    const plain = await get('http', port);
    assert.equal(plain.status, 200);
    assert.equal(plain.encrypted, false);
    const silent = connect(port, '127.0.0.1');
    await new Promise((resolve) => silent.once('connect', resolve));
    const closed = new Promise((resolve) => silent.once('close', resolve));
    await app.close();
    await closed;
  } finally {
    await app.close();
    rateStore.close();
    await db.close();
  }
});
