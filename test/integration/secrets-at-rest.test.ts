import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { keyIdOf, parseSecretKey } from '../../src/store/secret-box.js';
import { freePort, killHard, ok, runCli, spawnServe, testEnv, waitReady, within, type ServerProcess } from '../helpers/processes.js';

/**
 * `dialplane serve` as an operator runs it, over a data directory an earlier version left world-readable: the
 * directory and its files are narrowed, the SQLite file and its WAL hold no webhook secret or HA1, the command line
 * opening the database itself uses the same key file, and a key rotation and a wrong key behave as documented.
 */

const ENDPOINT_SECRET = 'whsec_process_level_secret_0123456789';

function rawColumn(file: string, sqlText: string): string[] {
  const database = new BetterSqlite3(file, { readonly: true, fileMustExist: true });
  try {
    return (database.prepare(sqlText).all() as Array<{ value: string }>).map((row) => row.value);
  } finally {
    database.close();
  }
}

describe('secrets at rest in a real server process (SQLite)', () => {
  let dataDir: string;
  let base: string;
  let env: NodeJS.ProcessEnv;
  let server: ServerProcess | undefined;
  let device: { username: string; password: string; realm: string };
  let endpointId = '';

  async function stop(): Promise<void> {
    const proc = server;
    server = undefined;
    if (!proc) return;
    proc.child.kill('SIGTERM');
    assert.equal(await within(proc.exited, 10_000), 0, proc.stderr());
  }

  async function start(extra: Record<string, string> = {}): Promise<ServerProcess> {
    server = spawnServe({ ...env, ...extra });
    await waitReady(base, server);
    return server;
  }

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'dialplane-secrets-'));
    // As an earlier version (or a umask of 022) left it.
    chmodSync(dataDir, 0o755);
    writeFileSync(join(dataDir, 'notes.txt'), 'left here\n', { mode: 0o644 });
    chmodSync(join(dataDir, 'notes.txt'), 0o644);
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    env = testEnv({ DIALPLANE_DATA_DIR: dataDir, DIALPLANE_HTTP_HOST: '127.0.0.1', DIALPLANE_HTTP_PORT: String(port) });
    await start();
  });

  after(async () => {
    await killHard(server);
    await rm(dataDir, { recursive: true, force: true });
  });

  test('after writes, the data directory is 0700 and every file in it 0600; neither the file nor its WAL holds a secret', async () => {
    endpointId = ok<{ endpoint: { id: string } }>(
      await runCli(env, ['webhooks', 'endpoints', 'add', 'https://receiver.example/hook', '--secret', ENDPOINT_SECRET, '--json']),
    ).endpoint.id;
    const extension = ok<{ extension: { id: string } }>(await runCli(env, ['extensions', 'create', '--name', 'Desk', '--json'])).extension;
    device = ok<{ username: string; password: string; realm: string }>(await runCli(env, ['devices', 'add', '--extension', extension.id, '--json']));

    assert.equal(statSync(dataDir).mode & 0o777, 0o700, 'the data directory');
    const names = readdirSync(dataDir).sort();
    for (const expected of ['admin.token', 'bootstrap.json', 'dialplane.sqlite', 'dialplane.sqlite-shm', 'dialplane.sqlite-wal', 'notes.txt', 'secrets.key']) {
      assert.ok(names.includes(expected), `${expected} in ${names.join(', ')}`);
    }
    for (const name of names) {
      const info = lstatSync(join(dataDir, name));
      assert.ok(info.isFile(), `${name} is a file`);
      assert.equal(info.mode & 0o777, 0o600, `${name} is 0600`);
    }

    const ha1 = createHash('md5').update(`${device.username}:${device.realm}:${device.password}`).digest('hex');
    const bytes = Buffer.concat(['dialplane.sqlite', 'dialplane.sqlite-wal'].map((name) => readFileSync(join(dataDir, name))));
    assert.equal(bytes.indexOf(ENDPOINT_SECRET), -1, 'the endpoint secret is not in the database files');
    assert.equal(bytes.indexOf(ha1), -1, 'the HA1 is not in the database files');
    assert.ok(bytes.indexOf(device.username) >= 0, 'the database files do hold the rows written (the username)');

    // "An HA1 read from the file registers the device": the stored value is not the HA1, nor any MD5 digest.
    const [stored] = rawColumn(join(dataDir, 'dialplane.sqlite'), `select ha1 as value from devices where username = '${device.username}'`);
    assert.ok(stored);
    assert.notEqual(stored, ha1);
    assert.doesNotMatch(stored, /^[0-9a-f]{32}$/);
  });

  test('the command line opening the database itself (no server) uses the same key file', async () => {
    await stop();
    const keyFile = readFileSync(join(dataDir, 'secrets.key'), 'utf8');
    const listed = ok<{ endpoints: Array<{ id: string }> } | Array<{ id: string }>>(await runCli(env, ['webhooks', 'endpoints', 'list', '--json']));
    const ids = (Array.isArray(listed) ? listed : listed.endpoints).map((e) => e.id);
    assert.ok(ids.includes(endpointId), JSON.stringify(listed));
    assert.equal(readFileSync(join(dataDir, 'secrets.key'), 'utf8'), keyFile, 'the key file is read, not replaced');
  });

  test('rotation: a new key with the old one previous reseals everything; the new key alone then starts; a wrong key stops the start naming DIALPLANE_SECRETS_KEY', async () => {
    const oldKey = readFileSync(join(dataDir, 'secrets.key'), 'utf8').trim();
    const newKey = randomBytes(32).toString('base64');
    await start({ DIALPLANE_SECRETS_KEY: newKey, DIALPLANE_SECRETS_KEY_PREVIOUS: oldKey });
    await stop();
    const file = join(dataDir, 'dialplane.sqlite');
    const values = [
      ...rawColumn(file, 'select secret as value from webhook_endpoints'),
      ...rawColumn(file, 'select ha1 as value from devices'),
      ...rawColumn(file, 'select webhook_secret as value from gateway_apps where webhook_secret is not null'),
    ];
    assert.ok(values.length >= 2);
    const newId = keyIdOf(parseSecretKey(newKey)!);
    for (const value of values) assert.ok(value.startsWith(`dpsec1.${newId}.`), `resealed under the new key: ${value.slice(0, 20)}`);

    await start({ DIALPLANE_SECRETS_KEY: newKey });
    await stop();

    const wrong = spawnServe({ ...env, DIALPLANE_SECRETS_KEY: randomBytes(32).toString('hex') });
    const code = await within(wrong.exited, 15_000);
    assert.notEqual(code, 0, 'the start is refused');
    assert.notEqual(code, 'timeout');
    assert.match(wrong.stderr() + wrong.stdout(), /DIALPLANE_SECRETS_KEY/);
    assert.ok(!existsSync(join(dataDir, 'admin.token')), 'it stopped before serving');
  });
});
