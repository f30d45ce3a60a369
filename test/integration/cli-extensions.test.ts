import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePort, killHard, ok, parseJson, runCli, spawnServe, testEnv, waitReady, type CliResult, type ServerProcess } from '../helpers/processes.js';

/** `dialplane extensions …` with an extension number and a mobile: on the database directly, then through a server. */

const ADMIN_TOKEN = 'cli-ext-admin-token-0123456789abcdef';

interface ExtensionView {
  id: string;
  name: string;
  number: string | null;
  mobile: string | null;
}

function failed(result: CliResult, code: string, message: RegExp): void {
  assert.equal(result.code, 1, `expected exit 1\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  const body = parseJson<{ error: { code: string; message: string } }>(result);
  assert.equal(body.error.code, code, result.stdout);
  assert.match(body.error.message, message);
}

describe('dialplane extensions', () => {
  let dataDir: string;
  let env: NodeJS.ProcessEnv;
  let base: string;
  let server: ServerProcess | undefined;
  const cli = (...args: string[]) => runCli(env, args);

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'dialplane-cli-ext-'));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    env = testEnv({
      DIALPLANE_DATA_DIR: dataDir,
      DIALPLANE_HTTP_HOST: '127.0.0.1',
      DIALPLANE_HTTP_PORT: String(port),
      DIALPLANE_ADMIN_TOKEN: ADMIN_TOKEN,
      DIALPLANE_BOOTSTRAP: 'false',
      DIALPLANE_SIP_PORT: '0',
      DIALPLANE_RTP_PORTS: '47000-47099',
    });
  });
  after(async () => {
    await killHard(server);
    await rm(dataDir, { recursive: true, force: true });
  });

  test('on the database: create --extension 309 --mobile, devices add --extension 309, update --clear-mobile', async () => {
    ok(await cli('account', 'create', '--name', 'Acme', '--email', 'ops@acme.example', '--json'));
    const created = ok<{ extension: ExtensionView }>(await cli('extensions', 'create', '--extension', '309', '--mobile', '+14155550309', '--json'));
    assert.deepEqual(
      { name: created.extension.name, number: created.extension.number, mobile: created.extension.mobile },
      { name: 'Extension 309', number: '309', mobile: '+14155550309' },
    );
    const human = await cli('extensions', 'create', '--name', 'Support', '--extension', '310');
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /^created extension ext_\w+ \(Support\), extension 310$/m);
    failed(await cli('extensions', 'create', '--extension', '309', '--json'), 'conflict', /309/);
    failed(await cli('extensions', 'create', '--json'), 'validation_failed', /--name/);
    failed(await cli('extensions', 'create', '--extension', '30x', '--json'), 'validation_failed', /digits/);

    const device = ok<{ device: { extension_id: string }; password: string }>(await cli('devices', 'add', '--extension', '309', '--json'));
    assert.equal(device.device.extension_id, created.extension.id);
    const updated = ok<{ extension: ExtensionView }>(await cli('extensions', 'update', '309', '--clear-mobile', '--json'));
    assert.equal(updated.extension.mobile, null);
    const listed = ok<{ extensions: ExtensionView[] }>(await cli('extensions', 'list', '--json'));
    assert.deepEqual(listed.extensions.map((e) => [e.number, e.mobile]), [['309', null], ['310', null]]);

    // SRTP policy: off unless set, changed with update, only off/offer/require.
    assert.equal((listed.extensions[0] as ExtensionView & { srtp: string }).srtp, 'off');
    const secure = await cli('extensions', 'create', '--name', 'Secure', '--srtp', 'require');
    assert.equal(secure.code, 0, secure.stderr);
    assert.match(secure.stdout, /^created extension ext_\w+ \(Secure\), srtp require$/m);
    const offered = ok<{ extension: { srtp: string } }>(await cli('extensions', 'update', '309', '--srtp', 'offer', '--json'));
    assert.equal(offered.extension.srtp, 'offer');
    assert.notEqual((await cli('extensions', 'update', '309', '--srtp', 'always')).code, 0);
  });

  test('through a running server: create and update go through the admin API', async () => {
    server = spawnServe(env);
    await waitReady(base, server);
    const created = ok<{ extension: ExtensionView }>(await cli('extensions', 'create', '--extension', '311', '--mobile', '4155550311', '--json'));
    assert.equal(created.extension.mobile, '+14155550311');
    const updated = ok<{ extension: ExtensionView }>(await cli('extensions', 'update', created.extension.id, '--mobile', '+14155550399', '--extension', '312', '--json'));
    assert.deepEqual([updated.extension.number, updated.extension.mobile], ['312', '+14155550399']);
    failed(await cli('extensions', 'update', '312', '--extension', '309', '--json'), 'conflict', /309/);
  });
});
