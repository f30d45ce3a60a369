/**
 * GSM 7-bit default alphabet (3GPP TS 23.038 §6.2.1, formerly GSM 03.38): the basic table and its extension
 * table, reached through the escape code 0x1B. No national language shift tables are supported.
 *
 * Byte form: UNPACKED septets, one septet per octet (values 0x00..0x7F), which is how SMPP carries
 * data_coding 0 ("SMSC default alphabet") in short_message. An extension character is the two octets
 * 0x1B, code and counts as two septets towards the message length. Packing septets into 7-bit groups (the air
 * interface form) is not done here.
 *
 * Encoding is strict: only characters that appear in one of the two tables are accepted. Look-alikes are not
 * substituted (lowercase 'ç' is not mapped to 0x09 'Ç', U+2126 OHM SIGN is not mapped to 0x15 'Ω', ...).
 *
 * Decoding is lenient, for inbound traffic:
 *   - 0x1B followed by a code the extension table does not define decodes to the basic table's character for that
 *     code (TS 23.038 §6.2.1.1: the receiver shows the default-alphabet character);
 *   - 0x1B 0x1B (reserved for a further extension table) decodes to one space, as TS 23.038 asks;
 *   - a 0x1B that is the last octet decodes to nothing;
 *   - an octet above 0x7F, which is not a septet, decodes to U+FFFD REPLACEMENT CHARACTER.
 */

/** The escape code that introduces an extension-table character. */
export const GSM7_ESCAPE = 0x1b;

// Basic table, code 0x00..0x7F in order, 16 per line. Position 0x1B is the escape code, not a character; it holds a
// placeholder that is never used for encoding or decoding.
const BASIC_TABLE: readonly string[] = [
  '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å',
  'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', '\u001b', 'Æ', 'æ', 'ß', 'É',
  ' ', '!', '"', '#', '¤', '%', '&', "'", '(', ')', '*', '+', ',', '-', '.', '/',
  '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?',
  '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O',
  'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§',
  '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o',
  'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à',
];

// Extension table: code after 0x1B -> character. 0x0A is FORM FEED (U+000C); codes not listed are undefined.
const EXTENSION_TABLE: ReadonlyMap<number, string> = new Map([
  [0x0a, '\f'],
  [0x14, '^'],
  [0x28, '{'],
  [0x29, '}'],
  [0x2f, '\\'],
  [0x3c, '['],
  [0x3d, '~'],
  [0x3e, ']'],
  [0x40, '|'],
  [0x65, '€'],
]);

// UTF-16 code unit -> septet value. Basic characters map to 0x00..0x7F; extension characters to 0x1B00 | code, so
// a value above 0xFF means "two septets: 0x1B, value & 0x7F". Every character of both tables is in the BMP.
const CODE_OF: ReadonlyMap<number, number> = (() => {
  const map = new Map<number, number>();
  BASIC_TABLE.forEach((ch, code) => {
    if (code !== GSM7_ESCAPE) map.set(ch.charCodeAt(0), code);
  });
  for (const [code, ch] of EXTENSION_TABLE) map.set(ch.charCodeAt(0), (GSM7_ESCAPE << 8) | code);
  return map;
})();

/** The basic table as 128 strings indexed by code; index 0x1B (the escape code) holds U+001B. */
export const GSM7_BASIC_TABLE: readonly string[] = Object.freeze([...BASIC_TABLE]);

/** The extension table: code (the octet after 0x1B) -> character. */
export const GSM7_EXTENSION_TABLE: ReadonlyMap<number, string> = EXTENSION_TABLE;

/**
 * Septets one UTF-16 code unit costs in GSM-7: 1 for a basic-table character, 2 for an extension-table character,
 * 0 when the code unit cannot be encoded.
 */
export function gsm7UnitSeptets(codeUnit: number): 0 | 1 | 2 {
  const v = CODE_OF.get(codeUnit);
  if (v === undefined) return 0;
  return v > 0xff ? 2 : 1;
}

/** Septet length of `text` in GSM-7, or undefined when some character is in neither table. */
export function gsm7Septets(text: string): number | undefined {
  let septets = 0;
  for (let i = 0; i < text.length; i++) {
    const cost = gsm7UnitSeptets(text.charCodeAt(i));
    if (cost === 0) return undefined;
    septets += cost;
  }
  return septets;
}

/** True when every character of `text` is in the basic or the extension table (true for ''). */
export function isGsm7(text: string): boolean {
  return gsm7Septets(text) !== undefined;
}

/**
 * Encode `text` as unpacked GSM-7 septets (one per octet, extension characters as 0x1B, code). Throws a
 * RangeError naming the first character that is in neither table.
 */
export function encodeGsm7(text: string): Buffer {
  const out = Buffer.allocUnsafe(text.length * 2);
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const v = CODE_OF.get(text.charCodeAt(i));
    if (v === undefined) {
      const cp = text.codePointAt(i) ?? 0;
      throw new RangeError(
        `GSM-7: character U+${cp.toString(16).toUpperCase().padStart(4, '0')} at index ${i} is not in the default alphabet`,
      );
    }
    if (v > 0xff) {
      out[n++] = GSM7_ESCAPE;
      out[n++] = v & 0x7f;
    } else {
      out[n++] = v;
    }
  }
  return out.subarray(0, n);
}

/** Decode unpacked GSM-7 septets (one per octet). Never throws; see the module comment for irregular input. */
export function decodeGsm7(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] ?? 0;
    if (b > 0x7f) {
      out += '\ufffd';
    } else if (b !== GSM7_ESCAPE) {
      out += BASIC_TABLE[b] ?? '\ufffd';
    } else if (i + 1 < bytes.length) {
      const code = bytes[++i] ?? 0;
      if (code === GSM7_ESCAPE) out += ' ';
      else if (code > 0x7f) out += '\ufffd';
      else out += EXTENSION_TABLE.get(code) ?? BASIC_TABLE[code] ?? '\ufffd';
    }
  }
  return out;
}
