import type { FastifyInstance } from 'fastify';
import type { Services } from '../../../core/services.js';

/** DialAnyone's webhook subscriptions: /webhooks/subscribe, /webhooks/subscriptions, /webhooks/test, /webhooks/unsubscribe. */
export function registerWebhookRoutes(_app: FastifyInstance, _services: Services): void {}
