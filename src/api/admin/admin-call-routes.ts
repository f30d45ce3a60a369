import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { CallControl } from '../../core/calls/call-control.js';
import type { Call } from '../../core/calls/call-service.js';
import type { CallEvent } from '../../core/calls/call-state.js';
import { eventView } from '../call-views.js';
import type { Services } from '../../core/services.js';
import { EventStream } from '../event-stream.js';
import type { RouteSettings } from '../types.js';

const config = { dialplane: { auth: 'admin' } satisfies RouteSettings };
const security = [{ adminToken: [] }];
const tags = ['Admin'];
const Id = Type.String({ minLength: 1, maxLength: 64 });

const PlaceCall = Type.Object(
  {
    to: Type.String({ minLength: 1, maxLength: 40 }),
    from: Type.String({ minLength: 1, maxLength: 40 }),
    ring_timeout_s: Type.Optional(Type.Integer({ minimum: 1, maximum: 300 })),
    max_duration_s: Type.Optional(Type.Integer({ minimum: 1, maximum: 14_400 })),
  },
  { additionalProperties: false },
);

export function callView(call: Call) {
  return {
    id: call.id,
    direction: call.direction,
    from: call.from,
    to: call.to,
    state: call.state,
    outcome: call.outcome,
    hangup_cause: call.hangupCause?.name ?? null,
    hangup_cause_code: call.hangupCause?.code ?? null,
    end_reason: call.endReason,
    sip_status: call.sipStatus,
    sip_reason: call.sipReason,
    trunk: call.trunk,
    sip_call_id: call.sipCallId,
    ring_timeout_s: call.ringTimeoutS,
    max_duration_s: call.maxDurationS,
    created_at: call.createdAt,
    answered_at: call.answeredAt,
    ended_at: call.endedAt,
  };
}

type CallParams = { Params: { accountId: string; callId: string } };

export interface AdminCallRouteOptions {
  /** Between heartbeat lines on the live event stream; default EVENT_STREAM_HEARTBEAT_MS (tests shorten it). */
  readonly heartbeatMs?: number;
}

/** Calls through the admin API: what `dialplane call` uses, and the dashboard later. */
export function registerAdminCallRoutes(
  app: FastifyInstance,
  services: Services,
  control: CallControl,
  options: AdminCallRouteOptions = {},
): void {
  app.post<{ Params: { accountId: string }; Body: { to: string; from: string; ring_timeout_s?: number; max_duration_s?: number } }>(
    '/admin/v1/accounts/:accountId/calls',
    { config, schema: { tags, security, summary: 'Place an outbound call', params: Type.Object({ accountId: Id }), body: PlaceCall } },
    async (request, reply) => {
      await services.accounts.get(request.params.accountId);
      const { body } = request;
      const call = await control.start(request.params.accountId, {
        from: body.from,
        to: [{ type: 'phone', number: body.to }],
        ...(body.ring_timeout_s !== undefined ? { ringTimeoutS: body.ring_timeout_s } : {}),
        ...(body.max_duration_s !== undefined ? { maxDurationS: body.max_duration_s } : {}),
      });
      return reply.status(201).send({ call: callView(call) });
    },
  );

  app.get<{ Params: { accountId: string } }>(
    '/admin/v1/accounts/:accountId/calls',
    { config, schema: { tags, security, summary: 'Latest calls', params: Type.Object({ accountId: Id }) } },
    async (request) => ({ calls: (await services.calls.list(request.params.accountId, 100)).map(callView) }),
  );

  app.get<CallParams>(
    '/admin/v1/accounts/:accountId/calls/:callId',
    { config, schema: { tags, security, summary: 'A call and its events', params: Type.Object({ accountId: Id, callId: Id }) } },
    async (request) => {
      const { accountId, callId } = request.params;
      const call = await services.calls.get(accountId, callId);
      return { call: callView(call), events: (await services.calls.events(accountId, callId)).map(eventView) };
    },
  );

  app.post<CallParams>(
    '/admin/v1/accounts/:accountId/calls/:callId/hangup',
    { config, schema: { tags, security, summary: 'Hang up a call', params: Type.Object({ accountId: Id, callId: Id }) } },
    async (request) => ({ call: callView((await control.hangup(request.params.accountId, request.params.callId)).call) }),
  );

  app.get<CallParams>(
    '/admin/v1/accounts/:accountId/calls/:callId/events/stream',
    {
      config,
      schema: {
        tags,
        security,
        summary:
          'The call\'s events as they happen, one JSON object per line, until it ends; {"heartbeat":"<time>"} lines keep a quiet stream alive',
        params: Type.Object({ accountId: Id, callId: Id }),
      },
    },
    async (request, reply) => {
      const { accountId, callId } = request.params;
      await services.calls.get(accountId, callId);
      reply.hijack();
      const stream = new EventStream(reply.raw, {
        format: 'ndjson',
        ...(options.heartbeatMs !== undefined ? { heartbeatMs: options.heartbeatMs } : {}),
      });
      const sent = new Set<string>();
      const write = (event: CallEvent) => {
        const key = `${event.state}|${event.at}`;
        if (sent.has(key)) return;
        sent.add(key);
        stream.send(eventView(event));
        if (event.state === 'ended') stream.end();
      };
      // Subscribe first, then replay what is stored: nothing falls between the two.
      const pending: CallEvent[] = [];
      let replayed = false;
      const unsubscribe = services.calls.watch(callId, (update) => {
        if (update.type !== 'event') return;
        const { event } = update;
        if (replayed) write(event);
        else pending.push(event);
      });
      stream.onClose(unsubscribe);
      for (const event of await services.calls.events(accountId, callId)) write(event);
      replayed = true;
      for (const event of pending) write(event);
    },
  );
}
