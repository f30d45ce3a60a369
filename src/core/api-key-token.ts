import { hash, timingSafeEqual } from 'node:crypto';
import { BASE62, randomBase62 } from './ids.js';

/**
 * API key tokens: `dk_live_` + 32 random base62 characters (190 bits) + a 6-character base62 CRC32 of them.
 * The checksum lets the server refuse a mistyped or invented key without touching the database or the cache, and
 * lets secret scanners recognise a real key. Only the SHA-256 of the whole token and its last four characters are kept.
 */
export const KEY_PREFIX = 'dk_live_';
const RANDOM_LENGTH = 32;
const CHECKSUM_LENGTH = 6;
const TOKEN_PATTERN = new RegExp(`^${KEY_PREFIX}[0-9A-Za-z]{${RANDOM_LENGTH + CHECKSUM_LENGTH}}$`);

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(text: string): number {
  let crc = 0xffffffff;
  for (let i = 0; i < text.length; i++) crc = CRC_TABLE[(crc ^ text.charCodeAt(i)) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function checksum(random: string): string {
  let value = crc32(random);
  let out = '';
  for (let i = 0; i < CHECKSUM_LENGTH; i++) {
    out = BASE62[value % 62] + out;
    value = Math.floor(value / 62);
  }
  return out;
}

export interface GeneratedToken {
  readonly token: string;
  readonly hash: string;
  readonly last4: string;
}

export function generateApiKeyToken(): GeneratedToken {
  const random = randomBase62(RANDOM_LENGTH);
  const token = `${KEY_PREFIX}${random}${checksum(random)}`;
  return { token, hash: hashApiKeyToken(token), last4: token.slice(-4) };
}

/** Format and checksum only; says nothing about whether the key exists. */
export function isWellFormedApiKeyToken(token: string): boolean {
  if (!TOKEN_PATTERN.test(token)) return false;
  const body = token.slice(KEY_PREFIX.length);
  // The checksum is computed from the presented token itself, so comparing it reveals nothing secret.
  return checksum(body.slice(0, RANDOM_LENGTH)) === body.slice(RANDOM_LENGTH);
}

export function hashApiKeyToken(token: string): string {
  return hash('sha256', token, 'hex');
}

/** Compares secrets without leaking through timing where they differ; different lengths compare unequal. */
export function constantTimeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  if (left.length !== right.length) {
    timingSafeEqual(left, left);
    return false;
  }
  return timingSafeEqual(left, right);
}
