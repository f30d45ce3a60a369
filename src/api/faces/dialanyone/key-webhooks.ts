import { isoNow } from '../../../core/clock.js';
import type { Services } from '../../../core/services.js';
import { DialplaneError } from '../../../errors.js';
import type { WebhookEndpointRow } from '../../../store/schema.js';
import { parseWebhookUrl } from '../../../webhooks/guarded-request.js';
import { isSsrfError } from '../../../webhooks/ssrf-guard.js';
import { CORE_EVENT, EVENT_TYPES, PLAIN_FORMAT, SIGNATURE_HEADER, registerDialAnyoneFormats, type DialAnyoneEventType } from './webhook-formats.js';

/**
 * The document's per-key webhook settings: a call URL, an SMS URL and a legacy URL that receives both, each with
 * its own secret. Each is a webhook endpoint owned by `dialanyone:key:<keyId>:<slot>` in the plain format, signed
 * with X-DialAnyone-Signature when it has a secret. Subscriptions made through the API are endpoints owned by
 * `dialanyone:sub:<keyId>` (see webhook-routes.ts).
 */
export type KeySlot = 'call' | 'sms' | 'legacy';
export const KEY_SLOTS: readonly KeySlot[] = ['call', 'sms', 'legacy'];

/** The document's event types each slot receives. */
export const SLOT_EVENT_TYPES: Readonly<Record<KeySlot, readonly DialAnyoneEventType[]>> = {
  call: ['incoming_call'],
  sms: ['incoming_sms'],
  legacy: ['incoming_call', 'incoming_sms'],
};

/** The request fields naming each slot's URL and secret. */
const FIELDS: Readonly<Record<KeySlot, { url: keyof KeyWebhooksInput; secret: keyof KeyWebhooksInput; label: string }>> = {
  call: { url: 'call_webhook_url', secret: 'call_webhook_secret', label: 'call webhook' },
  sms: { url: 'sms_webhook_url', secret: 'sms_webhook_secret', label: 'SMS webhook' },
  legacy: { url: 'webhook_url', secret: 'webhook_secret', label: 'legacy webhook' },
};

const MAX_URL_LENGTH = 2048;
const MAX_SECRET_LENGTH = 256;
const SUBSCRIPTION_PREFIX = 'dialanyone:sub:';
const KEY_PREFIX = 'dialanyone:key:';

export function slotOwner(keyId: string, slot: KeySlot): string {
  return `${KEY_PREFIX}${keyId}:${slot}`;
}

export function subscriptionOwner(keyId: string): string {
  return `${SUBSCRIPTION_PREFIX}${keyId}`;
}

/** Core event types for a list of the document's event types. */
export function coreEventTypes(types: readonly DialAnyoneEventType[]): string[] {
  return types.map((type) => CORE_EVENT[type]);
}

/** The document's event types an endpoint receives, in the document's order. */
export function documentEventTypes(endpoint: WebhookEndpointRow): DialAnyoneEventType[] {
  const core = JSON.parse(endpoint.event_types) as string[];
  return EVENT_TYPES.filter((type) => core.includes(CORE_EVENT[type]));
}

/** An http(s) URL a webhook can be sent to, or a 400 naming the field. */
export function checkWebhookUrl(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_URL_LENGTH) {
    throw new DialplaneError('invalid_webhook_url', `${field} must be an http or https URL of at most ${MAX_URL_LENGTH} characters`, { field });
  }
  try {
    parseWebhookUrl(value);
  } catch (error) {
    if (isSsrfError(error)) throw new DialplaneError('invalid_webhook_url', `${field}: ${error.message}`, { field });
    throw error;
  }
  return value;
}

/** A signing secret: text of 1 to 256 characters; null or empty text means unsigned deliveries. */
export function checkSecret(value: unknown, field: string): string {
  if (value === null || value === '') return '';
  if (typeof value !== 'string' || value.length > MAX_SECRET_LENGTH) {
    throw new DialplaneError('validation_failed', `${field} must be text of at most ${MAX_SECRET_LENGTH} characters, or null`, { field });
  }
  return value;
}

const locks = new Map<string, Promise<unknown>>();

/**
 * Runs the changes to one key's webhook endpoints one after the other within this process, so two concurrent
 * requests for the same key cannot both create the same slot or subscription.
 */
export async function withKeyLock<T>(keyId: string, run: () => Promise<T>): Promise<T> {
  const previous = locks.get(keyId) ?? Promise.resolve();
  const current = previous.catch(() => undefined).then(run);
  locks.set(keyId, current);
  try {
    return await current;
  } finally {
    if (locks.get(keyId) === current) locks.delete(keyId);
  }
}

export interface KeyEndpoints {
  /** The key's own settings, by slot. */
  readonly slots: Partial<Record<KeySlot, WebhookEndpointRow>>;
  /** The key's subscriptions, oldest first. */
  readonly subscriptions: WebhookEndpointRow[];
}

/** Every endpoint a key owns, with whole secrets (these rows never leave the server as they are). */
export async function keyEndpoints(services: Services, accountId: string, keyId: string): Promise<KeyEndpoints> {
  const rows = await services.store.webhooks.listEndpoints(accountId);
  const slots: Partial<Record<KeySlot, WebhookEndpointRow>> = {};
  for (const slot of KEY_SLOTS) {
    const row = rows.find((r) => r.owner === slotOwner(keyId, slot));
    if (row) slots[slot] = row;
  }
  return { slots, subscriptions: rows.filter((r) => r.owner === subscriptionOwner(keyId)) };
}

export interface KeyWebhooksInput {
  call_webhook_url?: string | null;
  call_webhook_secret?: string | null;
  sms_webhook_url?: string | null;
  sms_webhook_secret?: string | null;
  webhook_url?: string | null;
  webhook_secret?: string | null;
}

export interface KeyWebhooksView {
  readonly account_id: string;
  readonly key_id: string;
  readonly call_webhook_url: string | null;
  readonly call_webhook_secret: string | null;
  readonly sms_webhook_url: string | null;
  readonly sms_webhook_secret: string | null;
  readonly webhook_url: string | null;
  readonly webhook_secret: string | null;
  /** Subscriptions the key made through POST /api/v1/webhooks/subscribe, read-only here. */
  readonly subscriptions: ReadonlyArray<{
    readonly webhook_url: string;
    readonly event_types: DialAnyoneEventType[];
    readonly signed: boolean;
    readonly status: string;
    readonly created_at: string;
  }>;
}

/** Secrets are masked in the operator's view: the first and last four characters of a long one, nothing of a short one. */
function mask(secret: string): string | null {
  if (secret === '') return null;
  return secret.length >= 16 ? `${secret.slice(0, 4)}…${secret.slice(-4)}` : '…';
}

function view(accountId: string, keyId: string, endpoints: KeyEndpoints): KeyWebhooksView {
  const { slots } = endpoints;
  return {
    account_id: accountId,
    key_id: keyId,
    call_webhook_url: slots.call?.url ?? null,
    call_webhook_secret: slots.call ? mask(slots.call.secret) : null,
    sms_webhook_url: slots.sms?.url ?? null,
    sms_webhook_secret: slots.sms ? mask(slots.sms.secret) : null,
    webhook_url: slots.legacy?.url ?? null,
    webhook_secret: slots.legacy ? mask(slots.legacy.secret) : null,
    subscriptions: endpoints.subscriptions.map((row) => ({
      webhook_url: row.url,
      event_types: documentEventTypes(row),
      signed: row.secret !== '',
      status: row.status,
      created_at: row.created_at,
    })),
  };
}

/** A key's webhook settings and subscriptions; 404 when the key is not the account's. */
export async function getKeyWebhooks(services: Services, accountId: string, keyId: string): Promise<KeyWebhooksView> {
  await services.keys.get(accountId, keyId);
  return view(accountId, keyId, await keyEndpoints(services, accountId, keyId));
}

type SlotChange = { kind: 'clear' } | { kind: 'set'; url: string; secret: string | undefined } | { kind: 'secret'; secret: string };

/**
 * Changes a key's webhook settings. A field left out keeps its value; a URL of null clears that slot (and its
 * secret); a secret of null or empty text makes the slot's deliveries unsigned; a new URL given without a secret
 * keeps the slot's secret (none for a new slot). Everything is checked before anything is written.
 */
export async function setKeyWebhooks(
  services: Services,
  accountId: string,
  keyId: string,
  input: KeyWebhooksInput,
): Promise<KeyWebhooksView> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new DialplaneError('validation_failed', 'the body must be a JSON object');
  }
  await services.keys.get(accountId, keyId);
  const changes = new Map<KeySlot, SlotChange>();
  for (const slot of KEY_SLOTS) {
    const fields = FIELDS[slot];
    const url = input[fields.url];
    const secret = input[fields.secret];
    if (url === null) changes.set(slot, { kind: 'clear' });
    else if (url !== undefined) {
      changes.set(slot, {
        kind: 'set',
        url: checkWebhookUrl(url, fields.url),
        secret: secret === undefined ? undefined : checkSecret(secret, fields.secret),
      });
    } else if (secret !== undefined) changes.set(slot, { kind: 'secret', secret: checkSecret(secret, fields.secret) });
  }
  registerDialAnyoneFormats(services.webhooks);
  return withKeyLock(keyId, async () => {
    const current = await keyEndpoints(services, accountId, keyId);
    for (const [slot, change] of changes) {
      if (change.kind === 'secret' && !current.slots[slot]) {
        const fields = FIELDS[slot];
        throw new DialplaneError('validation_failed', `${fields.secret} needs a ${fields.url}: the key has no ${fields.label}`, {
          field: fields.secret,
        });
      }
    }
    const now = isoNow(services.clock);
    for (const [slot, change] of changes) {
      const existing = current.slots[slot];
      if (change.kind === 'clear') {
        if (existing) await services.webhooks.deleteEndpoint(accountId, existing.id);
      } else if (existing) {
        await services.store.webhooks.updateEndpoint(accountId, existing.id, {
          ...(change.kind === 'set' ? { url: change.url, status: 'enabled', disabled_reason: null } : {}),
          ...(change.secret === undefined ? {} : { secret: change.secret, previous_secret: null }),
          updated_at: now,
        });
      } else if (change.kind === 'set') {
        await services.webhooks.createEndpoint(accountId, {
          url: change.url,
          eventTypes: coreEventTypes(SLOT_EVENT_TYPES[slot]),
          description: `DialAnyone ${FIELDS[slot].label} of key ${keyId}`,
          secret: change.secret ?? '',
          format: PLAIN_FORMAT,
          signatureHeader: SIGNATURE_HEADER,
          owner: slotOwner(keyId, slot),
        });
      }
    }
    return view(accountId, keyId, await keyEndpoints(services, accountId, keyId));
  });
}
