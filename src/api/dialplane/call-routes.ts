import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { CallControl, CallView } from '../../core/calls/call-control.js';
import { MAX_DURATION_RANGE, RING_TIMEOUT_RANGE } from '../../core/calls/call-limits.js';
import type { Call, CallActivity, CallUpdate } from '../../core/calls/call-service.js';
import type { CallEvent } from '../../core/calls/call-state.js';
import type { Program } from '../../core/calls/program.js';
import { minorToCredits } from '../../core/money.js';
import type { Services } from '../../core/services.js';
import { DialplaneError } from '../../errors.js';
import { eventView } from '../call-views.js';
import { EventStream } from '../event-stream.js';
import {
  DIALPLANE_API_PREFIX,
  dialplaneRoute,
  dialplaneSecurity,
  dialplaneTags,
  dialplaneValidationError,
  errorResponses,
} from './policy.js';

export interface DialplaneCallRouteOptions {
  /** Between heartbeat comments on the events stream; default EVENT_STREAM_HEARTBEAT_MS (tests shorten it). */
  readonly heartbeatMs?: number;
}

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()]);
const Credits = (description: string) => Nullable(Type.Number({ description }));

const StartCall = Type.Object(
  {
    from: Type.String({ minLength: 1, maxLength: 40, description: 'caller ID: a voice number of your account (E.164 or national)' }),
    to: Type.String({ minLength: 1, maxLength: 40, description: 'the number to call (E.164 or national), through the trunk' }),
    application_id: Type.Optional(
      Type.String({ minLength: 1, maxLength: 64, description: 'the application whose program or call hook runs once the call is answered; give this or program' }),
    ),
    program: Type.Optional(
      Type.Array(Type.Unknown(), { description: 'a verb program (docs/call-control-verbs.md) run once the call is answered; give this or application_id' }),
    ),
    ring_timeout: Type.Optional(
      Type.Integer({
        minimum: RING_TIMEOUT_RANGE[0],
        maximum: RING_TIMEOUT_RANGE[1],
        description: 'seconds to ring before giving up (default 30)',
      }),
    ),
    time_limit: Type.Optional(
      Type.Integer({
        minimum: MAX_DURATION_RANGE[0],
        maximum: MAX_DURATION_RANGE[1],
        description: 'the longest the call may last once answered, in seconds (default 3600)',
      }),
    ),
  },
  { additionalProperties: false },
);
type StartCallBody = Static<typeof StartCall>;

const LegSchema = Type.Object(
  {
    leg_id: Type.String({ description: "call_…; the first leg's id is the call's" }),
    direction: Type.String({ enum: ['inbound', 'outbound'] }),
    from: Type.String(),
    to: Type.String(),
    state: Type.String({ enum: ['queued', 'dialing', 'ringing', 'early_media', 'answered', 'ended'] }),
    outcome: Nullable(Type.String({ description: 'completed, busy, no_answer, rejected, unallocated, invalid_number, canceled or failed; null while live' })),
    hangup_cause: Nullable(Type.String({ description: 'Q.850 cause name' })),
    hangup_cause_code: Nullable(Type.Integer({ description: 'Q.850 cause number' })),
    end_reason: Nullable(Type.String()),
    sip_status: Nullable(Type.Integer()),
    sip_reason: Nullable(Type.String()),
    price_per_minute: Credits('credits per started minute; null for a free leg (a registered device)'),
    cost: Credits('credits charged for the leg once it has ended; null before'),
    created_at: Type.String(),
    answered_at: Nullable(Type.String()),
    ended_at: Nullable(Type.String()),
  },
  { description: 'One SIP leg of the call' },
);

const ActivitySchema = Type.Object(
  {
    kind: Type.String({ enum: ['gather', 'dial', 'record', 'hook_error', 'program', 'transfer'] }),
    at: Type.String(),
    data: Type.Unknown({
      description:
        'gather: digits, reason; dial: outcome, dial_call_id, duration_s; record: recording_id, duration_s, reason; hook_error: url, reason, message; program: source (hook, redirect, digits, live), verbs',
    }),
  },
  { description: "Something the call's program did" },
);

const RecordingSchema = Type.Object({
  recording_id: Type.String({ description: 'rec_…' }),
  leg_id: Type.String(),
  duration_s: Type.Number(),
  created_at: Type.String(),
  url: Type.String({ description: 'where its WAV is (GET, same key)' }),
});

const CallSchema = Type.Object(
  {
    call_id: Type.String({ description: 'call_…' }),
    direction: Type.String({ enum: ['inbound', 'outbound'] }),
    from: Type.String(),
    to: Type.String(),
    state: Type.String({ description: "the first leg's state: queued, dialing, ringing, early_media, answered or ended" }),
    live: Type.Boolean({ description: 'false once every leg has ended and the call is settled' }),
    outcome: Nullable(Type.String()),
    end_reason: Nullable(Type.String()),
    hangup_cause: Nullable(Type.String()),
    hangup_cause_code: Nullable(Type.Integer()),
    application_id: Nullable(Type.String()),
    created_at: Type.String(),
    answered_at: Nullable(Type.String()),
    ended_at: Nullable(Type.String()),
    legs: Type.Array(LegSchema, { description: 'every leg, the first (the call itself) first' }),
    activities: Type.Array(ActivitySchema, { description: 'oldest first' }),
    recordings: Type.Array(RecordingSchema),
    cost: Credits('credits charged for the whole call; null while it is live'),
  },
  { description: 'A call' },
);

const CallParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64, description: 'the call id (call_…)' }) });
const ListQuery = Type.Object(
  {
    limit: Type.Optional(Type.String({ pattern: '^([1-9]|[1-9][0-9]|100)$', description: '1 to 100, default 50' })),
    before: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'a call_id: list the ones older than it' })),
  },
  { additionalProperties: false },
);
const ProgramBody = Type.Object(
  { program: Type.Array(Type.Unknown(), { description: 'the verb program that replaces what the call runs now' }) },
  { additionalProperties: false },
);

function legView(leg: Call) {
  return {
    leg_id: leg.id,
    direction: leg.direction,
    from: leg.from,
    to: leg.to,
    state: leg.state,
    outcome: leg.outcome,
    hangup_cause: leg.hangupCause?.name ?? null,
    hangup_cause_code: leg.hangupCause?.code ?? null,
    end_reason: leg.endReason,
    sip_status: leg.sipStatus,
    sip_reason: leg.sipReason,
    price_per_minute: leg.priceMinor === null ? null : minorToCredits(leg.priceMinor),
    cost: leg.costMinor === null ? null : minorToCredits(leg.costMinor),
    created_at: leg.createdAt,
    answered_at: leg.answeredAt,
    ended_at: leg.endedAt,
  };
}

function activityView(activity: CallActivity) {
  return { kind: activity.kind, at: activity.at, data: activity.data };
}

/** A call as this API shows it. */
export function callResource(view: CallView) {
  const { call } = view;
  return {
    call_id: call.id,
    direction: call.direction,
    from: call.from,
    to: call.to,
    state: call.state,
    live: view.live,
    outcome: call.outcome,
    end_reason: call.endReason,
    hangup_cause: call.hangupCause?.name ?? null,
    hangup_cause_code: call.hangupCause?.code ?? null,
    application_id: call.applicationId,
    created_at: call.createdAt,
    answered_at: call.answeredAt,
    ended_at: call.endedAt,
    legs: [call, ...view.legs].map(legView),
    activities: view.activities.map(activityView),
    recordings: view.recordings.map((r) => ({
      recording_id: r.id,
      leg_id: r.callId,
      duration_s: Math.round(r.durationMs / 100) / 10,
      created_at: r.createdAt,
      url: `${DIALPLANE_API_PREFIX}/recordings/${r.id}`,
    })),
    cost: view.costMinor === null ? null : minorToCredits(view.costMinor),
  };
}

/** A leg's state event on the stream: the call it belongs to, and the leg's own event. */
function stateEvent(callId: string, event: CallEvent) {
  const { call_id: legId, ...rest } = eventView(event);
  return { call_id: callId, leg_id: legId, ...rest };
}

function accountOf(request: { principal?: { accountId: string } | undefined }): string {
  if (!request.principal) throw new DialplaneError('missing_credentials');
  return request.principal.accountId;
}

/** Exactly one of application_id and program; the second given is named as the field at fault. */
function runsOf(body: StartCallBody): { applicationId: string } | { program: Program } {
  if (body.application_id !== undefined && body.program !== undefined) {
    throw new DialplaneError('validation_failed', 'give exactly one of application_id and program', { location: 'body', field: 'program' });
  }
  if (body.application_id !== undefined) return { applicationId: body.application_id };
  if (body.program !== undefined) return { program: body.program as unknown as Program };
  throw new DialplaneError('validation_failed', 'give exactly one of application_id and program', { location: 'body', field: 'application_id' });
}

/**
 * Calls under /dialplane/v1: start one, read one or the list, follow its events (SSE), give it a new program, hang
 * it up; and recordings' audio. A translation onto call control: every rule is in core/calls.
 */
export function registerCallRoutes(
  app: FastifyInstance,
  services: Services,
  control: CallControl,
  options: DialplaneCallRouteOptions = {},
): void {
  const base = `${DIALPLANE_API_PREFIX}/calls`;
  const schema = (summary: string, extra: Record<string, unknown>, tag = 'calls') => ({
    tags: dialplaneTags(tag),
    summary,
    security: dialplaneSecurity,
    ...extra,
  });

  app.post<{ Body: StartCallBody }>(
    base,
    {
      config: dialplaneRoute(),
      schemaErrorFormatter: dialplaneValidationError,
      schema: schema('Start an outbound call that runs an application or an inline program once answered', {
        body: StartCall,
        response: { 201: CallSchema, ...errorResponses(402, 404, 503) },
      }),
    },
    async (request, reply) => {
      const accountId = accountOf(request);
      const { body } = request;
      const call = await control.start(accountId, {
        from: body.from,
        to: [{ type: 'phone', number: body.to }],
        ...runsOf(body),
        ...(body.ring_timeout !== undefined ? { ringTimeoutS: body.ring_timeout } : {}),
        ...(body.time_limit !== undefined ? { maxDurationS: body.time_limit } : {}),
      });
      return reply.status(201).send(callResource(await control.view(accountId, call.id)));
    },
  );

  app.get<{ Querystring: { limit?: string; before?: string } }>(
    base,
    {
      config: dialplaneRoute(),
      schemaErrorFormatter: dialplaneValidationError,
      schema: schema('Your calls, newest first (the legs a call rang are inside it)', {
        querystring: ListQuery,
        response: {
          200: Type.Object({
            calls: Type.Array(CallSchema),
            has_more: Type.Boolean({ description: 'pass the last call_id as before for the next page' }),
          }),
          ...errorResponses(404),
        },
      }),
    },
    async (request) => {
      const accountId = accountOf(request);
      const limit = Number(request.query.limit ?? 50);
      const before = request.query.before ? await services.calls.get(accountId, request.query.before) : undefined;
      const list = await services.calls.listTop(accountId, limit, before && { createdAt: before.createdAt, id: before.id });
      const views = await Promise.all(list.map((call) => control.view(accountId, call.id)));
      return { calls: views.map(callResource), has_more: list.length === limit };
    },
  );

  app.get<{ Params: { id: string } }>(
    `${base}/:id`,
    {
      config: dialplaneRoute(),
      schemaErrorFormatter: dialplaneValidationError,
      schema: schema('A call: its state, legs, activities (keys collected...), recordings and cost', {
        params: CallParams,
        response: { 200: CallSchema, ...errorResponses(404) },
      }),
    },
    async (request) => {
      const accountId = accountOf(request);
      return callResource(await control.view(accountId, request.params.id));
    },
  );

  app.get<{ Params: { id: string } }>(
    `${base}/:id/events`,
    {
      config: dialplaneRoute(),
      schemaErrorFormatter: dialplaneValidationError,
      schema: schema(
        'The call as server-sent events: what is stored, then live, until the call is over. `event: state` (of the call or any leg), `event: activity`, and a last `event: end`; `: heartbeat` comments keep a quiet stream alive',
        {
          params: CallParams,
          response: {
            200: { description: 'text/event-stream', content: { 'text/event-stream': { schema: { type: 'string' } } } },
            ...errorResponses(404),
          },
        },
      ),
    },
    async (request, reply) => {
      const accountId = accountOf(request);
      const callId = request.params.id;
      await services.calls.get(accountId, callId);
      // Subscribe first, then replay what is stored, de-duplicating: nothing falls between the two.
      const pending: CallUpdate[] = [];
      let replaying = true;
      const sent = new Set<string>();
      let stream: EventStream | undefined;
      const write = (update: CallUpdate) => {
        if (!stream) return;
        if (update.type === 'event') {
          const key = `e|${update.event.callId}|${update.event.state}|${update.event.at}`;
          if (sent.has(key)) return;
          sent.add(key);
          stream.send(stateEvent(callId, update.event), { event: 'state' });
        } else {
          const { activity } = update;
          const key = `a|${activity.kind}|${activity.at}|${JSON.stringify(activity.data)}`;
          if (sent.has(key)) return;
          sent.add(key);
          stream.send(activityView(activity), { event: 'activity' });
        }
      };
      const unwatch = control.watch(callId, (update) => (replaying ? pending.push(update) : write(update)));
      const stored = async (): Promise<CallUpdate[]> => {
        const view = await control.view(accountId, callId);
        const events = await Promise.all([view.call, ...view.legs].map((leg) => services.calls.events(accountId, leg.id)));
        const updates: Array<CallUpdate & { at: string }> = [
          ...events.flat().map((event) => ({ type: 'event' as const, event, call: view.call, at: event.at })),
          ...view.activities.map((activity) => ({ type: 'activity' as const, activity, at: activity.at })),
        ];
        // Stable: a leg's events keep their order among equal times.
        return updates.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
      };
      let replay: CallUpdate[];
      try {
        replay = await stored();
      } catch (error) {
        unwatch();
        throw error;
      }
      reply.hijack();
      stream = new EventStream(reply.raw, {
        format: 'sse',
        ...(options.heartbeatMs !== undefined ? { heartbeatMs: options.heartbeatMs } : {}),
      });
      const gone = new AbortController();
      stream.onClose(() => {
        unwatch();
        gone.abort();
      });
      for (const update of replay) write(update);
      replaying = false;
      for (const update of pending.splice(0)) write(update);
      // Until the call is over and settled; then whatever was stored meanwhile, and the end.
      const open = stream;
      void (async () => {
        await control.whenSettled(callId, gone.signal);
        if (!open.isOpen) return;
        for (const update of await stored().catch(() => [])) write(update);
        const last = await control.view(accountId, callId).catch(() => undefined);
        open.send(
          { call_id: callId, state: last?.call.state ?? 'ended', cost: last?.costMinor == null ? null : minorToCredits(last.costMinor) },
          { event: 'end' },
        );
        open.end();
      })().catch((error: unknown) => {
        request.log.error({ err: error }, 'call event stream');
        open.end();
      });
    },
  );

  app.post<{ Params: { id: string }; Body: { program: unknown[] } }>(
    `${base}/:id/program`,
    {
      config: dialplaneRoute(),
      schemaErrorFormatter: dialplaneValidationError,
      schema: schema('Live command: replace what the call runs now with a new program', {
        params: CallParams,
        body: ProgramBody,
        response: { 200: CallSchema, ...errorResponses(404, 409, 503) },
      }),
    },
    async (request) => {
      const accountId = accountOf(request);
      await control.replaceProgram(accountId, request.params.id, request.body.program);
      return callResource(await control.view(accountId, request.params.id));
    },
  );

  app.post<{ Params: { id: string } }>(
    `${base}/:id/hangup`,
    {
      config: dialplaneRoute(),
      schemaErrorFormatter: dialplaneValidationError,
      schema: schema('Live command: hang up every leg of the call (inbound or outbound); answers once it is over', {
        params: CallParams,
        response: { 200: CallSchema, ...errorResponses(404, 409, 503) },
      }),
    },
    async (request) => callResource(await control.hangup(accountOf(request), request.params.id)),
  );

  app.get<{ Params: { id: string } }>(
    `${DIALPLANE_API_PREFIX}/recordings/:id`,
    {
      config: dialplaneRoute(),
      schemaErrorFormatter: dialplaneValidationError,
      schema: schema(
        "A recording's audio: a WAV file (8 kHz, 16-bit)",
        {
          params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 64, description: 'the recording id (rec_…)' }) }),
          response: {
            200: { description: 'the WAV', content: { 'audio/wav': { schema: { type: 'string', format: 'binary' } } } },
            ...errorResponses(404),
          },
        },
        'recordings',
      ),
    },
    async (request, reply) => {
      const wav = await services.calls.recordingWav(accountOf(request), request.params.id);
      return reply.type('audio/wav').header('cache-control', 'private, max-age=0').send(wav);
    },
  );
}
