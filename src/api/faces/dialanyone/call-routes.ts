import type { FastifyInstance } from 'fastify';
import type { CallEngine } from '../../../core/calls/call-engine.js';
import type { Services } from '../../../core/services.js';

/** DialAnyone's POST /api/v1/calls, and its read and hang-up extensions. */
export function registerCallRoutes(_app: FastifyInstance, _services: Services, _engine: CallEngine): void {}
