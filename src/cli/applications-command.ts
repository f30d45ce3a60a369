import { readFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import type { ApplicationOperations } from '../api/admin/admin-application-routes.js';
import type { CreateApplicationBody, UpdateApplicationBody } from '../api/dialplane/application-routes.js';
import { loadConfig, type Config } from '../config/config.js';
import { AdminCommandError, connectOperations, type AccountsClient, type AdminCall } from './admin-client.js';
import { accountOf } from './extensions-command.js';
import { printResult, table } from './output.js';

export interface ApplicationCommandDeps {
  /** The configuration (read when a command runs). Default: loadConfig(). */
  readonly config?: () => Config;
}

/** The running server's admin API when one answers, else the database directly (as the other admin commands do). */
function connect(config: Config): Promise<ApplicationOperations & AccountsClient> {
  // The route module (and the services behind it) is loaded only when no server answers.
  return connectOperations(config, async (services) => (await import('../api/admin/admin-application-routes.js')).applicationOperations(services), overHttp);
}

function overHttp(call: AdminCall): ApplicationOperations {
  const applications = (id: string) => `/accounts/${encodeURIComponent(id)}/applications`;
  type Ops = ApplicationOperations;
  // The casts restate what the server's routes return: the same functions produce both shapes.
  return {
    listApplications: (id) => call('GET', applications(id)) as ReturnType<Ops['listApplications']>,
    createApplication: (id, body) => call('POST', applications(id), body) as ReturnType<Ops['createApplication']>,
    getApplication: (id, applicationId) =>
      call('GET', `${applications(id)}/${encodeURIComponent(applicationId)}`) as ReturnType<Ops['getApplication']>,
    updateApplication: (id, applicationId, body) =>
      call('PATCH', `${applications(id)}/${encodeURIComponent(applicationId)}`, body) as ReturnType<Ops['updateApplication']>,
    deleteApplication: (id, applicationId) =>
      call('DELETE', `${applications(id)}/${encodeURIComponent(applicationId)}`) as ReturnType<Ops['deleteApplication']>,
  };
}

/** The program in a JSON file, as given (the server validates it). */
async function programFrom(file: string): Promise<unknown[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new AdminCommandError(`cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`, 'validation_failed');
  }
  let program: unknown;
  try {
    program = JSON.parse(text);
  } catch {
    throw new AdminCommandError(`${file} is not JSON: a program is a JSON array of verbs`, 'validation_failed');
  }
  if (!Array.isArray(program)) throw new AdminCommandError(`${file} does not hold a JSON array of verbs`, 'validation_failed');
  return program;
}

const accountOption = () => new Option('--account <id>', 'account id (optional when only one account exists)');

/** Adds `applications create|list|show|update|rm`, through the running server's admin API, or the database when none runs. */
export function addApplicationCommands(program: Command, deps: ApplicationCommandDeps = {}): void {
  const config = deps.config ?? (() => loadConfig());
  const run = async (action: (client: ApplicationOperations & AccountsClient) => Promise<void>): Promise<void> => {
    const client = await connect(config());
    try {
      await action(client);
    } finally {
      await client.close();
    }
  };

  const applications = program
    .command('applications')
    .description('voice applications: a call hook (and status hook) or a stored program that takes a number\'s calls');
  applications
    .command('create')
    .requiredOption('--name <name>', 'a name to recognise the application by')
    .option('--call-hook <url>', 'URL asked (signed POST) for the verbs each call runs')
    .option('--status-hook <url>', 'URL that receives the call.* events of its calls')
    .option('--program-file <file>', 'a JSON file holding the program (an array of verbs) its calls run')
    .addOption(accountOption())
    .option('--json', 'machine-readable output')
    .action(async (o: { name: string; callHook?: string; statusHook?: string; programFile?: string; account?: string; json?: boolean }) => {
      if ((o.callHook === undefined) === (o.programFile === undefined)) {
        throw new AdminCommandError('give exactly one of --call-hook <url> and --program-file <file>', 'validation_failed');
      }
      const body: CreateApplicationBody = {
        name: o.name,
        ...(o.callHook !== undefined ? { call_hook: o.callHook } : {}),
        ...(o.statusHook !== undefined ? { status_hook: o.statusHook } : {}),
        ...(o.programFile !== undefined ? { program: await programFrom(o.programFile) } : {}),
      };
      await run(async (client) => {
        const result = await client.createApplication(await accountOf(client, o.account), body);
        printResult(Boolean(o.json), result, () =>
          [
            `created application ${result.application.id} (${result.application.name})`,
            `  hook secret: ${result.hook_secret}`,
            '(store the hook secret now: it is not shown again; hooks verify X-Dialplane-Signature with it)',
          ].join('\n'),
        );
      });
    });
  applications
    .command('list')
    .addOption(accountOption())
    .option('--json', 'machine-readable output')
    .action(async (o: { account?: string; json?: boolean }) =>
      run(async (client) => {
        const result = await client.listApplications(await accountOf(client, o.account));
        const rows = result.applications.map((a) => ({ ...a, program: a.program === null ? null : `${a.program.length} verb(s)` }));
        printResult(Boolean(o.json), result, () => table(rows, ['id', 'name', 'call_hook', 'status_hook', 'program', 'created_at']));
      }),
    );
  applications
    .command('show <applicationId>')
    .addOption(accountOption())
    .option('--json', 'machine-readable output')
    .action(async (applicationId: string, o: { account?: string; json?: boolean }) =>
      run(async (client) => {
        const result = await client.getApplication(await accountOf(client, o.account), applicationId);
        printResult(Boolean(o.json), result, () => JSON.stringify(result.application, null, 2));
      }),
    );
  applications
    .command('update <applicationId>')
    .description('change an application: only what is given; --call-hook or --program-file switches what answers its calls')
    .option('--name <name>', 'a new name')
    .option('--call-hook <url>', 'a new call hook (a program application becomes a hook application)')
    .option('--program-file <file>', 'a JSON file holding a new program (a hook application becomes a program application)')
    .option('--status-hook <url>', 'a new status hook URL')
    .option('--no-status-hook', 'remove the status hook (and its webhook endpoint)')
    .option('--rotate-hook-secret', 'a new hook secret, printed once; the old one stops signing at once')
    .addOption(accountOption())
    .option('--json', 'machine-readable output')
    .action(
      async (
        applicationId: string,
        o: {
          name?: string;
          callHook?: string;
          programFile?: string;
          statusHook?: string | false;
          rotateHookSecret?: boolean;
          account?: string;
          json?: boolean;
        },
      ) => {
        if (o.callHook !== undefined && o.programFile !== undefined) {
          throw new AdminCommandError('give at most one of --call-hook <url> and --program-file <file>', 'validation_failed');
        }
        const body: UpdateApplicationBody = {
          ...(o.name !== undefined ? { name: o.name } : {}),
          ...(o.callHook !== undefined ? { call_hook: o.callHook } : {}),
          ...(o.programFile !== undefined ? { program: await programFrom(o.programFile) } : {}),
          ...(o.statusHook !== undefined ? { status_hook: o.statusHook === false ? null : o.statusHook } : {}),
          ...(o.rotateHookSecret ? { rotate_hook_secret: true } : {}),
        };
        if (Object.keys(body).length === 0) {
          throw new AdminCommandError(
            'nothing to change: give --name, --call-hook, --program-file, --status-hook, --no-status-hook or --rotate-hook-secret',
            'validation_failed',
          );
        }
        await run(async (client) => {
          const result = await client.updateApplication(await accountOf(client, o.account), applicationId, body);
          printResult(Boolean(o.json), result, () =>
            [
              `updated application ${result.application.id} (${result.application.name})`,
              ...(result.hook_secret !== undefined
                ? [
                    `  new hook secret: ${result.hook_secret}`,
                    '(store it now: it is not shown again; the old secret no longer signs hook requests or status events)',
                  ]
                : []),
            ].join('\n'),
          );
        });
      },
    );
  applications
    .command('rm <applicationId>')
    .description('delete an application and its status-hook endpoint (refused while a number routes to it)')
    .addOption(accountOption())
    .option('--json', 'machine-readable output')
    .action(async (applicationId: string, o: { account?: string; json?: boolean }) =>
      run(async (client) => {
        const result = await client.deleteApplication(await accountOf(client, o.account), applicationId);
        printResult(Boolean(o.json), result, () => `deleted application ${result.application.id} (${result.application.name})`);
      }),
    );
}
