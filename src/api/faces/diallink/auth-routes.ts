import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../../core/services.js';
import type { TokenPair } from '../../../core/sign-in.js';
import { signInRoute } from './policy.js';

const TokenRequest = Type.Union([
  Type.Object({ email: Type.String({ minLength: 1, maxLength: 320 }), password: Type.String({ minLength: 1, maxLength: 1024 }) }),
  Type.Object({ refreshToken: Type.String({ minLength: 1, maxLength: 200 }) }),
]);

function tokenBody(pair: TokenPair) {
  return {
    accessToken: pair.accessToken,
    refreshToken: pair.refreshToken,
    tokenType: 'Bearer',
    expiresAt: pair.accessTokenExpiresAt,
    refreshExpiresAt: pair.refreshTokenExpiresAt,
  };
}

/** /v1/auth/tokens: sign in with email and password, or spend a refresh token for the next pair. */
export function registerAuthRoutes(app: FastifyInstance, services: Services): void {
  // The document writes the path with a trailing slash ("/auth/tokens/"); both are served.
  for (const path of ['/tokens', '/tokens/']) {
    app.post<{ Body: Static<typeof TokenRequest> }>(
      path,
      {
        config: signInRoute,
        schema: {
          tags: ['DialLink auth'],
          summary: 'Sign in ({email, password}) or refresh ({refreshToken}); access tokens last 1 minute, refresh tokens 10',
          body: TokenRequest,
          ...(path.endsWith('/') ? { hide: true } : {}),
        },
      },
      async (request, reply) => {
        const body = request.body;
        const pair = 'refreshToken' in body ? await services.signIn.refresh(body.refreshToken) : await services.signIn.signIn(body.email, body.password);
        return reply.status(201).send(tokenBody(pair));
      },
    );
  }
}
