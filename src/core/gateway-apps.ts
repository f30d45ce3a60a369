import { DialplaneError } from '../errors.js';
import type { GatewayAppRow } from '../store/schema.js';
import type { Store } from '../store/store.js';
import type { ApiKeyInfo, ApiKeyService } from './api-keys.js';
import { toInfo } from './api-keys.js';
import { isoNow, type Clock } from './clock.js';
import { newId, randomBase62 } from './ids.js';
import { normalizePhoneNumber } from './phone-number.js';

export interface GatewayApp {
  readonly id: string;
  readonly accountId: string;
  readonly name: string;
  /** E.164 numbers the app may present as caller ID. */
  readonly callerIdAllowList: readonly string[];
  readonly webhookUrl: string | null;
  readonly webhookSecret: string | null;
  readonly createdAt: string;
}

export interface CreateAppInput {
  readonly name: string;
  readonly callerIdAllowList?: readonly string[];
  readonly webhookUrl?: string | null;
  readonly webhookSecret?: string | null;
  /** Country for allow-list numbers written in national format; defaults to the server's. */
  readonly country?: string;
}

/** Gateway apps authenticate with X-App-ID + X-API-Key; the key is an ordinary API key bound to the app. */
export class GatewayAppService {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly keys: ApiKeyService,
    private readonly defaultCountry: string,
  ) {}

  async create(accountId: string, input: CreateAppInput): Promise<{ app: GatewayApp; key: ApiKeyInfo; token: string }> {
    const country = input.country ?? this.defaultCountry;
    const allowList = [
      ...new Set((input.callerIdAllowList ?? []).map((n) => normalizePhoneNumber(n, country, 'caller_id_allow_list'))),
    ];
    const webhookUrl = input.webhookUrl ? parseWebhookUrl(input.webhookUrl) : null;
    const row: GatewayAppRow = {
      id: newId('app'),
      account_id: accountId,
      name: input.name.trim(),
      caller_id_allow_list: JSON.stringify(allowList),
      webhook_url: webhookUrl,
      webhook_secret: input.webhookSecret ?? `whsec_${randomBase62(32)}`,
      created_at: isoNow(this.clock),
    };
    if (!row.name || row.name.length > 100) {
      throw new DialplaneError('validation_failed', 'name must be 1 to 100 characters', { field: 'name' });
    }
    const { row: keyRow, token } = this.keys.newKeyRow(accountId, { name: `app ${row.name}` }, row.id);
    await this.store.apps.insertWithKey(row, keyRow);
    return { app: toApp(row), key: toInfo(keyRow), token };
  }

  async get(accountId: string, appId: string): Promise<GatewayApp> {
    const row = await this.store.apps.findById(accountId, appId);
    if (!row) throw new DialplaneError('not_found', 'app not found');
    return toApp(row);
  }

  async list(accountId: string): Promise<GatewayApp[]> {
    return (await this.store.apps.list(accountId)).map(toApp);
  }
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
    createdAt: row.created_at,
  };
}
