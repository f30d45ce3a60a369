import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CLI, ROOT, freePort, ok, parseJson, runCli, sleep, testEnv, type CliResult } from '../helpers/processes.js';

/**
 * The admin CLI as a separate process: first against the database directly (no server answers on the port), then
 * with a server running on the same data directory and port, where the CLI must go through the admin API.
 */

const ADMIN_TOKEN = 'cli-test-admin-token-0123456789abcdef';

/** A failed --json command: exit 1, {error:{code,message}} on stdout, the message on stderr. */
function failed(result: CliResult, code: string, message: RegExp): void {
  assert.equal(result.code, 1, `expected exit 1\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  const body = parseJson<{ error: { code: string; message: string } }>(result);
  assert.equal(body.error.code, code);
  assert.match(body.error.message, message);
  assert.match(result.stderr, /^dialplane: /);
  assert.ok(result.stderr.includes(body.error.message), 'stderr repeats the message for people');
}

interface KeyView {
  id: string;
  account_id: string;
  name: string;
  last4: string;
  permission: string;
  enabled: boolean;
}
interface AccountView {
  id: string;
  name: string;
  email: string;
  status: string;
}
interface NumberView {
  id: string;
  number: string;
  type: string;
  capabilities: string[];
}

describe('dialplane admin CLI', () => {
  let dataDir: string;
  let port: number;
  let base: string;
  let env: NodeJS.ProcessEnv;
  let accountId = '';
  let server: ChildProcess | undefined;
  let serverExited: Promise<void> | undefined;
  let serverStderr = '';
  const cli = (...args: string[]) => runCli(env, args);

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'dialplane-cli-'));
    port = await freePort();
    base = `http://127.0.0.1:${port}`;
    env = testEnv({
      DIALPLANE_DATA_DIR: dataDir,
      DIALPLANE_HTTP_HOST: '127.0.0.1',
      DIALPLANE_HTTP_PORT: String(port),
      DIALPLANE_DEFAULT_COUNTRY: 'IL',
    });
  });

  after(async () => {
    if (server && server.exitCode === null && server.signalCode === null) {
      server.kill('SIGTERM');
      const timer = setTimeout(() => server?.kill('SIGKILL'), 3_000);
      await serverExited;
      clearTimeout(timer);
    }
    await rm(dataDir, { recursive: true, force: true });
  });

  describe('with no server running (the database directly)', () => {
    test('account create and account list', async () => {
      const created = ok<{ account: AccountView; owner_user_id: string }>(
        await cli('account', 'create', '--name', 'X', '--email', 'x@example.com', '--json'),
      );
      assert.match(created.account.id, /\S/);
      assert.equal(created.account.name, 'X');
      assert.equal(created.account.email, 'x@example.com');
      assert.equal(created.account.status, 'active');
      assert.match(created.owner_user_id, /\S/);
      accountId = created.account.id;

      const listed = ok<{ accounts: AccountView[] }>(await cli('account', 'list', '--json'));
      assert.deepEqual(
        listed.accounts.map((a) => a.id),
        [accountId],
        'only the created account: the CLI does not bootstrap',
      );
      assert.equal(listed.accounts[0]!.email, 'x@example.com');
    });

    test('keys create shows the key once; keys list never contains it', async () => {
      const created = ok<{ key: KeyView; api_key: string }>(
        await cli('keys', 'create', '--account', accountId, '--name', 'k', '--json'),
      );
      assert.ok(created.api_key.startsWith('dk_live_'), created.api_key);
      assert.equal(created.key.name, 'k');
      assert.equal(created.key.account_id, accountId);
      assert.equal(created.key.enabled, true);
      assert.equal(created.key.permission, 'full');
      assert.equal(created.key.last4, created.api_key.slice(-4));

      const result = await cli('keys', 'list', '--json');
      const listed = ok<{ keys: KeyView[] }>(result);
      assert.ok(listed.keys.some((k) => k.id === created.key.id && k.enabled));
      assert.equal(result.stdout.includes(created.api_key), false, 'the full key is not listed');
      assert.equal(result.stdout.includes(created.api_key.slice('dk_live_'.length)), false);
    });

    test('numbers add normalises a national number with DIALPLANE_DEFAULT_COUNTRY=IL; numbers list shows it', async () => {
      const added = ok<{ number: NumberView }>(
        await cli('numbers', 'add', '0527121102', '--account', accountId, '--type', 'ported', '--json'),
      );
      assert.equal(added.number.number, '+972527121102');
      assert.equal(added.number.type, 'ported');
      assert.deepEqual(added.number.capabilities, ['voice', 'sms']);

      const listed = ok<{ numbers: NumberView[] }>(await cli('numbers', 'list', '--account', accountId, '--json'));
      assert.deepEqual(
        listed.numbers.map((n) => [n.id, n.number, n.type]),
        [[added.number.id, '+972527121102', 'ported']],
      );
    });

    test('apps create returns app_id and api_key and normalises the caller ID', async () => {
      const created = ok<{ app_id: string; api_key: string; app: { id: string; name: string; caller_id_allow_list: string[] } }>(
        await cli('apps', 'create', '--account', accountId, '--name', 'app', '--caller-id', '0721234567', '--country', 'IL', '--json'),
      );
      assert.match(created.app_id, /\S/);
      assert.equal(created.app.id, created.app_id);
      assert.ok(created.api_key.startsWith('dk_live_'), created.api_key);
      assert.equal(created.app.name, 'app');
      assert.deepEqual(created.app.caller_id_allow_list, ['+972721234567']);
    });

    test('credits add 10.50 and credits show', async () => {
      const added = ok<{ balance: number; entry: { amount: number; balance_after: number } }>(
        await cli('credits', 'add', '10.50', '--account', accountId, '--json'),
      );
      assert.equal(added.balance, 10.5);
      assert.equal(added.entry.amount, 10.5);
      assert.equal(added.entry.balance_after, 10.5);

      // No --account: with exactly one account, that one is meant.
      const shown = ok<{ balance: number; held: number; available: number; entries: Array<{ amount: number }> }>(
        await cli('credits', 'show', '--json'),
      );
      assert.equal(shown.balance, 10.5);
      assert.equal(shown.held, 0);
      assert.equal(shown.available, 10.5);
      assert.deepEqual(
        shown.entries.map((e) => e.amount),
        [10.5],
      );
    });

    test('config --json lists the variables and masks the admin token', async () => {
      const [plain, withToken] = await Promise.all([
        cli('config', '--json'),
        runCli({ ...env, DIALPLANE_ADMIN_TOKEN: ADMIN_TOKEN }, ['config', '--json']),
      ]);
      const rows = ok<Array<{ variable: string; value: string; source?: string }>>(plain);
      const portRow = rows.find((r) => r.variable === 'DIALPLANE_HTTP_PORT');
      assert.ok(portRow, 'DIALPLANE_HTTP_PORT is listed');
      assert.equal(portRow.value, String(port));
      assert.equal(portRow.source, 'env');
      assert.equal(rows.find((r) => r.variable === 'DIALPLANE_DEFAULT_COUNTRY')?.value, 'IL');

      const masked = ok<Array<{ variable: string; value: string }>>(withToken);
      const tokenRow = masked.find((r) => r.variable === 'DIALPLANE_ADMIN_TOKEN');
      assert.ok(tokenRow, 'DIALPLANE_ADMIN_TOKEN is listed');
      assert.notEqual(tokenRow.value, ADMIN_TOKEN);
      assert.match(tokenRow.value, /^\*+$/);
      assert.equal(withToken.stdout.includes(ADMIN_TOKEN), false, 'the token is not printed');
      assert.equal(withToken.stderr.includes(ADMIN_TOKEN), false);
    });

    test('bad input exits 1 with a clear message and a --json error object', async () => {
      failed(await cli('numbers', 'add', 'abc', '--account', accountId, '--json'), 'invalid_phone_number', /abc/);
      failed(await cli('credits', 'add', '1.234', '--account', accountId, '--json'), 'validation_failed', /two decimals/);
      failed(
        await cli('numbers', 'add', '0527121102', '--account', accountId, '--type', 'ported', '--json'),
        'conflict',
        /\+972527121102/,
      );
      failed(await cli('credits', 'show', '--account', 'acct_doesnotexist', '--json'), 'not_found', /account/);

      // Nothing of the failed commands was written.
      const shown = ok<{ balance: number }>(await cli('credits', 'show', '--account', accountId, '--json'));
      assert.equal(shown.balance, 10.5);
    });
  });

  describe('with a server running on the same data directory and port', () => {
    before(async () => {
      const child = spawn(process.execPath, [CLI, 'serve'], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
      server = child;
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (serverStderr += chunk));
      serverExited = new Promise((resolve) => child.once('exit', () => resolve()));
      const deadline = Date.now() + 15_000;
      for (;;) {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`server exited: ${serverStderr}`);
        try {
          const response = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(500) });
          await response.arrayBuffer();
          if (response.status === 200) break;
        } catch {
          // not listening yet
        }
        if (Date.now() > deadline) throw new Error(`server not ready in time: ${serverStderr}`);
        await sleep(50);
      }
    });

    let key: { id: string; token: string } | undefined;

    test('a key created through the CLI works at once', async () => {
      const created = ok<{ key: KeyView; api_key: string }>(
        await cli('keys', 'create', '--account', accountId, '--name', 'live', '--json'),
      );
      assert.ok(created.api_key.startsWith('dk_live_'));
      key = { id: created.key.id, token: created.api_key };

      // This request also puts the key in the server's key cache (TTL 60 s by default).
      const response = await fetch(`${base}/api/v1/me`, { headers: { authorization: `Bearer ${key.token}` } });
      assert.equal(response.status, 200);
      const body = (await response.json()) as {
        email: string;
        user: { credits_balance: number };
        phone_numbers: { ported: Array<{ number: string }> };
      };
      assert.equal(body.email, 'x@example.com');
      assert.equal(body.user.credits_balance, 10.5);
      assert.deepEqual(
        body.phone_numbers.ported.map((n) => n.number),
        ['+972527121102'],
      );
    });

    test('keys revoke goes through the server: the very next request with the key is 401', async () => {
      assert.ok(key, 'the previous test created the key');
      const again = await fetch(`${base}/api/v1/me`, { headers: { authorization: `Bearer ${key.token}` } });
      assert.equal(again.status, 200, 'the key is cached and valid before the revoke');
      await again.arrayBuffer();

      const revoked = ok<{ key: KeyView }>(await cli('keys', 'revoke', key.id, '--account', accountId, '--json'));
      assert.equal(revoked.key.id, key.id);
      assert.equal(revoked.key.enabled, false);

      // A direct database write would leave the cached key valid for up to 60 s; only the server's own revoke
      // evicts it at once.
      const afterRevoke = await fetch(`${base}/api/v1/me`, { headers: { authorization: `Bearer ${key.token}` } });
      assert.equal(afterRevoke.status, 401);
      await afterRevoke.arrayBuffer();

      const metrics = await (await fetch(`${base}/metrics`)).text();
      assert.match(
        metrics,
        /dialplane_http_requests_total\{[^}]*route="\/admin\/v1\/accounts\/:accountId\/keys\/:keyId\/revoke"[^}]*status="200"/,
        'the server answered the revoke',
      );

      const listed = ok<{ keys: KeyView[] }>(await cli('keys', 'list', '--account', accountId, '--json'));
      const entry = listed.keys.find((k) => k.id === key!.id);
      assert.ok(entry, 'the revoked key is still listed');
      assert.equal(entry.enabled, false);
      assert.ok(listed.keys.some((k) => k.name === 'k' && k.enabled), 'the other key is untouched');
    });

    test('errors through the server keep the same exit code and --json error object', async () => {
      failed(await cli('credits', 'show', '--account', 'acct_doesnotexist', '--json'), 'not_found', /account/);
    });
  });
});
