import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { digestHa1 } from '../../../src/core/extensions.js';
import { createServices, type Services } from '../../../src/core/services.js';
import type { Db } from '../../../src/store/database.js';
import { resealSecrets, SecretsKeyError } from '../../../src/store/reseal-secrets.js';
import { SEALED_COLUMNS, SecretBox, SecretBoxError, keyIdOf, type SealedTable } from '../../../src/store/secret-box.js';
import { createStore, type Store } from '../../../src/store/store.js';
import { ManualClock } from '../../helpers/app.js';
import { createTestDatabase, describeEachDialect, type TestDatabase } from '../../helpers/databases.js';

const KEY_A = Buffer.alloc(32, 0xa1);
const KEY_B = Buffer.alloc(32, 0xb2);
const KEY_C = Buffer.alloc(32, 0xc3);

const ENDPOINT_SECRET = 'whsec_endpoint_secret_known_0001';
const ROTATED_SECRET = 'whsec_endpoint_secret_known_0002';
const DELIVERY_SECRET = 'whsec_one_off_delivery_secret_03';
const GATEWAY_SECRET = 'whsec_gateway_app_secret_known_04';

interface Written {
  readonly accountId: string;
  readonly endpointId: string;
  readonly deliveryId: string;
  readonly applicationId: string;
  readonly hookSecret: string;
  readonly gatewayAppId: string;
  readonly deviceId: string;
  readonly username: string;
  readonly ha1: string;
}

function servicesOver(db: TestDatabase, box: SecretBox): { services: Services; store: Store } {
  const store = createStore(db.database, { secrets: box });
  return { store, services: createServices(store, { clock: new ManualClock(), defaultCountry: 'US', keyCacheTtlMs: 0 }) };
}

/** One of every sealed value, written through core services as the API writes them. */
async function writeSecrets(services: Services, store: Store, email: string): Promise<Written> {
  const accountId = (await services.accounts.create({ name: 'Secrets', email })).account.id;
  const endpoint = await services.webhooks.createEndpoint(accountId, { url: 'https://receiver.example/hook', secret: ENDPOINT_SECRET });
  await services.webhooks.rotateSecret(accountId, endpoint.id, ROTATED_SECRET);
  const { application, hookSecret } = await services.applications.create(accountId, { name: 'Hooks', callHook: 'https://app.example/call' });
  const { app } = await services.apps.create(accountId, { name: 'Gateway', webhookSecret: GATEWAY_SECRET });
  const extension = await services.extensions.create(accountId, { name: 'Desk' });
  const { device, password } = await services.extensions.addDevice(accountId, extension.id);
  const deliveryId = `wd_secret_${email.replace(/\W/g, '')}`;
  await store.database.write((trx) =>
    store.webhooks.insertDeliveries(trx, [
      {
        id: deliveryId,
        event_id: `ev_${deliveryId}`,
        account_id: accountId,
        endpoint_id: null,
        target_key: 'https://one-off.example/',
        url: 'https://one-off.example/',
        event_type: 'webhook.test',
        payload: '{}',
        signature_header: null,
        secret: DELIVERY_SECRET,
        status: 'failed',
        attempts: 1,
        next_attempt_at: 0,
        lease_until: null,
        claimed_by: null,
        first_attempt_at: null,
        last_status_code: null,
        last_error: null,
        final_reason: 'test',
        created_at: '2026-01-01T00:00:00.000Z',
        completed_at: null,
      },
    ]),
  );
  return {
    accountId,
    endpointId: endpoint.id,
    deliveryId,
    applicationId: application.id,
    hookSecret,
    gatewayAppId: app.id,
    deviceId: device.id,
    username: device.username,
    ha1: digestHa1(device.username, device.realm, password),
  };
}

/** Every plaintext secret the written rows hold. */
function plaintexts(w: Written): string[] {
  return [ENDPOINT_SECRET, ROTATED_SECRET, DELIVERY_SECRET, GATEWAY_SECRET, w.hookSecret, w.ha1];
}

/** Reads every value back through the repositories, as core sees them. */
async function readBack(store: Store, services: Services, w: Written): Promise<void> {
  const endpoint = await store.webhooks.findEndpoint(w.accountId, w.endpointId);
  assert.equal(endpoint?.secret, ROTATED_SECRET);
  assert.equal(endpoint?.previous_secret, ENDPOINT_SECRET);
  assert.equal((await store.webhooks.findDelivery(w.deliveryId))?.secret, DELIVERY_SECRET);
  assert.equal((await store.applications.find(w.accountId, w.applicationId))?.hook_secret, w.hookSecret);
  assert.equal((await store.apps.findById(w.accountId, w.gatewayAppId))?.webhook_secret, GATEWAY_SECRET);
  assert.equal((await services.extensions.credentialsFor(w.username))?.ha1, w.ha1);
}

/** Every non-null raw value of every sealed column, selected with the query builder. */
async function rawValues(db: Db): Promise<Array<{ table: SealedTable; column: string; value: string }>> {
  const values: Array<{ table: SealedTable; column: string; value: string }> = [];
  for (const table of Object.keys(SEALED_COLUMNS) as SealedTable[]) {
    for (const column of SEALED_COLUMNS[table]) {
      const rows = (await db.selectFrom(table).select(column as never).execute()) as Array<Record<string, string | null>>;
      for (const row of rows) {
        const value = row[column];
        if (value !== null && value !== undefined) values.push({ table, column, value });
      }
    }
  }
  return values;
}

await describeEachDialect('secrets at rest', (dialect) => {
  let db: TestDatabase;

  before(async () => {
    db = await createTestDatabase(dialect);
  });
  after(async () => db.close());

  test('webhook, hook and gateway secrets and device HA1s round-trip, and the raw columns hold none of them', async () => {
    const { store, services } = servicesOver(db, new SecretBox(KEY_A));
    const w = await writeSecrets(services, store, 'round-trip@example.com');
    await readBack(store, services, w);
    const raw = await rawValues(db.database.db);
    const columns = new Set(raw.map((r) => `${r.table}.${r.column}`));
    for (const table of Object.keys(SEALED_COLUMNS) as SealedTable[]) {
      for (const column of SEALED_COLUMNS[table]) assert.ok(columns.has(`${table}.${column}`), `${table}.${column} was written`);
    }
    for (const { table, column, value } of raw) {
      assert.match(value, new RegExp(`^dpsec1\\.${keyIdOf(KEY_A)}\\.`), `${table}.${column} is sealed`);
      for (const secret of plaintexts(w)) assert.ok(!value.includes(secret), `${table}.${column} holds no plaintext`);
    }
    const rawHa1 = await db.database.db.selectFrom('devices').select('ha1').where('id', '=', w.deviceId).executeTakeFirstOrThrow();
    assert.notEqual(rawHa1.ha1, w.ha1);
    assert.doesNotMatch(rawHa1.ha1, /^[0-9a-f]{32}$/, 'the stored value is not an MD5 HA1');

    // A delivery to the endpoint is signed with both of its secrets, read through the outbox.
    await db.database.write((trx) =>
      services.webhooks.enqueue(trx, { id: 'ev_claim', accountId: w.accountId, type: 'webhook.test', occurredAt: new Date(0).toISOString(), data: {} }),
    );
    const claimed = await store.webhooks.claimDue({ now: Date.now() + 1_000, limit: 10, leaseMs: 1_000, saturated: [], perTargetRoom: () => 10 });
    const ours = claimed.find((c) => c.endpointId === w.endpointId);
    assert.deepEqual(ours?.secrets, [ROTATED_SECRET, ENDPOINT_SECRET]);

    if (db.file) {
      // Neither the database file nor its write-ahead log holds a secret in the clear.
      const bytes = Buffer.concat([db.file, `${db.file}-wal`].filter((f) => existsSync(f)).map((f) => readFileSync(f)));
      for (const secret of plaintexts(w)) assert.equal(bytes.indexOf(secret), -1, `${secret.slice(0, 12)}… is not in the file`);
    }
  });

  test('a tampered sealed value is refused, not read as a secret', async () => {
    const { store, services } = servicesOver(db, new SecretBox(KEY_A));
    const w = await writeSecrets(services, store, 'tamper@example.com');
    const { ha1 } = await db.database.db.selectFrom('devices').select('ha1').where('id', '=', w.deviceId).executeTakeFirstOrThrow();
    const body = Buffer.from(ha1.split('.')[2]!, 'base64url');
    body[20]! ^= 0x01;
    const tampered = `${ha1.split('.').slice(0, 2).join('.')}.${body.toString('base64url')}`;
    await db.database.db.updateTable('devices').set({ ha1: tampered }).where('id', '=', w.deviceId).execute();
    await assert.rejects(services.extensions.credentialsFor(w.username), (error: unknown) => error instanceof SecretBoxError && error.code === 'does_not_open');
    // Put back, so the rotation tests below start from a database that opens.
    await db.database.db.updateTable('devices').set({ ha1 }).where('id', '=', w.deviceId).execute();
  });

  test('rotation: A, then B with A previous reseals every value under B; B alone works; a wrong key stops the start', async () => {
    const a = servicesOver(db, new SecretBox(KEY_A));
    const w = await writeSecrets(a.services, a.store, 'rotate@example.com');
    const before = await rawValues(db.database.db);

    const firstPass = await resealSecrets(db.database, new SecretBox(KEY_B, [KEY_A]));
    assert.equal(firstPass.resealed, before.length);
    assert.equal(firstPass.upgraded, 0);
    for (const { table, column, value } of await rawValues(db.database.db)) {
      assert.match(value, new RegExp(`^dpsec1\\.${keyIdOf(KEY_B)}\\.`), `${table}.${column} is under B`);
    }

    const b = servicesOver(db, new SecretBox(KEY_B));
    await readBack(b.store, b.services, w);
    assert.deepEqual(await resealSecrets(db.database, new SecretBox(KEY_B)), { resealed: 0, upgraded: 0 }, 'nothing left to reseal');

    const resealedUnderB = await rawValues(db.database.db);
    await assert.rejects(resealSecrets(db.database, new SecretBox(KEY_C)), (error: unknown) => {
      assert.ok(error instanceof SecretsKeyError);
      assert.match(error.message, /DIALPLANE_SECRETS_KEY/);
      assert.ok(!error.message.includes(ROTATED_SECRET));
      return true;
    });
    assert.deepEqual(await rawValues(db.database.db), resealedUnderB, 'a refused start writes nothing');

    // The process-wide default key of createStore is not B either: the same refusal, and reads fail loudly.
    await assert.rejects(createStore(db.database).applications.find(w.accountId, w.applicationId), SecretBoxError);
  });

  test('a plaintext database from an earlier version is sealed at the first start; a value that is neither is an error', async () => {
    const plain = await createTestDatabase(dialect);
    try {
      const box = new SecretBox(KEY_A);
      const seeded = servicesOver(plain, box);
      const w = await writeSecrets(seeded.services, seeded.store, 'plain@example.com');
      // What an earlier version left: every secret column in plaintext.
      const rows = plain.database.db;
      await rows.updateTable('webhook_endpoints').set({ secret: ROTATED_SECRET, previous_secret: ENDPOINT_SECRET }).execute();
      await rows.updateTable('webhook_deliveries').set({ secret: DELIVERY_SECRET }).where('id', '=', w.deliveryId).execute();
      await rows.updateTable('applications').set({ hook_secret: w.hookSecret }).execute();
      await rows.updateTable('gateway_apps').set({ webhook_secret: GATEWAY_SECRET }).execute();
      await rows.updateTable('devices').set({ ha1: w.ha1 }).execute();
      await assert.rejects(seeded.services.extensions.credentialsFor(w.username), SecretBoxError, 'plaintext is not read as a secret');

      const total = (await rawValues(rows)).length;
      assert.deepEqual(await resealSecrets(plain.database, box), { resealed: 0, upgraded: total });
      for (const { table, column, value } of await rawValues(rows)) {
        assert.match(value, /^dpsec1\./, `${table}.${column} is sealed`);
        for (const secret of plaintexts(w)) assert.ok(!value.includes(secret));
      }
      await readBack(seeded.store, seeded.services, w);

      await rows.updateTable('devices').set({ ha1: 'not-an-ha1' }).execute();
      await assert.rejects(resealSecrets(plain.database, box), /devices\.ha1 .*neither sealed nor/);
    } finally {
      await plain.close();
    }
  });
});
