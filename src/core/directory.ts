import { DialplaneError } from '../errors.js';
import type { Store } from '../store/store.js';
import type { CallRow } from '../store/schema.js';
import { toUser, type User } from './accounts.js';
import { toInfo, type ApiKeyInfo, type ApiKeyService, type Principal } from './api-keys.js';
import type { Clock } from './clock.js';
import { paging, type ListQuery, type Page } from './query/list-query.js';

/** A key made from the DialLink account hub lasts a year unless it is disabled first. */
export const API_KEY_LIFETIME_MS = 365 * 24 * 60 * 60 * 1000;

export interface CallSummary {
  readonly id: string;
  readonly direction: CallRow['direction'];
  readonly from: string;
  readonly to: string;
  readonly state: CallRow['state'];
  readonly outcome: string | null;
  readonly startedAt: string;
  readonly answeredAt: string | null;
  readonly endedAt: string | null;
  /** Whole seconds from answer to end (or to now while it lasts); 0 when never answered. */
  readonly durationS: number;
  /** What the call and its legs were charged, in minor units; null while a leg is live. */
  readonly costMinor: number | null;
}

export interface RecordingSummary {
  readonly id: string;
  readonly callId: string;
  readonly durationMs: number;
  readonly createdAt: string;
}

/** The user a principal speaks for: its own user, or the account's first admin for a key made without one. */
export type Permission = 'admin' | 'standard' | 'view-only';

export function permissionOf(user: User): Permission {
  return user.viewOnly ? 'view-only' : user.admin ? 'admin' : 'standard';
}

/**
 * Listings behind the DialLink phone system and account hub: users, API keys, calls and recordings of an account,
 * paged, sorted and filtered by a checked list query.
 */
export class DirectoryService {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly keys: ApiKeyService,
  ) {}

  async me(principal: Principal): Promise<User> {
    const row = principal.userId
      ? await this.store.accounts.findUser(principal.accountId, principal.userId)
      : await this.store.accounts.findOwner(principal.accountId);
    if (!row) throw new DialplaneError('not_found', 'user not found');
    return toUser(row);
  }

  async users(accountId: string, query: ListQuery): Promise<Page<User>> {
    const { rows, total } = await this.store.directory.users(accountId, query);
    return { data: rows.map(toUser), paging: paging(query, total) };
  }

  async apiKeys(accountId: string, query: ListQuery): Promise<Page<ApiKeyInfo>> {
    const { rows, total } = await this.store.directory.apiKeys(accountId, query);
    return { data: rows.map(toInfo), paging: paging(query, total) };
  }

  async apiKey(accountId: string, id: string): Promise<ApiKeyInfo> {
    const key = await this.keys.get(accountId, id);
    if (key.appId !== null) throw new DialplaneError('not_found', 'API key not found');
    return key;
  }

  /** A key for the principal's user: it carries that user's permission (a view-only user's key only reads). */
  async createApiKey(principal: Principal, input: { name: string; enabled: boolean }): Promise<{ key: ApiKeyInfo; token: string }> {
    const expiresAt = new Date(this.clock.now().getTime() + API_KEY_LIFETIME_MS).toISOString();
    const created = await this.keys.create(principal.accountId, {
      name: input.name,
      expiresAt,
      userId: principal.userId,
      permission: principal.permission,
    });
    if (input.enabled) return created;
    return { key: await this.keys.setEnabled(principal.accountId, created.key.id, false), token: created.token };
  }

  async calls(accountId: string, query: ListQuery): Promise<Page<CallSummary>> {
    const { rows, total } = await this.store.directory.calls(accountId, query);
    const nowMs = this.clock.now().getTime();
    return { data: rows.map(({ call, legs }) => summarize(call, legs, nowMs)), paging: paging(query, total) };
  }

  /** One call that is not a leg of another; another account's is not_found. */
  async call(accountId: string, id: string): Promise<CallSummary> {
    const call = await this.store.calls.findById(accountId, id);
    if (!call || call.parent_call_id !== null) throw new DialplaneError('not_found', 'call not found');
    const legs = await this.store.calls.children(accountId, id);
    return summarize(call, legs, this.clock.now().getTime());
  }

  async recordings(accountId: string, query: ListQuery): Promise<Page<RecordingSummary>> {
    const { rows, total } = await this.store.directory.recordings(accountId, query);
    return {
      data: rows.map((r) => ({ id: r.id, callId: r.call_id, durationMs: r.duration_ms, createdAt: r.created_at })),
      paging: paging(query, total),
    };
  }

  /** A recording's WAV audio; another account's is not_found. */
  async recordingAudio(accountId: string, id: string): Promise<Buffer> {
    const row = await this.store.calls.recording(accountId, id);
    if (!row) throw new DialplaneError('not_found', 'recording not found');
    return Buffer.from(row.wav);
  }
}

function summarize(call: CallRow, legs: readonly CallRow[], nowMs: number): CallSummary {
  const all = [call, ...legs];
  const live = all.some((leg) => leg.state !== 'ended');
  const answered = call.answered_at ? Date.parse(call.answered_at) : undefined;
  const end = call.ended_at ? Date.parse(call.ended_at) : nowMs;
  return {
    id: call.id,
    direction: call.direction,
    from: call.from_number,
    to: call.to_number,
    state: call.state,
    outcome: call.outcome,
    startedAt: call.created_at,
    answeredAt: call.answered_at,
    endedAt: call.ended_at,
    durationS: answered === undefined ? 0 : Math.max(0, Math.floor((end - answered) / 1000)),
    costMinor: live ? null : all.reduce((sum, leg) => sum + Number(leg.cost_minor ?? 0), 0),
  };
}
