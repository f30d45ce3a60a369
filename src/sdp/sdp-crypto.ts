/**
 * The SDES `a=crypto` attribute (RFC 4568 §9.1), which carries SRTP master keys in the SDP:
 *
 *   a=crypto:<tag> <crypto-suite> <key-params> [<session-param>] ...
 *   tag        = 1*9DIGIT
 *   key-params = key-param *(";" key-param)
 *   key-param  = key-method ":" key-info           ; SRTP's only method is "inline" (§6.1)
 *   key-info   = <base64 of key||salt> ["|" lifetime] ["|" MKI ":" MKI-length]
 *   lifetime   = 1*DIGIT / "2^" 1*DIGIT
 *
 * Parsing is pure and checks syntax only: whether a suite is one we run, or a key has its suite's length, is the
 * negotiation's business. The key material is secret: nothing here logs, and SdpError messages never quote a key.
 */
import { randomBytes } from 'node:crypto';
import { SdpError } from './sdp-error.js';
import { SRTP_SUITES, srtpSuite, type SrtpMasterKey, type SrtpSuiteName } from '../media/srtp/srtp-suites.js';

export interface SdpCryptoKey {
  readonly method: string;
  /** For `inline`: the decoded key||salt. Undefined for other methods (kept raw in `info`). */
  readonly keySalt: Buffer | undefined;
  /** The key-info as written after "<method>:". */
  readonly info: string;
  /** For `inline`: the key's lifetime as written ("2^31", "1048576"), if any. */
  readonly lifetime: string | undefined;
  /** For `inline`: the master key identifier and its length in octets, if any. */
  readonly mki: { readonly value: string; readonly length: number } | undefined;
}

export interface SdpCrypto {
  readonly tag: number;
  readonly suite: string;
  readonly keys: readonly SdpCryptoKey[];
  /** Session parameters as written (KDR=..., UNENCRYPTED_SRTCP, ...). */
  readonly sessionParams: readonly string[];
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$/;
const SUITE = /^[A-Za-z0-9_]{1,64}$/;
const LIFETIME = /^(?:[0-9]{1,20}|2\^[0-9]{1,3})$/;
const MKI = /^([0-9]{1,20}):([0-9]{1,3})$/;
const METHOD = /^[A-Za-z0-9_-]{1,32}$/;
const SESSION_PARAM = /^[\x21-\x7e]{1,256}$/;

function malformed(message: string): never {
  throw new SdpError('malformed', `a=crypto: ${message}`);
}

function parseKey(text: string): SdpCryptoKey {
  const colon = text.indexOf(':');
  if (colon <= 0) malformed('a key-param needs <method>:<info>');
  const method = text.slice(0, colon);
  const info = text.slice(colon + 1);
  if (!METHOD.test(method)) malformed('the key method is not a token');
  if (method.toLowerCase() !== 'inline') {
    if (!SESSION_PARAM.test(info)) malformed('the key info is not visible characters');
    return { method, keySalt: undefined, info, lifetime: undefined, mki: undefined };
  }
  const [encoded = '', ...rest] = info.split('|');
  if (!BASE64.test(encoded)) malformed('the inline key is not base64');
  let lifetime: string | undefined;
  let mki: SdpCryptoKey['mki'];
  for (const part of rest) {
    const isMki = MKI.exec(part);
    if (isMki && mki === undefined) {
      const length = Number(isMki[2]);
      if (length < 1 || length > 128) malformed('the MKI length must be 1 to 128');
      mki = { value: isMki[1]!, length };
    } else if (LIFETIME.test(part) && lifetime === undefined && mki === undefined) {
      lifetime = part;
    } else {
      malformed('an inline key has a lifetime and an MKI at most, in that order');
    }
  }
  return { method, keySalt: Buffer.from(encoded, 'base64'), info, lifetime, mki };
}

/** The value of an a=crypto attribute (after "crypto:"). Throws SdpError when malformed. */
export function parseCrypto(value: string): SdpCrypto {
  const parts = value.trim().split(/[ \t]+/);
  const [tagText, suite, keyParams, ...sessionParams] = parts;
  if (tagText === undefined || suite === undefined || keyParams === undefined) malformed('needs a tag, a suite and key params');
  if (!/^[0-9]{1,9}$/.test(tagText)) malformed('the tag must be 1 to 9 digits');
  if (!SUITE.test(suite)) malformed('the crypto suite is not a token');
  for (const param of sessionParams) if (!SESSION_PARAM.test(param)) malformed('a session parameter is not visible characters');
  return { tag: Number(tagText), suite, keys: keyParams.split(';').map(parseKey), sessionParams };
}

/** An a=crypto value (without "crypto:"), the inverse of parseCrypto. */
export function writeCrypto(crypto: SdpCrypto): string {
  const keys = crypto.keys.map((key) => {
    if (key.keySalt === undefined) return `${key.method}:${key.info}`;
    let info = key.keySalt.toString('base64');
    if (key.lifetime !== undefined) info += `|${key.lifetime}`;
    if (key.mki !== undefined) info += `|${key.mki.value}:${key.mki.length}`;
    return `${key.method}:${info}`;
  });
  return [String(crypto.tag), crypto.suite, keys.join(';'), ...crypto.sessionParams].join(' ');
}

/** An a=crypto line's value for one of our keys: `<tag> <suite> inline:<key||salt>`. */
export function cryptoAttribute(tag: number, master: SrtpMasterKey): string {
  const keySalt = Buffer.concat([master.key, master.salt]);
  return writeCrypto({
    tag,
    suite: master.suite,
    keys: [{ method: 'inline', keySalt, info: keySalt.toString('base64'), lifetime: undefined, mki: undefined }],
    sessionParams: [],
  });
}

/** A fresh master key and salt from the system CSPRNG. */
export function newMasterKey(suite: SrtpSuiteName): SrtpMasterKey {
  const { keyLength, saltLength } = SRTP_SUITES[suite];
  const keySalt = randomBytes(keyLength + saltLength);
  return { suite, key: keySalt.subarray(0, keyLength), salt: keySalt.subarray(keyLength) };
}

/**
 * The master key of a crypto line we can run, or undefined: a suite of ours, one inline key of the suite's length
 * without an MKI (we never negotiate MKIs), and no session parameters (RFC 4568 §6.3: a line with a session
 * parameter we do not act on must not be accepted). A lifetime is accepted: our calls are far shorter than 2^31
 * packets.
 */
export function usableKey(crypto: SdpCrypto): SrtpMasterKey | undefined {
  const suite = srtpSuite(crypto.suite);
  const [key, ...more] = crypto.keys;
  if (suite === undefined || key === undefined || more.length > 0 || crypto.sessionParams.length > 0) return undefined;
  if (key.method.toLowerCase() !== 'inline' || key.keySalt === undefined || key.mki !== undefined) return undefined;
  if (key.keySalt.length !== suite.keyLength + suite.saltLength) return undefined;
  return { suite: suite.name, key: key.keySalt.subarray(0, suite.keyLength), salt: key.keySalt.subarray(suite.keyLength) };
}
