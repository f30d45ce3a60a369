/**
 * ITU-T G.711 companding: µ-law (PCMU, RTP payload type 0) and A-law (PCMA, payload type 8).
 *
 * Linear samples are 16-bit two's complement. Decoding returns the centre of each code's quantisation interval,
 * scaled to 16 bits (the values of the classic Sun/CCITT reference code and ITU-T G.191):
 *   µ-law: 0xFF and 0x7F both decode to 0 (+0 and −0); full scale 0x80 → +32124, 0x00 → −32124.
 *   A-law: 0xD5 → +8, 0x55 → −8 (the smallest magnitudes; A-law has no zero code); 0xAA → +32256, 0x2A → −32256.
 *
 * Encoding:
 *   µ-law: magnitude |x| clipped to 32635, biased by 0x84 (132); the segment is the position of the top set bit,
 *          the 4-bit mantissa the next bits; the code is the one's complement of sign|segment|mantissa.
 *   A-law: magnitude x for x ≥ 0, ~x (= −x − 1) for x < 0, taken to 12 bits; segment 0 and 1 share a step of 16;
 *          even bits are inverted (XOR 0x55).
 * Every encoder is a 65536-entry table and every decoder a 256-entry table, built once at module load; transcoding
 * between the two laws uses two 256-entry code→code tables (decode in one law, encode in the other).
 */

export type G711Law = 'PCMU' | 'PCMA';

const MULAW_BIAS = 0x84;
const MULAW_CLIP = 32635;

function computeLinearToMulaw(sample: number): number {
  let sign = 0;
  let mag = sample;
  if (mag < 0) {
    sign = 0x80;
    mag = -mag;
  }
  if (mag > MULAW_CLIP) mag = MULAW_CLIP;
  mag += MULAW_BIAS;
  // Segment: position of the highest set bit among bits 7..14.
  let exponent = 7;
  for (let mask = 0x4000; (mag & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (mag >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

function computeMulawToLinear(code: number): number {
  const u = ~code & 0xff;
  const t = (((u & 0x0f) << 3) + MULAW_BIAS) << ((u & 0x70) >> 4);
  return (u & 0x80) !== 0 ? MULAW_BIAS - t : t - MULAW_BIAS;
}

function computeLinearToAlaw(sample: number): number {
  const positive = sample >= 0;
  const mag = positive ? sample : ~sample; // 0..32767
  let ix = mag >> 4; // 0..2047
  if (ix > 15) {
    let exponent = 1;
    while (ix > 31) {
      ix >>= 1;
      exponent++;
    }
    ix = (ix - 16) + (exponent << 4);
  }
  if (positive) ix |= 0x80;
  return ix ^ 0x55;
}

function computeAlawToLinear(code: number): number {
  const a = (code ^ 0x55) & 0xff;
  const exponent = (a & 0x70) >> 4;
  let t = (a & 0x0f) << 4;
  if (exponent === 0) t += 8;
  else {
    t += 0x108;
    if (exponent > 1) t <<= exponent - 1;
  }
  return (a & 0x80) !== 0 ? t : -t;
}

const MULAW_DECODE = new Int16Array(256);
const ALAW_DECODE = new Int16Array(256);
const MULAW_ENCODE = new Uint8Array(65536); // indexed by sample & 0xffff
const ALAW_ENCODE = new Uint8Array(65536);
const MULAW_TO_ALAW = new Uint8Array(256);
const ALAW_TO_MULAW = new Uint8Array(256);

for (let i = 0; i < 65536; i++) {
  const sample = (i << 16) >> 16;
  MULAW_ENCODE[i] = computeLinearToMulaw(sample);
  ALAW_ENCODE[i] = computeLinearToAlaw(sample);
}
for (let c = 0; c < 256; c++) {
  MULAW_DECODE[c] = computeMulawToLinear(c);
  ALAW_DECODE[c] = computeAlawToLinear(c);
}
for (let c = 0; c < 256; c++) {
  MULAW_TO_ALAW[c] = ALAW_ENCODE[MULAW_DECODE[c]! & 0xffff]!;
  ALAW_TO_MULAW[c] = MULAW_ENCODE[ALAW_DECODE[c]! & 0xffff]!;
}

/** One 16-bit sample (values outside −32768..32767 are clamped, fractions truncated) to a µ-law byte. */
export function linearToMulaw(sample: number): number {
  return MULAW_ENCODE[clampToInt16(sample) & 0xffff]!;
}

/** One µ-law byte (only the low 8 bits are used) to a 16-bit sample. */
export function mulawToLinear(code: number): number {
  return MULAW_DECODE[code & 0xff]!;
}

/** One 16-bit sample (clamped, truncated) to an A-law byte. */
export function linearToAlaw(sample: number): number {
  return ALAW_ENCODE[clampToInt16(sample) & 0xffff]!;
}

/** One A-law byte (only the low 8 bits are used) to a 16-bit sample. */
export function alawToLinear(code: number): number {
  return ALAW_DECODE[code & 0xff]!;
}

export function encodeMulaw(pcm: Int16Array): Buffer {
  const out = Buffer.allocUnsafe(pcm.length);
  for (let i = 0; i < pcm.length; i++) out[i] = MULAW_ENCODE[pcm[i]! & 0xffff]!;
  return out;
}

export function decodeMulaw(buf: Uint8Array): Int16Array {
  const out = new Int16Array(buf.length);
  for (let i = 0; i < buf.length; i++) out[i] = MULAW_DECODE[buf[i]!]!;
  return out;
}

export function encodeAlaw(pcm: Int16Array): Buffer {
  const out = Buffer.allocUnsafe(pcm.length);
  for (let i = 0; i < pcm.length; i++) out[i] = ALAW_ENCODE[pcm[i]! & 0xffff]!;
  return out;
}

export function decodeAlaw(buf: Uint8Array): Int16Array {
  const out = new Int16Array(buf.length);
  for (let i = 0; i < buf.length; i++) out[i] = ALAW_DECODE[buf[i]!]!;
  return out;
}

export function encodeG711(pcm: Int16Array, law: G711Law): Buffer {
  return law === 'PCMU' ? encodeMulaw(pcm) : encodeAlaw(pcm);
}

export function decodeG711(buf: Uint8Array, law: G711Law): Int16Array {
  return law === 'PCMU' ? decodeMulaw(buf) : decodeAlaw(buf);
}

/** µ-law byte → A-law byte (table lookup). */
export function mulawToAlaw(code: number): number {
  return MULAW_TO_ALAW[code & 0xff]!;
}

/** A-law byte → µ-law byte (table lookup). */
export function alawToMulaw(code: number): number {
  return ALAW_TO_MULAW[code & 0xff]!;
}

/**
 * Convert a G.711 payload between laws, byte by byte through a 256-entry table. Always returns a new Buffer
 * (a copy when `from === to`), so callers may mutate the result.
 */
export function transcode(payload: Uint8Array, from: G711Law, to: G711Law): Buffer {
  const out = Buffer.allocUnsafe(payload.length);
  if (from === to) {
    out.set(payload);
    return out;
  }
  const table = from === 'PCMU' ? MULAW_TO_ALAW : ALAW_TO_MULAW;
  for (let i = 0; i < payload.length; i++) out[i] = table[payload[i]!]!;
  return out;
}

/**
 * transcode() into a buffer the caller has: `src[start, end)` in law `from` is written to `dst` at `at` in law `to`
 * (a plain copy when the laws are the same), so a relayed packet is transcoded without a buffer of its own.
 */
export function transcodeInto(src: Uint8Array, start: number, end: number, dst: Uint8Array, at: number, from: G711Law, to: G711Law): void {
  if (from === to) {
    dst.set(src.subarray(start, end), at);
    return;
  }
  const table = from === 'PCMU' ? MULAW_TO_ALAW : ALAW_TO_MULAW;
  for (let i = start; i < end; i++) dst[at++] = table[src[i]!]!;
}

function clampToInt16(sample: number): number {
  if (!(sample > -32768)) return -32768; // also NaN
  if (sample >= 32767) return 32767;
  return Math.trunc(sample);
}
