/**
 * Client side of HTTP Digest as SIP uses it (RFC 3261 §22.4, RFC 2617 §3.2, RFC 7616 §3.4, RFC 8760): answers a
 * 401 WWW-Authenticate / 407 Proxy-Authenticate challenge with the parameters of an Authorization /
 * Proxy-Authorization header.
 *
 *   H(x)      = the algorithm's hash, as lower-case hex
 *   A1        = username ":" realm ":" password                      (MD5, SHA-256, SHA-512-256)
 *   H(A1)     = H( H(username ":" realm ":" password) ":" nonce ":" cnonce )   (the "-sess" variants)
 *   A2        = Method ":" digest-uri                                 (qop=auth; auth-int is not implemented)
 *   response  = H( H(A1) ":" nonce ":" nc ":" cnonce ":" qop ":" H(A2) )   when the challenge offers qop
 *   response  = H( H(A1) ":" nonce ":" H(A2) )                             RFC 2069 compatibility (no qop)
 *
 * In SIP the digest-uri is the Request-URI as sent, and the method of an ACK/CANCEL is that of the INVITE
 * (RFC 3261 §22.1): both are the caller's business, this module hashes what it is given.
 */
import { createHash, randomBytes } from 'node:crypto';

/** A challenge header already split by the SIP header parser; parameter values are unquoted. */
export interface DigestChallenge {
  readonly scheme: string;
  readonly params: Readonly<Record<string, string>>;
}

export interface DigestUserCredentials {
  readonly username: string;
  readonly password: string;
}

/** The algorithms of the IANA "HTTP Digest Hash Algorithms" registry that SIP allows (RFC 8760 §2.1). */
export type DigestAlgorithm =
  | 'MD5'
  | 'MD5-sess'
  | 'SHA-256'
  | 'SHA-256-sess'
  | 'SHA-512-256'
  | 'SHA-512-256-sess';

/** What goes into Authorization / Proxy-Authorization, values unquoted (formatDigestCredentials quotes them). */
export interface DigestCredentials {
  readonly username: string;
  readonly realm: string;
  readonly nonce: string;
  readonly uri: string;
  readonly response: string;
  readonly algorithm: DigestAlgorithm;
  /** Present when qop was chosen, and for the -sess algorithms (whose H(A1) the server cannot compute without it). */
  readonly cnonce?: string;
  readonly qop?: 'auth';
  /** Exactly 8 lower-case hex digits; present with qop. */
  readonly nc?: string;
  readonly opaque?: string;
}

export interface ComputeDigestOptions {
  readonly challenge: DigestChallenge;
  readonly credentials: DigestUserCredentials;
  readonly method: string;
  /** The digest-uri: the Request-URI of the request being authorised. */
  readonly uri: string;
  /** How many requests (this one included) have used this nonce: 1 for the first. Default 1. */
  readonly nonceCount?: number;
  /** Makes the client nonce; tests inject a fixed one. Default: 16 random bytes as hex. */
  readonly cnonce?: () => string;
}

export type DigestErrorCode =
  | 'unsupported_scheme'
  | 'unsupported_algorithm'
  | 'unsupported_qop'
  | 'missing_param'
  | 'invalid_value';

export class DigestError extends Error {
  readonly code: DigestErrorCode;

  constructor(code: DigestErrorCode, message: string) {
    super(message);
    this.name = 'DigestError';
    this.code = code;
  }
}

interface HashSpec {
  readonly algorithm: DigestAlgorithm;
  /** node:crypto's name for the hash. */
  readonly hash: string;
  readonly sess: boolean;
}

// A Map, not an object literal: algorithm=constructor must not find Object.prototype's.
const HASHES: ReadonlyMap<string, HashSpec> = new Map<string, HashSpec>([
  ['md5', { algorithm: 'MD5', hash: 'md5', sess: false }],
  ['md5-sess', { algorithm: 'MD5-sess', hash: 'md5', sess: true }],
  ['sha-256', { algorithm: 'SHA-256', hash: 'sha256', sess: false }],
  ['sha-256-sess', { algorithm: 'SHA-256-sess', hash: 'sha256', sess: true }],
  ['sha-512-256', { algorithm: 'SHA-512-256', hash: 'sha512-256', sess: false }],
  ['sha-512-256-sess', { algorithm: 'SHA-512-256-sess', hash: 'sha512-256', sess: true }],
]);

const MAX_NONCE_COUNT = 0xffff_ffff;

function defaultCnonce(): string {
  return randomBytes(16).toString('hex');
}

/** Header parsers differ in how they case parameter names; the RFCs make names case-insensitive. */
function param(challenge: DigestChallenge, name: string): string | undefined {
  if (Object.hasOwn(challenge.params, name)) return challenge.params[name];
  for (const [key, value] of Object.entries(challenge.params)) {
    if (key.toLowerCase() === name) return value;
  }
  return undefined;
}

function requiredParam(challenge: DigestChallenge, name: string): string {
  const value = param(challenge, name);
  // An empty nonce is as useless as none, and usually means the header was truncated.
  if (value === undefined || (name === 'nonce' && value === '')) {
    throw new DigestError('missing_param', `Digest challenge has no ${name}`);
  }
  return value;
}

function resolveAlgorithm(challenge: DigestChallenge): HashSpec {
  // RFC 2617 §3.2.1: "If this is not present it is assumed to be MD5". Tokens compare case-insensitively.
  const raw = param(challenge, 'algorithm')?.trim() || 'MD5';
  const entry = HASHES.get(raw.toLowerCase());
  if (entry === undefined) {
    throw new DigestError('unsupported_algorithm', `Digest algorithm ${JSON.stringify(raw)} is not supported`);
  }
  return entry;
}

/**
 * RFC 2617 §3.2.1 qop-options is a comma list. Returns 'auth', or undefined when the challenge has no qop (RFC 2069
 * mode). Refuses auth-int-only challenges: answering them needs a hash of the body, which we do not implement.
 */
function chooseQop(challenge: DigestChallenge): 'auth' | undefined {
  const raw = param(challenge, 'qop');
  if (raw === undefined) return undefined;
  const offered = raw
    .split(',')
    .map((token) => token.trim().toLowerCase())
    .filter((token) => token !== '');
  if (offered.length === 0) return undefined;
  if (offered.includes('auth')) return 'auth';
  if (offered.includes('auth-int')) {
    throw new DigestError('unsupported_qop', 'Digest challenge offers only qop=auth-int, which is not supported');
  }
  throw new DigestError('unsupported_qop', `Digest challenge offers no supported qop (${JSON.stringify(raw)})`);
}

/** True when the challenge says the nonce expired but the credentials were right (RFC 2617 §3.2.1 "stale"). */
export function isStaleChallenge(challenge: DigestChallenge): boolean {
  return param(challenge, 'stale')?.trim().toLowerCase() === 'true';
}

/** True when computeDigestCredentials could answer this challenge (scheme Digest, known algorithm, usable qop). */
export function isSupportedDigestChallenge(challenge: DigestChallenge): boolean {
  if (challenge.scheme.toLowerCase() !== 'digest') return false;
  try {
    resolveAlgorithm(challenge);
    chooseQop(challenge);
    return true;
  } catch {
    return false;
  }
}

/**
 * Picks the challenge to answer when a response carries several (one per algorithm, RFC 7616 §3.7): RFC 8760 §2.4
 * has the UAC use the topmost one it supports and ignore the others.
 */
export function selectDigestChallenge(challenges: readonly DigestChallenge[]): DigestChallenge | undefined {
  return challenges.find(isSupportedDigestChallenge);
}

export function formatNonceCount(nonceCount: number): string {
  if (!Number.isInteger(nonceCount) || nonceCount < 1 || nonceCount > MAX_NONCE_COUNT) {
    throw new DigestError('invalid_value', `nonce-count must be an integer from 1 to ${MAX_NONCE_COUNT}`);
  }
  return nonceCount.toString(16).padStart(8, '0');
}

export function computeDigestCredentials(options: ComputeDigestOptions): DigestCredentials {
  const { challenge, credentials, method, uri } = options;
  if (challenge.scheme.toLowerCase() !== 'digest') {
    throw new DigestError('unsupported_scheme', `Authentication scheme ${JSON.stringify(challenge.scheme)} is not Digest`);
  }
  const realm = requiredParam(challenge, 'realm');
  const nonce = requiredParam(challenge, 'nonce');
  const opaque = param(challenge, 'opaque');
  const algo = resolveAlgorithm(challenge);
  const qop = chooseQop(challenge);

  const hash = (data: string): string => createHash(algo.hash).update(data, 'utf8').digest('hex');
  const needsCnonce = qop !== undefined || algo.sess;
  const cnonce = needsCnonce ? (options.cnonce ?? defaultCnonce)() : undefined;

  let ha1 = hash(`${credentials.username}:${realm}:${credentials.password}`);
  if (algo.sess) ha1 = hash(`${ha1}:${nonce}:${cnonce ?? ''}`);
  const ha2 = hash(`${method}:${uri}`);

  let response: string;
  let nc: string | undefined;
  if (qop !== undefined) {
    nc = formatNonceCount(options.nonceCount ?? 1);
    response = hash(`${ha1}:${nonce}:${nc}:${cnonce ?? ''}:${qop}:${ha2}`);
  } else {
    response = hash(`${ha1}:${nonce}:${ha2}`);
  }

  return {
    username: credentials.username,
    realm,
    nonce,
    uri,
    response,
    algorithm: algo.algorithm,
    ...(cnonce !== undefined ? { cnonce } : {}),
    ...(qop !== undefined ? { qop } : {}),
    ...(nc !== undefined ? { nc } : {}),
    ...(opaque !== undefined ? { opaque } : {}),
  };
}

/** A CR or LF in any value would let a peer's realm/nonce split our header: refuse rather than emit it. */
const FORBIDDEN = /[\r\n\0]/;
const TOKEN = /^[A-Za-z0-9!%'*+\-.^_`|~]+$/;

function quoted(name: string, value: string): string {
  if (FORBIDDEN.test(value)) throw new DigestError('invalid_value', `Digest ${name} contains CR, LF or NUL`);
  // quoted-string allows quoted-pair for '"' and '\' (RFC 3261 §25.1).
  return `${name}="${value.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

function bare(name: string, value: string): string {
  if (!TOKEN.test(value)) throw new DigestError('invalid_value', `Digest ${name} must be a token`);
  return `${name}=${value}`;
}

/**
 * RFC 3261 §25.1 / RFC 2617 §3.2.2 digest-response: username, realm, nonce, digest-uri, response, cnonce and
 * opaque are quoted-strings; algorithm, qop (message-qop) and nc (nc-value) are bare tokens — quoting those is a
 * classic interop bug that strict servers reject.
 */
export function formatDigestCredentials(params: DigestCredentials): string {
  const parts = [
    quoted('username', params.username),
    quoted('realm', params.realm),
    quoted('nonce', params.nonce),
    quoted('uri', params.uri),
    quoted('response', params.response),
    bare('algorithm', params.algorithm),
  ];
  if (params.cnonce !== undefined) parts.push(quoted('cnonce', params.cnonce));
  if (params.qop !== undefined) parts.push(bare('qop', params.qop));
  if (params.nc !== undefined) parts.push(bare('nc', params.nc));
  if (params.opaque !== undefined) parts.push(quoted('opaque', params.opaque));
  return `Digest ${parts.join(', ')}`;
}

interface RealmState {
  readonly challenge: DigestChallenge;
  nonceCount: number;
}

/**
 * Remembers the last challenge per realm so later requests (REGISTER refreshes, in-dialog requests through the
 * same proxy) can carry credentials up front, reusing the nonce with an increasing nc as RFC 2617 §3.2.2 intends.
 */
export class DigestSession {
  readonly #credentials: DigestUserCredentials;
  readonly #cnonce: (() => string) | undefined;
  readonly #realms = new Map<string, RealmState>();

  constructor(credentials: DigestUserCredentials, options: { cnonce?: () => string } = {}) {
    this.#credentials = credentials;
    this.#cnonce = options.cnonce;
  }

  /**
   * Answers a fresh challenge and remembers it for its realm. A new nonce restarts nc at 1; the same nonce again
   * (a server re-challenging without rotating) keeps counting so no nc is ever repeated for one nonce.
   */
  respond(challenge: DigestChallenge, method: string, uri: string): DigestCredentials {
    const realm = requiredParam(challenge, 'realm');
    const nonce = requiredParam(challenge, 'nonce');
    const previous = this.#realms.get(realm);
    const nonceCount =
      previous !== undefined && param(previous.challenge, 'nonce') === nonce ? previous.nonceCount + 1 : 1;
    const result = this.#compute(challenge, method, uri, nonceCount);
    this.#realms.set(realm, { challenge, nonceCount });
    return result;
  }

  /**
   * Credentials for a new request to a realm we were challenged by before, or undefined when there is no usable
   * challenge (never challenged, or nc exhausted): then send without and let the server challenge again.
   */
  authorize(realm: string, method: string, uri: string): DigestCredentials | undefined {
    const state = this.#realms.get(realm);
    if (state === undefined || state.nonceCount >= MAX_NONCE_COUNT) return undefined;
    const result = this.#compute(state.challenge, method, uri, state.nonceCount + 1);
    state.nonceCount += 1;
    return result;
  }

  /** Drops a realm, e.g. after the server rejected our credentials (a non-stale re-challenge). */
  forget(realm: string): void {
    this.#realms.delete(realm);
  }

  get realms(): string[] {
    return [...this.#realms.keys()];
  }

  #compute(challenge: DigestChallenge, method: string, uri: string, nonceCount: number): DigestCredentials {
    return computeDigestCredentials({
      challenge,
      credentials: this.#credentials,
      method,
      uri,
      nonceCount,
      ...(this.#cnonce !== undefined ? { cnonce: this.#cnonce } : {}),
    });
  }
}
