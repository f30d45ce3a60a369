import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { PhoneNumber } from '../../../core/numbers.js';
import { minorToCredits } from '../../../core/money.js';
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
    '/api/v1/me',
    {
      config: dialAnyoneRoute('other'),
      schema: {
        tags: ['DialAnyone'],
        summary: 'Get user information: credit balance and phone numbers',
        security: [{ bearer: [] }],
        response: { 200: MeResponse, 401: ErrorBody, 429: ErrorBody },
      },
    },
    async (request): Promise<Static<typeof MeResponse>> => {
      const principal = request.principal;
      if (!principal) throw new DialplaneError('missing_credentials');
      const { accountId, userId } = principal;
      const [user, numbers, balance] = await Promise.all([
        userId ? services.accounts.user(accountId, userId) : services.accounts.owner(accountId),
        services.numbers.list(accountId),
        services.credits.balance(accountId),
      ]);
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
    },
  );
}
