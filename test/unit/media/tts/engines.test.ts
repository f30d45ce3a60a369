import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { test } from 'node:test';
import { EspeakEngine } from '../../../../src/media/tts/espeak-engine.js';
import { HttpTtsEngine, resampleTo8k } from '../../../../src/media/tts/http-engine.js';
import { writeWav } from '../../../../src/media/tts/wav.js';

test('the HTTP engine posts the text and voice, and resamples a 16 kHz answer to 8 kHz', async () => {
  let seen: unknown;
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => (body += chunk));
    request.on('end', () => {
      seen = JSON.parse(body);
      response.writeHead(200, { 'content-type': 'audio/wav' });
      response.end(writeWav({ sampleRate: 16000, samples: Int16Array.from({ length: 16000 }, (_, i) => (i % 2 ? 1000 : -1000)) }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  try {
    const engine = new HttpTtsEngine({ url: `http://127.0.0.1:${port}/speak` });
    const pcm = await engine.synthesize('shalom', { voice: 'he' });
    assert.deepEqual(seen, { text: 'shalom', voice: 'he' });
    assert.equal(pcm.sampleRate, 8000);
    assert.equal(pcm.samples.length, 8000);
  } finally {
    server.close();
  }
});

test('the HTTP engine reports an unreachable or failing service as TtsError', async () => {
  const engine = new HttpTtsEngine({ url: 'http://127.0.0.1:9/speak', timeoutMs: 2000 });
  await assert.rejects(engine.synthesize('hello'), { name: 'TtsError' });
});

test('espeak-ng is optional: without the package it says how to install it; with one it is used', async () => {
  const missing = new EspeakEngine(async () => {
    throw new Error("Cannot find package '@echogarden/espeak-ng-emscripten'");
  });
  await assert.rejects(missing.synthesize('shalom', { voice: 'he' }), /npm install @echogarden\/espeak-ng-emscripten/);
  const present = new EspeakEngine(async () => ({
    synthesize: async (_text: string, voice: string) => ({ sampleRate: 22050, samples: new Int16Array(voice === 'he' ? 22050 : 0) }),
  }));
  const pcm = await present.synthesize('shalom', { voice: 'he' });
  assert.equal(pcm.sampleRate, 8000);
  assert.equal(pcm.samples.length, 8000);
});

test('resampling keeps the duration', () => {
  const pcm = resampleTo8k({ sampleRate: 22050, samples: new Int16Array(44100) });
  assert.equal(pcm.samples.length, 16000);
});

test('an audio file prompt: a 16 kHz WAV on disk is loaded at 8 kHz', async () => {
  const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { loadAudioFile } = await import('../../../../src/media/tts/audio-file.js');
  const dir = await mkdtemp(join(tmpdir(), 'dialplane-prompt-'));
  try {
    const file = join(dir, 'welcome.wav');
    await writeFile(file, writeWav({ sampleRate: 16000, samples: new Int16Array(32000).fill(1200) }));
    const pcm = await loadAudioFile(file);
    assert.equal(pcm.sampleRate, 8000);
    assert.equal(pcm.samples.length, 16000);
    assert.equal(pcm.samples[100], 1200);
    await assert.rejects(loadAudioFile(join(dir, 'missing.wav')));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
