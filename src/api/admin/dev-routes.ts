import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { CallInResult } from '../../carriers/dev-carrier.js';
import { normalizePhoneNumber } from '../../core/phone-number.js';
import type { Services } from '../../core/services.js';
import type { RouteSettings } from '../types.js';

const config = { dialplane: { auth: 'admin' } satisfies RouteSettings };

const CallIn = Type.Object(
  {
    from: Type.String({ minLength: 1, maxLength: 40 }),
    to: Type.String({ minLength: 1, maxLength: 40 }),
    hold_s: Type.Optional(Type.Number({ minimum: 0, maximum: 600 })),
  },
  { additionalProperties: false },
);

/** Only while the dev carrier runs: make the simulated network call one of our numbers. */
export function registerDevRoutes(
  app: FastifyInstance,
  services: Services,
  callIn: (input: { from: string; to: string; holdMs: number }) => Promise<CallInResult>,
): void {
  app.post<{ Body: { from: string; to: string; hold_s?: number } }>(
    '/admin/v1/dev/call-in',
    {
      config,
      schema: { tags: ['Admin'], security: [{ adminToken: [] }], summary: 'The dev carrier calls one of our numbers', body: CallIn },
    },
    async (request) => {
      const from = normalizePhoneNumber(request.body.from, services.defaultCountry, 'from');
      const to = normalizePhoneNumber(request.body.to, services.defaultCountry, 'to');
      const result = await callIn({ from, to, holdMs: Math.round((request.body.hold_s ?? 2) * 1000) });
      return {
        from,
        to,
        answered: result.answered,
        sip_status: result.status ?? null,
        sip_reason: result.reason,
        ended_by: result.endedBy ?? null,
        duration_ms: result.durationMs,
      };
    },
  );
}
