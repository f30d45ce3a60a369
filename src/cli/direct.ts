import { adminOperations } from '../api/admin/admin-operations.js';
import type { Config } from '../config/config.js';
import { systemClock } from '../core/clock.js';
import { createServices, type Services } from '../core/services.js';
import { openDatabase } from '../store/database.js';
import { createStore } from '../store/store.js';
import { createHttpSender } from '../webhooks/sender.js';
import type { AdminClient } from './admin-client.js';

/**
 * The database opened by the command line itself, for when no server answers. Loaded only then (a dynamic import),
 * so a command served by the running server never pays for the store, its driver or the services.
 */
export async function openDirect(config: Config): Promise<{ services: Services; close(): Promise<void> }> {
  const database = await openDatabase({ url: config.database.url, dialect: config.database.dialect });
  const services = createServices(createStore(database), {
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
