import assert from 'node:assert/strict';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import { after, before, test, type TestContext } from 'node:test';
import type { Services } from '../../../src/core/services.js';
import type { TestDatabase } from '../../helpers/databases.js';
import { waitUntil } from '../../helpers/processes.js';
import { CALLER_NUMBER, createCallingAccount, startTestTelephony } from '../../helpers/telephony.js';
import { makeTestCertificate } from '../../helpers/tls-cert.js';

/**
 * Outbound calls to a TLS trunk whose certificate no trusted CA vouches for: the leg fails at once as a transport
 * error (the call ends failed, not after a ring timeout), and not a byte of SIP reaches the server. A trunk marked
 * `;verify=off` is the one exception, for labs.
 */
let db: TestDatabase;
let services: Services;
let accountId: string;

before(async () => {
  ({ db, services, accountId } = await createCallingAccount('TLS trunk'));
});
after(async () => db.close());

async function tlsServer(t: TestContext): Promise<{ port: number; received: () => string }> {
  const cert = await makeTestCertificate(t);
  let received = '';
  const sockets = new Set<TLSSocket>();
  const server: Server = createServer({ cert: cert.cert, key: cert.key }, (socket) => {
    sockets.add(socket);
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    socket.on('error', () => undefined);
  });
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const address = server.address();
  return { port: typeof address === 'object' && address ? address.port : 0, received: () => received };
}

test('an untrusted trunk certificate fails the call as a transport error, and nothing is sent', async (t) => {
  const server = await tlsServer(t);
  const telephony = await startTestTelephony(services, { rtpPorts: '51800-51899', trunk: `sip:127.0.0.1:${server.port};transport=tls` });
  t.after(() => telephony.close());
  const started = Date.now();
  const call = await telephony.engine.place({ accountId, from: CALLER_NUMBER, to: '+14155550100', ringTimeoutS: 20, maxDurationS: 30 });
  await waitUntil('the call ended', async () => (await services.calls.get(accountId, call.id)).state === 'ended', 5000);
  const ended = await services.calls.get(accountId, call.id);
  assert.equal(ended.outcome, 'failed');
  assert.ok(Date.now() - started < 5000, 'at once, not after the ring timeout');
  assert.equal(ended.endReason, 'transport_error');
  assert.equal(ended.hangupCause?.name, 'NETWORK_OUT_OF_ORDER');
  assert.equal(server.received(), '', 'no SIP reached the server');
  assert.equal(telephony.rtpPortsInUse(), 0, 'the leg gave its RTP port back');
});

test(';verify=off reaches the same server (labs only): the INVITE arrives over TLS', async (t) => {
  const server = await tlsServer(t);
  const telephony = await startTestTelephony(services, {
    rtpPorts: '51900-51999',
    trunk: `sip:127.0.0.1:${server.port};transport=tls;verify=off`,
  });
  t.after(() => telephony.close());
  const call = await telephony.engine.place({ accountId, from: CALLER_NUMBER, to: '+14155550100', ringTimeoutS: 2, maxDurationS: 30 });
  await waitUntil('the INVITE arrived', () => server.received().includes('INVITE '), 5000);
  assert.match(server.received(), /^INVITE sip:\+14155550100@127\.0\.0\.1:\d+;transport=tls SIP\/2\.0\r\n/);
  assert.match(server.received(), /\r\nVia: SIP\/2\.0\/TLS /);
  assert.match(server.received(), /\r\nContact: <sip:127\.0\.0\.1:\d+;transport=tls>/);
  await telephony.engine.hangup(accountId, call.id);
});
