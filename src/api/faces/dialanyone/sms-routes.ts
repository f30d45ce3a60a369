import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { minorToCredits } from '../../../core/money.js';
import type { Services } from '../../../core/services.js';
import type { SmsMessage } from '../../../core/sms.js';
import { DialplaneError } from '../../../errors.js';
import { dialAnyoneRoute, documentTime } from './policy.js';

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
export function registerSmsReadRoutes(app: FastifyInstance, services: Services): void {
  const schema = (summary: string, extra: Record<string, unknown> = {}) => ({
    tags: ['DialAnyone (extensions)'],
    summary,
    security: [{ bearer: [] }],
    ...extra,
  });
  app.get<{ Params: { messageId: string } }>(
    '/api/v1/sms/:messageId',
    { config: dialAnyoneRoute('other'), schema: schema('An SMS and its delivery status', { params: Type.Object({ messageId: Type.String({ minLength: 1, maxLength: 64 }) }) }) },
    async (request) => {
      const principal = request.principal;
      if (!principal) throw new DialplaneError('missing_credentials');
      return dialAnyoneSms(await services.sms.get(principal.accountId, request.params.messageId));
    },
  );
  app.get<{ Querystring: { limit?: string; before?: string } }>(
    '/api/v1/sms',
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
