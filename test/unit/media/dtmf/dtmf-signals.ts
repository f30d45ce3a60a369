/**
 * Test support: synthetic signals for the DTMF detector. Everything is deterministic (seeded PRNG) so tests never
 * flake. Not a test file itself (no `.test.` in the name).
 */
import { dtmfFrequencies } from '../../../../src/media/dtmf/goertzel.js';

/** mulberry32: tiny seeded PRNG returning floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal deviates (Box–Muller) from a seeded PRNG. */
export function gaussian(rand: () => number): () => number {
  return () => {
    const u = 1 - rand();
    const v = rand();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
}

const SAMPLE_RATE = 8000;
const samplesFor = (ms: number): number => Math.round((ms * SAMPLE_RATE) / 1000);

function toInt16(x: Float64Array): Int16Array {
  const out = new Int16Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = Math.max(-32768, Math.min(32767, Math.round(x[i]!)));
  return out;
}

export interface GenerateDtmfOptions {
  /** Peak amplitude of the low-group (row) tone. */
  readonly amplitude: number;
  /** High-group level minus low-group level in dB (positive: column tone louder = "normal" twist). Default 0. */
  readonly twistDb?: number;
  /** Add white Gaussian noise at this SNR (relative to the two tones together). */
  readonly noise?: { readonly snrDb: number; readonly seed?: number };
  /** Starting phases in radians; default 0 and 0. */
  readonly phases?: readonly [number, number];
}

/** `ms` milliseconds of the DTMF tone pair for `digit` at 8 kHz. */
export function generateDtmf(digit: string, ms: number, options: GenerateDtmfOptions): Int16Array {
  const f = dtmfFrequencies(digit);
  if (f === undefined) throw new Error(`not a DTMF digit: ${digit}`);
  const n = samplesFor(ms);
  const rowAmp = options.amplitude;
  const colAmp = options.amplitude * 10 ** ((options.twistDb ?? 0) / 20);
  const [p0, p1] = options.phases ?? [0, 0];
  const x = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t = i / SAMPLE_RATE;
    x[i] = rowAmp * Math.sin(2 * Math.PI * f.row * t + p0) + colAmp * Math.sin(2 * Math.PI * f.col * t + p1);
  }
  if (options.noise !== undefined) {
    const signalPower = (rowAmp * rowAmp + colAmp * colAmp) / 2;
    const sigma = Math.sqrt(signalPower / 10 ** (options.noise.snrDb / 10));
    const g = gaussian(mulberry32(options.noise.seed ?? 1));
    for (let i = 0; i < n; i++) x[i] = x[i]! + sigma * g();
  }
  return toInt16(x);
}

export function silence(ms: number): Int16Array {
  return new Int16Array(samplesFor(ms));
}

/** A single sine. */
export function sineTone(freq: number, ms: number, amplitude: number): Int16Array {
  const n = samplesFor(ms);
  const x = new Float64Array(n);
  for (let i = 0; i < n; i++) x[i] = amplitude * Math.sin((2 * Math.PI * freq * i) / SAMPLE_RATE);
  return toInt16(x);
}

export function whiteNoise(ms: number, rms: number, seed: number): Int16Array {
  const g = gaussian(mulberry32(seed));
  const x = new Float64Array(samplesFor(ms));
  for (let i = 0; i < x.length; i++) x[i] = rms * g();
  return toInt16(x);
}

/**
 * Crude voiced speech: a harmonic series on a wandering pitch (90-250 Hz), shaped by three moving formant-like
 * gains and a syllabic envelope, plus a little noise.
 */
export function speechLike(ms: number, seed: number, amplitude = 6000): Int16Array {
  const rand = mulberry32(seed);
  const n = samplesFor(ms);
  const x = new Float64Array(n);
  let pitch = 90 + rand() * 160;
  let phase = 0;
  const formants = [300 + rand() * 500, 900 + rand() * 1200, 2200 + rand() * 800];
  const g = gaussian(rand);
  for (let i = 0; i < n; i++) {
    if (i % 80 === 0) {
      pitch = Math.min(250, Math.max(90, pitch + (rand() - 0.5) * 20));
      for (let k = 0; k < formants.length; k++) formants[k] = formants[k]! * (1 + (rand() - 0.5) * 0.05);
    }
    phase += (2 * Math.PI * pitch) / SAMPLE_RATE;
    let s = 0;
    for (let h = 1; h * pitch < 3800; h++) {
      const fh = h * pitch;
      let gain = 0;
      for (const fm of formants) gain += 1 / (1 + ((fh - fm) / 120) ** 2);
      s += (gain / h ** 0.5) * Math.sin(h * phase);
    }
    const envelope = 0.5 + 0.5 * Math.sin((2 * Math.PI * 4 * i) / SAMPLE_RATE);
    x[i] = amplitude * 0.3 * envelope * s + amplitude * 0.02 * g();
  }
  return toInt16(x);
}

export function concat(...parts: readonly Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Feed `signal` to `push` in frames whose sizes cycle through `sizes`; returns all digits joined. */
export function feedInFrames(push: (frame: Int16Array) => string[], signal: Int16Array, sizes: readonly number[]): string {
  const out: string[] = [];
  let at = 0;
  for (let k = 0; at < signal.length; k++) {
    const size = Math.max(1, sizes[k % sizes.length]!);
    out.push(...push(signal.subarray(at, at + size)));
    at += size;
  }
  return out.join('');
}
