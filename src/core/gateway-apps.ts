import { DialplaneError } from '../errors.js';
import type { GatewayAppRow, WebhookEndpointRow } from '../store/schema.js';
import type { Store } from '../store/store.js';
import type { ApiKeyInfo, ApiKeyService } from './api-keys.js';
import { toInfo } from './api-keys.js';
import { isoNow, type Clock } from './clock.js';
import { newId, randomBase62 } from './ids.js';
import { normalizePhoneNumber } from './phone-number.js';
import type { WebhookService } from './webhooks.js';

export interface GatewayApp {
  readonly id: string;
  readonly accountId: string;
  readonly name: string;
  /** E.164 numbers the app may present as caller ID. */
  readonly callerIdAllowList: readonly string[];
  readonly webhookUrl: string | null;
  readonly webhookSecret: string | null;
  /** The call-control application whose hook or program decides what an answered session does. */
  readonly applicationId: string | null;
  readonly createdAt: string;
}

export interface CreateAppInput {
  readonly name: string;
  readonly callerIdAllowList?: readonly string[];
  readonly webhookUrl?: string | null;
  readonly webhookSecret?: string | null;
  readonly applicationId?: string | null;
  /** Country for allow-list numbers written in national format; defaults to the server's. */
  readonly country?: string;
}

/** What an operator may change on an app; absent fields stay as they are. */
export interface UpdateAppInput {
  readonly callerIdAllowList?: readonly string[];
  readonly webhookUrl?: string | null;
  readonly webhookSecret?: string | null;
  readonly applicationId?: string | null;
  readonly country?: string;
}

/** The payload format of a gateway app's session webhooks (registered by core, see gateway-sessions.ts). */
export const GATEWAY_SESSION_FORMAT = 'gateway.session';
/** Owner of the webhook endpoint that carries an app's session events. */
export const GATEWAY_APP_OWNER_PREFIX = 'gateway_app:';

export function gatewayAppOwner(appId: string): string {
  return `${GATEWAY_APP_OWNER_PREFIX}${appId}`;
}

/**
 * Gateway apps authenticate with X-App-ID + X-API-Key; the key is an ordinary API key bound to the app. An app's
 * webhook URL is a webhook endpoint of the outbox owned by the app, signed with the app's secret, so its session
 * events are written in the same transaction as the call changes they report and always arrive.
 */
export class GatewayAppService {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly keys: ApiKeyService,
    private readonly webhooks: WebhookService,
    private readonly defaultCountry: string,
  ) {}

  async create(accountId: string, input: CreateAppInput): Promise<{ app: GatewayApp; key: ApiKeyInfo; token: string }> {
    const country = input.country ?? this.defaultCountry;
    const now = isoNow(this.clock);
    const row: GatewayAppRow = {
      id: newId('app'),
      account_id: accountId,
      name: input.name.trim(),
      caller_id_allow_list: JSON.stringify(allowListOf(input.callerIdAllowList ?? [], country)),
      webhook_url: input.webhookUrl ? parseWebhookUrl(input.webhookUrl) : null,
      webhook_secret: input.webhookSecret ?? `whsec_${randomBase62(32)}`,
      application_id: await this.applicationOf(accountId, input.applicationId ?? null),
      created_at: now,
    };
    if (!row.name || row.name.length > 100) {
      throw new DialplaneError('validation_failed', 'name must be 1 to 100 characters', { field: 'name' });
    }
    const { row: keyRow, token } = this.keys.newKeyRow(accountId, { name: `app ${row.name}` }, row.id);
    const endpoint = this.endpointOf(row);
    await this.store.apps.insertWithKey(row, keyRow, async (trx) => {
      if (endpoint) await this.store.webhooks.insertEndpointIn(trx, endpoint);
    });
    return { app: toApp(row), key: toInfo(keyRow), token };
  }

  /** Changes an app's caller-ID allow-list, webhook or application; its webhook endpoint follows in the same write. */
  async update(accountId: string, appId: string, input: UpdateAppInput): Promise<GatewayApp> {
    const current = await this.store.apps.findById(accountId, appId);
    if (!current) throw new DialplaneError('not_found', 'app not found');
    const country = input.country ?? this.defaultCountry;
    const changes: Partial<GatewayAppRow> = {
      ...(input.callerIdAllowList !== undefined ? { caller_id_allow_list: JSON.stringify(allowListOf(input.callerIdAllowList, country)) } : {}),
      ...(input.webhookUrl !== undefined ? { webhook_url: input.webhookUrl ? parseWebhookUrl(input.webhookUrl) : null } : {}),
      ...(input.webhookSecret !== undefined ? { webhook_secret: input.webhookSecret ?? `whsec_${randomBase62(32)}` } : {}),
      ...(input.applicationId !== undefined ? { application_id: await this.applicationOf(accountId, input.applicationId) } : {}),
    };
    const row: GatewayAppRow = { ...current, ...changes };
    const webhookChanged = row.webhook_url !== current.webhook_url || row.webhook_secret !== current.webhook_secret;
    const endpoint = webhookChanged ? this.endpointOf(row) : undefined;
    const now = isoNow(this.clock);
    await this.store.apps.update(accountId, appId, changes, async (trx) => {
      if (!webhookChanged) return;
      await this.store.webhooks.deleteOwnedEndpoints(trx, accountId, gatewayAppOwner(appId), now);
      if (endpoint) await this.store.webhooks.insertEndpointIn(trx, endpoint);
    });
    return toApp(row);
  }

  async get(accountId: string, appId: string): Promise<GatewayApp> {
    const row = await this.store.apps.findById(accountId, appId);
    if (!row) throw new DialplaneError('not_found', 'app not found');
    return toApp(row);
  }

  async list(accountId: string): Promise<GatewayApp[]> {
    return (await this.store.apps.list(accountId)).map(toApp);
  }

  private async applicationOf(accountId: string, applicationId: string | null): Promise<string | null> {
    if (applicationId === null) return null;
    if (!(await this.store.applications.find(accountId, applicationId))) {
      throw new DialplaneError('not_found', 'application not found', { field: 'application_id' });
    }
    return applicationId;
  }

  /** The outbox endpoint for the app's webhook URL: every call event, shaped (and filtered) by the session format. */
  private endpointOf(row: GatewayAppRow): WebhookEndpointRow | undefined {
    if (!row.webhook_url) return undefined;
    return this.webhooks.newEndpointRow(row.account_id, {
      url: row.webhook_url,
      eventTypes: ['call.*', 'session.*'],
      description: `session webhooks of gateway app ${row.id}`,
      secret: row.webhook_secret ?? '',
      format: GATEWAY_SESSION_FORMAT,
      owner: gatewayAppOwner(row.id),
    });
  }
}

function allowListOf(numbers: readonly string[], country: string): string[] {
  return [...new Set(numbers.map((n) => normalizePhoneNumber(n, country, 'caller_id_allow_list')))];
}

function parseWebhookUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new DialplaneError('validation_failed', 'webhook_url must be an absolute URL', { field: 'webhook_url' });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new DialplaneError('validation_failed', 'webhook_url must be http or https', { field: 'webhook_url' });
  }
  return url.toString();
}

function toApp(row: GatewayAppRow): GatewayApp {
  return {
    id: row.id,
    accountId: row.account_id,
    name: row.name,
    callerIdAllowList: JSON.parse(row.caller_id_allow_list) as string[],
    webhookUrl: row.webhook_url,
    webhookSecret: row.webhook_secret,
    applicationId: row.application_id,
    createdAt: row.created_at,
  };
}
