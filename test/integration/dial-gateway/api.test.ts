import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Services } from '../../../src/core/services.js';
import { appHeaders, dial, DOC_FROM, DOC_TO, session, startGateway, type AppCredentials, type Gateway } from '../../helpers/dial-gateway.js';
import { createCallingAccount, NO_TRUNK } from '../../helpers/telephony.js';

/**
 * POST /api/v1/dial refuses what the document refuses before anything is dialled: 401 without both headers, 400
 * naming each malformed field and each out-of-range number, 403 cid_not_allowed; sessions are confined to their app
 * (404), the face's rate limit answers 429 with Retry-After, and its routes never take another face's credentials.
 */
let services: Services;
let accountId: string;
let gateway: Gateway;
let app: AppCredentials;
let closeDb: () => Promise<void>;

before(async () => {
  const account = await createCallingAccount('Dial API');
  ({ services, accountId } = account);
  closeDb = () => account.db.close();
  const created = await services.apps.create(accountId, { name: 'gateway', callerIdAllowList: [DOC_FROM], country: 'IL' });
  app = { appId: created.app.id, apiKey: created.token };
  gateway = await startGateway(services, { trunk: NO_TRUNK, rtpPorts: '47000-47099' });
});
after(async () => {
  await gateway.close();
  await closeDb();
});

test('both headers are required, and only an app key with its own app id is taken (401)', async () => {
  const bearer = (await services.keys.create(accountId, { name: 'plain' })).token;
  const other = await services.apps.create(accountId, { name: 'other', callerIdAllowList: [DOC_FROM], country: 'IL' });
  const cases: Array<[Record<string, string>, string]> = [
    [{}, 'missing_credentials'],
    [{ 'x-app-id': app.appId }, 'missing_credentials'],
    [{ 'x-api-key': app.apiKey }, 'missing_credentials'],
    [{ 'x-app-id': other.app.id, 'x-api-key': app.apiKey }, 'invalid_credentials'],
    [{ 'x-app-id': app.appId, 'x-api-key': `${app.apiKey.slice(0, -1)}x` }, 'invalid_credentials'],
    [{ 'x-app-id': app.appId, 'x-api-key': bearer }, 'invalid_credentials'],
    [{ authorization: `Bearer ${app.apiKey}` }, 'missing_credentials'],
  ];
  for (const [headers, code] of cases) {
    const response = await gateway.app.inject({
      method: 'POST',
      url: '/api/v1/dial',
      headers: { ...headers, 'content-type': 'application/json' },
      payload: JSON.stringify({ to: DOC_TO, from: DOC_FROM }),
    });
    assert.equal(response.statusCode, 401, JSON.stringify(headers));
    assert.equal(response.json().error, code);
  }
  // DialAnyone's routes, under /api/v1 beside this face, do not take the app's headers either.
  const me = await gateway.app.inject({ method: 'GET', url: '/api/v1/me', headers: appHeaders(app) });
  assert.equal(me.statusCode, 401);
});

test('400 naming the field for each malformed field and each out-of-range number; nothing is dialled', async () => {
  const good = { to: DOC_TO, from: DOC_FROM };
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ from: DOC_FROM }, 'to'],
    [{ to: DOC_TO }, 'from'],
    [{ ...good, to: '052712110' }, 'to'],
    [{ ...good, to: '05271211022' }, 'to'],
    [{ ...good, to: '0567121102' }, 'to'],
    [{ ...good, to: '0571234567' }, 'to'],
    [{ ...good, to: '0751234567' }, 'to'],
    [{ ...good, to: '011234567' }, 'to'],
    [{ ...good, to: '+972527121102' }, 'to'],
    [{ ...good, to: '052-7121102' }, 'to'],
    [{ ...good, to: 527121102 }, 'to'],
    [{ ...good, from: '0711234567' }, 'from'],
    [{ ...good, from: '' }, 'from'],
    [{ ...good, timeout_sec: 0 }, 'timeout_sec'],
    [{ ...good, timeout_sec: 301 }, 'timeout_sec'],
    [{ ...good, timeout_sec: 1.5 }, 'timeout_sec'],
    [{ ...good, timeout_sec: '30' }, 'timeout_sec'],
    [{ ...good, max_duration_sec: 0 }, 'max_duration_sec'],
    [{ ...good, max_duration_sec: 14_401 }, 'max_duration_sec'],
    [{ ...good, max_duration_sec: -1 }, 'max_duration_sec'],
    [{ ...good, metadata: 'order 1' }, 'metadata'],
    [{ ...good, metadata: [1, 2] }, 'metadata'],
    [{ ...good, metadata: { blob: 'x'.repeat(4_100) } }, 'metadata'],
  ];
  for (const [body, field] of cases) {
    const response = await dial(gateway, app, body);
    const label = JSON.stringify(body).slice(0, 80);
    assert.equal(response.statusCode, 400, label);
    const error = response.json() as { error: string; message: string; field?: string };
    assert.equal(error.field, field, `${label}: ${JSON.stringify(error)}`);
    assert.equal(typeof error.message, 'string');
  }
  for (const value of ['02', '03', '04', '08', '09']) {
    assert.equal((await dial(gateway, app, { ...good, to: `${value}1234567`, timeout_sec: 301 })).json().field, 'timeout_sec', value);
  }
  for (const value of ['050', '051', '052', '053', '054', '055', '058', '072', '073', '074', '076', '077', '079']) {
    assert.equal((await dial(gateway, app, { ...good, to: `${value}1234567`, timeout_sec: 301 })).json().field, 'timeout_sec', value);
  }
  const edges = await dial(gateway, app, { ...good, from: '0731234567', timeout_sec: 300, max_duration_sec: 14_400 });
  assert.equal(edges.statusCode, 403, 'the range edges are valid: the allow-list is what refuses it');
  assert.equal((await services.calls.list(accountId, 10)).length, 0);
});

test('403 cid_not_allowed for a caller ID off the allow-list; nothing is dialled', async () => {
  const response = await dial(gateway, app, { to: DOC_TO, from: '0731234567' });
  assert.equal(response.statusCode, 403);
  assert.deepEqual(Object.keys(response.json()), ['error', 'message', 'field']);
  assert.equal(response.json().error, 'cid_not_allowed');
  assert.equal(response.json().field, 'from');
  assert.equal((await services.calls.list(accountId, 10)).length, 0);
  assert.equal(gateway.telephony.engine.activeCalls, 0);
});

test("404 for an unknown session, another app's and another account's; a plain call is no session", async () => {
  const created = await dial(gateway, app, { to: DOC_TO, from: DOC_FROM, timeout_sec: 1 });
  assert.equal(created.statusCode, 202);
  const uuid = created.json().session_uuid as string;
  const own = await session(gateway, app, uuid);
  assert.equal(own.statusCode, 200);
  const sibling = await services.apps.create(accountId, { name: 'sibling', callerIdAllowList: [DOC_FROM], country: 'IL' });
  const stranger = await services.accounts.create({ name: 'Stranger', email: 'stranger-dial@example.com' });
  const foreign = await services.apps.create(stranger.account.id, { name: 'foreign', callerIdAllowList: [DOC_FROM], country: 'IL' });
  for (const other of [sibling, foreign]) {
    const credentials = { appId: other.app.id, apiKey: other.token };
    for (const action of [undefined, 'hangup', 'play', 'gather']) {
      const response = await session(gateway, credentials, uuid, action, action === 'play' ? { text: 'hi' } : {});
      assert.equal(response.statusCode, 404, `${other.app.name} ${action ?? 'GET'}`);
      assert.equal(response.json().error, 'not_found');
    }
  }
  const unknown = await session(gateway, app, 'acW68-f47ac10b-58cc-4372-a567-0e02b2c3d479');
  assert.equal(unknown.statusCode, 404);
  assert.equal((await session(gateway, app, 'not-a-session')).statusCode, 404);
  const plain = await services.calls.create({ accountId, direction: 'outbound', from: '+14155551234', to: '+14155550100', ringTimeoutS: 1, maxDurationS: 1 });
  assert.equal((await session(gateway, app, plain.id)).statusCode, 404);
  await services.calls.end(plain.id, { reason: 'api_hangup' });
  await gateway.telephony.control.whenSettled(uuid);
  await gateway.telephony.engine.whenEnded(uuid);
  assert.equal((await session(gateway, app, uuid)).json().status, 'ended');
});

test('play and gather need an answered session (409); hangup of an ended one says ended', async () => {
  const created = await dial(gateway, app, { to: DOC_TO, from: DOC_FROM, timeout_sec: 1 });
  const uuid = created.json().session_uuid as string;
  const play = await session(gateway, app, uuid, 'play', { text: 'Hello' });
  assert.equal(play.statusCode, 409);
  assert.equal(play.json().error, 'conflict');
  const both = await session(gateway, app, uuid, 'play', { text: 'Hello', url: 'https://example.com/a.wav' });
  assert.equal(both.statusCode, 409, 'the state is checked first');
  const hangup = await session(gateway, app, uuid, 'hangup');
  assert.equal(hangup.statusCode, 200);
  assert.equal(hangup.json().status, 'ended');
  assert.equal((await session(gateway, app, uuid, 'gather', { num_digits: 1 })).statusCode, 409);
});

test('429 with Retry-After over the face limit of 60 dials a minute per app key', async () => {
  const limited = await services.apps.create(accountId, { name: 'limited', callerIdAllowList: [DOC_FROM], country: 'IL' });
  const credentials = { appId: limited.app.id, apiKey: limited.token };
  for (let i = 0; i < 60; i++) assert.equal((await dial(gateway, credentials, {})).statusCode, 400);
  const refused = await dial(gateway, credentials, {});
  assert.equal(refused.statusCode, 429);
  assert.equal(refused.json().error, 'rate_limited');
  assert.ok(Number(refused.headers['retry-after']) > 0);
  // Another app has its own counters.
  assert.equal((await dial(gateway, app, {})).statusCode, 400);
});

test('an unknown route under the prefix answers in the face shape', async () => {
  const response = await gateway.app.inject({ method: 'GET', url: '/api/v1/dial/x/y/z', headers: appHeaders(app) });
  assert.equal(response.statusCode, 404);
  assert.equal(response.json().error, 'route_not_found');
});
