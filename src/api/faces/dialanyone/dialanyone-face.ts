import type { FastifyPluginAsync } from 'fastify';
import { standardErrorBody, type Face, type FaceOptions } from '../../faces.js';
import { registerCallRoutes } from './call-routes.js';
import { registerMeRoute } from './me-route.js';
import { registerSmsRoutes } from './sms-routes.js';
import { registerDialAnyoneFormats } from './webhook-formats.js';
import { registerWebhookRoutes } from './webhook-routes.js';

/** The document's routes, relative to /api/v1. */
const plugin: FastifyPluginAsync<FaceOptions> = async (app, { services, calls }) => {
  registerMeRoute(app, services);
  registerSmsRoutes(app, services);
  if (calls) registerCallRoutes(app, services, calls);
  registerWebhookRoutes(app, services);
};

/** DialAnyone: its documented error body is {"error":{"code","message","details"}}, the standard shape. */
export const dialAnyoneFace: Face = {
  name: 'dialanyone',
  prefix: '/api/v1',
  errors: { format: standardErrorBody },
  formats: registerDialAnyoneFormats,
  plugin,
};
