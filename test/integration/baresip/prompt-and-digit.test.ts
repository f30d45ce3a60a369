import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Services } from '../../../src/core/services.js';
import { FliteEngine } from '../../../src/media/tts/flite-engine.js';
import { createCallingAccount, startTestTelephony } from '../../helpers/telephony.js';
import { audibleSeconds, describeWithBaresip, startBaresip } from '../../helpers/baresip.js';
import type { TestDatabase } from '../../helpers/databases.js';
import { withinOrFail } from '../../helpers/processes.js';

/**
 * A real softphone (baresip) auto-answers Dialplane's outbound call, hears a text-to-speech prompt (its dump of the
 * received audio holds about the prompt's length of sound) and presses 5, which Dialplane reports.
 */
let db: TestDatabase;
let services: Services;
let accountId: string;
const tts = new FliteEngine();

before(async () => {
  ({ db, services, accountId } = await createCallingAccount('Baresip'));
});
after(async () => {
  await tts.close();
  await db.close();
});

await describeWithBaresip('a softphone in a call (baresip)', () => {
  test('baresip auto-answers, hears the prompt and presses 5: Dialplane reports "5", the call completes', async (t) => {
    const phone = await startBaresip({ user: '+14155550100', maxSeconds: 60, t });
    const telephony = await startTestTelephony(services, { rtpPorts: '39000-39999', trunk: `sip:${phone.address}` });
    try {
      const prompt = await tts.synthesize('Your appointment is tomorrow at ten. Press five to confirm.');
      const promptSeconds = prompt.samples.length / 8000;
      const answered = telephony.answered().then((call) => call.id);
      const digits: { callId: string; digit: string }[] = [];
      let digitHeard: () => void = () => undefined;
      const firstDigit = new Promise<void>((resolve) => (digitHeard = resolve));
      telephony.onDigit((callId, digit) => {
        digits.push({ callId, digit });
        digitHeard();
      });

      const call = await telephony.engine.place({ accountId, from: '+14155551234', to: '+14155550100', ringTimeoutS: 10, maxDurationS: 30 });
      assert.equal(await withinOrFail(answered, 10_000, () => `the answer\n${phone.output().slice(-3000)}`), call.id);
      await phone.waitEvent('CALL_ESTABLISHED', 5000);
      const media = telephony.mediaFor(call.id);
      assert.ok(media, 'the answered call has media');
      await media.play(prompt.samples);
      // Let the last packets through baresip's jitter buffer before it answers the prompt.
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.deepEqual(digits, [], 'no key before baresip pressed one');

      const sent = await phone.command('sndcode', '5');
      assert.ok(sent.ok, `sndcode failed: ${sent.data}`);
      await withinOrFail(firstDigit, 5000, () => `digit 5 from baresip\n${phone.output().slice(-3000)}`);
      // A key held for baresip's tone length must still be reported once.
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.deepEqual(digits, [{ callId: call.id, digit: '5' }]);

      await telephony.engine.hangup(accountId, call.id);
      assert.equal((await services.calls.get(accountId, call.id)).outcome, 'completed');
      await phone.waitEvent('CALL_CLOSED', 5000);

      const received = await phone.receivedAudio();
      assert.equal(received.length, 1, `one dump of received audio, got ${received.length}`);
      const heard = received[0]!;
      assert.equal(heard.sampleRate, 8000);
      const audible = audibleSeconds(heard);
      const expected = audibleSeconds({ sampleRate: 8000, channels: 1, samples: prompt.samples });
      t.diagnostic(
        `prompt ${promptSeconds.toFixed(2)} s (${expected.toFixed(2)} s audible); baresip received ${(heard.samples.length / 8000).toFixed(2)} s, ${audible.toFixed(2)} s audible`,
      );
      // The same measure (RMS over 20 ms frames) of what was sent and what arrived, through G.711 and a jitter buffer.
      assert.ok(expected > 1, `the prompt itself has ${expected.toFixed(2)} s of sound`);
      assert.ok(
        Math.abs(audible - expected) <= 0.4,
        `baresip heard ${audible.toFixed(2)} s of sound for a prompt with ${expected.toFixed(2)} s of sound (${promptSeconds.toFixed(2)} s long)`,
      );
    } finally {
      // DIALPLANE_TEST_BARESIP_LOG=1: baresip's own log (SIP, SDP, DTMF) on stderr.
      if (process.env.DIALPLANE_TEST_BARESIP_LOG) process.stderr.write(`--- baresip ---\n${phone.output()}\n`);
      await telephony.close();
      await phone.stop();
    }
  });
});
