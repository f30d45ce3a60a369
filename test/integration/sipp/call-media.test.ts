import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Services } from '../../../src/core/services.js';
import { encodeG711, transcode } from '../../../src/media/codecs/g711.js';
import type { RemoteLegMedia } from '../../../src/media/workers/remote-leg-media.js';
import { sayAndCollect } from '../../../src/core/calls/verbs.js';
import { FliteEngine } from '../../../src/media/tts/flite-engine.js';
import { createCallingAccount, NO_TRUNK, startTestTelephony } from '../../helpers/telephony.js';
import type { TestDatabase } from '../../helpers/databases.js';
import { describeWithSipp, startSipp } from '../../helpers/sipp.js';

/** A text-to-speech prompt played into an answered call reaches SIPp, whose -rtp_echo sends it back intact. */
let db: TestDatabase;
let services: Services;
let accountId: string;
const tts = new FliteEngine();

before(async () => {
  ({ db, services, accountId } = await createCallingAccount('Media'));
});
after(async () => {
  await tts.close();
  await db.close();
});

await describeWithSipp('media in calls', () => {
  test('a TTS prompt played after the answer comes back from SIPp -rtp_echo byte for byte', async (t) => {
    const uas = await startSipp({ scenario: 'uas-answer-wait-bye.xml', rtpEcho: true, timeoutSeconds: 20, t });
    const telephony = await startTestTelephony(services, { rtpPorts: '36000-36999', trunk: `sip:${uas.address}` });
    try {
      const prompt = await tts.synthesize('Your appointment is tomorrow at ten. Press one to confirm.');
      const answered = telephony.answered().then((call) => call.id);
      const call = await telephony.engine.place({ accountId, from: '+14155551234', to: '+14155550100', ringTimeoutS: 10, maxDurationS: 30 });
      assert.equal(await answered, call.id);
      const media = telephony.engine.media(accountId, call.id);
      const echoed: Buffer[] = [];
      media.onAudio((payload) => echoed.push(payload));
      await media.play(prompt.samples);
      for (let i = 0; i < 50; i++) await new Promise((r) => setTimeout(r, 20));
      const sent = encodeG711(prompt.samples, 'PCMU');
      const packets = Math.ceil(sent.length / 160);
      assert.equal(echoed.length, packets, `${echoed.length} of ${packets} packets came back`);
      assert.ok(Buffer.concat(echoed).subarray(0, sent.length).equals(sent), 'the audio came back intact');
      await telephony.engine.hangup(accountId, call.id);
      assert.equal((await services.calls.get(accountId, call.id)).outcome, 'completed');
    } finally {
      await telephony.close();
      await uas.stop();
    }
  });
});

await describeWithSipp('keys pressed in calls', () => {
  test('SIPp calls in and plays an RFC 2833 digit: Dialplane reports "1" once', async (t) => {
    const telephony = await startTestTelephony(services, { rtpPorts: '37000-37999', trunk: NO_TRUNK });
    try {
      const digits: string[] = [];
      telephony.onDigit((_callId, digit) => digits.push(digit));
      const uac = await startSipp({
        scenario: 'uac-dtmf-dialplane.xml',
        remote: `127.0.0.1:${telephony.sipPort}`,
        service: '+14155551234',
        timeoutSeconds: 15,
        t,
      });
      const result = await uac.done;
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(digits, ['1']);
    } finally {
      await telephony.close();
    }
  });
});

await describeWithSipp('say and collect', () => {
  test('a prompt is interrupted by the key SIPp presses (barge-in) and the key is collected', async (t) => {
    const telephony = await startTestTelephony(services, { rtpPorts: '37000-37999', trunk: NO_TRUNK });
    try {
      const prompt = await tts.synthesize('Welcome. To confirm your appointment, press one. To cancel it, press two. To hear this again, stay on the line.');
      const collected = telephony.answered().then((call) =>
        sayAndCollect(telephony.mediaFor(call.id)!, { prompt: prompt.samples, bargeIn: true, maxDigits: 1, firstDigitTimeoutMs: 5_000, interDigitTimeoutMs: 3_000 }),
      );
      const started = performance.now();
      const uac = await startSipp({
        scenario: 'uac-dtmf-dialplane.xml',
        remote: `127.0.0.1:${telephony.sipPort}`,
        service: '+14155551234',
        timeoutSeconds: 15,
        t,
      });
      const result = await collected;
      assert.deepEqual(result, { digits: '1', reason: 'max_digits' });
      const promptSeconds = prompt.samples.length / 8000;
      assert.ok((performance.now() - started) / 1000 < promptSeconds, 'collected before the prompt would have ended');
      assert.equal((await uac.done).code, 0);
    } finally {
      await telephony.close();
    }
  });
});

await describeWithSipp('bridged calls', () => {
  test('two SIPp peers bridged by Dialplane: speech from one reaches the other and its echo comes back, PCMA <-> PCMU', async (t) => {
    const talker = await startSipp({ scenario: 'uas-answer-play.xml', timeoutSeconds: 20, t });
    const echo = await startSipp({ scenario: 'uas-answer-wait-bye.xml', rtpEcho: true, timeoutSeconds: 20, t });
    // The talker is reached through the trunk, the echo as a device by its address: one server, one media worker
    // (the echo's leg is placed as a later leg of the talker's call), so the two legs can be bridged.
    const telephony = await startTestTelephony(services, { rtpPorts: '41000-41999', trunk: `sip:${talker.address}` });
    try {
      const a = await new Promise<string>((resolve) => {
        void telephony.answered((call) => call.to === '+14155550201').then((call) => resolve(call.id));
        void telephony.engine.place({ accountId, from: '+14155551234', to: '+14155550201', ringTimeoutS: 10, maxDurationS: 30 });
      });
      const b = await new Promise<string>((resolve) => {
        void telephony.answered((call) => call.to === '+14155550202').then((call) => resolve(call.id));
        void telephony.engine.place({
          accountId,
          from: '+14155551234',
          to: '+14155550202',
          ringTimeoutS: 10,
          maxDurationS: 30,
          parentCallId: a,
          contact: { uri: `sip:+14155550202@${echo.address}`, transport: 'udp', address: '127.0.0.1', port: echo.port },
        });
      });
      const legA = telephony.mediaFor(a) as RemoteLegMedia;
      const legB = telephony.mediaFor(b) as RemoteLegMedia;
      assert.equal(legA.codec.name, 'PCMA');
      assert.equal(legB.codec.name, 'PCMU');
      const fromTalker: Buffer[] = [];
      const fromEcho: Buffer[] = [];
      legA.onAudio((payload) => fromTalker.push(payload));
      legB.onAudio((payload) => fromEcho.push(payload));
      const sentBefore = (await legA.inspect())!.sent;
      const bridge = telephony.media.bridge(legA, legB);
      assert.ok(bridge, 'the legs of one call are bridged in their worker');
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      bridge.stop();
      assert.ok(fromTalker.length >= 50, `speech from the talker: ${fromTalker.length} packets`);
      // What B echoed is what A said, transcoded to B's law; the echo went back to A.
      const expected = fromTalker.slice(0, fromEcho.length).map((p) => transcode(p, 'PCMA', 'PCMU'));
      assert.ok(fromEcho.length >= fromTalker.length - 5, `echoed ${fromEcho.length} of ${fromTalker.length}`);
      fromEcho.forEach((payload, i) => assert.ok(payload.equals(expected[i]!), `echoed packet ${i}`));
      const returned = (await legA.inspect())!.sent - sentBefore;
      assert.ok(Math.abs(returned - fromEcho.length) <= 5, `${returned} packets returned to the talker for ${fromEcho.length} echoed`);
      await Promise.all([telephony.engine.hangup(accountId, a), telephony.engine.hangup(accountId, b)]);
      assert.equal((await talker.done).code, 0);
      assert.equal((await echo.done).code, 0);
    } finally {
      await telephony.close();
    }
  });
});

await describeWithSipp("SIPp's uac_pcap", () => {
  test('G.711 speech and then an RFC 2833 "1" into a Dialplane call: the audio is heard and the key reported', async (t) => {
    const telephony = await startTestTelephony(services, { rtpPorts: '43000-43999', trunk: NO_TRUNK });
    try {
      const digits: string[] = [];
      let audio = 0;
      telephony.onDigit((_callId, digit) => digits.push(digit));
      void telephony.answered().then((call) => telephony.mediaFor(call.id)?.onAudio(() => void (audio += 1)));
      const uac = await startSipp({
        scenario: 'uac_pcap',
        remote: `127.0.0.1:${telephony.sipPort}`,
        service: '+14155551234',
        pcapLink: true,
        timeoutSeconds: 30,
        t,
      });
      const result = await uac.done;
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(digits, ['1']);
      assert.ok(audio >= 100, `speech packets heard: ${audio}`);
    } finally {
      await telephony.close();
    }
  });
});
