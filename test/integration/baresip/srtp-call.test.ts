import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { Writable } from 'node:stream';
import { after, before, test, type TestContext } from 'node:test';
import pino from 'pino';
import { Registry } from 'prom-client';
import type { Services } from '../../../src/core/services.js';
import { decodeG711 } from '../../../src/media/codecs/g711.js';
import type { RemoteLegMedia } from '../../../src/media/workers/remote-leg-media.js';
import { serializeRtp } from '../../../src/media/rtp/rtp-packet.js';
import { CALLER_NUMBER, createCallingAccount, startTestTelephony } from '../../helpers/telephony.js';
import { audibleSeconds, baresipAccountLine, describeWithBaresip, startBaresip } from '../../helpers/baresip.js';
import { makeTestCertificate } from '../../helpers/tls-cert.js';
import type { TestDatabase } from '../../helpers/databases.js';
import { withinOrFail } from '../../helpers/processes.js';

/**
 * A real softphone with mandatory SDES SRTP (baresip, srtp module, mediaenc=srtp-mand) calls in through a trunk
 * whose policy is `srtp=require`: the call is answered with SRTP, audio is decoded on both sides (a 1 kHz tone from
 * baresip reaches Dialplane, a 400 Hz tone from Dialplane reaches baresip), a plaintext RTP packet injected into the
 * flow with the right SSRC is dropped and counted while the audio goes on, and no key from either SDP is in any log
 * line of Dialplane's.
 */

/** The SIP transport of the trunk call (the device call runs over TLS). */
const SIP_TRANSPORT: 'udp' | 'tcp' = 'udp';

let db: TestDatabase;
let services: Services;

before(async () => {
  ({ db, services } = await createCallingAccount('Srtp'));
});
after(async () => {
  await db.close();
});

function tone(hz: number, seconds: number, amplitude: number): Int16Array {
  const samples = new Int16Array(Math.round(8000 * seconds));
  for (let i = 0; i < samples.length; i++) samples[i] = Math.round(amplitude * Math.sin((2 * Math.PI * hz * i) / 8000));
  return samples;
}

/** The tone's frequency from zero crossings over the loud part (what a garbled, wrongly decrypted stream lacks). */
function frequency(samples: Int16Array): number {
  let crossings = 0;
  let loud = 0;
  for (let i = 1; i < samples.length; i++) {
    if (Math.abs(samples[i]!) > 500) loud++;
    if ((samples[i - 1]! < 0) !== (samples[i]! < 0)) crossings++;
  }
  return loud === 0 ? 0 : crossings / 2 / (samples.length / 8000);
}

async function dropped(registry: Registry): Promise<number> {
  const metric = await registry.getSingleMetric('dialplane_srtp_packets_dropped_total')?.get();
  return (metric?.values ?? []).reduce((sum, v) => sum + v.value, 0);
}

await describeWithBaresip('SRTP with a softphone (baresip, SDES)', () => {
  test('mandatory SRTP call in through a trunk (UDP): audio both ways, injected plaintext dropped and counted, keys in no log line', (t) =>
    mandatorySrtpCall(t, 'trunk'));
  test('a device registered over TLS calls in with mandatory SRTP: audio both ways, injected plaintext dropped and counted, keys in no log line', (t) =>
    mandatorySrtpCall(t, 'tls-device'));

  /**
   * 'trunk': baresip is a carrier on UDP whose trunk says srtp=require. 'tls-device': baresip is a device of an
   * extension whose policy is require; it registers and calls over SIP over TLS (signalling and keys encrypted).
   */
  async function mandatorySrtpCall(t: TestContext, via: 'trunk' | 'tls-device'): Promise<void> {
    const registry = new Registry();
    let logText = '';
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logText += chunk.toString('utf8');
        done();
      },
    });
    const common = { modules: ['srtp'], sipTrace: true, maxSeconds: 60, sourceSamples: tone(1000, 60, 8000), t };
    let phone: Awaited<ReturnType<typeof startBaresip>>;
    let telephony: Awaited<ReturnType<typeof startTestTelephony>>;
    let dialTarget: string;
    let secureExtension: { accountId: string; id: string } | undefined;
    if (via === 'trunk') {
      phone = await startBaresip({ user: 'srtpphone', accountParams: ';mediaenc=srtp-mand', ...common });
      telephony = await startTestTelephony(services, {
        rtpPorts: '38000-38499',
        trunk: `sip:${phone.address};srtp=require${SIP_TRANSPORT === 'udp' ? '' : `;transport=${SIP_TRANSPORT}`}`,
        metrics: registry,
        logger: pino({ level: 'trace' }, sink),
      });
      dialTarget = `sip:${CALLER_NUMBER}@127.0.0.1:${telephony.sipPort};transport=${SIP_TRANSPORT}`;
    } else {
      const cert = await makeTestCertificate(t);
      telephony = await startTestTelephony(services, {
        rtpPorts: '38500-38999',
        // Not loopback's own address: the phone's INVITE must be let in as the registered device's (digest).
        trunk: 'sip:127.0.0.99:9',
        metrics: registry,
        logger: pino({ level: 'trace' }, sink),
        env: { DIALPLANE_SIP_TLS_CERT: cert.certFile, DIALPLANE_SIP_TLS_KEY: cert.keyFile, DIALPLANE_SIP_TLS_PORT: '0' },
      });
      const accountId = (await services.numbers.findVoiceNumber(CALLER_NUMBER))!.accountId;
      const extension = await services.extensions.create(accountId, { name: 'TLS and SRTP desk', srtp: 'require' });
      secureExtension = { accountId, id: extension.id };
      const { device, password } = await services.extensions.addDevice(accountId, extension.id);
      const account = baresipAccountLine({
        user: device.username,
        password,
        host: '127.0.0.1',
        port: telephony.sipTlsPort,
        transport: 'tls',
        params: ['mediaenc=srtp-mand'],
      });
      phone = await startBaresip({ user: device.username, account, tlsCaFile: cert.certFile, ...common });
      await phone.waitRegistered();
      const [binding] = telephony.registrar.contactsFor([device.id]);
      assert.equal(binding?.transport, 'tls', 'the device registered over TLS');
      dialTarget = `sip:${CALLER_NUMBER}@127.0.0.1:${telephony.sipTlsPort};transport=tls`;
    }
    try {
      const answered = telephony.answered();
      const dial = await phone.command('dial', dialTarget);
      assert.ok(dial.ok, `dial failed: ${dial.data}`);
      const call = await withinOrFail(answered, 10_000, () => `the answer\n${phone.output().slice(-4000)}`);
      await phone.waitEvent('CALL_ESTABLISHED', 5000);
      const media = telephony.mediaFor(call.id) as RemoteLegMedia | undefined;
      assert.ok(media, 'the answered call has media');
      assert.ok((await media.inspect())?.secure, 'the leg runs SRTP');

      // Dialplane hears baresip's tone, decrypted and decoded.
      const heard: Int16Array[] = [];
      media.onAudio((payload) => heard.push(decodeG711(payload, media.codec.name)));
      const prompt = tone(400, 2, 8000);
      const playing = media.play(prompt);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      assert.ok(heard.length >= 30, `Dialplane received ${heard.length} audio packets from baresip in 1 s`);
      const before = concat(heard.splice(0));
      const beforeHz = frequency(before);
      assert.ok(Math.abs(beforeHz - 1000) < 50, `baresip's 1 kHz tone decoded as ${beforeHz.toFixed(0)} Hz`);

      // A plaintext RTP packet from another loopback socket, with baresip's SSRC and the next sequence numbers.
      const inspected = await media.inspect();
      assert.ok(inspected?.lastHeard, 'packets heard from baresip');
      const { ssrc, sequenceNumber: lastSequence } = inspected.lastHeard;
      const droppedBefore = await dropped(registry);
      const injector = createSocket('udp4');
      await new Promise<void>((resolve) => injector.bind(0, '127.0.0.1', resolve));
      const injected = Buffer.alloc(160, 0x00); // PCMU 0x00: full-scale negative, unmistakable if it got through
      const target = inspected.local;
      for (let i = 1; i <= 5; i++) {
        const packet = serializeRtp({ version: 2, padding: false, marker: false, payloadType: 0, sequenceNumber: (lastSequence + i) & 0xffff, timestamp: 0, ssrc, csrcs: [], payload: injected });
        await new Promise<void>((resolve, reject) => injector.send(packet, target.port, '127.0.0.1', (error) => (error ? reject(error) : resolve())));
      }
      injector.close();
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const afterInjection = concat(heard.splice(0));
      assert.ok(afterInjection.length >= 8000 * 0.6, `audio went on after the injection (${afterInjection.length} samples in 1 s)`);
      assert.ok(!afterInjection.some((s) => s === decodeG711(Buffer.from([0]), media.codec.name)[0]), 'no injected sample was heard');
      const afterHz = frequency(afterInjection);
      assert.ok(Math.abs(afterHz - 1000) < 50, `after the injection the tone is ${afterHz.toFixed(0)} Hz`);
      const droppedAfter = await dropped(registry);
      assert.ok(droppedAfter - droppedBefore >= 5, `SRTP drops counted: ${droppedBefore} -> ${droppedAfter}`);
      assert.ok(((await media.inspect())?.srtpRejected ?? 0) >= 5);

      await playing;
      await telephony.engine.hangup(call.accountId, call.id);
      await phone.waitEvent('CALL_CLOSED', 5000);

      // baresip decrypted and decoded Dialplane's 400 Hz tone.
      const received = await phone.receivedAudio();
      assert.equal(received.length, 1, `one dump of received audio, got ${received.length}`);
      const dump = received[0]!;
      const audible = audibleSeconds(dump);
      t.diagnostic(`Dialplane heard ${beforeHz.toFixed(0)} Hz / ${afterHz.toFixed(0)} Hz; baresip heard ${audible.toFixed(2)} s of sound at ${frequency(dump.samples).toFixed(0)} Hz`);
      assert.ok(Math.abs(audible - 2) <= 0.4, `baresip heard ${audible.toFixed(2)} s of sound for a 2 s tone`);
      assert.ok(Math.abs(frequency(dump.samples) - 400) < 40, `baresip heard ${frequency(dump.samples).toFixed(0)} Hz for 400 Hz`);

      if (secureExtension) {
        // Dialplane calls the extension: its device is rung over its TLS connection, with SRTP (the extension's policy).
        const ringing = telephony.answered((c) => c.direction === 'outbound');
        await telephony.control.start(secureExtension.accountId, {
          from: CALLER_NUMBER,
          to: [{ type: 'extension', extension: secureExtension.id }],
          program: [{ verb: 'pause', length: 1 }, { verb: 'hangup' }],
        });
        const leg = await withinOrFail(ringing, 10_000, () => `the device's answer\n${phone.output().slice(-4000)}`);
        const legMedia = telephony.mediaFor(leg.id) as RemoteLegMedia | undefined;
        assert.ok((await legMedia?.inspect())?.secure, 'the call to the device runs SRTP');
        const deadline = Date.now() + 10_000;
        while (phone.events.filter((e) => e.type === 'CALL_CLOSED').length < 2) {
          if (Date.now() > deadline) throw new Error(`the call to the device did not close\n${phone.output().slice(-3000)}`);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }

      // The keys of both SDPs (baresip's SIP trace shows them) are in no log line of Dialplane's.
      const keys = [...phone.output().matchAll(/a=crypto:\d+ \w+ inline:([A-Za-z0-9+/=]{20,})/g)].map((m) => m[1]!);
      assert.ok(new Set(keys).size >= 2, `keys of the offer and of the answer seen in the SIP trace (${new Set(keys).size})`);
      assert.ok(logText.split('\n').length > 1, 'Dialplane logged something at trace level');
      for (const key of new Set(keys)) {
        assert.ok(!logText.includes(key), 'an SDES key appears in the log');
        assert.ok(!logText.includes(Buffer.from(key, 'base64').toString('hex')), 'an SDES key appears in the log (hex)');
      }
      assert.ok(!/a=crypto|inline:/.test(logText), 'no crypto attribute in the log');
    } finally {
      if (process.env.DIALPLANE_TEST_BARESIP_LOG) process.stderr.write(`--- baresip ---\n${phone.output()}\n--- dialplane ---\n${logText}\n`);
      await telephony.close();
      await phone.stop();
    }
  }

  test('SRTP required, a plain RTP offer is refused 488 and no call starts', async (t) => {
    const phone = await startBaresip({ user: 'plainphone', maxSeconds: 30, t });
    const telephony = await startTestTelephony(services, { rtpPorts: '38000-38499', trunk: `sip:${phone.address};srtp=require` });
    try {
      const dial = await phone.command('dial', `sip:${CALLER_NUMBER}@127.0.0.1:${telephony.sipPort};transport=${SIP_TRANSPORT}`);
      assert.ok(dial.ok, `dial failed: ${dial.data}`);
      const closed = await phone.waitEvent('CALL_CLOSED', 10_000);
      assert.match(String(closed.param), /488/, `baresip's call ended with ${String(closed.param)}`);
      assert.equal(telephony.rtpPortsInUse(), 0);
    } finally {
      await telephony.close();
      await phone.stop();
    }
  });

  test("a device of an extension whose policy is require: its plain offer gets 488, its SRTP offer is answered with SRTP", async (t) => {
    const telephony = await startTestTelephony(services, { rtpPorts: '38000-38499', trunk: 'sip:127.0.0.99:9' }); // not loopback's own address: INVITEs from 127.0.0.1 come from the device
    try {
      const accountId = (await services.numbers.findVoiceNumber(CALLER_NUMBER))!.accountId;
      const extension = await services.extensions.create(accountId, { name: 'Secure desk', srtp: 'require' });
      const { device, password } = await services.extensions.addDevice(accountId, extension.id);
      const account = (extra: string) =>
        `<sip:${device.username}@127.0.0.1:${telephony.sipPort};transport=${SIP_TRANSPORT}>;auth_pass=${password};regint=60;answermode=auto${extra}`;
      const dialTarget = `sip:${CALLER_NUMBER}@127.0.0.1:${telephony.sipPort};transport=${SIP_TRANSPORT}`;

      const plain = await startBaresip({ user: device.username, account: account(''), maxSeconds: 30, t });
      await plain.waitRegistered();
      assert.ok((await plain.command('dial', dialTarget)).ok);
      const refused = await plain.waitEvent('CALL_CLOSED', 10_000);
      assert.match(String(refused.param), /488/, `the plain call ended with ${String(refused.param)}`);
      await plain.stop();

      const secure = await startBaresip({ user: device.username, account: account(';mediaenc=srtp-mand'), modules: ['srtp'], maxSeconds: 30, t });
      await secure.waitRegistered();
      const answered = telephony.answered();
      assert.ok((await secure.command('dial', dialTarget)).ok);
      const call = await withinOrFail(answered, 10_000, () => `the device's SRTP call\n${secure.output().slice(-4000)}`);
      await secure.waitEvent('CALL_ESTABLISHED', 5000);
      const media = telephony.mediaFor(call.id) as RemoteLegMedia | undefined;
      const before = await media?.inspect();
      assert.ok(before?.secure, 'the device leg runs SRTP');
      await new Promise((resolve) => setTimeout(resolve, 500));
      const after = await media!.inspect();
      const packets = (after?.received ?? 0) - before.received;
      assert.ok(packets > 10, `SRTP packets from the device authenticated (${packets})`);
      // baresip starts with a plaintext RTCP APP "PING" (16 octets), which is rightly dropped; no more than that.
      assert.ok((after?.srtpRejected ?? 0) <= 1, `${after?.srtpRejected} packets of the device rejected`);
      await telephony.engine.hangup(call.accountId, call.id);
      await secure.waitEvent('CALL_CLOSED', 5000);
      await secure.stop();
    } finally {
      await telephony.close();
    }
  });
});

function concat(chunks: readonly Int16Array[]): Int16Array {
  const out = new Int16Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}
