import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { ADMIN_TOKEN, createTestApp, seedAccount, type TestApp } from '../../helpers/app.js';
import { describeEachDialect } from '../../helpers/databases.js';

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
const TABLES = ['accounts', 'users', 'api_keys', 'gateway_apps', 'phone_numbers', 'credit_entries', 'credit_holds'] as const;

await describeEachDialect('admin API and bad input', (dialect) => {
  let t: TestApp;
  let seed: Awaited<ReturnType<typeof seedAccount>>;

  before(async () => {
    t = await createTestApp(dialect, { bodyLimit: 4_096 });
    seed = await seedAccount(t.services);
  });
  after(async () => t.close());

  const post = (url: string, payload: unknown, headers: Record<string, string> = admin) =>
    t.app.inject({ method: 'POST', url, headers, payload: payload as object });

  async function rowCounts(): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    for (const table of TABLES) {
      const result = await sql<{ n: number }>`select count(*) as n from ${sql.table(table)}`.execute(t.services.store.database.db);
      counts[table] = Number(result.rows[0]?.n);
    }
    return counts;
  }

  test('the admin API requires the admin token', async () => {
    for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: `Bearer ${seed.token}` }]) {
      const response = await t.app.inject({ method: 'GET', url: '/admin/v1/accounts', headers });
      assert.equal(response.statusCode, 401);
      assert.equal(response.json().error.code, 'admin_unauthorized');
    }
  });

  test('happy path: account, key, number, app, credits', async () => {
    const account = await post('/admin/v1/accounts', { name: 'Acme', email: 'ops@acme.example' });
    assert.equal(account.statusCode, 201);
    const id = account.json().account.id as string;
    const key = await post(`/admin/v1/accounts/${id}/keys`, { name: 'crm', permission: 'read_only' });
    assert.equal(key.statusCode, 201);
    assert.match(key.json().api_key, /^dk_live_/);
    assert.equal(key.json().key.last4, key.json().api_key.slice(-4));
    const listed = await t.app.inject({ method: 'GET', url: `/admin/v1/accounts/${id}/keys`, headers: admin });
    assert.ok(!listed.body.includes(key.json().api_key), 'a listed key never shows its full text');
    const number = await post(`/admin/v1/accounts/${id}/numbers`, { number: '(415) 555-0199', type: 'purchased' });
    assert.equal(number.statusCode, 201);
    assert.equal(number.json().number.number, '+14155550199');
    const app = await post(`/admin/v1/accounts/${id}/apps`, { name: 'gw', caller_id_allow_list: ['0721234567'], country: 'IL' });
    assert.equal(app.statusCode, 201);
    assert.deepEqual(app.json().app.caller_id_allow_list, ['+972721234567']);
    const credits = await post(`/admin/v1/accounts/${id}/credits`, { amount: '1250.75' });
    assert.equal(credits.statusCode, 201);
    assert.equal(credits.json().balance, 1250.75);
    const shown = await t.app.inject({ method: 'GET', url: `/admin/v1/accounts/${id}/credits`, headers: admin });
    assert.equal(shown.json().available, 1250.75);
    const revoked = await post(`/admin/v1/accounts/${id}/keys/${key.json().key.id}/revoke`, undefined);
    assert.equal(revoked.statusCode, 200);
    assert.equal(revoked.json().key.enabled, false);
  });

  test("a gateway app's webhook secret is masked in the admin API's listing and in updates that keep it (it was returned whole)", async () => {
    const url = `/admin/v1/accounts/${seed.account.id}/apps`;
    const secret = 'gateway_secret_masked_0123456789';
    const created = await post(url, { name: 'masked', webhook_url: 'https://shop.example/dial', webhook_secret: secret });
    assert.equal(created.statusCode, 201);
    assert.equal(created.json().app.webhook_secret, secret, 'the answer that sets it shows it');
    const appId = created.json().app.id as string;

    const listed = await t.app.inject({ method: 'GET', url, headers: admin });
    assert.equal(listed.statusCode, 200);
    assert.ok(!listed.body.includes(secret), `the listing holds the secret: ${listed.body}`);
    const mine = listed.json().apps.find((a: { id: string }) => a.id === appId);
    assert.equal(mine.webhook_secret, 'gate…6789');

    const kept = await t.app.inject({ method: 'PATCH', url: `${url}/${appId}`, headers: admin, payload: { caller_id_allow_list: [] } });
    assert.equal(kept.statusCode, 200);
    assert.ok(!kept.body.includes(secret), `an update that keeps the secret shows it: ${kept.body}`);

    const renewed = await t.app.inject({ method: 'PATCH', url: `${url}/${appId}`, headers: admin, payload: { webhook_secret: null } });
    assert.equal(renewed.statusCode, 200);
    const fresh = renewed.json().app.webhook_secret as string;
    assert.match(fresh, /^whsec_\w{32}$/, 'a new generated secret is shown in the answer that made it');
    const relisted = await t.app.inject({ method: 'GET', url, headers: admin });
    assert.ok(!relisted.body.includes(fresh));
  });

  const account = () => `/admin/v1/accounts/${seed.account.id}`;
  // `message`, where given, is the whole message: the field in the request's words, never the validator's path.
  const badInputs: Array<{ name: string; url: () => string; payload: unknown; field?: string; code?: string; message?: string }> = [
    { name: 'account without email', url: () => '/admin/v1/accounts', payload: { name: 'x' }, field: 'email' },
    { name: 'account with a bad email', url: () => '/admin/v1/accounts', payload: { name: 'x', email: 'nope' }, field: 'email' },
    { name: 'account with a numeric name', url: () => '/admin/v1/accounts', payload: { name: 5, email: 'a@b.c' }, field: 'name' },
    { name: 'account with an unknown field', url: () => '/admin/v1/accounts', payload: { name: 'x', email: 'a@b.c', admin: true }, field: 'admin', message: 'admin is not a field of this request' },
    { name: 'key without name', url: () => `${account()}/keys`, payload: {}, field: 'name', message: 'name is required' },
    { name: 'key with bad permission', url: () => `${account()}/keys`, payload: { name: 'k', permission: 'root' }, field: 'permission', message: 'permission must be one of full, read_only' },
    { name: 'key with bad expiry', url: () => `${account()}/keys`, payload: { name: 'k', expires_at: 'tomorrow' }, field: 'expires_at' },
    { name: 'key expiring in the past', url: () => `${account()}/keys`, payload: { name: 'k', expires_at: '2000-01-01T00:00:00Z' }, field: 'expires_at' },
    { name: 'number not a number', url: () => `${account()}/numbers`, payload: { number: 'abc', type: 'purchased' }, field: 'number', code: 'invalid_phone_number' },
    { name: 'number with bad type', url: () => `${account()}/numbers`, payload: { number: '+14155550123', type: 'rented' }, field: 'type' },
    { name: 'number with bad capability', url: () => `${account()}/numbers`, payload: { number: '+14155550123', type: 'ported', capabilities: ['fax'] }, field: 'capabilities.0' },
    { name: 'number already owned', url: () => `${account()}/numbers`, payload: { number: '+14155551234', type: 'purchased' }, field: 'number', code: 'conflict' },
    { name: 'app with a bad caller id', url: () => `${account()}/apps`, payload: { name: 'a', caller_id_allow_list: ['12'] }, field: 'caller_id_allow_list', code: 'invalid_phone_number' },
    { name: 'app with a short webhook secret (issue 21)', url: () => `${account()}/apps`, payload: { name: 'a', webhook_secret: 'short' }, field: 'webhook_secret', message: 'webhook_secret must be at least 16 characters' },
    { name: 'app with a bad webhook url', url: () => `${account()}/apps`, payload: { name: 'a', webhook_url: 'ftp://x' }, field: 'webhook_url' },
    { name: 'credits with three decimals', url: () => `${account()}/credits`, payload: { amount: '1.234' }, field: 'amount' },
    { name: 'credits negative', url: () => `${account()}/credits`, payload: { amount: -5 }, field: 'amount' },
    { name: 'credits as a bool', url: () => `${account()}/credits`, payload: { amount: true }, field: 'amount' },
  ];

  describe('bad input: a clear 400 (or 409) naming the field, and nothing written', () => {
    for (const c of badInputs) {
      test(c.name, async () => {
        const before = await rowCounts();
        const response = await post(c.url(), c.payload);
        const expectedStatus = c.code === 'conflict' ? 409 : 400;
        assert.equal(response.statusCode, expectedStatus, response.body);
        const error = response.json().error;
        if (c.code) assert.equal(error.code, c.code);
        assert.equal(typeof error.message, 'string');
        assert.doesNotMatch(error.message, /^(body|querystring|params|headers)\/|must NOT|must have required|must match/, 'no validator wording');
        if (c.message) assert.equal(error.message, c.message);
        if (c.field) assert.equal(error.details?.field, c.field, response.body);
        assert.deepEqual(await rowCounts(), before);
      });
    }
  });

  test('issue 21: a trailing slash on a list route gives the list (calls: dialanyone/call-list)', async () => {
    const bearer = { authorization: `Bearer ${seed.token}` };
    for (const [url, headers, key] of [
      ['/api/v1/sms/', bearer, 'messages'],
      ['/dialplane/v1/applications/', bearer, 'applications'],
      ['/admin/v1/accounts/', admin, 'accounts'],
    ] as const) {
      const withSlash = await t.app.inject({ method: 'GET', url, headers });
      const without = await t.app.inject({ method: 'GET', url: url.slice(0, -1), headers });
      assert.equal(withSlash.statusCode, 200, `${url}: ${withSlash.body}`);
      assert.ok(key in withSlash.json(), `${url} answers the list: ${withSlash.body}`);
      assert.deepEqual(withSlash.json(), without.json());
    }
  });

  test('malformed JSON, empty JSON body, wrong content type and oversized bodies', async () => {
    const before = await rowCounts();
    const malformed = await t.app.inject({
      method: 'POST',
      url: '/admin/v1/accounts',
      headers: { ...admin, 'content-type': 'application/json' },
      payload: '{"name": "x",',
    });
    assert.equal(malformed.statusCode, 400);
    assert.equal(malformed.json().error.code, 'invalid_json');
    const empty = await t.app.inject({
      method: 'POST',
      url: '/admin/v1/accounts',
      headers: { ...admin, 'content-type': 'application/json' },
      payload: '',
    });
    assert.equal(empty.statusCode, 400);
    const text = await t.app.inject({
      method: 'POST',
      url: '/admin/v1/accounts',
      headers: { ...admin, 'content-type': 'text/xml' },
      payload: '<a/>',
    });
    assert.equal(text.statusCode, 415);
    const big = await post('/admin/v1/accounts', { name: 'x'.repeat(10_000), email: 'a@b.c' });
    assert.equal(big.statusCode, 413);
    assert.equal(big.json().error.code, 'payload_too_large');
    assert.deepEqual(await rowCounts(), before);
  });

  test("an unknown account, or another account's key, is 404", async () => {
    const unknown = await post('/admin/v1/accounts/acct_missing/keys', { name: 'k' });
    assert.equal(unknown.statusCode, 404);
    const other = await t.services.accounts.create({ name: 'Other', email: 'o@example.com' });
    const revoke = await post(`/admin/v1/accounts/${other.account.id}/keys/${seed.key.id}/revoke`, undefined);
    assert.equal(revoke.statusCode, 404);
    assert.equal((await t.services.keys.get(seed.account.id, seed.key.id)).enabled, true);
  });

  test('operations routes: health, readiness, metrics, OpenAPI and its rendering', async () => {
    const health = await t.app.inject({ method: 'GET', url: '/healthz' });
    assert.deepEqual(health.json(), { status: 'ok', service: 'dialplane' });
    assert.equal((await t.app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);
    await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: { authorization: `Bearer ${seed.token}` } });
    const metrics = await t.app.inject({ method: 'GET', url: '/metrics' });
    assert.match(metrics.body, /dialplane_http_requests_total\{method="GET",route="\/api\/v1\/me",status="200"\} \d+/);
    const openapi = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    assert.equal(openapi.openapi, '3.0.3');
    assert.ok(openapi.paths['/api/v1/me'].get);
    assert.ok(openapi.paths['/admin/v1/accounts/{accountId}/keys'].post.requestBody);
    assert.equal(openapi.paths['/healthz'], undefined, 'operations routes stay out of the API document');
    const docs = await t.app.inject({ method: 'GET', url: '/docs/' });
    assert.equal(docs.statusCode, 200);
    assert.match(docs.body, /swagger/i);
  });
});
