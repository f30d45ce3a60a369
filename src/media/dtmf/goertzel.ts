/**
 * In-band DTMF detection (ITU-T Q.23 frequencies, Q.24 receiver limits) on 16-bit linear PCM.
 *
 *            1209   1336   1477   1633 Hz
 *    697      1      2      3      A
 *    770      4      5      6      B
 *    852      7      8      9      C
 *    941      *      0      #      D
 *
 * Samples are cut into blocks (default 102 samples = 12.75 ms at 8 kHz, as in spandsp and Asterisk; the rows are
 * ~73 Hz apart, which a 102-sample rectangular window still separates by > 20 dB). Each block runs one Goertzel
 * filter per DTMF frequency, tuned to the exact frequency (not the nearest DFT bin), and is a "hit" for a digit when:
 *   - level: the strongest row and column tones each reach `minLevelDbfs` (a sine's peak relative to 32768);
 *   - twist: the column (high-group) tone is at most `normalTwistDb` (8 dB) above the row tone and the row tone at
 *     most `reverseTwistDb` (4 dB) above the column tone — "normal" meaning the high group is louder, as in Q.24
 *     and spandsp;
 *   - relative peak: the strongest row beats every other row, and the strongest column every other column, by
 *     `relativePeakDb` (8 dB);
 *   - purity: the two tones carry at least `minToneEnergyRatio` of the block's energy, which rejects speech, music
 *     and noise that happen to have energy near two DTMF frequencies.
 * A debounce turns hits into digits: a digit is reported once after `minOnBlocks` consecutive hits (2 blocks:
 * ≥ 25.5 ms, so any tone of 40 ms or more is caught whatever the alignment) and released after `minOffBlocks`
 * consecutive blocks without it (2 blocks, so a 40 ms gap always separates a repeated digit). A single bad block
 * inside a held tone neither ends it nor reports it again.
 */

export const DTMF_ROW_FREQUENCIES = [697, 770, 852, 941] as const;
export const DTMF_COL_FREQUENCIES = [1209, 1336, 1477, 1633] as const;
export const DTMF_KEYPAD: readonly (readonly string[])[] = [
  ['1', '2', '3', 'A'],
  ['4', '5', '6', 'B'],
  ['7', '8', '9', 'C'],
  ['*', '0', '#', 'D'],
];

/** The (row, column) frequencies of a DTMF character, or undefined. Lower-case 'a'-'d' are accepted. */
export function dtmfFrequencies(digit: string): { row: number; col: number } | undefined {
  const d = digit.toUpperCase();
  for (let r = 0; r < 4; r++) {
    const c = DTMF_KEYPAD[r]!.indexOf(d);
    if (c >= 0 && d.length === 1) return { row: DTMF_ROW_FREQUENCIES[r]!, col: DTMF_COL_FREQUENCIES[c]! };
  }
  return undefined;
}

export interface DtmfDetectorOptions {
  /** Default 8000. */
  readonly sampleRate?: number;
  /** Samples per Goertzel block; default 102. */
  readonly blockSize?: number;
  /** Minimum peak level of each tone, dB relative to full scale (32768); default −36. */
  readonly minLevelDbfs?: number;
  /** How much louder the high-group tone may be; default 8 dB. */
  readonly normalTwistDb?: number;
  /** How much louder the low-group tone may be; default 4 dB. */
  readonly reverseTwistDb?: number;
  /** How far the chosen tone must beat the others of its group; default 8 dB. */
  readonly relativePeakDb?: number;
  /** Share of the block's energy the two tones must carry; default 0.6. */
  readonly minToneEnergyRatio?: number;
  /** Consecutive hit blocks before a digit is reported; default 2. */
  readonly minOnBlocks?: number;
  /** Consecutive blocks without the digit before it is released; default 2. */
  readonly minOffBlocks?: number;
}

export class DtmfDetectorError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DtmfDetectorError';
  }
}

const dbToPowerRatio = (db: number): number => 10 ** (db / 10);

export class DtmfToneDetector {
  readonly sampleRate: number;
  readonly blockSize: number;
  private readonly rowCoeff: Float64Array;
  private readonly colCoeff: Float64Array;
  private readonly minTonePower: number;
  private readonly normalTwist: number;
  private readonly reverseTwist: number;
  private readonly relativePeak: number;
  private readonly minRatio: number;
  private readonly minOnBlocks: number;
  private readonly minOffBlocks: number;
  private readonly block: Float64Array;
  private fill = 0;
  private readonly rowPower = new Float64Array(4);
  private readonly colPower = new Float64Array(4);
  // debounce state
  private current: string | null = null;
  private candidate: string | null = null;
  private candidateCount = 0;
  private missCount = 0;

  constructor(options: DtmfDetectorOptions = {}) {
    this.sampleRate = options.sampleRate ?? 8000;
    this.blockSize = options.blockSize ?? 102;
    const minLevelDbfs = options.minLevelDbfs ?? -36;
    this.normalTwist = dbToPowerRatio(options.normalTwistDb ?? 8);
    this.reverseTwist = dbToPowerRatio(options.reverseTwistDb ?? 4);
    this.relativePeak = dbToPowerRatio(options.relativePeakDb ?? 8);
    this.minRatio = options.minToneEnergyRatio ?? 0.6;
    this.minOnBlocks = options.minOnBlocks ?? 2;
    this.minOffBlocks = options.minOffBlocks ?? 2;
    if (!Number.isFinite(this.sampleRate) || this.sampleRate < 4000) {
      throw new DtmfDetectorError(`sampleRate must be at least 4000, got ${String(this.sampleRate)}`);
    }
    if (!Number.isInteger(this.blockSize) || this.blockSize < 32) {
      throw new DtmfDetectorError(`blockSize must be an integer ≥ 32, got ${String(this.blockSize)}`);
    }
    if (!Number.isInteger(this.minOnBlocks) || this.minOnBlocks < 1) {
      throw new DtmfDetectorError('minOnBlocks must be a positive integer');
    }
    if (!Number.isInteger(this.minOffBlocks) || this.minOffBlocks < 1) {
      throw new DtmfDetectorError('minOffBlocks must be a positive integer');
    }
    const coeff = (f: number): number => 2 * Math.cos((2 * Math.PI * f) / this.sampleRate);
    this.rowCoeff = Float64Array.from(DTMF_ROW_FREQUENCIES, coeff);
    this.colCoeff = Float64Array.from(DTMF_COL_FREQUENCIES, coeff);
    // A sine of peak A gives a Goertzel power of about (A·N/2)².
    const minAmplitude = 32768 * 10 ** (minLevelDbfs / 20);
    this.minTonePower = ((minAmplitude * this.blockSize) / 2) ** 2;
    this.block = new Float64Array(this.blockSize);
  }

  /** Feed samples of any length; returns the digits whose start was confirmed within them, in order. */
  push(samples: Int16Array): string[] {
    const out: string[] = [];
    for (let i = 0; i < samples.length; i++) {
      this.block[this.fill++] = samples[i]!;
      if (this.fill === this.blockSize) {
        this.fill = 0;
        const digit = this.debounce(this.analyse());
        if (digit !== null) out.push(digit);
      }
    }
    return out;
  }

  /** Forget any partial block and held digit (e.g. after a discontinuity in the stream). */
  reset(): void {
    this.fill = 0;
    this.current = null;
    this.candidate = null;
    this.candidateCount = 0;
    this.missCount = 0;
  }

  /** The digit whose tone is being held right now, if any. */
  get held(): string | null {
    return this.current;
  }

  /** Classify the current block: a digit, or null. */
  private analyse(): string | null {
    const x = this.block;
    const n = this.blockSize;
    let energy = 0;
    for (let i = 0; i < n; i++) energy += x[i]! * x[i]!;
    if (energy === 0) return null;
    goertzelBank(x, this.rowCoeff, this.rowPower);
    goertzelBank(x, this.colCoeff, this.colPower);
    const r = argMax(this.rowPower);
    const c = argMax(this.colPower);
    const row = this.rowPower[r]!;
    const col = this.colPower[c]!;
    if (row < this.minTonePower || col < this.minTonePower) return null;
    if (col > row * this.normalTwist || row > col * this.reverseTwist) return null;
    for (let i = 0; i < 4; i++) {
      if (i !== r && this.rowPower[i]! * this.relativePeak > row) return null;
      if (i !== c && this.colPower[i]! * this.relativePeak > col) return null;
    }
    // For pure tones (row + col)·2 / (N·energy) ≈ 1.
    if (((row + col) * 2) / (n * energy) < this.minRatio) return null;
    return DTMF_KEYPAD[r]![c]!;
  }

  private debounce(hit: string | null): string | null {
    if (hit === null) {
      this.candidate = null;
      this.candidateCount = 0;
      if (this.current !== null && ++this.missCount >= this.minOffBlocks) {
        this.current = null;
        this.missCount = 0;
      }
      return null;
    }
    if (hit === this.candidate) this.candidateCount++;
    else {
      this.candidate = hit;
      this.candidateCount = 1;
    }
    if (hit === this.current) {
      this.missCount = 0;
      return null;
    }
    if (this.current !== null) this.missCount++; // another digit's block counts against the held one
    if (this.candidateCount >= this.minOnBlocks) {
      this.current = hit;
      this.missCount = 0;
      return hit;
    }
    if (this.current !== null && this.missCount >= this.minOffBlocks) {
      this.current = null;
      this.missCount = 0;
    }
    return null;
  }
}

function goertzelBank(x: Float64Array, coeffs: Float64Array, power: Float64Array): void {
  for (let k = 0; k < coeffs.length; k++) {
    const coeff = coeffs[k]!;
    let s1 = 0;
    let s2 = 0;
    for (let i = 0; i < x.length; i++) {
      const s0 = x[i]! + coeff * s1 - s2;
      s2 = s1;
      s1 = s0;
    }
    power[k] = s1 * s1 + s2 * s2 - coeff * s1 * s2;
  }
}

function argMax(a: Float64Array): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i]! > a[best]!) best = i;
  return best;
}
