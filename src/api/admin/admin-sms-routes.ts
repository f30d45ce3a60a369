import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { minorToCredits } from '../../core/money.js';
import { normalizePhoneNumber } from '../../core/phone-number.js';
import type { Services } from '../../core/services.js';
import type { SmsMessage, SmsStatusEvent } from '../../core/sms.js';
import type { RouteSettings } from '../types.js';

const config = { dialplane: { auth: 'admin' } satisfies RouteSettings };
const security = [{ adminToken: [] }];
const tags = ['Admin: SMS'];
const Id = Type.String({ minLength: 1, maxLength: 64 });
const Number = Type.String({ minLength: 1, maxLength: 40 });

export function smsView(m: SmsMessage) {
  return {
    id: m.id,
    direction: m.direction,
    from: m.from,
    to: m.to,
    message: m.body,
    encoding: m.encoding,
    segments: m.segments,
    status: m.status,
    cost: minorToCredits(m.priceMinor),
    error_code: m.errorCode,
    created_at: m.createdAt,
    sent_at: m.sentAt,
    completed_at: m.completedAt,
  };
}

function historyView(e: SmsStatusEvent) {
  return { status: e.status, at: e.at, error_code: e.errorCode };
}

const SendSms = Type.Object(
  { from: Number, to: Number, message: Type.String({ minLength: 1, maxLength: 1_600 }) },
  { additionalProperties: false },
);
const SmsIn = Type.Object(
  { from: Number, to: Number, message: Type.String({ minLength: 1, maxLength: 1_600 }) },
  { additionalProperties: false },
);

/** SMS through the admin API: what `dialplane sms` uses. */
export function registerAdminSmsRoutes(app: FastifyInstance, services: Services): void {
  const opts = (summary: string, extra: Record<string, unknown> = {}) => ({ config, schema: { tags, security, summary, ...extra } });
  app.post<{ Params: { accountId: string }; Body: { from: string; to: string; message: string } }>(
    '/admin/v1/accounts/:accountId/sms',
    opts('Send an SMS (charged per segment when accepted)', { params: Type.Object({ accountId: Id }), body: SendSms }),
    async (request, reply) => {
      await services.accounts.get(request.params.accountId);
      const { from, to, message } = request.body;
      const sent = await services.sms.send(request.params.accountId, { from, to, body: message });
      return reply.status(201).send({ message: smsView(sent) });
    },
  );
  app.get<{ Params: { accountId: string } }>(
    '/admin/v1/accounts/:accountId/sms',
    opts('Latest messages, both directions', { params: Type.Object({ accountId: Id }) }),
    async (request) => {
      await services.accounts.get(request.params.accountId);
      return { messages: (await services.sms.list(request.params.accountId, 100)).map(smsView) };
    },
  );
  app.get<{ Params: { accountId: string; messageId: string } }>(
    '/admin/v1/accounts/:accountId/sms/:messageId',
    opts('A message and its status history', { params: Type.Object({ accountId: Id, messageId: Id }) }),
    async (request) => {
      const { accountId, messageId } = request.params;
      const message = await services.sms.get(accountId, messageId);
      return { message: smsView(message), history: (await services.sms.history(accountId, messageId)).map(historyView) };
    },
  );
}

/** Only while the dev SMSC runs: the simulated network sends an SMS to one of our numbers. */
export function registerDevSmsRoutes(
  app: FastifyInstance,
  services: Services,
  smsIn: (input: { from: string; to: string; text: string }) => Promise<{ parts: number }>,
): void {
  app.post<{ Body: { from: string; to: string; message: string } }>(
    '/admin/v1/dev/sms-in',
    { config, schema: { tags: ['Admin'], security, summary: 'The dev SMSC delivers an SMS to one of our numbers', body: SmsIn } },
    async (request) => {
      const from = normalizePhoneNumber(request.body.from, services.defaultCountry, 'from');
      const to = normalizePhoneNumber(request.body.to, services.defaultCountry, 'to');
      const result = await smsIn({ from, to, text: request.body.message });
      return { from, to, parts: result.parts };
    },
  );
}
