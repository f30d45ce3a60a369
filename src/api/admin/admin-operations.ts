import type { Account } from '../../core/accounts.js';
import type { ApiKeyInfo, KeyPermission } from '../../core/api-keys.js';
import type { CreditEntry } from '../../core/credits.js';
import type { GatewayApp } from '../../core/gateway-apps.js';
import { maskSecret } from '../../core/key-webhooks.js';
import { creditsToMinor, minorToCredits } from '../../core/money.js';
import type { Capability, NumberType, PhoneNumber } from '../../core/numbers.js';
import type { Services } from '../../core/services.js';
import { DialplaneError } from '../../errors.js';
import { webhookOperations } from './admin-webhook-operations.js';

/**
 * The admin operations in their wire shape (snake_case JSON). The admin HTTP API serves them, and the CLI calls
 * them directly when no server is running, so both paths print the same thing.
 */
export function accountView(a: Account) {
  return { id: a.id, name: a.name, email: a.email, status: a.status, created_at: a.createdAt };
}

export function keyView(k: ApiKeyInfo) {
  return {
    id: k.id,
    account_id: k.accountId,
    name: k.name,
    last4: k.last4,
    permission: k.permission,
    enabled: k.enabled,
    expires_at: k.expiresAt,
    last_used_at: k.lastUsedAt,
    app_id: k.appId,
    user_id: k.userId,
    created_at: k.createdAt,
  };
}

export function numberView(n: PhoneNumber) {
  return { id: n.id, number: n.number, type: n.type, capabilities: [...n.capabilities], created_at: n.createdAt };
}

/**
 * A gateway app's webhook secret is whole only in the answer that made it (create, or an update that set a new
 * one), as a webhook endpoint's is; every other answer masks it, so a listing never hands out what signs its events.
 */
export function appView(a: GatewayApp, revealSecret = false) {
  return {
    id: a.id,
    name: a.name,
    caller_id_allow_list: [...a.callerIdAllowList],
    webhook_url: a.webhookUrl,
    webhook_secret: a.webhookSecret === null || revealSecret ? a.webhookSecret : maskSecret(a.webhookSecret),
    application_id: a.applicationId,
    created_at: a.createdAt,
  };
}

function entryView(e: CreditEntry) {
  return {
    id: e.id,
    amount: minorToCredits(e.amountMinor),
    balance_after: minorToCredits(e.balanceAfterMinor),
    kind: e.kind,
    description: e.description,
    reference: e.reference,
    created_at: e.createdAt,
  };
}

export interface CreateAccountBody {
  name: string;
  email: string;
  first_name?: string;
  last_name?: string;
  job_title?: string;
}

export interface CreateKeyBody {
  name: string;
  permission?: KeyPermission;
  expires_at?: string | null;
}

export interface AddNumberBody {
  number: string;
  type: NumberType;
  capabilities?: Capability[];
}

export interface CreateAppBody {
  name: string;
  caller_id_allow_list?: string[];
  webhook_url?: string | null;
  webhook_secret?: string | null;
  application_id?: string | null;
  country?: string;
}

export interface UpdateAppBody {
  caller_id_allow_list?: string[];
  webhook_url?: string | null;
  webhook_secret?: string | null;
  application_id?: string | null;
  country?: string;
}

export interface AddCreditsBody {
  amount: number | string;
  description?: string;
}

export function adminOperations(services: Services) {
  const ensureAccount = (accountId: string) => services.accounts.get(accountId);
  return {
    ...webhookOperations(services),
    async listAccounts() {
      return { accounts: (await services.accounts.list()).map(accountView) };
    },
    async createAccount(body: CreateAccountBody) {
      const { account, owner } = await services.accounts.create({
        name: body.name,
        email: body.email,
        ...(body.first_name !== undefined ? { firstName: body.first_name } : {}),
        ...(body.last_name !== undefined ? { lastName: body.last_name } : {}),
        ...(body.job_title !== undefined ? { jobTitle: body.job_title } : {}),
      });
      return { account: accountView(account), owner_user_id: owner.id };
    },
    async listKeys(accountId: string) {
      await ensureAccount(accountId);
      return { keys: (await services.keys.list(accountId)).map(keyView) };
    },
    /** The only response that ever carries the key itself. */
    async createKey(accountId: string, body: CreateKeyBody) {
      await ensureAccount(accountId);
      const { key, token } = await services.keys.create(accountId, {
        name: body.name,
        ...(body.permission ? { permission: body.permission } : {}),
        expiresAt: body.expires_at ?? null,
      });
      return { key: keyView(key), api_key: token };
    },
    async revokeKey(accountId: string, keyId: string) {
      return { key: keyView(await services.keys.revoke(accountId, keyId)) };
    },
    async listNumbers(accountId: string) {
      await ensureAccount(accountId);
      return { numbers: (await services.numbers.list(accountId)).map(numberView) };
    },
    async addNumber(accountId: string, body: AddNumberBody) {
      await ensureAccount(accountId);
      const number = await services.numbers.add(accountId, {
        number: body.number,
        type: body.type,
        ...(body.capabilities ? { capabilities: body.capabilities } : {}),
      });
      return { number: numberView(number) };
    },
    async listApps(accountId: string) {
      await ensureAccount(accountId);
      return { apps: (await services.apps.list(accountId)).map((a) => appView(a)) };
    },
    async createApp(accountId: string, body: CreateAppBody) {
      await ensureAccount(accountId);
      const { app, key, token } = await services.apps.create(accountId, {
        name: body.name,
        callerIdAllowList: body.caller_id_allow_list ?? [],
        webhookUrl: body.webhook_url ?? null,
        webhookSecret: body.webhook_secret ?? null,
        applicationId: body.application_id ?? null,
        ...(body.country ? { country: body.country } : {}),
      });
      return { app: appView(app, true), key: keyView(key), app_id: app.id, api_key: token };
    },
    async updateApp(accountId: string, appId: string, body: UpdateAppBody) {
      await ensureAccount(accountId);
      const app = await services.apps.update(accountId, appId, {
        ...(body.caller_id_allow_list !== undefined ? { callerIdAllowList: body.caller_id_allow_list } : {}),
        ...(body.webhook_url !== undefined ? { webhookUrl: body.webhook_url } : {}),
        ...(body.webhook_secret !== undefined ? { webhookSecret: body.webhook_secret } : {}),
        ...(body.application_id !== undefined ? { applicationId: body.application_id } : {}),
        ...(body.country ? { country: body.country } : {}),
      });
      return { app: appView(app, body.webhook_secret !== undefined) };
    },
    async credits(accountId: string) {
      await ensureAccount(accountId);
      const [balance, entries] = await Promise.all([
        services.credits.balance(accountId),
        services.credits.entries(accountId, 50),
      ]);
      return {
        balance: minorToCredits(balance.balanceMinor),
        held: minorToCredits(balance.heldMinor),
        available: minorToCredits(balance.availableMinor),
        entries: entries.map(entryView),
      };
    },
    async addCredits(accountId: string, body: AddCreditsBody) {
      await ensureAccount(accountId);
      let minor: number;
      try {
        minor = creditsToMinor(body.amount);
      } catch {
        throw new DialplaneError('validation_failed', 'amount must be a number of credits with at most two decimals', {
          field: 'amount',
        });
      }
      const entry = await services.credits.add(accountId, minor, body.description ?? 'top-up');
      return { entry: entryView(entry), balance: minorToCredits(entry.balanceAfterMinor) };
    },
  };
}

export type AdminOperations = ReturnType<typeof adminOperations>;
