import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { systemClock } from '../../src/core/clock.js';
import { createServices } from '../../src/core/services.js';
import { openDatabase } from '../../src/store/database.js';
import { createStore } from '../../src/store/store.js';
import { freePort, ROOT, testEnv } from '../helpers/processes.js';

/** `dialplane users create|list|set-password` on the database directly; passwords come on stdin. */
describe('dialplane users', () => {
  let dataDir: string;
  let env: NodeJS.ProcessEnv;
  const cli = (args: string[], input = '') => {
    const result = spawnSync(process.execPath, [join(ROOT, 'dist', 'src', 'cli.js'), ...args], { env, input, encoding: 'utf8' });
    return { code: result.status, stdout: result.stdout, stderr: result.stderr };
  };

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'dialplane-cli-users-'));
    env = testEnv({ DIALPLANE_DATA_DIR: dataDir, DIALPLANE_HTTP_PORT: String(await freePort()) });
    assert.equal(cli(['account', 'create', '--name', 'Acme', '--email', 'owner@acme.test', '--json']).code, 0);
  });
  after(() => rm(dataDir, { recursive: true, force: true }));

  async function signIn(email: string, password: string): Promise<boolean> {
    const database = await openDatabase({ url: join(dataDir, 'dialplane.sqlite'), dialect: 'sqlite' });
    try {
      const services = createServices(createStore(database), { clock: systemClock, defaultCountry: 'US', keyCacheTtlMs: 1000 });
      return await services.signIn.signIn(email, password).then(
        () => true,
        () => false,
      );
    } finally {
      await database.close();
    }
  }

  test('create a view-only user with a password, list, set another password', async () => {
    const created = cli(['users', 'create', '--email', 'Viewer@Acme.test', '--permission', 'view-only', '--password-stdin', '--json'], 'first password\n');
    assert.equal(created.code, 0, created.stderr);
    const { user } = JSON.parse(created.stdout);
    assert.equal(user.email, 'viewer@acme.test');
    assert.equal(user.permission, 'view-only');
    assert.ok(!created.stdout.includes('first password'));

    const listed = JSON.parse(cli(['users', 'list', '--json']).stdout);
    assert.deepEqual(listed.users.map((u: { permission: string }) => u.permission), ['admin', 'view-only']);

    assert.equal(await signIn('viewer@acme.test', 'first password'), true);
    const set = cli(['users', 'set-password', 'viewer@acme.test', '--json'], 'second password');
    assert.equal(set.code, 0, set.stderr);
    assert.equal(await signIn('viewer@acme.test', 'first password'), false);
    assert.equal(await signIn('viewer@acme.test', 'second password'), true);

    const short = cli(['users', 'set-password', 'viewer@acme.test', '--json'], 'short');
    assert.equal(short.code, 1);
    assert.equal(JSON.parse(short.stdout).error.code, 'validation_failed');
    const nobody = cli(['users', 'set-password', 'nobody@acme.test', '--json'], 'long enough password');
    assert.equal(JSON.parse(nobody.stdout).error.code, 'not_found');
  });
});
