import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AdminOperations } from '../api/admin/admin-operations.js';
import type { Config } from '../config/config.js';
import { ADMIN_TOKEN_FILE } from '../config/data-files.js';
import type { Services } from '../core/services.js';
import { AdminCommandError } from './command-error.js';

// Only types come from the server's modules here: a command the running server answers loads none of them, and
// the database path (./direct.js) is imported only when no server answers.
export { AdminCommandError };

export type AdminClient = AdminOperations & { readonly mode: 'server' | 'database'; close(): Promise<void> };

/**
 * While a server answers on the configured address, admin commands go through its admin API so its caches stay
 * coherent; with none running they open the database themselves.
 */
/** Commands that need a live server (placing a call) use this: base URL and admin token, or a clear error. */
export async function connectServer(config: Config): Promise<{ baseUrl: string; token: string }> {
  const baseUrl = serverUrl(config);
  if (!(await isDialplaneServer(baseUrl))) {
    throw new AdminCommandError(`no Dialplane server answers at ${baseUrl}: start one with \`dialplane serve\``, 'not_ready');
  }
  return { baseUrl, token: await serverToken(config) };
}

export async function connectAdmin(config: Config): Promise<AdminClient> {
  const baseUrl = serverUrl(config);
  if (await isDialplaneServer(baseUrl)) return httpClient(baseUrl, await serverToken(config));
  const { directAdminClient } = await import('./direct.js');
  return directAdminClient(config);
}

export function serverUrl(config: Config): string {
  const host = config.http.host === '0.0.0.0' ? '127.0.0.1' : config.http.host === '::' ? '::1' : config.http.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${config.http.port}`;
}

export async function isDialplaneServer(baseUrl: string): Promise<boolean> {
  try {
    const response = await fetch(`${baseUrl}/healthz`, { signal: AbortSignal.timeout(1000) });
    const body = (await response.json()) as { service?: unknown };
    return body.service === 'dialplane';
  } catch {
    return false;
  }
}

/** The admin token of the server answering at the configured address: configured, or the one it left in its data directory. */
export async function serverToken(config: Config): Promise<string> {
  if (config.admin.token) return config.admin.token;
  try {
    return (await readFile(join(config.dataDir, ADMIN_TOKEN_FILE), 'utf8')).trim();
  } catch {
    throw new AdminCommandError(
      `a server answers at ${serverUrl(config)} but no admin token was found: set DIALPLANE_ADMIN_TOKEN or use the server's data directory`,
      'admin_unauthorized',
    );
  }
}

/** One request to the running server's admin API; its error body becomes an AdminCommandError. */
export type AdminCall = (method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, body?: unknown) => Promise<unknown>;

export function adminCall(baseUrl: string, token: string): AdminCall {
  return async (method, path, body) => {
    const response = await fetch(`${baseUrl}/admin/v1${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const payload = (await response.json()) as { error?: { code?: string; message?: string } };
    if (!response.ok) {
      throw new AdminCommandError(payload.error?.message ?? `HTTP ${response.status}`, payload.error?.code ?? 'error');
    }
    return payload;
  };
}

/** What every command group's client also answers: the accounts there are (for a default --account), and close. */
export interface AccountsClient {
  listAccountIds(): Promise<string[]>;
  close(): Promise<void>;
}

/**
 * A command group's operations: through the running server's admin API when one answers (its caches stay coherent),
 * else on the database directly — the same functions produce both shapes.
 */
export async function connectOperations<Ops>(
  config: Config,
  direct: (services: Services) => Ops | Promise<Ops>,
  overHttp: (call: AdminCall) => Ops,
): Promise<Ops & AccountsClient> {
  const baseUrl = serverUrl(config);
  if (await isDialplaneServer(baseUrl)) {
    const call = adminCall(baseUrl, await serverToken(config));
    return {
      ...overHttp(call),
      listAccountIds: async () => ((await call('GET', '/accounts')) as { accounts: Array<{ id: string }> }).accounts.map((a) => a.id),
      close: async () => undefined,
    };
  }
  const { openDirect } = await import('./direct.js');
  const { services, close } = await openDirect(config);
  return {
    ...(await direct(services)),
    listAccountIds: async () => (await services.accounts.list()).map((a) => a.id),
    close,
  };
}

function httpClient(baseUrl: string, token: string): AdminClient {
  const call = adminCall(baseUrl, token);
  const account = (id: string) => `/accounts/${encodeURIComponent(id)}`;
  // The casts restate what the server's routes return: the same functions produce both shapes.
  type Ops = AdminOperations;
  return {
    mode: 'server',
    close: async () => undefined,
    listAccounts: () => call('GET', '/accounts') as ReturnType<Ops['listAccounts']>,
    createAccount: (body) => call('POST', '/accounts', body) as ReturnType<Ops['createAccount']>,
    listKeys: (id) => call('GET', `${account(id)}/keys`) as ReturnType<Ops['listKeys']>,
    createKey: (id, body) => call('POST', `${account(id)}/keys`, body) as ReturnType<Ops['createKey']>,
    revokeKey: (id, keyId) =>
      call('POST', `${account(id)}/keys/${encodeURIComponent(keyId)}/revoke`) as ReturnType<Ops['revokeKey']>,
    listNumbers: (id) => call('GET', `${account(id)}/numbers`) as ReturnType<Ops['listNumbers']>,
    addNumber: (id, body) => call('POST', `${account(id)}/numbers`, body) as ReturnType<Ops['addNumber']>,
    listApps: (id) => call('GET', `${account(id)}/apps`) as ReturnType<Ops['listApps']>,
    createApp: (id, body) => call('POST', `${account(id)}/apps`, body) as ReturnType<Ops['createApp']>,
    updateApp: (id, appId, body) =>
      call('PATCH', `${account(id)}/apps/${encodeURIComponent(appId)}`, body) as ReturnType<Ops['updateApp']>,
    credits: (id) => call('GET', `${account(id)}/credits`) as ReturnType<Ops['credits']>,
    addCredits: (id, body) => call('POST', `${account(id)}/credits`, body) as ReturnType<Ops['addCredits']>,
    listEndpoints: (id) => call('GET', `${account(id)}/webhooks/endpoints`) as ReturnType<Ops['listEndpoints']>,
    createEndpoint: (id, body) =>
      call('POST', `${account(id)}/webhooks/endpoints`, body) as ReturnType<Ops['createEndpoint']>,
    deleteEndpoint: (id, endpointId) =>
      call('DELETE', `${account(id)}/webhooks/endpoints/${encodeURIComponent(endpointId)}`) as ReturnType<Ops['deleteEndpoint']>,
    setEndpointEnabled: (id, endpointId, enabled) =>
      call(
        'POST',
        `${account(id)}/webhooks/endpoints/${encodeURIComponent(endpointId)}/${enabled ? 'enable' : 'disable'}`,
      ) as ReturnType<Ops['setEndpointEnabled']>,
    rotateEndpointSecret: (id, endpointId, body) =>
      call('POST', `${account(id)}/webhooks/endpoints/${encodeURIComponent(endpointId)}/rotate-secret`, body) as ReturnType<
        Ops['rotateEndpointSecret']
      >,
    listDeliveries: (query) => {
      const params = new URLSearchParams();
      for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value));
      return call('GET', `/webhooks/deliveries?${params.toString()}`) as ReturnType<Ops['listDeliveries']>;
    },
    getDelivery: (deliveryId) =>
      call('GET', `/webhooks/deliveries/${encodeURIComponent(deliveryId)}`) as ReturnType<Ops['getDelivery']>,
    resendDelivery: (deliveryId) =>
      call('POST', `/webhooks/deliveries/${encodeURIComponent(deliveryId)}/resend`, {}) as ReturnType<Ops['resendDelivery']>,
    testWebhook: (id, body) => call('POST', `${account(id)}/webhooks/test`, body) as ReturnType<Ops['testWebhook']>,
  };
}

/** The account a command acts on: the one given, or the only account there is. */
export async function resolveAccount(client: AdminClient, account: string | undefined): Promise<string> {
  if (account) return account;
  const { accounts } = await client.listAccounts();
  if (accounts.length === 1 && accounts[0]) return accounts[0].id;
  throw new AdminCommandError(
    accounts.length === 0 ? 'there is no account yet: run `dialplane account create`' : 'several accounts exist: pass --account <id>',
    'validation_failed',
  );
}
