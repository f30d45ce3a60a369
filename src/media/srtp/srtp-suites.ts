/**
 * The SDES crypto suites we run (RFC 4568 §6.2). Both use AES-128 in counter mode and HMAC-SHA1; they differ only in
 * the SRTP tag length. SRTCP always carries the 80-bit tag (RFC 4568 §6.2.2, RFC 3711 §5.2).
 */
export type SrtpSuiteName = 'AES_CM_128_HMAC_SHA1_80' | 'AES_CM_128_HMAC_SHA1_32';

export interface SrtpSuite {
  readonly name: SrtpSuiteName;
  /** Master key octets. */
  readonly keyLength: 16;
  /** Master salt octets. */
  readonly saltLength: 14;
  /** SRTP authentication tag octets (80 or 32 bits). */
  readonly rtpTagLength: 10 | 4;
  /** SRTCP authentication tag octets. */
  readonly rtcpTagLength: 10;
}

export const SRTP_SUITES: Readonly<Record<SrtpSuiteName, SrtpSuite>> = Object.freeze({
  AES_CM_128_HMAC_SHA1_80: { name: 'AES_CM_128_HMAC_SHA1_80', keyLength: 16, saltLength: 14, rtpTagLength: 10, rtcpTagLength: 10 },
  AES_CM_128_HMAC_SHA1_32: { name: 'AES_CM_128_HMAC_SHA1_32', keyLength: 16, saltLength: 14, rtpTagLength: 4, rtcpTagLength: 10 },
});

/** In our order of preference when we offer. */
export const SRTP_SUITE_NAMES: readonly SrtpSuiteName[] = ['AES_CM_128_HMAC_SHA1_80', 'AES_CM_128_HMAC_SHA1_32'];

export function srtpSuite(name: string): SrtpSuite | undefined {
  return Object.hasOwn(SRTP_SUITES, name) ? SRTP_SUITES[name as SrtpSuiteName] : undefined;
}

/** The master key and salt of one direction, as an SDES inline key carries them (key || salt). */
export interface SrtpMasterKey {
  readonly suite: SrtpSuiteName;
  /** 16 octets. */
  readonly key: Buffer;
  /** 14 octets. */
  readonly salt: Buffer;
}
