import { createHash } from 'node:crypto';
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { FastifyBaseLogger } from 'fastify';
import type { Registry } from 'prom-client';
import { constantTimeEqual } from '../core/api-key-token.js';
import type { Services } from '../core/services.js';
import { DialplaneError, isDialplaneError } from '../errors.js';
import { isDatabaseUnavailable } from '../store/database-outage.js';
import { registerAdminCallRoutes } from './admin/admin-call-routes.js';
import { registerAdminRoutes } from './admin/admin-routes.js';
import { registerDevRoutes } from './admin/dev-routes.js';
import { registerAdminWebhookRoutes } from './admin/admin-webhook-routes.js';
import { registerAdminSmsRoutes, registerDevSmsRoutes } from './admin/admin-sms-routes.js';
import { registerAdminExtensionRoutes } from './admin/admin-extension-routes.js';
import { registerAdminApplicationRoutes } from './admin/admin-application-routes.js';
import { registerAdminUserRoutes } from './admin/admin-user-routes.js';
import { registerDialplaneApi } from './dialplane/dialplane-api.js';
import { registerStatusRoute, type ServerStatus } from './admin/status-route.js';
import { registerAdminKeyWebhookRoutes } from './admin/admin-key-webhook-routes.js';
import { registerDashboard, type DashboardDeps } from './dashboard/dashboard.js';
import type { CallInResult } from '../carriers/dev-carrier.js';
import type { CallControl } from '../core/calls/call-control.js';
import { authenticate } from './auth.js';
import { dualProtocolServer, type TlsFiles } from './dual-protocol-server.js';
import { standardFormat, type Face, type FaceErrorFormat, type FaceOptions } from './faces.js';
import { allFaces } from './faces/all-faces.js';
import { createHttpMetrics } from './metrics.js';
import { registerOperationsRoutes } from './operations-routes.js';
import { registerOpenApi } from './openapi.js';
import type { RateLimiter } from './rate-limit/rate-limiter.js';
import { refuseNul } from './nul-guard.js';
import { routeTable } from './route-table.js';
import { describeViolation, type SchemaViolation } from './validation-message.js';
import type { RateLimitPolicy, RouteSettings } from './types.js';
import './types.js';

/**
 * Two info lines per request cost more than serving a small request; per-request lines go to debug (errors stay
 * at error level), and /metrics counts every request anyway.
 */
class RequestLogController extends LogController {
  override incomingRequest(request: FastifyRequest): void {
    if (request.log.level === 'debug' || request.log.level === 'trace') request.log.debug({ req: request }, 'incoming request');
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (error) reply.log.error({ res: reply, err: error, responseTime: reply.elapsedTime }, 'request errored');
    else if (request.log.level === 'debug' || request.log.level === 'trace') {
      reply.log.debug({ res: reply, responseTime: reply.elapsedTime }, 'request completed');
    }
  }
}

export interface AppDeps {
  readonly services: Services;
  readonly http: { readonly bodyLimit: number; readonly trustProxy: boolean };
  /** A certificate and key: the port then serves HTTPS beside plain HTTP (see dualProtocolServer). */
  readonly tls?: TlsFiles;
  readonly rateLimiter: RateLimiter;
  /** Fastify logger instance, or false for none (tests). */
  readonly logger: FastifyBaseLogger | false;
  readonly metrics: Registry;
  /** The admin API is off unless a token is configured; only its SHA-256 is kept in memory. */
  readonly adminToken?: string;
  /** Throws when the server cannot serve (database unreachable). */
  readonly ready: () => Promise<void>;
  /** Call control, when telephony runs in this process: every face's calls. */
  readonly calls?: CallControl;
  /**
   * The faces to serve (all of them unless a test says otherwise). Their webhook formats are registered by the
   * composition root before telephony starts, not here.
   */
  readonly faces?: readonly Face[];
  /** The dev carrier's call into one of our numbers, when the dev carrier runs. */
  readonly devCallIn?: (input: { from: string; to: string; holdMs: number }) => Promise<CallInResult>;
  /** Between heartbeats on the live call event streams (admin NDJSON and /dialplane/v1 SSE); tests shorten it. */
  readonly eventStreamHeartbeatMs?: number;
  /** Present while the dev SMSC runs: it delivers an SMS to one of our numbers. */
  readonly devSmsIn?: (input: { from: string; to: string; text: string }) => Promise<{ parts: number }>;
  /** What the web console reads beyond core services: the engines' state, calls' audio quality, its sessions. */
  readonly dashboard?: Pick<DashboardDeps, 'system' | 'quality' | 'sessions'>;
  /** The links of a running server (SIP port, trunks, SMSC), for `dialplane doctor`. */
  readonly status?: () => ServerStatus;
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const faceFormats = errorFormatsByPrefix(deps.faces ?? allFaces);
  const app = Fastify({
    ...(deps.logger ? { loggerInstance: deps.logger } : { logger: false }),
    bodyLimit: deps.http.bodyLimit,
    trustProxy: deps.http.trustProxy,
    ...(deps.tls ? { serverFactory: (handler: Parameters<typeof dualProtocolServer>[1]) => dualProtocolServer(deps.tls!, handler) } : {}),
    return503OnClosing: true,
    // `GET /api/v1/calls/` is the list, as clients that join a base URL and a path often write it, not a call
    // whose id is empty.
    routerOptions: { ignoreTrailingSlash: true },
    logController: new RequestLogController(),
    // A child logger per request (to bind its id) is paid by every request, but only debug lines use it; errors add
    // the id themselves.
    childLoggerFactory: (logger, bindings, options) =>
      logger.level === 'debug' || logger.level === 'trace' ? logger.child(bindings, options) : logger,
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: true, allErrors: false } },
    // A path the router refuses before any route or scope is chosen (bad percent-encoding, a parameter past its
    // length) is answered in the shape of the face whose prefix the path is under, not in Fastify's own.
    frameworkErrors: (error, request, reply) => {
      const known = toDialplaneError(error);
      const { status, body } = faceFormats(request.url).format(known);
      void (reply as FastifyReply).headers(known.headers).status(status).send(body);
    },
  });
  app.decorateRequest('principal', undefined);

  const routes = routeTable(app);
  const adminTokenHash = deps.adminToken ? sha256(deps.adminToken) : undefined;
  const httpMetrics = createHttpMetrics(deps.metrics);

  // Routes carry their auth and rate-limit settings as data; the guard is attached to exactly those routes when they
  // are added, with the settings closed over, so other routes pay nothing and no lookup happens per request.
  app.addHook('onRoute', (route) => {
    const settings = (route.config as { dialplane?: RouteSettings } | undefined)?.dialplane;
    if (!settings || (!settings.auth && !settings.rateLimit)) return;
    const guard = routeGuard(settings, deps, adminTokenHash);
    const existing = route.onRequest ? (Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest]) : [];
    route.onRequest = [guard, ...existing];
  });
  // Metrics too are attached per route with its pattern closed over (reading request.routeOptions builds an object
  // on every call); unmatched requests are counted by the not-found handler.
  app.addHook('onRoute', (route) => {
    const observe = async (request: FastifyRequest, reply: FastifyReply) => httpMetrics.observe(route.url, request, reply);
    const existing = route.onResponse ? (Array.isArray(route.onResponse) ? route.onResponse : [route.onResponse]) : [];
    route.onResponse = [...existing, observe];
  });

  // Errors and unknown routes answer in the standard shape here, and in a face's own shape inside its prefix (each
  // face gets its own scope below, whose handlers Fastify's encapsulation keeps to the face's routes and prefix).
  const answerError = (format: FaceErrorFormat) => (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const known = toDialplaneError(error);
    if (known.code === 'internal_error') request.log.error({ err: error, reqId: request.id }, 'unhandled error');
    const { status, body } = format.format(known);
    void reply.headers(known.headers).status(status).send(body);
  };
  const answerNotFound = (format: FaceErrorFormat) => (request: FastifyRequest, reply: FastifyReply) => {
    const allowed = routes.methodsFor(request.url.split('?')[0] ?? '/');
    const error =
      allowed.length > 0
        ? new DialplaneError('method_not_allowed', `${request.method} is not allowed here; use ${allowed.join(', ')}`, undefined, {
            allow: allowed.join(', '),
          })
        : new DialplaneError('route_not_found', `No route ${request.method} ${request.url.split('?')[0]}`);
    const { status, body } = format.format(error);
    reply.raw.once('finish', () => httpMetrics.observe('unmatched', request, reply));
    void reply.headers(error.headers).status(status).send(body);
  };
  app.setErrorHandler(answerError(standardFormat));
  app.setNotFoundHandler(answerNotFound(standardFormat));
  // Before any route is added, so every route of every face inherits it.
  app.addHook('preValidation', refuseNul);

  await registerOpenApi(app);
  registerOperationsRoutes(app, { metrics: deps.metrics, ready: deps.ready });
  registerAdminRoutes(app, deps.services);
  registerAdminWebhookRoutes(app, deps.services);
  const streams = deps.eventStreamHeartbeatMs !== undefined ? { heartbeatMs: deps.eventStreamHeartbeatMs } : {};
  if (deps.calls) registerAdminCallRoutes(app, deps.services, deps.calls, streams);
  if (deps.devCallIn) registerDevRoutes(app, deps.services, deps.devCallIn);
  registerAdminSmsRoutes(app, deps.services);
  registerAdminExtensionRoutes(app, deps.services);
  registerAdminApplicationRoutes(app, deps.services);
  registerAdminUserRoutes(app, deps.services);
  if (deps.devSmsIn) registerDevSmsRoutes(app, deps.services, deps.devSmsIn);
  registerAdminKeyWebhookRoutes(app, deps.services);
  if (deps.status) registerStatusRoute(app, deps.status);
  const faceOptions: FaceOptions = { services: deps.services, ...(deps.calls ? { calls: deps.calls } : {}) };
  for (const face of deps.faces ?? allFaces) {
    for (const prefix of [face.prefix, ...(face.aliases ?? [])]) {
      // The hooks added above (auth, rate limits, metrics, the route table, OpenAPI) reach the face's routes: a scope
      // inherits the hooks its parent had when it was registered.
      await app.register(
        async function faceScope(scope) {
          scope.setErrorHandler(answerError(face.errors));
          scope.setNotFoundHandler(answerNotFound(face.errors));
          await scope.register(face.plugin, faceOptions);
        },
        { prefix },
      );
    }
  }
  registerDialplaneApi(app, deps.services, deps.calls, streams);
  await registerDashboard(app, {
    ...deps.dashboard,
    services: deps.services,
    ...(deps.calls ? { calls: deps.calls } : {}),
  });
  return app;
}

function routeGuard(settings: RouteSettings, deps: AppDeps, adminTokenHash: string | undefined) {
  const { auth, rateLimit } = settings;
  return async function guard(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    if (rateLimit?.subject === 'ip') await applyRateLimit(deps.rateLimiter, rateLimit, request.ip, reply);
    if (auth === 'admin') {
      checkAdmin(adminTokenHash, request);
    } else if (auth) {
      const principal = await authenticate(deps.services, request.headers, auth);
      request.principal = principal;
      // Counted before the permission check: a read-only key's refused writes are requests to the face like any other.
      if (rateLimit?.subject === 'key') await applyRateLimit(deps.rateLimiter, rateLimit, principal.keyId, reply);
      if (principal.permission === 'read_only' && writes(settings, request.method)) {
        throw new DialplaneError(principal.signedIn ? 'view_only_user' : 'read_only_key');
      }
    }
  };
}

function writes(settings: RouteSettings, method: string): boolean {
  return settings.writes ?? !(method === 'GET' || method === 'HEAD' || method === 'OPTIONS');
}

function checkAdmin(adminTokenHash: string | undefined, request: FastifyRequest): void {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
  // Hashing both sides first makes the comparison constant-time whatever the presented length.
  if (!adminTokenHash || !match?.[1] || !constantTimeEqual(sha256(match[1]), adminTokenHash)) {
    throw new DialplaneError('admin_unauthorized');
  }
}

async function applyRateLimit(
  limiter: RateLimiter,
  policy: RateLimitPolicy,
  subject: string,
  reply: FastifyReply,
): Promise<void> {
  const decision = await limiter.consume(`${policy.scope}:${subject}`, policy.windows);
  void reply
    .header('x-ratelimit-limit', decision.limit)
    .header('x-ratelimit-remaining', decision.remaining)
    .header('x-ratelimit-reset', decision.resetAt);
  if (!decision.allowed) {
    throw new DialplaneError('rate_limited', undefined, { retry_after_seconds: decision.retryAfterSeconds }, {
      'retry-after': String(decision.retryAfterSeconds),
    });
  }
}

/** How long a client is asked to wait when the database is away: about as long as a PostgreSQL restart takes. */
const DATABASE_RETRY_AFTER_S = 5;

/** Maps whatever was thrown to a registry code; unknown errors become internal_error and never reach the client. */
export function toDialplaneError(error: FastifyError | Error): DialplaneError {
  if (isDialplaneError(error)) return error;
  // The database server restarting or stopped: a 503 the client may retry, not a fault of this server (nor logged
  // per request; the server logs the outage once).
  if (isDatabaseUnavailable(error)) {
    return new DialplaneError('database_unavailable', undefined, undefined, { 'retry-after': String(DATABASE_RETRY_AFTER_S) });
  }
  const fastifyError = error as FastifyError;
  if (fastifyError.validation) {
    const location = fastifyError.validationContext ?? 'body';
    const { field, message } = describeViolation(fastifyError.validation as readonly SchemaViolation[], location);
    return new DialplaneError('validation_failed', message, { location, ...(field ? { field } : {}) });
  }
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new DialplaneError('invalid_json');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new DialplaneError('invalid_json', 'The request body is empty but its Content-Type is JSON');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new DialplaneError('payload_too_large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new DialplaneError('unsupported_media_type');
    case 'FST_ERR_BAD_URL':
      return new DialplaneError('bad_request', 'The path is not valid percent-encoded UTF-8');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new DialplaneError('validation_failed', `A path parameter is longer than ${MAX_PARAM_LENGTH} characters`, { location: 'params' });
    default:
      break;
  }
  if (typeof fastifyError.statusCode === 'number' && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    return new DialplaneError('bad_request', fastifyError.message);
  }
  return new DialplaneError('internal_error');
}

/** Fastify's router default: longer path parameters never reach a route. */
const MAX_PARAM_LENGTH = 100;

/** The error format of the face whose prefix (or alias) is the longest one the path is under; the standard one else. */
function errorFormatsByPrefix(faces: readonly Face[]): (url: string) => FaceErrorFormat {
  const prefixes = faces
    .flatMap((face) => [face.prefix, ...(face.aliases ?? [])].map((prefix) => ({ prefix, format: face.errors })))
    .sort((a, b) => b.prefix.length - a.prefix.length);
  return (url) => {
    const path = url.split('?')[0] ?? '/';
    return prefixes.find(({ prefix }) => path === prefix || path.startsWith(`${prefix}/`))?.format ?? standardFormat;
  };
}

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}
