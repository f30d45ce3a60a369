import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { apiKeyResource } from '../../../core/query/resources.js';
import type { Services } from '../../../core/services.js';
import { dialLinkRoute, listQuery, principalOf } from './policy.js';
import { apiKeyBody, meBody, page } from './render.js';

const tags = ['DialLink account hub'];
const security: Array<Record<string, string[]>> = [{ apiKeyHeader: [] }, { bearer: [] }];

const CreateKeyRequest = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 100, description: 'A user-friendly key name' }),
  enabled: Type.Boolean({ description: 'The key status' }),
});

/** GET /users/me, as the account hub serves it and as the document names it at the root. */
export function registerMeRoute(app: FastifyInstance, services: Services, path: string): void {
  app.get(path, { config: dialLinkRoute, schema: { tags, summary: 'The caller and its permissions', security } }, async (request) => {
    const principal = principalOf(request);
    return meBody(await services.directory.me(principal), principal);
  });
}

/** /v1/account-hub: API keys (the key appears in full only in the creation response) and the caller. */
export function registerAccountHubRoutes(app: FastifyInstance, services: Services): void {
  app.get(
    '/api-keys',
    { config: dialLinkRoute, schema: { tags, summary: 'Retrieve API keys (paging, sorting, filtering)', security } },
    async (request) => page(await services.directory.apiKeys(principalOf(request).accountId, listQuery(request, apiKeyResource)), (k) => apiKeyBody(k)),
  );
  app.post<{ Body: Static<typeof CreateKeyRequest> }>(
    '/api-keys',
    { config: dialLinkRoute, schema: { tags, summary: 'Create an API key', security, body: CreateKeyRequest } },
    async (request, reply) => {
      const { key, token } = await services.directory.createApiKey(principalOf(request), request.body);
      return reply.status(201).send(apiKeyBody(key, token));
    },
  );
  app.get<{ Params: { id: string } }>(
    '/api-keys/:id',
    { config: dialLinkRoute, schema: { tags, summary: 'Get an API key', security } },
    async (request) => apiKeyBody(await services.directory.apiKey(principalOf(request).accountId, request.params.id)),
  );
  registerMeRoute(app, services, '/users/me');
}
