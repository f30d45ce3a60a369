import { Command, Option } from 'commander';
import type {
  AddDeviceBody,
  CreateExtensionBody,
  ExtensionOperations,
  RouteBody,
  UpdateExtensionBody,
} from '../api/admin/admin-extension-routes.js';
import { loadConfig, type Config } from '../config/config.js';
import { AdminCommandError, connectOperations, type AccountsClient, type AdminCall } from './admin-client.js';
import { printResult, table } from './output.js';
import type { SrtpPolicy } from '../sdp/types.js';

export interface ExtensionCommandDeps {
  /** The configuration (read when a command runs). Default: loadConfig(). */
  readonly config?: () => Config;
}

type Ops = Pick<
  ExtensionOperations,
  | 'listExtensions'
  | 'createExtension'
  | 'updateExtension'
  | 'deleteExtension'
  | 'addDevice'
  | 'listDevices'
  | 'deleteDevice'
  | 'setRoute'
>;

/** The running server's admin API when one answers, else the database directly (as the other admin commands do). */
function connect(config: Config): Promise<Ops & AccountsClient> {
  // The route module (and the services behind it) is loaded only when no server answers.
  return connectOperations<Ops>(config, async (services) => (await import('../api/admin/admin-extension-routes.js')).extensionOperations(services), overHttp);
}

function overHttp(call: AdminCall): Ops {
  const account = (id: string) => `/accounts/${encodeURIComponent(id)}`;
  // The casts restate what the server's routes return: the same functions produce both shapes.
  return {
    listExtensions: (id) => call('GET', `${account(id)}/extensions`) as ReturnType<Ops['listExtensions']>,
    createExtension: (id, body: CreateExtensionBody) => call('POST', `${account(id)}/extensions`, body) as ReturnType<Ops['createExtension']>,
    updateExtension: (id, extensionId, body: UpdateExtensionBody) =>
      call('PATCH', `${account(id)}/extensions/${encodeURIComponent(extensionId)}`, body) as ReturnType<Ops['updateExtension']>,
    deleteExtension: (id, extensionId) =>
      call('DELETE', `${account(id)}/extensions/${encodeURIComponent(extensionId)}`) as ReturnType<Ops['deleteExtension']>,
    addDevice: (id, extensionId, body: AddDeviceBody) =>
      call('POST', `${account(id)}/extensions/${encodeURIComponent(extensionId)}/devices`, body) as ReturnType<Ops['addDevice']>,
    listDevices: (id, extensionId) =>
      call(
        'GET',
        `${account(id)}/devices${extensionId === undefined ? '' : `?extension_id=${encodeURIComponent(extensionId)}`}`,
      ) as ReturnType<Ops['listDevices']>,
    deleteDevice: (id, deviceId) => call('DELETE', `${account(id)}/devices/${encodeURIComponent(deviceId)}`) as ReturnType<Ops['deleteDevice']>,
    setRoute: (id, number, body: RouteBody) =>
      call('PUT', `${account(id)}/numbers/${encodeURIComponent(number)}/route`, body) as ReturnType<Ops['setRoute']>,
  };
}

/** With no --account and exactly one account (a fresh install), that account is meant. */
export async function accountOf(client: { listAccountIds(): Promise<string[]> }, account: string | undefined): Promise<string> {
  if (account) return account;
  const ids = await client.listAccountIds();
  if (ids.length === 1 && ids[0]) return ids[0];
  throw new AdminCommandError(
    ids.length === 0 ? 'there is no account yet: run `dialplane account create`' : 'several accounts exist: pass --account <id>',
    'validation_failed',
  );
}

/** Where devices register, as configured (the server listens for SIP on UDP and TCP at this address). */
export function registrarAddress(config: Config): { host: string; port: number; uri: string } {
  const host = config.sip.host === '0.0.0.0' ? '<this server\'s address>' : config.sip.host.includes(':') ? `[${config.sip.host}]` : config.sip.host;
  return { host: config.sip.host, port: config.sip.port, uri: `sip:${host}:${config.sip.port}` };
}

const accountOption = () => new Option('--account <id>', 'account id (optional when only one account exists)');

/**
 * Adds `extensions create|list|rm`, `devices add|list|rm` and `numbers route` (to the existing `numbers` command,
 * or a new one). Each goes through the running server's admin API, or the database when no server runs.
 */
export function addExtensionCommands(program: Command, deps: ExtensionCommandDeps = {}): void {
  const config = deps.config ?? (() => loadConfig());
  const run = async (action: (client: Ops & AccountsClient) => Promise<void>): Promise<void> => {
    const client = await connect(config());
    try {
      await action(client);
    } finally {
      await client.close();
    }
  };

  const extensions = program.command('extensions').description('extensions: groups of SIP devices rung together');
  const describe = (e: { id: string; name: string; number: string | null; mobile: string | null; srtp: string }) =>
    `${e.id} (${e.name})${e.number !== null ? `, extension ${e.number}` : ''}${e.mobile !== null ? `, mobile ${e.mobile}` : ''}${e.srtp !== 'off' ? `, srtp ${e.srtp}` : ''}`;
  const srtpOption = () =>
    new Option('--srtp <policy>', "SRTP (SDES) for its devices' calls: off, offer or require (plain RTP refused)").choices(['off', 'offer', 'require']);
  extensions
    .command('create')
    .option('--name <name>', 'a name to recognise the extension by (default: "Extension <number>")')
    .option('--extension <number>', 'the short number it is dialled by, 1 to 8 digits (309)')
    .option('--mobile <number>', 'a mobile rung together with its devices')
    .addOption(srtpOption())
    .addOption(accountOption())
    .option('--json', 'machine-readable output')
    .action(async (o: { name?: string; extension?: string; mobile?: string; srtp?: SrtpPolicy; account?: string; json?: boolean }) => {
      if (o.name === undefined && o.extension === undefined) {
        throw new AdminCommandError('give --name <name> or --extension <number> (or both)', 'validation_failed');
      }
      const body: CreateExtensionBody = {
        ...(o.name !== undefined ? { name: o.name } : {}),
        ...(o.extension !== undefined ? { number: o.extension } : {}),
        ...(o.mobile !== undefined ? { mobile: o.mobile } : {}),
        ...(o.srtp !== undefined ? { srtp: o.srtp } : {}),
      };
      await run(async (client) => {
        const result = await client.createExtension(await accountOf(client, o.account), body);
        printResult(Boolean(o.json), result, () => `created extension ${describe(result.extension)}`);
      });
    });
  extensions
    .command('update <extension>')
    .description('change the name, number, mobile or SRTP policy of an extension (given by id or number)')
    .option('--name <name>', 'a new name')
    .option('--extension <number>', 'a new short number')
    .option('--mobile <number>', 'a new mobile')
    .option('--clear-mobile', 'ring no mobile')
    .addOption(srtpOption())
    .addOption(accountOption())
    .option('--json', 'machine-readable output')
    .action(
      async (
        extension: string,
        o: { name?: string; extension?: string; mobile?: string; clearMobile?: boolean; srtp?: SrtpPolicy; account?: string; json?: boolean },
      ) => {
        if (o.mobile !== undefined && o.clearMobile) throw new AdminCommandError('give --mobile or --clear-mobile, not both', 'validation_failed');
        const body: UpdateExtensionBody = {
          ...(o.name !== undefined ? { name: o.name } : {}),
          ...(o.extension !== undefined ? { number: o.extension } : {}),
          ...(o.mobile !== undefined ? { mobile: o.mobile } : o.clearMobile ? { mobile: null } : {}),
          ...(o.srtp !== undefined ? { srtp: o.srtp } : {}),
        };
        await run(async (client) => {
          const result = await client.updateExtension(await accountOf(client, o.account), extension, body);
          printResult(Boolean(o.json), result, () => `updated extension ${describe(result.extension)}`);
        });
      },
    );
  extensions
    .command('list')
    .addOption(accountOption())
    .option('--json', 'machine-readable output')
    .action(async (o: { account?: string; json?: boolean }) =>
      run(async (client) => {
        const result = await client.listExtensions(await accountOf(client, o.account));
        printResult(Boolean(o.json), result, () => table(result.extensions, ['id', 'name', 'number', 'mobile', 'srtp', 'created_at']));
      }),
    );
  extensions
    .command('rm <extensionId>')
    .description('delete an extension with its devices; numbers that rang it ring nothing')
    .addOption(accountOption())
    .option('--json', 'machine-readable output')
    .action(async (extensionId: string, o: { account?: string; json?: boolean }) =>
      run(async (client) => {
        const result = await client.deleteExtension(await accountOf(client, o.account), extensionId);
        printResult(Boolean(o.json), result, () =>
          [
            `deleted extension ${result.extension.id} and ${result.deleted_device_ids.length} device(s)`,
            ...(result.unrouted_numbers.length > 0 ? [`these numbers now ring nothing: ${result.unrouted_numbers.join(', ')}`] : []),
          ].join('\n'),
        );
      }),
    );

  const devices = program.command('devices').description('SIP devices (phones) of extensions');
  devices
    .command('add')
    .requiredOption('--extension <id>', 'the extension the device rings with (its id or its number)')
    .option('--username <username>', 'SIP username, 3-64 of a-z 0-9 _ . - (default: generated)')
    .addOption(accountOption())
    .option('--json', 'machine-readable output')
    .action(async (o: { extension: string; username?: string; account?: string; json?: boolean }) =>
      run(async (client) => {
        const added = await client.addDevice(await accountOf(client, o.account), o.extension, {
          ...(o.username !== undefined ? { username: o.username } : {}),
        });
        const registrar = registrarAddress(config());
        const result = { ...added, registrar };
        printResult(Boolean(o.json), result, () =>
          [
            `added device ${added.device.id} to extension ${added.device.extension_id}`,
            `  SIP username: ${added.username}`,
            `  SIP password: ${added.password}`,
            `  registrar:    ${registrar.uri} (UDP or TCP), realm ${added.realm}`,
            '(store the password now: it is not shown again)',
          ].join('\n'),
        );
      }),
    );
  devices
    .command('list')
    .option('--extension <id>', 'only the devices of this extension')
    .addOption(accountOption())
    .option('--json', 'machine-readable output')
    .action(async (o: { extension?: string; account?: string; json?: boolean }) =>
      run(async (client) => {
        const result = await client.listDevices(await accountOf(client, o.account), o.extension);
        printResult(Boolean(o.json), result, () => table(result.devices, ['id', 'extension_id', 'username', 'realm', 'created_at']));
      }),
    );
  devices
    .command('rm <deviceId>')
    .addOption(accountOption())
    .option('--json', 'machine-readable output')
    .action(async (deviceId: string, o: { account?: string; json?: boolean }) =>
      run(async (client) => {
        const result = await client.deleteDevice(await accountOf(client, o.account), deviceId);
        printResult(Boolean(o.json), result, () => `deleted device ${result.device.id} (${result.device.username})`);
      }),
    );

  const numbers = program.commands.find((c) => c.name() === 'numbers') ?? program.command('numbers').description('phone numbers');
  numbers
    .command('route <number>')
    .description('where calls to a number ring: an extension\'s devices, an application, a forward number, answered here, or nothing')
    .option('--extension <id>', "ring this extension's devices")
    .option('--application <id>', "the application's call hook or program takes the calls")
    .option('--forward <number>', 'forward to this number (E.164)')
    .option('--answer', 'Dialplane answers the calls itself (driven through the API)')
    .option('--none', 'ring nothing: calls are refused with 480')
    .addOption(accountOption())
    .option('--json', 'machine-readable output')
    .action(async (number: string, o: { extension?: string; application?: string; forward?: string; answer?: boolean; none?: boolean; account?: string; json?: boolean }) => {
      const chosen = [o.extension !== undefined, o.application !== undefined, o.forward !== undefined, Boolean(o.answer), Boolean(o.none)].filter(Boolean).length;
      if (chosen !== 1) {
        throw new AdminCommandError(
          'give exactly one of --extension <id>, --application <id>, --forward <number>, --answer or --none',
          'validation_failed',
        );
      }
      const body: RouteBody =
        o.extension !== undefined
          ? { extension_id: o.extension }
          : o.application !== undefined
            ? { application_id: o.application }
            : o.forward !== undefined
              ? { forward_to: o.forward }
              : o.answer
                ? { answer: true }
                : {};
      await run(async (client) => {
        const result = await client.setRoute(await accountOf(client, o.account), number, body);
        const { route } = result;
        printResult(Boolean(o.json), result, () =>
          route.rings === 'extension'
            ? `${route.number} rings extension ${route.extension_id}`
            : route.rings === 'application'
              ? `${route.number} goes to application ${route.application_id}`
              : route.rings === 'forward'
              ? `${route.number} forwards to ${route.forward_to}`
              : route.rings === 'answer'
                ? `${route.number} is answered by Dialplane`
                : `${route.number} rings nothing`,
        );
      });
    });
}
