import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { applicationOwner } from '../../../src/core/applications.js';
import { createHookRequester } from '../../../src/webhooks/hook-request.js';
import { verifyTimestamped } from '../../../src/webhooks/signer.js';
import { createTestApp, seedAccount, type TestApp } from '../../helpers/app.js';
import { describeEachDialect } from '../../helpers/databases.js';
import { startReceiver } from '../../helpers/webhook-receiver.js';

const PLUS = encodeURIComponent('+14155551234');
const PROGRAM = [{ verb: 'say', text: 'Thanks for calling.' }, { verb: 'hangup' }];

await describeEachDialect('Dialplane API: applications and number routes', (dialect) => {
  let t: TestApp;
  let accountId: string;
  let token: string;
  let otherToken: string;
  let readOnlyToken: string;

  before(async () => {
    t = await createTestApp(dialect);
    const seeded = await seedAccount(t.services);
    accountId = seeded.account.id;
    token = seeded.token;
    readOnlyToken = (await t.services.keys.create(accountId, { name: 'ro', permission: 'read_only' })).token;
    const other = (await t.services.accounts.create({ name: 'Other', email: 'other@example.com' })).account.id;
    await t.services.numbers.add(other, { number: '+14155559999', type: 'purchased' });
    otherToken = (await t.services.keys.create(other, { name: 'other' })).token;
  });
  after(async () => t.close());

  const call = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: unknown, key = token) =>
    t.app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${key}` },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
  const count = async () => (await t.services.applications.list(accountId)).length;

  test('an API key is required, as a Bearer token or in X-API-Key; read-only keys cannot write', async () => {
    const none = await t.app.inject({ method: 'GET', url: '/dialplane/v1/applications' });
    assert.equal(none.statusCode, 401);
    assert.equal(none.json().error.code, 'missing_credentials');
    const bad = await call('GET', '/dialplane/v1/applications', undefined, 'dk_live_nope');
    assert.equal(bad.statusCode, 401);
    const bearer = await call('GET', '/dialplane/v1/applications');
    assert.equal(bearer.statusCode, 200);
    assert.ok(bearer.headers['x-ratelimit-limit'], 'rate-limited per key');
    const header = await t.app.inject({ method: 'GET', url: '/dialplane/v1/applications', headers: { 'x-api-key': token } });
    assert.equal(header.statusCode, 200);
    const readOnly = await call('POST', '/dialplane/v1/applications', { name: 'x', program: PROGRAM }, readOnlyToken);
    assert.equal(readOnly.statusCode, 403);
    assert.equal(readOnly.json().error.code, 'read_only_key');
    assert.equal((await call('GET', '/dialplane/v1/applications', undefined, readOnlyToken)).statusCode, 200);
    const unknown = await call('GET', '/dialplane/v1/nothing-here');
    assert.equal(unknown.statusCode, 404);
    assert.equal(unknown.json().error.code, 'route_not_found');
  });

  test('the routes are in the OpenAPI document', async () => {
    const openapi = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    assert.ok(openapi.paths['/dialplane/v1/applications'].post.requestBody);
    assert.ok(openapi.paths['/dialplane/v1/applications'].get);
    assert.ok(openapi.paths['/dialplane/v1/applications/{id}'].get);
    assert.ok(openapi.paths['/dialplane/v1/applications/{id}'].delete);
    assert.ok(openapi.paths['/dialplane/v1/numbers/{number}/route'].put.requestBody);
    assert.deepEqual(openapi.paths['/dialplane/v1/applications'].post.security, [{ bearer: [] }, { apiKeyHeader: [] }]);
  });

  test('a hook application: 201 with its secret once; GET and the list never show it', async () => {
    const created = await call('POST', '/dialplane/v1/applications', {
      name: 'Receptionist',
      call_hook: 'https://app.example/call',
      status_hook: 'https://app.example/status',
    });
    assert.equal(created.statusCode, 201, created.body);
    const body = created.json();
    assert.match(body.id, /^app_/);
    assert.match(body.hook_secret, /^whsec_/);
    assert.deepEqual(
      { ...body, id: undefined, created_at: undefined, hook_secret: undefined },
      {
        id: undefined,
        name: 'Receptionist',
        call_hook: 'https://app.example/call',
        status_hook: 'https://app.example/status',
        program: null,
        created_at: undefined,
        hook_secret: undefined,
      },
    );
    const shown = await call('GET', `/dialplane/v1/applications/${body.id}`);
    assert.equal(shown.statusCode, 200);
    assert.equal(shown.json().hook_secret, undefined);
    assert.ok(!shown.body.includes(body.hook_secret));
    const listed = await call('GET', '/dialplane/v1/applications');
    assert.ok(listed.json().applications.some((a: { id: string }) => a.id === body.id));
    assert.ok(!listed.body.includes(body.hook_secret));
  });

  test('a program application keeps its program', async () => {
    const created = await call('POST', '/dialplane/v1/applications', { name: 'IVR', program: PROGRAM });
    assert.equal(created.statusCode, 201, created.body);
    assert.deepEqual(created.json().program, PROGRAM);
    assert.deepEqual((await call('GET', `/dialplane/v1/applications/${created.json().id}`)).json().program, PROGRAM);
  });

  test('bad input is 400 naming the field, and nothing is written', async () => {
    const before = await count();
    const cases: Array<[unknown, string]> = [
      [{ call_hook: 'https://a.example/' }, 'name'],
      [{ name: '', call_hook: 'https://a.example/' }, 'name'],
      [{ name: '   ', call_hook: 'https://a.example/' }, 'name'],
      [{ name: 'x', call_hook: 'https://a.example/', colour: 'red' }, 'colour'],
      [{ name: 'x' }, 'call_hook'],
      [{ name: 'x', call_hook: 'https://a.example/', program: PROGRAM }, 'program'],
      [{ name: 'x', call_hook: 'gopher://a.example/' }, 'call_hook'],
      [{ name: 'x', call_hook: 42 }, 'call_hook'],
      [{ name: 'x', call_hook: 'https://a.example/', status_hook: 'not a url' }, 'status_hook'],
      [{ name: 'x', program: 'say hello' }, 'program'],
      [{ name: 'x', program: [] }, 'program'],
      [{ name: 'x', program: [{ text: 'no verb' }] }, 'program'],
    ];
    for (const [payload, field] of cases) {
      const response = await call('POST', '/dialplane/v1/applications', payload);
      assert.equal(response.statusCode, 400, `${JSON.stringify(payload)}: ${response.body}`);
      assert.equal(response.json().error.details.field, field, `${JSON.stringify(payload)}: ${response.body}`);
    }
    const notJson = await t.app.inject({
      method: 'POST',
      url: '/dialplane/v1/applications',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      payload: '{"name":',
    });
    assert.equal(notJson.statusCode, 400);
    assert.equal(notJson.json().error.code, 'invalid_json');
    assert.equal(await count(), before);
  });

  test("another account's application is 404, and cannot be routed to", async () => {
    const mine = (await call('POST', '/dialplane/v1/applications', { name: 'Mine', program: PROGRAM })).json();
    for (const method of ['GET', 'DELETE'] as const) {
      const response = await call(method, `/dialplane/v1/applications/${mine.id}`, undefined, otherToken);
      assert.equal(response.statusCode, 404, `${method}: ${response.body}`);
      assert.equal(response.json().error.code, 'not_found');
    }
    assert.ok(!(await call('GET', '/dialplane/v1/applications', undefined, otherToken)).body.includes(mine.id));
    const crossRoute = await call('PUT', `/dialplane/v1/numbers/${encodeURIComponent('+14155559999')}/route`, { application_id: mine.id }, otherToken);
    assert.equal(crossRoute.statusCode, 404);
    assert.equal(crossRoute.json().error.details.field, 'application_id');
    const notTheirNumber = await call('PUT', `/dialplane/v1/numbers/${PLUS}/route`, { none: true }, otherToken);
    assert.equal(notTheirNumber.statusCode, 404);
    assert.equal((await call('GET', `/dialplane/v1/applications/${mine.id}`)).statusCode, 200, 'still there');
  });

  test('PUT …/numbers/{number}/route: exactly one of application_id, extension_id, forward_to, answer, none', async () => {
    const application = (await call('POST', '/dialplane/v1/applications', { name: 'Front door', program: PROGRAM })).json();
    const routed = await call('PUT', `/dialplane/v1/numbers/${PLUS}/route`, { application_id: application.id });
    assert.equal(routed.statusCode, 200, routed.body);
    assert.deepEqual(routed.json(), {
      number: '+14155551234',
      number_id: routed.json().number_id,
      application_id: application.id,
      extension_id: null,
      forward_to: null,
      rings: 'application',
    });
    assert.equal((await t.services.extensions.routeOf('+14155551234'))?.applicationId, application.id);

    for (const [payload, field] of [
      [{ application_id: application.id, answer: true }, 'answer'],
      [{ forward_to: '+442079460000', none: true }, 'none'],
      [{}, undefined],
      [{ answer: false }, 'answer'],
      [{ ring: 'all' }, 'ring'],
    ] as const) {
      const response = await call('PUT', `/dialplane/v1/numbers/${PLUS}/route`, payload);
      assert.equal(response.statusCode, 400, `${JSON.stringify(payload)}: ${response.body}`);
      assert.equal(response.json().error.details.field, field, JSON.stringify(payload));
    }
    assert.equal((await t.services.extensions.routeOf('+14155551234'))?.applicationId, application.id, 'unchanged');

    // A routed application cannot be deleted: 409 naming the numbers, until the number routes elsewhere.
    const refused = await call('DELETE', `/dialplane/v1/applications/${application.id}`);
    assert.equal(refused.statusCode, 409);
    assert.equal(refused.json().error.code, 'conflict');
    assert.deepEqual(refused.json().error.details.numbers, ['+14155551234']);

    const forward = await call('PUT', `/dialplane/v1/numbers/${PLUS}/route`, { forward_to: '+442079460000' });
    assert.deepEqual([forward.json().rings, forward.json().forward_to, forward.json().application_id], ['forward', '+442079460000', null]);
    const answer = await call('PUT', `/dialplane/v1/numbers/${PLUS}/route`, { answer: true });
    assert.equal(answer.json().rings, 'answer');
    const extension = await t.services.extensions.create(accountId, { name: 'Desk' });
    const toExtension = await call('PUT', `/dialplane/v1/numbers/${PLUS}/route`, { extension_id: extension.id });
    assert.equal(toExtension.json().rings, 'extension');
    const none = await call('PUT', `/dialplane/v1/numbers/${PLUS}/route`, { none: true });
    assert.equal(none.json().rings, 'none');

    const deleted = await call('DELETE', `/dialplane/v1/applications/${application.id}`);
    assert.equal(deleted.statusCode, 204);
    assert.equal((await call('GET', `/dialplane/v1/applications/${application.id}`)).statusCode, 404);
    assert.equal((await call('PUT', `/dialplane/v1/numbers/${PLUS}/route`, { application_id: application.id })).statusCode, 404);
    assert.equal((await call('PUT', `/dialplane/v1/numbers/${encodeURIComponent('+19995550000')}/route`, { none: true })).statusCode, 404);
  });

  test("the application's hooks are signed with the secret shown at creation; its status endpoint goes with it", async () => {
    const receiver = await startReceiver(() => ({ status: 200, body: JSON.stringify(PROGRAM) }));
    try {
      t.services.applications.attach({ request: createHookRequester({ allowPrivate: true, timeoutMs: 2_000 }) });
      const created = (
        await call('POST', '/dialplane/v1/applications', { name: 'Signed', call_hook: receiver.url, status_hook: `${receiver.url}/status` })
      ).json();
      const answer = await t.services.applications.hook(accountId, created.id, { call_id: 'call_x', state: 'ringing' });
      assert.deepEqual(answer.body, PROGRAM);
      const request = receiver.requests[0]!;
      const verdict = verifyTimestamped(request.body, request.headers['x-dialplane-signature'] as string, [created.hook_secret], {
        nowSeconds: Math.floor(Date.now() / 1000),
      });
      assert.deepEqual(verdict, { ok: true });
      // Another account's key cannot reach the hook through its application id either.
      await assert.rejects(t.services.applications.hook('acct_other', created.id, {}), { code: 'not_found' });

      assert.equal((await t.services.webhooks.listEndpoints(accountId, applicationOwner(created.id))).length, 1);
      assert.equal((await call('DELETE', `/dialplane/v1/applications/${created.id}`)).statusCode, 204);
      assert.deepEqual(await t.services.webhooks.listEndpoints(accountId, applicationOwner(created.id)), []);
    } finally {
      await receiver.close();
    }
  });
});
