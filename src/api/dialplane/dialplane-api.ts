import type { FastifyInstance } from 'fastify';
import type { Services } from '../../core/services.js';
import { registerApplicationRoutes } from './application-routes.js';
import { registerNumberRoutes } from './number-routes.js';

/**
 * Dialplane's own API, under /dialplane/v1: applications and number routes (the calls routes join them). API-key
 * authenticated (Bearer or X-API-Key), its own rate-limit scope, errors in the standard body.
 */
export function registerDialplaneApi(app: FastifyInstance, services: Services): void {
  registerApplicationRoutes(app, services);
  registerNumberRoutes(app, services);
}
