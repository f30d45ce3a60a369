import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { systemClock } from '../../../src/core/clock.js';
import { createServices, type Services } from '../../../src/core/services.js';
import { openDatabase, type Database } from '../../../src/store/database.js';
import { SecretBox } from '../../../src/store/secret-box.js';
import { createStore, type Store } from '../../../src/store/store.js';
import { WebhookDispatcher } from '../../../src/webhooks/dispatcher.js';
import { DEFAULT_RETRY_POLICY } from '../../../src/webhooks/retry-policy.js';
import { createHttpSender } from '../../../src/webhooks/sender.js';
import { createTestDatabase, postgresTestOptions, POSTGRES_URL, type TestDatabase } from '../../helpers/databases.js';
import { waitUntil } from '../../helpers/processes.js';
import { startReceiver, type WebhookReceiver } from '../../helpers/webhook-receiver.js';

/**
 * Two nodes deliver from one PostgreSQL outbox: each claims its batches with SELECT … FOR UPDATE SKIP LOCKED, so no
 * delivery is taken twice and neither node waits on rows the other's claim has locked.
 */
const EVENTS = 300;
const options = await postgresTestOptions('webhook outbox claimed by two nodes');

let db: TestDatabase | undefined;
let second: Database | undefined;
let receiver: WebhookReceiver | undefined;
let stores: [Store, Store];
let services: Services;
let accountId: string;

before(async () => {
  if (options.skip) return;
  if (options.failure) throw new Error(options.failure);
  db = await createTestDatabase('postgres');
  second = await openDatabase({ url: POSTGRES_URL, dialect: 'postgres', schema: db.schema!, migrate: false });
  // The nodes of one deployment share the secrets key.
  const secrets = SecretBox.ephemeral();
  stores = [createStore(db.database, { secrets }), createStore(second, { secrets })];
  services = createServices(stores[0], { clock: systemClock, defaultCountry: 'US', keyCacheTtlMs: 0 });
  accountId = (await services.accounts.create({ name: 'Claims', email: 'claims@example.com' })).account.id;
});

after(async () => {
  await second?.close();
  await db?.close();
  await receiver?.close();
});

async function emit(count: number, type: string): Promise<Set<string>> {
  const ids = new Set<string>();
  for (let batch = 0; batch < count / 50; batch++) {
    await stores[0].database.write(async (trx) => {
      for (let i = 0; i < 50; i++) {
        const event = services.webhooks.event(accountId, type, { n: batch * 50 + i });
        ids.add(event.id);
        assert.equal(await services.webhooks.enqueue(trx, event), 1);
      }
    });
  }
  return ids;
}

test('a claim passes over the deliveries another node has locked instead of waiting for them', { ...options, timeout: 30_000 }, async () => {
  const endpoint = await services.webhooks.createEndpoint(accountId, { url: 'http://127.0.0.1:9/locked', eventTypes: ['locked.*'] });
  await emit(50, 'locked.test');
  // Another node's claim, still open: it holds the ten oldest due deliveries.
  const other = new pg.Client({ connectionString: POSTGRES_URL, options: `-c search_path=${db!.schema}` });
  await other.connect();
  try {
    await other.query('begin');
    const locked = await other.query<{ id: string }>(
      `select id from webhook_deliveries where endpoint_id = $1 and status = 'pending' order by next_attempt_at, id limit 10 for update`,
      [endpoint.id],
    );
    assert.equal(locked.rowCount, 10);
    const claim = stores[1].webhooks.claimDue({ now: Date.now(), limit: 10, leaseMs: 60_000, saturated: [], perTargetRoom: () => 100, claimant: 'node_b' });
    const claimed = await Promise.race([
      claim,
      new Promise<'blocked'>((resolve) => setTimeout(() => resolve('blocked'), 5_000).unref()),
    ]);
    assert.notEqual(claimed, 'blocked', 'the claim did not wait for the locked rows');
    assert.ok(Array.isArray(claimed));
    assert.equal(claimed.length, 10);
    const lockedIds = new Set(locked.rows.map((r) => r.id));
    assert.deepEqual(claimed.filter((d) => lockedIds.has(d.id)), [], 'no locked delivery was taken');
    assert.ok(claimed.every((d) => d.claimedBy === 'node_b'));
    const rows = await stores[1].database.db.selectFrom('webhook_deliveries').select(['claimed_by']).where('id', 'in', claimed.map((d) => d.id)).execute();
    assert.ok(rows.every((r) => r.claimed_by === 'node_b'), 'the claim names its node');
  } finally {
    await other.query('rollback').catch(() => undefined);
    await other.end();
  }
  await services.webhooks.deleteEndpoint(accountId, endpoint.id);
});

test(`${EVENTS} events, two nodes delivering from one outbox: each delivered exactly once, by both nodes`, { ...options, timeout: 60_000 }, async () => {
  receiver = await startReceiver(() => ({ status: 200 }));
  await services.webhooks.createEndpoint(accountId, { url: receiver.url, eventTypes: ['pair.*'] });
  const ids = await emit(EVENTS, 'pair.test');
  const send = createHttpSender({ allowPrivate: true, connectTimeoutMs: 2_000, timeoutMs: 5_000 });
  const deliveredBy = new Map<string, number>();
  const dispatchers = stores.map(
    (store, index) =>
      new WebhookDispatcher({
        store: store.webhooks,
        send,
        policy: DEFAULT_RETRY_POLICY,
        concurrency: 8,
        perTargetConcurrency: 8,
        leaseMs: 30_000,
        claimant: `node_${index}`,
        onError: (error) => assert.fail(error instanceof Error ? error : String(error)),
        onAttempt: (record) => {
          assert.equal(record.decision.action, 'delivered');
          deliveredBy.set(`node_${index}`, (deliveredBy.get(`node_${index}`) ?? 0) + 1);
        },
      }),
  );
  for (const dispatcher of dispatchers) dispatcher.start();
  try {
    await receiver.waitFor(EVENTS, 45_000);
    // Anything sent twice would arrive a moment later.
    await new Promise((resolve) => setTimeout(resolve, 300));
  } finally {
    await Promise.all(dispatchers.map((d) => d.stop()));
  }
  const received = receiver.requests.filter((r) => r.path === '/hook').map((r) => (JSON.parse(r.body.toString()) as { id: string }).id);
  assert.equal(received.length, EVENTS, 'one request per event');
  assert.deepEqual(new Set(received), ids, 'every event, none twice');
  const counts = [...deliveredBy.values()];
  assert.equal(counts.length, 2, `both nodes delivered some: ${JSON.stringify(Object.fromEntries(deliveredBy))}`);
  assert.equal(counts[0]! + counts[1]!, EVENTS);
  await waitUntil("every delivery recorded as delivered", async () => (await stores[0].webhooks.countByStatus(accountId)).delivered >= EVENTS, 5_000);
  process.stdout.write(`# outbox claims: ${JSON.stringify(Object.fromEntries(deliveredBy))}\n`);
});
