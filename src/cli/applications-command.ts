import { readFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import type { ApplicationOperations } from '../api/admin/admin-application-routes.js';
import type { CreateApplicationBody } from '../api/dialplane/application-routes.js';
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

/** Adds `applications create|list|show|rm`, through the running server's admin API, or the database when none runs. */
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
