import { DialplaneError } from '../errors.js';
import type { AuthTokenRow, UserRow } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { hashApiKeyToken } from './api-key-token.js';
import type { Principal } from './api-keys.js';
import type { Clock } from './clock.js';
import { newId, randomBase62 } from './ids.js';
import { DUMMY_PASSWORD_HASH, hashPassword, PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, verifyPassword } from './passwords.js';

/** The DialLink document's lifetimes: an access token lasts 1 minute, a refresh token 10. */
export const ACCESS_TOKEN_TTL_MS = 60_000;
export const REFRESH_TOKEN_TTL_MS = 10 * 60_000;

const ACCESS_PREFIX = 'dlat_';
const REFRESH_PREFIX = 'dlrt_';
const TOKEN_RANDOM_LENGTH = 43;
const ACCESS_PATTERN = new RegExp(`^${ACCESS_PREFIX}[0-9A-Za-z]{${TOKEN_RANDOM_LENGTH}}$`);
const REFRESH_PATTERN = new RegExp(`^${REFRESH_PREFIX}[0-9A-Za-z]{${TOKEN_RANDOM_LENGTH}}$`);

export interface TokenPair {
  readonly accessToken: string;
  readonly refreshToken: string;
  /** Epoch milliseconds. */
  readonly accessTokenExpiresAt: number;
  readonly refreshTokenExpiresAt: number;
}

export interface SignInOptions {
  readonly accessTtlMs?: number;
  readonly refreshTtlMs?: number;
}

/**
 * Users signing in with an email and password. A sign-in starts a family: an access token (1 minute) and a refresh
 * token (10 minutes). Each refresh spends its refresh token and issues the next pair in the family; presenting a
 * spent refresh token again means it was copied, so the whole family — the thief's tokens and the user's — is
 * revoked. Tokens are random (256 bits) and stored only as their SHA-256.
 */
export class SignInService {
  private readonly accessTtlMs: number;
  private readonly refreshTtlMs: number;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    options: SignInOptions = {},
  ) {
    this.accessTtlMs = options.accessTtlMs ?? ACCESS_TOKEN_TTL_MS;
    this.refreshTtlMs = options.refreshTtlMs ?? REFRESH_TOKEN_TTL_MS;
  }

  async setPassword(accountId: string, userId: string, password: string): Promise<void> {
    if (password.length < PASSWORD_MIN_LENGTH || password.length > PASSWORD_MAX_LENGTH) {
      throw new DialplaneError('validation_failed', `a password has ${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters`, {
        field: 'password',
      });
    }
    if (!(await this.store.directory.setPassword(accountId, userId, await hashPassword(password)))) {
      throw new DialplaneError('not_found', 'user not found');
    }
  }

  async signIn(email: string, password: string): Promise<TokenPair> {
    const candidates = (await this.store.directory.usersByEmail(email.trim().toLowerCase())).filter((u) => u.status === 'active');
    let user: UserRow | undefined;
    for (const candidate of candidates) {
      if (await verifyPassword(password, candidate.password_hash ?? DUMMY_PASSWORD_HASH)) {
        user = candidate;
        break;
      }
    }
    // No such user costs one hash too, so the answer's timing does not tell which emails exist.
    if (candidates.length === 0) await verifyPassword(password, DUMMY_PASSWORD_HASH);
    if (!user) throw new DialplaneError('invalid_login');
    const now = this.clock.now();
    const familyId = newId('sgn', now.getTime());
    const pair = this.newPair(familyId, now.getTime());
    await this.store.authTokens.startFamily(
      { id: familyId, account_id: user.account_id, user_id: user.id, created_at: now.toISOString(), revoked_at: null, revoked_reason: null },
      pair.rows,
    );
    return pair.tokens;
  }

  async refresh(refreshToken: string): Promise<TokenPair> {
    if (!REFRESH_PATTERN.test(refreshToken)) throw new DialplaneError('invalid_refresh_token');
    const hash = hashApiKeyToken(refreshToken);
    const found = await this.store.authTokens.find(hash);
    if (!found || found.token.kind !== 'refresh' || found.family.revoked_at !== null) throw new DialplaneError('invalid_refresh_token');
    const now = this.clock.now();
    if (found.token.spent_at !== null) {
      await this.store.authTokens.revokeFamily(found.family.id, now.toISOString(), 'refresh token reused');
      throw new DialplaneError('invalid_refresh_token');
    }
    if (Date.parse(found.token.expires_at) <= now.getTime()) throw new DialplaneError('invalid_refresh_token');
    const user = await this.store.accounts.findUser(found.family.account_id, found.family.user_id);
    if (!user || user.status !== 'active') throw new DialplaneError('invalid_refresh_token');
    const pair = this.newPair(found.family.id, now.getTime());
    if (!(await this.store.authTokens.rotate(hash, now.toISOString(), pair.rows))) {
      // Another request spent it between the read and the write: a reuse all the same.
      await this.store.authTokens.revokeFamily(found.family.id, now.toISOString(), 'refresh token reused');
      throw new DialplaneError('invalid_refresh_token');
    }
    return pair.tokens;
  }

  /** The principal of a live access token, or undefined; a view-only user's tokens only read. */
  async authenticate(accessToken: string): Promise<Principal | undefined> {
    if (!ACCESS_PATTERN.test(accessToken)) return undefined;
    const found = await this.store.authTokens.find(hashApiKeyToken(accessToken));
    if (!found || found.token.kind !== 'access' || found.family.revoked_at !== null) return undefined;
    if (Date.parse(found.token.expires_at) <= this.clock.now().getTime()) return undefined;
    const user = await this.store.accounts.findUser(found.family.account_id, found.family.user_id);
    if (!user || user.status !== 'active') return undefined;
    return {
      accountId: user.account_id,
      keyId: found.family.id,
      userId: user.id,
      appId: null,
      permission: user.view_only === 1 ? 'read_only' : 'full',
      signedIn: true,
    };
  }

  private newPair(familyId: string, nowMs: number): { tokens: TokenPair; rows: AuthTokenRow[] } {
    const accessToken = `${ACCESS_PREFIX}${randomBase62(TOKEN_RANDOM_LENGTH)}`;
    const refreshToken = `${REFRESH_PREFIX}${randomBase62(TOKEN_RANDOM_LENGTH)}`;
    const accessTokenExpiresAt = nowMs + this.accessTtlMs;
    const refreshTokenExpiresAt = nowMs + this.refreshTtlMs;
    const createdAt = new Date(nowMs).toISOString();
    const row = (token: string, kind: AuthTokenRow['kind'], expires: number): AuthTokenRow => ({
      hash: hashApiKeyToken(token),
      family_id: familyId,
      kind,
      expires_at: new Date(expires).toISOString(),
      spent_at: null,
      created_at: createdAt,
    });
    return {
      tokens: { accessToken, refreshToken, accessTokenExpiresAt, refreshTokenExpiresAt },
      rows: [row(accessToken, 'access', accessTokenExpiresAt), row(refreshToken, 'refresh', refreshTokenExpiresAt)],
    };
  }
}
