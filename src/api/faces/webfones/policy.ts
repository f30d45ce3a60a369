import type { RouteSettings } from '../../types.js';
import type { RateWindow } from '../../rate-limit/rate-limiter.js';

/** The document's limit: 1,000 requests per 15-minute window per IP address. */
export const WEBFONES_WINDOW = { name: 'requests', limit: 1_000, windowMs: 15 * 60_000 } as const satisfies RateWindow;

/** The key in `x-api-key` or as `Authorization: Bearer`; counted per client IP before the key is checked. */
export const webFonesRoute: { dialplane: RouteSettings } = {
  dialplane: {
    auth: ['x-api-key', 'bearer'],
    rateLimit: { subject: 'ip', scope: 'webfones', windows: [WEBFONES_WINDOW] },
  },
};
