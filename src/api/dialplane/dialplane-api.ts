import type { FastifyInstance } from 'fastify';
import type { CallControl } from '../../core/calls/call-control.js';
import type { Services } from '../../core/services.js';
import { registerApplicationRoutes } from './application-routes.js';
import { registerCallRoutes, type DialplaneCallRouteOptions } from './call-routes.js';
import { registerNumberRoutes } from './number-routes.js';

/**
 * Dialplane's own API, under /dialplane/v1: applications, number routes, and calls and recordings when telephony
 * runs in this process. API-key authenticated (Bearer or X-API-Key), its own rate-limit scope, errors in the
 * standard body.
 */
export function registerDialplaneApi(
  app: FastifyInstance,
  services: Services,
  calls?: CallControl,
  options: DialplaneCallRouteOptions = {},
): void {
  registerApplicationRoutes(app, services);
  registerNumberRoutes(app, services);
  if (calls) registerCallRoutes(app, services, calls, options);
}
