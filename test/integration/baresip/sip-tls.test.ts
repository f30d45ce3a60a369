import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import { after, before, test, type TestContext } from 'node:test';
import type { Services } from '../../../src/core/services.js';
import { decodeG711 } from '../../../src/media/codecs/g711.js';
import type { SessionMedia } from '../../../src/media/workers/remote-leg-media.js';
import { FliteEngine } from '../../../src/media/tts/flite-engine.js';
import { audibleSeconds, baresipAccountLine, describeWithBaresip, startBaresip } from '../../helpers/baresip.js';
import type { TestDatabase } from '../../helpers/databases.js';
import { waitUntil, withinOrFail } from '../../helpers/processes.js';
import { CALLER_NUMBER, createCallingAccount, startTestTelephony } from '../../helpers/telephony.js';
import { makeTestCertificate } from '../../helpers/tls-cert.js';

/**
 * A real phone over SIP over TLS: baresip trusts the test's self-signed certificate (its sip_cafile), registers to
 * Dialplane's TLS port, calls in as the registered device (answered; audio both ways), and is called by Dialplane
 * over the TLS connection it registered on: the INVITE goes to the flow (the address and port the REGISTER came
 * from), never to a new connection to the port its Contact names.
 */
let db: TestDatabase;
let services: Services;
let accountId: string;
const tts = new FliteEngine();

before(async () => {
  ({ db, services, accountId } = await createCallingAccount('Baresip TLS'));
});
after(async () => {
  await tts.close();
  await db.close();
});

/** More baresip account parameters for the phone (e.g. `mediaenc=srtp-mand` for SRTP over this TLS signalling). */
const PHONE_ACCOUNT_PARAMS: readonly string[] = [];

/** A 440 Hz tone at about -12 dBFS: what baresip sends into its calls. */
function tone(seconds: number): Int16Array {
  const samples = new Int16Array(8000 * seconds);
  for (let i = 0; i < samples.length; i++) samples[i] = Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / 8000));
  return samples;
}

/** A TLS server with a certificate no one trusts, keeping whatever a client manages to send it. */
async function untrustedServer(t: TestContext): Promise<{ port: number; received: () => string; handshakes: () => number }> {
  const cert = await makeTestCertificate(t);
  let received = '';
  const sockets = new Set<TLSSocket>();
  let handshakes = 0;
  const server: Server = createServer({ cert: cert.cert, key: cert.key }, (socket) => {
    handshakes++;
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
  return { port: typeof address === 'object' && address ? address.port : 0, received: () => received, handshakes: () => handshakes };
}

await describeWithBaresip('SIP over TLS with a real phone (baresip)', () => {
  test('baresip registers over TLS, calls in with audio both ways, and is called back over its own connection', async (t) => {
    const cert = await makeTestCertificate(t);
    const telephony = await startTestTelephony(services, {
      rtpPorts: '52000-52499',
      // Not on 127.0.0.1: the phone's INVITE must be let in as the registered device's (digest), not as a trunk's.
      trunk: 'sip:127.0.0.9:9',
      env: { DIALPLANE_SIP_TLS_CERT: cert.certFile, DIALPLANE_SIP_TLS_KEY: cert.keyFile, DIALPLANE_SIP_TLS_PORT: '0' },
    });
    t.after(() => telephony.close());
    assert.ok(telephony.sipTlsPort > 0, 'the TLS listener is up');
    const extension = await services.extensions.create(accountId, { name: 'TLS desk' });
    const { device, password } = await services.extensions.addDevice(accountId, extension.id);
    const account = baresipAccountLine({
      user: device.username,
      password,
      host: '127.0.0.1',
      port: telephony.sipTlsPort,
      transport: 'tls',
      params: PHONE_ACCOUNT_PARAMS,
    });
    const phone = await startBaresip({ user: device.username, account, t, maxSeconds: 60, sourceSamples: tone(60), tlsCaFile: cert.certFile });
    try {
      await phone.waitRegistered();
      const [binding] = telephony.registrar.contactsFor([device.id]);
      assert.equal(binding?.transport, 'tls', 'the binding is the TLS flow');
      assert.match(binding?.uri ?? '', /transport=tls/i);

      // 1. The phone calls the account's number: Dialplane answers, plays a prompt, and hears the phone's tone.
      const prompt = await tts.synthesize('This call is signalled over T L S.');
      const inbound = telephony.answered((call) => call.direction === 'inbound');
      const dialled = await phone.command('dial', `sip:${CALLER_NUMBER}@127.0.0.1:${telephony.sipTlsPort}`);
      assert.ok(dialled.ok, dialled.data);
      const call = await withinOrFail(inbound, 10_000, () => `the answer to baresip's call\n${phone.output().slice(-3000)}`);
      await phone.waitEvent('CALL_ESTABLISHED', 5000);
      const media = telephony.mediaFor(call.id) as SessionMedia | undefined;
      assert.ok(media, 'the answered call has media');
      const law = media.codec.name;
      const heard: Int16Array[] = [];
      media.onAudio((payload) => heard.push(decodeG711(payload, law)));
      await media.play(prompt.samples);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const fromPhone = Int16Array.from(heard.flatMap((chunk) => Array.from(chunk)));
      const phoneAudible = audibleSeconds({ sampleRate: 8000, channels: 1, samples: fromPhone });
      t.diagnostic(`Dialplane heard ${phoneAudible.toFixed(2)} s of the phone's tone`);
      assert.ok(phoneAudible >= 1, `Dialplane heard ${phoneAudible.toFixed(2)} s of sound from baresip`);
      // The phone hangs up over TLS; Dialplane's leg ends completed.
      const hungUp = await phone.command('hangup');
      assert.ok(hungUp.ok, hungUp.data);
      await waitUntil('the inbound call ended', async () => (await services.calls.get(accountId, call.id)).state === 'ended', 10_000);
      assert.equal((await services.calls.get(accountId, call.id)).outcome, 'completed');
      await phone.waitEvent('CALL_CLOSED', 5000);
      const [firstDump] = await phone.receivedAudio();
      assert.ok(firstDump, 'baresip kept what it received');
      const expected = audibleSeconds({ sampleRate: 8000, channels: 1, samples: prompt.samples });
      const promptHeard = audibleSeconds(firstDump);
      t.diagnostic(`baresip heard ${promptHeard.toFixed(2)} s of a prompt with ${expected.toFixed(2)} s of sound`);
      assert.ok(Math.abs(promptHeard - expected) <= 0.4, `baresip heard ${promptHeard.toFixed(2)} s for ${expected.toFixed(2)} s of prompt`);

      // 2. Dialplane calls the phone over the connection it registered on (the flow's port, not its Contact's).
      const contact = telephony.registrar.contactsFor([device.id])[0]!;
      assert.ok(!contact.uri.includes(`:${contact.port};`), `the flow ${contact.port} is not the Contact ${contact.uri}`);
      const outbound = telephony.answered((c) => c.direction === 'outbound');
      const placed = await telephony.engine.place({
        accountId,
        from: CALLER_NUMBER,
        to: extension.id,
        ringTimeoutS: 10,
        maxDurationS: 30,
        contact: { uri: contact.uri, transport: contact.transport, address: contact.address, port: contact.port },
      });
      assert.equal((await withinOrFail(outbound, 10_000, () => `baresip's answer\n${phone.output().slice(-3000)}`)).id, placed.id);
      const outMedia = telephony.mediaFor(placed.id);
      assert.ok(outMedia);
      let packets = 0;
      outMedia.onAudio(() => packets++);
      await outMedia.play(prompt.samples);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.ok(packets >= 50, `Dialplane received ${packets} packets from baresip`);
      // Dialplane hangs up: the BYE, too, goes over the phone's connection.
      await telephony.engine.hangup(accountId, placed.id);
      assert.equal((await services.calls.get(accountId, placed.id)).outcome, 'completed');
      await waitUntil('baresip saw the second call close', () => phone.events.filter((e) => e.type === 'CALL_CLOSED').length >= 2, 5000);
      const dumps = await phone.receivedAudio();
      assert.equal(dumps.length, 2, `two dumps of received audio, got ${dumps.length}`);
      const second = audibleSeconds(dumps[1]!);
      assert.ok(Math.abs(second - expected) <= 0.4, `baresip heard ${second.toFixed(2)} s of the prompt in Dialplane's call`);
    } finally {
      if (process.env.DIALPLANE_TEST_BARESIP_LOG) process.stderr.write(`--- baresip ---\n${phone.output()}\n`);
    }
  });

  test('a TLS trunk with an untrusted certificate fails as a transport error and the call fails over to a trusted one (baresip over TLS)', async (t) => {
    const cert = await makeTestCertificate(t);
    // baresip's sip_certificate is one PEM file with the certificate and its key.
    const pemFile = `${cert.certFile}.with-key.pem`;
    await writeFile(pemFile, `${cert.cert}${cert.key}`, { mode: 0o600 });
    const carrier = await startBaresip({ user: '+14155550100', t, maxSeconds: 40, sourceSamples: tone(40), tlsCertificateFile: pemFile });
    const impostor = await untrustedServer(t);
    const telephony = await startTestTelephony(services, {
      rtpPorts: '52500-52999',
      trunk: `sip:127.0.0.1:${impostor.port};transport=tls,sip:127.0.0.1:${carrier.tlsPort};transport=tls`,
      // The carrier's certificate is trusted as a private CA would be; the impostor's is not. Dialplane listens for
      // TLS too (the carrier's in-dialog requests may come on a connection of its own).
      env: { DIALPLANE_SIP_TLS_CA: cert.certFile, DIALPLANE_SIP_TLS_CERT: cert.certFile, DIALPLANE_SIP_TLS_KEY: cert.keyFile, DIALPLANE_SIP_TLS_PORT: '0' },
    });
    t.after(() => telephony.close());
    try {
      const answered = telephony.answered();
      const call = await telephony.engine.place({ accountId, from: CALLER_NUMBER, to: '+14155550100', ringTimeoutS: 10, maxDurationS: 30 });
      assert.equal((await withinOrFail(answered, 10_000, () => `the carrier's answer\n${carrier.output().slice(-3000)}`)).id, call.id);
      assert.equal(impostor.handshakes(), 0, 'no TLS session was completed with the untrusted server');
      assert.equal(impostor.received(), '', 'nothing was sent to it');
      const media = telephony.mediaFor(call.id) as SessionMedia | undefined;
      assert.ok(media, 'the answered call has media');
      const law = media.codec.name;
      const heard: Int16Array[] = [];
      media.onAudio((payload) => heard.push(decodeG711(payload, law)));
      const prompt = await tts.synthesize('Over a verified connection.');
      await media.play(prompt.samples);
      await new Promise((resolve) => setTimeout(resolve, 300));
      await telephony.engine.hangup(accountId, call.id);
      const ended = await services.calls.get(accountId, call.id);
      assert.equal(ended.outcome, 'completed');
      await carrier.waitEvent('CALL_CLOSED', 5000);
      const fromCarrier = audibleSeconds({ sampleRate: 8000, channels: 1, samples: Int16Array.from(heard.flatMap((c) => Array.from(c))) });
      assert.ok(fromCarrier >= 1, `Dialplane heard ${fromCarrier.toFixed(2)} s from the carrier`);
      const [dump] = await carrier.receivedAudio();
      const expected = audibleSeconds({ sampleRate: 8000, channels: 1, samples: prompt.samples });
      assert.ok(dump && Math.abs(audibleSeconds(dump) - expected) <= 0.4, 'the carrier heard the prompt');
      assert.match(carrier.output(), /TLS/, 'the carrier took the call over TLS');
    } finally {
      if (process.env.DIALPLANE_TEST_BARESIP_LOG) process.stderr.write(`--- baresip carrier ---\n${carrier.output()}\n`);
    }
  });
});
