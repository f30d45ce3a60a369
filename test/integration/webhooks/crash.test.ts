import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { systemClock } from '../../../src/core/clock.js';
import { createServices } from '../../../src/core/services.js';
import { openDatabase } from '../../../src/store/database.js';
import { loadSecretBox } from '../../../src/store/secret-keys.js';
import { createStore } from '../../../src/store/store.js';
import {
  freePort,
  killHard,
  ok,
  runCli,
  spawnServe,
  testEnv,
  waitReady,
  waitUntil,
  type ServerProcess,
} from '../../helpers/processes.js';
import { startReceiver, type WebhookReceiver } from '../../helpers/webhook-receiver.js';

const EVENTS = 1_000;

let server: ServerProcess | undefined;
let receiver: WebhookReceiver | undefined;
let dataDir: string | undefined;
after(async () => {
  await killHard(server);
  await receiver?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

test('1,000 events pending, receiver down, the server killed with -9 and restarted: every event arrives', { timeout: 120_000 }, async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'dialplane-webhook-crash-'));
  const receiverPort = await freePort(); // nothing listens here until the receiver is brought up
  // Each start gets a port of its own: another process may take the killed server's port in between.
  let httpPort = await freePort();
  let base = `http://127.0.0.1:${httpPort}`;
  let env = testEnv({
    DIALPLANE_DATA_DIR: dataDir,
    DIALPLANE_HTTP_PORT: String(httpPort),
    DIALPLANE_TRUNK_KEEPALIVE_S: '0',
    DIALPLANE_WEBHOOK_RETRY_BASE_MS: '300',
    DIALPLANE_WEBHOOK_RETRY_MAX_DELAY_MS: '1000',
    DIALPLANE_WEBHOOK_MAX_ATTEMPTS: '100',
    DIALPLANE_WEBHOOK_CONNECT_TIMEOUT_MS: '1000',
    DIALPLANE_WEBHOOK_TIMEOUT_MS: '3000',
  });

  server = spawnServe(env);
  await waitReady(base, server);
  const { endpoint } = ok<{ endpoint: { id: string; secret: string } }>(
    await runCli(env, ['webhooks', 'endpoints', 'add', `http://127.0.0.1:${receiverPort}/hook`, '--events', 'crash.test', '--json']),
  );
  assert.match(endpoint.secret, /^whsec_/);

  // The events are written by another process into the same database, as a second server would: the running
  // dispatcher finds them when it next looks at the outbox.
  // A second server uses the same secrets key (here the data directory's key file) to read the endpoint's secret.
  const database = await openDatabase({ url: join(dataDir, 'dialplane.sqlite'), dialect: 'sqlite', migrate: false });
  try {
    const { box } = await loadSecretBox({ dataDir, key: undefined, previousKeys: undefined });
    const services = createServices(createStore(database, { secrets: box }), { clock: systemClock, defaultCountry: 'US', keyCacheTtlMs: 1_000 });
    const [account] = await services.accounts.list();
    assert.ok(account);
    const eventIds = new Set<string>();
    for (let batch = 0; batch < EVENTS / 100; batch++) {
      await database.write(async (trx) => {
        for (let i = 0; i < 100; i++) {
          const event = services.webhooks.event(account.id, 'crash.test', { n: batch * 100 + i });
          eventIds.add(event.id);
          assert.equal(await services.webhooks.enqueue(trx, event), 1);
        }
      });
    }
    assert.equal(eventIds.size, EVENTS);

    // Every event is attempted (and refused: nobody listens) at least once before the crash.
    await waitUntil(
      'every event attempted once',
      async () => {
        const rows = await services.webhooks.listDeliveries({ accountId: account.id, status: 'pending', limit: EVENTS });
        return rows.length === EVENTS && rows.every((row) => row.attempts >= 1);
      },
      60_000,
      server,
    );
    server.child.kill('SIGKILL');
    assert.equal(await server.exited, 'SIGKILL');

    httpPort = await freePort();
    base = `http://127.0.0.1:${httpPort}`;
    env = { ...env, DIALPLANE_HTTP_PORT: String(httpPort) };
    server = spawnServe(env);
    await waitReady(base, server);
    receiver = await startReceiver(() => ({ status: 200 }), receiverPort);

    await waitUntil(
      'every event delivered',
      async () => new Set(receiver!.requests.map((r) => r.headers['x-dialplane-event-id'])).size >= EVENTS,
      60_000,
      server,
    );
    const received = new Set(receiver.requests.map((r) => String(r.headers['x-dialplane-event-id'])));
    assert.deepEqual([...eventIds].filter((id) => !received.has(id)), [], 'no event lost');
    await waitUntil(
      'the log shows them delivered',
      async () => (await services.store.webhooks.countByStatus(account.id)).delivered === EVENTS,
      20_000,
      server,
    );
    const counts = await services.store.webhooks.countByStatus(account.id);
    assert.deepEqual(counts, { pending: 0, delivering: 0, delivered: EVENTS, failed: 0, cancelled: 0 });
    // The restarted server's metrics count what it delivered, and the outbox by status.
    const exposition = await (await fetch(`${base}/metrics`)).text();
    const delivered = Number(/^dialplane_webhook_attempts_total\{result="delivered"\} (\d+)$/m.exec(exposition)?.[1] ?? 0);
    assert.ok(delivered >= EVENTS, `${delivered} delivered attempts counted`);
    assert.match(exposition, new RegExp(`^dialplane_webhook_deliveries\\{status="delivered"\\} ${EVENTS}$`, 'm'));
    assert.match(exposition, /^dialplane_webhook_attempt_seconds_count \d+$/m);
    // Each delivery was attempted before the crash and again after it.
    const sample = await services.webhooks.listDeliveries({ accountId: account.id, limit: 10 });
    for (const delivery of sample) assert.ok(delivery.attempts >= 2, `${delivery.id}: ${delivery.attempts} attempts`);

    // The delivery log through the CLI, which goes through the running server's admin API.
    const listed = ok<{ deliveries: Array<{ id: string; status: string; attempts: number }> }>(
      await runCli(env, ['webhooks', 'deliveries', '--limit', '5', '--json']),
    );
    assert.equal(listed.deliveries.length, 5);
    const shown = ok<{ payload: string; attempts: Array<{ result: string; error: string | null }> }>(
      await runCli(env, ['webhooks', 'show', listed.deliveries[0]!.id, '--json']),
    );
    assert.equal((JSON.parse(shown.payload) as { type: string }).type, 'crash.test');
    assert.equal(shown.attempts.at(-1)?.result, 'delivered');
    assert.match(shown.attempts[0]?.error ?? '', /ECONNREFUSED/);
    const before = receiver.requests.length;
    const resent = ok<{ delivery: { id: string; event_id: string } }>(
      await runCli(env, ['webhooks', 'resend', listed.deliveries[0]!.id, '--json']),
    );
    await receiver.waitFor(before + 1);
    assert.equal(receiver.requests.at(-1)?.headers['x-dialplane-event-id'], resent.delivery.event_id);
    const tested = ok<{ delivered: boolean; status_code: number }>(
      await runCli(env, ['webhooks', 'test', `http://127.0.0.1:${receiverPort}/test`, '--json']),
    );
    assert.deepEqual([tested.delivered, tested.status_code], [true, 200]);
  } finally {
    await database.close();
  }
});
