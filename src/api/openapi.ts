import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';

/** The OpenAPI document is generated from the route schemas, so it cannot drift from what the server validates. */
export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Dialplane',
        description:
          'Self-hosted programmable voice and SMS. Each face serves one public API document; the admin API manages accounts, keys, numbers and credits.',
        version: '0.1.0',
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer' },
          apiKeyHeader: { type: 'apiKey', in: 'header', name: 'X-API-KEY' },
          basic: { type: 'http', scheme: 'basic' },
          appId: { type: 'apiKey', in: 'header', name: 'X-App-ID' },
          adminToken: { type: 'http', scheme: 'bearer', description: 'The admin token (DIALPLANE_ADMIN_TOKEN)' },
        },
      },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
