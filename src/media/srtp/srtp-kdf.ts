/**
 * SRTP key derivation (RFC 3711 §4.3) with a key derivation rate of 0, the SDES default (RFC 4568 §6.1): the
 * session keys are derived once from the master key and salt.
 *
 *   key_id = <label> || r          (r = index DIV kdr = 0: 48 zero bits)
 *   x      = key_id XOR master_salt (key_id right-aligned against the 112-bit salt)
 *   key    = AES-CM PRF(master_key, x * 2^16), its first n octets
 */
import { AesCounterMode } from './aes-cm.js';

/** RFC 3711 §4.3.2 labels. */
export const SRTP_LABELS = Object.freeze({
  rtpCipherKey: 0x00,
  rtpAuthKey: 0x01,
  rtpSalt: 0x02,
  rtcpCipherKey: 0x03,
  rtcpAuthKey: 0x04,
  rtcpSalt: 0x05,
});

export interface SrtpSessionKeys {
  /** 16 octets. */
  readonly cipherKey: Buffer;
  /** 20 octets (HMAC-SHA1 key, RFC 3711 §4.2.1 n_a = 160). */
  readonly authKey: Buffer;
  /** 14 octets. */
  readonly salt: Buffer;
}

/** The PRF's output for one label: `length` octets. */
export function deriveKey(masterKey: Buffer, masterSalt: Buffer, label: number, length: number): Buffer {
  if (masterKey.length !== 16) throw new RangeError('the master key must be 16 octets');
  if (masterSalt.length !== 14) throw new RangeError('the master salt must be 14 octets');
  const iv = Buffer.alloc(16);
  masterSalt.copy(iv, 0);
  // key_id is 7 octets (label, then r = 0) aligned to the salt's end: the label meets salt octet 7.
  iv[7]! ^= label;
  return new AesCounterMode(masterKey).keystream(iv, length).subarray(0, length);
}

export function deriveSessionKeys(masterKey: Buffer, masterSalt: Buffer, rtcp: boolean): SrtpSessionKeys {
  const labels = rtcp
    ? [SRTP_LABELS.rtcpCipherKey, SRTP_LABELS.rtcpAuthKey, SRTP_LABELS.rtcpSalt]
    : [SRTP_LABELS.rtpCipherKey, SRTP_LABELS.rtpAuthKey, SRTP_LABELS.rtpSalt];
  return {
    cipherKey: deriveKey(masterKey, masterSalt, labels[0]!, 16),
    authKey: deriveKey(masterKey, masterSalt, labels[1]!, 20),
    salt: deriveKey(masterKey, masterSalt, labels[2]!, 14),
  };
}
