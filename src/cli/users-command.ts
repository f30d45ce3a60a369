import { Option, type Command } from 'commander';
import { userOperations, type CreateUserBody, type SetPasswordBody, type UserOperations } from '../api/admin/admin-user-routes.js';
import { loadConfig, type Config } from '../config/config.js';
import { AdminCommandError, connectOperations, type AccountsClient, type AdminCall } from './admin-client.js';
import { accountOf } from './extensions-command.js';
import { printResult, table } from './output.js';

function overHttp(call: AdminCall): UserOperations {
  const account = (id: string) => `/accounts/${encodeURIComponent(id)}`;
  return {
    listUsers: (id) => call('GET', `${account(id)}/users`) as ReturnType<UserOperations['listUsers']>,
    createUser: (id, body: CreateUserBody) => call('POST', `${account(id)}/users`, body) as ReturnType<UserOperations['createUser']>,
    setPassword: (id, user, body: SetPasswordBody) =>
      call('PUT', `${account(id)}/users/${encodeURIComponent(user)}/password`, body) as ReturnType<UserOperations['setPassword']>,
  };
}

/** A password typed on the command line stays in the shell history and `ps`: read it from stdin instead. */
async function readPassword(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  if (!password) throw new AdminCommandError('no password on stdin (echo -n "$PASSWORD" | dialplane users …)', 'validation_failed');
  return password;
}

/** `users create|list|set-password`, through the running server's admin API or the database. */
export function addUserCommands(program: Command, deps: { config?: () => Config } = {}): void {
  const config = deps.config ?? (() => loadConfig());
  const run = async (action: (client: UserOperations & AccountsClient) => Promise<void>): Promise<void> => {
    const client = await connectOperations<UserOperations>(config(), userOperations, overHttp);
    try {
      await action(client);
    } finally {
      await client.close();
    }
  };
  const accountOption = () => new Option('--account <id>', 'account id (optional when only one account exists)');
  const users = program.command('users').description('users of an account: permissions and sign-in passwords');
  users
    .command('create')
    .requiredOption('--email <email>', 'the email the user signs in with')
    .addOption(new Option('--permission <permission>', 'what the user and the keys they make may do').choices(['admin', 'standard', 'view-only']).default('standard'))
    .option('--first-name <name>')
    .option('--last-name <name>')
    .option('--job-title <title>')
    .option('--password-stdin', 'read a password to sign in with from stdin')
    .addOption(accountOption())
    .option('--json', 'machine-readable output')
    .action(
      async (o: { email: string; permission: CreateUserBody['permission']; firstName?: string; lastName?: string; jobTitle?: string; passwordStdin?: boolean; account?: string; json?: boolean }) =>
        run(async (client) => {
          const body: CreateUserBody = {
            email: o.email,
            ...(o.permission ? { permission: o.permission } : {}),
            ...(o.firstName ? { first_name: o.firstName } : {}),
            ...(o.lastName ? { last_name: o.lastName } : {}),
            ...(o.jobTitle ? { job_title: o.jobTitle } : {}),
            ...(o.passwordStdin ? { password: await readPassword() } : {}),
          };
          const result = await client.createUser(await accountOf(client, o.account), body);
          printResult(Boolean(o.json), result, () => `created user ${result.user.id} (${result.user.email}, ${result.user.permission})`);
        }),
    );
  users
    .command('list')
    .addOption(accountOption())
    .option('--json', 'machine-readable output')
    .action(async (o: { account?: string; json?: boolean }) =>
      run(async (client) => {
        const result = await client.listUsers(await accountOf(client, o.account));
        printResult(Boolean(o.json), result, () => table(result.users, ['id', 'email', 'permission', 'status', 'created_at']));
      }),
    );
  users
    .command('set-password <user>')
    .description('set the password a user (id or email) signs in with; the password is read from stdin')
    .addOption(accountOption())
    .option('--json', 'machine-readable output')
    .action(async (user: string, o: { account?: string; json?: boolean }) =>
      run(async (client) => {
        const result = await client.setPassword(await accountOf(client, o.account), user, { password: await readPassword() });
        printResult(Boolean(o.json), result, () => `password set for ${result.user.email}`);
      }),
    );
}
