import type { FastifyInstance } from 'fastify';
import type { Services } from '../../core/services.js';

/** Extensions, their devices, and where each number rings. */
export function registerAdminExtensionRoutes(_app: FastifyInstance, _services: Services): void {}
