import { DialplaneError } from '../errors.js';
import type { WebhookEndpointRow } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { parseWebhookUrl } from '../webhooks/guarded-request.js';
import { DIALANYONE_SIGNATURE_HEADER } from '../webhooks/signer.js';
import { isSsrfError } from '../webhooks/ssrf-guard.js';
import type { ApiKeyService } from './api-keys.js';
import { isoNow, type Clock } from './clock.js';
import type { WebhookService } from './webhooks.js';

/**
 * Webhooks that belong to an API key rather than to the account: three slots (a call URL, an SMS URL and a legacy
 * URL that receives both, each with its own secret), set by the operator, and subscriptions the key's holder makes
 * through a face. Each is a webhook endpoint owned by the key, so revoking the key silences them all.
 *
 * Deliveries are shaped by two payload formats a face registers when the server is composed: slots receive the
 * plain notification, subscriptions its envelope. Their names, the owners and the signature header are stored in
 * every endpoint row since DialAnyone introduced these webhooks, so they keep the values they were first stored with.
 */
export const KEY_SLOT_FORMAT = 'dialanyone.plain';
export const KEY_SUBSCRIPTION_FORMAT = 'dialanyone.envelope';
/** The hex HMAC-SHA256 of the raw body, signed with the slot's or subscription's secret when it has one. */
export const KEY_SIGNATURE_HEADER = DIALANYONE_SIGNATURE_HEADER;
const SLOT_OWNER_PREFIX = 'dialanyone:key:';
const SUBSCRIPTION_OWNER_PREFIX = 'dialanyone:sub:';

export type KeySlot = 'call' | 'sms' | 'legacy';
export const KEY_SLOTS: readonly KeySlot[] = ['call', 'sms', 'legacy'];

/** What key webhooks notify, and the core event behind each: an inbound call's `call.queued`, `sms.received`. */
export type KeyNotification = 'incoming_call' | 'incoming_sms';
export const KEY_NOTIFICATIONS: readonly KeyNotification[] = ['incoming_call', 'incoming_sms'];
const NOTIFICATION_EVENT: Readonly<Record<KeyNotification, string>> = { incoming_call: 'call.queued', incoming_sms: 'sms.received' };

/** The notifications each slot receives. */
export const SLOT_NOTIFICATIONS: Readonly<Record<KeySlot, readonly KeyNotification[]>> = {
  call: ['incoming_call'],
  sms: ['incoming_sms'],
  legacy: ['incoming_call', 'incoming_sms'],
};

/** The request fields naming each slot's URL and secret, in the admin API and in the face's documents. */
const FIELDS: Readonly<Record<KeySlot, { url: keyof KeyWebhooksInput; secret: keyof KeyWebhooksInput; label: string }>> = {
  call: { url: 'call_webhook_url', secret: 'call_webhook_secret', label: 'call webhook' },
  sms: { url: 'sms_webhook_url', secret: 'sms_webhook_secret', label: 'SMS webhook' },
  legacy: { url: 'webhook_url', secret: 'webhook_secret', label: 'legacy webhook' },
};

const MAX_URL_LENGTH = 2048;
const MAX_SECRET_LENGTH = 256;
/** Endpoints of a revoked key are disabled with this reason, and only those are enabled again with the key. */
const REVOKED_REASON = 'API key revoked';

/** One slot or subscription of a key, with its whole secret (it never leaves the server as it is). */
export interface KeyWebhook {
  readonly id: string;
  readonly url: string;
  /** Empty when deliveries are unsigned. */
  readonly secret: string;
  readonly notifications: readonly KeyNotification[];
  readonly status: 'enabled' | 'disabled';
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface KeyEndpoints {
  /** The key's own settings, by slot. */
  readonly slots: Partial<Record<KeySlot, KeyWebhook>>;
  /** The key's subscriptions, oldest first. */
  readonly subscriptions: readonly KeyWebhook[];
}

export interface KeyWebhooksInput {
  call_webhook_url?: string | null;
  call_webhook_secret?: string | null;
  sms_webhook_url?: string | null;
  sms_webhook_secret?: string | null;
  webhook_url?: string | null;
  webhook_secret?: string | null;
}

/** The operator's view of a key's webhooks (admin API, CLI): secrets masked. */
export interface KeyWebhooksView {
  readonly account_id: string;
  readonly key_id: string;
  readonly call_webhook_url: string | null;
  readonly call_webhook_secret: string | null;
  readonly sms_webhook_url: string | null;
  readonly sms_webhook_secret: string | null;
  readonly webhook_url: string | null;
  readonly webhook_secret: string | null;
  /** Subscriptions the key's holder made, read-only here. */
  readonly subscriptions: ReadonlyArray<{
    readonly webhook_url: string;
    readonly event_types: KeyNotification[];
    readonly signed: boolean;
    readonly status: string;
    readonly created_at: string;
  }>;
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

function slotOwner(keyId: string, slot: KeySlot): string {
  return `${SLOT_OWNER_PREFIX}${keyId}:${slot}`;
}

function subscriptionOwner(keyId: string): string {
  return `${SUBSCRIPTION_OWNER_PREFIX}${keyId}`;
}

function coreEventTypes(notifications: readonly KeyNotification[]): string[] {
  return notifications.map((n) => NOTIFICATION_EVENT[n]);
}

function toKeyWebhook(row: WebhookEndpointRow): KeyWebhook {
  const core = JSON.parse(row.event_types) as string[];
  return {
    id: row.id,
    url: row.url,
    secret: row.secret,
    notifications: KEY_NOTIFICATIONS.filter((n) => core.includes(NOTIFICATION_EVENT[n])),
    status: row.status,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** Secrets are masked in the operator's view: the first and last four characters of a long one, nothing of a short one. */
export function maskSecret(secret: string): string | null {
  if (secret === '') return null;
  return secret.length >= 16 ? `${secret.slice(0, 4)}…${secret.slice(-4)}` : '…';
}

type SlotChange = { kind: 'clear' } | { kind: 'set'; url: string; secret: string | undefined } | { kind: 'secret'; secret: string };

/** Per-key webhook slots and subscriptions; see the top of this file. */
export class KeyWebhookService {
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly keys: ApiKeyService,
    private readonly webhooks: WebhookService,
  ) {
    // The endpoints are written before a face has registered the formatters (the CLI writes them with no server
    // running); the server refuses to start until both are registered.
    webhooks.expectFormat(KEY_SLOT_FORMAT);
    webhooks.expectFormat(KEY_SUBSCRIPTION_FORMAT);
    // A revoked key's URLs and subscriptions stop receiving events; enabling the key again restores them.
    keys.onEnabledChange(async (accountId, keyId, enabled) => {
      const owners = [subscriptionOwner(keyId), ...KEY_SLOTS.map((slot) => slotOwner(keyId, slot))];
      await webhooks.setEnabledForOwners(accountId, owners, enabled, REVOKED_REASON);
    });
  }

  /** Every slot and subscription of a key, with whole secrets. */
  async endpoints(accountId: string, keyId: string): Promise<KeyEndpoints> {
    const rows = await this.store.webhooks.listEndpoints(accountId);
    const slots: Partial<Record<KeySlot, KeyWebhook>> = {};
    for (const slot of KEY_SLOTS) {
      const row = rows.find((r) => r.owner === slotOwner(keyId, slot));
      if (row) slots[slot] = toKeyWebhook(row);
    }
    return { slots, subscriptions: rows.filter((r) => r.owner === subscriptionOwner(keyId)).map(toKeyWebhook) };
  }

  /** A key's webhook settings and subscriptions as the operator sees them; 404 when the key is not the account's. */
  async view(accountId: string, keyId: string): Promise<KeyWebhooksView> {
    await this.keys.get(accountId, keyId);
    return this.render(accountId, keyId);
  }

  /**
   * Changes a key's slots. A field left out keeps its value; a URL of null clears that slot (and its secret); a
   * secret of null or empty text makes the slot's deliveries unsigned; a new URL given without a secret keeps the
   * slot's secret (none for a new slot). Everything is checked before anything is written.
   */
  async set(accountId: string, keyId: string, input: KeyWebhooksInput): Promise<KeyWebhooksView> {
    if (typeof input !== 'object' || input === null || Array.isArray(input)) {
      throw new DialplaneError('validation_failed', 'the body must be a JSON object');
    }
    await this.keys.get(accountId, keyId);
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
    return this.withKeyLock(keyId, async () => {
      const current = await this.endpoints(accountId, keyId);
      for (const [slot, change] of changes) {
        if (change.kind === 'secret' && !current.slots[slot]) {
          const fields = FIELDS[slot];
          throw new DialplaneError('validation_failed', `${fields.secret} needs a ${fields.url}: the key has no ${fields.label}`, {
            field: fields.secret,
          });
        }
      }
      for (const [slot, change] of changes) await this.applySlot(accountId, keyId, slot, current.slots[slot], change);
      return this.render(accountId, keyId);
    });
  }

  /**
   * Subscribes a URL to notifications, or adds them to the key's subscription of that URL (enabling it again). A
   * secret given replaces the subscription's; none keeps it. Returns the subscription's notifications and creation time.
   */
  async subscribe(
    accountId: string,
    keyId: string,
    input: { url: string; notifications: readonly KeyNotification[]; secret?: string },
  ): Promise<{ notifications: KeyNotification[]; createdAt: string }> {
    const url = checkWebhookUrl(input.url, 'webhook_url');
    const secret = input.secret === undefined ? undefined : checkSecret(input.secret, 'webhook_secret');
    return this.withKeyLock(keyId, async () => {
      const current = (await this.endpoints(accountId, keyId)).subscriptions.find((s) => s.url === url);
      if (!current) {
        const created = await this.webhooks.createEndpoint(accountId, {
          url,
          eventTypes: coreEventTypes(input.notifications),
          description: `DialAnyone subscription of key ${keyId}`,
          secret: secret ?? '',
          format: KEY_SUBSCRIPTION_FORMAT,
          signatureHeader: KEY_SIGNATURE_HEADER,
          owner: subscriptionOwner(keyId),
        });
        return { notifications: KEY_NOTIFICATIONS.filter((n) => input.notifications.includes(n)), createdAt: created.createdAt };
      }
      const merged = KEY_NOTIFICATIONS.filter((n) => input.notifications.includes(n) || current.notifications.includes(n));
      await this.store.webhooks.updateEndpoint(accountId, current.id, {
        event_types: JSON.stringify(coreEventTypes(merged)),
        status: 'enabled',
        disabled_reason: null,
        ...(secret === undefined ? {} : { secret, previous_secret: null }),
        updated_at: isoNow(this.clock),
      });
      return { notifications: merged, createdAt: current.createdAt };
    });
  }

  /**
   * Removes notifications from the key's subscription of a URL, and the subscription when none remain; 404 when the
   * key has no subscription of that URL taking any of them.
   */
  async unsubscribe(
    accountId: string,
    keyId: string,
    url: string,
    notifications: readonly KeyNotification[],
  ): Promise<{ removed: KeyNotification[]; createdAt: string }> {
    return this.withKeyLock(keyId, async () => {
      const current = (await this.endpoints(accountId, keyId)).subscriptions.find((s) => s.url === url);
      const removed = current ? current.notifications.filter((n) => notifications.includes(n)) : [];
      if (!current || removed.length === 0) {
        throw new DialplaneError('not_found', 'No webhook subscription matches this webhook_url and these event types', {
          webhook_url: url,
          event_types: notifications,
        });
      }
      const remaining = current.notifications.filter((n) => !removed.includes(n));
      if (remaining.length === 0) await this.webhooks.deleteEndpoint(accountId, current.id);
      else {
        await this.store.webhooks.updateEndpoint(accountId, current.id, {
          event_types: JSON.stringify(coreEventTypes(remaining)),
          updated_at: isoNow(this.clock),
        });
      }
      return { removed, createdAt: current.createdAt };
    });
  }

  private async applySlot(accountId: string, keyId: string, slot: KeySlot, existing: KeyWebhook | undefined, change: SlotChange): Promise<void> {
    if (change.kind === 'clear') {
      if (existing) await this.webhooks.deleteEndpoint(accountId, existing.id);
    } else if (existing) {
      await this.store.webhooks.updateEndpoint(accountId, existing.id, {
        ...(change.kind === 'set' ? { url: change.url, status: 'enabled', disabled_reason: null } : {}),
        ...(change.secret === undefined ? {} : { secret: change.secret, previous_secret: null }),
        updated_at: isoNow(this.clock),
      });
    } else if (change.kind === 'set') {
      await this.webhooks.createEndpoint(accountId, {
        url: change.url,
        eventTypes: coreEventTypes(SLOT_NOTIFICATIONS[slot]),
        description: `DialAnyone ${FIELDS[slot].label} of key ${keyId}`,
        secret: change.secret ?? '',
        format: KEY_SLOT_FORMAT,
        signatureHeader: KEY_SIGNATURE_HEADER,
        owner: slotOwner(keyId, slot),
      });
    }
  }

  private async render(accountId: string, keyId: string): Promise<KeyWebhooksView> {
    const { slots, subscriptions } = await this.endpoints(accountId, keyId);
    return {
      account_id: accountId,
      key_id: keyId,
      call_webhook_url: slots.call?.url ?? null,
      call_webhook_secret: slots.call ? maskSecret(slots.call.secret) : null,
      sms_webhook_url: slots.sms?.url ?? null,
      sms_webhook_secret: slots.sms ? maskSecret(slots.sms.secret) : null,
      webhook_url: slots.legacy?.url ?? null,
      webhook_secret: slots.legacy ? maskSecret(slots.legacy.secret) : null,
      subscriptions: subscriptions.map((s) => ({
        webhook_url: s.url,
        event_types: [...s.notifications],
        signed: s.secret !== '',
        status: s.status,
        created_at: s.createdAt,
      })),
    };
  }

  /**
   * Runs the changes to one key's endpoints one after the other within this process, so two concurrent requests
   * for the same key cannot both create the same slot or subscription.
   */
  private async withKeyLock<T>(keyId: string, run: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(keyId) ?? Promise.resolve();
    const current = previous.catch(() => undefined).then(run);
    this.locks.set(keyId, current);
    try {
      return await current;
    } finally {
      if (this.locks.get(keyId) === current) this.locks.delete(keyId);
    }
  }
}
