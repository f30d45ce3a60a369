import { randomBytesPooled } from '../random-pool.js';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Uniform random base62 text: bytes of 248 and above are dropped so every character is equally likely. */
export function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytesPooled(length * 2)) {
      if (byte >= 248) continue;
      out += BASE62[byte % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

export type IdPrefix =
  | 'acct'
  | 'user'
  | 'key'
  | 'app'
  | 'pn'
  | 'txn'
  | 'hold'
  | 'price'
  | 'call'
  | 'evt'
  | 'whe'
  | 'whd'
  | 'msg'
  | 'ext'
  | 'dev'
  | 'rec'
  | 'ct'
  | 'ctph'
  | 'ctem'
  | 'ctad'
  | 'sgn';

/** Characters of an id that tell when it was made: 62^8 milliseconds reach past the year 8000. */
const TIME_LENGTH = 8;
/** Random characters after them: 62^12 ≈ 2^71 values, so ids stay unguessable. */
const RANDOM_LENGTH = 12;

/** `ms` in base62, fixed width: BASE62 is in ASCII order, so the text sorts as the number does. */
export function base62Time(ms: number): string {
  let out = '';
  let rest = Math.max(0, Math.floor(ms));
  for (let i = 0; i < TIME_LENGTH; i++) {
    out = BASE62[rest % 62]! + out;
    rest = Math.floor(rest / 62);
  }
  return out;
}

/**
 * Public identifiers carry their kind (`pn_…`, `user_…`), as the DialAnyone document shows them, then 20 base62
 * characters: the time the id was made, then random ones. Ids made later sort after earlier ones, so rows keyed by
 * them are appended to their indexes instead of landing on random pages (which every write would dirty).
 */
export function newId(prefix: IdPrefix, now: number = Date.now()): string {
  return `${prefix}_${base62Time(now)}${randomBase62(RANDOM_LENGTH)}`;
}

export { BASE62 };
