import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { freePort, killHard, sleep, spawnServe, testEnv, waitReady, waitUntil, within, type ServerProcess } from '../helpers/processes.js';

/**
 * The real `dialplane serve` process, as an operator runs it: first-start bootstrap, the bootstrap key, the
 * operational endpoints, a restart that does not bootstrap again, a clean SIGTERM, and a refused invalid env.
 */

async function me(base: string, key: string): Promise<Response> {
  return fetch(`${base}/api/v1/me`, { headers: { authorization: `Bearer ${key}` } });
}

interface MeDocument {
  email: string;
  user: { id: string; email: string; credits_balance: number };
  phone_numbers: Record<'purchased' | 'ported' | 'outgoing_only', Array<{ id: string; number: string; capabilities: string[]; created_at: string }>>;
  totals: { total_numbers: number; purchased_count: number; ported_count: number; outgoing_only_count: number };
}

function sqliteBytes(dataDir: string): Buffer {
  const parts = [readFileSync(join(dataDir, 'dialplane.sqlite'))];
  const wal = join(dataDir, 'dialplane.sqlite-wal');
  if (existsSync(wal)) parts.push(readFileSync(wal));
  return Buffer.concat(parts);
}

describe('dialplane serve (a real process)', () => {
  let dataDir: string;
  let port: number;
  let base: string;
  let env: NodeJS.ProcessEnv;
  let first: ServerProcess | undefined;
  let second: ServerProcess | undefined;
  let printedKey = '';
  const started: ServerProcess[] = [];

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'dialplane-serve-'));
    port = await freePort();
    base = `http://127.0.0.1:${port}`;
    env = testEnv({ DIALPLANE_DATA_DIR: dataDir, DIALPLANE_HTTP_HOST: '127.0.0.1', DIALPLANE_HTTP_PORT: String(port) });
    first = spawnServe(env);
    started.push(first);
    await waitReady(base, first);
  });

  after(async () => {
    for (const proc of started) await killHard(proc);
    await rm(dataDir, { recursive: true, force: true });
  });

  test('the first start prints the bootstrap key and writes it to bootstrap.json with mode 0600', async () => {
    const proc = first!;
    await waitUntil('the bootstrap banner', () => /API key:\s+dk_live_\S+/.test(proc.stdout()), 5_000, proc);
    const match = /API key:\s+(dk_live_\S+)/.exec(proc.stdout());
    printedKey = match![1]!;
    assert.match(proc.stdout(), /First start: created a bootstrap account/);

    const file = join(dataDir, 'bootstrap.json');
    assert.equal(statSync(file).mode & 0o777, 0o600, 'bootstrap.json must be readable by its owner only');
    const saved = JSON.parse(await readFile(file, 'utf8')) as { apiKey: string; accountId: string; email: string };
    assert.equal(saved.apiKey, printedKey, 'the file holds the key that was printed');
    assert.match(saved.apiKey, /^dk_live_/);

    const token = join(dataDir, 'admin.token');
    assert.ok(existsSync(token), 'a per-start admin token is written while the server runs');
    assert.equal(statSync(token).mode & 0o777, 0o600);
  });

  test("the bootstrap key works: GET /api/v1/me returns the document's shape and rate-limit headers", async () => {
    const saved = JSON.parse(await readFile(join(dataDir, 'bootstrap.json'), 'utf8')) as { apiKey: string };
    const response = await me(base, saved.apiKey);
    assert.equal(response.status, 200);
    const body = (await response.json()) as MeDocument;

    assert.equal(typeof body.email, 'string');
    assert.equal(body.user.email, body.email);
    assert.match(body.user.id, /\S/);
    assert.equal(body.user.credits_balance, 1000);
    assert.equal(body.phone_numbers.purchased.length, 1);
    assert.equal(body.phone_numbers.purchased[0]!.number, '+14155551234');
    assert.equal(body.phone_numbers.ported.length, 1);
    assert.equal(body.phone_numbers.ported[0]!.number, '+14155555678');
    assert.deepEqual(body.phone_numbers.outgoing_only, []);
    assert.deepEqual(body.totals, { total_numbers: 2, purchased_count: 1, ported_count: 1, outgoing_only_count: 0 });

    for (const name of ['x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset']) {
      const value = response.headers.get(name);
      assert.ok(value !== null, `${name} is present`);
      assert.match(value, /^\d+$/, `${name} is an integer`);
    }
    assert.ok(Number(response.headers.get('x-ratelimit-remaining')) < Number(response.headers.get('x-ratelimit-limit')));

    const anonymous = await fetch(`${base}/api/v1/me`);
    assert.equal(anonymous.status, 401);
    await anonymous.arrayBuffer();
  });

  test('/healthz, /metrics, /openapi.json and /docs respond', async () => {
    const health = await fetch(`${base}/healthz`);
    assert.equal(health.status, 200);
    assert.equal(((await health.json()) as { service?: string }).service, 'dialplane');

    const metrics = await fetch(`${base}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(await metrics.text(), /dialplane_http_requests_total/);

    const openapi = await fetch(`${base}/openapi.json`);
    assert.equal(openapi.status, 200);
    const spec = (await openapi.json()) as { paths?: Record<string, unknown> };
    assert.ok(spec.paths?.['/api/v1/me'], 'the OpenAPI document lists /api/v1/me');

    const docs = await fetch(`${base}/docs`, { redirect: 'follow' });
    assert.equal(docs.status, 200);
    assert.match(docs.headers.get('content-type') ?? '', /text\/html/);
    assert.match(await docs.text(), /<html/i);
  });

  test('the SQLite files never contain the API key text', () => {
    assert.ok(printedKey.startsWith('dk_live_'), 'the key was captured by the first test');
    const bytes = sqliteBytes(dataDir);
    assert.ok(bytes.length > 0);
    assert.equal(bytes.includes(printedKey), false, 'the full key is not stored');
    assert.equal(bytes.includes(printedKey.slice('dk_live_'.length)), false, 'the secret part is not stored');
  });

  test('SIGTERM stops the server with exit code 0 within 5 s and removes admin.token', async () => {
    const proc = first!;
    const t0 = Date.now();
    proc.child.kill('SIGTERM');
    const code = await within(proc.exited, 5_000);
    assert.equal(code, 0, `exit code after SIGTERM (stderr: ${proc.stderr()})`);
    assert.ok(Date.now() - t0 < 5_000);
    assert.equal(existsSync(join(dataDir, 'admin.token')), false, 'admin.token is removed at shutdown');
    // With the database closed (and its WAL checkpointed), the key is still nowhere in the file.
    assert.equal(sqliteBytes(dataDir).includes(printedKey), false);
  });

  test('a second start on the same data directory does not bootstrap again; the old key still works', async () => {
    assert.ok(printedKey.startsWith('dk_live_'));
    const before = await readFile(join(dataDir, 'bootstrap.json'), 'utf8');
    second = spawnServe(env);
    started.push(second);
    await waitReady(base, second);

    const response = await me(base, printedKey);
    assert.equal(response.status, 200);
    const body = (await response.json()) as MeDocument;
    assert.equal(body.user.credits_balance, 1000);
    assert.deepEqual(body.totals, { total_numbers: 2, purchased_count: 1, ported_count: 1, outgoing_only_count: 0 });

    await sleep(200); // let any late stdout arrive before asserting its absence
    assert.doesNotMatch(second.stdout(), /dk_live_/, 'no new key is printed');
    assert.doesNotMatch(second.stdout(), /First start/);
    assert.equal(await readFile(join(dataDir, 'bootstrap.json'), 'utf8'), before, 'bootstrap.json is left as it was');

    second.child.kill('SIGTERM');
    assert.equal(await within(second.exited, 5_000), 0);
  });

  test('an invalid environment (DIALPLANE_HTTP_PORT=abc) makes serve exit non-zero naming the variable', async () => {
    const badDir = await mkdtemp(join(tmpdir(), 'dialplane-serve-bad-'));
    try {
      const proc = spawnServe(testEnv({ DIALPLANE_DATA_DIR: badDir, DIALPLANE_HTTP_PORT: 'abc' }));
      started.push(proc);
      const code = await within(proc.exited, 10_000);
      assert.notEqual(code, 'timeout', 'serve must not start with an invalid port');
      assert.equal(typeof code, 'number');
      assert.notEqual(code, 0);
      assert.match(proc.stderr(), /DIALPLANE_HTTP_PORT/);
      assert.equal(existsSync(join(badDir, 'dialplane.sqlite')), false, 'nothing is created before the config is valid');
    } finally {
      await rm(badDir, { recursive: true, force: true });
    }
  });
});
