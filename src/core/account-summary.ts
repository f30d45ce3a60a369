import type { AccountService, User } from './accounts.js';
import type { AccountChanges } from './account-changes.js';
import type { Clock } from './clock.js';
import type { CreditBalance, CreditService } from './credits.js';
import type { NumberService, PhoneNumber } from './numbers.js';

export interface AccountSummary {
  readonly users: readonly User[];
  readonly numbers: readonly PhoneNumber[];
  readonly balance: CreditBalance;
}

interface Entry {
  readonly summary: AccountSummary;
  readonly expiresAtMs: number;
}

const MAX_ENTRIES = 10_000;

/**
 * What an account looks like to its own API calls (users, numbers, balance), cached per account: the most frequent
 * read of every face must not cost database round trips. Every change made through the services drops the entry at
 * once, in this process and (with DIALPLANE_REDIS_URL) on every node; the TTL bounds staleness for changes made
 * elsewhere (another tool writing the database, or a message lost while Redis was down).
 */
export class AccountSummaryService {
  private readonly cache = new Map<string, Entry>();
  /** Bumped on every change, so a load that raced a change is not cached. */
  private readonly versions = new Map<string, number>();
  /** Bumped when every entry is dropped (other nodes' changes may have been missed). */
  private epoch = 0;

  constructor(
    private readonly parts: { accounts: AccountService; numbers: NumberService; credits: CreditService },
    private readonly clock: Clock,
    changes: AccountChanges,
    private readonly ttlMs: number,
  ) {
    changes.subscribe((accountId) => {
      this.cache.delete(accountId);
      this.versions.set(accountId, (this.versions.get(accountId) ?? 0) + 1);
    });
    changes.subscribeEverything(() => {
      this.cache.clear();
      this.epoch++;
    });
  }

  async get(accountId: string): Promise<AccountSummary> {
    const nowMs = this.clock.now().getTime();
    const cached = this.cache.get(accountId);
    if (cached && cached.expiresAtMs > nowMs) return cached.summary;
    const version = this.versions.get(accountId) ?? 0;
    const epoch = this.epoch;
    const [users, numbers, balance] = await Promise.all([
      this.parts.accounts.users(accountId),
      this.parts.numbers.list(accountId),
      this.parts.credits.balance(accountId),
    ]);
    const summary: AccountSummary = { users, numbers, balance };
    if ((this.versions.get(accountId) ?? 0) === version && this.epoch === epoch && this.ttlMs > 0) {
      if (this.cache.size >= MAX_ENTRIES) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(accountId, { summary, expiresAtMs: nowMs + this.ttlMs });
    }
    return summary;
  }
}
