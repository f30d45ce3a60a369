import type { Logger } from 'pino';
import type { Config } from './config/config.js';
import type { Services } from './core/services.js';
import { WebhookDispatcher, type DispatcherTimers } from './webhooks/dispatcher.js';
import type { Connector, Resolver } from './webhooks/guarded-request.js';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from './webhooks/retry-policy.js';
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

/** Composition of webhook delivery: the sender through the SSRF guard, and the dispatcher over the store's outbox. */
export function startWebhookDelivery(
  config: Config['webhooks'],
  services: Services,
  logger: Logger,
  overrides: WebhookDeliveryOverrides = {},
): WebhookDelivery {
  const send = createHttpSender({
    allowPrivate: config.allowPrivate,
    connectTimeoutMs: config.connectTimeoutMs,
    timeoutMs: config.timeoutMs,
    ...(overrides.now ? { now: overrides.now } : {}),
    ...(overrides.resolve ? { resolve: overrides.resolve } : {}),
    ...(overrides.connect ? { connect: overrides.connect } : {}),
  });
  const dispatcher = new WebhookDispatcher({
    store: services.store.webhooks,
    send,
    policy: retryPolicyOf(config),
    concurrency: config.concurrency,
    perTargetConcurrency: config.endpointConcurrency,
    // An attempt never holds its delivery longer than its own timeout plus a margin; after a crash it is due again.
    leaseMs: config.timeoutMs + 5_000,
    ...(overrides.now ? { now: overrides.now } : {}),
    ...(overrides.random ? { random: overrides.random } : {}),
    ...(overrides.timers ? { timers: overrides.timers } : {}),
    onError: (err: unknown) => logger.warn({ err }, 'webhook outbox error'),
    onAttempt: (record) => {
      if (record.decision.action === 'disable_endpoint') {
        logger.warn({ endpoint: record.delivery.endpointId }, 'webhook endpoint answered 410 Gone and is disabled');
      }
    },
  });
  services.webhooks.attach({ notify: () => dispatcher.notify(), send });
  dispatcher.start();
  return {
    dispatcher,
    close: () => dispatcher.stop(),
  };
}
