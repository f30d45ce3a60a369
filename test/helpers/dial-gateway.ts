import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import pino from 'pino';
import { Registry } from 'prom-client';
import { buildApp } from '../../src/api/app.js';
import { MemoryRateLimitStore } from '../../src/api/rate-limit/memory-store.js';
import { RateLimiter } from '../../src/api/rate-limit/rate-limiter.js';
import type { Config } from '../../src/config/config.js';
import type { Services } from '../../src/core/services.js';
import { startWebhookDelivery, type WebhookDelivery } from '../../src/webhook-delivery.js';
import { verifyTimestamped } from '../../src/webhooks/signer.js';
import { ADMIN_TOKEN } from './app.js';
import { startTestTelephony, type TestTelephony } from './telephony.js';
import type { ReceivedRequest } from './webhook-receiver.js';

/** The document's caller ID and callee (its curl example's). */
export const DOC_FROM = '0721234567';
export const DOC_TO = '0527121102';
export const APP_SECRET = 'whsec_dial_gateway_test_secret_0123';

export const WEBHOOKS: Config['webhooks'] = {
  allowPrivate: true,
  maxAttempts: 3,
  horizonS: 60,
  retryBaseMs: 200,
  retryMaxDelayMs: 1_000,
  connectTimeoutMs: 1_000,
  timeoutMs: 3_000,
  concurrency: 8,
  endpointConcurrency: 4,
  hookTimeoutMs: 5_000,
};

export interface Gateway {
  readonly app: FastifyInstance;
  readonly telephony: TestTelephony;
  close(): Promise<void>;
}

/** The real app (every face) over the test's telephony, whose trunk is the test's peer. */
export async function startGateway(
  services: Services,
  options: { readonly trunk: string; readonly rtpPorts: string; readonly env?: Record<string, string> },
): Promise<Gateway> {
  const telephony = await startTestTelephony(services, {
    rtpPorts: options.rtpPorts,
    trunk: options.trunk,
    ...(options.env ? { env: options.env } : {}),
  });
  const rateStore = new MemoryRateLimitStore();
  const app = await buildApp({
    services,
    http: { bodyLimit: 65_536, trustProxy: false },
    rateLimiter: new RateLimiter(rateStore),
    logger: false,
    metrics: new Registry(),
    adminToken: ADMIN_TOKEN,
    ready: async () => undefined,
    calls: telephony.control,
  });
  await app.ready();
  return {
    app,
    telephony,
    async close() {
      await app.close();
      await telephony.close();
      rateStore.close();
    },
  };
}

export function startDelivery(services: Services): WebhookDelivery {
  return startWebhookDelivery(WEBHOOKS, services, pino({ level: 'silent' }));
}

export interface AppCredentials {
  readonly appId: string;
  readonly apiKey: string;
}

/** The document's two headers. */
export function appHeaders(app: AppCredentials): Record<string, string> {
  return { 'x-app-id': app.appId, 'x-api-key': app.apiKey, 'content-type': 'application/json' };
}

export function dial(gateway: Gateway, app: AppCredentials, body: unknown): Promise<LightMyRequestResponse> {
  return gateway.app.inject({ method: 'POST', url: '/api/v1/dial', headers: appHeaders(app), payload: JSON.stringify(body) });
}

export function session(gateway: Gateway, app: AppCredentials, uuid: string, action?: string, body?: unknown) {
  return action
    ? gateway.app.inject({
        method: 'POST',
        url: `/api/v1/dial/${uuid}/${action}`,
        headers: appHeaders(app),
        payload: JSON.stringify(body ?? {}),
      })
    : gateway.app.inject({ method: 'GET', url: `/api/v1/dial/${uuid}`, headers: appHeaders(app) });
}

export const SESSION_UUID = /^[A-Za-z0-9]{5}-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** A received session webhook: its parsed body, and whether X-Dialplane-Signature verifies with the app's secret. */
export function sessionEvent(request: ReceivedRequest, secret = APP_SECRET): { body: Record<string, unknown>; signed: boolean } {
  const header = request.headers['x-dialplane-signature'];
  const signed = verifyTimestamped(request.body, typeof header === 'string' ? header : undefined, [secret], {
    nowSeconds: Math.floor(Date.now() / 1000),
  }).ok;
  return { body: JSON.parse(request.body.toString('utf8')) as Record<string, unknown>, signed };
}
