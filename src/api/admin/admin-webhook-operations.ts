import type { Services } from '../../core/services.js';
import type { Attempt, Delivery, Endpoint, TestDeliveryResult } from '../../core/webhooks.js';
import type { WebhookDeliveryStatus } from '../../store/schema.js';

export function endpointView(e: Endpoint) {
  return {
    id: e.id,
    url: e.url,
    description: e.description,
    event_types: [...e.eventTypes],
    format: e.format,
    signature_header: e.signatureHeader,
    secret: e.secret,
    rotating: e.rotating,
    status: e.status,
    disabled_reason: e.disabledReason,
    owner: e.owner,
    created_at: e.createdAt,
    updated_at: e.updatedAt,
  };
}

export function deliveryView(d: Delivery) {
  return {
    id: d.id,
    event_id: d.eventId,
    account_id: d.accountId,
    endpoint_id: d.endpointId,
    url: d.url,
    event_type: d.eventType,
    status: d.status,
    attempts: d.attempts,
    next_attempt_at: d.nextAttemptAt,
    last_status_code: d.lastStatusCode,
    last_error: d.lastError,
    final_reason: d.finalReason,
    created_at: d.createdAt,
    completed_at: d.completedAt,
  };
}

function attemptView(a: Attempt) {
  return {
    attempt: a.attempt,
    started_at: a.startedAt,
    latency_ms: a.latencyMs,
    status_code: a.statusCode,
    error: a.error,
    result: a.result,
  };
}

function testView(r: TestDeliveryResult) {
  return {
    delivered: r.delivered,
    status_code: r.statusCode,
    latency_ms: r.latencyMs,
    error: r.error,
    delivery: deliveryView(r.delivery),
  };
}

export interface CreateEndpointBody {
  url: string;
  event_types?: string[];
  description?: string;
  secret?: string;
  signature_header?: string | null;
}

export interface RotateSecretBody {
  secret?: string;
  /** Stop signing with the previous secret. */
  finish?: boolean;
}

export interface DeliveryQuery {
  account_id?: string;
  endpoint_id?: string;
  event_id?: string;
  status?: WebhookDeliveryStatus;
  /** 1 to 500; a query string carries it as text. */
  limit?: number | string;
}

export interface TestWebhookBody {
  url: string;
  secret?: string;
  signature_header?: string | null;
}

/** Webhook endpoints and the delivery log, in the admin API's wire shape. */
export function webhookOperations(services: Services) {
  const { webhooks } = services;
  const ensureAccount = (accountId: string) => services.accounts.get(accountId);
  return {
    async listEndpoints(accountId: string) {
      await ensureAccount(accountId);
      return { endpoints: (await webhooks.listEndpoints(accountId)).map(endpointView) };
    },
    /** The only response besides a rotation that carries the whole secret. */
    async createEndpoint(accountId: string, body: CreateEndpointBody) {
      await ensureAccount(accountId);
      const endpoint = await webhooks.createEndpoint(accountId, {
        url: body.url,
        ...(body.event_types ? { eventTypes: body.event_types } : {}),
        ...(body.description !== undefined ? { description: body.description } : {}),
        ...(body.secret !== undefined ? { secret: body.secret } : {}),
        ...(body.signature_header !== undefined ? { signatureHeader: body.signature_header } : {}),
      });
      return { endpoint: endpointView(endpoint) };
    },
    async deleteEndpoint(accountId: string, endpointId: string) {
      await webhooks.deleteEndpoint(accountId, endpointId);
      return { deleted: true, id: endpointId };
    },
    async setEndpointEnabled(accountId: string, endpointId: string, enabled: boolean) {
      return { endpoint: endpointView(await webhooks.setEnabled(accountId, endpointId, enabled)) };
    },
    async rotateEndpointSecret(accountId: string, endpointId: string, body: RotateSecretBody) {
      const endpoint = body.finish
        ? await webhooks.finishRotation(accountId, endpointId)
        : await webhooks.rotateSecret(accountId, endpointId, body.secret);
      return { endpoint: endpointView(endpoint) };
    },
    async listDeliveries(query: DeliveryQuery) {
      const deliveries = await webhooks.listDeliveries({
        ...(query.account_id !== undefined ? { accountId: query.account_id } : {}),
        ...(query.endpoint_id !== undefined ? { endpointId: query.endpoint_id } : {}),
        ...(query.event_id !== undefined ? { eventId: query.event_id } : {}),
        ...(query.status !== undefined ? { status: query.status } : {}),
        limit: query.limit === undefined ? 50 : Math.min(500, Math.max(1, Number(query.limit) || 50)),
      });
      return { deliveries: deliveries.map(deliveryView) };
    },
    async getDelivery(deliveryId: string) {
      const { delivery, payload, attempts } = await webhooks.getDelivery(deliveryId);
      return { delivery: deliveryView(delivery), payload, attempts: attempts.map(attemptView) };
    },
    async resendDelivery(deliveryId: string) {
      return { delivery: deliveryView(await webhooks.resend(deliveryId)) };
    },
    async testWebhook(accountId: string, body: TestWebhookBody) {
      await ensureAccount(accountId);
      return testView(
        await webhooks.testDelivery({
          accountId,
          url: body.url,
          ...(body.secret !== undefined ? { secret: body.secret } : {}),
          ...(body.signature_header !== undefined ? { signatureHeader: body.signature_header } : {}),
        }),
      );
    },
  };
}

export type WebhookOperations = ReturnType<typeof webhookOperations>;
