import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Call } from '../../../core/calls/call-service.js';
import type { TwoLegCall, TwoLegCalls } from '../../../core/calls/two-leg-calls.js';
import { minorToCredits } from '../../../core/money.js';
import type { Services } from '../../../core/services.js';
import { DialplaneError } from '../../../errors.js';
import { dialAnyoneRoute, documentTime } from './policy.js';

const ErrorBody = Type.Object({
  error: Type.Object({ code: Type.String(), message: Type.String(), details: Type.Optional(Type.Unknown()) }),
});

const MakeCall = Type.Object(
  {
    user_number: Type.String({ minLength: 1, maxLength: 40 }),
    target_number: Type.String({ minLength: 1, maxLength: 40 }),
  },
  { additionalProperties: false },
);

const CallCreated = Type.Object({
  call_id: Type.String(),
  status: Type.String(),
  user_number: Type.String(),
  target_number: Type.String(),
  estimated_cost_per_minute: Type.Number(),
  created_at: Type.String(),
});

const time = (iso: string | null) => (iso === null ? null : documentTime(iso));

function legView(leg: Call | undefined) {
  if (!leg) return null;
  return {
    number: leg.to,
    state: leg.state,
    outcome: leg.outcome,
    hangup_cause: leg.hangupCause?.name ?? null,
    sip_status: leg.sipStatus,
    answered_at: time(leg.answeredAt),
    ended_at: time(leg.endedAt),
  };
}

/** The document's 201 body: `initiating` is how every call starts. */
function created(call: TwoLegCall) {
  return {
    call_id: call.id,
    status: 'initiating',
    user_number: call.userNumber,
    target_number: call.targetNumber,
    estimated_cost_per_minute: minorToCredits(call.perMinuteMinor),
    created_at: documentTime(call.createdAt),
  };
}

/** A later look at a call (an extension): the document's fields, the status as it is now, both legs, the charge. */
function detail(call: TwoLegCall) {
  return {
    call_id: call.id,
    status: call.status,
    user_number: call.userNumber,
    target_number: call.targetNumber,
    estimated_cost_per_minute: minorToCredits(call.perMinuteMinor),
    cost: call.chargedMinor === null ? null : minorToCredits(call.chargedMinor),
    created_at: documentTime(call.createdAt),
    legs: { user: legView(call.userLeg), target: legView(call.targetLeg) },
  };
}

const ListQuery = Type.Object(
  {
    limit: Type.Optional(Type.String({ pattern: '^([1-9]|[1-9][0-9]|100)$', description: '1 to 100, default 50' })),
    before: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'a call_id: list the ones older than it' })),
  },
  { additionalProperties: false },
);
const CallParams = Type.Object({ callId: Type.String({ minLength: 1, maxLength: 64 }) });

function principalOf(request: { principal?: { accountId: string } | undefined }): string {
  if (!request.principal) throw new DialplaneError('missing_credentials');
  return request.principal.accountId;
}

/**
 * POST /api/v1/calls as documented: the user's number rings first, then the target, and the two are joined; both
 * legs billed per started minute. GET /api/v1/calls/{id}, GET /api/v1/calls and POST /api/v1/calls/{id}/hangup
 * are extensions (docs/dialanyone.md).
 */
export function registerCallRoutes(app: FastifyInstance, _services: Services, calls: TwoLegCalls): void {
  app.post<{ Body: { user_number: string; target_number: string } }>(
    '/calls',
    {
      config: dialAnyoneRoute('calls'),
      schema: {
        tags: ['DialAnyone'],
        summary: 'Make a call: ring user_number, then connect target_number',
        security: [{ bearer: [] }],
        body: MakeCall,
        response: { 201: CallCreated, 400: ErrorBody, 401: ErrorBody, 402: ErrorBody, 429: ErrorBody, 503: ErrorBody },
      },
    },
    async (request, reply) => {
      const accountId = principalOf(request);
      const call = await calls.start(accountId, { userNumber: request.body.user_number, targetNumber: request.body.target_number });
      return reply.status(201).send(created(call));
    },
  );

  const extension = (summary: string, extra: Record<string, unknown> = {}) => ({
    tags: ['DialAnyone (extensions)'],
    summary,
    security: [{ bearer: [] }],
    ...extra,
  });
  app.get<{ Params: { callId: string } }>(
    '/calls/:callId',
    { config: dialAnyoneRoute('other'), schema: extension('A call: its status, both legs and its charge', { params: CallParams }) },
    async (request) => detail(await calls.get(principalOf(request), request.params.callId)),
  );
  app.get<{ Querystring: { limit?: string; before?: string } }>(
    '/calls',
    { config: dialAnyoneRoute('other'), schema: extension('Calls, newest first', { querystring: ListQuery }) },
    async (request) => {
      const accountId = principalOf(request);
      const limit = Number(request.query.limit ?? 50);
      const before = request.query.before ? await calls.get(accountId, request.query.before) : undefined;
      const list = await calls.list(accountId, limit, before && { createdAt: before.createdAt, id: before.id });
      return { calls: list.map(detail), has_more: list.length === limit };
    },
  );
  app.post<{ Params: { callId: string } }>(
    '/calls/:callId/hangup',
    { config: dialAnyoneRoute('calls'), schema: extension('Hang up both legs of a call', { params: CallParams }) },
    async (request) => detail(await calls.hangup(principalOf(request), request.params.callId)),
  );
}
