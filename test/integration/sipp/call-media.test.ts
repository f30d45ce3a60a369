import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Services } from '../../../src/core/services.js';
import { encodeG711, transcode } from '../../../src/media/codecs/g711.js';
import { MediaBridge } from '../../../src/media/bridge.js';
import type { CallMedia } from '../../../src/media/call-media.js';
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
    const toTalker = await startTestTelephony(services, { rtpPorts: '41000-41999', trunk: `sip:${talker.address}` });
    const toEcho = await startTestTelephony(services, { rtpPorts: '42000-42999', trunk: `sip:${echo.address}` });
    try {
      const answered = (telephony: typeof toTalker, to: string) =>
        new Promise<string>((resolve) => {
          void telephony.answered((call) => call.to === to).then((call) => resolve(call.id));
          void telephony.engine.place({ accountId, from: '+14155551234', to, ringTimeoutS: 10, maxDurationS: 30 });
        });
      const [a, b] = await Promise.all([answered(toTalker, '+14155550201'), answered(toEcho, '+14155550202')]);
      const legA = toTalker.mediaFor(a) as CallMedia;
      const legB = toEcho.mediaFor(b) as CallMedia;
      assert.equal(legA.codec.name, 'PCMA');
      assert.equal(legB.codec.name, 'PCMU');
      const fromTalker: Buffer[] = [];
      const fromEcho: Buffer[] = [];
      const sentToTalker: Buffer[] = [];
      legA.onAudio((payload) => fromTalker.push(payload));
      legB.onAudio((payload) => fromEcho.push(payload));
      legA.rtp.listenSent((_pt, payload) => sentToTalker.push(payload));
      const bridge = new MediaBridge(legA, legB);
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      bridge.stop();
      assert.ok(fromTalker.length >= 50, `speech from the talker: ${fromTalker.length} packets`);
      // What B echoed is what A said, transcoded to B's law; what went back to A is that echo, transcoded again.
      const expected = fromTalker.slice(0, fromEcho.length).map((p) => transcode(p, 'PCMA', 'PCMU'));
      assert.ok(fromEcho.length >= fromTalker.length - 5, `echoed ${fromEcho.length} of ${fromTalker.length}`);
      fromEcho.forEach((payload, i) => assert.ok(payload.equals(expected[i]!), `echoed packet ${i}`));
      assert.equal(sentToTalker.length, fromEcho.length);
      sentToTalker.forEach((payload, i) => assert.ok(payload.equals(transcode(fromEcho[i]!, 'PCMU', 'PCMA')), `returned packet ${i}`));
      await Promise.all([toTalker.engine.hangup(accountId, a), toEcho.engine.hangup(accountId, b)]);
      assert.equal((await talker.done).code, 0);
      assert.equal((await echo.done).code, 0);
    } finally {
      await toTalker.close();
      await toEcho.close();
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
