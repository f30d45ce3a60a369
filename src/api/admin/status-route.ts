import type { FastifyInstance } from 'fastify';
import type { RouteSettings } from '../types.js';

/** What the running server reports about its links, for `dialplane doctor`. */
export interface ServerStatus {
  readonly sip: { readonly port: number };
  readonly trunks: ReadonlyArray<{
    readonly name: string;
    /** Whether the last OPTIONS keepalive was answered; null before the first. */
    readonly reachable: boolean | null;
    /** Whether the trunk has us registered; null when it does not register (or not yet). */
    readonly registered: boolean | null;
    readonly registered_until: string | null;
    readonly last_error: string | null;
  }>;
  /** The SMPP link: bound, connecting, disconnected, bind_failed… */
  readonly smsc: { readonly state: string; readonly dev: boolean };
}

const config = { dialplane: { auth: 'admin' } satisfies RouteSettings };

export function registerStatusRoute(app: FastifyInstance, status: () => ServerStatus): void {
  app.get(
    '/admin/v1/status',
    { config, schema: { tags: ['Admin'], security: [{ adminToken: [] }], summary: "The server's SIP port, trunks and SMSC link" } },
    async () => status(),
  );
}
