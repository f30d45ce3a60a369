import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../core/services.js';
import type { RouteSettings } from '../types.js';
import {
  adminOperations,
  type AddCreditsBody,
  type AddNumberBody,
  type CreateAccountBody,
  type CreateAppBody,
  type CreateKeyBody,
  type UpdateAppBody,
} from './admin-operations.js';

const config = { dialplane: { auth: 'admin' } satisfies RouteSettings };
const security = [{ adminToken: [] }];
const tags = ['Admin'];

const AccountParams = Type.Object({ accountId: Type.String({ minLength: 1, maxLength: 64 }) });
const KeyParams = Type.Object({
  accountId: Type.String({ minLength: 1, maxLength: 64 }),
  keyId: Type.String({ minLength: 1, maxLength: 64 }),
});
const Text = (max: number) => Type.String({ minLength: 1, maxLength: max });

const CreateAccount = Type.Object(
  {
    name: Text(200),
    email: Text(320),
    first_name: Type.Optional(Type.String({ maxLength: 100 })),
    last_name: Type.Optional(Type.String({ maxLength: 100 })),
    job_title: Type.Optional(Type.String({ maxLength: 100 })),
  },
  { additionalProperties: false },
);
const CreateKey = Type.Object(
  {
    name: Text(100),
    permission: Type.Optional(Type.Union([Type.Literal('full'), Type.Literal('read_only')])),
    expires_at: Type.Optional(Type.Union([Type.String({ format: 'date-time' }), Type.Null()])),
  },
  { additionalProperties: false },
);
const AddNumber = Type.Object(
  {
    number: Text(40),
    type: Type.Union([Type.Literal('purchased'), Type.Literal('ported'), Type.Literal('outgoing_only')]),
    capabilities: Type.Optional(
      Type.Array(Type.Union([Type.Literal('voice'), Type.Literal('sms')]), { minItems: 1, uniqueItems: true }),
    ),
  },
  { additionalProperties: false },
);
const CreateApp = Type.Object(
  {
    name: Text(100),
    caller_id_allow_list: Type.Optional(Type.Array(Text(40), { maxItems: 1000 })),
    webhook_url: Type.Optional(Type.Union([Type.String({ maxLength: 2048 }), Type.Null()])),
    webhook_secret: Type.Optional(Type.Union([Type.String({ minLength: 16, maxLength: 256 }), Type.Null()])),
    application_id: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 64 }), Type.Null()])),
    country: Type.Optional(Type.String({ pattern: '^[A-Za-z]{2}$' })),
  },
  { additionalProperties: false },
);
const UpdateApp = Type.Object(
  {
    caller_id_allow_list: Type.Optional(Type.Array(Text(40), { maxItems: 1000 })),
    webhook_url: Type.Optional(Type.Union([Type.String({ maxLength: 2048 }), Type.Null()])),
    webhook_secret: Type.Optional(Type.Union([Type.String({ minLength: 16, maxLength: 256 }), Type.Null()])),
    application_id: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 64 }), Type.Null()])),
    country: Type.Optional(Type.String({ pattern: '^[A-Za-z]{2}$' })),
  },
  { additionalProperties: false },
);
const AppParams = Type.Object({
  accountId: Type.String({ minLength: 1, maxLength: 64 }),
  appId: Type.String({ minLength: 1, maxLength: 64 }),
});
const AddCredits = Type.Object(
  {
    amount: Type.Union([Type.Number({ exclusiveMinimum: 0 }), Type.String({ pattern: '^\\d{1,13}(\\.\\d{1,2})?$' })]),
    description: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);

type AccountReq = { Params: { accountId: string } };

/**
 * The admin API: the CLI (while a server runs) and the dashboard manage tenants through it, so the server's caches
 * see every change (a key revoked here stops working on the next request). Guarded by the admin token.
 */
export function registerAdminRoutes(app: FastifyInstance, services: Services): void {
  const ops = adminOperations(services);
  const opts = (summary: string, extra: Record<string, unknown> = {}) => ({
    config,
    schema: { tags, summary, security, ...extra },
  });

  app.get('/admin/v1/accounts', opts('List accounts'), async () => ops.listAccounts());
  app.post<{ Body: CreateAccountBody }>(
    '/admin/v1/accounts',
    opts('Create an account with its first (admin) user', { body: CreateAccount }),
    async (request, reply) => reply.status(201).send(await ops.createAccount(request.body)),
  );
  app.get<AccountReq>('/admin/v1/accounts/:accountId/keys', opts('List API keys', { params: AccountParams }), async (r) =>
    ops.listKeys(r.params.accountId),
  );
  app.post<AccountReq & { Body: CreateKeyBody }>(
    '/admin/v1/accounts/:accountId/keys',
    opts('Create an API key (the key is shown once)', { params: AccountParams, body: CreateKey }),
    async (request, reply) => reply.status(201).send(await ops.createKey(request.params.accountId, request.body)),
  );
  app.post<{ Params: { accountId: string; keyId: string } }>(
    '/admin/v1/accounts/:accountId/keys/:keyId/revoke',
    opts('Revoke an API key', { params: KeyParams }),
    async (request) => ops.revokeKey(request.params.accountId, request.params.keyId),
  );
  app.get<AccountReq>(
    '/admin/v1/accounts/:accountId/numbers',
    opts('List phone numbers', { params: AccountParams }),
    async (r) => ops.listNumbers(r.params.accountId),
  );
  app.post<AccountReq & { Body: AddNumberBody }>(
    '/admin/v1/accounts/:accountId/numbers',
    opts('Add a phone number', { params: AccountParams, body: AddNumber }),
    async (request, reply) => reply.status(201).send(await ops.addNumber(request.params.accountId, request.body)),
  );
  app.get<AccountReq>('/admin/v1/accounts/:accountId/apps', opts('List gateway apps (webhook secrets masked)', { params: AccountParams }), async (r) =>
    ops.listApps(r.params.accountId),
  );
  app.post<AccountReq & { Body: CreateAppBody }>(
    '/admin/v1/accounts/:accountId/apps',
    opts('Create a gateway app and its key', { params: AccountParams, body: CreateApp }),
    async (request, reply) => reply.status(201).send(await ops.createApp(request.params.accountId, request.body)),
  );
  app.patch<{ Params: { accountId: string; appId: string }; Body: UpdateAppBody }>(
    '/admin/v1/accounts/:accountId/apps/:appId',
    opts("Change a gateway app's caller-ID allow-list, webhook or application", { params: AppParams, body: UpdateApp }),
    async (request) => ops.updateApp(request.params.accountId, request.params.appId, request.body),
  );
  app.get<AccountReq>(
    '/admin/v1/accounts/:accountId/credits',
    opts('Credit balance and latest ledger entries', { params: AccountParams }),
    async (r) => ops.credits(r.params.accountId),
  );
  app.post<AccountReq & { Body: AddCreditsBody }>(
    '/admin/v1/accounts/:accountId/credits',
    opts('Add credits', { params: AccountParams, body: AddCredits }),
    async (request, reply) => reply.status(201).send(await ops.addCredits(request.params.accountId, request.body)),
  );
}
