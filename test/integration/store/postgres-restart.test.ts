import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { systemClock } from '../../../src/core/clock.js';
import { createServices } from '../../../src/core/services.js';
import { openDatabase, type Database } from '../../../src/store/database.js';
import { loadSecretBox } from '../../../src/store/secret-keys.js';
import { createStore } from '../../../src/store/store.js';
import { requirePeer } from '../../helpers/peers.js';
import { postgresServerPeer, startPrivatePostgres, type PrivatePostgres } from '../../helpers/private-postgres.js';
import { freePort, killHard, ok, runCli, sleep, spawnServe, testEnv, waitReady, waitUntil, type ServerProcess } from '../../helpers/processes.js';
import { startReceiver, type WebhookReceiver } from '../../helpers/webhook-receiver.js';

/**
 * A PostgreSQL restart under a running `dialplane serve`, on a private PostgreSQL server the test stops and starts
 * (the machine's shared server is never touched): requests meanwhile answer 503 database_unavailable, the process
 * stays up, and once the server is back the pool reconnects by itself, the webhooks queued before the outage arrive
 * exactly once, a call that ended during the outage is stored as ended, and a new call to the dev carrier completes.
 */
const EVENTS = 20;
const ADMIN_TOKEN = 'pg-restart-admin-token-0123456789abcdef';
const FROM = '+14155551234';

let postgres: PrivatePostgres | undefined;
let server: ServerProcess | undefined;
let receiver: WebhookReceiver | undefined;
let second: Database | undefined;
let dataDir: string | undefined;
after(async () => {
  await killHard(server);
  await second?.close().catch(() => undefined);
  await receiver?.close();
  await postgres?.cleanup();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

interface StandardError {
  error: { code: string; message: string };
}

test('a PostgreSQL restart is survived: 503 during it, the pool reconnects, queued webhooks arrive once', { timeout: 180_000 }, async (t) => {
  if (!(await requirePeer(postgresServerPeer, t))) return;
  postgres = await startPrivatePostgres();
  dataDir = await mkdtemp(join(tmpdir(), 'dialplane-pg-restart-'));

  // Events are delivered once the receiver says 200; until then it refuses them, so they wait in the outbox. The
  // in-flight event's first request is held until the database has gone away, then answered 200.
  let accepting = false;
  const delivered = new Map<string, number>();
  const inflightAt: number[] = [];
  receiver = await startReceiver((_index, request) => {
    if (request.path === '/inflight') {
      inflightAt.push(Date.now());
      return inflightAt.length === 1 ? 'hold' : { status: 200 };
    }
    if (!accepting) return { status: 503 };
    const id = String(request.headers['x-dialplane-event-id']);
    delivered.set(id, (delivered.get(id) ?? 0) + 1);
    return { status: 200 };
  });

  const httpPort = await freePort();
  const base = `http://127.0.0.1:${httpPort}`;
  const env = testEnv({
    DIALPLANE_DATA_DIR: dataDir,
    DIALPLANE_DATABASE_URL: postgres.url,
    DIALPLANE_HTTP_PORT: String(httpPort),
    DIALPLANE_ADMIN_TOKEN: ADMIN_TOKEN,
    DIALPLANE_LOG_LEVEL: 'info',
    DIALPLANE_TRUNK_KEEPALIVE_S: '0',
    DIALPLANE_RTP_PORTS: '35000-35999',
    DIALPLANE_WEBHOOK_RETRY_BASE_MS: '300',
    DIALPLANE_WEBHOOK_RETRY_MAX_DELAY_MS: '1000',
    DIALPLANE_WEBHOOK_MAX_ATTEMPTS: '100',
    DIALPLANE_WEBHOOK_CONNECT_TIMEOUT_MS: '1000',
    // An attempt's lease is this plus 5 s: longer than the outage, so the held attempt is recorded, not sent again.
    DIALPLANE_WEBHOOK_TIMEOUT_MS: '12000',
  });
  server = spawnServe(env);
  await waitReady(base, server);
  const bootstrap = JSON.parse(await readFile(join(dataDir, 'bootstrap.json'), 'utf8')) as { accountId: string; apiKey: string };
  const listCalls = () => fetch(`${base}/api/v1/calls`, { headers: { authorization: `Bearer ${bootstrap.apiKey}` } });
  const admin = (path: string, init: RequestInit = {}) =>
    fetch(`${base}/admin/v1${path}`, { ...init, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' } });
  assert.equal((await listCalls()).status, 200);
  const placeCall = async (maxDurationS: number): Promise<string> => {
    const placed = await admin(`/accounts/${bootstrap.accountId}/calls`, {
      method: 'POST',
      body: JSON.stringify({ from: FROM, to: '+14155550100', max_duration_s: maxDurationS }),
    });
    assert.equal(placed.status, 201, await placed.clone().text());
    return ((await placed.json()) as { call: { id: string } }).call.id;
  };
  const callOf = async (callId: string) =>
    ((await (await admin(`/accounts/${bootstrap.accountId}/calls/${callId}`)).json()) as {
      call: { state: string; outcome: string | null; end_reason: string | null };
    }).call;
  ok(await runCli(env, ['webhooks', 'endpoints', 'add', receiver.url, '--events', 'restart.test', '--json']));
  const inflightUrl = `http://127.0.0.1:${receiver.port}/inflight`;
  ok(await runCli(env, ['webhooks', 'endpoints', 'add', inflightUrl, '--events', 'restart.inflight', '--json']));

  // The events are written by a second process on the same database, as another server would; the running
  // dispatcher attempts each (refused) before the outage.
  second = await openDatabase({ url: postgres.url, dialect: 'postgres', migrate: false });
  const { box } = await loadSecretBox({ dataDir, key: undefined, previousKeys: undefined });
  const services = createServices(createStore(second, { secrets: box }), { clock: systemClock, defaultCountry: 'US', keyCacheTtlMs: 1_000 });
  const eventIds: string[] = [];
  await second.write(async (trx) => {
    for (let i = 0; i < EVENTS; i++) {
      const event = services.webhooks.event(bootstrap.accountId, 'restart.test', { n: i });
      eventIds.push(event.id);
      assert.equal(await services.webhooks.enqueue(trx, event), 1);
    }
    assert.equal(await services.webhooks.enqueue(trx, services.webhooks.event(bootstrap.accountId, 'restart.inflight', {})), 1);
  });
  await waitUntil(
    'every event attempted once',
    async () => {
      const rows = await services.webhooks.listDeliveries({ accountId: bootstrap.accountId, status: 'pending', limit: EVENTS });
      return rows.length === EVENTS && rows.every((row) => row.attempts >= 1);
    },
    30_000,
    server,
  );
  await waitUntil('the in-flight event held by the receiver', () => receiver!.held() === 1, 30_000, server);
  await second.close();
  second = undefined;

  // A call answered before the outage that reaches its maximum duration during it: its end is stored afterwards.
  const live = await placeCall(3);
  await waitUntil('the live call answered', async () => (await callOf(live)).state === 'answered', 20_000, server);

  await postgres.stop();
  // The receiver takes the held delivery while the database is away: the attempt's record waits for it.
  receiver.release(200);
  // Requests that need the database (a list is never cached), in the DialAnyone face's shape and in the admin API's.
  for (const response of [await listCalls(), await admin(`/accounts`)]) {
    assert.equal(response.status, 503);
    assert.equal(response.headers.get('retry-after'), '5');
    const body = (await response.json()) as StandardError;
    assert.equal(body.error.code, 'database_unavailable');
    assert.equal(body.error.message, 'The database is unreachable, retry shortly');
  }
  // DialLink's own error shape.
  const dialLink = await fetch(`${base}/v1/account-hub/api-keys`, { headers: { 'x-api-key': bootstrap.apiKey } });
  assert.equal(dialLink.status, 503);
  assert.equal(dialLink.headers.get('retry-after'), '5');
  assert.deepEqual(
    { ...((await dialLink.json()) as Record<string, unknown>) },
    { status: 503, code: 'database_unavailable', description: 'The database is unreachable, retry shortly' },
  );
  const readiness = await fetch(`${base}/readyz`);
  assert.equal(readiness.status, 503);
  assert.equal(((await readiness.json()) as StandardError).error.code, 'not_ready');
  // The background loops (webhook outbox, lease renewal, SMS pick-up) fail their ticks meanwhile; none may end the process.
  accepting = true;
  await sleep(6_000);
  assert.equal(server.hasExited(), false, `the server exited during the outage: ${server.stderr()}`);
  assert.equal((await listCalls()).status, 503);

  await postgres.start();
  await waitUntil('requests succeed again', async () => (await listCalls()).status === 200, 15_000, server);
  await waitReady(base, server, 15_000);
  await waitUntil('every queued event delivered', () => eventIds.every((id) => delivered.has(id)), 30_000, server);
  // Long enough for a second attempt of any delivery to have come (the retry delay is at most 1 s).
  await sleep(2_000);
  assert.deepEqual(
    eventIds.filter((id) => delivered.get(id) !== 1).map((id) => [id, delivered.get(id)]),
    [],
    'each event delivered exactly once',
  );
  assert.equal(delivered.size, EVENTS);
  // Past the held attempt's lease: had its record been dropped, the delivery would have been sent again by now.
  await sleep(Math.max(0, inflightAt[0]! + 18_000 - Date.now()));
  assert.equal(inflightAt.length, 1, 'the delivery in flight when the database went away was sent once');

  const ended = async (callId: string) => {
    await waitUntil('the call ends', async () => (await callOf(callId)).state === 'ended', 20_000, server);
    const call = await callOf(callId);
    return [call.outcome, call.end_reason];
  };
  assert.deepEqual(await ended(live), ['completed', 'time_limit'], 'the call that ended during the outage');
  // A new call to the dev carrier, answered and ended at its maximum duration.
  assert.deepEqual(await ended(await placeCall(1)), ['completed', 'time_limit']);

  // One warning for the outage and one line for its end, whatever the loops met meanwhile; no unhandled error.
  const log = server.stdout() + server.stderr();
  assert.equal(log.match(/the database is unreachable/g)?.length, 1, log);
  assert.equal(log.match(/the database is reachable again/g)?.length, 1, log);
  assert.doesNotMatch(log, /webhook outbox error|unhandled error|"level":50/);
});
