import { Command } from 'commander';
import { loadConfig, type Config } from '../config/config.js';
import type { KeyWebhooksInput, KeyWebhooksView } from '../core/key-webhooks.js';
import { AdminCommandError, connectServer } from './admin-client.js';
import { printResult, table } from './output.js';

export interface KeyWebhooksOptions {
  readonly account?: string;
  readonly callUrl?: string;
  readonly callSecret?: string;
  readonly smsUrl?: string;
  readonly smsSecret?: string;
  readonly legacyUrl?: string;
  readonly legacySecret?: string;
  /** Comma-separated slots to clear: call, sms, legacy. */
  readonly clear?: string;
  readonly json?: boolean;
}

const SLOTS = ['call', 'sms', 'legacy'] as const;

/** The admin API body for the options given; an empty one only reads. An empty secret means unsigned (null). */
export function keyWebhooksInput(options: KeyWebhooksOptions): KeyWebhooksInput {
  const cleared = new Set((options.clear ?? '').split(',').map((s) => s.trim()).filter((s) => s !== ''));
  for (const slot of cleared) {
    if (!(SLOTS as readonly string[]).includes(slot)) {
      throw new AdminCommandError(`unknown webhook ${slot} in --clear: use call, sms and/or legacy`, 'validation_failed');
    }
  }
  const input: KeyWebhooksInput = {};
  const slot = (name: (typeof SLOTS)[number], url: string | undefined, secret: string | undefined) => {
    const urlField = name === 'legacy' ? 'webhook_url' : (`${name}_webhook_url` as const);
    const secretField = name === 'legacy' ? 'webhook_secret' : (`${name}_webhook_secret` as const);
    if (cleared.has(name)) {
      if (url !== undefined || secret !== undefined) {
        throw new AdminCommandError(`--clear ${name} cannot be combined with --${name}-url or --${name}-secret`, 'validation_failed');
      }
      input[urlField] = null;
      return;
    }
    if (url !== undefined) input[urlField] = url;
    if (secret !== undefined) input[secretField] = secret === '' ? null : secret;
  };
  slot('call', options.callUrl, options.callSecret);
  slot('sms', options.smsUrl, options.smsSecret);
  slot('legacy', options.legacyUrl, options.legacySecret);
  return input;
}

async function adminRequest<T>(server: { baseUrl: string; token: string }, method: 'GET' | 'PUT', path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${server.baseUrl}/admin/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${server.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const payload = (await response.json()) as T & { error?: { code?: string; message?: string } };
  if (!response.ok) throw new AdminCommandError(payload.error?.message ?? `HTTP ${response.status}`, payload.error?.code ?? 'error');
  return payload;
}

function onlyAccount(accounts: ReadonlyArray<{ id: string }>, account: string | undefined): string {
  if (account) return account;
  if (accounts.length === 1 && accounts[0]) return accounts[0].id;
  throw new AdminCommandError(
    accounts.length === 0 ? 'there is no account yet: run `dialplane account create`' : 'several accounts exist: pass --account <id>',
    'validation_failed',
  );
}

/** The server answering at the configured address, or undefined when none does. */
async function runningServer(config: Config): Promise<{ baseUrl: string; token: string } | undefined> {
  try {
    return await connectServer(config);
  } catch (error) {
    if (error instanceof AdminCommandError && error.code === 'not_ready') return undefined;
    throw error;
  }
}

/**
 * Reads a key's DialAnyone webhook settings, changing them first when the options say so: through the running
 * server's admin API, or on the database when no server runs.
 */
export async function runKeyWebhooks(config: Config, keyId: string, options: KeyWebhooksOptions): Promise<KeyWebhooksView> {
  const input = keyWebhooksInput(options);
  const changes = Object.keys(input).length > 0;
  const server = await runningServer(config);
  if (server) {
    const accountId = onlyAccount(
      options.account ? [] : (await adminRequest<{ accounts: Array<{ id: string }> }>(server, 'GET', '/accounts')).accounts,
      options.account,
    );
    const path = `/accounts/${encodeURIComponent(accountId)}/keys/${encodeURIComponent(keyId)}/webhooks`;
    return changes ? adminRequest<KeyWebhooksView>(server, 'PUT', path, input) : adminRequest<KeyWebhooksView>(server, 'GET', path);
  }
  const { openDirect } = await import('./direct.js');
  const { services, close } = await openDirect(config);
  try {
    const accountId = onlyAccount(options.account ? [] : await services.accounts.list(), options.account);
    return changes ? await services.keyWebhooks.set(accountId, keyId, input) : await services.keyWebhooks.view(accountId, keyId);
  } finally {
    await close();
  }
}

function human(result: KeyWebhooksView): string {
  const line = (label: string, url: string | null, secret: string | null) =>
    `  ${label.padEnd(7)} ${url === null ? '-' : `${url} (${secret === null ? 'unsigned' : `signed, secret ${secret}`})`}`;
  return [
    `key ${result.key_id}`,
    line('call', result.call_webhook_url, result.call_webhook_secret),
    line('sms', result.sms_webhook_url, result.sms_webhook_secret),
    line('legacy', result.webhook_url, result.webhook_secret),
    'subscriptions:',
    table(result.subscriptions, ['webhook_url', 'event_types', 'signed', 'status', 'created_at']),
  ].join('\n');
}

/** Adds `webhooks <keyId>` to the `keys` command: a key's DialAnyone webhook URLs and secrets. */
export function addKeyWebhooksCommand(keys: Command, config: () => Config = () => loadConfig()): Command {
  return keys
    .command('webhooks <keyId>')
    .description("show or set a key's DialAnyone webhook URLs (call, SMS, legacy) and secrets; an empty secret means unsigned")
    .option('--account <id>', 'account id (optional when only one account exists)')
    .option('--call-url <url>', 'where incoming calls are notified')
    .option('--call-secret <secret>', 'signs the call webhook (X-DialAnyone-Signature)')
    .option('--sms-url <url>', 'where incoming SMS are notified')
    .option('--sms-secret <secret>', 'signs the SMS webhook')
    .option('--legacy-url <url>', 'receives both kinds (the legacy webhook URL)')
    .option('--legacy-secret <secret>', 'signs the legacy webhook')
    .option('--clear <slots>', 'comma-separated: call, sms, legacy')
    .option('--json', 'machine-readable output')
    .action(async (keyId: string, options: KeyWebhooksOptions) => {
      const result = await runKeyWebhooks(config(), keyId, options);
      printResult(Boolean(options.json), result, () => human(result));
    });
}
