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
  | 'rec';

/** Public identifiers carry their kind (`pn_…`, `user_…`), as the DialAnyone document shows them. */
export function newId(prefix: IdPrefix): string {
  return `${prefix}_${randomBase62(20)}`;
}

export { BASE62 };
