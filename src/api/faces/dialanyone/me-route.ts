import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { PhoneNumber } from '../../../core/numbers.js';
import { minorToCredits } from '../../../core/money.js';
import type { AccountSummary } from '../../../core/account-summary.js';
import type { Services } from '../../../core/services.js';
import { DialplaneError } from '../../../errors.js';
import { dialAnyoneRoute, documentTime } from './policy.js';

const NumberEntry = Type.Object({
  id: Type.String(),
  number: Type.String(),
  capabilities: Type.Array(Type.String()),
  created_at: Type.String(),
});

const MeResponse = Type.Object({
  email: Type.String(),
  user: Type.Object({ id: Type.String(), email: Type.String(), credits_balance: Type.Number() }),
  phone_numbers: Type.Object({
    purchased: Type.Array(NumberEntry),
    ported: Type.Array(NumberEntry),
    outgoing_only: Type.Array(NumberEntry),
  }),
  totals: Type.Object({
    total_numbers: Type.Integer(),
    purchased_count: Type.Integer(),
    ported_count: Type.Integer(),
    outgoing_only_count: Type.Integer(),
  }),
});

const ErrorBody = Type.Object({
  error: Type.Object({ code: Type.String(), message: Type.String(), details: Type.Optional(Type.Unknown()) }),
});

function entry(number: PhoneNumber): Static<typeof NumberEntry> {
  return { id: number.id, number: number.number, capabilities: [...number.capabilities], created_at: documentTime(number.createdAt) };
}

/** GET /api/v1/me: the caller's user, spendable credits and numbers by type, exactly in the document's shape. */
export function registerMeRoute(app: FastifyInstance, services: Services): void {
  app.get(
    '/me',
    {
      config: dialAnyoneRoute('other'),
      schema: {
        tags: ['DialAnyone'],
        summary: 'Get user information: credit balance and phone numbers',
        security: [{ bearer: [] }],
        response: { 200: MeResponse, 401: ErrorBody, 429: ErrorBody },
      },
    },
    async (request, reply) => {
      const principal = request.principal;
      if (!principal) throw new DialplaneError('missing_credentials');
      const summary = await services.summaries.get(principal.accountId);
      // The body depends only on the summary and the user: render it once per summary (a new summary object is made
      // whenever the account changes) instead of on every request of the most frequent call.
      let rendered = renderedBodies.get(summary);
      if (!rendered) renderedBodies.set(summary, (rendered = new Map()));
      const userKey = principal.userId ?? '';
      let body = rendered.get(userKey);
      if (body === undefined) {
        body = JSON.stringify(render(summary, principal.userId));
        rendered.set(userKey, body);
      }
      return reply.type('application/json; charset=utf-8').send(body);
    },
  );
}

const renderedBodies = new WeakMap<AccountSummary, Map<string, string>>();

function render({ users, numbers, balance }: AccountSummary, userId: string | null): Static<typeof MeResponse> {
  // A key made for a user speaks for that user; any other key for the account's first admin.
  const user = userId ? users.find((u) => u.id === userId) : (users.find((u) => u.admin) ?? users[0]);
  if (!user) throw new DialplaneError('not_found', 'user not found');
  const purchased = numbers.filter((n) => n.type === 'purchased').map(entry);
  const ported = numbers.filter((n) => n.type === 'ported').map(entry);
  const outgoingOnly = numbers.filter((n) => n.type === 'outgoing_only').map(entry);
  return {
    email: user.email,
    user: { id: user.id, email: user.email, credits_balance: minorToCredits(balance.availableMinor) },
    phone_numbers: { purchased, ported, outgoing_only: outgoingOnly },
    totals: {
      total_numbers: numbers.length,
      purchased_count: purchased.length,
      ported_count: ported.length,
      outgoing_only_count: outgoingOnly.length,
    },
  };
}
