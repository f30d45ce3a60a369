import type { FastifyInstance, FastifyRequest } from 'fastify';
import { callResource, recordingResource, userResource } from '../../../core/query/resources.js';
import type { Services } from '../../../core/services.js';
import { registerContactRoutes } from './contact-routes.js';
import { dialLinkRoute, listQuery, principalOf } from './policy.js';
import { callBody, page, recordingBody, userBody } from './render.js';

const tags = ['DialLink phone system'];
const security: Array<Record<string, string[]>> = [{ apiKeyHeader: [] }, { bearer: [] }];

function baseUrl(request: FastifyRequest): string {
  return `${request.protocol}://${request.host}`;
}

/** /v1/phone-system: users, contacts, calls (the one call model) and their recordings. */
export function registerPhoneSystemRoutes(app: FastifyInstance, services: Services): void {
  app.get('/users', { config: dialLinkRoute, schema: { tags, summary: 'List users', security } }, async (request) =>
    page(await services.directory.users(principalOf(request).accountId, listQuery(request, userResource)), userBody),
  );
  registerContactRoutes(app, services);
  app.get('/calls', { config: dialLinkRoute, schema: { tags, summary: 'List calls (direction=inbound|outbound, ...)', security } }, async (request) =>
    page(await services.directory.calls(principalOf(request).accountId, listQuery(request, callResource)), callBody),
  );
  app.get<{ Params: { id: string } }>('/calls/:id', { config: dialLinkRoute, schema: { tags, summary: 'Get a call', security } }, async (request) =>
    callBody(await services.directory.call(principalOf(request).accountId, request.params.id)),
  );
  app.get('/recordings', { config: dialLinkRoute, schema: { tags, summary: "List the calls' recordings", security } }, async (request) => {
    const base = baseUrl(request);
    return page(await services.directory.recordings(principalOf(request).accountId, listQuery(request, recordingResource)), (r) =>
      recordingBody(r, base),
    );
  });
  app.get<{ Params: { id: string } }>(
    '/recordings/:id/download',
    { config: dialLinkRoute, schema: { tags, summary: 'Download a recording (WAV)', security } },
    async (request, reply) => {
      const audio = await services.directory.recordingAudio(principalOf(request).accountId, request.params.id);
      return reply
        .type('audio/wav')
        .header('content-disposition', `attachment; filename="${request.params.id.replace(/[^A-Za-z0-9_-]/g, '')}.wav"`)
        .send(audio);
    },
  );
}
