import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../core/services.js';
import type { RouteSettings } from '../types.js';
import {
  webhookOperations,
  type CreateEndpointBody,
  type DeliveryQuery,
  type RotateSecretBody,
  type TestWebhookBody,
} from './admin-webhook-operations.js';

const config = { dialplane: { auth: 'admin' } satisfies RouteSettings };
const security = [{ adminToken: [] }];
const tags = ['Admin: webhooks'];
const Id = Type.String({ minLength: 1, maxLength: 64 });
const Url = Type.String({ minLength: 1, maxLength: 2048 });
const Secret = Type.String({ minLength: 16, maxLength: 256 });
const HeaderName = Type.String({ pattern: '^[A-Za-z0-9-]{1,64}$' });

const CreateEndpoint = Type.Object(
  {
    url: Url,
    event_types: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { minItems: 1, maxItems: 50 })),
    description: Type.Optional(Type.String({ maxLength: 200 })),
    secret: Type.Optional(Secret),
    signature_header: Type.Optional(Type.Union([HeaderName, Type.Null()])),
  },
  { additionalProperties: false },
);
const RotateSecret = Type.Object(
  { secret: Type.Optional(Secret), finish: Type.Optional(Type.Boolean()) },
  { additionalProperties: false },
);
const TestWebhook = Type.Object(
  { url: Url, secret: Type.Optional(Secret), signature_header: Type.Optional(Type.Union([HeaderName, Type.Null()])) },
  { additionalProperties: false },
);
const Deliveries = Type.Object(
  {
    account_id: Type.Optional(Id),
    endpoint_id: Type.Optional(Id),
    event_id: Type.Optional(Id),
    status: Type.Optional(
      Type.Union(['pending', 'delivering', 'delivered', 'failed', 'cancelled'].map((s) => Type.Literal(s))),
    ),
    limit: Type.Optional(Type.String({ pattern: '^([1-9][0-9]{0,1}|[1-4][0-9]{2}|500)$', description: '1 to 500' })),
  },
  { additionalProperties: false },
);

type AccountReq = { Params: { accountId: string } };
type EndpointReq = { Params: { accountId: string; endpointId: string } };
type DeliveryReq = { Params: { deliveryId: string } };

/** Webhook endpoints, the delivery log (every attempt), re-sends and test deliveries. */
export function registerAdminWebhookRoutes(app: FastifyInstance, services: Services): void {
  const ops = webhookOperations(services);
  const opts = (summary: string, extra: Record<string, unknown> = {}) => ({
    config,
    schema: { tags, summary, security, ...extra },
  });
  const AccountParams = Type.Object({ accountId: Id });
  const EndpointParams = Type.Object({ accountId: Id, endpointId: Id });
  const DeliveryParams = Type.Object({ deliveryId: Id });

  app.get<AccountReq>(
    '/admin/v1/accounts/:accountId/webhooks/endpoints',
    opts('List webhook endpoints (secrets masked)', { params: AccountParams }),
    async (r) => ops.listEndpoints(r.params.accountId),
  );
  app.post<AccountReq & { Body: CreateEndpointBody }>(
    '/admin/v1/accounts/:accountId/webhooks/endpoints',
    opts('Add a webhook endpoint (the secret is shown once)', { params: AccountParams, body: CreateEndpoint }),
    async (r, reply) => reply.status(201).send(await ops.createEndpoint(r.params.accountId, r.body)),
  );
  app.delete<EndpointReq>(
    '/admin/v1/accounts/:accountId/webhooks/endpoints/:endpointId',
    opts('Delete a webhook endpoint; its pending deliveries are cancelled', { params: EndpointParams }),
    async (r) => ops.deleteEndpoint(r.params.accountId, r.params.endpointId),
  );
  app.post<EndpointReq>(
    '/admin/v1/accounts/:accountId/webhooks/endpoints/:endpointId/enable',
    opts('Enable a webhook endpoint (after a 410 disabled it)', { params: EndpointParams }),
    async (r) => ops.setEndpointEnabled(r.params.accountId, r.params.endpointId, true),
  );
  app.post<EndpointReq>(
    '/admin/v1/accounts/:accountId/webhooks/endpoints/:endpointId/disable',
    opts('Disable a webhook endpoint', { params: EndpointParams }),
    async (r) => ops.setEndpointEnabled(r.params.accountId, r.params.endpointId, false),
  );
  app.post<EndpointReq & { Body: RotateSecretBody }>(
    '/admin/v1/accounts/:accountId/webhooks/endpoints/:endpointId/rotate-secret',
    opts('Rotate the signing secret (both sign until finish: true)', { params: EndpointParams, body: RotateSecret }),
    async (r) => ops.rotateEndpointSecret(r.params.accountId, r.params.endpointId, r.body ?? {}),
  );
  app.post<AccountReq & { Body: TestWebhookBody }>(
    '/admin/v1/accounts/:accountId/webhooks/test',
    opts('Send a test event to a URL now and report the outcome', { params: AccountParams, body: TestWebhook }),
    async (r) => ops.testWebhook(r.params.accountId, r.body),
  );
  app.get<{ Querystring: DeliveryQuery }>(
    '/admin/v1/webhooks/deliveries',
    opts('The delivery log, newest first', { querystring: Deliveries }),
    async (r) => ops.listDeliveries(r.query),
  );
  app.get<DeliveryReq>(
    '/admin/v1/webhooks/deliveries/:deliveryId',
    opts('A delivery with its payload and every attempt', { params: DeliveryParams }),
    async (r) => ops.getDelivery(r.params.deliveryId),
  );
  app.post<DeliveryReq>(
    '/admin/v1/webhooks/deliveries/:deliveryId/resend',
    opts('Send a delivery again (same event id and body)', { params: DeliveryParams }),
    async (r, reply) => reply.status(201).send(await ops.resendDelivery(r.params.deliveryId)),
  );
}
