import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { NumberRoute } from '../../core/extensions.js';
import type { Services } from '../../core/services.js';
import { DialplaneError } from '../../errors.js';
import { routeView } from '../admin/admin-extension-routes.js';
import {
  DIALPLANE_API_PREFIX,
  dialplaneRoute,
  dialplaneSecurity,
  dialplaneTags,
  dialplaneValidationError,
  errorResponses,
} from './policy.js';

const Id = (description: string) => Type.String({ minLength: 1, maxLength: 64, description });

const RouteBody = Type.Object(
  {
    application_id: Type.Optional(Id("the application whose call hook or program takes the number's calls")),
    extension_id: Type.Optional(Id("ring every registered device of this extension")),
    forward_to: Type.Optional(Type.String({ minLength: 1, maxLength: 40, description: 'forward to this number (E.164) through the trunk' })),
    answer: Type.Optional(Type.Literal(true, { description: 'Dialplane answers the calls itself' })),
    none: Type.Optional(Type.Literal(true, { description: 'ring nothing: calls are refused with 480' })),
  },
  { additionalProperties: false, description: 'exactly one of application_id, extension_id, forward_to, answer or none' },
);
type RouteBodyType = Static<typeof RouteBody>;

const ROUTE_FIELDS = ['application_id', 'extension_id', 'forward_to', 'answer', 'none'] as const;

const RouteSchema = Type.Object(
  {
    number: Type.String({ description: 'E.164' }),
    number_id: Type.String(),
    application_id: Type.Union([Type.String(), Type.Null()]),
    extension_id: Type.Union([Type.String(), Type.Null()]),
    forward_to: Type.Union([Type.String(), Type.Null()]),
    rings: Type.String({ enum: ['application', 'extension', 'forward', 'answer', 'none'], description: 'where calls to the number go' }),
  },
  { description: 'Where a number rings' },
);

/** Exactly one way to route; the first given beyond one is named as the field at fault. */
export function routeOfBody(body: RouteBodyType): NumberRoute {
  const given = ROUTE_FIELDS.filter((field) => body[field] !== undefined);
  if (given.length !== 1) {
    throw new DialplaneError('validation_failed', `give exactly one of ${ROUTE_FIELDS.join(', ')}`, {
      location: 'body',
      ...(given.length > 1 ? { field: given[1] } : {}),
    });
  }
  if (body.application_id !== undefined) return { applicationId: body.application_id };
  if (body.extension_id !== undefined) return { extensionId: body.extension_id };
  if (body.forward_to !== undefined) return { forwardTo: body.forward_to };
  if (body.answer === true) return { answer: true };
  return { none: true };
}

/** PUT /dialplane/v1/numbers/{number}/route: where one of the key's account's numbers rings. */
export function registerNumberRoutes(app: FastifyInstance, services: Services): void {
  app.put<{ Params: { number: string }; Body: RouteBodyType }>(
    `${DIALPLANE_API_PREFIX}/numbers/:number/route`,
    {
      config: dialplaneRoute(),
      schemaErrorFormatter: dialplaneValidationError,
      schema: {
        tags: dialplaneTags('numbers'),
        summary: 'Set where a number rings (URL-encode the +: %2B)',
        security: dialplaneSecurity,
        params: Type.Object({ number: Type.String({ minLength: 1, maxLength: 40, description: 'one of your numbers' }) }),
        body: RouteBody,
        response: { 200: RouteSchema, ...errorResponses(404) },
      },
    },
    async (request) => {
      if (!request.principal) throw new DialplaneError('missing_credentials');
      const routing = await services.extensions.route(request.principal.accountId, request.params.number, routeOfBody(request.body));
      return routeView(routing);
    },
  );
}
