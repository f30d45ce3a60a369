/**
 * SMPP delivery receipts (SMPP v3.4 Appendix B): the text an SMSC puts in the short_message of a deliver_sm whose
 * esm_class marks it as a delivery receipt, and what its `stat` means for the message.
 *
 *   id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD err:E text:...
 *
 * The format is informative only, and SMSCs vary: keys in any case, fields missing or in another order, several
 * spaces (or `_`) inside and around the keys, dates with seconds (YYMMDDhhmmss) or a four-digit year
 * (YYYYMMDDhhmmss), `text` cut short or absent, a trailing NUL. The parser takes what it can and never throws; a
 * receipt without an `id` or a `stat` is not a receipt it can use (undefined).
 *
 * Dates carry no time zone: they are read as UTC, with years 00..99 taken as 2000..2099.
 */

/** What a receipt means for the message it is about. */
export type ReceiptStatus = 'delivered' | 'undelivered' | 'failed' | 'sent';

export interface DeliveryReceipt {
  /** The message id, as written (compare with the submit_sm_resp message_id). */
  id: string;
  /** The `stat` word, upper-cased: DELIVRD, UNDELIV, EXPIRED, ... */
  stat: string;
  /** The `err` field as written ('000', '1', ...); '' when the receipt has none. */
  err: string;
  /** `sub`: number of messages originally submitted. */
  submitted?: number;
  /** `dlvrd`: number of messages delivered. */
  delivered?: number;
  submitDate?: Date;
  doneDate?: Date;
  /** `text`: the first characters of the message, when present. */
  text?: string;
}

/** Whatever fields could be read, for callers that complete a receipt from elsewhere (TLVs). */
export type ReceiptFields = Partial<DeliveryReceipt>;

/** `stat` words and what they mean; the seven of Appendix B first, then spellings seen in the wild. */
const STAT_STATUS: ReadonlyMap<string, ReceiptStatus> = new Map<string, ReceiptStatus>([
  ['DELIVRD', 'delivered'],
  ['EXPIRED', 'undelivered'],
  ['DELETED', 'undelivered'],
  ['UNDELIV', 'undelivered'],
  ['ACCEPTD', 'sent'],
  ['UNKNOWN', 'failed'],
  ['REJECTD', 'failed'],
  ['ENROUTE', 'sent'],
  ['DELIVERED', 'delivered'],
  ['UNDELIVERABLE', 'undelivered'],
  ['ACCEPTED', 'sent'],
  ['REJECTED', 'failed'],
  ['SCHEDULED', 'sent'],
  ['SKIPPED', 'failed'],
]);

/**
 * What a `stat` means: DELIVRD -> delivered; UNDELIV, EXPIRED, DELETED -> undelivered; REJECTD, UNKNOWN -> failed;
 * ENROUTE, ACCEPTD -> sent (not final). Case does not matter. A word not listed is treated like UNKNOWN: failed.
 */
export function mapReceiptStat(stat: string): ReceiptStatus {
  return STAT_STATUS.get(stat.trim().toUpperCase()) ?? 'failed';
}

/** Whether the status is final (no later receipt is expected). */
export function isFinalReceiptStatus(status: ReceiptStatus): boolean {
  return status !== 'sent';
}

/** SMPP message_state values (TLV 0x0427, query_sm_resp) as the receipt `stat` word for the same state. */
const MESSAGE_STATE_STAT: readonly string[] = [
  'SCHEDULED', // 0 (SMPP 5.0)
  'ENROUTE', // 1
  'DELIVRD', // 2
  'EXPIRED', // 3
  'DELETED', // 4
  'UNDELIV', // 5
  'ACCEPTD', // 6
  'UNKNOWN', // 7
  'REJECTD', // 8
  'SKIPPED', // 9 (SMPP 5.0)
];

/** The `stat` word for a message_state value; undefined for a value the specifications do not define. */
export function messageStateToStat(state: number): string | undefined {
  return Number.isInteger(state) ? MESSAGE_STATE_STAT[state] : undefined;
}

/** The message_state value for a `stat` word (the inverse of messageStateToStat); undefined when there is none. */
export function statToMessageState(stat: string): number | undefined {
  const i = MESSAGE_STATE_STAT.indexOf(stat.trim().toUpperCase());
  return i < 0 ? undefined : i;
}

// A key starts the text or follows whitespace; `submit date` and `done date` may be written with several spaces,
// an underscore or nothing between the words. The colon may have spaces on either side.
const KEY = /(?:^|\s)(id|sub|dlvrd|submit[\s_]*date|done[\s_]*date|stat|err|text)\s*:/gi;

type Key = 'id' | 'sub' | 'dlvrd' | 'submitdate' | 'donedate' | 'stat' | 'err' | 'text';

/** Reads every field present; never throws. See parseReceipt for the complete receipt. */
export function readReceiptFields(input: string): ReceiptFields {
  const text = typeof input === 'string' ? input.replace(/\0+$/, '') : '';
  const found: Array<{ key: Key; start: number; valueStart: number }> = [];
  KEY.lastIndex = 0;
  for (let m = KEY.exec(text); m !== null; m = KEY.exec(text)) {
    const key = (m[1] ?? '').toLowerCase().replace(/[\s_]+/g, '') as Key;
    found.push({ key, start: m.index, valueStart: m.index + m[0].length });
    // Everything after `text:` is the message text, even what looks like a key.
    if (key === 'text') break;
  }

  const values = new Map<Key, string>();
  found.forEach((f, i) => {
    if (values.has(f.key)) return;
    const end = found[i + 1]?.start ?? text.length;
    values.set(f.key, text.slice(f.valueStart, end));
  });

  const out: ReceiptFields = {};
  const id = firstToken(values.get('id'));
  if (id) out.id = id;
  const stat = firstToken(values.get('stat'))?.toUpperCase();
  if (stat) out.stat = stat;
  const err = firstToken(values.get('err'));
  if (err !== undefined) out.err = err;
  const submitted = count(values.get('sub'));
  if (submitted !== undefined) out.submitted = submitted;
  const delivered = count(values.get('dlvrd'));
  if (delivered !== undefined) out.delivered = delivered;
  const submitDate = parseReceiptDate(firstToken(values.get('submitdate')) ?? '');
  if (submitDate) out.submitDate = submitDate;
  const doneDate = parseReceiptDate(firstToken(values.get('donedate')) ?? '');
  if (doneDate) out.doneDate = doneDate;
  const body = values.get('text');
  if (body !== undefined) out.text = body.trim();
  return out;
}

/**
 * Parses delivery receipt text. Undefined unless it has both an `id` and a `stat`; every other field is optional
 * (`err` is '' when missing). Never throws.
 */
export function parseReceipt(input: string): DeliveryReceipt | undefined {
  const f = readReceiptFields(input);
  if (f.id === undefined || f.stat === undefined) return undefined;
  const receipt: DeliveryReceipt = { id: f.id, stat: f.stat, err: f.err ?? '' };
  if (f.submitted !== undefined) receipt.submitted = f.submitted;
  if (f.delivered !== undefined) receipt.delivered = f.delivered;
  if (f.submitDate !== undefined) receipt.submitDate = f.submitDate;
  if (f.doneDate !== undefined) receipt.doneDate = f.doneDate;
  if (f.text !== undefined) receipt.text = f.text;
  return receipt;
}

/**
 * A receipt date: YYMMDDhhmm, YYMMDDhhmmss or YYYYMMDDhhmmss, read as UTC. Undefined when it is none of these or
 * names no real instant (month 13, 31 April, hour 24, ...).
 */
export function parseReceiptDate(value: string): Date | undefined {
  if (!/^\d+$/.test(value)) return undefined;
  let year: number;
  let rest: string;
  if (value.length === 10 || value.length === 12) {
    year = 2000 + Number(value.slice(0, 2));
    rest = value.slice(2);
  } else if (value.length === 14) {
    year = Number(value.slice(0, 4));
    rest = value.slice(4);
  } else {
    return undefined;
  }
  const month = Number(rest.slice(0, 2));
  const day = Number(rest.slice(2, 4));
  const hour = Number(rest.slice(4, 6));
  const minute = Number(rest.slice(6, 8));
  const second = rest.length >= 10 ? Number(rest.slice(8, 10)) : 0;
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return undefined;
  const date = new Date(Date.UTC(year, month - 1, day, hour, minute, second));
  // Date.UTC maps years 0..99 to 1900..1999; set the full year explicitly.
  date.setUTCFullYear(year);
  if (date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return undefined;
  return date;
}

/** YYMMDDhhmm (or YYMMDDhhmmss with `seconds`) in UTC. */
export function formatReceiptDate(date: Date, seconds = false): string {
  const two = (n: number): string => String(n).padStart(2, '0');
  const out =
    two(date.getUTCFullYear() % 100) +
    two(date.getUTCMonth() + 1) +
    two(date.getUTCDate()) +
    two(date.getUTCHours()) +
    two(date.getUTCMinutes());
  return seconds ? out + two(date.getUTCSeconds()) : out;
}

export interface ReceiptInput {
  /** Message id: non-empty, no whitespace. */
  id: string;
  /** `stat` word, e.g. DELIVRD; no whitespace. */
  stat: string;
  /** `err`: a number is written as three digits; a string as given (no whitespace). Default '000'. */
  err?: string | number;
  /** `sub`, written as three digits. Default 1. */
  submitted?: number;
  /** `dlvrd`, written as three digits. Default 1 for DELIVRD, else 0. */
  delivered?: number;
  submitDate: Date;
  doneDate: Date;
  /** The message text; its first 20 characters are written. Default ''. */
  text?: string;
  /** Write dates with seconds (YYMMDDhhmmss). Default false. */
  seconds?: boolean;
}

/** The number of characters of the message that `text` carries (Appendix B). */
export const RECEIPT_TEXT_LENGTH = 20;

/** Builds receipt text in the Appendix B layout. Throws RangeError for an id, stat or err that parseReceipt could not read back. */
export function formatReceipt(input: ReceiptInput): string {
  const { id, stat } = input;
  if (!/^\S+$/.test(id) || id.includes(':')) throw new RangeError(`receipt id must be non-empty without whitespace or ':', got ${JSON.stringify(id)}`);
  if (!/^[A-Za-z]+$/.test(stat)) throw new RangeError(`receipt stat must be letters only, got ${JSON.stringify(stat)}`);
  const err = typeof input.err === 'number' ? three(input.err) : (input.err ?? '000');
  if (!/^\S+$/.test(err) || err.includes(':')) throw new RangeError(`receipt err must be non-empty without whitespace, got ${JSON.stringify(err)}`);
  const submitted = three(input.submitted ?? 1);
  const delivered = three(input.delivered ?? (stat.toUpperCase() === 'DELIVRD' ? 1 : 0));
  const seconds = input.seconds ?? false;
  const text = Array.from(input.text ?? '').slice(0, RECEIPT_TEXT_LENGTH).join('');
  return (
    `id:${id} sub:${submitted} dlvrd:${delivered} ` +
    `submit date:${formatReceiptDate(input.submitDate, seconds)} done date:${formatReceiptDate(input.doneDate, seconds)} ` +
    `stat:${stat.toUpperCase()} err:${err} text:${text}`
  );
}

function three(n: number): string {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`receipt counts and err codes must be non-negative integers, got ${n}`);
  return String(n).padStart(3, '0');
}

function firstToken(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const token = value.trim().split(/\s+/)[0] ?? '';
  return token;
}

function count(value: string | undefined): number | undefined {
  const token = firstToken(value);
  if (token === undefined || !/^\d{1,9}$/.test(token)) return undefined;
  return Number(token);
}
