/**
 * Server side of HTTP Digest as SIP uses it (RFC 3261 §22.4, RFC 2617 §3.2, RFC 7616 §3.4), MD5 with qop=auth:
 * builds the WWW-Authenticate challenge, parses an Authorization header, and checks it against the user's HA1
 * (MD5(username ":" realm ":" password), which is all the server keeps of a password).
 *
 *   response = MD5( HA1 ":" nonce ":" nc ":" cnonce ":" qop ":" MD5( Method ":" digest-uri ) )
 *
 * Nonces are stateless: base64url( issued-at (8 bytes, ms) ‖ salt (8 random bytes) ‖ HMAC-SHA256(secret, the
 * first 16 bytes) truncated to 16 bytes ), with a secret made once per process. Any nonce this process issued
 * verifies without a table of issued nonces; a nonce older than the lifetime is stale (the client is sent a new
 * one with stale=true when its digest was otherwise right); a nonce from another process or a forged one is not
 * ours. The only state is the highest nonce-count seen per (nonce, username), which refuses a replayed
 * Authorization; it is bounded in size and forgets entries once their nonce has expired.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { formatAuthChallenge, parseAuthCredentials } from '../message/auth.js';
import { parseUri } from '../message/uri.js';
import { DigestError } from './digest.js';

/** An Authorization / Proxy-Authorization header with Digest credentials, values unquoted. */
export interface DigestAuthorization {
  readonly username: string;
  readonly realm: string;
  readonly nonce: string;
  readonly uri: string;
  /** Lower-case hex. */
  readonly response: string;
  /** As sent, or 'MD5' when absent (RFC 2617 §3.2.2: MD5 is the default). */
  readonly algorithm: string;
  /** Present when the client chose a qop (lower-cased). */
  readonly qop?: string;
  /** 8 hex digits, lower-cased; present with qop. */
  readonly nc?: string;
  readonly cnonce?: string;
  readonly opaque?: string;
}

const MD5_HEX = /^[0-9a-f]{32}$/;
const NC = /^[0-9a-f]{8}$/;
const NONCE_TEXT = /^[A-Za-z0-9_-]{43}$/;
/** RFC 7235 token characters: what a bare algorithm or qop value may hold. */
const TOKEN = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/;
const MAX_VALUE_LENGTH = 1024;

/**
 * Parses the value of an Authorization header (RFC 2617 §3.2.2 digest-response). Throws DigestError for anything
 * that is not a usable Digest credential: another scheme, a missing parameter, a response that is not 32 hex
 * digits, a qop without nc and cnonce, an nc that is not 8 hex digits.
 */
export function parseDigestAuthorization(value: string): DigestAuthorization {
  // Other schemes (Basic's token68) need not follow the auth-param grammar: recognise them by their first word.
  const scheme = /^[ \t]*([^ \t]+)/.exec(value)?.[1];
  if (scheme !== undefined && scheme.toLowerCase() !== 'digest') {
    throw new DigestError('unsupported_scheme', `Authentication scheme ${JSON.stringify(scheme.slice(0, 32))} is not Digest`);
  }
  let parsed: { scheme: string; params: Readonly<Record<string, string>> };
  try {
    parsed = parseAuthCredentials(value);
  } catch (error) {
    throw new DigestError('invalid_value', `Authorization header is malformed: ${(error as Error).message}`);
  }
  if (parsed.scheme.toLowerCase() !== 'digest') {
    throw new DigestError('unsupported_scheme', `Authentication scheme ${JSON.stringify(parsed.scheme.slice(0, 32))} is not Digest`);
  }
  const params = parsed.params;
  const get = (name: string): string | undefined => (Object.hasOwn(params, name) ? params[name] : undefined);
  const required = (name: string): string => {
    const v = get(name);
    if (v === undefined || v === '') throw new DigestError('missing_param', `Digest credentials have no ${name}`);
    return v;
  };
  for (const v of Object.values(params)) {
    if (v.length > MAX_VALUE_LENGTH) throw new DigestError('invalid_value', 'Digest parameter too long');
  }
  const username = required('username');
  const realm = get('realm');
  if (realm === undefined) throw new DigestError('missing_param', 'Digest credentials have no realm');
  const nonce = required('nonce');
  const uri = required('uri');
  const response = required('response').toLowerCase();
  if (!MD5_HEX.test(response) && !/^[0-9a-f]{64}$/.test(response)) {
    throw new DigestError('invalid_value', 'Digest response must be hexadecimal');
  }
  const algorithm = get('algorithm') ?? 'MD5';
  if (!TOKEN.test(algorithm)) throw new DigestError('invalid_value', 'Digest algorithm must be a token');
  const qopRaw = get('qop');
  const opaque = get('opaque');
  let qop: string | undefined;
  let nc: string | undefined;
  let cnonce: string | undefined;
  if (qopRaw !== undefined) {
    qop = qopRaw.toLowerCase();
    if (!TOKEN.test(qop)) throw new DigestError('invalid_value', 'Digest qop must be a token');
    nc = required('nc').toLowerCase();
    if (!NC.test(nc)) throw new DigestError('invalid_value', 'Digest nc must be 8 hexadecimal digits');
    cnonce = required('cnonce');
  }
  return {
    username,
    realm,
    nonce,
    uri,
    response,
    algorithm: algorithm.toLowerCase() === 'md5' ? 'MD5' : algorithm,
    ...(qop !== undefined ? { qop } : {}),
    ...(nc !== undefined ? { nc } : {}),
    ...(cnonce !== undefined ? { cnonce } : {}),
    ...(opaque !== undefined ? { opaque } : {}),
  };
}

const md5 = (text: string): string => createHash('md5').update(text, 'utf8').digest('hex');

/** The response a client knowing HA1 computes for these inputs (qop=auth, or RFC 2069 without qop). */
export function expectedDigestResponse(input: {
  readonly ha1: string;
  readonly nonce: string;
  readonly method: string;
  readonly uri: string;
  readonly qop?: string | undefined;
  readonly nc?: string | undefined;
  readonly cnonce?: string | undefined;
}): string {
  const ha2 = md5(`${input.method}:${input.uri}`);
  if (input.qop === undefined) return md5(`${input.ha1}:${input.nonce}:${ha2}`);
  return md5(`${input.ha1}:${input.nonce}:${input.nc ?? ''}:${input.cnonce ?? ''}:${input.qop}:${ha2}`);
}

/** Constant-time equality of two strings (their lengths are not secret). */
export function constantTimeEqualText(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  return left.length === right.length && timingSafeEqual(left, right);
}

export type DigestFailure =
  /** Algorithm other than MD5, or no qop=auth (we always offer it, RFC 2617 has the client use it then). */
  | 'unsupported'
  /** Credentials for another realm. */
  | 'wrong_realm'
  /** A nonce this process did not issue (forged, or from before a restart). */
  | 'unknown_nonce'
  /** The digest-uri is not the Request-URI (RFC 2617 §3.2.2.5). */
  | 'uri_mismatch'
  /** The response does not match the HA1: wrong password. */
  | 'wrong_response'
  /** Right digest, expired nonce: challenge again with stale=true. */
  | 'stale'
  /** Right digest, but a nonce-count already used with this nonce. */
  | 'replay';

export type DigestVerdict = { readonly ok: true } | { readonly ok: false; readonly reason: DigestFailure };

export interface DigestServerOptions {
  readonly realm: string;
  /** HMAC key for nonces. Default: 32 random bytes, made once per server object. */
  readonly secret?: Uint8Array;
  /** How long a nonce is accepted. Default 5 minutes. */
  readonly nonceTtlMs?: number;
  /** Milliseconds; injectable for tests. Default Date.now. */
  readonly now?: () => number;
  /** Most (nonce, username) nonce-counts remembered. Default 100,000. */
  readonly maxTrackedNonces?: number;
}

export const DEFAULT_NONCE_TTL_MS = 5 * 60_000;

export class DigestServer {
  readonly realm: string;
  readonly nonceTtlMs: number;
  private readonly secret: Uint8Array;
  private readonly now: () => number;
  private readonly maxTracked: number;
  /** `${nonce}\0${username}` → highest nc accepted and when the nonce was issued. Insertion order ≈ issue order. */
  private readonly counts = new Map<string, { nc: number; issuedAt: number }>();

  constructor(options: DigestServerOptions) {
    this.realm = options.realm;
    this.secret = options.secret ?? randomBytes(32);
    this.nonceTtlMs = options.nonceTtlMs ?? DEFAULT_NONCE_TTL_MS;
    this.now = options.now ?? Date.now;
    this.maxTracked = options.maxTrackedNonces ?? 100_000;
  }

  createNonce(): string {
    const body = Buffer.alloc(16);
    body.writeBigUInt64BE(BigInt(Math.max(0, Math.floor(this.now()))), 0);
    randomBytes(8).copy(body, 8);
    return Buffer.concat([body, this.mac(body)]).toString('base64url');
  }

  /** The WWW-Authenticate value: a fresh nonce; stale=true when the previous one had expired. */
  challenge(options: { readonly stale?: boolean } = {}): string {
    return formatAuthChallenge('Digest', {
      realm: this.realm,
      nonce: this.createNonce(),
      algorithm: 'MD5',
      qop: 'auth',
      ...(options.stale ? { stale: 'true' } : {}),
    });
  }

  /** Whether this process issued the nonce, and if so whether it is still fresh. */
  checkNonce(nonce: string): 'fresh' | 'stale' | 'unknown' {
    const issuedAt = this.issuedAt(nonce);
    if (issuedAt === undefined) return 'unknown';
    const age = this.now() - issuedAt;
    return age >= 0 && age <= this.nonceTtlMs ? 'fresh' : 'stale';
  }

  /**
   * Checks parsed credentials for a request against the user's HA1. The response is compared in constant time;
   * `stale` and `replay` are only reported for a correct digest, so neither tells anything about a wrong password.
   */
  verify(auth: DigestAuthorization, request: { readonly method: string; readonly uri: string }, ha1: string): DigestVerdict {
    if (auth.algorithm.toUpperCase() !== 'MD5' || auth.qop !== 'auth' || auth.nc === undefined || auth.cnonce === undefined) {
      return { ok: false, reason: 'unsupported' };
    }
    if (auth.realm !== this.realm) return { ok: false, reason: 'wrong_realm' };
    if (!sameUri(auth.uri, request.uri)) return { ok: false, reason: 'uri_mismatch' };
    const issuedAt = this.issuedAt(auth.nonce);
    if (issuedAt === undefined) return { ok: false, reason: 'unknown_nonce' };
    const expected = expectedDigestResponse({
      ha1: ha1.toLowerCase(),
      nonce: auth.nonce,
      method: request.method,
      uri: auth.uri,
      qop: auth.qop,
      nc: auth.nc,
      cnonce: auth.cnonce,
    });
    if (!constantTimeEqualText(expected, auth.response)) return { ok: false, reason: 'wrong_response' };
    const now = this.now();
    const age = now - issuedAt;
    if (age < 0 || age > this.nonceTtlMs) return { ok: false, reason: 'stale' };
    const nc = Number.parseInt(auth.nc, 16);
    const key = `${auth.nonce}\0${auth.username}`;
    const seen = this.counts.get(key);
    if (seen !== undefined && nc <= seen.nc) return { ok: false, reason: 'replay' };
    if (seen !== undefined) seen.nc = nc;
    else this.track(key, nc, issuedAt, now);
    return { ok: true };
  }

  /** How many (nonce, username) pairs are remembered for replay checks. */
  get trackedNonces(): number {
    return this.counts.size;
  }

  private track(key: string, nc: number, issuedAt: number, now: number): void {
    for (const [oldKey, entry] of this.counts) {
      if (now - entry.issuedAt <= this.nonceTtlMs && this.counts.size < this.maxTracked) break;
      this.counts.delete(oldKey);
    }
    this.counts.set(key, { nc, issuedAt });
  }

  private mac(body: Buffer): Buffer {
    return createHmac('sha256', this.secret).update(body).digest().subarray(0, 16);
  }

  private issuedAt(nonce: string): number | undefined {
    if (!NONCE_TEXT.test(nonce)) return undefined;
    const bytes = Buffer.from(nonce, 'base64url');
    if (bytes.length !== 32) return undefined;
    const body = bytes.subarray(0, 16);
    if (!timingSafeEqual(this.mac(body), bytes.subarray(16))) return undefined;
    const issued = body.readBigUInt64BE(0);
    return issued > BigInt(Number.MAX_SAFE_INTEGER) ? undefined : Number(issued);
  }
}

/**
 * The digest-uri must name the Request-URI. Clients copy it byte for byte; a few re-serialise it, so two SIP URIs
 * with the same scheme, user, host (case-insensitive) and port also match.
 */
function sameUri(digestUri: string, requestUri: string): boolean {
  if (digestUri === requestUri) return true;
  try {
    const a = parseUri(digestUri);
    const b = parseUri(requestUri);
    return (
      a.scheme === b.scheme &&
      a.user === b.user &&
      a.host.toLowerCase() === b.host.toLowerCase() &&
      a.port === b.port
    );
  } catch {
    return false;
  }
}
