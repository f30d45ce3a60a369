import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { createTestApp, seedAccount, type TestApp } from '../../helpers/app.js';
import { describeEachDialect } from '../../helpers/databases.js';

type Headers = Record<string, string>;

const basic = (user: string, password = '') => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** Each scheme, as a function from a presented key to the request headers carrying it. */
const schemes: Record<string, (key: string) => Headers> = {
  bearer: (key) => ({ authorization: `Bearer ${key}` }),
  'x-api-key': (key) => ({ 'x-api-key': key }),
  'X-API-KEY (mixed case)': (key) => ({ 'X-Api-Key': key }),
  basic: (key) => ({ authorization: basic(key) }),
};

await describeEachDialect('authentication', (dialect) => {
  let t: TestApp;
  let seed: Awaited<ReturnType<typeof seedAccount>>;

  before(async () => {
    t = await createTestApp(dialect, {
      // A probe route accepting every key scheme, and one for gateway apps, so each scheme is tested alike.
      beforeReady(app) {
        const anyScheme = { dialplane: { auth: ['bearer', 'x-api-key', 'basic'] as const } };
        app.get('/test/whoami', { config: anyScheme }, async (request) => request.principal);
        app.post('/test/write', { config: anyScheme }, async () => ({ wrote: true }));
        app.get('/test/app', { config: { dialplane: { auth: ['app'] as const } } }, async (request) => request.principal);
      },
    });
    seed = await seedAccount(t.services);
  });
  after(async () => t.close());

  const whoami = (headers: Headers) => t.app.inject({ method: 'GET', url: '/test/whoami', headers });

  for (const [name, headersFor] of Object.entries(schemes)) {
    describe(`scheme ${name}`, () => {
      test('a valid key authenticates as its account', async () => {
        const response = await whoami(headersFor(seed.token));
        assert.equal(response.statusCode, 200);
        assert.equal(response.json().accountId, seed.account.id);
        assert.equal(response.json().keyId, seed.key.id);
      });

      test('a wrong key is 401', async () => {
        const wrong = `${seed.token.slice(0, -1)}${seed.token.endsWith('A') ? 'B' : 'A'}`;
        for (const key of [wrong, 'dk_live_nope', 'x'.repeat(500), '']) {
          const response = await whoami(headersFor(key));
          assert.equal(response.statusCode, 401, key);
        }
      });

      test('a disabled key is 401, and so is an expired one, with the same body as an unknown key', async () => {
        const disabled = await t.services.keys.create(seed.account.id, { name: `disabled ${name}` });
        assert.equal((await whoami(headersFor(disabled.token))).statusCode, 200);
        await t.services.keys.revoke(seed.account.id, disabled.key.id);
        const refused = await whoami(headersFor(disabled.token));
        assert.equal(refused.statusCode, 401);

        const expiring = await t.services.keys.create(seed.account.id, {
          name: `expiring ${name}`,
          expiresAt: new Date(t.clock.nowMs() + 60_000).toISOString(),
        });
        assert.equal((await whoami(headersFor(expiring.token))).statusCode, 200);
        t.clock.advance(60_001);
        const expired = await whoami(headersFor(expiring.token));
        assert.equal(expired.statusCode, 401);

        const unknown = await whoami(headersFor(`${seed.token.slice(0, 12)}${'Z'.repeat(seed.token.length - 12)}`));
        assert.equal(unknown.statusCode, 401);
        assert.deepEqual(refused.json(), unknown.json());
        assert.deepEqual(expired.json(), unknown.json());
      });
    });
  }

  test('no credentials at all is 401 missing_credentials', async () => {
    const response = await whoami({});
    assert.equal(response.statusCode, 401);
    assert.equal(response.json().error.code, 'missing_credentials');
  });

  test('basic auth ignores the password; bearer scheme name is case-insensitive', async () => {
    assert.equal((await whoami({ authorization: basic(seed.token, 'anything') })).statusCode, 200);
    assert.equal((await whoami({ authorization: `bearer ${seed.token}` })).statusCode, 200);
  });

  test('a read-only key reads but cannot write', async () => {
    const readOnly = await t.services.keys.create(seed.account.id, { name: 'reader', permission: 'read_only' });
    assert.equal((await whoami({ authorization: `Bearer ${readOnly.token}` })).statusCode, 200);
    const write = await t.app.inject({ method: 'POST', url: '/test/write', headers: { authorization: `Bearer ${readOnly.token}` } });
    assert.equal(write.statusCode, 403);
    assert.equal(write.json().error.code, 'read_only_key');
    const full = await t.app.inject({ method: 'POST', url: '/test/write', headers: { authorization: `Bearer ${seed.token}` } });
    assert.equal(full.statusCode, 200);
  });

  test("a view-only user's key only reads; a disabled user's keys stop working", async () => {
    const viewer = await t.services.accounts.addUser(seed.account.id, { email: 'viewer@example.com', viewOnly: true });
    const { token } = await t.services.keys.create(seed.account.id, { name: 'viewer key', userId: viewer.id });
    const headers = { authorization: `Bearer ${token}` };
    assert.equal((await whoami(headers)).statusCode, 200);
    const write = await t.app.inject({ method: 'POST', url: '/test/write', headers });
    assert.equal(write.statusCode, 403);
    assert.equal(write.json().error.code, 'read_only_key');

    const worker = await t.services.accounts.addUser(seed.account.id, { email: 'worker@example.com' });
    const workerKey = await t.services.keys.create(seed.account.id, { name: 'worker key', userId: worker.id });
    await t.services.accounts.setUserStatus(seed.account.id, worker.id, 'disabled');
    assert.equal((await whoami({ authorization: `Bearer ${workerKey.token}` })).statusCode, 401);
  });

  test("a disabled user's key stops working at once, even just after use (not when the key cache expires)", async () => {
    const worker = await t.services.accounts.addUser(seed.account.id, { email: 'busy-worker@example.com' });
    const { token } = await t.services.keys.create(seed.account.id, { name: 'busy worker key', userId: worker.id });
    const headers = { authorization: `Bearer ${token}` };
    assert.equal((await whoami(headers)).statusCode, 200, 'the key is used, so it is cached');
    await t.services.accounts.setUserStatus(seed.account.id, worker.id, 'disabled');
    assert.equal((await whoami(headers)).statusCode, 401);
    await t.services.accounts.setUserStatus(seed.account.id, worker.id, 'active');
    assert.equal((await whoami(headers)).statusCode, 200, 'and works again once the user is active');
  });

  test('a key cannot be made for a user of another account', async () => {
    const other = await t.services.accounts.create({ name: 'Elsewhere', email: 'elsewhere@example.com' });
    await assert.rejects(t.services.keys.create(seed.account.id, { name: 'x', userId: other.owner.id }), { code: 'not_found' });
  });

  describe('gateway apps (X-App-ID + X-API-Key)', () => {
    let appId: string;
    let appKey: string;
    before(async () => {
      const created = await t.services.apps.create(seed.account.id, { name: 'gateway', callerIdAllowList: ['+972721234567'] });
      appId = created.app.id;
      appKey = created.token;
    });

    test('the app id with its key authenticates as the app', async () => {
      const response = await t.app.inject({ method: 'GET', url: '/test/app', headers: { 'x-app-id': appId, 'x-api-key': appKey } });
      assert.equal(response.statusCode, 200);
      assert.equal(response.json().appId, appId);
    });

    test('wrong app id, wrong key, missing app id, disabled and expired keys are all 401', async () => {
      const other = await t.services.apps.create(seed.account.id, { name: 'other' });
      const cases: Headers[] = [
        { 'x-app-id': other.app.id, 'x-api-key': appKey },
        { 'x-app-id': appId, 'x-api-key': other.token },
        { 'x-app-id': appId, 'x-api-key': seed.token },
        { 'x-api-key': appKey },
        { 'x-app-id': appId },
      ];
      for (const headers of cases) {
        const response = await t.app.inject({ method: 'GET', url: '/test/app', headers });
        assert.equal(response.statusCode, 401, JSON.stringify(headers));
      }
      await t.services.keys.revoke(seed.account.id, other.key.id);
      const revoked = await t.app.inject({
        method: 'GET',
        url: '/test/app',
        headers: { 'x-app-id': other.app.id, 'x-api-key': other.token },
      });
      assert.equal(revoked.statusCode, 401);
    });

    test('an app key is not accepted by the plain key schemes', async () => {
      assert.equal((await whoami({ authorization: `Bearer ${appKey}` })).statusCode, 401);
      assert.equal((await whoami({ 'x-api-key': appKey })).statusCode, 401);
    });
  });

  test('authentication on the hot path does not touch the database', async () => {
    const fresh = await t.services.keys.create(seed.account.id, { name: 'cached' });
    assert.equal((await whoami({ authorization: `Bearer ${fresh.token}` })).statusCode, 200);
    const findByHash = t.services.store.apiKeys.findByHash.bind(t.services.store.apiKeys);
    let lookups = 0;
    t.services.store.apiKeys.findByHash = async (hash) => {
      lookups += 1;
      return findByHash(hash);
    };
    try {
      for (let i = 0; i < 20; i++) assert.equal((await whoami({ authorization: `Bearer ${fresh.token}` })).statusCode, 200);
      assert.equal(lookups, 0);
      // A revoke through the service evicts at once: the next request is refused.
      await t.services.keys.revoke(seed.account.id, fresh.key.id);
      assert.equal((await whoami({ authorization: `Bearer ${fresh.token}` })).statusCode, 401);
    } finally {
      t.services.store.apiKeys.findByHash = findByHash;
    }
  });

  test('last-used times are recorded in batches', async () => {
    await whoami({ authorization: `Bearer ${seed.token}` });
    await t.services.keys.flushUsage();
    const key = await t.services.keys.get(seed.account.id, seed.key.id);
    assert.equal(key.lastUsedAt, t.clock.now().toISOString());
  });

  test('no API key is stored in plaintext: only its SHA-256 and last four characters', async () => {
    const { token, key } = await t.services.keys.create(seed.account.id, { name: 'secret-check' });
    const app = await t.services.apps.create(seed.account.id, { name: 'secret-app' });
    const tokens = [token, app.token, seed.token];
    const rows = await sql<Record<string, unknown>>`select * from api_keys`.execute(t.services.store.database.db);
    const dump = JSON.stringify(rows.rows);
    for (const secret of tokens) {
      assert.ok(!dump.includes(secret), 'key text in api_keys');
      assert.ok(!dump.includes(secret.slice('dk_live_'.length, -4)), 'key body in api_keys');
    }
    assert.ok(dump.includes(key.last4));
    if (t.db.file) {
      await t.services.keys.flushUsage();
      for (const file of [t.db.file, `${t.db.file}-wal`]) {
        let bytes: Buffer;
        try {
          bytes = readFileSync(file);
        } catch {
          continue;
        }
        for (const secret of tokens) assert.equal(bytes.indexOf(secret.slice('dk_live_'.length, -4)), -1, `${file} holds a key`);
      }
    } else {
      // PostgreSQL: search every text column of every table in this schema.
      const tables = ['accounts', 'users', 'api_keys', 'gateway_apps', 'phone_numbers', 'credit_entries', 'credit_holds', 'prices'];
      for (const table of tables) {
        const all = await sql<Record<string, unknown>>`select * from ${sql.table(table)}`.execute(t.services.store.database.db);
        const text = JSON.stringify(all.rows);
        for (const secret of tokens) assert.ok(!text.includes(secret.slice('dk_live_'.length, -4)), `${table} holds a key`);
      }
    }
  });

  test('another account cannot see or revoke a key (404)', async () => {
    const other = await t.services.accounts.create({ name: 'Other', email: 'other@example.com' });
    await assert.rejects(t.services.keys.revoke(other.account.id, seed.key.id), { code: 'not_found' });
    await assert.rejects(t.services.keys.get(other.account.id, seed.key.id), { code: 'not_found' });
    assert.equal((await whoami({ authorization: `Bearer ${seed.token}` })).statusCode, 200);
  });
});
