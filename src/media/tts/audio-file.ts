import { readFile } from 'node:fs/promises';
import { resampleTo8k } from './http-engine.js';
import type { Pcm } from './tts-engine.js';
import { parseWav } from './wav.js';

/** An audio prompt from a 16-bit mono WAV file (any sample rate), ready to play into a call at 8 kHz. */
export async function loadAudioFile(path: string): Promise<Pcm> {
  const pcm = parseWav(await readFile(path));
  return pcm.sampleRate === 8000 ? pcm : resampleTo8k(pcm);
}
