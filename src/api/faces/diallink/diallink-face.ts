import type { Face } from '../../faces.js';
import { registerAccountHubRoutes, registerMeRoute } from './account-hub-routes.js';
import { registerAuthRoutes } from './auth-routes.js';
import { registerPhoneSystemRoutes } from './phone-system-routes.js';
import { dialLinkError } from './policy.js';

const errors = { format: dialLinkError };

/**
 * DialLink serves one document under several roots: the account hub, the phone system, sign-in, and GET /users/me
 * where the document names it. Each is a face of its own prefix with the same error shape.
 */
export const dialLinkFaces: readonly Face[] = [
  { name: 'diallink-account-hub', prefix: '/v1/account-hub', errors, plugin: async (app, { services }) => registerAccountHubRoutes(app, services) },
  { name: 'diallink-phone-system', prefix: '/v1/phone-system', errors, plugin: async (app, { services }) => registerPhoneSystemRoutes(app, services) },
  { name: 'diallink-auth', prefix: '/v1/auth', errors, plugin: async (app, { services }) => registerAuthRoutes(app, services) },
  { name: 'diallink-users-me', prefix: '/users/me', errors, plugin: async (app, { services }) => registerMeRoute(app, services, '/') },
];
