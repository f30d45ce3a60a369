import { DialplaneError } from '../errors.js';
import type { AccountRow, UserRow } from '../store/schema.js';
import { isUniqueViolation } from '../store/database.js';
import type { Store } from '../store/store.js';
import type { AccountChanges } from './account-changes.js';
import { isoNow, type Clock } from './clock.js';
import { newId } from './ids.js';

export interface Account {
  readonly id: string;
  readonly name: string;
  readonly email: string;
  readonly status: AccountRow['status'];
  readonly createdAt: string;
}

export interface User {
  readonly id: string;
  readonly accountId: string;
  readonly email: string;
  readonly firstName: string;
  readonly lastName: string;
  readonly jobTitle: string;
  readonly admin: boolean;
  readonly status: UserRow['status'];
  readonly viewOnly: boolean;
  readonly parallelCallsEnabled: boolean;
  readonly createdAt: string;
}

export interface CreateAccountInput {
  readonly name: string;
  readonly email: string;
  readonly firstName?: string;
  readonly lastName?: string;
  readonly jobTitle?: string;
}

export interface AddUserInput {
  readonly email: string;
  readonly firstName?: string;
  readonly lastName?: string;
  readonly jobTitle?: string;
  readonly admin?: boolean;
  readonly viewOnly?: boolean;
}

const EMAIL = /^[^\s@]+@[^\s@]+$/;

export class AccountService {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly changes: AccountChanges,
  ) {}

  /** An account is a tenant; it is created with its first user, an admin, who owns keys made without a user. */
  async create(input: CreateAccountInput): Promise<{ account: Account; owner: User }> {
    const name = input.name.trim();
    const email = input.email.trim().toLowerCase();
    if (!name) throw new DialplaneError('validation_failed', 'name must not be empty', { field: 'name' });
    if (!EMAIL.test(email)) throw new DialplaneError('validation_failed', 'email is not an email address', { field: 'email' });
    const createdAt = isoNow(this.clock);
    const account: AccountRow = {
      id: newId('acct'),
      name,
      email,
      status: 'active',
      balance_minor: 0,
      held_minor: 0,
      created_at: createdAt,
    };
    const owner: UserRow = {
      id: newId('user'),
      account_id: account.id,
      email,
      first_name: input.firstName?.trim() ?? '',
      last_name: input.lastName?.trim() ?? '',
      job_title: input.jobTitle?.trim() ?? '',
      admin: 1,
      status: 'active',
      view_only: 0,
      created_at: createdAt,
      password_hash: null,
      parallel_calls_enabled: 1,
    };
    await this.store.accounts.insertWithUser(account, owner);
    return { account: toAccount(account), owner: toUser(owner) };
  }

  /** A further user of an account. A view-only user's keys can only read; a disabled user's keys stop working. */
  async addUser(accountId: string, input: AddUserInput): Promise<User> {
    await this.get(accountId);
    const email = input.email.trim().toLowerCase();
    if (!EMAIL.test(email)) throw new DialplaneError('validation_failed', 'email is not an email address', { field: 'email' });
    const row: UserRow = {
      id: newId('user'),
      account_id: accountId,
      email,
      first_name: input.firstName?.trim() ?? '',
      last_name: input.lastName?.trim() ?? '',
      job_title: input.jobTitle?.trim() ?? '',
      admin: input.admin ? 1 : 0,
      status: 'active',
      view_only: input.viewOnly ? 1 : 0,
      created_at: isoNow(this.clock),
      password_hash: null,
      parallel_calls_enabled: 1,
    };
    try {
      await this.store.accounts.insertUser(row);
    } catch (error) {
      if (isUniqueViolation(error)) throw new DialplaneError('conflict', `${email} is already a user`, { field: 'email' });
      throw error;
    }
    this.changes.notify(accountId);
    return toUser(row);
  }

  async setUserStatus(accountId: string, userId: string, status: UserRow['status']): Promise<User> {
    const row = await this.store.accounts.updateUser(accountId, userId, { status });
    if (!row) throw new DialplaneError('not_found', 'user not found');
    // The user's API keys are cached with the user's status: they stop (or start) working now, not at the TTL.
    this.changes.notifyUser(accountId, userId);
    return toUser(row);
  }

  async users(accountId: string): Promise<User[]> {
    return (await this.store.accounts.listUsers(accountId)).map(toUser);
  }

  async get(accountId: string): Promise<Account> {
    const row = await this.store.accounts.findById(accountId);
    if (!row) throw new DialplaneError('not_found', 'account not found');
    return toAccount(row);
  }

  async list(): Promise<Account[]> {
    return (await this.store.accounts.list()).map(toAccount);
  }

  async count(): Promise<number> {
    return this.store.accounts.count();
  }

  async owner(accountId: string): Promise<User> {
    const row = await this.store.accounts.findOwner(accountId);
    if (!row) throw new DialplaneError('not_found', 'account has no user');
    return toUser(row);
  }

  async user(accountId: string, userId: string): Promise<User> {
    const row = await this.store.accounts.findUser(accountId, userId);
    if (!row) throw new DialplaneError('not_found', 'user not found');
    return toUser(row);
  }
}

function toAccount(row: AccountRow): Account {
  return { id: row.id, name: row.name, email: row.email, status: row.status, createdAt: row.created_at };
}

export function toUser(row: UserRow): User {
  return {
    id: row.id,
    accountId: row.account_id,
    email: row.email,
    firstName: row.first_name,
    lastName: row.last_name,
    jobTitle: row.job_title,
    admin: row.admin === 1,
    status: row.status,
    viewOnly: row.view_only === 1,
    parallelCallsEnabled: row.parallel_calls_enabled === 1,
    createdAt: row.created_at,
  };
}
