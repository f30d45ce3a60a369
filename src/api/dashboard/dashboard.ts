import { readFileSync } from 'node:fs';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { CallControl } from '../../core/calls/call-control.js';
import type { Services } from '../../core/services.js';
import { DialplaneError, isDialplaneError } from '../../errors.js';
import type { QualitySample } from '../../media/quality-log.js';
import { toDialplaneError } from '../app.js';
import type { RateLimitPolicy } from '../types.js';
import { bare, DASHBOARD_PREFIX, url, type Flash, type Viewer } from './layout.js';
import { html, type Html } from './html.js';
import {
  hashSessionId,
  MemorySessionStore,
  newCsrfToken,
  newSessionId,
  readCookie,
  SESSION_COOKIE,
  SESSION_MAX_MS,
  sessionAlive,
  sessionCookie,
  tokensMatch,
  type DashboardSession,
  type SessionStore,
} from './sessions.js';
import { registerAccountPages } from './pages/account-pages.js';
import { registerApplicationPages } from './pages/application-pages.js';
import { registerCallPages } from './pages/call-pages.js';
import { registerKeyPages } from './pages/key-pages.js';
import { registerStatusPage } from './pages/status-page.js';
import { registerTelephonyPages } from './pages/telephony-pages.js';
import { registerWebhookPages } from './pages/webhook-pages.js';

/** What the running server knows beyond the database: trunks, the SMSC link, registrations, live calls. */
export interface SystemView {
  trunks(): ReadonlyArray<{ readonly name: string; readonly reachable: boolean | undefined; readonly registered: boolean | undefined; readonly lastError?: string | undefined }>;
  /** The SMPP link: bound, binding, disconnected...; undefined where SMS is not running. */
  smsc(): { readonly state: string; readonly queued: number; readonly inFlight: number } | undefined;
  /** Live contacts of these devices. */
  registrations(deviceIds: readonly string[]): ReadonlyArray<{ readonly deviceId: string; readonly uri: string; readonly transport: string; readonly address: string; readonly port: number; readonly expiresAt: number }>;
  registrationCount(): number;
  liveCalls(): number;
}

export interface DashboardDeps {
  readonly services: Services;
  readonly calls?: CallControl;
  readonly system?: SystemView;
  /** A leg's audio quality samples (RTCP reception), where this process kept them. */
  readonly quality?: (legId: string) => readonly QualitySample[];
  readonly sessions?: SessionStore;
}

/** What a signed-in request carries through the handlers. */
export interface SignedIn {
  readonly viewer: Viewer;
  readonly session: DashboardSession;
}

type Params = Record<string, string>;

export interface PageContext {
  readonly request: FastifyRequest;
  readonly viewer: Viewer;
  readonly params: Params;
  readonly query: Params;
  /** Shown once: the result of the last action. */
  readonly flash: Flash | undefined;
  /** A secret shown once (a new key, a webhook secret, a device password), then forgotten. */
  readonly reveal: Reveal | undefined;
}

export interface Reveal {
  readonly label: string;
  readonly secret: string;
  readonly note: string;
}

export interface ActionContext {
  readonly request: FastifyRequest;
  readonly viewer: Viewer;
  readonly params: Params;
  readonly body: Params;
  flash(kind: Flash['kind'], text: string): void;
  reveal(reveal: Reveal): void;
}

/** How page modules add routes; every route below requires a session, and every action a CSRF token and write permission. */
export interface DashboardRoutes {
  readonly deps: DashboardDeps;
  page(path: string, render: (ctx: PageContext) => Promise<Html>): void;
  /**
   * Answers a redirect (the path to go to) or a page rendered in place (a form with its errors). A refused form goes
   * back to `back` with the error, by default the page of the path's first segment.
   */
  action(path: string, handle: (ctx: ActionContext) => Promise<string | { status: number; body: Html }>, back?: string): void;
  /** A signed-in GET answered by the handler itself (event streams, audio, JSON). */
  raw(path: string, handle: (request: FastifyRequest, reply: FastifyReply, signedIn: SignedIn) => Promise<unknown>): void;
}

interface SessionExtras {
  flash?: Flash;
  reveal?: Reveal;
}

const SIGN_IN_CSRF_COOKIE = 'dialplane_signin_csrf';
const MINUTE = 60_000;
const SIGN_IN_LIMIT: RateLimitPolicy = { subject: 'ip', scope: 'dashboard-sign-in', windows: [{ name: 'sign-in', limit: 20, windowMs: MINUTE }] };

const ASSETS_DIR = new URL('../../../../src/api/dashboard/assets/', import.meta.url);

/**
 * The web console at /dashboard: server-rendered pages over the same core services every API uses (it holds no
 * business rule of its own), a session cookie after an account user's sign-in, a CSRF token in every form.
 */
export async function registerDashboard(app: FastifyInstance, deps: DashboardDeps): Promise<void> {
  const sessions = deps.sessions ?? new MemorySessionStore();
  const extras = new WeakMap<DashboardSession, SessionExtras>();
  const signedInOf = new WeakMap<FastifyRequest, SignedIn>();
  const assets = loadAssets();

  await app.register(
    async (scope) => {
      // Pages, not API: kept out of the OpenAPI document.
      scope.addHook('onRoute', (route) => {
        route.schema = { ...route.schema, hide: true };
      });
      scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 256 * 1024 }, (_request, body, done) => {
        done(null, Object.fromEntries(new URLSearchParams(body as string)));
      });
      scope.addHook('onSend', async (request, reply, payload) => {
        void reply
          .header('content-security-policy', "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
          .header('x-content-type-options', 'nosniff')
          .header('referrer-policy', 'same-origin')
          .header('x-frame-options', 'DENY');
        if (!request.url.startsWith(url('/assets/'))) void reply.header('cache-control', 'no-store');
        return payload;
      });
      scope.setErrorHandler(async (error, request, reply) => {
        const known = isDialplaneError(error) ? error : toDialplaneError(error as Error);
        if (known.code === 'internal_error') request.log.error({ err: error, reqId: request.id }, 'dashboard error');
        const signedIn = signedInOf.get(request);
        const body = html`<h1>${known.status === 403 ? 'Not allowed' : 'Something went wrong'}</h1>
<p role="alert">${known.message}</p><p><a href="${signedIn ? url('/calls') : url('/sign-in')}">Back to the dashboard</a></p>`;
        return reply.headers(known.headers).status(known.status).type('text/html; charset=utf-8').send(bare('Error', body).text);
      });
      scope.setNotFoundHandler(async (_request, reply) =>
        reply.status(404).type('text/html; charset=utf-8').send(bare('Not found', html`<h1>Not found</h1><p><a href="${url('/calls')}">Back to the dashboard</a></p>`).text),
      );

      scope.get('/assets/:name', async (request, reply) => {
        const { name } = request.params as { name: string };
        const asset = assets.get(name);
        if (!asset) throw new DialplaneError('not_found', 'no such asset');
        return reply.type(asset.type).header('cache-control', 'no-cache').send(asset.body);
      });

      scope.get('/', async (_request, reply) => reply.redirect(url('/calls'), 303));

      const secure = (request: FastifyRequest) => request.protocol === 'https';
      const signInPage = (reply: FastifyReply, status: number, error?: string, email = '') => {
        const token = newCsrfToken();
        void reply.header('set-cookie', `${SIGN_IN_CSRF_COOKIE}=${token}; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age=3600${reply.request.protocol === 'https' ? '; Secure' : ''}`);
        return reply.status(status).type('text/html; charset=utf-8').send(
          bare(
            'Sign in',
            html`<div class="signin">
<h1>Sign in to Dialplane</h1>
${error ? html`<p class="flash error" role="alert" id="signin-error">${error}</p>` : ''}
<form method="post" action="${url('/sign-in')}">
<input type="hidden" name="_csrf" value="${token}">
<label for="email">Email</label>
<input id="email" name="email" type="email" autocomplete="username" required value="${email}"${error ? html` aria-describedby="signin-error"` : ''}>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
<p class="muted">Users are created with <code>dialplane users create</code>; a password is set with <code>dialplane users set-password</code>.</p>
</div>`,
          ).text,
        );
      };

      scope.get('/sign-in', async (_request, reply) => signInPage(reply, 200));

      scope.post(
        '/sign-in',
        { config: { dialplane: { rateLimit: SIGN_IN_LIMIT } } },
        async (request, reply) => {
          const body = formBody(request);
          // Sign-in has no session yet: its form token is checked against a cookie set with the form (double submit).
          if (!tokensMatch(body._csrf, readCookie(request.headers.cookie, SIGN_IN_CSRF_COOKIE) ?? '\u0000')) {
            throw new DialplaneError('forbidden', 'The form has expired or was not sent by this site; reload the sign-in page and try again');
          }
          let user;
          try {
            user = await deps.services.signIn.verify(body.email ?? '', body.password ?? '');
          } catch (error) {
            if (isDialplaneError(error) && error.code === 'invalid_login') return signInPage(reply, 401, 'The email or password is not valid.', body.email ?? '');
            throw error;
          }
          const id = newSessionId();
          const now = Date.now();
          await sessions.set(hashSessionId(id), { accountId: user.accountId, userId: user.id, csrfToken: newCsrfToken(), createdAt: now, lastSeenAt: now });
          void reply.header('set-cookie', [
            sessionCookie(id, secure(request), Math.floor(SESSION_MAX_MS / 1000)),
            `${SIGN_IN_CSRF_COOKIE}=; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age=0`,
          ]);
          return reply.redirect(url('/calls'), 303);
        },
      );

      /** The session of a request, refreshed; undefined when there is none (or it ended, or its user can no longer sign in). */
      const load = async (request: FastifyRequest): Promise<SignedIn | undefined> => {
        const id = readCookie(request.headers.cookie, SESSION_COOKIE);
        if (!id) return undefined;
        const idHash = hashSessionId(id);
        const session = await sessions.get(idHash);
        const now = Date.now();
        if (!session || !sessionAlive(session, now)) {
          if (session) await sessions.delete(idHash);
          return undefined;
        }
        const user = await deps.services.accounts.user(session.accountId, session.userId).catch(() => undefined);
        if (!user || user.status !== 'active') {
          await sessions.delete(idHash);
          return undefined;
        }
        if (now - session.lastSeenAt > MINUTE) {
          session.lastSeenAt = now;
          await sessions.set(idHash, session);
        }
        const signedIn = { session, viewer: { user, csrfToken: session.csrfToken, canWrite: !user.viewOnly } };
        signedInOf.set(request, signedIn);
        return signedIn;
      };

      const requireSession = async (request: FastifyRequest, reply: FastifyReply): Promise<SignedIn | undefined> => {
        const signedIn = await load(request);
        if (signedIn) return signedIn;
        if (request.method === 'GET' && !request.headers.accept?.includes('text/event-stream')) {
          void reply.redirect(`${url('/sign-in')}`, 303);
          return undefined;
        }
        throw new DialplaneError('missing_credentials', 'Sign in first: the session has ended');
      };

      scope.post('/sign-out', async (request, reply) => {
        const signedIn = await load(request);
        if (signedIn) {
          checkCsrf(request, signedIn.session);
          const id = readCookie(request.headers.cookie, SESSION_COOKIE);
          if (id) await sessions.delete(hashSessionId(id));
        }
        void reply.header('set-cookie', sessionCookie('', secure(request), 0));
        return reply.redirect(url('/sign-in'), 303);
      });

      const routes: DashboardRoutes = {
        deps,
        page(path, render) {
          scope.get(path, async (request, reply) => {
            const signedIn = await requireSession(request, reply);
            if (!signedIn) return reply;
            const kept = extras.get(signedIn.session);
            extras.delete(signedIn.session);
            const body = await render({
              request,
              viewer: signedIn.viewer,
              params: request.params as Params,
              query: request.query as Params,
              flash: kept?.flash,
              reveal: kept?.reveal,
            });
            return reply.type('text/html; charset=utf-8').send(body.text);
          });
        },
        action(path, handle, backTo) {
          const back = backTo ?? `/${path.split('/')[1] ?? 'calls'}`;
          scope.post(path, async (request, reply) => {
            const signedIn = await requireSession(request, reply);
            if (!signedIn) return reply;
            checkCsrf(request, signedIn.session);
            if (!signedIn.viewer.canWrite) throw new DialplaneError('view_only_user');
            const kept: SessionExtras = {};
            try {
              const result = await handle({
                request,
                viewer: signedIn.viewer,
                params: request.params as Params,
                body: formBody(request),
                flash: (kind, text) => (kept.flash = { kind, text }),
                reveal: (reveal) => (kept.reveal = reveal),
              });
              if (typeof result !== 'string') return reply.status(result.status).type('text/html; charset=utf-8').send(result.body.text);
              extras.set(signedIn.session, kept);
              return reply.redirect(url(result), 303);
            } catch (error) {
              if (!isDialplaneError(error) || error.status >= 500) throw error;
              const field = typeof error.details?.field === 'string' ? ` (${error.details.field})` : '';
              extras.set(signedIn.session, { flash: { kind: 'error', text: `${error.message}${field}` } });
              return reply.redirect(url(back), 303);
            }
          });
        },
        raw(path, handle) {
          scope.get(path, async (request, reply) => {
            const signedIn = await requireSession(request, reply);
            if (!signedIn) return reply;
            return handle(request, reply, signedIn);
          });
        },
      };

      registerKeyPages(routes);
      registerCallPages(routes);
      registerAccountPages(routes);
      registerStatusPage(routes);
      registerTelephonyPages(routes);
      registerApplicationPages(routes);
      registerWebhookPages(routes);
    },
    { prefix: DASHBOARD_PREFIX },
  );
}

function formBody(request: FastifyRequest): Params {
  const body = request.body;
  if (!body || typeof body !== 'object') return {};
  const out: Params = {};
  for (const [name, value] of Object.entries(body as Record<string, unknown>)) if (typeof value === 'string') out[name] = value;
  return out;
}

/** The session's token, from the form field or the X-CSRF-Token header (scripts), compared in constant time. */
function checkCsrf(request: FastifyRequest, session: DashboardSession): void {
  const header = request.headers['x-csrf-token'];
  const presented = formBody(request)._csrf ?? (typeof header === 'string' ? header : undefined);
  if (!tokensMatch(presented, session.csrfToken)) {
    throw new DialplaneError('forbidden', 'The form was not sent by this dashboard session (CSRF token mismatch); reload the page and try again');
  }
}

function loadAssets(): Map<string, { type: string; body: Buffer }> {
  const assets = new Map<string, { type: string; body: Buffer }>();
  assets.set('dashboard.css', { type: 'text/css; charset=utf-8', body: readFileSync(new URL('dashboard.css', ASSETS_DIR)) });
  assets.set('dashboard.js', { type: 'text/javascript; charset=utf-8', body: readFileSync(new URL('dashboard.js', ASSETS_DIR)) });
  return assets;
}
