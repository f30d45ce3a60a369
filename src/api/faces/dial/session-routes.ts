import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AppPrincipal, GatewaySession, GatewaySessionService } from '../../../core/gateway-sessions.js';
import { DialplaneError } from '../../../errors.js';
import { dialRoute, documentTime } from './policy.js';

const ErrorBody = Type.Object({
  error: Type.String(),
  message: Type.String(),
  field: Type.Optional(Type.String()),
  retry_after: Type.Optional(Type.Integer()),
});

const Dial = Type.Object(
  {
    to: Type.String({ maxLength: 40, description: 'Israeli domestic format, e.g. 0527121102' }),
    from: Type.String({ maxLength: 40, description: "On the app's caller-ID allow-list, Israeli domestic format" }),
    timeout_sec: Type.Optional(Type.Integer({ description: 'Ring timeout, 1 to 300, default 30' })),
    max_duration_sec: Type.Optional(Type.Integer({ description: 'Call limit, 1 to 14400, default 3600' })),
    metadata: Type.Optional(Type.Object({}, { additionalProperties: true, description: 'At most 4096 bytes as JSON' })),
  },
  { additionalProperties: false },
);

const Accepted = Type.Object({ session_uuid: Type.String(), status: Type.String() });
const Status = Type.Object({ session_uuid: Type.String(), status: Type.String(), started_at: Type.String() });
const SessionParams = Type.Object({ sessionUuid: Type.String({ minLength: 1, maxLength: 64 }) });

const Prompt = Type.Object(
  {
    text: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
    url: Type.Optional(Type.String({ minLength: 1, maxLength: 2048 })),
    voice: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  },
  { additionalProperties: false },
);
const Gather = Type.Object(
  {
    num_digits: Type.Optional(Type.Integer({ minimum: 1, maximum: 32 })),
    timeout_sec: Type.Optional(Type.Integer({ minimum: 1, maximum: 600 })),
    finish_on_key: Type.Optional(Type.String({ maxLength: 1 })),
    prompt: Type.Optional(Prompt),
  },
  { additionalProperties: false },
);

type SessionRequest = { Params: { sessionUuid: string } };

function principalOf(request: FastifyRequest): AppPrincipal {
  const principal = request.principal;
  if (!principal?.appId) throw new DialplaneError('missing_credentials');
  return { accountId: principal.accountId, appId: principal.appId };
}

function statusView(session: GatewaySession) {
  return { session_uuid: session.sessionUuid, status: session.status, started_at: documentTime(session.startedAt) };
}

/**
 * POST /api/v1/dial and GET /api/v1/dial/{session_uuid} as documented, and the control extensions (hangup, play,
 * gather): each request is one call of the core gateway-session service, its answer shaped as the document shows.
 */
export function registerSessionRoutes(app: FastifyInstance, sessions: GatewaySessionService): void {
  const security = [{ appId: [], apiKeyHeader: [] }];
  const errors = { 400: ErrorBody, 401: ErrorBody, 404: ErrorBody, 429: ErrorBody, 500: ErrorBody, 503: ErrorBody };
  app.post<{ Body: { to: string; from: string; timeout_sec?: number; max_duration_sec?: number; metadata?: Record<string, unknown> } }>(
    '/',
    {
      config: dialRoute('dial'),
      schema: {
        tags: ['Dial'],
        summary: 'Originate an outbound call; progress arrives by webhooks',
        security,
        body: Dial,
        response: { 202: Accepted, 403: ErrorBody, ...errors },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const session = await sessions.dial(principalOf(request), {
        to: body.to,
        from: body.from,
        timeoutSec: body.timeout_sec,
        maxDurationSec: body.max_duration_sec,
        metadata: body.metadata,
      });
      return reply.status(202).send({ session_uuid: session.sessionUuid, status: session.status });
    },
  );
  app.get<SessionRequest>(
    '/:sessionUuid',
    {
      config: dialRoute('other'),
      schema: { tags: ['Dial'], summary: 'The status of a dial', security, params: SessionParams, response: { 200: Status, ...errors } },
    },
    async (request) => statusView(await sessions.get(principalOf(request), request.params.sessionUuid)),
  );

  const extension = (summary: string, body?: unknown) => ({
    config: dialRoute('other'),
    schema: {
      tags: ['Dial (extensions)'],
      summary,
      security,
      params: SessionParams,
      ...(body ? { body } : {}),
      response: { 200: Status, 409: ErrorBody, ...errors },
    },
  });
  app.post<SessionRequest>('/:sessionUuid/hangup', extension('Hang up a session'), async (request) =>
    statusView(await sessions.hangup(principalOf(request), request.params.sessionUuid)),
  );
  app.post<SessionRequest & { Body: { text?: string; url?: string; voice?: string } }>(
    '/:sessionUuid/play',
    extension('Play text (TTS) or an audio URL into an answered session', Prompt),
    async (request) => statusView(await sessions.play(principalOf(request), request.params.sessionUuid, request.body)),
  );
  app.post<
    SessionRequest & { Body: { num_digits?: number; timeout_sec?: number; finish_on_key?: string; prompt?: { text?: string; url?: string; voice?: string } } }
  >('/:sessionUuid/gather', extension('Collect keys on an answered session; they arrive as a session.dtmf webhook', Gather), async (request) => {
    const body = request.body ?? {};
    return statusView(
      await sessions.gather(principalOf(request), request.params.sessionUuid, {
        numDigits: body.num_digits,
        timeoutSec: body.timeout_sec,
        finishOnKey: body.finish_on_key,
        prompt: body.prompt,
      }),
    );
  });
}
