/**
 * Credits are stored as integer minor units (hundredths); documents show them with two decimals (1250.75).
 * Conversions go through strings so no float rounding reaches storage.
 */
export const MINOR_PER_CREDIT = 100;

const CREDITS_PATTERN = /^(-)?(\d{1,13})(?:\.(\d{1,2}))?$/;

/** Parses "1250.75", "10", 12.5 into minor units; throws RangeError on anything else (3 decimals, NaN, 1e30). */
export function creditsToMinor(value: string | number): number {
  const text = typeof value === 'number' ? numberToPlainText(value) : value.trim();
  const match = CREDITS_PATTERN.exec(text);
  if (!match) throw new RangeError(`not a credit amount with at most two decimals: ${String(value)}`);
  const [, sign, whole, fraction = ''] = match;
  const minor = Number(whole) * MINOR_PER_CREDIT + Number(fraction.padEnd(2, '0'));
  return sign ? -minor : minor;
}

function numberToPlainText(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  // toFixed(2) would silently round 0.125; a third significant decimal must be refused instead.
  const text = String(value);
  return text.includes('e') ? value.toFixed(20) : text;
}

/** Minor units to the number a document shows (125075 → 1250.75). Exact for any safe integer input. */
export function minorToCredits(minor: number): number {
  return Number((minor / MINOR_PER_CREDIT).toFixed(2));
}
