import type { FastifyPluginAsync } from 'fastify';
import { GatewaySessionService } from '../../../core/gateway-sessions.js';
import type { Face, FaceOptions } from '../../faces.js';
import { dialErrors } from './dial-errors.js';
import { registerSessionRoutes } from './session-routes.js';

/** The document's routes, relative to /api/v1/dial; they need telephony (call control) in this process. */
const plugin: FastifyPluginAsync<FaceOptions> = async (app, { services, calls }) => {
  if (calls) registerSessionRoutes(app, new GatewaySessionService(services, calls));
};

/**
 * Dial: a voice gateway for apps (X-App-ID + X-API-Key). Its session webhooks are core's (a gateway app's webhook URL
 * is an outbox endpoint shaped by core/gateway-session-events.ts), so the face registers no format of its own.
 */
export const dialFace: Face = {
  name: 'dial',
  prefix: '/api/v1/dial',
  errors: dialErrors,
  plugin,
};
