import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ADMIN_TOKEN, createTestApp, seedAccount, type TestApp } from '../../helpers/app.js';
import { describeEachDialect } from '../../helpers/databases.js';

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
const PLUS = encodeURIComponent('+14155551234');

await describeEachDialect('admin API: extensions, devices and number routes', (dialect) => {
  let t: TestApp;
  let accountId: string;
  let otherId: string;

  before(async () => {
    t = await createTestApp(dialect);
    accountId = (await seedAccount(t.services)).account.id;
    otherId = (await t.services.accounts.create({ name: 'Other', email: 'other@example.com' })).account.id;
    await t.services.numbers.add(otherId, { number: '+14155559999', type: 'purchased' });
  });
  after(async () => t.close());

  const call = (method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, payload?: unknown) =>
    t.app.inject({ method, url, headers: admin, ...(payload === undefined ? {} : { payload: payload as object }) });
  const base = (id = accountId) => `/admin/v1/accounts/${id}`;

  test('the admin token is required', async () => {
    const response = await t.app.inject({ method: 'GET', url: `${base()}/extensions` });
    assert.equal(response.statusCode, 401);
    assert.equal(response.json().error.code, 'admin_unauthorized');
  });

  test('the routes are in the OpenAPI document', async () => {
    const openapi = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    assert.ok(openapi.paths['/admin/v1/accounts/{accountId}/numbers/{number}/route'].put.requestBody);
    assert.ok(openapi.paths['/admin/v1/accounts/{accountId}/extensions/{extensionId}/devices'].post);
  });

  test('an extension is created, listed and shown with its devices; bad bodies are 400 naming the field', async () => {
    const created = await call('POST', `${base()}/extensions`, { name: 'Front desk' });
    assert.equal(created.statusCode, 201);
    const extension = created.json().extension;
    assert.match(extension.id, /^ext_/);
    assert.equal(extension.name, 'Front desk');
    const listed = await call('GET', `${base()}/extensions`);
    assert.ok(listed.json().extensions.some((e: { id: string }) => e.id === extension.id));
    const shown = await call('GET', `${base()}/extensions/${extension.id}`);
    assert.deepEqual(shown.json(), { extension, devices: [] });

    const missing = await call('POST', `${base()}/extensions`, {});
    assert.equal(missing.statusCode, 400);
    assert.equal(missing.json().error.details.field, 'name');
    const extra = await call('POST', `${base()}/extensions`, { name: 'x', colour: 'red' });
    assert.equal(extra.statusCode, 400);
    const blank = await call('POST', `${base()}/extensions`, { name: '   ' });
    assert.equal(blank.statusCode, 400);
    assert.equal(blank.json().error.details.field, 'name');
  });

  test("another account's extension is 404 everywhere; an unknown account is 404", async () => {
    const extension = (await call('POST', `${base()}/extensions`, { name: 'Private' })).json().extension;
    for (const [method, url, body] of [
      ['GET', `${base(otherId)}/extensions/${extension.id}`, undefined],
      ['DELETE', `${base(otherId)}/extensions/${extension.id}`, undefined],
      ['POST', `${base(otherId)}/extensions/${extension.id}/devices`, {}],
      ['GET', `${base(otherId)}/devices?extension_id=${extension.id}`, undefined],
      ['PUT', `${base(otherId)}/numbers/${encodeURIComponent('+14155559999')}/route`, { extension_id: extension.id }],
    ] as const) {
      const response = await call(method, url, body);
      assert.equal(response.statusCode, 404, `${method} ${url}: ${response.body}`);
      assert.equal(response.json().error.code, 'not_found');
    }
    assert.equal((await call('GET', `${base('acct_nobody')}/extensions`)).statusCode, 404);
    const otherList = await call('GET', `${base(otherId)}/extensions`);
    assert.deepEqual(otherList.json().extensions, []);
  });

  test('a device is added with its password shown once; listings never show it or the HA1', async () => {
    const extension = (await call('POST', `${base()}/extensions`, { name: 'Phones' })).json().extension;
    const added = await call('POST', `${base()}/extensions/${extension.id}/devices`, { username: 'lobby-phone' });
    assert.equal(added.statusCode, 201);
    const body = added.json();
    assert.equal(body.username, 'lobby-phone');
    assert.equal(body.realm, 'dialplane');
    assert.match(body.password, /^[0-9A-Za-z]{24,}$/);
    assert.deepEqual(Object.keys(body.device).sort(), ['created_at', 'extension_id', 'id', 'realm', 'username']);
    const generated = (await call('POST', `${base()}/extensions/${extension.id}/devices`, {})).json();
    assert.match(generated.username, /^[a-z0-9_.-]{3,64}$/);

    const ha1 = (await t.services.extensions.credentialsFor('lobby-phone'))?.ha1;
    assert.ok(ha1);
    for (const url of [`${base()}/devices`, `${base()}/devices?extension_id=${extension.id}`, `${base()}/extensions/${extension.id}`]) {
      const listed = await call('GET', url);
      assert.equal(listed.statusCode, 200);
      assert.ok(!listed.body.includes(body.password) && !listed.body.includes(ha1), url);
    }
    const forExtension = (await call('GET', `${base()}/devices?extension_id=${extension.id}`)).json().devices;
    assert.deepEqual(forExtension.map((d: { username: string }) => d.username).sort(), ['lobby-phone', generated.username].sort());

    const taken = await call('POST', `${base()}/extensions/${extension.id}/devices`, { username: 'lobby-phone' });
    assert.equal(taken.statusCode, 409);
    assert.equal(taken.json().error.details.field, 'username');
    const bad = await call('POST', `${base()}/extensions/${extension.id}/devices`, { username: 'Lobby Phone' });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().error.details.field, 'username');

    assert.equal((await call('DELETE', `${base(otherId)}/devices/${body.device.id}`)).statusCode, 404);
    const deleted = await call('DELETE', `${base()}/devices/${body.device.id}`);
    assert.equal(deleted.statusCode, 200);
    assert.equal(deleted.json().device.id, body.device.id);
    assert.equal((await call('DELETE', `${base()}/devices/${body.device.id}`)).statusCode, 404);
  });

  test('PUT …/numbers/%2B…/route: an extension, a forward number, or {} for nothing; GET reads it back', async () => {
    const extension = (await call('POST', `${base()}/extensions`, { name: 'Routed' })).json().extension;
    const toExtension = await call('PUT', `${base()}/numbers/${PLUS}/route`, { extension_id: extension.id });
    assert.equal(toExtension.statusCode, 200, toExtension.body);
    assert.deepEqual(toExtension.json().route, {
      number: '+14155551234',
      number_id: toExtension.json().route.number_id,
      extension_id: extension.id,
      forward_to: null,
      application_id: null,
      rings: 'extension',
    });
    assert.equal((await call('GET', `${base()}/numbers/${PLUS}/route`)).json().route.rings, 'extension');
    assert.deepEqual((await call('GET', `${base()}/routes`)).json().routes.map((r: { number: string }) => r.number), ['+14155551234']);

    const forward = await call('PUT', `${base()}/numbers/${PLUS}/route`, { forward_to: '+442079460000' });
    assert.equal(forward.json().route.rings, 'forward');
    assert.equal(forward.json().route.forward_to, '+442079460000');
    const none = await call('PUT', `${base()}/numbers/${PLUS}/route`, {});
    assert.equal(none.json().route.rings, 'none');
    assert.deepEqual((await call('GET', `${base()}/routes`)).json().routes, []);

    const both = await call('PUT', `${base()}/numbers/${PLUS}/route`, { extension_id: extension.id, forward_to: '+442079460000' });
    assert.equal(both.statusCode, 400);
    assert.equal(both.json().error.details.field, 'forward_to');
    const badForward = await call('PUT', `${base()}/numbers/${PLUS}/route`, { forward_to: 'call me' });
    assert.equal(badForward.statusCode, 400);
    assert.equal(badForward.json().error.details.field, 'forward_to');
    const extra = await call('PUT', `${base()}/numbers/${PLUS}/route`, { device_id: 'dev_x' });
    assert.equal(extra.statusCode, 400);
    const badNumber = await call('PUT', `${base()}/numbers/not-a-number/route`, {});
    assert.equal(badNumber.statusCode, 400);
    assert.equal(badNumber.json().error.details.field, 'number');
    const unknownExtension = await call('PUT', `${base()}/numbers/${PLUS}/route`, { extension_id: 'ext_missing' });
    assert.equal(unknownExtension.statusCode, 404);
    assert.equal(unknownExtension.json().error.details.field, 'extension_id');
    const notMine = await call('PUT', `${base()}/numbers/${encodeURIComponent('+14155559999')}/route`, {});
    assert.equal(notMine.statusCode, 404);
    assert.equal((await call('GET', `${base()}/numbers/${encodeURIComponent('+14155559999')}/route`)).statusCode, 404);
  });

  test('deleting an extension reports its devices and the numbers it leaves ringing nothing', async () => {
    const extension = (await call('POST', `${base()}/extensions`, { name: 'Gone' })).json().extension;
    const device = (await call('POST', `${base()}/extensions/${extension.id}/devices`, {})).json().device;
    await call('PUT', `${base()}/numbers/${PLUS}/route`, { extension_id: extension.id });
    const deleted = await call('DELETE', `${base()}/extensions/${extension.id}`);
    assert.equal(deleted.statusCode, 200);
    assert.deepEqual(deleted.json(), { extension, deleted_device_ids: [device.id], unrouted_numbers: ['+14155551234'] });
    assert.equal((await call('GET', `${base()}/extensions/${extension.id}`)).statusCode, 404);
    assert.equal((await call('GET', `${base()}/numbers/${PLUS}/route`)).json().route.rings, 'none');
  });

  test('an extension has a number (unique in the account) and a mobile; both are changed or cleared with PATCH', async () => {
    const created = await call('POST', `${base()}/extensions`, { number: '309', mobile: '(415) 555-0309' });
    assert.equal(created.statusCode, 201, created.body);
    const extension = created.json().extension;
    assert.deepEqual({ ...extension, id: 'x', created_at: 'x' }, { id: 'x', name: 'Extension 309', number: '309', mobile: '+14155550309', srtp: 'off', created_at: 'x' });
    const taken = await call('POST', `${base()}/extensions`, { name: 'Twin', number: '309' });
    assert.equal(taken.statusCode, 409);
    assert.equal(taken.json().error.details.field, 'number');
    // Another account may use the same number.
    assert.equal((await call('POST', `${base(otherId)}/extensions`, { number: '309' })).statusCode, 201);
    const badNumber = await call('POST', `${base()}/extensions`, { number: '30a' });
    assert.equal(badNumber.statusCode, 400);
    const badMobile = await call('POST', `${base()}/extensions`, { number: '310', mobile: 'call me' });
    assert.equal(badMobile.statusCode, 400);
    assert.equal(badMobile.json().error.details.field, 'mobile');

    const renumbered = await call('PATCH', `${base()}/extensions/${extension.id}`, { number: '311', mobile: null, name: 'Sales' });
    assert.equal(renumbered.statusCode, 200, renumbered.body);
    assert.deepEqual(renumbered.json().extension, { ...extension, name: 'Sales', number: '311', mobile: null });
    // A device is added to the extension named by its number.
    const device = await call('POST', `${base()}/extensions/311/devices`, {});
    assert.equal(device.statusCode, 201, device.body);
    assert.equal(device.json().device.extension_id, extension.id);
    const cleared = await call('PATCH', `${base()}/extensions/${extension.id}`, { number: null });
    assert.equal(cleared.json().extension.number, null);
    assert.equal((await call('PATCH', `${base(otherId)}/extensions/${extension.id}`, { name: 'Mine' })).statusCode, 404);
  });

  test("an extension's SRTP policy: off by default, set on create and with PATCH, anything else refused", async () => {
    const created = await call('POST', `${base()}/extensions`, { name: 'Secure desk', srtp: 'require' });
    assert.equal(created.statusCode, 201, created.body);
    assert.equal(created.json().extension.srtp, 'require');
    const id = created.json().extension.id;
    const relaxed = await call('PATCH', `${base()}/extensions/${id}`, { srtp: 'offer' });
    assert.equal(relaxed.statusCode, 200, relaxed.body);
    assert.equal(relaxed.json().extension.srtp, 'offer');
    assert.equal((await call('GET', `${base()}/extensions/${id}`)).json().extension.srtp, 'offer');
    assert.equal((await call('PATCH', `${base()}/extensions/${id}`, { srtp: 'mandatory' })).statusCode, 400);
    assert.equal((await call('POST', `${base()}/extensions`, { name: 'Plain' })).json().extension.srtp, 'off');
  });
});
