import { isSupportedCountry, parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js';
import { DialplaneError } from '../errors.js';

const E164 = /^\+[1-9]\d{6,14}$/;

/** True when the text is already strict E.164: a plus, a non-zero country code digit, 7 to 15 digits. */
export function isE164(value: string): boolean {
  return E164.test(value);
}

/** True for an ISO 3166 alpha-2 code (upper-case) whose numbering plan is known, so national numbers can be read. */
export function isKnownCountry(code: string): boolean {
  return /^[A-Z]{2}$/.test(code) && isSupportedCountry(code);
}

/**
 * Normalises a number typed in any common format to E.164. National formats use the default country
 * (0527121102 with IL → +972527121102). Throws invalid_phone_number naming the field when it cannot be a number.
 */
export function normalizePhoneNumber(input: string, defaultCountry: string, field = 'phone_number'): string {
  // Parsing costs more than a call leg's database writes; the same few numbers are normalised again and again.
  const key = `${defaultCountry}|${input}`;
  const known = normalised.get(key);
  if (known !== undefined) return known;
  const number = parseToE164(input, defaultCountry, field);
  if (normalised.size >= NORMALISED_ENTRIES) normalised.delete(normalised.keys().next().value!);
  normalised.set(key, number);
  return number;
}

/** Numbers normalised lately (successes only: a bad number is parsed again, to name the field it came in). */
const normalised = new Map<string, string>();
const NORMALISED_ENTRIES = 10_000;

function parseToE164(input: string, defaultCountry: string, field: string): string {
  const trimmed = input.trim();
  const parsed = trimmed.length > 0 && trimmed.length <= 40
    ? parsePhoneNumberFromString(trimmed, defaultCountry.toUpperCase() as CountryCode)
    : undefined;
  // A national format can parse to an E.164 string that itself parses differently (a Canadian 7-digit local number,
  // a trunk zero kept after the country code); only a result that is its own normal form may be stored.
  const stable = parsed?.isPossible() && isE164(parsed.number) ? parsePhoneNumberFromString(parsed.number) : undefined;
  if (!parsed || !stable || !stable.isPossible() || stable.number !== parsed.number) {
    throw new DialplaneError('invalid_phone_number', `${field} is not a valid phone number: ${JSON.stringify(input)}`, {
      field,
    });
  }
  return parsed.number;
}
