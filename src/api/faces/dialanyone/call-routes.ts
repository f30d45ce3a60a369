import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { CallControl, CallView } from '../../../core/calls/call-control.js';
import type { Call } from '../../../core/calls/call-service.js';
import { minorToCredits } from '../../../core/money.js';
import { isE164 } from '../../../core/phone-number.js';
import type { Services } from '../../../core/services.js';
import { DialplaneError, isDialplaneError } from '../../../errors.js';
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

/** How the document names a call's progress. */
type Status = 'initiating' | 'ringing_user' | 'connecting' | 'in_progress' | 'completed' | 'busy' | 'no_answer' | 'failed' | 'canceled';

/** What the face stores with a call it placed: the document's two numbers and its per-minute estimate. */
interface Particulars {
  readonly user_number: string;
  readonly target_number: string;
  readonly per_minute_minor: number;
}

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

function particulars(call: Call): Particulars | undefined {
  const value = call.metadata?.dialanyone as Particulars | undefined;
  return value && typeof value.user_number === 'string' ? value : undefined;
}

/** A call in the document's terms: its status, the user's side and the target, the per-minute estimate, the cost. */
export interface DocumentCall {
  readonly id: string;
  readonly status: Status;
  readonly userNumber: string;
  readonly targetNumber: string;
  readonly user: Call;
  readonly target: Call | undefined;
  readonly perMinuteMinor: number;
  readonly costMinor: number | null;
  readonly createdAt: string;
}

/**
 * Any call in the document's terms. A call placed through POST /calls is the user's side (the first leg, or the
 * device of it that answered) and the target (the leg dialled to target_number). Any other call — inbound, or placed
 * by `dialplane call` or another API — is shown as it is: its caller as user_number, the number called as
 * target_number, its one leg as the user's side.
 */
export function documentCall(view: CallView): DocumentCall {
  const { call, legs } = view;
  const own = particulars(call);
  const all = [call, ...legs];
  let user = call;
  let target: Call | undefined;
  if (own) {
    target = legs.find((leg) => leg.to === own.target_number);
    user = all.filter((leg) => leg !== target).find((leg) => leg.answeredAt !== null) ?? call;
  }
  return {
    id: call.id,
    status: own ? twoLegStatus(user, target) : oneLegStatus(call),
    userNumber: own?.user_number ?? call.from,
    targetNumber: own?.target_number ?? call.to,
    user,
    target,
    perMinuteMinor: own?.per_minute_minor ?? all.reduce((sum, leg) => sum + (leg.priceMinor ?? 0), 0),
    costMinor: view.costMinor,
    createdAt: call.createdAt,
  };
}

function documentView(view: CallView) {
  const call = documentCall(view);
  return {
    call_id: call.id,
    status: call.status,
    user_number: call.userNumber,
    target_number: call.targetNumber,
    estimated_cost_per_minute: minorToCredits(call.perMinuteMinor),
    cost: call.costMinor === null ? null : minorToCredits(call.costMinor),
    created_at: documentTime(call.createdAt),
    legs: { user: legView(call.user), target: legView(call.target) },
  };
}

/**
 * The document's call as a call-control program: ring what user_number reaches (its extension's phones, its
 * forward number, or itself), then `dial` target_number with user_number as caller ID, bridged. The first minute of
 * both legs is reserved before anything is dialled.
 */
export async function placeDocumentCall(
  services: Services,
  calls: CallControl,
  accountId: string,
  request: { readonly userNumber: string; readonly targetNumber: string; readonly ringTimeoutS?: number },
): Promise<DocumentCall> {
  const userNumber = e164(request.userNumber, 'user_number');
  const targetNumber = e164(request.targetNumber, 'target_number');
  if (userNumber === targetNumber) {
    throw new DialplaneError('validation_failed', 'target_number must differ from user_number', { field: 'target_number' });
  }
  const [userPrice, targetPrice] = await Promise.all([
    services.prices.lookup('voice', accountId, userNumber),
    services.prices.lookup('voice', accountId, targetNumber),
  ]);
  const own: Particulars = { user_number: userNumber, target_number: targetNumber, per_minute_minor: userPrice + targetPrice };
  const timeout = request.ringTimeoutS;
  const call = await calls
    .start(accountId, {
      from: userNumber,
      to: await calls.reachOfNumber(accountId, userNumber),
      program: [{ verb: 'dial', target: [{ type: 'phone', number: targetNumber }], callerId: userNumber, ...(timeout ? { timeout } : {}) }],
      prepayFor: [userNumber, targetNumber],
      metadata: { dialanyone: own },
      ...(timeout ? { ringTimeoutS: timeout } : {}),
    })
    .catch((error: unknown) => {
      throw asDocumentField(error);
    });
  return { ...documentCall({ call, legs: [], activities: [], gathered: [], updatedAt: call.updatedAt, recordings: [], costMinor: null, live: true }), status: 'initiating' };
}

function failed(leg: Call): Status {
  return leg.outcome === 'busy' ? 'busy' : leg.outcome === 'no_answer' ? 'no_answer' : leg.outcome === 'canceled' ? 'canceled' : 'failed';
}

function twoLegStatus(user: Call, target: Call | undefined): Status {
  if (target === undefined) {
    if (user.state === 'ended') return user.answeredAt !== null ? 'failed' : failed(user);
    if (user.state === 'answered') return 'connecting';
    return user.state === 'ringing' || user.state === 'early_media' ? 'ringing_user' : 'initiating';
  }
  if (target.answeredAt !== null) return user.state === 'ended' && target.state === 'ended' ? 'completed' : 'in_progress';
  if (target.state === 'ended') return failed(target);
  return 'connecting';
}

function oneLegStatus(call: Call): Status {
  if (call.state === 'ended') return call.answeredAt !== null ? 'completed' : failed(call);
  if (call.state === 'answered') return 'in_progress';
  return call.state === 'ringing' || call.state === 'early_media' ? 'ringing_user' : 'initiating';
}

function e164(value: string, field: string): string {
  if (!isE164(value)) throw new DialplaneError('invalid_phone_number', `${field} must be an E.164 number such as +14155551234`, { field });
  return value;
}

/** Core names the caller ID `from`; the document calls it user_number. */
function asDocumentField(error: unknown): unknown {
  if (isDialplaneError(error) && error.details?.field === 'from') {
    return new DialplaneError(error.code, error.message.replace(/^from /, 'user_number '), { ...error.details, field: 'user_number' });
  }
  return error;
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
 * POST /api/v1/calls as documented, as a call-control program: ring what user_number reaches (its extension's
 * phones, its forward number, or itself), then `dial` target_number with user_number as caller ID and bridge. The
 * first minute of both legs is reserved before anything is dialled. GET /api/v1/calls/{id}, GET /api/v1/calls and
 * POST /api/v1/calls/{id}/hangup are extensions (docs/dialanyone.md).
 */
export function registerCallRoutes(app: FastifyInstance, services: Services, calls: CallControl): void {
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
      const call = await placeDocumentCall(services, calls, principalOf(request), {
        userNumber: request.body.user_number,
        targetNumber: request.body.target_number,
      });
      return reply.status(201).send({
        call_id: call.id,
        status: call.status,
        user_number: call.userNumber,
        target_number: call.targetNumber,
        estimated_cost_per_minute: minorToCredits(call.perMinuteMinor),
        created_at: documentTime(call.createdAt),
      });
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
    async (request) => documentView(await calls.view(principalOf(request), request.params.callId)),
  );
  app.get<{ Querystring: { limit?: string; before?: string } }>(
    '/calls',
    { config: dialAnyoneRoute('other'), schema: extension('Calls, newest first', { querystring: ListQuery }) },
    async (request) => {
      const accountId = principalOf(request);
      const limit = Number(request.query.limit ?? 50);
      const before = request.query.before ? await services.calls.get(accountId, request.query.before) : undefined;
      const list = await services.calls.listTop(accountId, limit, before && { createdAt: before.createdAt, id: before.id });
      const views = await Promise.all(list.map((call) => calls.view(accountId, call.id)));
      return { calls: views.map(documentView), has_more: list.length === limit };
    },
  );
  app.post<{ Params: { callId: string } }>(
    '/calls/:callId/hangup',
    { config: dialAnyoneRoute('calls'), schema: extension('Hang up both legs of a call', { params: CallParams }) },
    async (request) => documentView(await calls.hangup(principalOf(request), request.params.callId)),
  );
}
