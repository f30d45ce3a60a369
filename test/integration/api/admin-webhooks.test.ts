import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sql } from 'kysely';
import { createHttpSender } from '../../../src/webhooks/sender.js';
import { ADMIN_TOKEN, createTestApp, seedAccount, type TestApp } from '../../helpers/app.js';
import { describeEachDialect } from '../../helpers/databases.js';
import { startReceiver, type WebhookReceiver } from '../../helpers/webhook-receiver.js';

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

await describeEachDialect('admin API: webhook endpoints and the delivery log', (dialect) => {
  let t: TestApp;
  let accountId: string;
  let otherId: string;
  let receiver: WebhookReceiver;

  before(async () => {
    t = await createTestApp(dialect);
    accountId = (await seedAccount(t.services)).account.id;
    otherId = (await t.services.accounts.create({ name: 'Other', email: 'other@example.com' })).account.id;
    receiver = await startReceiver((index) => ({ status: index === 1 ? 500 : 200 }));
    // No dispatcher runs here: test deliveries are sent inline, everything else stays in the outbox to be inspected.
    t.services.webhooks.attach({
      notify: () => undefined,
      send: createHttpSender({ allowPrivate: true, connectTimeoutMs: 2_000, timeoutMs: 5_000 }),
    });
  });
  after(async () => {
    await receiver.close();
    await t.close();
  });

  const call = (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: unknown) =>
    t.app.inject({ method, url, headers: admin, ...(payload === undefined ? {} : { payload: payload as object }) });

  async function endpointRows(): Promise<number> {
    const result = await sql<{ n: number }>`select count(*) as n from webhook_endpoints`.execute(t.services.store.database.db);
    return Number(result.rows[0]?.n);
  }

  test('an endpoint is created with its secret shown once, listed masked, rotated, disabled and deleted', async () => {
    const created = await call('POST', `/admin/v1/accounts/${accountId}/webhooks/endpoints`, {
      url: 'https://hooks.example.com/dialplane',
      event_types: ['call.*'],
      description: 'CRM',
    });
    assert.equal(created.statusCode, 201);
    const endpoint = created.json().endpoint;
    assert.match(endpoint.secret, /^whsec_[A-Za-z0-9_-]{32}$/);
    const listed = await call('GET', `/admin/v1/accounts/${accountId}/webhooks/endpoints`);
    assert.equal(listed.statusCode, 200);
    assert.ok(!listed.body.includes(endpoint.secret), 'a listing never shows the whole secret');
    assert.deepEqual(listed.json().endpoints.map((e: { id: string }) => e.id), [endpoint.id]);

    const rotated = await call('POST', `/admin/v1/accounts/${accountId}/webhooks/endpoints/${endpoint.id}/rotate-secret`, {});
    assert.equal(rotated.json().endpoint.rotating, true);
    assert.notEqual(rotated.json().endpoint.secret, endpoint.secret);
    const finished = await call('POST', `/admin/v1/accounts/${accountId}/webhooks/endpoints/${endpoint.id}/rotate-secret`, { finish: true });
    assert.equal(finished.json().endpoint.rotating, false);
    const disabled = await call('POST', `/admin/v1/accounts/${accountId}/webhooks/endpoints/${endpoint.id}/disable`);
    assert.equal(disabled.json().endpoint.status, 'disabled');

    // Another account's endpoint does not exist for it.
    for (const [method, path] of [
      ['POST', `/admin/v1/accounts/${otherId}/webhooks/endpoints/${endpoint.id}/enable`],
      ['DELETE', `/admin/v1/accounts/${otherId}/webhooks/endpoints/${endpoint.id}`],
    ] as const) {
      const response = await call(method, path);
      assert.equal(response.statusCode, 404, path);
      assert.equal(response.json().error.code, 'not_found');
    }
    const deleted = await call('DELETE', `/admin/v1/accounts/${accountId}/webhooks/endpoints/${endpoint.id}`);
    assert.equal(deleted.statusCode, 200);
    assert.equal((await call('GET', `/admin/v1/accounts/${accountId}/webhooks/endpoints`)).json().endpoints.length, 0);
  });

  test('bad endpoints are refused naming the field, and nothing is written', async () => {
    const before = await endpointRows();
    const cases: Array<[unknown, string, RegExp]> = [
      [{}, 'validation_failed', /url/],
      [{ url: 'ftp://hooks.example.com/x' }, 'invalid_webhook_url', /http/],
      [{ url: 'https://user:pw@hooks.example.com/x' }, 'invalid_webhook_url', /credentials|user/i],
      [{ url: 'not a url' }, 'invalid_webhook_url', /./],
      [{ url: 'https://hooks.example.com/x', event_types: ['Call Answered'] }, 'validation_failed', /event type/],
      [{ url: 'https://hooks.example.com/x', event_types: [] }, 'validation_failed', /event_types/],
      [{ url: 'https://hooks.example.com/x', secret: 'short' }, 'validation_failed', /secret/],
      [{ url: 'https://hooks.example.com/x', signature_header: 'Bad Header:' }, 'validation_failed', /signature_header/],
      [{ url: 'https://hooks.example.com/x', extra: 1 }, 'validation_failed', /extra|additional/],
      [{ url: 12 }, 'validation_failed', /url/],
    ];
    for (const [body, code, message] of cases) {
      const response = await call('POST', `/admin/v1/accounts/${accountId}/webhooks/endpoints`, body);
      assert.equal(response.statusCode, 400, JSON.stringify(body));
      assert.equal(response.json().error.code, code, JSON.stringify(body));
      assert.match(response.json().error.message, message, JSON.stringify(body));
    }
    const missing = await call('POST', '/admin/v1/accounts/acct_missing/webhooks/endpoints', { url: 'https://hooks.example.com/x' });
    assert.equal(missing.statusCode, 404);
    assert.equal(await endpointRows(), before);
  });

  test('test deliveries report their outcome and land in the log; show and re-send work; other accounts see nothing', async () => {
    const delivered = await call('POST', `/admin/v1/accounts/${accountId}/webhooks/test`, {
      url: receiver.url,
      secret: 'whsec_admin_test_secret_000',
      signature_header: 'X-DialAnyone-Signature',
    });
    assert.equal(delivered.statusCode, 200);
    assert.equal(delivered.json().delivered, true);
    assert.equal(delivered.json().status_code, 200);
    assert.ok(receiver.requests[0]?.headers['x-dialanyone-signature']);
    const failed = await call('POST', `/admin/v1/accounts/${accountId}/webhooks/test`, { url: receiver.url });
    assert.equal(failed.json().delivered, false);
    assert.equal(failed.json().status_code, 500);
    const refused = await call('POST', `/admin/v1/accounts/${accountId}/webhooks/test`, { url: 'http://169.254.169.254/latest/meta-data' });
    assert.equal(refused.json().delivered, false);
    assert.match(refused.json().error, /metadata/);
    assert.equal(receiver.requests.length, 2, 'the metadata address was never contacted');

    const log = await call('GET', `/admin/v1/webhooks/deliveries?account_id=${accountId}&limit=10`);
    assert.equal(log.statusCode, 200);
    const deliveries = log.json().deliveries as Array<{ id: string; status: string; event_type: string }>;
    assert.equal(deliveries.length, 3);
    assert.deepEqual(deliveries.map((d) => d.status).sort(), ['delivered', 'failed', 'failed']);
    const onlyFailed = await call('GET', `/admin/v1/webhooks/deliveries?account_id=${accountId}&status=failed`);
    assert.equal(onlyFailed.json().deliveries.length, 2);
    assert.equal((await call('GET', `/admin/v1/webhooks/deliveries?account_id=${otherId}`)).json().deliveries.length, 0);
    const badQuery = await call('GET', '/admin/v1/webhooks/deliveries?limit=0');
    assert.equal(badQuery.statusCode, 400);
    assert.equal((await call('GET', '/admin/v1/webhooks/deliveries?status=lost')).statusCode, 400);

    const first = deliveries.find((d) => d.status === 'delivered')!;
    const shown = await call('GET', `/admin/v1/webhooks/deliveries/${first.id}`);
    assert.equal(shown.statusCode, 200);
    assert.equal(shown.json().payload, receiver.requests[0]!.body.toString('utf8'));
    assert.deepEqual(shown.json().attempts.map((a: { attempt: number; status_code: number; result: string }) => [a.attempt, a.status_code, a.result]), [
      [1, 200, 'delivered'],
    ]);
    const resent = await call('POST', `/admin/v1/webhooks/deliveries/${first.id}/resend`);
    assert.equal(resent.statusCode, 201);
    assert.equal(resent.json().delivery.status, 'pending');
    assert.equal(resent.json().delivery.event_id, shown.json().delivery.event_id);
    assert.equal((await call('GET', '/admin/v1/webhooks/deliveries/whd_missing')).statusCode, 404);
    assert.equal((await call('POST', '/admin/v1/webhooks/deliveries/whd_missing/resend')).statusCode, 404);
  });
});
