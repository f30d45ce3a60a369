import { adminOperations } from '../api/admin/admin-operations.js';
import type { Config } from '../config/config.js';
import { systemClock } from '../core/clock.js';
import { createServices, type Services } from '../core/services.js';
import { openConfiguredStore } from '../store/open-store.js';
import { createHttpSender } from '../webhooks/sender.js';
import type { AdminClient } from './admin-client.js';

/**
 * The database opened by the command line itself, for when no server answers. Loaded only then (a dynamic import),
 * so a command served by the running server never pays for the store, its driver or the services.
 */
export async function openDirect(config: Config): Promise<{ services: Services; close(): Promise<void> }> {
  // As the server opens it: the same data directory modes, the same secrets key, the same start-up pass.
  const { database, store } = await openConfiguredStore(config);
  const services = createServices(store, {
    clock: systemClock,
    defaultCountry: config.phone.defaultCountry,
    keyCacheTtlMs: config.auth.keyCacheTtlMs,
  });
  return { services, close: () => database.close() };
}

/** The admin operations on the database directly. */
export async function directAdminClient(config: Config): Promise<AdminClient> {
  const { services, close } = await openDirect(config);
  // Without a server, a test delivery is sent from here, through the same guard; re-sends wait for the server.
  services.webhooks.attach({
    notify: () => undefined,
    send: createHttpSender({
      allowPrivate: config.webhooks.allowPrivate,
      connectTimeoutMs: config.webhooks.connectTimeoutMs,
      timeoutMs: config.webhooks.timeoutMs,
    }),
  });
  return { ...adminOperations(services), mode: 'database', close };
}
