/**
 * SMS segmentation: choose the encoding of a text, split it into the parts of a concatenated SMS and produce the
 * bytes an SMPP submit_sm carries for each part.
 *
 * Encoding: GSM-7 (3GPP TS 23.038 default alphabet, see ./gsm7.ts) when every character is in the basic or the
 * extension table, otherwise UCS-2. Units are septets for GSM-7 (an extension character costs two) and UTF-16
 * code units for UCS-2. Characters outside the BMP are sent as UTF-16 surrogate pairs (two units), which is what
 * handsets send and display, although strict UCS-2 has no such characters.
 *
 * Limits (140-octet user data):
 *   single message:  160 septets GSM-7 | 70 units UCS-2
 *   each part of a concatenated message: 153 septets | 67 units, after the 6-octet UDH
 *     05 00 03 ref total seq   (UDHL 5; IE 0x00 "concatenated short messages, 8-bit reference", length 3)
 * Parts are filled greedily in text order. A part never ends between the two septets of an extension character
 * (0x1B, code) nor between the two halves of a surrogate pair: such a character moves whole to the next part.
 *
 * SMPP use: short_message = udh + payload with esm_class UDHI (0x40) set when `udh` is present, data_coding from
 * `dataCoding`. GSM-7 payloads are unpacked septets, one per octet (the data_coding 0 convention); UCS-2
 * payloads are UTF-16 big-endian.
 */
import { randomInt } from 'node:crypto';
import { decodeGsm7, encodeGsm7, gsm7Septets, gsm7UnitSeptets } from './gsm7.js';

export { GSM7_ESCAPE, decodeGsm7, encodeGsm7, gsm7Septets, isGsm7 } from './gsm7.js';

export type SmsEncoding = 'GSM-7' | 'UCS-2';

/** Per-encoding limits: `single` for an unsegmented message, `part` for each part of a concatenated one. */
export const SMS_LIMITS: Readonly<Record<SmsEncoding, { readonly single: number; readonly part: number }>> = Object.freeze({
  'GSM-7': Object.freeze({ single: 160, part: 153 }),
  'UCS-2': Object.freeze({ single: 70, part: 67 }),
});

/** SMPP data_coding values: 0 = SMSC default alphabet (GSM-7 here), 8 = UCS-2. */
export const SMS_DATA_CODING: Readonly<Record<SmsEncoding, number>> = Object.freeze({ 'GSM-7': 0, 'UCS-2': 8 });

/** Default cap on the number of parts accepted by segment(). */
export const DEFAULT_MAX_SEGMENTS = 10;

/** Largest possible `maxSegments`: the total-parts field of the concatenation IE is one octet. */
export const MAX_CONCAT_PARTS = 255;

export interface SmsPart {
  /** The slice of the input text carried by this part. */
  text: string;
  /** Length of `text` in septets (GSM-7) or UTF-16 code units (UCS-2). */
  units: number;
  /** Concatenation UDH (05 00 03 ref total seq); absent when the message is a single part. */
  udh?: Buffer;
  /** Encoded `text`: unpacked GSM-7 septets, one per octet, or UCS-2 (UTF-16BE). Does not include `udh`. */
  payload: Buffer;
}

export interface Segmentation {
  encoding: SmsEncoding;
  /** SMPP data_coding: 0 for GSM-7, 8 for UCS-2. */
  dataCoding: number;
  /** Number of parts (1 for a single message, including the empty text). */
  segments: number;
  parts: SmsPart[];
  /** Length of the whole text in septets (GSM-7) or UTF-16 code units (UCS-2); the sum of the parts' units. */
  units: number;
}

export interface SegmentOptions {
  /** Most parts accepted; more throw SmsTooLongError. Integer 1..255, default DEFAULT_MAX_SEGMENTS (10). */
  maxSegments?: number;
  /**
   * 8-bit concatenation reference (0..255) written into every part's UDH. Used only when the text needs more than
   * one part. When omitted a random value is drawn; callers that track references per destination pass their own.
   */
  reference?: number;
}

/** The text needs more parts than `maxSegments` allows. */
export class SmsTooLongError extends Error {
  readonly segments: number;
  readonly maxSegments: number;
  readonly encoding: SmsEncoding;
  readonly units: number;

  constructor(segments: number, maxSegments: number, encoding: SmsEncoding, units: number) {
    super(`SMS needs ${segments} segments (${units} ${encoding === 'GSM-7' ? 'septets' : 'UCS-2 units'}), more than the maximum of ${maxSegments}`);
    this.name = 'SmsTooLongError';
    this.segments = segments;
    this.maxSegments = maxSegments;
    this.encoding = encoding;
    this.units = units;
  }
}

/** Encode `text` as UTF-16 big-endian (the UCS-2 payload; surrogate pairs and lone surrogates are kept as-is). */
export function encodeUcs2(text: string): Buffer {
  return Buffer.from(text, 'utf16le').swap16();
}

/** Decode UTF-16 big-endian bytes. An odd trailing octet is ignored. Never throws. */
export function decodeUcs2(bytes: Uint8Array): string {
  const even = bytes.length - (bytes.length % 2);
  const copy = Buffer.from(bytes.subarray(0, even));
  return copy.swap16().toString('utf16le');
}

/** The 6-octet concatenation UDH with an 8-bit reference: 05 00 03 reference total seq. */
export function buildConcatUdh(reference: number, total: number, seq: number): Buffer {
  if (!isByte(reference)) throw new RangeError(`concatenation reference must be an integer 0..255, got ${reference}`);
  if (!isByte(total) || total < 1) throw new RangeError(`concatenation total must be an integer 1..255, got ${total}`);
  if (!Number.isInteger(seq) || seq < 1 || seq > total) {
    throw new RangeError(`concatenation seq must be an integer 1..${total}, got ${seq}`);
  }
  return Buffer.from([0x05, 0x00, 0x03, reference, total, seq]);
}

export interface ConcatInfo {
  /** Concatenation reference; parts of one message share it (together with sender and recipient). */
  reference: number;
  /** Width of the reference: 8 (IE 0x00) or 16 (IE 0x08). */
  referenceBits: 8 | 16;
  /** Number of parts of the message, 1..255. */
  total: number;
  /** 1-based position of this part, 1..total. */
  seq: number;
}

/**
 * Split user data whose first octet is a UDH length (TP-UDHI / SMPP esm_class 0x40 set) into the UDH (including its
 * length octet) and the payload after it. Undefined when the UDH length runs past the end of the data.
 */
export function splitUdh(userData: Uint8Array): { udh: Buffer; payload: Buffer } | undefined {
  const udhl = userData[0];
  if (udhl === undefined || 1 + udhl > userData.length) return undefined;
  const buf = Buffer.from(userData.buffer, userData.byteOffset, userData.byteLength);
  return { udh: buf.subarray(0, 1 + udhl), payload: buf.subarray(1 + udhl) };
}

/**
 * Read the concatenation information element from a UDH, or from a whole user data field that starts with one
 * (only meaningful when TP-UDHI / esm_class 0x40 is set: the first octet is taken as the UDH length). Supports
 * IE 0x00 (8-bit reference) and IE 0x08 (16-bit reference). Per 3GPP TS 23.040 §9.2.3.24.1, an IE whose total
 * is 0 or whose sequence number is 0 or above the total is ignored; when several valid concatenation IEs are
 * present the last one is used. Returns undefined when there is none or the UDH is malformed (an IE runs past
 * the UDH length, or the UDH length past the data).
 */
export function parseConcatUdh(bytes: Uint8Array): ConcatInfo | undefined {
  const udhl = bytes[0];
  if (udhl === undefined) return undefined;
  const end = 1 + udhl;
  if (end > bytes.length) return undefined;
  let found: ConcatInfo | undefined;
  let p = 1;
  while (p < end) {
    if (p + 2 > end) return undefined;
    const iei = bytes[p] ?? 0;
    const iedl = bytes[p + 1] ?? 0;
    const data = p + 2;
    if (data + iedl > end) return undefined;
    let info: ConcatInfo | undefined;
    if (iei === 0x00 && iedl === 3) {
      info = { reference: bytes[data] ?? 0, referenceBits: 8, total: bytes[data + 1] ?? 0, seq: bytes[data + 2] ?? 0 };
    } else if (iei === 0x08 && iedl === 4) {
      info = {
        reference: ((bytes[data] ?? 0) << 8) | (bytes[data + 1] ?? 0),
        referenceBits: 16,
        total: bytes[data + 2] ?? 0,
        seq: bytes[data + 3] ?? 0,
      };
    }
    if (info !== undefined && info.total >= 1 && info.seq >= 1 && info.seq <= info.total) found = info;
    p = data + iedl;
  }
  return found;
}

/**
 * Choose the encoding of `text`, split it into parts and encode each part (see the module comment). The empty
 * text is one GSM-7 part of 0 units. Throws SmsTooLongError when more than `maxSegments` parts are needed, and
 * RangeError for an invalid option.
 */
export function segment(text: string, options: SegmentOptions = {}): Segmentation {
  const maxSegments = options.maxSegments ?? DEFAULT_MAX_SEGMENTS;
  if (!Number.isInteger(maxSegments) || maxSegments < 1 || maxSegments > MAX_CONCAT_PARTS) {
    throw new RangeError(`maxSegments must be an integer 1..${MAX_CONCAT_PARTS}, got ${maxSegments}`);
  }
  if (options.reference !== undefined && !isByte(options.reference)) {
    throw new RangeError(`reference must be an integer 0..255, got ${options.reference}`);
  }

  const septets = gsm7Septets(text);
  const encoding: SmsEncoding = septets === undefined ? 'UCS-2' : 'GSM-7';
  const units = septets ?? text.length;
  const limits = SMS_LIMITS[encoding];
  const spans = units <= limits.single ? [{ start: 0, end: text.length, units }] : split(text, encoding, limits.part);
  if (spans.length > maxSegments) throw new SmsTooLongError(spans.length, maxSegments, encoding, units);

  const encode = encoding === 'GSM-7' ? encodeGsm7 : encodeUcs2;
  const reference = spans.length > 1 ? (options.reference ?? randomInt(256)) : 0;
  const parts = spans.map((span, i): SmsPart => {
    const partText = text.slice(span.start, span.end);
    const part: SmsPart = { text: partText, units: span.units, payload: encode(partText) };
    if (spans.length > 1) part.udh = buildConcatUdh(reference, spans.length, i + 1);
    return part;
  });
  return { encoding, dataCoding: SMS_DATA_CODING[encoding], segments: parts.length, parts, units };
}

/** Decode one part's payload (without its UDH) in the given encoding. */
export function decodePayload(payload: Uint8Array, encoding: SmsEncoding): string {
  return encoding === 'GSM-7' ? decodeGsm7(payload) : decodeUcs2(payload);
}

interface Span {
  start: number;
  end: number;
  units: number;
}

// Greedy split into parts of at most `limit` units. A character is one code unit, or two for a high surrogate
// followed by a low one; it costs its septets (GSM-7) or its code units (UCS-2) and is never divided. Every cost is
// at most 2 and every limit at least 67, so a part is never empty.
function split(text: string, encoding: SmsEncoding, limit: number): Span[] {
  const spans: Span[] = [];
  let start = 0;
  let used = 0;
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    let length = 1;
    let cost: number;
    if (encoding === 'GSM-7') {
      cost = gsm7UnitSeptets(c);
    } else {
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
        const next = text.charCodeAt(i + 1);
        if (next >= 0xdc00 && next <= 0xdfff) length = 2;
      }
      cost = length;
    }
    if (used + cost > limit) {
      spans.push({ start, end: i, units: used });
      start = i;
      used = 0;
    }
    used += cost;
    i += length;
  }
  spans.push({ start, end: text.length, units: used });
  return spans;
}

function isByte(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 255;
}
