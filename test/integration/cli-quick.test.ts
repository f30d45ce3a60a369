import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CLI, ROOT, freePort, killHard, runProgram, spawnServe, testEnv, waitReady, type CliResult, type ServerProcess } from '../helpers/processes.js';

/**
 * The built `dialplane` command as a user runs it, against a running server: ten typical commands with their output
 * and exit codes, which modules a client command loads (none of the server's), and `bin/dialplane.js` and `npx
 * dialplane` behaving like `node dist/src/cli.js`.
 */
const TRACE_HOOK = join(ROOT, 'dist', 'test', 'helpers', 'module-trace.js');
const BIN = join(ROOT, 'bin', 'dialplane.js');
const FROM = '+14155551234';

let dataDir: string;
let env: NodeJS.ProcessEnv;
let server: ServerProcess | undefined;

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'dialplane-cli-quick-'));
  const port = await freePort();
  env = testEnv({ DIALPLANE_DATA_DIR: dataDir, DIALPLANE_HTTP_PORT: String(port), DIALPLANE_RTP_PORTS: '35000-35999' });
  server = spawnServe(env);
  await waitReady(`http://127.0.0.1:${port}`, server);
});
after(async () => {
  await killHard(server);
  await rm(dataDir, { recursive: true, force: true });
});

const wallTimes: Array<[string, number]> = [];

async function dialplane(...args: string[]): Promise<CliResult> {
  const started = performance.now();
  const result = await runProgram(process.execPath, [CLI, ...args], { env });
  wallTimes.push([args.join(' '), performance.now() - started]);
  return result;
}

function succeeded(result: CliResult): string {
  assert.equal(result.code, 0, `expected exit 0\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  return result.stdout;
}

describe('ten typical commands', () => {
  test('--version prints the package version', async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.equal(succeeded(await dialplane('--version')).trim(), pkg.version);
  });

  test('--help lists the commands and the exit statuses', async () => {
    const out = succeeded(await dialplane('--help'));
    for (const command of ['serve', 'doctor', 'config', 'call', 'credits', 'webhooks']) assert.match(out, new RegExp(`\\n  ${command}\\b`));
    assert.match(out, /Exit status: 0 done, 1 the command failed, 2 invalid configuration/);
  });

  test('config --json: the effective configuration', async () => {
    const rows = JSON.parse(succeeded(await dialplane('config', '--json'))) as Array<{ variable: string; value: string }>;
    assert.equal(rows.find((r) => r.variable === 'DIALPLANE_HTTP_PORT')?.value, env.DIALPLANE_HTTP_PORT);
  });

  test('account list: the bootstrap account', async () => {
    const { accounts } = JSON.parse(succeeded(await dialplane('account', 'list', '--json'))) as { accounts: Array<{ email: string }> };
    assert.deepEqual(accounts.map((a) => a.email), ['owner@dialplane.local']);
  });

  test('keys list: the bootstrap key, by its last four characters only', async () => {
    const out = succeeded(await dialplane('keys', 'list'));
    assert.match(out, /dk_live_…\w{4}/);
  });

  test('numbers list: the two bootstrap numbers', async () => {
    const out = succeeded(await dialplane('numbers', 'list'));
    assert.match(out, /\+14155551234\s+purchased/);
    assert.match(out, /\+14155555678\s+ported/);
  });

  test('credits add and credits show: every amount with two decimals', async () => {
    assert.equal(succeeded(await dialplane('credits', 'add', '2.5')).trim(), 'added 2.50 credits; balance 1002.50');
    const out = succeeded(await dialplane('credits', 'show'));
    assert.match(out, /^balance 1002\.50, held 0\.00, available 1002\.50$/m);
    assert.match(out, / 2\.50\s+1002\.50\s+topup /);
    assert.match(out, / 1000\.00\s+1000\.00\s+topup /);
  });

  test('webhooks endpoints list: none yet', async () => {
    assert.equal(succeeded(await dialplane('webhooks', 'endpoints', 'list')).trim(), '(none)');
  });

  test('a refused number: exit 1 with the reason on stderr', async () => {
    const result = await dialplane('numbers', 'add', 'not-a-number');
    assert.equal(result.code, 1, result.stdout);
    assert.match(result.stderr, /^dialplane: .+/);
    assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
  });

  test('call to a busy number: its events, and exit status 3 (busy)', async () => {
    const result = await dialplane('call', '+14155550486', '--from', FROM);
    assert.equal(result.code, 3, `stdout: ${result.stdout}\nstderr: ${result.stderr}`);
    assert.match(result.stdout, /ended: busy, USER_BUSY \(17\)/);
  });

  after(() => {
    // The figures the README's CLI section quotes come from bench/cli-wall-times.mjs; these are for the log.
    for (const [command, ms] of wallTimes) console.log(`# dialplane ${command}: ${ms.toFixed(0)} ms`);
  });
});

test('a command the running server answers loads none of the server: no Fastify, store, SIP or media module', async () => {
  const trace = join(dataDir, 'modules.txt');
  const result = await runProgram(process.execPath, ['--import', TRACE_HOOK, CLI, 'numbers', 'list', '--json'], {
    env: { ...env, DIALPLANE_TEST_MODULE_TRACE: trace },
  });
  assert.equal(result.code, 0, result.stderr);
  const loaded = (await readFile(trace, 'utf8')).split('\n').filter(Boolean);
  assert.ok(loaded.some((url) => url.endsWith('/dist/src/cli/admin-client.js')), 'the trace works');
  const server = loaded.filter((url) =>
    /\/dist\/src\/(server|telephony|messaging|webhook-delivery)\.js$|\/dist\/src\/(store|media|sdp|api\/faces)\/|\/node_modules\/(fastify|better-sqlite3|pg|kysely|pino|prom-client)\//.test(url),
  );
  assert.deepEqual(server, []);
});

describe('bin/dialplane.js and npx dialplane behave as node dist/src/cli.js', () => {
  test('the same output for config --json', async () => {
    const direct = await runProgram(process.execPath, [CLI, 'config', '--json'], { env });
    const bin = await runProgram(process.execPath, [BIN, 'config', '--json'], { env });
    const npx = await runProgram('npx', ['--no-install', 'dialplane', 'config', '--json'], { env, timeoutMs: 60_000 });
    assert.equal(direct.code, 0, direct.stderr);
    assert.deepEqual({ code: bin.code, stdout: bin.stdout }, { code: direct.code, stdout: direct.stdout });
    assert.deepEqual({ code: npx.code, stdout: npx.stdout }, { code: direct.code, stdout: direct.stdout });
  });

  test("the same exit status for a call's outcome and for an invalid configuration", async () => {
    const busy = await runProgram('npx', ['--no-install', 'dialplane', 'call', '+14155550486', '--from', FROM, '--json'], { env, timeoutMs: 60_000 });
    assert.equal(busy.code, 3, busy.stderr);
    const invalid = { ...env, DIALPLANE_HTTP_PORT: 'eighty' };
    const direct = await runProgram(process.execPath, [CLI, 'config'], { env: invalid });
    const bin = await runProgram(process.execPath, [BIN, 'config'], { env: invalid });
    const npx = await runProgram('npx', ['--no-install', 'dialplane', 'config'], { env: invalid, timeoutMs: 60_000 });
    assert.equal(direct.code, 2, direct.stderr);
    assert.deepEqual([bin.code, bin.stderr], [direct.code, direct.stderr]);
    assert.deepEqual([npx.code, npx.stderr], [direct.code, direct.stderr]);
  });
});
