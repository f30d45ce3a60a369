import type { FastifyInstance } from 'fastify';
import type { Services } from '../../../core/services.js';
import { standardErrorBody, type FaceErrorFormat } from '../../faces.js';
import { registerMeRoute } from './me-route.js';
import { registerSmsReadRoutes } from './sms-routes.js';

/** DialAnyone's documented error body is {"error":{"code","message","details"}}, the standard shape. */
const errors: FaceErrorFormat = { name: 'dialanyone', prefixes: ['/api/v1/'], format: standardErrorBody };

export const dialAnyoneFace = {
  errors,
  register(app: FastifyInstance, services: Services): void {
    registerMeRoute(app, services);
    registerSmsReadRoutes(app, services);
  },
};
