import type { WebhookEndpointRow } from '../store/schema.js';
import type { Call } from './calls/call-service.js';
import type { CallState } from './calls/call-state.js';
import { gatewayAppOwner } from './gateway-apps.js';
import { e164ToIsraeli } from './israeli-numbers.js';
import type { OrderedPayload, WebhookEvent } from './webhooks.js';

/** What a gateway session stores with its call: the app that owns it and the client's metadata, echoed on its events. */
export interface SessionParticulars {
  readonly app_id: string;
  readonly metadata: Record<string, unknown> | null;
}

/** The session's particulars as stored in its call's metadata (`{ gateway: … }`), or undefined for any other call. */
export function sessionParticulars(metadata: unknown): SessionParticulars | undefined {
  if (typeof metadata !== 'object' || metadata === null) return undefined;
  const gateway = (metadata as { gateway?: unknown }).gateway;
  if (typeof gateway !== 'object' || gateway === null) return undefined;
  const { app_id: appId, metadata: own } = gateway as { app_id?: unknown; metadata?: unknown };
  if (typeof appId !== 'string') return undefined;
  return { app_id: appId, metadata: typeof own === 'object' && own !== null ? (own as Record<string, unknown>) : null };
}

export function sessionMetadata(appId: string, metadata: Record<string, unknown> | null): Record<string, unknown> {
  return { gateway: { app_id: appId, metadata } satisfies SessionParticulars };
}

export type SessionStatus = 'dialing' | 'ringing' | 'early_media' | 'answered' | 'ended';

/** A session's status is its call's state, a queued call counting as dialing. */
export function sessionStatus(state: CallState): SessionStatus {
  return state === 'queued' ? 'dialing' : state;
}

/** Session event names for the core events of the session's call; `call.queued` has none (it is stored with dialing). */
const SESSION_EVENT: Readonly<Record<string, string>> = {
  'call.dialing': 'session.dialing',
  'call.ringing': 'session.ringing',
  'call.early_media': 'session.early_media',
  'call.answered': 'call.answered',
  'call.ended': 'call.hangup',
  'session.dtmf': 'session.dtmf',
};

/** Core event type of keys collected by a gather on a session (the gateway writes it; calls write the others). */
export const SESSION_DTMF_EVENT = 'session.dtmf';

/** The data of a session.dtmf event. */
export function dtmfEventData(call: Call, digits: string, reason: string): Record<string, unknown> {
  return { call_id: call.id, from: call.from, to: call.to, metadata: call.metadata, digits, reason };
}

function text(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

function number(value: unknown): number | null {
  return typeof value === 'number' ? value : null;
}

/** Whole seconds between two ISO times (0 when either is missing). */
function seconds(from: string | null, to: string | null): number {
  if (from === null || to === null) return 0;
  return Math.max(0, Math.round((Date.parse(to) - Date.parse(from)) / 1000));
}

/**
 * The body a gateway app's webhook URL receives for one event of one of its sessions, ordered by session: every body
 * carries `event`, `event_id`, `session_uuid`, `timestamp` (RFC 3339 UTC, milliseconds) and the session's `metadata`,
 * then what the event adds. Events of other calls, or of another app's sessions, are left out (undefined). A session
 * is one call, so its end (written once, crash recovery included) is its one `call.hangup`.
 */
export function gatewaySessionPayload(event: WebhookEvent, endpoint: WebhookEndpointRow): OrderedPayload | undefined {
  const name = SESSION_EVENT[event.type];
  if (name === undefined) return undefined;
  const data = event.data;
  const session = sessionParticulars(data.metadata);
  if (!session || endpoint.owner !== gatewayAppOwner(session.app_id)) return undefined;
  const sessionUuid = text(data.call_id);
  if (sessionUuid === null) return undefined;
  const body: Record<string, unknown> = {
    event: name,
    event_id: event.id,
    session_uuid: sessionUuid,
    timestamp: event.occurredAt,
    metadata: session.metadata ?? {},
    to: e164ToIsraeli(text(data.to) ?? ''),
    from: e164ToIsraeli(text(data.from) ?? ''),
  };
  switch (name) {
    case 'session.ringing':
    case 'session.early_media':
      body.sip_status = number(data.sip_status);
      break;
    case 'call.answered':
      body.sip_status = number(data.sip_status);
      body.answered_at = text(data.answered_at) ?? event.occurredAt;
      break;
    case 'call.hangup': {
      const answeredAt = text(data.answered_at);
      body.hangup_cause = text(data.hangup_cause);
      body.hangup_cause_code = number(data.hangup_cause_code);
      // The final response that decided the call: a refusal's status, else 200 for a call that was answered; null
      // when none did (our CANCEL at the ring timeout, a transport failure).
      body.sip_status = number(data.sip_status) ?? (answeredAt !== null ? 200 : null);
      body.answered = answeredAt !== null;
      body.duration_sec = seconds(answeredAt, text(data.ended_at) ?? event.occurredAt);
      body.started_at = text(data.created_at);
      body.answered_at = answeredAt;
      body.ended_at = text(data.ended_at) ?? event.occurredAt;
      break;
    }
    case 'session.dtmf':
      body.digits = text(data.digits) ?? '';
      body.reason = text(data.reason);
      break;
    default:
      break;
  }
  return { body: JSON.stringify(body), orderKey: sessionUuid };
}
