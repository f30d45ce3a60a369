import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { FliteEngine } from '../../../../src/media/tts/flite-engine.js';
import { CachedTts } from '../../../../src/media/tts/prompt-cache.js';
import { parseWav, writeWav } from '../../../../src/media/tts/wav.js';
import type { Pcm, TtsEngine } from '../../../../src/media/tts/tts-engine.js';

const engine = new FliteEngine();
after(async () => engine.close());

function rms(samples: Int16Array): number {
  let sum = 0;
  for (const s of samples) sum += s * s;
  return Math.sqrt(sum / samples.length);
}

test('Flite speaks a sentence as 8 kHz 16-bit PCM of a plausible length, with real signal in it', async () => {
  const pcm = await engine.synthesize('Hello, please press one to confirm your appointment.');
  assert.equal(pcm.sampleRate, 8000);
  const seconds = pcm.samples.length / pcm.sampleRate;
  assert.ok(seconds > 1.5 && seconds < 6, `${seconds} s`);
  assert.ok(rms(pcm.samples) > 500, `rms ${rms(pcm.samples)}`);
});

test('longer text gives longer audio; several requests at once all complete', async () => {
  const [short, long, again] = await Promise.all([
    engine.synthesize('Yes.'),
    engine.synthesize('This is a much longer sentence that takes a good deal more time to say out loud.'),
    engine.synthesize('Yes.'),
  ]);
  assert.ok(long.samples.length > 3 * short.samples.length);
  assert.equal(again.samples.length, short.samples.length, 'deterministic');
});

test('empty, oversized text and odd voice names are refused with TtsError', async () => {
  await assert.rejects(engine.synthesize('   '), { name: 'TtsError' });
  await assert.rejects(engine.synthesize('x'.repeat(5000)), { name: 'TtsError' });
  await assert.rejects(engine.synthesize('hi', { voice: '../../etc' }), { name: 'TtsError' });
});

test('the prompt cache serves repeats from memory and shares concurrent requests', async () => {
  let calls = 0;
  const counting: TtsEngine = {
    name: 'counting',
    async synthesize(text) {
      calls += 1;
      return { sampleRate: 8000, samples: new Int16Array(text.length * 100) };
    },
    async close() {},
  };
  const cache = new CachedTts(counting, 10_000);
  const [a, b] = await Promise.all([cache.synthesize('abc'), cache.synthesize('abc')]);
  assert.equal(a, b);
  assert.equal(calls, 1);
  await cache.synthesize('abc', { voice: 'other' });
  assert.equal(calls, 2, 'voice is part of the key');
  // 2 × 600 bytes so far, then 10 × 400 and 10 × 600: 11,200 bytes against a budget of 10,000.
  for (let i = 0; i < 20; i++) await cache.synthesize(`x${i}`);
  assert.ok(cache.bytes <= 10_000, String(cache.bytes));
  const before = calls;
  await cache.synthesize('x0');
  assert.equal(calls, before, 'a recent prompt is still cached');
  await cache.synthesize('abc');
  assert.equal(calls, before + 1, 'the least recently used prompt was evicted');
});

test('WAV write then parse gives the samples back', () => {
  const pcm: Pcm = { sampleRate: 8000, samples: Int16Array.from([0, 1, -1, 32767, -32768, 1234]) };
  const back = parseWav(writeWav(pcm));
  assert.equal(back.sampleRate, 8000);
  assert.deepEqual([...back.samples], [...pcm.samples]);
  assert.throws(() => parseWav(Buffer.from('not a wav file at all')), { name: 'TtsError' });
});
