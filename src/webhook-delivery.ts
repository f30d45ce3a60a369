import type { Logger } from 'pino';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Config } from './config/config.js';
import type { Services } from './core/services.js';
import { isDatabaseUnavailable } from './store/database-outage.js';
import { WebhookDispatcher, type DispatcherTimers, type Sender } from './webhooks/dispatcher.js';
import { ConnectionPools } from './webhooks/connection-pools.js';
import { defaultConnect, type Connector, type Resolver } from './webhooks/guarded-request.js';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from './webhooks/retry-policy.js';
import { createHookRequester } from './webhooks/hook-request.js';
import { createHttpSender } from './webhooks/sender.js';

export interface WebhookDelivery {
  readonly dispatcher: WebhookDispatcher;
  close(): Promise<void>;
}

export interface WebhookDeliveryOverrides {
  readonly now?: () => number;
  readonly random?: () => number;
  readonly timers?: DispatcherTimers;
  readonly resolve?: Resolver;
  readonly connect?: Connector;
  /** Where the delivery metrics are registered. */
  readonly metrics?: Registry;
}

/** The retry policy the configuration describes. */
export function retryPolicyOf(config: Config['webhooks']): RetryPolicy {
  return {
    ...DEFAULT_RETRY_POLICY,
    maxAttempts: config.maxAttempts,
    horizonMs: config.horizonS * 1000,
    baseDelayMs: config.retryBaseMs,
    maxDelayMs: config.retryMaxDelayMs,
  };
}

/**
 * Composition of webhook delivery: the sender through the SSRF guard, the dispatcher over the store's outbox, and the
 * requester of applications' hooks (same guard and signing, answered synchronously).
 */
export function startWebhookDelivery(
  config: Config['webhooks'],
  services: Services,
  logger: Logger,
  overrides: WebhookDeliveryOverrides = {},
): WebhookDelivery {
  // Deliveries and hook requests keep their connections to a receiver open between requests, a pool per receiver
  // and checked address, as many connections as requests one target may have in flight.
  const pools = new ConnectionPools({
    connect: overrides.connect ?? defaultConnect,
    connections: config.endpointConcurrency,
    connectTimeoutMs: config.connectTimeoutMs,
  });
  const send = createHttpSender({
    pools,
    allowPrivate: config.allowPrivate,
    connectTimeoutMs: config.connectTimeoutMs,
    timeoutMs: config.timeoutMs,
    ...(overrides.now ? { now: overrides.now } : {}),
    ...(overrides.resolve ? { resolve: overrides.resolve } : {}),
    ...(overrides.connect ? { connect: overrides.connect } : {}),
  });
  const registers = overrides.metrics ? [overrides.metrics] : [];
  const attempts = new Counter({
    name: 'dialplane_webhook_attempts_total',
    help: 'Webhook attempts by what came of them: delivered, retry, failed, disabled (410)',
    labelNames: ['result'] as const,
    registers,
  });
  const latency = new Histogram({
    name: 'dialplane_webhook_attempt_seconds',
    help: 'Duration of webhook attempts',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  new Gauge({
    name: 'dialplane_webhook_deliveries',
    help: 'Webhook deliveries in the outbox by status',
    labelNames: ['status'] as const,
    registers,
    async collect() {
      const counts = await services.store.webhooks.countByStatus();
      for (const [status, count] of Object.entries(counts)) this.set({ status }, count);
    },
  });
  const dispatcher = new WebhookDispatcher({
    store: services.store.webhooks,
    send,
    policy: retryPolicyOf(config),
    concurrency: config.concurrency,
    perTargetConcurrency: config.endpointConcurrency,
    // An attempt never holds its delivery longer than its own timeout plus a margin; after a crash it is due again.
    leaseMs: config.timeoutMs + 5_000,
    // Written on every claimed delivery: with several nodes on one database, whose attempt holds it.
    claimant: services.node.nodeId,
    ...(overrides.now ? { now: overrides.now } : {}),
    ...(overrides.random ? { random: overrides.random } : {}),
    ...(overrides.timers ? { timers: overrides.timers } : {}),
    onError: (err: unknown) => logger.warn({ err }, 'webhook outbox error'),
    isUnavailable: isDatabaseUnavailable,
    onAttempt: (record) => {
      const { action } = record.decision;
      attempts.inc({ result: action === 'delivered' ? 'delivered' : action === 'retry' ? 'retry' : action === 'disable_endpoint' ? 'disabled' : 'failed' });
      latency.observe(record.latencyMs / 1000);
      if (record.decision.action === 'disable_endpoint') {
        logger.warn({ endpoint: record.delivery.endpointId }, 'webhook endpoint answered 410 Gone and is disabled');
      }
    },
  });
  // Test deliveries (`dialplane webhooks test`, DialAnyone's subscribe and test routes) are sent at once, outside
  // the dispatcher; they are attempts all the same and are counted with the others.
  const sendTest: Sender = async (delivery, attempt) => {
    const started = Date.now();
    const result = await send(delivery, attempt);
    const status = result.outcome.kind === 'status' ? result.outcome.status : null;
    attempts.inc({ result: status !== null && status >= 200 && status <= 299 ? 'delivered' : 'failed' });
    latency.observe((Date.now() - started) / 1000);
    return result;
  };
  services.webhooks.attach({ notify: () => dispatcher.notify(), send: sendTest });
  // Applications' hooks share the guard and the private-target setting; their budget is their own (a call waits).
  services.applications.attach({
    request: createHookRequester({
      pools,
      allowPrivate: config.allowPrivate,
      timeoutMs: config.hookTimeoutMs,
      connectTimeoutMs: config.connectTimeoutMs,
      ...(overrides.now ? { now: overrides.now } : {}),
      ...(overrides.resolve ? { resolve: overrides.resolve } : {}),
      ...(overrides.connect ? { connect: overrides.connect } : {}),
    }),
  });
  dispatcher.start();
  return {
    dispatcher,
    close: async () => {
      await dispatcher.stop();
      await pools.close();
    },
  };
}
