import assert from 'node:assert/strict';
import { connect, type TLSSocket } from 'node:tls';
import { test, type TestContext } from 'node:test';
import { SipStreamFramer } from '../../../src/sip/message/parser.js';
import { getHeader } from '../../../src/sip/message/headers.js';
import type { SipMessage, SipResponse } from '../../../src/sip/message/types.js';
import { buildRequest } from '../../../src/sip/ua/build.js';
import { newCallId, newTag } from '../../../src/sip/ua/ids.js';
import { SipStack, type IncomingRequest } from '../../../src/sip/ua/sip-stack.js';
import type { SipEndpoint } from '../../../src/sip/transport/types.js';
import { makeTestCertificate, type TestCertificate } from '../../helpers/tls-cert.js';
import { withinOrFail } from '../../helpers/processes.js';

/**
 * SIP over TLS between two of our own stacks and raw node:tls clients, on loopback: the listener, the verification
 * of outbound connections (a certificate no CA vouches for, or for another name, fails the transaction as a
 * transport error), connection reuse both ways, and the stream limits shared with TCP.
 */

async function server(t: TestContext, cert: TestCertificate) {
  const stack = new SipStack({ host: '127.0.0.1', port: 0, tls: { cert: cert.cert, key: cert.key, port: 0 } });
  const seen: IncomingRequest[] = [];
  stack.setHandlers({
    onRequest: (incoming) => {
      seen.push(incoming);
      incoming.respond(200, 'OK');
    },
  });
  await stack.start();
  t.after(() => stack.stop());
  return { stack, seen };
}

async function client(t: TestContext, options: { ca?: string[]; onUnverified?: (target: SipEndpoint) => void } = {}) {
  const stack = new SipStack({
    host: '127.0.0.1',
    port: 0,
    ...(options.ca ? { tlsCa: options.ca } : {}),
    ...(options.onUnverified ? { onUnverifiedTls: options.onUnverified } : {}),
  });
  await stack.start();
  t.after(() => stack.stop());
  return stack;
}

function options(stack: SipStack, target: SipEndpoint): Promise<{ response?: SipResponse; error?: Error }> {
  const local = stack.transports.local(target.transport, target.address);
  const request = buildRequest({
    method: 'OPTIONS',
    uri: `sip:${target.address}:${target.port};transport=${target.transport}`,
    from: { displayName: undefined, uri: { scheme: 'sip', user: 'probe', password: undefined, host: local.address, port: undefined, params: [], headers: [] }, params: [['tag', newTag()]] },
    to: { displayName: undefined, uri: { scheme: 'sip', user: undefined, password: undefined, host: target.address, port: target.port, params: [], headers: [] }, params: [] },
    callId: newCallId(local.address),
    cseq: 1,
    via: local,
  });
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ error: new Error('no outcome within 5 s') }), 5000);
    stack.request(request, target, {
      onResponse: (response) => {
        if (response.status < 200) return;
        clearTimeout(timer);
        resolve({ response });
      },
      onTimeout: () => {
        clearTimeout(timer);
        resolve({ error: new Error('transaction timeout') });
      },
      onTransportError: (error) => {
        clearTimeout(timer);
        resolve({ error });
      },
    });
  });
}

test('OPTIONS over TLS to a stack whose certificate the client trusts: 200 on the same connection, Via says TLS', async (t) => {
  const cert = await makeTestCertificate(t);
  const { stack: far, seen } = await server(t, cert);
  assert.ok(far.transports.tlsPort > 0 && far.transports.tlsPort !== far.transports.port, 'TLS has its own port');
  const near = await client(t, { ca: [cert.cert] });
  const target: SipEndpoint = { transport: 'tls', address: '127.0.0.1', port: far.transports.tlsPort };
  const first = await options(near, target);
  assert.equal(first.response?.status, 200, String(first.error));
  const second = await options(near, target);
  assert.equal(second.response?.status, 200, String(second.error));
  assert.equal(seen.length, 2);
  assert.equal(seen[0]!.source.transport, 'tls');
  assert.match(getHeader(seen[0]!.request, 'Via') ?? '', /^SIP\/2\.0\/TLS 127\.0\.0\.1:\d+;/);
  assert.equal(seen[0]!.local.port, far.transports.tlsPort, 'our side of it is the TLS port');
  assert.deepEqual(seen[1]!.source, seen[0]!.source, 'the second request reused the first connection');
  assert.ok(near.transports.hasConnection(target));
});

test('a certificate no trusted CA vouches for fails the transaction as a transport error, and nothing is delivered', async (t) => {
  const cert = await makeTestCertificate(t);
  const { stack: far, seen } = await server(t, cert);
  const near = await client(t);
  const outcome = await options(near, { transport: 'tls', address: '127.0.0.1', port: far.transports.tlsPort });
  assert.equal(outcome.response, undefined);
  assert.match(String(outcome.error?.message), /self[- ]signed|unable to verify|certificate/i);
  assert.equal(seen.length, 0);
});

test('every request waiting on a connection whose certificate is refused hears it, however many', async (t) => {
  const cert = await makeTestCertificate(t);
  const { stack: far, seen } = await server(t, cert);
  const near = await client(t);
  const warnings: string[] = [];
  const onWarning = (warning: Error) => warnings.push(warning.name);
  process.on('warning', onWarning);
  t.after(() => process.off('warning', onWarning));
  const target: SipEndpoint = { transport: 'tls', address: '127.0.0.1', port: far.transports.tlsPort };
  const outcomes = await Promise.all(Array.from({ length: 25 }, () => options(near, target)));
  assert.deepEqual(new Set(outcomes.map((o) => (o.error && /self[- ]signed|certificate/i.test(o.error.message) ? 'transport error' : String(o.error ?? o.response?.status)))), new Set(['transport error']));
  assert.equal(seen.length, 0);
  assert.deepEqual(warnings.filter((w) => w === 'MaxListenersExceededWarning'), []);
});

test('a trusted certificate for another name is refused (the name checked is the configured host name)', async (t) => {
  const cert = await makeTestCertificate(t);
  const { stack: far, seen } = await server(t, cert);
  const near = await client(t, { ca: [cert.cert] });
  const wrong = await options(near, { transport: 'tls', address: '127.0.0.1', port: far.transports.tlsPort, tls: { serverName: 'carrier.example', verify: true } });
  assert.match(String(wrong.error?.message), /carrier\.example|altnames|Hostname/i);
  const right = await options(near, { transport: 'tls', address: '127.0.0.1', port: far.transports.tlsPort, tls: { serverName: 'localhost', verify: true } });
  assert.equal(right.response?.status, 200, String(right.error));
  assert.equal(seen.length, 1);
});

test('verify off (a lab trunk) connects to an untrusted certificate and says so', async (t) => {
  const cert = await makeTestCertificate(t);
  const { stack: far } = await server(t, cert);
  const unverified: SipEndpoint[] = [];
  const near = await client(t, { onUnverified: (target) => unverified.push(target) });
  const outcome = await options(near, { transport: 'tls', address: '127.0.0.1', port: far.transports.tlsPort, tls: { verify: false } });
  assert.equal(outcome.response?.status, 200, String(outcome.error));
  assert.equal(unverified.length, 1);
});

/** A raw TLS client: what a phone would send, byte for byte. */
async function rawClient(t: TestContext, port: number): Promise<{ socket: TLSSocket; messages: SipMessage[]; closed: Promise<void> }> {
  const socket = await new Promise<TLSSocket>((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => resolve(s));
    s.once('error', reject);
  });
  t.after(() => socket.destroy());
  const framer = new SipStreamFramer();
  const messages: SipMessage[] = [];
  socket.on('data', (chunk: Buffer) => messages.push(...framer.push(chunk)));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { socket, messages, closed };
}

test('a stream that breaks framing closes its TLS connection; a silent one is closed after the idle time', async (t) => {
  const cert = await makeTestCertificate(t);
  const errors: string[] = [];
  const stack = new SipStack({ host: '127.0.0.1', port: 0, tls: { cert: cert.cert, key: cert.key, port: 0 }, streamIdleMs: 300 });
  stack.setHandlers({ onRequest: (incoming) => void incoming.respond(200, 'OK'), onParseError: (error) => errors.push(error.message) });
  await stack.start();
  t.after(() => stack.stop());
  const broken = await rawClient(t, stack.transports.tlsPort);
  broken.socket.write('OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:9;branch=z9hG4bKx\r\n\r\n');
  await withinOrFail(broken.closed, 3000, 'the connection without Content-Length to be closed');
  assert.equal(errors.length, 1, 'the parse error is reported');
  const silent = await rawClient(t, stack.transports.tlsPort);
  const started = Date.now();
  await withinOrFail(silent.closed, 3000, 'the idle connection to be closed');
  assert.ok(Date.now() - started >= 250, 'not before the idle time');
});

test('the TLS listener answers on the connection a request came in on (a client that cannot be connected to)', async (t) => {
  const cert = await makeTestCertificate(t);
  const { stack } = await server(t, cert);
  const phone = await rawClient(t, stack.transports.tlsPort);
  const branch = `z9hG4bK${newTag()}`;
  phone.socket.write(
    [
      'OPTIONS sip:127.0.0.1 SIP/2.0',
      // A sent-by no one listens on: the answer can only use the connection.
      `Via: SIP/2.0/TLS 192.0.2.1:5061;branch=${branch};rport`,
      'Max-Forwards: 70',
      'From: <sip:phone@127.0.0.1>;tag=a',
      'To: <sip:127.0.0.1>',
      'Call-ID: raw-tls-1',
      'CSeq: 1 OPTIONS',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
  );
  await waitFor(() => phone.messages.length > 0, 3000, 'the 200');
  const response = phone.messages[0]!;
  assert.equal(response.kind, 'response');
  assert.equal((response as SipResponse).status, 200);
  assert.match(getHeader(response, 'Via') ?? '', /received=127\.0\.0\.1;rport=\d+/);
});

async function waitFor(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

