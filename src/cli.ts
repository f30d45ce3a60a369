import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { ConfigError, describeConfig, loadConfig, type Config } from './config/config.js';
import { AdminCommandError, connectAdmin, connectServer, resolveAccount, type AdminClient } from './cli/admin-client.js';
import { printResult, table } from './cli/output.js';
import { addKeyWebhooksCommand } from './cli/key-webhooks-command.js';
import { addExtensionCommands } from './cli/extensions-command.js';
import { addApplicationCommands } from './cli/applications-command.js';
import { addDevCertCommand } from './cli/dev-cert-command.js';
import { addUserCommands } from './cli/users-command.js';
import { addCallCommand } from './cli/call-command.js';
import { DialplaneError } from './errors.js';

// Only the command line itself is loaded here. What a command needs beyond it is imported when it runs: `serve`
// loads the server, and a command the running server answers goes through its admin API without loading the
// store, the services or any engine (see cli/admin-client.ts).

interface JsonOption {
  json?: boolean;
}

function config(): Config {
  return loadConfig();
}

/** Every admin command: connect (server or database), run, print, close; errors become exit code 1. */
async function withAdmin(_json: boolean | undefined, run: (client: AdminClient) => Promise<void>): Promise<void> {
  const client = await connectAdmin(config());
  try {
    await run(client);
  } finally {
    await client.close();
  }
}

/** With no --account and exactly one account (a fresh install), that account is meant. */
const program = new Command();
program
  .name('dialplane')
  .description('Self-hosted programmable voice and SMS')
  .version(packageVersion(), '-V, --version')
  .showHelpAfterError()
  .addHelpText('after', '\nExit status: 0 done, 1 the command failed, 2 invalid configuration; `dialplane call --help` lists its own.');

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

program
  .command('serve')
  .description('start the server (HTTP API, admin API)')
  .action(async () => {
    const cfg = config();
    const { createLogger, startServer } = await import('./server.js');
    const logger = createLogger(cfg);
    // A bug in one call's handling must not drop every other call: log it loudly and keep serving.
    process.on('unhandledRejection', (err) => logger.error({ err }, 'unhandled rejection'));
    const server = await startServer(cfg, logger);
    if (server.bootstrap) {
      const b = server.bootstrap;
      process.stdout.write(
        [
          '',
          'First start: created a bootstrap account.',
          `  account:  ${b.accountId} (${b.email})`,
          `  credits:  ${b.credits.toFixed(2)}`,
          ...b.numbers.map((n) => `  number:   ${n.number} (${n.type}, voice+sms)`),
          `  API key:  ${b.apiKey}`,
          `  (also written to ${b.file}, mode 0600; the key is not shown again)`,
          '',
          `  curl -H "Authorization: Bearer ${b.apiKey}" ${server.url}/api/v1/me`,
          '',
        ].join('\n'),
      );
    }
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'shutting down');
      server.close().then(
        () => process.exit(0),
        (err: unknown) => {
          logger.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });

program
  .command('doctor')
  .description('check the set-up: configuration, database, ports, trunks, SMSC, speech, addresses, clock')
  .option('--timeout <seconds>', 'how long the database, each trunk and the SMSC get to answer', '2')
  .option('--json', 'machine-readable output')
  .addHelpText('after', '\nEach line is ok, warn or fail, with what to do. Exit status 1 when a check failed.')
  .action(async (o: JsonOption & { timeout: string }) => {
    const { formatDoctor, runDoctor } = await import('./cli/doctor.js');
    const checks = await runDoctor({ timeoutMs: Math.max(0.1, Number(o.timeout) || 2) * 1000, config });
    const failed = checks.some((c) => c.status === 'fail');
    printResult(Boolean(o.json), { ok: !failed, checks }, () => formatDoctor(checks));
    if (failed) process.exitCode = 1;
  });

program
  .command('config')
  .description('print the effective configuration, secrets masked')
  .option('--json', 'machine-readable output')
  .action((options: JsonOption) => {
    const rows = describeConfig(config());
    printResult(Boolean(options.json), rows, () => table(rows, ['variable', 'value', 'source']));
  });

const account = program.command('account').description('accounts (tenants)');
account
  .command('create')
  .requiredOption('--name <name>', 'account name')
  .requiredOption('--email <email>', 'email of its first (admin) user')
  .option('--first-name <name>')
  .option('--last-name <name>')
  .option('--job-title <title>')
  .option('--json', 'machine-readable output')
  .action(async (o: JsonOption & { name: string; email: string; firstName?: string; lastName?: string; jobTitle?: string }) =>
    withAdmin(o.json, async (client) => {
      const result = await client.createAccount({
        name: o.name,
        email: o.email,
        ...(o.firstName ? { first_name: o.firstName } : {}),
        ...(o.lastName ? { last_name: o.lastName } : {}),
        ...(o.jobTitle ? { job_title: o.jobTitle } : {}),
      });
      printResult(Boolean(o.json), result, () => `created account ${result.account.id} (${result.account.email})`);
    }),
  );
account
  .command('list')
  .option('--json', 'machine-readable output')
  .action(async (o: JsonOption) =>
    withAdmin(o.json, async (client) => {
      const result = await client.listAccounts();
      printResult(Boolean(o.json), result, () => table(result.accounts, ['id', 'name', 'email', 'status', 'created_at']));
    }),
  );

const accountOption = () => new Option('--account <id>', 'account id (optional when only one account exists)');

const keys = program.command('keys').description('API keys');
keys
  .command('create')
  .requiredOption('--name <name>', 'a name to recognise the key by')
  .addOption(accountOption())
  .option('--read-only', 'the key may only read')
  .option('--expires-at <iso>', 'expiry, ISO-8601 date-time')
  .option('--json', 'machine-readable output')
  .action(async (o: JsonOption & { name: string; account?: string; readOnly?: boolean; expiresAt?: string }) =>
    withAdmin(o.json, async (client) => {
      const id = await resolveAccount(client, o.account);
      const result = await client.createKey(id, {
        name: o.name,
        permission: o.readOnly ? 'read_only' : 'full',
        expires_at: o.expiresAt ?? null,
      });
      printResult(Boolean(o.json), result, () => `created key ${result.key.id}\n${result.api_key}\n(store it now: it is not shown again)`);
    }),
  );
keys
  .command('list')
  .addOption(accountOption())
  .option('--json', 'machine-readable output')
  .action(async (o: JsonOption & { account?: string }) =>
    withAdmin(o.json, async (client) => {
      const result = await client.listKeys(await resolveAccount(client, o.account));
      printResult(Boolean(o.json), result, () =>
        table(
          result.keys.map((k) => ({ ...k, key: `dk_live_…${k.last4}` })),
          ['id', 'name', 'key', 'permission', 'enabled', 'expires_at', 'last_used_at'],
        ),
      );
    }),
  );
keys
  .command('revoke <keyId>')
  .addOption(accountOption())
  .option('--json', 'machine-readable output')
  .action(async (keyId: string, o: JsonOption & { account?: string }) =>
    withAdmin(o.json, async (client) => {
      const result = await client.revokeKey(await resolveAccount(client, o.account), keyId);
      printResult(Boolean(o.json), result, () => `revoked key ${result.key.id}`);
    }),
  );
addKeyWebhooksCommand(keys, config);

const numbers = program.command('numbers').description('phone numbers');
numbers
  .command('add <number>')
  .addOption(accountOption())
  .addOption(new Option('--type <type>', 'number type').choices(['purchased', 'ported', 'outgoing_only']).default('purchased'))
  .option('--capabilities <list>', 'comma-separated: voice,sms', 'voice,sms')
  .option('--json', 'machine-readable output')
  .action(async (number: string, o: JsonOption & { account?: string; type: 'purchased' | 'ported' | 'outgoing_only'; capabilities: string }) =>
    withAdmin(o.json, async (client) => {
      const capabilities = o.capabilities.split(',').map((c) => c.trim()).filter(Boolean);
      for (const c of capabilities) {
        if (c !== 'voice' && c !== 'sms') throw new AdminCommandError(`unknown capability ${c}: use voice and/or sms`, 'validation_failed');
      }
      const result = await client.addNumber(await resolveAccount(client, o.account), {
        number,
        type: o.type,
        capabilities: capabilities as Array<'voice' | 'sms'>,
      });
      printResult(Boolean(o.json), result, () => `added ${result.number.number} (${result.number.type}) as ${result.number.id}`);
    }),
  );
numbers
  .command('list')
  .addOption(accountOption())
  .option('--json', 'machine-readable output')
  .action(async (o: JsonOption & { account?: string }) =>
    withAdmin(o.json, async (client) => {
      const result = await client.listNumbers(await resolveAccount(client, o.account));
      printResult(Boolean(o.json), result, () => table(result.numbers, ['id', 'number', 'type', 'capabilities', 'created_at']));
    }),
  );

const apps = program.command('apps').description('gateway apps (X-App-ID + X-API-Key)');
apps
  .command('create')
  .requiredOption('--name <name>', 'app name')
  .addOption(accountOption())
  .option('--caller-id <number...>', 'caller-ID numbers the app may present')
  .option('--country <cc>', 'country for caller IDs in national format')
  .option('--webhook-url <url>', 'where session events are posted')
  .option('--webhook-secret <secret>', 'signing secret (generated when omitted)')
  .option('--application <id>', 'call-control application an answered session runs')
  .option('--json', 'machine-readable output')
  .action(async (o: JsonOption & { name: string; account?: string; callerId?: string[]; country?: string; webhookUrl?: string; webhookSecret?: string; application?: string }) =>
    withAdmin(o.json, async (client) => {
      const result = await client.createApp(await resolveAccount(client, o.account), {
        name: o.name,
        caller_id_allow_list: o.callerId ?? [],
        webhook_url: o.webhookUrl ?? null,
        webhook_secret: o.webhookSecret ?? null,
        application_id: o.application ?? null,
        ...(o.country ? { country: o.country } : {}),
      });
      printResult(Boolean(o.json), result, () =>
        `created app ${result.app_id}\nX-App-ID:  ${result.app_id}\nX-API-Key: ${result.api_key}\n(store the key now: it is not shown again)`,
      );
    }),
  );
apps
  .command('list')
  .addOption(accountOption())
  .option('--json', 'machine-readable output')
  .action(async (o: JsonOption & { account?: string }) =>
    withAdmin(o.json, async (client) => {
      const result = await client.listApps(await resolveAccount(client, o.account));
      printResult(Boolean(o.json), result, () =>
        table(result.apps, ['id', 'name', 'caller_id_allow_list', 'webhook_url', 'application_id', 'created_at']),
      );
    }),
  );
apps
  .command('update <appId>')
  .description("change an app's caller IDs, webhook or application (only the options given)")
  .addOption(accountOption())
  .option('--caller-id <number...>', 'caller-ID numbers the app may present (replaces the list)')
  .option('--country <cc>', 'country for caller IDs in national format')
  .option('--webhook-url <url>', 'where session events are posted ("" for none)')
  .option('--webhook-secret <secret>', 'signing secret')
  .option('--application <id>', 'call-control application an answered session runs ("" for none)')
  .option('--json', 'machine-readable output')
  .action(
    async (
      appId: string,
      o: JsonOption & { account?: string; callerId?: string[]; country?: string; webhookUrl?: string; webhookSecret?: string; application?: string },
    ) =>
      withAdmin(o.json, async (client) => {
        const result = await client.updateApp(await resolveAccount(client, o.account), appId, {
          ...(o.callerId ? { caller_id_allow_list: o.callerId } : {}),
          ...(o.webhookUrl !== undefined ? { webhook_url: o.webhookUrl || null } : {}),
          ...(o.webhookSecret !== undefined ? { webhook_secret: o.webhookSecret } : {}),
          ...(o.application !== undefined ? { application_id: o.application || null } : {}),
          ...(o.country ? { country: o.country } : {}),
        });
        printResult(Boolean(o.json), result, () => `updated app ${result.app.id}`);
      }),
  );

const credits = program.command('credits').description('credit balance and ledger');
credits
  .command('add <amount>')
  .addOption(accountOption())
  .option('--description <text>', 'ledger description', 'top-up')
  .option('--json', 'machine-readable output')
  .action(async (amount: string, o: JsonOption & { account?: string; description: string }) =>
    withAdmin(o.json, async (client) => {
      const result = await client.addCredits(await resolveAccount(client, o.account), { amount, description: o.description });
      printResult(Boolean(o.json), result, () => `added ${result.entry.amount.toFixed(2)} credits; balance ${result.balance.toFixed(2)}`);
    }),
  );
credits
  .command('show')
  .addOption(accountOption())
  .option('--json', 'machine-readable output')
  .action(async (o: JsonOption & { account?: string }) =>
    withAdmin(o.json, async (client) => {
      const result = await client.credits(await resolveAccount(client, o.account));
      printResult(Boolean(o.json), result, () =>
        `balance ${result.balance.toFixed(2)}, held ${result.held.toFixed(2)}, available ${result.available.toFixed(2)}\n` +
        table(
          result.entries.map((e) => ({ ...e, amount: e.amount.toFixed(2), balance_after: e.balance_after.toFixed(2) })),
          ['created_at', 'amount', 'balance_after', 'kind', 'description'],
        ),
      );
    }),
  );

addCallCommand(program, config);

const webhooks = program.command('webhooks').description('webhook endpoints and the delivery log');
const endpoints = webhooks.command('endpoints').description('where events are delivered');
endpoints
  .command('add <url>')
  .addOption(accountOption())
  .option('--events <types>', 'comma-separated event types (call.answered, call.*, *)', '*')
  .option('--description <text>', 'what the endpoint is for')
  .option('--secret <secret>', 'signing secret (default: generated, shown once)')
  .option('--signature-header <name>', 'also send the plain body HMAC in this header')
  .option('--json', 'machine-readable output')
  .action(async (url: string, o: JsonOption & { account?: string; events: string; description?: string; secret?: string; signatureHeader?: string }) =>
    withAdmin(o.json, async (client) => {
      const result = await client.createEndpoint(await resolveAccount(client, o.account), {
        url,
        event_types: o.events.split(',').map((t) => t.trim()).filter(Boolean),
        ...(o.description !== undefined ? { description: o.description } : {}),
        ...(o.secret !== undefined ? { secret: o.secret } : {}),
        ...(o.signatureHeader !== undefined ? { signature_header: o.signatureHeader } : {}),
      });
      printResult(Boolean(o.json), result, () =>
        `endpoint ${result.endpoint.id} -> ${result.endpoint.url}\nsigning secret (shown once): ${result.endpoint.secret}`,
      );
    }),
  );
endpoints
  .command('list')
  .addOption(accountOption())
  .option('--json', 'machine-readable output')
  .action(async (o: JsonOption & { account?: string }) =>
    withAdmin(o.json, async (client) => {
      const result = await client.listEndpoints(await resolveAccount(client, o.account));
      printResult(Boolean(o.json), result, () => table(result.endpoints, ['id', 'url', 'event_types', 'status', 'secret', 'rotating']));
    }),
  );
endpoints
  .command('rm <endpointId>')
  .addOption(accountOption())
  .option('--json', 'machine-readable output')
  .action(async (endpointId: string, o: JsonOption & { account?: string }) =>
    withAdmin(o.json, async (client) => {
      const result = await client.deleteEndpoint(await resolveAccount(client, o.account), endpointId);
      printResult(Boolean(o.json), result, () => `deleted ${endpointId}; its pending deliveries are cancelled`);
    }),
  );
for (const [name, enabled] of [['enable', true], ['disable', false]] as const) {
  endpoints
    .command(`${name} <endpointId>`)
    .addOption(accountOption())
    .option('--json', 'machine-readable output')
    .action(async (endpointId: string, o: JsonOption & { account?: string }) =>
      withAdmin(o.json, async (client) => {
        const result = await client.setEndpointEnabled(await resolveAccount(client, o.account), endpointId, enabled);
        printResult(Boolean(o.json), result, () => `${endpointId} ${result.endpoint.status}`);
      }),
    );
}
endpoints
  .command('rotate <endpointId>')
  .description('new signing secret; the old one keeps signing until --finish')
  .addOption(accountOption())
  .option('--secret <secret>', 'the new secret (default: generated)')
  .option('--finish', 'stop signing with the previous secret')
  .option('--json', 'machine-readable output')
  .action(async (endpointId: string, o: JsonOption & { account?: string; secret?: string; finish?: boolean }) =>
    withAdmin(o.json, async (client) => {
      const result = await client.rotateEndpointSecret(await resolveAccount(client, o.account), endpointId, {
        ...(o.secret !== undefined ? { secret: o.secret } : {}),
        ...(o.finish ? { finish: true } : {}),
      });
      printResult(Boolean(o.json), result, () =>
        o.finish ? `${endpointId} signs with one secret again` : `new signing secret (shown once): ${result.endpoint.secret}`,
      );
    }),
  );
webhooks
  .command('deliveries')
  .description('the delivery log, newest first')
  .option('--account <id>', 'only this account')
  .option('--endpoint <id>', 'only this endpoint')
  .option('--event <id>', 'only this event')
  .option('--status <status>', 'pending, delivering, delivered, failed or cancelled')
  .option('--limit <n>', 'how many', '50')
  .option('--json', 'machine-readable output')
  .action(async (o: JsonOption & { account?: string; endpoint?: string; event?: string; status?: string; limit: string }) =>
    withAdmin(o.json, async (client) => {
      const result = await client.listDeliveries({
        ...(o.account ? { account_id: o.account } : {}),
        ...(o.endpoint ? { endpoint_id: o.endpoint } : {}),
        ...(o.event ? { event_id: o.event } : {}),
        ...(o.status ? { status: o.status as 'pending' } : {}),
        limit: Number(o.limit),
      });
      printResult(Boolean(o.json), result, () =>
        table(result.deliveries, ['id', 'event_type', 'status', 'attempts', 'last_status_code', 'last_error', 'url', 'created_at']),
      );
    }),
  );
webhooks
  .command('show <deliveryId>')
  .description('a delivery, its payload and every attempt')
  .option('--json', 'machine-readable output')
  .action(async (deliveryId: string, o: JsonOption) =>
    withAdmin(o.json, async (client) => {
      const result = await client.getDelivery(deliveryId);
      printResult(Boolean(o.json), result, () =>
        `${result.delivery.id} (event ${result.delivery.event_id}, ${result.delivery.event_type}) -> ${result.delivery.url}: ${result.delivery.status}\n` +
        `payload: ${result.payload}\n` +
        table(result.attempts, ['attempt', 'started_at', 'latency_ms', 'status_code', 'result', 'error']),
      );
    }),
  );
webhooks
  .command('resend <deliveryId>')
  .description('deliver again: same event id and body, a new delivery')
  .option('--json', 'machine-readable output')
  .action(async (deliveryId: string, o: JsonOption) =>
    withAdmin(o.json, async (client) => {
      const result = await client.resendDelivery(deliveryId);
      printResult(Boolean(o.json), result, () => `queued ${result.delivery.id} (event ${result.delivery.event_id})`);
    }),
  );
webhooks
  .command('test <url>')
  .description('send a test event to a URL now and report the outcome')
  .addOption(accountOption())
  .option('--secret <secret>', 'sign with this secret')
  .option('--signature-header <name>', 'also send the plain body HMAC in this header')
  .option('--json', 'machine-readable output')
  .action(async (url: string, o: JsonOption & { account?: string; secret?: string; signatureHeader?: string }) =>
    withAdmin(o.json, async (client) => {
      const result = await client.testWebhook(await resolveAccount(client, o.account), {
        url,
        ...(o.secret !== undefined ? { secret: o.secret } : {}),
        ...(o.signatureHeader !== undefined ? { signature_header: o.signatureHeader } : {}),
      });
      printResult(Boolean(o.json), result, () =>
        result.delivered
          ? `delivered: HTTP ${String(result.status_code)} in ${result.latency_ms} ms`
          : `not delivered: ${result.error ?? `HTTP ${String(result.status_code)}`}`,
      );
      if (!result.delivered) process.exitCode = 1;
    }),
  );

/** A request to the running server's admin API; errors become AdminCommandError with the server's code. */
async function serverRequest<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const { baseUrl, token } = await connectServer(config());
  const response = await fetch(`${baseUrl}/admin/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const payload = (await response.json()) as T & { error?: { code: string; message: string } };
  if (!response.ok) throw new AdminCommandError(payload.error?.message ?? `HTTP ${response.status}`, payload.error?.code ?? 'error');
  return payload;
}

async function accountOf(account: string | undefined): Promise<string> {
  const client = await connectAdmin(config());
  try {
    return await resolveAccount(client, account);
  } finally {
    await client.close();
  }
}

interface SmsView {
  id: string;
  direction: string;
  from: string;
  to: string;
  message: string;
  segments: number;
  status: string;
  cost: number;
  error_code: string | null;
  created_at: string;
}

const sms = program.command('sms').description('SMS through the running server');
sms
  .command('send')
  .requiredOption('--from <number>', 'an SMS number of the account')
  .requiredOption('--to <number>', 'the recipient')
  .requiredOption('--message <text>', 'the text (split into segments as needed)')
  .addOption(accountOption())
  .option('--json', 'machine-readable output')
  .action(async (o: JsonOption & { from: string; to: string; message: string; account?: string }) => {
    const accountId = await accountOf(o.account);
    const result = await serverRequest<{ message: SmsView }>('POST', `/accounts/${encodeURIComponent(accountId)}/sms`, {
      from: o.from,
      to: o.to,
      message: o.message,
    });
    printResult(Boolean(o.json), result, () =>
      `${result.message.id} queued: ${result.message.segments} segment(s), ${result.message.cost.toFixed(2)} credits`,
    );
  });
sms
  .command('list')
  .addOption(accountOption())
  .option('--json', 'machine-readable output')
  .action(async (o: JsonOption & { account?: string }) => {
    const accountId = await accountOf(o.account);
    const result = await serverRequest<{ messages: SmsView[] }>('GET', `/accounts/${encodeURIComponent(accountId)}/sms`);
    printResult(Boolean(o.json), result, () =>
      table(result.messages, ['id', 'direction', 'from', 'to', 'segments', 'status', 'error_code', 'created_at']),
    );
  });
sms
  .command('show <messageId>')
  .addOption(accountOption())
  .option('--json', 'machine-readable output')
  .action(async (messageId: string, o: JsonOption & { account?: string }) => {
    const accountId = await accountOf(o.account);
    const result = await serverRequest<{ message: SmsView; history: Array<{ status: string; at: string; error_code: string | null }> }>(
      'GET',
      `/accounts/${encodeURIComponent(accountId)}/sms/${encodeURIComponent(messageId)}`,
    );
    printResult(Boolean(o.json), result, () =>
      `${result.message.id} ${result.message.from} -> ${result.message.to}: ${result.message.status}\n` +
      `${result.message.message}\n` +
      table(result.history, ['at', 'status', 'error_code']),
    );
  });

const dev = program.command('dev').description('the dev carrier (DIALPLANE_TRUNK=dev)');
dev
  .command('call-in')
  .description('the simulated network calls one of your numbers through the running server')
  .requiredOption('--from <number>', 'the calling number')
  .requiredOption('--to <number>', 'one of your numbers')
  .option('--hold <seconds>', 'how long to stay on the line once answered', '2')
  .option('--json', 'machine-readable output')
  .action(async (o: JsonOption & { from: string; to: string; hold: string }) => {
    const { baseUrl, token } = await connectServer(config());
    const response = await fetch(`${baseUrl}/admin/v1/dev/call-in`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ from: o.from, to: o.to, hold_s: Number(o.hold) }),
    });
    const body = (await response.json()) as Record<string, unknown> & { error?: { code: string; message: string } };
    if (!response.ok) {
      const message = response.status === 404 && !body.error?.code?.startsWith('validation') ? 'the dev carrier is not running (DIALPLANE_TRUNK is not dev)' : body.error?.message;
      throw new AdminCommandError(message ?? `HTTP ${response.status}`, body.error?.code ?? 'error');
    }
    printResult(Boolean(o.json), body, () =>
      body.answered
        ? `answered (${String(body.sip_status)}), ended by ${String(body.ended_by)} after ${String(body.duration_ms)} ms`
        : `not answered: ${String(body.sip_status ?? '')} ${String(body.sip_reason)}`,
    );
  });

dev
  .command('sms-in')
  .description('the dev SMSC delivers an SMS to one of your numbers through the running server')
  .requiredOption('--from <number>', 'the sending number')
  .requiredOption('--to <number>', 'one of your numbers')
  .requiredOption('--body <text>', 'the text')
  .option('--json', 'machine-readable output')
  .action(async (o: JsonOption & { from: string; to: string; body: string }) => {
    const result = await serverRequest<{ from: string; to: string; parts: number }>('POST', '/dev/sms-in', {
      from: o.from,
      to: o.to,
      message: o.body,
    }).catch((error: unknown) => {
      if (error instanceof AdminCommandError && error.code === 'route_not_found') {
        throw new AdminCommandError('the dev SMSC is not running (DIALPLANE_SMSC is not dev)', error.code);
      }
      throw error;
    });
    printResult(Boolean(o.json), result, () => `delivered to ${result.to} in ${result.parts} part(s)`);
  });

function fail(error: unknown): never {
  const json = process.argv.includes('--json');
  const code =
    error instanceof ConfigError ? 'invalid_configuration'
    : error instanceof DialplaneError || error instanceof AdminCommandError ? error.code
    : 'error';
  const message = error instanceof Error ? error.message : String(error);
  if (json) process.stdout.write(`${JSON.stringify({ error: { code, message } })}\n`);
  process.stderr.write(`dialplane: ${message}\n`);
  process.exit(error instanceof ConfigError ? 2 : error instanceof AdminCommandError ? error.exitCode : 1);
}

addExtensionCommands(program, { config });
addApplicationCommands(program, { config });
addDevCertCommand(program);
addUserCommands(program, { config });

program.parseAsync(process.argv).catch(fail);
