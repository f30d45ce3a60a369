import type { Principal } from '../core/api-keys.js';
import type { RateWindow } from './rate-limit/rate-limiter.js';

/** How a route's caller proves who it is. Each face lists the schemes its document names. */
export type AuthScheme = 'bearer' | 'x-api-key' | 'basic' | 'app' | 'bare' | 'user-token';

export interface RateLimitPolicy {
  /** Count per API key (after authentication) or per client IP (before it). */
  readonly subject: 'key' | 'ip';
  /** Prefixes the counters, so two faces' windows of the same name never share a counter. */
  readonly scope: string;
  readonly windows: readonly RateWindow[];
}

/** Per-route settings read by the app-wide hooks (auth, permissions, rate limits). */
export interface RouteSettings {
  readonly auth?: readonly AuthScheme[] | 'admin';
  readonly rateLimit?: RateLimitPolicy;
  /** A route that changes state; read-only keys are refused on it. Defaults to true for non-GET methods. */
  readonly writes?: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | undefined;
  }
  interface FastifyContextConfig {
    dialplane?: RouteSettings;
  }
}
