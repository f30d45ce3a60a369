import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifySchemaValidationError } from 'fastify';
import { minorToCredits } from '../../../core/money.js';
import type { Services } from '../../../core/services.js';
import type { SmsMessage } from '../../../core/sms.js';
import { DialplaneError, isDialplaneError } from '../../../errors.js';
import { dialAnyoneRoute, documentTime } from './policy.js';
import { describeViolation, type SchemaViolation } from '../../validation-message.js';

/**
 * A message in the shape of the document's POST /api/v1/sms response, with what a later look adds: the body, the
 * direction and when it was sent and completed.
 */
export function dialAnyoneSms(message: SmsMessage) {
  return {
    message_id: message.id,
    status: message.status,
    direction: message.direction,
    from: message.from,
    to: message.to,
    body: message.body,
    segments: message.segments,
    estimated_cost: minorToCredits(message.priceMinor),
    error_code: message.errorCode,
    created_at: documentTime(message.createdAt),
    sent_at: message.sentAt === null ? null : documentTime(message.sentAt),
    completed_at: message.completedAt === null ? null : documentTime(message.completedAt),
  };
}

/** The longest body accepted, in UTF-16 code units, as the SMS service counts them. */
const MAX_BODY = 1_600;

/**
 * The largest request POST /api/v1/sms reads: the longest body written entirely as JSON \uXXXX escapes (6 bytes a
 * unit) and two numbers fit well within it. Larger requests are refused with 413 before they are parsed.
 */
const SEND_BODY_LIMIT = 16_384;

/** How long POST /api/v1/sms waits for the SMSC to accept the message before answering with it still queued. */
const SEND_WAIT_MS = 1_000;

const E164_PATTERN = '^\\+[1-9][0-9]{6,14}$';

const PhoneNumberField = (description: string) => Type.String({ pattern: E164_PATTERN, maxLength: 16, description });

const SendSmsRequest = Type.Object(
  {
    from: PhoneNumberField('one of your numbers with the sms capability, in E.164 (+14155551234)'),
    to: PhoneNumberField('the recipient, in E.164 (+14155555678)'),
    body: Type.String({ minLength: 1, maxLength: MAX_BODY, description: 'the text; sent in as many segments as it needs (at most 10)' }),
  },
  { additionalProperties: false },
);

const SendSmsResponse = Type.Object(
  {
    message_id: Type.String(),
    status: Type.String({
      enum: ['sent', 'queued', 'failed'],
      description: 'sent: the SMSC accepted every segment; queued: it had not answered yet (follow with GET /api/v1/sms/{message_id}); failed: it refused the message (the charge is refunded)',
    }),
    from: Type.String(),
    to: Type.String(),
    segments: Type.Integer(),
    estimated_cost: Type.Number({ description: 'credits: segments times the price of a segment' }),
    created_at: Type.String(),
  },
  { additionalProperties: false },
);

const ErrorBody = Type.Object({
  error: Type.Object({ code: Type.String(), message: Type.String(), details: Type.Optional(Type.Unknown()) }),
});

const errorResponses = Object.fromEntries([400, 401, 402, 403, 413, 415, 429, 503].map((status) => [status, ErrorBody]));

type SendSmsBody = Static<typeof SendSmsRequest>;

/**
 * Turns the first schema violation of a POST /api/v1/sms request into the face's error naming the field: an unknown
 * field, a missing one, a wrong type, a number that is not E.164, a body of the wrong length.
 */
function sendSmsValidationError(errors: FastifySchemaValidationError[], dataVar: 'body' | 'headers' | 'params' | 'querystring'): DialplaneError {
  const first = errors[0];
  const params = (first?.params ?? {}) as { missingProperty?: string; additionalProperty?: string };
  const path = (first?.instancePath ?? '').replace(/^\//, '').replaceAll('/', '.');
  const at = (field: string) => ({ location: dataVar, field });
  if (dataVar !== 'body' || !first) {
    const { field, message } = describeViolation(errors as readonly SchemaViolation[], dataVar);
    return new DialplaneError('validation_failed', message, { location: dataVar, ...(field ? { field } : {}) });
  }
  if (path === '') {
    if (first.keyword === 'required' && params.missingProperty) {
      return new DialplaneError('validation_failed', `${params.missingProperty} is required`, at(params.missingProperty));
    }
    if (first.keyword === 'additionalProperties' && params.additionalProperty) {
      return new DialplaneError(
        'validation_failed',
        `unknown field ${params.additionalProperty}: the request takes from, to and body`,
        at(params.additionalProperty),
      );
    }
    return new DialplaneError('validation_failed', 'the request body must be a JSON object with from, to and body', { location: dataVar });
  }
  if (first.keyword === 'type') return new DialplaneError('validation_failed', `${path} must be a string`, at(path));
  if (path === 'from' || path === 'to') {
    return new DialplaneError('invalid_phone_number', `${path} must be an E.164 phone number: a + and 7 to 15 digits, like +14155551234`, at(path));
  }
  if (path === 'body') return new DialplaneError('validation_failed', `body must be 1 to ${MAX_BODY} characters`, at(path));
  return new DialplaneError('validation_failed', describeViolation(errors as readonly SchemaViolation[], dataVar).message, at(path));
}

/** The SMS service names the text `message`; this face's document calls it `body`. */
function inFaceTerms(error: unknown): unknown {
  if (!isDialplaneError(error) || error.details?.field !== 'message') return error;
  return new DialplaneError(error.code, error.message.replace(/^message\b/, 'body'), { location: 'body', ...error.details, field: 'body' }, { ...error.headers });
}

/**
 * The document's status once the SMSC answered, or the wait ran out: `sent` when every segment was accepted (later
 * receipts, delivered or not, do not change that it was sent), `failed` when the SMSC refused it, `queued` when it
 * has not answered within the wait.
 */
async function sendingOutcome(services: Services, message: SmsMessage): Promise<'sent' | 'queued' | 'failed'> {
  const current = await services.sms.whenSubmitted(message.accountId, message.id, SEND_WAIT_MS);
  if (current.status === 'queued') return 'queued';
  return current.status === 'failed' ? 'failed' : 'sent';
}

/** POST /api/v1/sms: sends from one of the account's numbers, charged per segment, answered in the document's shape. */
function registerSendSmsRoute(app: FastifyInstance, services: Services): void {
  app.post<{ Body: SendSmsBody }>(
    '/sms',
    {
      config: dialAnyoneRoute('sms'),
      bodyLimit: Math.min(app.initialConfig.bodyLimit ?? SEND_BODY_LIMIT, SEND_BODY_LIMIT),
      schemaErrorFormatter: sendSmsValidationError,
      schema: {
        tags: ['DialAnyone'],
        summary: 'Send SMS from one of your numbers, charged per segment',
        security: [{ bearer: [] }],
        body: SendSmsRequest,
        response: { 201: SendSmsResponse, ...errorResponses },
      },
    },
    async (request, reply) => {
      const principal = request.principal;
      if (!principal) throw new DialplaneError('missing_credentials');
      const { from, to, body } = request.body;
      let message: SmsMessage;
      try {
        message = await services.sms.send(principal.accountId, { from, to, body });
      } catch (error) {
        throw inFaceTerms(error);
      }
      const status = await sendingOutcome(services, message);
      const answer: Static<typeof SendSmsResponse> = {
        message_id: message.id,
        status,
        from: message.from,
        to: message.to,
        segments: message.segments,
        estimated_cost: minorToCredits(message.priceMinor),
        created_at: documentTime(message.createdAt),
      };
      return reply.status(201).send(answer);
    },
  );
}

/** Every SMS route of the face: the document's POST /api/v1/sms and the extensions that read messages back. */
export function registerSmsRoutes(app: FastifyInstance, services: Services): void {
  registerSendSmsRoute(app, services);
  registerReadRoutes(app, services);
}

const ListQuery = Type.Object(
  {
    limit: Type.Optional(Type.String({ pattern: '^([1-9]|[1-9][0-9]|100)$', description: '1 to 100, default 50' })),
    before: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'a message_id: list the ones older than it' })),
  },
  { additionalProperties: false },
);

/**
 * Beyond the document (its extensions, listed in docs/dialanyone.md): reading a message back and listing them, so a
 * client can follow the delivery status of what it sent and read what it received.
 */
function registerReadRoutes(app: FastifyInstance, services: Services): void {
  const schema = (summary: string, extra: Record<string, unknown> = {}) => ({
    tags: ['DialAnyone (extensions)'],
    summary,
    security: [{ bearer: [] }],
    ...extra,
  });
  app.get<{ Params: { messageId: string } }>(
    '/sms/:messageId',
    { config: dialAnyoneRoute('other'), schema: schema('An SMS and its delivery status', { params: Type.Object({ messageId: Type.String({ minLength: 1, maxLength: 64 }) }) }) },
    async (request) => {
      const principal = request.principal;
      if (!principal) throw new DialplaneError('missing_credentials');
      return dialAnyoneSms(await services.sms.get(principal.accountId, request.params.messageId));
    },
  );
  app.get<{ Querystring: { limit?: string; before?: string } }>(
    '/sms',
    { config: dialAnyoneRoute('other'), schema: schema('SMS sent and received, newest first', { querystring: ListQuery }) },
    async (request) => {
      const principal = request.principal;
      if (!principal) throw new DialplaneError('missing_credentials');
      const limit = Number(request.query.limit ?? 50);
      const before = request.query.before ? await services.sms.get(principal.accountId, request.query.before) : undefined;
      const messages = await services.sms.list(principal.accountId, limit, before && { createdAt: before.createdAt, id: before.id });
      return { messages: messages.map(dialAnyoneSms), has_more: messages.length === limit };
    },
  );
}
