import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { TrunkUpkeep } from '../../../src/carriers/trunk-upkeep.js';
import { parseTrunks } from '../../../src/carriers/trunks.js';
import { getHeader } from '../../../src/sip/message/headers.js';
import { SipStack, type IncomingRequest } from '../../../src/sip/ua/sip-stack.js';
import { SipUserAgent } from '../../../src/sip/ua/user-agent.js';
import { makeTestCertificate, type TestCertificate } from '../../helpers/tls-cert.js';

/** Keepalives and registration towards a TLS trunk: sips/transport=tls Request-URIs, a TLS Contact, verification. */

async function carrier(t: TestContext, cert: TestCertificate) {
  const stack = new SipStack({ host: '127.0.0.1', port: 0, tls: { cert: cert.cert, key: cert.key, port: 0 } });
  const seen: IncomingRequest[] = [];
  stack.setHandlers({
    onRequest: (incoming) => {
      seen.push(incoming);
      const contact = getHeader(incoming.request, 'Contact');
      incoming.respond(200, 'OK', contact ? { headers: [{ name: 'Contact', value: `${contact};expires=600` }] } : {});
    },
  });
  await stack.start();
  t.after(() => stack.stop());
  return { stack, seen };
}

async function upkeep(t: TestContext, uri: string, ca: string[], register: boolean) {
  const stack = new SipStack({ host: '127.0.0.1', port: 0, tlsCa: ca });
  const ua = new SipUserAgent(stack, { onInvite: (incoming) => void incoming.respond(480, 'Temporarily Unavailable') });
  await stack.start();
  const trunks = parseTrunks({ uri, username: 'dialplane', password: 'secret', register, callerIdFormat: 'e164', prefix: undefined });
  const keeper = new TrunkUpkeep(ua, trunks, { registerExpiresS: 600, refreshMarginS: 60, registerRetryS: 30, keepaliveS: 0.2 });
  keeper.start();
  t.after(async () => {
    await keeper.stop();
    await stack.stop();
  });
  return keeper;
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 100 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 50));
  assert.ok(check(), what);
}

test('OPTIONS keepalives and REGISTER reach a trusted TLS trunk, with a TLS Contact; an untrusted one is unreachable', async (t) => {
  const cert = await makeTestCertificate(t);
  const trusted = await carrier(t, cert);
  const keeper = await upkeep(t, `sip:127.0.0.1:${trusted.stack.transports.tlsPort};transport=tls`, [cert.cert], true);
  await until(() => keeper.statuses[0]?.reachable === true && keeper.statuses[0]?.registered === true, 'reachable and registered');
  const register = trusted.seen.find((r) => r.request.method === 'REGISTER')!;
  assert.equal(register.request.uri, `sip:127.0.0.1:${trusted.stack.transports.tlsPort};transport=tls`);
  assert.match(getHeader(register.request, 'Contact') ?? '', /^<sip:dialplane@127\.0\.0\.1:5061;transport=tls>/, 'no TLS listener here: the standard port');
  assert.equal(register.source.transport, 'tls');
  const options = trusted.seen.find((r) => r.request.method === 'OPTIONS')!;
  assert.equal(options.source.port, register.source.port, 'one connection carries both');

  const untrusted = await carrier(t, await makeTestCertificate(t));
  const refused = await upkeep(t, `sips:127.0.0.1:${untrusted.stack.transports.tlsPort}`, [cert.cert], false);
  await until(() => refused.statuses[0]?.reachable === false, 'unreachable');
  assert.equal(untrusted.seen.length, 0);
});
