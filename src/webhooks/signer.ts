// Webhook signing and verification.
//
// Two schemes are produced for every outgoing webhook:
//
// 1. DIALANYONE_SIGNATURE_HEADER ('X-DialAnyone-Signature'): the DialAnyone-compatible signature, the lower-case
//    hex HMAC-SHA256 of the raw request body keyed with the endpoint secret (both UTF-8). This is exactly what
//    DialAnyone's documented Python verifier computes:
//        expected = hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()
//        return hmac.compare_digest(expected, signature)
//    It carries no timestamp, so it offers no replay protection; it exists for drop-in compatibility.
//
// 2. TIMESTAMPED_SIGNATURE_HEADER ('X-Dialplane-Signature'): Stripe / Standard-Webhooks style,
//        t=<unix seconds>,v1=<hex hmac>[,v1=<hex hmac>...]
//    where each hmac is HMAC-SHA256 over the bytes "<t>." followed by the raw body, one v1 per active secret (two
//    during secret rotation). Receivers accept the request if any of their secrets matches any v1 and the timestamp
//    is within a tolerance (default 300 s) of their clock, in either direction. Unknown schemes (e.g. v0=) are
//    ignored so that new schemes can be added without breaking old verifiers.

import { createHmac, timingSafeEqual } from 'node:crypto';

/** Header carrying the DialAnyone-compatible, untimestamped body signature (see signBody). */
export const DIALANYONE_SIGNATURE_HEADER = 'X-DialAnyone-Signature';
/** Header carrying the timestamped, rotation-friendly signature (see signTimestamped / verifyTimestamped). */
export const TIMESTAMPED_SIGNATURE_HEADER = 'X-Dialplane-Signature';

/** Default accepted clock distance, in seconds, between the signature timestamp and the verifier's clock. */
export const DEFAULT_TOLERANCE_SECONDS = 300;

/** Headers longer than this are rejected as malformed before any parsing (defence against oversized input). */
const MAX_HEADER_LENGTH = 8192;
const HEX_SHA256 = /^[0-9a-fA-F]{64}$/;
const UNIX_SECONDS = /^[0-9]{1,15}$/;

export type RawBody = Buffer | Uint8Array | string;

function bodyBytes(rawBody: RawBody): Buffer {
  if (typeof rawBody === 'string') return Buffer.from(rawBody, 'utf8');
  return Buffer.isBuffer(rawBody) ? rawBody : Buffer.from(rawBody.buffer, rawBody.byteOffset, rawBody.byteLength);
}

function hmacHex(secret: string, ...parts: readonly Buffer[]): string {
  const mac = createHmac('sha256', Buffer.from(secret, 'utf8'));
  for (const part of parts) mac.update(part);
  return mac.digest('hex');
}

function requireSecrets(secrets: readonly string[]): void {
  if (secrets.length === 0) throw new RangeError('webhook signing: at least one secret is required');
  for (const secret of secrets) {
    if (typeof secret !== 'string' || secret.length === 0) {
      throw new RangeError('webhook signing: secrets must be non-empty strings');
    }
  }
}

/**
 * Lower-case hex HMAC-SHA256 of the raw body keyed with `secret` (UTF-8): the value of the
 * X-DialAnyone-Signature header, byte-for-byte what DialAnyone's Python verifier expects.
 * Sign the exact bytes sent on the wire; a string body is encoded as UTF-8.
 */
export function signBody(rawBody: RawBody, secret: string): string {
  return hmacHex(secret, bodyBytes(rawBody));
}

/**
 * Constant-time check of an X-DialAnyone-Signature value; same semantics as the documented Python
 * (`hmac.compare_digest(expected, signature)`), so the comparison is exact and case-sensitive.
 * Never throws on a malformed or missing signature.
 */
export function verifyBody(rawBody: RawBody, signature: string | undefined, secret: string): boolean {
  if (typeof signature !== 'string') return false;
  const expected = Buffer.from(signBody(rawBody, secret), 'utf8');
  const given = Buffer.from(signature, 'utf8');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * Value for the X-Dialplane-Signature header: `t=<nowSeconds>,v1=<hmac>` with one v1 per secret, in order.
 * Each hmac is the hex HMAC-SHA256 of "<t>." + raw body. Throws RangeError if no secret is given or
 * nowSeconds is not a non-negative safe integer.
 */
export function signTimestamped(rawBody: RawBody, secrets: readonly string[], nowSeconds: number): string {
  requireSecrets(secrets);
  if (!Number.isSafeInteger(nowSeconds) || nowSeconds < 0) {
    throw new RangeError(`webhook signing: nowSeconds must be a non-negative integer, got ${nowSeconds}`);
  }
  const t = String(nowSeconds);
  const prefix = Buffer.from(`${t}.`, 'utf8');
  const body = bodyBytes(rawBody);
  const parts = [`t=${t}`];
  for (const secret of secrets) parts.push(`v1=${hmacHex(secret, prefix, body)}`);
  return parts.join(',');
}

export type VerifyFailureReason = 'malformed' | 'expired' | 'future' | 'mismatch';
export type VerifyResult = { ok: true } | { ok: false; reason: VerifyFailureReason };

export interface VerifyOptions {
  /** The verifier's clock, in unix seconds. */
  nowSeconds: number;
  /** Maximum accepted age (and maximum accepted lead into the future), in seconds. Default 300. */
  toleranceSeconds?: number;
}

interface ParsedHeader {
  t: string;
  timestamp: number;
  signatures: Buffer[];
}

function parseHeader(headerValue: unknown): ParsedHeader | undefined {
  if (typeof headerValue !== 'string' || headerValue.length === 0 || headerValue.length > MAX_HEADER_LENGTH) {
    return undefined;
  }
  let t: string | undefined;
  const signatures: Buffer[] = [];
  for (const rawPart of headerValue.split(',')) {
    const part = rawPart.trim();
    const eq = part.indexOf('=');
    if (eq <= 0) return undefined;
    const key = part.slice(0, eq);
    const value = part.slice(eq + 1);
    if (key === 't') {
      if (t !== undefined || !UNIX_SECONDS.test(value)) return undefined;
      t = value;
    } else if (key === 'v1') {
      if (!HEX_SHA256.test(value)) return undefined;
      signatures.push(Buffer.from(value.toLowerCase(), 'hex'));
    }
    // Other schemes (v0=, v2=, ...) are ignored for forward compatibility.
  }
  if (t === undefined || signatures.length === 0) return undefined;
  return { t, timestamp: Number(t), signatures };
}

/**
 * Verify an X-Dialplane-Signature header value against the raw body. Passes if any secret matches any v1
 * signature (constant-time comparison) and the timestamp is within `toleranceSeconds` of `nowSeconds`.
 * Never throws for any header value; throws RangeError only for a programming error (no secrets, bad options).
 * Check order: malformed, then expired / future, then mismatch.
 */
export function verifyTimestamped(
  rawBody: RawBody,
  headerValue: string | undefined,
  secrets: readonly string[],
  options: VerifyOptions,
): VerifyResult {
  requireSecrets(secrets);
  const { nowSeconds, toleranceSeconds = DEFAULT_TOLERANCE_SECONDS } = options;
  if (!Number.isFinite(nowSeconds)) throw new RangeError('webhook verification: nowSeconds must be finite');
  if (!Number.isFinite(toleranceSeconds) || toleranceSeconds < 0) {
    throw new RangeError('webhook verification: toleranceSeconds must be a non-negative number');
  }

  const parsed = parseHeader(headerValue);
  if (parsed === undefined) return { ok: false, reason: 'malformed' };
  if (nowSeconds - parsed.timestamp > toleranceSeconds) return { ok: false, reason: 'expired' };
  if (parsed.timestamp - nowSeconds > toleranceSeconds) return { ok: false, reason: 'future' };

  const prefix = Buffer.from(`${parsed.t}.`, 'utf8');
  const body = bodyBytes(rawBody);
  let matched = false;
  // Compare every pair (no early exit) so timing does not reveal which secret or signature matched.
  for (const secret of secrets) {
    const expected = createHmac('sha256', Buffer.from(secret, 'utf8')).update(prefix).update(body).digest();
    for (const signature of parsed.signatures) {
      // Both are 32 bytes: the parser only accepts 64 hex digits.
      if (signature.length === expected.length && timingSafeEqual(signature, expected)) matched = true;
    }
  }
  return matched ? { ok: true } : { ok: false, reason: 'mismatch' };
}
