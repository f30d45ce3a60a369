/**
 * One webhook attempt over HTTP: the request a receiver sees, and what came of it.
 *
 * Every request is a POST of the stored payload with:
 *  - Content-Type: application/json and User-Agent: Dialplane-Webhooks/1;
 *  - X-Dialplane-Event-Id (stable across attempts and re-sends), X-Dialplane-Event-Type, X-Dialplane-Delivery-Id,
 *    X-Dialplane-Attempt (1-based);
 *  - when the target has secrets: X-Dialplane-Signature `t=<unix seconds>,v1=<hmac>[,v1=<hmac>]` over "<t>." + body,
 *    one v1 per active secret, and, when the target names one (a face's header such as X-DialAnyone-Signature),
 *    that header with the plain hex HMAC of the body under the current secret.
 */
import { signBody, signTimestamped, TIMESTAMPED_SIGNATURE_HEADER } from './signer.js';
import { guardedRequest, type Connector, type Resolver } from './guarded-request.js';
import { isSsrfError } from './ssrf-guard.js';
import type { ConnectionPools } from './connection-pools.js';
import type { ClaimedDelivery, SendResult, Sender } from './dispatcher.js';

export const USER_AGENT = 'Dialplane-Webhooks/1';
/** A receiver's answer is read up to this size; only its status matters. */
const MAX_RESPONSE_BYTES = 64 * 1024;
/** The delivery log keeps this much of an error text. */
const MAX_ERROR_LENGTH = 300;

export interface HttpSenderOptions {
  readonly allowPrivate: boolean;
  readonly connectTimeoutMs: number;
  readonly timeoutMs: number;
  /** Epoch ms; the timestamped signature uses it. */
  readonly now?: () => number;
  readonly resolve?: Resolver;
  readonly connect?: Connector;
  /** Keep-alive connections shared by the attempts; without them each attempt opens and closes its own. */
  readonly pools?: ConnectionPools;
}

export interface WebhookRequest {
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
}

/** The request for one attempt, signed at `nowMs`. */
export function buildWebhookRequest(delivery: ClaimedDelivery, attempt: number, nowMs: number): WebhookRequest {
  const body = Buffer.from(delivery.payload, 'utf8');
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': USER_AGENT,
    'x-dialplane-event-id': delivery.eventId,
    'x-dialplane-event-type': delivery.eventType,
    'x-dialplane-delivery-id': delivery.id,
    'x-dialplane-attempt': String(attempt),
  };
  const secrets = delivery.secrets.filter((secret) => secret.length > 0);
  if (secrets.length > 0) {
    headers[TIMESTAMPED_SIGNATURE_HEADER.toLowerCase()] = signTimestamped(body, secrets, Math.floor(nowMs / 1000));
    if (delivery.signatureHeader) headers[delivery.signatureHeader.toLowerCase()] = signBody(body, secrets[0]!);
  }
  return { url: delivery.url, headers, body };
}

function describe(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.length > MAX_ERROR_LENGTH ? `${text.slice(0, MAX_ERROR_LENGTH)}…` : text;
}

export function createHttpSender(options: HttpSenderOptions): Sender {
  const now = options.now ?? Date.now;
  return async (delivery, attempt): Promise<SendResult> => {
    const request = buildWebhookRequest(delivery, attempt, now());
    try {
      const response = await guardedRequest(
        request.url,
        {
          method: 'POST',
          headers: request.headers,
          body: request.body,
          timeoutMs: options.timeoutMs,
          connectTimeoutMs: options.connectTimeoutMs,
          maxResponseBytes: MAX_RESPONSE_BYTES,
        },
        {
          allowPrivate: options.allowPrivate,
          ...(options.resolve ? { resolve: options.resolve } : {}),
          ...(options.connect ? { connect: options.connect } : {}),
          ...(options.pools ? { pools: options.pools } : {}),
        },
      );
      const ok = response.status >= 200 && response.status <= 299;
      return {
        outcome: { kind: 'status', status: response.status, retryAfter: response.headers['retry-after'] },
        ...(ok ? {} : { error: `HTTP ${response.status}` }),
      };
    } catch (error) {
      if (isSsrfError(error) && error.code !== 'no_addresses') {
        return { outcome: { kind: 'refused' }, error: describe(error) };
      }
      const code = (error as { code?: unknown }).code;
      return { outcome: { kind: code === 'ETIMEDOUT' ? 'timeout' : 'network' }, error: describe(error) };
    }
  };
}
