import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { applicationOwner } from '../../../src/core/applications.js';
import { createHookRequester } from '../../../src/webhooks/hook-request.js';
import { verifyTimestamped } from '../../../src/webhooks/signer.js';
import { ADMIN_TOKEN, createTestApp, seedAccount, type TestApp } from '../../helpers/app.js';
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

  const call = (method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, payload?: unknown, key = token) =>
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
    assert.ok(openapi.paths['/dialplane/v1/applications/{id}'].patch.requestBody);
    assert.deepEqual(openapi.paths['/dialplane/v1/applications/{id}'].patch.security, [{ bearer: [] }, { apiKeyHeader: [] }]);
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
  test('PATCH …/applications/{id}: only what is given changes; the secret stays unless rotated', async () => {
    const created = (
      await call('POST', '/dialplane/v1/applications', { name: 'Editable', call_hook: 'https://app.example/call', status_hook: 'https://app.example/status' })
    ).json();
    const renamed = await call('PATCH', `/dialplane/v1/applications/${created.id}`, { name: 'Edited' });
    assert.equal(renamed.statusCode, 200, renamed.body);
    assert.deepEqual(renamed.json(), {
      id: created.id,
      name: 'Edited',
      call_hook: 'https://app.example/call',
      status_hook: 'https://app.example/status',
      program: null,
      created_at: created.created_at,
    });
    assert.equal(renamed.json().hook_secret, undefined, 'no secret unless one is asked for');
    assert.deepEqual((await call('GET', `/dialplane/v1/applications/${created.id}`)).json(), renamed.json());

    const rotated = await call('PATCH', `/dialplane/v1/applications/${created.id}`, { rotate_hook_secret: true });
    assert.equal(rotated.statusCode, 200, rotated.body);
    assert.match(rotated.json().hook_secret, /^whsec_/);
    assert.notEqual(rotated.json().hook_secret, created.hook_secret);
    const [endpoint] = await t.services.store.webhooks.listEndpoints(accountId, applicationOwner(created.id));
    assert.equal(endpoint?.secret, rotated.json().hook_secret, 'the status hook is signed with the new secret');
    assert.ok(!(await call('GET', `/dialplane/v1/applications/${created.id}`)).body.includes(rotated.json().hook_secret));

    const unhooked = await call('PATCH', `/dialplane/v1/applications/${created.id}`, { status_hook: null });
    assert.equal(unhooked.json().status_hook, null);
    assert.deepEqual(await t.services.webhooks.listEndpoints(accountId, applicationOwner(created.id)), []);
  });

  test('PATCH switches a hook application to a program and back', async () => {
    const created = (await call('POST', '/dialplane/v1/applications', { name: 'Switch', call_hook: 'https://app.example/call' })).json();
    const toProgram = await call('PATCH', `/dialplane/v1/applications/${created.id}`, { program: PROGRAM });
    assert.equal(toProgram.statusCode, 200, toProgram.body);
    assert.deepEqual([toProgram.json().call_hook, toProgram.json().program], [null, PROGRAM]);
    const toHook = await call('PATCH', `/dialplane/v1/applications/${created.id}`, { call_hook: 'https://app.example/v2' });
    assert.equal(toHook.statusCode, 200, toHook.body);
    assert.deepEqual([toHook.json().call_hook, toHook.json().program, toHook.json().name], ['https://app.example/v2', null, 'Switch']);
  });

  test('PATCH: bad input is 400 naming the field (a program at its verb and field), and nothing is written', async () => {
    const created = (await call('POST', '/dialplane/v1/applications', { name: 'Guarded', program: PROGRAM })).json();
    const cases: Array<[unknown, string, string | undefined]> = [
      [{}, 'validation_failed', undefined],
      [{ name: '' }, 'validation_failed', 'name'],
      [{ name: '   ' }, 'validation_failed', 'name'],
      [{ colour: 'red' }, 'validation_failed', 'colour'],
      [{ call_hook: 'https://a.example/', program: PROGRAM }, 'validation_failed', 'program'],
      [{ call_hook: null }, 'validation_failed', 'call_hook'],
      [{ call_hook: 'gopher://a.example/' }, 'invalid_webhook_url', 'call_hook'],
      [{ call_hook: 'http://user:pw@a.example/' }, 'invalid_webhook_url', 'call_hook'],
      [{ status_hook: 'not a url' }, 'invalid_webhook_url', 'status_hook'],
      [{ program: 'say hello' }, 'validation_failed', 'program'],
      [{ program: [] }, 'invalid_program', 'program'],
      [{ rotate_hook_secret: 'yes' }, 'validation_failed', 'rotate_hook_secret'],
    ];
    for (const [payload, code, field] of cases) {
      const response = await call('PATCH', `/dialplane/v1/applications/${created.id}`, payload);
      assert.equal(response.statusCode, 400, `${JSON.stringify(payload)}: ${response.body}`);
      assert.equal(response.json().error.code, code, `${JSON.stringify(payload)}: ${response.body}`);
      assert.equal(response.json().error.details?.field, field, `${JSON.stringify(payload)}: ${response.body}`);
    }
    const badVerb = await call('PATCH', `/dialplane/v1/applications/${created.id}`, {
      program: [{ verb: 'say', text: 'Hi' }, { verb: 'gather', numDigits: 99 }],
    });
    assert.equal(badVerb.statusCode, 400);
    assert.equal(badVerb.json().error.code, 'invalid_program');
    assert.deepEqual(
      [badVerb.json().error.details.field, badVerb.json().error.details.index, badVerb.json().error.details.verb_field],
      ['program', 1, 'numDigits'],
    );
    assert.match(badVerb.json().error.message, /verb 1/);
    const notJson = await t.app.inject({
      method: 'PATCH',
      url: `/dialplane/v1/applications/${created.id}`,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      payload: '{"name":',
    });
    assert.equal(notJson.statusCode, 400);
    assert.equal(notJson.json().error.code, 'invalid_json');
    const { hook_secret: _secret, ...view } = created;
    assert.deepEqual((await call('GET', `/dialplane/v1/applications/${created.id}`)).json(), view, 'nothing written');
  });

  test("PATCH: another account's application is 404, a read-only key is 403; nothing changes", async () => {
    const mine = (await call('POST', '/dialplane/v1/applications', { name: 'Mine to edit', program: PROGRAM })).json();
    const cross = await call('PATCH', `/dialplane/v1/applications/${mine.id}`, { name: 'Theirs now' }, otherToken);
    assert.equal(cross.statusCode, 404, cross.body);
    assert.equal(cross.json().error.code, 'not_found');
    assert.equal(cross.json().error.details.field, 'application_id');
    const missing = await call('PATCH', '/dialplane/v1/applications/app_nope', { name: 'Nobody' });
    assert.equal(missing.statusCode, 404);
    const readOnly = await call('PATCH', `/dialplane/v1/applications/${mine.id}`, { name: 'Read only' }, readOnlyToken);
    assert.equal(readOnly.statusCode, 403, readOnly.body);
    assert.equal(readOnly.json().error.code, 'read_only_key');
    assert.equal((await call('GET', `/dialplane/v1/applications/${mine.id}`)).json().name, 'Mine to edit');
  });

  test('PATCH on the admin API changes an application of the account named in the path', async () => {
    const created = (await call('POST', '/dialplane/v1/applications', { name: 'Admin edit', program: PROGRAM })).json();
    const admin = (method: 'PATCH', url: string, payload: unknown) =>
      t.app.inject({ method, url, headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, payload: payload as object });
    const changed = await admin('PATCH', `/admin/v1/accounts/${accountId}/applications/${created.id}`, { call_hook: 'https://app.example/admin' });
    assert.equal(changed.statusCode, 200, changed.body);
    assert.deepEqual([changed.json().application.call_hook, changed.json().application.program], ['https://app.example/admin', null]);
    const other = (await t.services.accounts.list()).find((a) => a.id !== accountId)!;
    const cross = await admin('PATCH', `/admin/v1/accounts/${other.id}/applications/${created.id}`, { name: 'x' });
    assert.equal(cross.statusCode, 404);
  });
});
