import { AccountChanges } from './account-changes.js';
import { DialplaneError } from '../errors.js';
import type { ApiKeyRow } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { constantTimeEqual, generateApiKeyToken, hashApiKeyToken, isWellFormedApiKeyToken } from './api-key-token.js';
import { isoNow, type Clock } from './clock.js';
import { newId } from './ids.js';

export type KeyPermission = ApiKeyRow['permission'];

export interface ApiKeyInfo {
  readonly id: string;
  readonly accountId: string;
  readonly userId: string | null;
  readonly appId: string | null;
  readonly name: string;
  readonly last4: string;
  readonly permission: KeyPermission;
  readonly enabled: boolean;
  readonly expiresAt: string | null;
  readonly lastUsedAt: string | null;
  readonly createdAt: string;
}

/** Who a request speaks for once its key checked out. */
export interface Principal {
  readonly accountId: string;
  readonly keyId: string;
  readonly userId: string | null;
  readonly appId: string | null;
  readonly permission: KeyPermission;
  /** A signed-in user's access token rather than an API key (keyId is then the sign-in's id). */
  readonly signedIn?: boolean;
}

export interface CreateKeyInput {
  readonly name: string;
  readonly permission?: KeyPermission;
  readonly expiresAt?: string | null;
  readonly userId?: string | null;
}

export interface KeyCacheOptions {
  readonly ttlMs: number;
  readonly maxEntries?: number;
}

interface CacheEntry {
  readonly row: ApiKeyRow | undefined;
  /** The key's user, when it has one: a disabled user's keys stop working, a view-only user's keys only read. */
  readonly user: { readonly active: boolean; readonly viewOnly: boolean } | undefined;
  readonly expiresAtMs: number;
}

/**
 * API keys: created here (the token is returned once, only its SHA-256 and last four characters are stored),
 * checked on every request from a cache so authentication costs no database round trip on the hot path.
 * A revoke through this service evicts the key at once; the TTL bounds staleness for changes made elsewhere.
 */
export class ApiKeyService {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly hashById = new Map<string, string>();
  /** Key id → last use in epoch ms, written out in batches. */
  private readonly pendingUsage = new Map<string, number>();
  private readonly maxEntries: number;
  /** Told when a key is revoked or enabled again, after the change is stored (a face's webhooks follow it). */
  private readonly enabledListeners = new Set<(accountId: string, keyId: string, enabled: boolean) => Promise<void> | void>();

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly cacheOptions: KeyCacheOptions,
    private readonly changes: AccountChanges = new AccountChanges(),
  ) {
    this.maxEntries = cacheOptions.maxEntries ?? 10_000;
    changes.subscribeKeys((keyId) => this.evictLocal(keyId));
    changes.subscribeUsers((userId) => this.evictUser(userId));
    changes.subscribeEverything(() => {
      this.cache.clear();
      this.hashById.clear();
    });
  }

  async create(accountId: string, input: CreateKeyInput): Promise<{ key: ApiKeyInfo; token: string }> {
    const { row, token } = this.newKeyRow(accountId, input, null);
    if (input.userId) await this.assertUser(accountId, input.userId);
    await this.store.apiKeys.insert(row);
    return { key: toInfo(row), token };
  }

  /** Builds a key row for a key that another aggregate (a gateway app) inserts in its own transaction. */
  newKeyRow(accountId: string, input: CreateKeyInput, appId: string | null): { row: ApiKeyRow; token: string } {
    const name = input.name.trim();
    if (!name || name.length > 100) {
      throw new DialplaneError('validation_failed', 'name must be 1 to 100 characters', { field: 'name' });
    }
    const permission = input.permission ?? 'full';
    if (permission !== 'full' && permission !== 'read_only') {
      throw new DialplaneError('validation_failed', 'permission must be full or read_only', { field: 'permission' });
    }
    const expiresAt = this.parseExpiry(input.expiresAt ?? null);
    const { token, hash, last4 } = generateApiKeyToken();
    const row: ApiKeyRow = {
      id: newId('key'),
      account_id: accountId,
      user_id: input.userId ?? null,
      app_id: appId,
      name,
      key_hash: hash,
      last4,
      permission,
      enabled: 1,
      expires_at: expiresAt,
      last_used_at: null,
      created_at: isoNow(this.clock),
    };
    return { row, token };
  }

  async list(accountId: string): Promise<ApiKeyInfo[]> {
    return (await this.store.apiKeys.list(accountId)).map(toInfo);
  }

  async get(accountId: string, keyId: string): Promise<ApiKeyInfo> {
    const row = await this.store.apiKeys.findById(accountId, keyId);
    if (!row) throw new DialplaneError('not_found', 'API key not found');
    return toInfo(row);
  }

  async revoke(accountId: string, keyId: string): Promise<ApiKeyInfo> {
    return this.setEnabled(accountId, keyId, false);
  }

  async setEnabled(accountId: string, keyId: string, enabled: boolean): Promise<ApiKeyInfo> {
    const row = await this.store.apiKeys.setEnabled(accountId, keyId, enabled);
    if (!row) throw new DialplaneError('not_found', 'API key not found');
    this.evict(keyId);
    for (const listener of this.enabledListeners) await listener(accountId, keyId, enabled);
    return toInfo(row);
  }

  onEnabledChange(listener: (accountId: string, keyId: string, enabled: boolean) => Promise<void> | void): () => void {
    this.enabledListeners.add(listener);
    return () => this.enabledListeners.delete(listener);
  }

  /**
   * Resolves a presented token to a principal, or undefined. Unknown, disabled, expired and wrong-app keys are
   * indistinguishable to the caller. `appId` is given exactly when the request used the X-App-ID scheme: app keys
   * authenticate only with their app id, other keys only without one.
   */
  async authenticate(token: string, appId?: string): Promise<Principal | undefined> {
    if (!isWellFormedApiKeyToken(token)) return undefined;
    const hash = hashApiKeyToken(token);
    const { row, user } = await this.lookup(hash);
    if (!row || row.enabled !== 1 || user?.active === false) return undefined;
    const nowMs = this.clock.now().getTime();
    if (row.expires_at !== null && Date.parse(row.expires_at) <= nowMs) return undefined;
    if (appId === undefined ? row.app_id !== null : row.app_id === null || !constantTimeEqual(row.app_id, appId)) {
      return undefined;
    }
    this.pendingUsage.set(row.id, nowMs);
    return {
      accountId: row.account_id,
      keyId: row.id,
      userId: row.user_id,
      appId: row.app_id,
      permission: user?.viewOnly ? 'read_only' : row.permission,
    };
  }

  /** Writes the batched last-used times; called on a timer and at shutdown rather than on every request. */
  async flushUsage(): Promise<void> {
    if (this.pendingUsage.size === 0) return;
    const batch = new Map([...this.pendingUsage].map(([id, ms]) => [id, new Date(ms).toISOString()]));
    this.pendingUsage.clear();
    await this.store.apiKeys.touch(batch);
  }

  /** Drops the key from every node's cache: the next request with it reads the database. */
  evict(keyId: string): void {
    this.changes.notifyKey(keyId);
  }

  private evictLocal(keyId: string): void {
    const hash = this.hashById.get(keyId);
    if (hash !== undefined) this.cache.delete(hash);
    this.hashById.delete(keyId);
  }

  /** A user's status or permissions changed: drop every cached key of that user. */
  private evictUser(userId: string): void {
    for (const [hash, entry] of this.cache) {
      if (entry.row?.user_id !== userId) continue;
      this.cache.delete(hash);
      this.hashById.delete(entry.row.id);
    }
  }

  private async lookup(hash: string): Promise<CacheEntry> {
    const nowMs = this.clock.now().getTime();
    const cached = this.cache.get(hash);
    if (cached && cached.expiresAtMs > nowMs) return cached;
    const row = await this.store.apiKeys.findByHash(hash);
    const userRow = row?.user_id ? await this.store.accounts.findUser(row.account_id, row.user_id) : undefined;
    const entry: CacheEntry = {
      row,
      user: userRow && { active: userRow.status === 'active', viewOnly: userRow.view_only === 1 },
      expiresAtMs: nowMs + this.cacheOptions.ttlMs,
    };
    if (this.cache.size >= this.maxEntries) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.delete(hash);
    this.cache.set(hash, entry);
    if (row) this.hashById.set(row.id, hash);
    return entry;
  }

  private parseExpiry(value: string | null): string | null {
    if (value === null) return null;
    const ms = Date.parse(value);
    if (Number.isNaN(ms)) {
      throw new DialplaneError('validation_failed', 'expires_at must be an ISO-8601 date-time', { field: 'expires_at' });
    }
    if (ms <= this.clock.now().getTime()) {
      throw new DialplaneError('validation_failed', 'expires_at must be in the future', { field: 'expires_at' });
    }
    return new Date(ms).toISOString();
  }

  private async assertUser(accountId: string, userId: string): Promise<void> {
    if (!(await this.store.accounts.findUser(accountId, userId))) {
      throw new DialplaneError('not_found', 'user not found', { field: 'user_id' });
    }
  }
}

export function toInfo(row: ApiKeyRow): ApiKeyInfo {
  return {
    id: row.id,
    accountId: row.account_id,
    userId: row.user_id,
    appId: row.app_id,
    name: row.name,
    last4: row.last4,
    permission: row.permission,
    enabled: row.enabled === 1,
    expiresAt: row.expires_at,
    lastUsedAt: row.last_used_at,
    createdAt: row.created_at,
  };
}
