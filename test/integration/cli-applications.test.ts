import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePort, killHard, ok, parseJson, runCli, spawnServe, testEnv, waitReady, type CliResult, type ServerProcess } from '../helpers/processes.js';

/** `dialplane applications …` and `numbers route --application`: on the database directly, then through a server. */

const ADMIN_TOKEN = 'cli-apps-admin-token-0123456789abcdef';

interface ApplicationView {
  id: string;
  name: string;
  call_hook: string | null;
  status_hook: string | null;
  program: unknown[] | null;
}

function failed(result: CliResult, code: string, message: RegExp): void {
  assert.equal(result.code, 1, `expected exit 1\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  const body = parseJson<{ error: { code: string; message: string } }>(result);
  assert.equal(body.error.code, code, result.stdout);
  assert.match(body.error.message, message);
}

describe('dialplane applications', () => {
  let dataDir: string;
  let env: NodeJS.ProcessEnv;
  let base: string;
  let programFile: string;
  let server: ServerProcess | undefined;
  const cli = (...args: string[]) => runCli(env, args);

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'dialplane-cli-apps-'));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    env = testEnv({
      DIALPLANE_DATA_DIR: dataDir,
      DIALPLANE_HTTP_HOST: '127.0.0.1',
      DIALPLANE_HTTP_PORT: String(port),
      DIALPLANE_ADMIN_TOKEN: ADMIN_TOKEN,
      DIALPLANE_BOOTSTRAP: 'false',
    });
    programFile = join(dataDir, 'program.json');
    await writeFile(programFile, JSON.stringify([{ verb: 'say', text: 'Closed.' }, { verb: 'hangup' }]));
  });
  after(async () => {
    await killHard(server);
    await rm(dataDir, { recursive: true, force: true });
  });

  test('on the database: create (hook or program file), list, route a number to it, rm refused while routed', async () => {
    ok(await cli('account', 'create', '--name', 'Acme', '--email', 'ops@acme.example', '--json'));
    ok(await cli('numbers', 'add', '+14155551234', '--json'));

    const hook = ok<{ application: ApplicationView; hook_secret: string }>(
      await cli('applications', 'create', '--name', 'Receptionist', '--call-hook', 'https://app.example/call', '--status-hook', 'https://app.example/status', '--json'),
    );
    assert.match(hook.application.id, /^app_/);
    assert.match(hook.hook_secret, /^whsec_/);
    assert.equal(hook.application.status_hook, 'https://app.example/status');
    const program = ok<{ application: ApplicationView }>(await cli('applications', 'create', '--name', 'Closed', '--program-file', programFile, '--json'));
    assert.deepEqual(program.application.program, [{ verb: 'say', text: 'Closed.' }, { verb: 'hangup' }]);

    const listed = ok<{ applications: ApplicationView[] }>(await cli('applications', 'list', '--json'));
    assert.deepEqual(listed.applications.map((a) => a.name), ['Receptionist', 'Closed']);
    assert.ok(!JSON.stringify(listed).includes(hook.hook_secret), 'the list never shows the secret');
    const human = await cli('applications', 'list');
    assert.equal(human.code, 0);
    assert.match(human.stdout, /Receptionist/);

    const routed = ok<{ route: { rings: string; application_id: string } }>(
      await cli('numbers', 'route', '+14155551234', '--application', hook.application.id, '--json'),
    );
    assert.deepEqual([routed.route.rings, routed.route.application_id], ['application', hook.application.id]);
    failed(await cli('applications', 'rm', hook.application.id, '--json'), 'conflict', /\+14155551234/);

    failed(await cli('applications', 'create', '--name', 'Both', '--call-hook', 'https://a.example/', '--program-file', programFile, '--json'), 'validation_failed', /exactly one/);
    failed(await cli('applications', 'create', '--name', 'Neither', '--json'), 'validation_failed', /exactly one/);
    failed(await cli('applications', 'create', '--name', 'Bad', '--call-hook', 'ftp://a.example/', '--json'), 'invalid_webhook_url', /./);
    await writeFile(join(dataDir, 'bad.json'), '{"verb":');
    failed(await cli('applications', 'create', '--name', 'Bad', '--program-file', join(dataDir, 'bad.json'), '--json'), 'validation_failed', /not JSON/);
    failed(await cli('numbers', 'route', '+14155551234', '--application', 'app_nope', '--json'), 'not_found', /application/);
    failed(await cli('numbers', 'route', '+14155551234', '--application', hook.application.id, '--none', '--json'), 'validation_failed', /exactly one/);
    assert.equal(ok<{ applications: unknown[] }>(await cli('applications', 'list', '--json')).applications.length, 2, 'nothing written');
  });

  test('on the database: update renames, switches hook and program, removes the status hook, rotates the secret when asked', async () => {
    const { application } = ok<{ application: ApplicationView }>(
      await cli('applications', 'create', '--name', 'Editable', '--call-hook', 'https://app.example/call', '--status-hook', 'https://app.example/status', '--json'),
    );
    const renamed = ok<{ application: ApplicationView; hook_secret?: string }>(
      await cli('applications', 'update', application.id, '--name', 'Edited', '--json'),
    );
    assert.deepEqual(
      [renamed.application.name, renamed.application.call_hook, renamed.application.status_hook, renamed.hook_secret],
      ['Edited', 'https://app.example/call', 'https://app.example/status', undefined],
    );
    const toProgram = ok<{ application: ApplicationView }>(
      await cli('applications', 'update', application.id, '--program-file', programFile, '--no-status-hook', '--json'),
    );
    assert.deepEqual(
      [toProgram.application.call_hook, toProgram.application.program, toProgram.application.status_hook],
      [null, [{ verb: 'say', text: 'Closed.' }, { verb: 'hangup' }], null],
    );
    const toHook = ok<{ application: ApplicationView }>(await cli('applications', 'update', application.id, '--call-hook', 'https://app.example/v2', '--json'));
    assert.deepEqual([toHook.application.call_hook, toHook.application.program], ['https://app.example/v2', null]);
    const rotated = await cli('applications', 'update', application.id, '--rotate-hook-secret');
    assert.equal(rotated.code, 0, rotated.stderr);
    assert.match(rotated.stdout, /new hook secret: whsec_/);

    await writeFile(join(dataDir, 'bad-verb.json'), JSON.stringify([{ verb: 'say', text: 'Hi' }, { verb: 'gather', numDigits: 99 }]));
    failed(await cli('applications', 'update', application.id, '--program-file', join(dataDir, 'bad-verb.json'), '--json'), 'invalid_program', /verb 1.*numDigits/);
    failed(await cli('applications', 'update', application.id, '--call-hook', 'ftp://a.example/', '--json'), 'invalid_webhook_url', /./);
    failed(await cli('applications', 'update', application.id, '--call-hook', 'https://a.example/', '--program-file', programFile, '--json'), 'validation_failed', /at most one/);
    failed(await cli('applications', 'update', application.id, '--json'), 'validation_failed', /nothing to change/);
    failed(await cli('applications', 'update', 'app_nope', '--name', 'Nobody', '--json'), 'not_found', /application/);
    const shown = ok<{ application: ApplicationView }>(await cli('applications', 'show', application.id, '--json'));
    assert.deepEqual([shown.application.name, shown.application.call_hook], ['Edited', 'https://app.example/v2'], 'refused updates wrote nothing');
    ok(await cli('applications', 'rm', application.id, '--json'));
  });

  test('through a running server: the same commands go through the admin API', async () => {
    server = spawnServe(env);
    await waitReady(base, server);
    const listed = ok<{ applications: ApplicationView[] }>(await cli('applications', 'list', '--json'));
    const receptionist = listed.applications.find((a) => a.name === 'Receptionist')!;

    failed(await cli('applications', 'rm', receptionist.id, '--json'), 'conflict', /route it elsewhere/);
    ok(await cli('numbers', 'route', '+14155551234', '--answer', '--json'));
    const removed = ok<{ application: ApplicationView }>(await cli('applications', 'rm', receptionist.id, '--json'));
    assert.equal(removed.application.id, receptionist.id);
    failed(await cli('applications', 'show', receptionist.id, '--json'), 'not_found', /application/);

    const created = ok<{ application: ApplicationView; hook_secret: string }>(
      await cli('applications', 'create', '--name', 'Live', '--call-hook', 'https://app.example/live', '--json'),
    );
    // The server sees it at once: read back over the admin API itself.
    const accounts = (await (await fetch(`${base}/admin/v1/accounts`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()) as {
      accounts: Array<{ id: string }>;
    };
    const shown = await fetch(`${base}/admin/v1/accounts/${accounts.accounts[0]!.id}/applications/${created.application.id}`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    assert.equal(shown.status, 200);
    const routed = ok<{ route: { rings: string } }>(await cli('numbers', 'route', '+14155551234', '--application', created.application.id, '--json'));
    assert.equal(routed.route.rings, 'application');

    const updated = ok<{ application: ApplicationView }>(
      await cli('applications', 'update', created.application.id, '--program-file', programFile, '--name', 'Live program', '--json'),
    );
    assert.deepEqual([updated.application.name, updated.application.call_hook], ['Live program', null]);
    const readBack = await fetch(`${base}/admin/v1/accounts/${accounts.accounts[0]!.id}/applications/${created.application.id}`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    assert.deepEqual(((await readBack.json()) as { application: ApplicationView }).application.program, [{ verb: 'say', text: 'Closed.' }, { verb: 'hangup' }]);
  });
});
