import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../core/services.js';
import type { KeyWebhooksInput } from '../../core/key-webhooks.js';
import type { RouteSettings } from '../types.js';

const config = { dialplane: { auth: 'admin' } satisfies RouteSettings };
const security = [{ adminToken: [] }];
const tags = ['Admin: DialAnyone key webhooks'];
const Id = Type.String({ minLength: 1, maxLength: 64 });
const Url = Type.Union([Type.String({ minLength: 1, maxLength: 2048 }), Type.Null()]);
const Secret = Type.Union([Type.String({ maxLength: 256 }), Type.Null()]);

const KeyParams = Type.Object({ accountId: Id, keyId: Id });
const SetKeyWebhooks = Type.Object(
  {
    call_webhook_url: Type.Optional(Url),
    call_webhook_secret: Type.Optional(Secret),
    sms_webhook_url: Type.Optional(Url),
    sms_webhook_secret: Type.Optional(Secret),
    webhook_url: Type.Optional(Url),
    webhook_secret: Type.Optional(Secret),
  },
  { additionalProperties: false },
);

type KeyReq = { Params: { accountId: string; keyId: string } };

/**
 * An API key's webhook slots (call, SMS and legacy URLs with their secrets), what the DialAnyone document calls
 * "your API key settings", and its subscriptions, read-only. Secrets are masked in answers; the key's holder reads
 * them through GET /api/v1/webhooks/subscriptions.
 */
export function registerAdminKeyWebhookRoutes(app: FastifyInstance, services: Services): void {
  app.get<KeyReq>(
    '/admin/v1/accounts/:accountId/keys/:keyId/webhooks',
    { config, schema: { tags, security, summary: "An API key's DialAnyone webhook URLs and subscriptions", params: KeyParams } },
    async (request) => services.keyWebhooks.view(request.params.accountId, request.params.keyId),
  );
  app.put<KeyReq & { Body: KeyWebhooksInput }>(
    '/admin/v1/accounts/:accountId/keys/:keyId/webhooks',
    {
      config,
      schema: {
        tags,
        security,
        summary: "Set an API key's DialAnyone webhook URLs and secrets (fields left out stay; null clears)",
        params: KeyParams,
        body: SetKeyWebhooks,
      },
    },
    async (request) => services.keyWebhooks.set(request.params.accountId, request.params.keyId, request.body ?? {}),
  );
}
