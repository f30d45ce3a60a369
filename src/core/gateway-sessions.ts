import { randomUUID } from 'node:crypto';
import { DialplaneError, isDialplaneError } from '../errors.js';
import type { CallControl } from './calls/call-control.js';
import { DEFAULT_MAX_DURATION_S, DEFAULT_RING_TIMEOUT_S, MAX_DURATION_RANGE, RING_TIMEOUT_RANGE, within } from './calls/call-limits.js';
import type { Call } from './calls/call-service.js';
import type { Program, Verb } from './calls/program.js';
import { gatewayAppOwner } from './gateway-apps.js';
import {
  dtmfEventData,
  SESSION_DTMF_EVENT,
  sessionMetadata,
  sessionParticulars,
  sessionStatus,
  type SessionStatus,
} from './gateway-session-events.js';
import { randomBase62 } from './ids.js';
import { israeliToE164 } from './israeli-numbers.js';
import type { Services } from './services.js';

/** Who asks: the account and the gateway app its key belongs to. */
export interface AppPrincipal {
  readonly accountId: string;
  readonly appId: string;
}

export interface DialInput {
  readonly to: unknown;
  readonly from: unknown;
  readonly timeoutSec?: unknown;
  readonly maxDurationSec?: unknown;
  readonly metadata?: unknown;
}

export interface GatewaySession {
  readonly sessionUuid: string;
  readonly status: SessionStatus;
  /** ISO-8601 UTC, when the dial was created. */
  readonly startedAt: string;
}

/** What to play: text spoken by the TTS engine, or an audio file from a URL. */
export interface PlayInput {
  readonly text?: string | undefined;
  readonly url?: string | undefined;
  readonly voice?: string | undefined;
}

export interface GatherInput {
  readonly numDigits?: number | undefined;
  readonly timeoutSec?: number | undefined;
  readonly finishOnKey?: string | undefined;
  readonly prompt?: PlayInput | undefined;
}

/** The JSON text of a session's metadata may be this long at most (UTF-8 bytes). */
export const MAX_METADATA_BYTES = 4_096;
/** Retry-After (seconds) on a dial refused for lack of capacity. */
export const CAPACITY_RETRY_AFTER_S = 5;
/** A session stays up between live commands: waiting in silence until the next one, up to its max_duration_sec. */
const HOLD: Program = [1, 2, 3, 4].map(() => ({ verb: 'pause', length: 3_600 }) as Verb);
const SESSION_UUID = /^[A-Za-z0-9]{5}-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A session's id in the gateway's shape: a short prefix, a dash and a UUID (acW68-f47ac10b-58cc-4372-a567-0e02b2c3d479). */
export function newSessionUuid(): string {
  return `${randomBase62(5)}-${randomUUID()}`;
}

/**
 * Gateway sessions: calls a gateway app originates in Israeli domestic numbering and then follows by webhooks and
 * controls by live commands. A session is one call of call control (its id is the session's uuid), placed with the
 * app's caller-ID allow-list as the caller-ID rule and running the app's application, if it names one, once
 * answered; its events reach the app's webhook URL through the outbox (gateway-session-events.ts) in order.
 */
export class GatewaySessionService {
  constructor(
    private readonly services: Services,
    private readonly calls: CallControl,
  ) {}

  /**
   * Originates a session: 400 naming the field for a malformed number, a range or metadata; 403 for a caller ID off
   * the allow-list; 503 with Retry-After when the engine is at its concurrent-call limit.
   */
  async dial(principal: AppPrincipal, input: DialInput): Promise<GatewaySession> {
    const to = israeliToE164(input.to, 'to');
    const from = israeliToE164(input.from, 'from');
    const ringTimeoutS = within(integer(input.timeoutSec, DEFAULT_RING_TIMEOUT_S, 'timeout_sec'), RING_TIMEOUT_RANGE, 'timeout_sec');
    const maxDurationS = within(
      integer(input.maxDurationSec, DEFAULT_MAX_DURATION_S, 'max_duration_sec'),
      MAX_DURATION_RANGE,
      'max_duration_sec',
    );
    const metadata = checkedMetadata(input.metadata);
    const app = await this.services.apps.get(principal.accountId, principal.appId);
    if (!app.callerIdAllowList.includes(from)) {
      throw new DialplaneError('caller_id_not_allowed', `from ${String(input.from)} is not on this app's caller-ID allow-list`, { field: 'from' });
    }
    const sessionUuid = newSessionUuid();
    let call: Call;
    try {
      call = await this.calls.start(principal.accountId, {
        id: sessionUuid,
        from,
        callerIdAllowed: true,
        to: [{ type: 'phone', number: to }],
        ...(app.applicationId ? { applicationId: app.applicationId } : {}),
        ringTimeoutS,
        maxDurationS,
        metadata: sessionMetadata(app.id, metadata),
      });
    } catch (error) {
      if (isDialplaneError(error) && error.code === 'capacity_exceeded') {
        throw new DialplaneError('capacity_exceeded', error.message, error.details, { 'retry-after': String(CAPACITY_RETRY_AFTER_S) });
      }
      throw error;
    }
    this.reportKeys(principal, call);
    return { sessionUuid: call.id, status: 'dialing', startedAt: call.createdAt };
  }

  /** A session of this app; not_found for an unknown one and for another app's (or account's). */
  async get(principal: AppPrincipal, sessionUuid: string): Promise<GatewaySession> {
    const call = await this.callOf(principal, sessionUuid);
    return { sessionUuid: call.id, status: sessionStatus(call.state), startedAt: call.createdAt };
  }

  /** Ends the session (CANCEL while it rings, BYE once answered); resolves once it has ended. */
  async hangup(principal: AppPrincipal, sessionUuid: string): Promise<GatewaySession> {
    await this.callOf(principal, sessionUuid);
    await this.calls.hangup(principal.accountId, sessionUuid);
    return this.get(principal, sessionUuid);
  }

  /** Plays text (TTS) or an audio file into the answered session, then holds it for the next command. */
  async play(principal: AppPrincipal, sessionUuid: string, input: PlayInput): Promise<GatewaySession> {
    await this.answered(principal, sessionUuid);
    await this.calls.replaceProgram(principal.accountId, sessionUuid, [promptVerb(input, 'play'), ...HOLD]);
    return this.get(principal, sessionUuid);
  }

  /**
   * Collects keys on the answered session (after an optional prompt), then holds it; what was collected arrives as a
   * session.dtmf webhook.
   */
  async gather(principal: AppPrincipal, sessionUuid: string, input: GatherInput): Promise<GatewaySession> {
    await this.answered(principal, sessionUuid);
    const prompt = input.prompt ? promptVerb(input.prompt, 'prompt') : undefined;
    const gather: Verb = {
      verb: 'gather',
      ...(input.numDigits !== undefined ? { numDigits: input.numDigits } : {}),
      ...(input.timeoutSec !== undefined ? { timeout: input.timeoutSec } : {}),
      ...(input.finishOnKey !== undefined ? { finishOnKey: input.finishOnKey } : {}),
      ...(prompt?.verb === 'say' ? { say: { text: prompt.text, ...(prompt.voice ? { voice: prompt.voice } : {}) } } : {}),
      ...(prompt?.verb === 'play' && prompt.url ? { play: { url: prompt.url } } : {}),
    } as Verb;
    await this.calls.replaceProgram(principal.accountId, sessionUuid, [gather, ...HOLD]);
    return this.get(principal, sessionUuid);
  }

  private async callOf(principal: AppPrincipal, sessionUuid: string): Promise<Call> {
    const notFound = new DialplaneError('not_found', 'session not found');
    if (!SESSION_UUID.test(sessionUuid)) throw notFound;
    let call: Call;
    try {
      call = await this.services.calls.get(principal.accountId, sessionUuid);
    } catch (error) {
      if (isDialplaneError(error) && error.code === 'not_found') throw notFound;
      throw error;
    }
    if (sessionParticulars(call.metadata)?.app_id !== principal.appId) throw notFound;
    return call;
  }

  private async answered(principal: AppPrincipal, sessionUuid: string): Promise<void> {
    const call = await this.callOf(principal, sessionUuid);
    if (call.state === 'ended') throw new DialplaneError('conflict', 'the session has ended', { status: 'ended' });
    if (call.state !== 'answered') {
      throw new DialplaneError('conflict', 'the session is not answered yet', { status: sessionStatus(call.state) });
    }
  }

  /**
   * Keys collected on the session (a gather's result) go to the app's webhook as session.dtmf, in the session's
   * order; a gather cut short by the hang-up reports nothing (its call.hangup says it all).
   */
  private reportKeys(principal: AppPrincipal, call: Call): void {
    const { webhooks, calls } = this.services;
    const owner = gatewayAppOwner(principal.appId);
    const stop = calls.watch(call.id, (update) => {
      if (update.type === 'event') {
        if (update.event.state === 'ended') stop();
        return;
      }
      const { activity } = update;
      if (activity.kind !== 'gather' || activity.data.reason === 'hangup') return;
      const digits = typeof activity.data.digits === 'string' ? activity.data.digits : '';
      const reason = typeof activity.data.reason === 'string' ? activity.data.reason : 'unknown';
      const event = webhooks.event(principal.accountId, SESSION_DTMF_EVENT, dtmfEventData(call, digits, reason), activity.at);
      void webhooks.emit(event, (endpoint) => endpoint.owner === owner).catch(() => undefined);
    });
  }
}

function integer(value: unknown, fallback: number, field: string): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new DialplaneError('validation_failed', `${field} must be an integer`, { field });
  }
  return value;
}

function checkedMetadata(value: unknown): Record<string, unknown> | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new DialplaneError('validation_failed', 'metadata must be a JSON object', { field: 'metadata' });
  }
  if (Buffer.byteLength(JSON.stringify(value), 'utf8') > MAX_METADATA_BYTES) {
    throw new DialplaneError('validation_failed', `metadata must be at most ${MAX_METADATA_BYTES} bytes as JSON`, { field: 'metadata' });
  }
  return value as Record<string, unknown>;
}

function promptVerb(input: PlayInput, field: string): { verb: 'say'; text: string; voice?: string } | { verb: 'play'; url: string } {
  const hasText = typeof input.text === 'string';
  const hasUrl = typeof input.url === 'string';
  if (hasText === hasUrl) {
    throw new DialplaneError('validation_failed', `${field}: give exactly one of text and url`, { field: hasText ? 'url' : 'text' });
  }
  if (hasText) return { verb: 'say', text: input.text as string, ...(input.voice ? { voice: input.voice } : {}) };
  return { verb: 'play', url: input.url as string };
}
