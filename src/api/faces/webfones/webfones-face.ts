import type { FastifyPluginAsync } from 'fastify';
import type { Face, FaceOptions } from '../../faces.js';
import { registerDialerRoute } from './dialer-route.js';
import { webFonesErrorBody } from './errors.js';

/** The document's one route, relative to /dialer (and /dailer). */
const plugin: FastifyPluginAsync<FaceOptions> = async (app, { services, calls }) => {
  registerDialerRoute(app, services, calls);
};

/**
 * WebFones Dialer API 3.0: click-to-call from an extension. The document names its endpoint /dialer/call and its
 * examples call /dailer/call: both are served. Its error bodies, its 404 and its 429 apply under these two prefixes
 * only.
 */
export const webFonesFace: Face = {
  name: 'webfones',
  prefix: '/dialer',
  aliases: ['/dailer'],
  errors: { format: (error) => webFonesErrorBody(error) },
  plugin,
};
