/**
 * AES in counter mode as SRTP uses it (RFC 3711 §4.1.1): the keystream is AES_k(IV), AES_k(IV + 1), ... where the
 * low 16 bits of the 128-bit IV are the block counter. One ECB cipher is kept per key and fed counter blocks, so no
 * cipher object is created per packet; XOR is done here.
 */
import { createCipheriv, type Cipher } from 'node:crypto';

const BLOCK = 16;

export class AesCounterMode {
  private readonly ecb: Cipher;
  /** Counter blocks for the longest packet seen so far, reused. */
  private counters = Buffer.alloc(BLOCK * 16);

  constructor(key: Buffer) {
    if (key.length !== 16) throw new RangeError('AES-128 needs a 16-octet key');
    this.ecb = createCipheriv('aes-128-ecb', key, null);
    this.ecb.setAutoPadding(false);
  }

  /** `length` octets of keystream from the 16-octet IV (its low 16 bits are 0). */
  keystream(iv: Buffer, length: number): Buffer {
    const blocks = Math.ceil(length / BLOCK);
    const size = blocks * BLOCK;
    if (this.counters.length < size) this.counters = Buffer.alloc(size);
    const counters = this.counters;
    const base = (iv[14]! << 8) | iv[15]!;
    for (let b = 0; b < blocks; b++) {
      const at = b * BLOCK;
      iv.copy(counters, at, 0, 14);
      // The 16-bit block counter is added to the IV's low 16 bits (zero for every IV SRTP forms).
      const low = (base + b) & 0xffff;
      counters[at + 14] = low >>> 8;
      counters[at + 15] = low & 0xff;
    }
    return this.ecb.update(counters.subarray(0, size));
  }

  /** XORs `data[start, end)` in place with the keystream for `iv`. */
  apply(iv: Buffer, data: Buffer, start: number, end: number): void {
    const length = end - start;
    if (length <= 0) return;
    const stream = this.keystream(iv, length);
    for (let i = 0; i < length; i++) data[start + i]! ^= stream[i]!;
  }
}
