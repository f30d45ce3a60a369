import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ADMIN_TOKEN, createTestApp, seedAccount, type TestApp } from '../helpers/app.js';
import { describeEachDialect } from '../helpers/databases.js';

/**
 * Found by test/reliability/route-fuzz.test.ts. A path the router refused before choosing a route (bad
 * percent-encoding, a parameter past 100 characters) was answered in Fastify's own body
 * ({"error":"Bad Request","code":"FST_ERR_BAD_URL",...}, status 414 for the long one) whatever the face; and a NUL
 * character in a path parameter, query or body reached PostgreSQL, which refuses it in text: a 500.
 */
const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

await describeEachDialect('router refusals and NUL characters', (dialect) => {
  let t: TestApp;
  let accountId: string;
  let key: string;

  before(async () => {
    t = await createTestApp(dialect);
    const seeded = await seedAccount(t.services);
    accountId = seeded.account.id;
    key = seeded.token;
  });
  after(() => t.close());

  test('bad percent-encoding in a path was answered in Fastify\'s shape: now 400 bad_request in each face\'s own', async () => {
    const cases: Array<[string, Record<string, string>, unknown]> = [
      ['/admin/v1/accounts/%zz/keys', admin, { error: { code: 'bad_request', message: 'The path is not valid percent-encoded UTF-8' } }],
      ['/api/v1/sms/%ED%A0%80', { authorization: `Bearer ${key}` }, { error: { code: 'bad_request', message: 'The path is not valid percent-encoded UTF-8' } }],
      ['/api/v1/dial/%C0%AF', {}, { error: 'bad_request', message: 'The path is not valid percent-encoded UTF-8' }],
      ['/v1/phone-system/contacts/%', { 'x-api-key': key }, { status: 400, code: 'bad_request', description: 'The path is not valid percent-encoded UTF-8' }],
      ['/dialer/%zz', {}, { message: 'The path is not valid percent-encoded UTF-8' }],
    ];
    for (const [url, headers, body] of cases) {
      const response = await t.app.inject({ method: 'GET', url, headers });
      assert.equal(response.statusCode, 400, url);
      assert.match(String(response.headers['content-type']), /^application\/json/, url);
      assert.deepEqual(response.json(), body, url);
    }
  });

  test('a path parameter past the router\'s 100 characters was a 414 in Fastify\'s shape: now 400 validation_failed', async () => {
    const long = '9'.repeat(101);
    const standard = await t.app.inject({ method: 'GET', url: `/admin/v1/accounts/${long}/keys`, headers: admin });
    assert.equal(standard.statusCode, 400);
    assert.deepEqual(standard.json(), {
      error: { code: 'validation_failed', message: 'A path parameter is longer than 100 characters', details: { location: 'params' } },
    });
    assert.ok(!standard.body.includes(long), 'the path is not echoed');
    const dialLink = await t.app.inject({ method: 'GET', url: `/v1/phone-system/contacts/${long}`, headers: { 'x-api-key': key } });
    assert.equal(dialLink.statusCode, 400);
    assert.deepEqual(dialLink.json(), {
      status: 400,
      code: 'validation_failed',
      description: 'A path parameter is longer than 100 characters',
      details: { location: 'params' },
    });
  });

  test('a NUL character in a path parameter, query or body was a 500 on PostgreSQL: now 400 naming the field, nothing written', async () => {
    const param = await t.app.inject({ method: 'GET', url: '/admin/v1/accounts/%00/keys', headers: admin });
    assert.equal(param.statusCode, 400, param.body);
    assert.deepEqual(param.json().error.details, { location: 'params', field: 'accountId' });

    const query = await t.app.inject({ method: 'GET', url: '/api/v1/sms?before=msg_%00', headers: { authorization: `Bearer ${key}` } });
    assert.equal(query.statusCode, 400, query.body);
    assert.deepEqual(query.json().error.details, { location: 'querystring', field: 'before' });

    const accountsBefore = (await t.services.accounts.list()).length;
    const body = await t.app.inject({
      method: 'POST',
      url: '/admin/v1/accounts',
      headers: { ...admin, 'content-type': 'application/json' },
      payload: JSON.stringify({ name: 'Nul\u0000Corp', email: 'nul@example.com' }),
    });
    assert.equal(body.statusCode, 400, body.body);
    assert.deepEqual(body.json().error, {
      code: 'validation_failed',
      message: 'name must not contain a NUL character',
      details: { location: 'body', field: 'name' },
    });
    assert.equal((await t.services.accounts.list()).length, accountsBefore, 'no account was created');

    const nested = await t.app.inject({
      method: 'POST',
      url: `/v1/phone-system/contacts`,
      headers: { 'x-api-key': key, 'content-type': 'application/json' },
      payload: JSON.stringify({ firstName: 'Ada', phoneNumbers: [{ type: 'MOBILE', phoneNumber: '+1415\u00005550100' }] }),
    });
    assert.equal(nested.statusCode, 400, nested.body);
    assert.deepEqual(nested.json(), {
      status: 400,
      code: 'validation_failed',
      description: 'phoneNumbers.0.phoneNumber must not contain a NUL character',
      details: { location: 'body', field: 'phoneNumbers.0.phoneNumber' },
    });
  });

  test('the NUL check walks a body nested as deep as the body limit allows, in linear time', async () => {
    const depth = 30_000;
    const started = Date.now();
    const response = await t.app.inject({
      method: 'POST',
      url: `/admin/v1/accounts/${accountId}/credits`,
      headers: { ...admin, 'content-type': 'application/json' },
      payload: `${'['.repeat(depth)}"\\u0000"${']'.repeat(depth)}`,
    });
    assert.equal(response.statusCode, 400, response.body);
    assert.equal(response.json().error.code, 'validation_failed');
    assert.ok(Date.now() - started < 2_000, `answered in ${Date.now() - started} ms`);
  });
});
