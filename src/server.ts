import { randomBytes } from 'node:crypto';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino, { type DestinationStream, type Logger } from 'pino';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { buildApp } from './api/app.js';
import { serializeRequest } from './api/log-redaction.js';
import { callQualityRecorder, systemViewOf } from './api/dashboard/system-view.js';
import { registerFaceFormats, type Face } from './api/faces.js';
import { allFaces } from './api/faces/all-faces.js';
import { openRateLimitStore } from './api/rate-limit/open-rate-limit-store.js';
import { openSharedState } from './shared-state/open-shared-state.js';
import { RateLimiter } from './api/rate-limit/rate-limiter.js';
import { readTlsFiles } from './api/dual-protocol-server.js';
import type { Config } from './config/config.js';
import { ADMIN_TOKEN_FILE } from './config/data-files.js';
import { bootstrapIfEmpty, type BootstrapResult } from './core/bootstrap.js';
import { systemClock } from './core/clock.js';
import { generateNodeId, NodeLease } from './core/node-lease.js';
import { createServices, type Services } from './core/services.js';
import { isDatabaseUnavailable } from './store/database-outage.js';
import { openConfiguredStore } from './store/open-store.js';
import { startTelephony, type Telephony } from './telephony.js';
import { startWebhookDelivery, type WebhookDelivery } from './webhook-delivery.js';
import { startMessaging, type Messaging } from './messaging.js';

export interface RunningServer {
  readonly app: FastifyInstance;
  readonly telephony: Telephony;
  readonly webhooks: WebhookDelivery;
  readonly messaging: Messaging;
  readonly services: Services;
  readonly url: string;
  readonly bootstrap: BootstrapResult | undefined;
  close(): Promise<void>;
}

const USAGE_FLUSH_INTERVAL_MS = 10_000;
/** pino's number for warn. */
const WARN_LEVEL = 40;
export { ADMIN_TOKEN_FILE };

/** The server's logger; a test may pass where the lines go. */
export function createLogger(config: Config, destination?: DestinationStream): Logger {
  return pino(
    {
      level: config.log.level,
      // Credentials must never reach a log line, whichever code logs a request or its headers; a request's URL is
      // logged with credential-looking query parameters (?api_key=) masked.
      redact: { paths: ['req.headers.authorization', 'req.headers["x-api-key"]', '*.apiKey', '*.api_key', '*.token'], censor: '[redacted]' },
      serializers: { req: serializeRequest },
      hooks: {
        // While the database server is away, every background loop (webhook outbox, node lease, SMS pick-up, call
        // recovery) fails at each of its ticks and says so as a warning. The server logs the outage once when it
        // begins and once when it ends (startServer); each loop's own warning of it is demoted to debug. Errors
        // stay errors: they name work that was not done and is not tried again.
        logMethod(args, method, level) {
          if (level === WARN_LEVEL && isDatabaseUnavailable((args[0] as { err?: unknown } | undefined)?.err)) {
            this.debug(...args);
            return;
          }
          method.apply(this, args);
        },
      },
    },
    ...(destination ? [destination] : []),
  );
}

export interface ServerOptions {
  /** The faces to serve; all of them unless a test says otherwise. */
  readonly faces?: readonly Face[];
}

/** Composition root of the server: database, services, HTTP app; returns a handle whose close() is idempotent. */
export async function startServer(
  config: Config,
  logger: Logger = createLogger(config),
  options: ServerOptions = {},
): Promise<RunningServer> {
  const faces = options.faces ?? allFaces;
  // Read first: a missing or half-configured certificate stops the start before anything is opened.
  const tls = await readTlsFiles(config.http);
  const { database, store } = await openConfiguredStore(config, {
    warn: (message, details) => logger.warn(details, message),
    info: (message, details) => logger.info(details, message),
  });
  database.outage.subscribe({
    down: (reason) =>
      logger.warn(
        { reason },
        'the database is unreachable: requests that need it answer 503 database_unavailable and background work waits for it',
      ),
    up: (downMs) => logger.info({ downMs }, 'the database is reachable again; background work resumes'),
  });
  const nodeId = config.node.id ?? generateNodeId();
  const shared = await openSharedState(config, logger, nodeId);
  const node = new NodeLease(store.nodes, systemClock, {
    nodeId,
    leaseMs: config.node.leaseS * 1000,
    onError: (err: unknown, context: string) => logger.warn({ err }, context),
  });
  const services = createServices(store, {
    node,
    invalidations: shared.invalidations,
    bus: shared.bus,
    clock: systemClock,
    defaultCountry: config.phone.defaultCountry,
    keyCacheTtlMs: config.auth.keyCacheTtlMs,
    smsMaxSegments: config.sms.maxSegments,
    onListenerError: (err: unknown) => logger.error({ err }, 'event listener failed'),
    onWarning: (message, details) => logger.warn(details, message),
  });
  // Registered before anything is recovered or started, so other nodes see this one alive from its first call on.
  const previous = await node.start();
  if (config.node.id !== undefined && previous && previous.lease_until > new Date().toISOString()) {
    logger.warn(
      { node: node.nodeId },
      'the last run under this node id still held its lease: its calls are ended as left by a crash (if another running server uses this DIALPLANE_NODE_ID, give each its own)',
    );
  }
  logger.info({ node: node.nodeId, leaseS: config.node.leaseS }, 'node registered');
  // Every face's webhook payload formats before anything can write an event (crash recovery, SIP, SMPP): an event
  // written for an endpoint whose format is missing would be left out for it.
  registerFaceFormats(services.webhooks, faces);
  const missing = services.webhooks.missingFormats();
  if (missing.length > 0) {
    await shared.close();
    await database.close();
    throw new Error(`no face registers the webhook format(s) ${missing.join(', ')}`);
  }
  const bootstrap = config.bootstrap.enabled ? await bootstrapIfEmpty(services, config.dataDir) : undefined;
  const adminToken = config.admin.token ?? (await writeAdminToken(config.dataDir));
  const metrics = new Registry();
  collectDefaultMetrics({ register: metrics, prefix: 'dialplane_' });
  // Before telephony: calls a crash left live are ended at its start, and their final events are delivered.
  const webhooks = startWebhookDelivery(config.webhooks, services, logger, { metrics });
  const quality = callQualityRecorder(services);
  const telephony = await startTelephony(config, services, logger, { metrics, onAnswered: quality.onAnswered });
  const messaging = await startMessaging(config.sms, services, logger);

  const rateStore = openRateLimitStore(shared.redis, logger);
  const app = await buildApp({
    services,
    http: config.http,
    ...(tls ? { tls } : {}),
    rateLimiter: new RateLimiter(rateStore),
    logger,
    metrics,
    adminToken,
    ready: () => database.ping(),
    calls: telephony.control,
    faces,
    ...(telephony.devCarrier
      ? { devCallIn: (input: { from: string; to: string; holdMs: number }) => telephony.devCarrier!.callIn(telephony.sipEndpoint, input) }
      : {}),
    ...(messaging.devSmsc ? { devSmsIn: (input: { from: string; to: string; text: string }) => messaging.devSmsc!.injectInbound(input) } : {}),
    dashboard: { system: systemViewOf(telephony, messaging), quality: (legId) => quality.log.samples(legId) },
    status: () => ({
      sip: { port: telephony.sipPort },
      trunks: telephony.trunkStatus.map((t) => ({
        name: t.name,
        reachable: t.reachable ?? null,
        registered: t.registered ?? null,
        registered_until: t.registeredUntil?.toISOString() ?? null,
        last_error: t.lastError ?? null,
      })),
      smsc: { state: messaging.carrier.state, dev: messaging.devSmsc !== undefined },
    }),
  });
  const usageTimer = setInterval(() => {
    services.keys.flushUsage().catch((err: unknown) => logger.warn({ err }, 'could not record key usage'));
  }, USAGE_FLUSH_INTERVAL_MS);
  usageTimer.unref();

  const address = await app.listen({ host: config.http.host, port: config.http.port });
  let closing: Promise<void> | undefined;
  return {
    app,
    telephony,
    webhooks,
    messaging,
    services,
    url: address,
    bootstrap,
    close() {
      closing ??= (async () => {
        clearInterval(usageTimer);
        await app.close();
        quality.log.close();
        await telephony.close();
        await messaging.close();
        await services.sms.settled();
        // Only now: while the lease ran, no other node could take over this one's calls or messages.
        await node.stop().catch((err: unknown) => logger.warn({ err }, 'could not end the node lease'));
        await webhooks.close();
        await services.keys.flushUsage().catch(() => undefined);
        await rateStore.close();
        await shared.close();
        if (!config.admin.token) await rm(join(config.dataDir, ADMIN_TOKEN_FILE), { force: true });
        await database.close();
      })();
      return closing;
    },
  };
}

/**
 * Without a configured admin token the server makes one per start and leaves it, readable by its user only, in the
 * data directory: the CLI on the same machine finds it there, nobody else can.
 */
async function writeAdminToken(dataDir: string): Promise<string> {
  const token = randomBytes(32).toString('base64url');
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const file = join(dataDir, ADMIN_TOKEN_FILE);
  await writeFile(file, `${token}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  return token;
}
