import { TtsError, type Pcm } from './tts-engine.js';

/**
 * RIFF/WAVE, PCM 16-bit little-endian only (what Flite writes and what recordings use):
 *
 *   "RIFF" size "WAVE"  then chunks: "fmt " (format 1, channels, rate, byte rate, align, bits) and "data" (samples)
 */
export function parseWav(wav: Buffer): Pcm {
  if (wav.length < 12 || wav.toString('latin1', 0, 4) !== 'RIFF' || wav.toString('latin1', 8, 12) !== 'WAVE') {
    throw new TtsError('not a RIFF/WAVE file');
  }
  let format: { channels: number; sampleRate: number; bits: number } | undefined;
  for (let offset = 12; offset + 8 <= wav.length; ) {
    const id = wav.toString('latin1', offset, offset + 4);
    const size = wav.readUInt32LE(offset + 4);
    const body = offset + 8;
    if (id === 'fmt ' && body + 16 <= wav.length) {
      if (wav.readUInt16LE(body) !== 1) throw new TtsError('WAVE data is not PCM');
      format = { channels: wav.readUInt16LE(body + 2), sampleRate: wav.readUInt32LE(body + 4), bits: wav.readUInt16LE(body + 14) };
    } else if (id === 'data') {
      if (!format) throw new TtsError('WAVE data before its format');
      if (format.bits !== 16 || format.channels !== 1) throw new TtsError('only 16-bit mono WAVE is supported');
      const end = Math.min(wav.length, body + size);
      const samples = new Int16Array(Math.floor((end - body) / 2));
      for (let i = 0; i < samples.length; i++) samples[i] = wav.readInt16LE(body + i * 2);
      return { sampleRate: format.sampleRate, samples };
    }
    offset = body + size + (size % 2);
  }
  throw new TtsError('WAVE file has no data chunk');
}

export function writeWav(pcm: Pcm, channels = 1): Buffer {
  const dataBytes = pcm.samples.length * 2;
  const wav = Buffer.alloc(44 + dataBytes);
  wav.write('RIFF', 0, 'latin1');
  wav.writeUInt32LE(36 + dataBytes, 4);
  wav.write('WAVE', 8, 'latin1');
  wav.write('fmt ', 12, 'latin1');
  wav.writeUInt32LE(16, 16);
  wav.writeUInt16LE(1, 20);
  wav.writeUInt16LE(channels, 22);
  wav.writeUInt32LE(pcm.sampleRate, 24);
  wav.writeUInt32LE(pcm.sampleRate * channels * 2, 28);
  wav.writeUInt16LE(channels * 2, 32);
  wav.writeUInt16LE(16, 34);
  wav.write('data', 36, 'latin1');
  wav.writeUInt32LE(dataBytes, 40);
  for (let i = 0; i < pcm.samples.length; i++) wav.writeInt16LE(pcm.samples[i]!, 44 + i * 2);
  return wav;
}
