import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import type { Face } from '../../../src/api/faces.js';
import { allFaces } from '../../../src/api/faces/all-faces.js';
import { loadConfig } from '../../../src/config/config.js';
import { systemClock } from '../../../src/core/clock.js';
import { createServices } from '../../../src/core/services.js';
import { DialplaneError } from '../../../src/errors.js';
import { startServer } from '../../../src/server.js';
import { openConfiguredStore } from '../../../src/store/open-store.js';
import { createTestApp, seedAccount, type TestApp } from '../../helpers/app.js';
import { testEnv } from '../../helpers/processes.js';
import { startReceiver } from '../../helpers/webhook-receiver.js';

const TEST_FORMAT = 'test-face.event';

/** A face whose error shape differs from the standard one, so which handler answered shows in the body. */
const testFace: Face = {
  name: 'test-face',
  prefix: '/test-face/v1',
  errors: { format: (error) => ({ status: error.status, body: { fault: { kind: error.code, text: error.message } } }) },
  formats: (registry) =>
    registry.registerFormat(TEST_FORMAT, (event) => JSON.stringify({ test_face: event.type, call: event.data.call_id })),
  plugin: async (app) => {
    app.get('/things', { schema: { tags: ['Test face'], summary: 'Things' } }, async () => ({ things: [] }));
    app.get('/mine', { config: { dialplane: { auth: ['bearer'] } } }, async (request) => ({ account: request.principal?.accountId }));
    app.post('/boom', async () => {
      throw new DialplaneError('validation_failed', 'no boom today');
    });
  },
};

describe('faces are plugins under their own prefix', () => {
  let t: TestApp;
  let token: string;
  let accountId: string;
  before(async () => {
    t = await createTestApp('sqlite', { faces: [...allFaces, testFace] });
    const seeded = await seedAccount(t.services);
    token = seeded.token;
    accountId = seeded.account.id;
  });
  after(() => t.close());

  test("unknown routes and wrong methods inside a face's prefix answer in its shape; elsewhere in the standard one", async () => {
    const missing = await t.app.inject({ method: 'GET', url: '/test-face/v1/nothing' });
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.json().fault.kind, 'route_not_found');

    const wrongMethod = await t.app.inject({ method: 'DELETE', url: '/test-face/v1/things' });
    assert.equal(wrongMethod.statusCode, 405);
    assert.equal(wrongMethod.json().fault.kind, 'method_not_allowed');
    assert.match(String(wrongMethod.headers.allow), /\bGET\b/);

    const thrown = await t.app.inject({ method: 'POST', url: '/test-face/v1/boom' });
    assert.equal(thrown.statusCode, 400);
    assert.deepEqual(thrown.json(), { fault: { kind: 'validation_failed', text: 'no boom today' } });

    const elsewhere = await t.app.inject({ method: 'GET', url: '/nowhere' });
    assert.equal(elsewhere.statusCode, 404);
    assert.equal(elsewhere.json().error.code, 'route_not_found');
    const admin = await t.app.inject({ method: 'DELETE', url: '/healthz' });
    assert.equal(admin.statusCode, 405);
    assert.equal(admin.json().error.code, 'method_not_allowed');

    // DialAnyone's own scope: its document's shape, the standard one, and the 405 with Allow as before.
    const dialAnyone = await t.app.inject({ method: 'DELETE', url: '/api/v1/me' });
    assert.equal(dialAnyone.statusCode, 405);
    assert.equal(dialAnyone.json().error.code, 'method_not_allowed');
    assert.match(String(dialAnyone.headers.allow), /\bGET\b/);
    assert.equal((await t.app.inject({ method: 'GET', url: '/api/v1/nothing' })).json().error.code, 'route_not_found');
  });

  test("the app's auth and metrics hooks reach routes declared inside a face", async () => {
    const anonymous = await t.app.inject({ method: 'GET', url: '/test-face/v1/mine' });
    assert.equal(anonymous.statusCode, 401);
    assert.ok(anonymous.json().fault, 'the auth error is answered in the face shape');
    const mine = await t.app.inject({ method: 'GET', url: '/test-face/v1/mine', headers: { authorization: `Bearer ${token}` } });
    assert.equal(mine.statusCode, 200);
    assert.deepEqual(mine.json(), { account: accountId });

    await t.app.inject({ method: 'GET', url: '/test-face/v1/things' });
    const metrics = (await t.app.inject({ method: 'GET', url: '/metrics' })).body;
    assert.match(metrics, /dialplane_http_requests_total\{method="GET",route="\/test-face\/v1\/things",status="200"\}/);
  });

  test('the OpenAPI document lists face routes with their full paths', async () => {
    const paths = Object.keys((await t.app.inject({ method: 'GET', url: '/openapi.json' })).json().paths as object);
    for (const path of ['/api/v1/me', '/api/v1/sms', '/api/v1/sms/{messageId}', '/api/v1/webhooks/subscribe', '/test-face/v1/things']) {
      assert.ok(paths.includes(path), `${path} is in the document`);
    }
    assert.ok(!paths.includes('/me') && !paths.includes('/things'));
  });
});

describe("the server registers faces' webhook formats before telephony starts", () => {
  let dataDir: string;
  before(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'dialplane-faces-'));
  });
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  test('an event written as telephony starts is delivered in a face format', async () => {
    const receiver = await startReceiver();
    const config = loadConfig(
      testEnv({ DIALPLANE_DATA_DIR: dataDir, DIALPLANE_HTTP_PORT: '0', DIALPLANE_BOOTSTRAP: 'false', DIALPLANE_WEBHOOK_ALLOW_PRIVATE: 'true' }),
    );
    // A call left live by a previous process: telephony ends it as it starts, writing its call.ended event.
    // Opened as the server opens it (its data directory's secrets key), as an earlier process would have.
    const { database, store } = await openConfiguredStore(config);
    const earlier = createServices(store, { clock: systemClock, defaultCountry: 'US', keyCacheTtlMs: 1_000 });
    const { account } = await earlier.accounts.create({ name: 'Faces', email: 'faces@example.com' });
    earlier.webhooks.expectFormat(TEST_FORMAT);
    await earlier.webhooks.createEndpoint(account.id, { url: receiver.url, eventTypes: ['call.ended'], secret: '', format: TEST_FORMAT });
    const call = await earlier.calls.create({
      accountId: account.id,
      direction: 'outbound',
      from: '+14155551234',
      to: '+14155550100',
      ringTimeoutS: 30,
      maxDurationS: 60,
    });
    await database.close();

    const server = await startServer(config, pino({ level: 'silent' }), { faces: [...allFaces, testFace] });
    try {
      await receiver.waitFor(1);
      assert.deepEqual(JSON.parse(receiver.requests[0]!.body.toString('utf8')), { test_face: 'call.ended', call: call.id });
    } finally {
      await server.close();
      await receiver.close();
    }
  });

  test('a server whose faces leave a format core writes in unregistered refuses to start', async () => {
    const config = loadConfig(testEnv({ DIALPLANE_DATA_DIR: dataDir, DIALPLANE_HTTP_PORT: '0', DIALPLANE_BOOTSTRAP: 'false' }));
    await assert.rejects(startServer(config, pino({ level: 'silent' }), { faces: [] }), /dialanyone\.plain, dialanyone\.envelope/);
  });
});
