import type { FastifyInstance } from 'fastify';
import type { CallControl } from '../../../core/calls/call-control.js';
import type { Services } from '../../../core/services.js';
import { standardErrorBody, type FaceErrorFormat } from '../../faces.js';
import { registerMeRoute } from './me-route.js';
import { registerCallRoutes } from './call-routes.js';
import { registerSmsReadRoutes } from './sms-routes.js';
import { registerWebhookRoutes } from './webhook-routes.js';

/** DialAnyone's documented error body is {"error":{"code","message","details"}}, the standard shape. */
const errors: FaceErrorFormat = { name: 'dialanyone', prefixes: ['/api/v1/'], format: standardErrorBody };

export const dialAnyoneFace = {
  errors,
  register(app: FastifyInstance, services: Services, calls?: CallControl): void {
    registerMeRoute(app, services);
    registerSmsReadRoutes(app, services);
    if (calls) registerCallRoutes(app, services, calls);
    registerWebhookRoutes(app, services);
  },
};
