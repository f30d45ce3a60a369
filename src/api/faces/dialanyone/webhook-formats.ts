import { KEY_SIGNATURE_HEADER, KEY_SLOT_FORMAT, KEY_SUBSCRIPTION_FORMAT, type KeyNotification } from '../../../core/key-webhooks.js';
import type { WebhookEvent } from '../../../core/webhooks.js';
import type { FormatRegistry } from '../../faces.js';
import { documentTime } from './policy.js';

/** The document's notification body, as per-key webhook URLs (core's key slots) receive it. */
export const PLAIN_FORMAT = KEY_SLOT_FORMAT;
/** The document's subscription envelope ({event_type, event_id, timestamp, data}), as subscriptions receive it. */
export const ENVELOPE_FORMAT = KEY_SUBSCRIPTION_FORMAT;
/** The header carrying the hex HMAC-SHA256 of the raw body, what the document's verify_webhook checks. */
export const SIGNATURE_HEADER = KEY_SIGNATURE_HEADER;

/** The document's two event types: what core's key webhooks notify, under the same names. */
export const EVENT_TYPES = ['incoming_call', 'incoming_sms'] as const satisfies readonly KeyNotification[];
export type DialAnyoneEventType = (typeof EVENT_TYPES)[number];

export interface IncomingCallPayload {
  readonly event: 'incoming_call';
  readonly call_id: string;
  readonly from: string;
  readonly to: string;
  readonly timestamp: string;
}

export interface IncomingSmsPayload {
  readonly event: 'incoming_sms';
  readonly message_id: string;
  readonly from: string;
  readonly to: string;
  readonly body: string;
  readonly timestamp: string;
}

export type PlainPayload = IncomingCallPayload | IncomingSmsPayload;

export interface EnvelopePayload {
  readonly event_type: DialAnyoneEventType;
  readonly event_id: string;
  readonly timestamp: string;
  readonly data: PlainPayload;
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/**
 * The document's notification for a core event: an inbound call's `call.queued` (written when its INVITE arrives)
 * is `incoming_call`, `sms.received` is `incoming_sms`; every other event has none. Keys are in the document's order.
 */
export function plainPayload(event: WebhookEvent): PlainPayload | undefined {
  const timestamp = documentTime(event.occurredAt);
  const data = event.data;
  if (event.type === 'call.queued' && data.direction === 'inbound') {
    return { event: 'incoming_call', call_id: text(data.call_id), from: text(data.from), to: text(data.to), timestamp };
  }
  if (event.type === 'sms.received') {
    return {
      event: 'incoming_sms',
      message_id: text(data.message_id),
      from: text(data.from),
      to: text(data.to),
      body: text(data.body),
      timestamp,
    };
  }
  return undefined;
}

/** The subscription envelope around a notification, with the event's own id, stable across retries and re-sends. */
export function envelope(eventId: string, payload: PlainPayload): EnvelopePayload {
  return { event_type: payload.event, event_id: eventId, timestamp: payload.timestamp, data: payload };
}

const registered = new WeakSet<FormatRegistry>();

/** Registers both formats with a webhook service; calling it again for the same service does nothing. */
export function registerDialAnyoneFormats(webhooks: FormatRegistry): void {
  if (registered.has(webhooks)) return;
  registered.add(webhooks);
  webhooks.registerFormat(PLAIN_FORMAT, (event) => {
    const payload = plainPayload(event);
    return payload && JSON.stringify(payload);
  });
  webhooks.registerFormat(ENVELOPE_FORMAT, (event) => {
    const payload = plainPayload(event);
    return payload && JSON.stringify(envelope(event.id, payload));
  });
}
