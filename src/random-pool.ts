import { randomFillSync } from 'node:crypto';

/** Bytes drawn from the CSPRNG at once: one call to it serves many identifiers instead of one each. */
const POOL_BYTES = 4_096;

const pool = Buffer.allocUnsafe(POOL_BYTES);
let offset = POOL_BYTES;

/**
 * `size` cryptographically random bytes (a fresh copy), taken from a pool refilled from the CSPRNG when spent. Every
 * byte is handed out once. Identifiers (call ids, SIP tags and branches) take a few bytes each, many times a call.
 */
export function randomBytesPooled(size: number): Buffer {
  if (size > POOL_BYTES) return randomFillSync(Buffer.allocUnsafe(size));
  if (offset + size > POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  const out = Buffer.from(pool.subarray(offset, offset + size));
  offset += size;
  return out;
}
