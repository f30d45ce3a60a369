import { randomBytes } from 'node:crypto';
import { DialplaneError } from '../errors.js';
import type { Db } from '../store/database.js';
import type { WebhookAttemptRow, WebhookDeliveryRow, WebhookDeliveryStatus, WebhookEndpointRow } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { ORDERED_TARGET_PREFIX } from '../store/webhooks-repository.js';
import type { ClaimedDelivery, Sender } from '../webhooks/dispatcher.js';
import { parseWebhookUrl } from '../webhooks/guarded-request.js';
import { isSsrfError } from '../webhooks/ssrf-guard.js';
import { isoNow, type Clock } from './clock.js';
import { newId } from './ids.js';

/** Something that happened in an account, before any face has shaped it. */
export interface WebhookEvent {
  readonly id: string;
  readonly type: string;
  readonly accountId: string;
  /** ISO-8601. */
  readonly occurredAt: string;
  readonly data: Readonly<Record<string, unknown>>;
}

/**
 * A payload format: the body an endpoint receives for an event, exactly as sent; undefined leaves the event out for
 * that endpoint (a face that promised no such event). Faces register theirs; `dialplane` is built in.
 */
export type WebhookFormat = (event: WebhookEvent, endpoint: WebhookEndpointRow) => string | OrderedPayload | undefined;

/**
 * A body that must reach its endpoint in the order it was written, after every earlier one with the same `orderKey`
 * (one gateway session's events): the next is not sent while an earlier one is pending or being delivered.
 */
export interface OrderedPayload {
  readonly body: string;
  readonly orderKey: string;
}


export const DIALPLANE_FORMAT = 'dialplane';

/** The platform's own envelope. */
function dialplaneEnvelope(event: WebhookEvent): string {
  return JSON.stringify({ id: event.id, type: event.type, created_at: event.occurredAt, account_id: event.accountId, data: event.data });
}
/** Test deliveries hold their lease this long; should the process die meanwhile, the dispatcher sends it. */
const TEST_LEASE_MS = 60_000;

export interface Endpoint {
  readonly id: string;
  readonly accountId: string;
  readonly url: string;
  readonly description: string;
  readonly eventTypes: readonly string[];
  readonly format: string;
  readonly signatureHeader: string | null;
  /** The signing secret; shown once when created or rotated, masked in listings. */
  readonly secret: string;
  readonly rotating: boolean;
  readonly status: 'enabled' | 'disabled';
  readonly disabledReason: string | null;
  readonly owner: string | null;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface CreateEndpointInput {
  readonly url: string;
  readonly eventTypes?: readonly string[];
  readonly description?: string;
  /** Generated (whsec_…) when absent; empty text means unsigned deliveries. */
  readonly secret?: string;
  readonly format?: string;
  readonly signatureHeader?: string | null;
  readonly owner?: string | null;
}

export interface Delivery {
  readonly id: string;
  readonly eventId: string;
  readonly accountId: string;
  readonly endpointId: string | null;
  readonly url: string;
  readonly eventType: string;
  readonly status: WebhookDeliveryStatus;
  readonly attempts: number;
  readonly nextAttemptAt: string | null;
  readonly lastStatusCode: number | null;
  readonly lastError: string | null;
  readonly finalReason: string | null;
  readonly createdAt: string;
  readonly completedAt: string | null;
}

export interface Attempt {
  readonly attempt: number;
  readonly startedAt: string;
  readonly latencyMs: number;
  readonly statusCode: number | null;
  readonly error: string | null;
  readonly result: string;
}

export interface TestDeliveryInput {
  readonly accountId: string;
  readonly url: string;
  readonly secret?: string;
  readonly signatureHeader?: string | null;
  /** The exact body to send; defaults to a `webhook.test` event in the dialplane envelope. */
  readonly payload?: string;
  readonly eventType?: string;
}

export interface TestDeliveryResult {
  readonly delivery: Delivery;
  readonly delivered: boolean;
  readonly statusCode: number | null;
  readonly latencyMs: number;
  readonly error: string | null;
}

const EVENT_TYPE = /^(\*|[a-z][a-z0-9_]*(\.[a-z0-9_]+)*(\.\*)?)$/;
const HEADER_NAME = /^[A-Za-z0-9-]{1,64}$/;
const MAX_URL_LENGTH = 2048;

function secretMask(secret: string): string {
  return secret === '' ? '' : `${secret.slice(0, 6)}…${secret.slice(-4)}`;
}

export function generateWebhookSecret(): string {
  return `whsec_${randomBytes(24).toString('base64url')}`;
}

/** Does an endpoint's list of event types take this event? `*` takes all, `call.*` every call event. */
export function matchesEventType(patterns: readonly string[], type: string): boolean {
  return patterns.some((p) => p === '*' || p === type || (p.endsWith('.*') && type.startsWith(p.slice(0, -1))));
}

/**
 * Webhook endpoints, the events written for them, and the delivery log. Events are written in the caller's
 * transaction (enqueue), so one is stored if and only if the change that caused it is; the dispatcher is told after.
 */
export class WebhookService {
  private readonly formats = new Map<string, WebhookFormat>([[DIALPLANE_FORMAT, dialplaneEnvelope]]);
  /** Formats core writes endpoints in whose formatter a face registers when the server is composed. */
  private readonly expected = new Set<string>();
  private notifyDispatcher: () => void = () => undefined;
  private sender: Sender | undefined;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  /** The composition root connects the running dispatcher and the sender used for test deliveries. */
  attach(options: { notify: () => void; send: Sender }): void {
    this.notifyDispatcher = options.notify;
    this.sender = options.send;
  }

  registerFormat(name: string, format: WebhookFormat): void {
    this.formats.set(name, format);
  }

  hasFormat(name: string): boolean {
    return this.formats.has(name);
  }

  /**
   * Declares a format endpoints may be created in before its formatter is registered (a core service writing them
   * from the CLI, with no face loaded). A server must not start while one is missing: see missingFormats().
   */
  expectFormat(name: string): void {
    this.expected.add(name);
  }

  /** Expected formats that no one has registered yet; events for their endpoints would be left out. */
  missingFormats(): string[] {
    return [...this.expected].filter((name) => !this.formats.has(name));
  }

  // --- endpoints --------------------------------------------------------------------------------------------------

  async createEndpoint(accountId: string, input: CreateEndpointInput): Promise<Endpoint> {
    const row = this.newEndpointRow(accountId, input);
    await this.store.webhooks.insertEndpoint(row);
    return toEndpoint(row, true);
  }

  /** A checked endpoint row, not stored yet: for one written in the same transaction as what it serves. */
  newEndpointRow(accountId: string, input: CreateEndpointInput): WebhookEndpointRow {
    const url = validUrl(input.url);
    const eventTypes = validEventTypes(input.eventTypes ?? ['*']);
    const format = input.format ?? DIALPLANE_FORMAT;
    if (!this.formats.has(format) && !this.expected.has(format)) {
      throw new DialplaneError('validation_failed', `unknown webhook format ${format}`, { field: 'format' });
    }
    const signatureHeader = input.signatureHeader ?? null;
    if (signatureHeader !== null && !HEADER_NAME.test(signatureHeader)) {
      throw new DialplaneError('validation_failed', 'signature_header must be an HTTP header name', { field: 'signature_header' });
    }
    const now = isoNow(this.clock);
    const row: WebhookEndpointRow = {
      id: newId('whe'),
      account_id: accountId,
      url,
      description: input.description ?? '',
      event_types: JSON.stringify(eventTypes),
      format,
      signature_header: signatureHeader,
      secret: input.secret ?? generateWebhookSecret(),
      previous_secret: null,
      status: 'enabled',
      disabled_reason: null,
      owner: input.owner ?? null,
      created_at: now,
      updated_at: now,
    };
    return row;
  }

  async listEndpoints(accountId: string, owner?: string): Promise<Endpoint[]> {
    return (await this.store.webhooks.listEndpoints(accountId, owner)).map((row) => toEndpoint(row, false));
  }

  async getEndpoint(accountId: string, id: string): Promise<Endpoint> {
    return toEndpoint(await this.endpointRow(accountId, id), false);
  }

  async deleteEndpoint(accountId: string, id: string): Promise<void> {
    if (!(await this.store.webhooks.deleteEndpoint(accountId, id, isoNow(this.clock)))) {
      throw new DialplaneError('not_found', 'webhook endpoint not found');
    }
  }

  /** Re-enables an endpoint disabled by a 410 (or by hand). */
  async setEnabled(accountId: string, id: string, enabled: boolean): Promise<Endpoint> {
    const row = await this.store.webhooks.updateEndpoint(accountId, id, {
      status: enabled ? 'enabled' : 'disabled',
      disabled_reason: enabled ? null : 'disabled by the operator',
      updated_at: isoNow(this.clock),
    });
    if (!row) throw new DialplaneError('not_found', 'webhook endpoint not found');
    return toEndpoint(row, false);
  }

  /**
   * Disables the enabled endpoints with one of `owners` (noting `reason`), or enables again those disabled for that
   * same reason: what a face does when the API key its endpoints belong to is revoked or restored.
   */
  async setEnabledForOwners(accountId: string, owners: readonly string[], enabled: boolean, reason: string): Promise<number> {
    let changed = 0;
    for (const row of await this.store.webhooks.listEndpoints(accountId)) {
      if (row.owner === null || !owners.includes(row.owner)) continue;
      if (enabled ? row.status === 'enabled' || row.disabled_reason !== reason : row.status === 'disabled') continue;
      await this.store.webhooks.updateEndpoint(accountId, row.id, {
        status: enabled ? 'enabled' : 'disabled',
        disabled_reason: enabled ? null : reason,
        updated_at: isoNow(this.clock),
      });
      changed += 1;
    }
    return changed;
  }

  /**
   * Starts a rotation: the new secret signs first and the old one goes on signing too (a second v1 in
   * X-Dialplane-Signature) until `finishRotation`, so receivers can switch without a window of failures.
   */
  async rotateSecret(accountId: string, id: string, secret?: string): Promise<Endpoint> {
    const current = await this.endpointRow(accountId, id);
    const row = await this.store.webhooks.updateEndpoint(accountId, id, {
      secret: secret ?? generateWebhookSecret(),
      previous_secret: current.secret === '' ? null : current.secret,
      updated_at: isoNow(this.clock),
    });
    if (!row) throw new DialplaneError('not_found', 'webhook endpoint not found');
    return toEndpoint(row, true);
  }

  async finishRotation(accountId: string, id: string): Promise<Endpoint> {
    const row = await this.store.webhooks.updateEndpoint(accountId, id, { previous_secret: null, updated_at: isoNow(this.clock) });
    if (!row) throw new DialplaneError('not_found', 'webhook endpoint not found');
    return toEndpoint(row, false);
  }

  // --- events -----------------------------------------------------------------------------------------------------

  /** A new event with its stable id. */
  event(accountId: string, type: string, data: Record<string, unknown>, occurredAt = isoNow(this.clock)): WebhookEvent {
    return { id: newId('evt'), type, accountId, occurredAt, data };
  }

  /** Whether the account has an enabled endpoint at all (read inside `trx`; what is read is kept, see the store). */
  async hasEndpoints(trx: Db, accountId: string): Promise<boolean> {
    return (await this.store.webhooks.enabledEndpoints(trx, accountId)).length > 0;
  }

  /**
   * Writes one delivery per enabled endpoint of the account that takes this event, inside `trx`. Returns how many;
   * call `notify()` after the transaction commits.
   */
  async enqueue(trx: Db, event: WebhookEvent, only?: (endpoint: WebhookEndpointRow) => boolean): Promise<number> {
    const endpoints = await this.store.webhooks.enabledEndpoints(trx, event.accountId);
    const rows: WebhookDeliveryRow[] = [];
    const now = this.clock.now();
    for (const endpoint of endpoints) {
      if (only && !only(endpoint)) continue;
      if (!matchesEventType(JSON.parse(endpoint.event_types) as string[], event.type)) continue;
      const payload = this.formats.get(endpoint.format)?.(event, endpoint);
      if (payload === undefined) continue;
      if (typeof payload === 'string') rows.push(newDelivery(event, endpoint.url, payload, now, { endpoint }));
      else rows.push(newDelivery(event, endpoint.url, payload.body, now, { endpoint }, payload.orderKey));
    }
    await this.store.webhooks.insertDeliveries(trx, rows);
    return rows.length;
  }

  /** Writes an event in a transaction of its own and wakes the dispatcher. */
  async emit(event: WebhookEvent, only?: (endpoint: WebhookEndpointRow) => boolean): Promise<number> {
    const count = await this.store.database.write((trx) => this.enqueue(trx, event, only));
    if (count > 0) this.notify();
    return count;
  }

  notify(): void {
    this.notifyDispatcher();
  }

  // --- the delivery log -------------------------------------------------------------------------------------------

  async listDeliveries(filter: {
    accountId?: string;
    endpointId?: string;
    eventId?: string;
    status?: WebhookDeliveryStatus;
    limit?: number;
    before?: { createdAt: string; id: string };
  }): Promise<Delivery[]> {
    const rows = await this.store.webhooks.listDeliveries({ ...filter, limit: filter.limit ?? 50 });
    return rows.map(toDelivery);
  }

  /** A delivery with its payload and every attempt; `accountId` confines the lookup to one tenant. */
  async getDelivery(id: string, accountId?: string): Promise<{ delivery: Delivery; payload: string; attempts: Attempt[] }> {
    const row = await this.store.webhooks.findDelivery(id, accountId);
    if (!row) throw new DialplaneError('not_found', 'webhook delivery not found');
    const attempts = await this.store.webhooks.attempts(id);
    return { delivery: toDelivery(row), payload: row.payload, attempts: attempts.map(toAttempt) };
  }

  /**
   * Sends a delivery again as a new delivery of the same event (same event id and body, so a receiver that
   * de-duplicates sees it as the same event), to the endpoint's current URL when it still exists.
   */
  async resend(id: string, accountId?: string): Promise<Delivery> {
    const original = await this.store.webhooks.findDelivery(id, accountId);
    if (!original) throw new DialplaneError('not_found', 'webhook delivery not found');
    const endpoint = original.endpoint_id
      ? await this.store.webhooks.findEndpoint(original.account_id, original.endpoint_id)
      : undefined;
    const event: WebhookEvent = {
      id: original.event_id,
      type: original.event_type,
      accountId: original.account_id,
      occurredAt: original.created_at,
      data: {},
    };
    const row = newDelivery(event, endpoint?.url ?? original.url, original.payload, this.clock.now(), {
      ...(endpoint ? { endpoint } : { signatureHeader: original.signature_header, secret: original.secret }),
    });
    await this.store.database.write((trx) => this.store.webhooks.insertDeliveries(trx, [row]));
    this.notify();
    return toDelivery(row);
  }

  /**
   * Sends one event to a URL now, through the same guard and signing as every delivery, and reports what came of
   * it. The attempt is kept in the delivery log; it is not retried.
   */
  async testDelivery(input: TestDeliveryInput): Promise<TestDeliveryResult> {
    const sender = this.sender;
    if (!sender) throw new DialplaneError('not_ready', 'webhook delivery is not running');
    const url = validUrl(input.url);
    const event = this.event(input.accountId, input.eventType ?? 'webhook.test', { test: true, message: 'Test delivery from Dialplane' });
    const payload = input.payload ?? dialplaneEnvelope(event);
    const now = this.clock.now();
    const row = newDelivery(event, url, payload, now, {
      signatureHeader: input.signatureHeader ?? null,
      secret: input.secret ?? null,
    });
    row.status = 'delivering';
    row.lease_until = now.getTime() + TEST_LEASE_MS;
    await this.store.database.write((trx) => this.store.webhooks.insertDeliveries(trx, [row]));
    const claimed: ClaimedDelivery = {
      id: row.id,
      eventId: row.event_id,
      endpointId: null,
      targetKey: row.target_key,
      url,
      eventType: row.event_type,
      payload,
      signatureHeader: row.signature_header,
      secrets: input.secret ? [input.secret] : [],
      attempts: 0,
      firstAttemptAt: null,
    };
    const started = Date.now();
    const result = await sender(claimed, 1);
    const latencyMs = Date.now() - started;
    const outcome = result.outcome;
    const statusCode = outcome.kind === 'status' ? outcome.status : null;
    const delivered = statusCode !== null && statusCode >= 200 && statusCode <= 299;
    await this.store.webhooks.complete({
      delivery: claimed,
      attempt: 1,
      startedAt: now.getTime(),
      latencyMs,
      statusCode,
      error: result.error ?? null,
      decision: delivered ? { action: 'delivered' } : { action: 'give_up', reason: 'non_retryable_status' },
    });
    const stored = await this.store.webhooks.findDelivery(row.id);
    return { delivery: toDelivery(stored!), delivered, statusCode, latencyMs, error: result.error ?? null };
  }

  private async endpointRow(accountId: string, id: string): Promise<WebhookEndpointRow> {
    const row = await this.store.webhooks.findEndpoint(accountId, id);
    if (!row) throw new DialplaneError('not_found', 'webhook endpoint not found');
    return row;
  }
}

/**
 * Checks a URL webhooks (or hooks) can be sent to: http or https, no credentials, at most 2048 characters. Throws
 * invalid_webhook_url naming `field`. Where it resolves to is checked when it is used, by the SSRF guard.
 */
export function validUrl(url: string, field = 'url'): string {
  if (typeof url !== 'string' || url.length === 0 || url.length > MAX_URL_LENGTH) {
    throw new DialplaneError('invalid_webhook_url', `a webhook URL is an http or https URL of at most ${MAX_URL_LENGTH} characters`, { field });
  }
  try {
    parseWebhookUrl(url);
  } catch (error) {
    if (isSsrfError(error)) throw new DialplaneError('invalid_webhook_url', error.message, { field });
    throw error;
  }
  return url;
}

function validEventTypes(types: readonly string[]): string[] {
  if (!Array.isArray(types) || types.length === 0 || types.length > 50) {
    throw new DialplaneError('validation_failed', 'event_types must list 1 to 50 event types', { field: 'event_types' });
  }
  for (const type of types) {
    if (typeof type !== 'string' || type.length > 64 || !EVENT_TYPE.test(type)) {
      throw new DialplaneError('validation_failed', `not an event type: ${String(type)}`, { field: 'event_types' });
    }
  }
  return [...new Set(types)];
}

function newDelivery(
  event: WebhookEvent,
  url: string,
  payload: string,
  now: Date,
  target: { endpoint: WebhookEndpointRow } | { signatureHeader: string | null; secret: string | null },
  orderKey?: string,
): WebhookDeliveryRow {
  const endpoint = 'endpoint' in target ? target.endpoint : undefined;
  const ordered = endpoint !== undefined && orderKey !== undefined;
  return {
    id: ordered ? orderedDeliveryId(now.getTime()) : newId('whd'),
    event_id: event.id,
    account_id: event.accountId,
    endpoint_id: endpoint?.id ?? null,
    target_key: ordered ? `${ORDERED_TARGET_PREFIX}${endpoint.id}:${orderKey}` : endpoint ? endpoint.id : `url:${url}`,
    url,
    event_type: event.type,
    payload,
    signature_header: endpoint ? endpoint.signature_header : 'signatureHeader' in target ? target.signatureHeader : null,
    secret: endpoint ? null : 'secret' in target ? target.secret : null,
    status: 'pending',
    attempts: 0,
    next_attempt_at: now.getTime(),
    lease_until: null,
    claimed_by: null,
    first_attempt_at: null,
    last_status_code: null,
    last_error: null,
    final_reason: null,
    created_at: now.toISOString(),
    completed_at: null,
  };
}

let lastOrderedMs = 0;
let orderedCounter = 0;

/**
 * A delivery id that sorts after every one this process made before (the outbox sends ordered deliveries by id):
 * `whd_` + 12 hex digits of milliseconds + a 4-digit hex counter + 4 random hex digits. Lower-case hex only, so
 * PostgreSQL's collations order them as SQLite does.
 */
function orderedDeliveryId(nowMs: number): string {
  if (nowMs > lastOrderedMs) {
    lastOrderedMs = nowMs;
    orderedCounter = 0;
  } else if (++orderedCounter > 0xffff) {
    lastOrderedMs += 1;
    orderedCounter = 0;
  }
  const random = randomBytes(2).toString('hex');
  return `whd_${lastOrderedMs.toString(16).padStart(12, '0')}${orderedCounter.toString(16).padStart(4, '0')}${random}`;
}

function toEndpoint(row: WebhookEndpointRow, revealSecret: boolean): Endpoint {
  return {
    id: row.id,
    accountId: row.account_id,
    url: row.url,
    description: row.description,
    eventTypes: JSON.parse(row.event_types) as string[],
    format: row.format,
    signatureHeader: row.signature_header,
    secret: revealSecret ? row.secret : secretMask(row.secret),
    rotating: row.previous_secret !== null,
    status: row.status,
    disabledReason: row.disabled_reason,
    owner: row.owner,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function toDelivery(row: WebhookDeliveryRow): Delivery {
  return {
    id: row.id,
    eventId: row.event_id,
    accountId: row.account_id,
    endpointId: row.endpoint_id,
    url: row.url,
    eventType: row.event_type,
    status: row.status,
    attempts: row.attempts,
    nextAttemptAt: row.status === 'pending' ? new Date(Number(row.next_attempt_at)).toISOString() : null,
    lastStatusCode: row.last_status_code,
    lastError: row.last_error,
    finalReason: row.final_reason,
    createdAt: row.created_at,
    completedAt: row.completed_at,
  };
}

function toAttempt(row: WebhookAttemptRow): Attempt {
  return {
    attempt: row.attempt,
    startedAt: row.started_at,
    latencyMs: row.latency_ms,
    statusCode: row.status_code,
    error: row.error,
    result: row.result,
  };
}
