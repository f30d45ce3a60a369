import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { Command } from 'commander';
import { sql } from 'kysely';
import pino from 'pino';
import {
  envelope,
  plainPayload,
  registerDialAnyoneFormats,
  ENVELOPE_FORMAT,
  PLAIN_FORMAT,
} from '../../../src/api/faces/dialanyone/webhook-formats.js';
import { addKeyWebhooksCommand, keyWebhooksInput, runKeyWebhooks } from '../../../src/cli/key-webhooks-command.js';
import { loadConfig, type Config } from '../../../src/config/config.js';
import type { WebhookEvent, WebhookFormat, WebhookService } from '../../../src/core/webhooks.js';
import type { WebhookEndpointRow } from '../../../src/store/schema.js';
import { startWebhookDelivery } from '../../../src/webhook-delivery.js';
import { createHttpSender } from '../../../src/webhooks/sender.js';
import { ADMIN_TOKEN, TEST_SECRETS_KEY, createTestApp, seedAccount, type TestApp } from '../../helpers/app.js';
import { describeEachDialect } from '../../helpers/databases.js';
import { freePort, testEnv, waitUntil } from '../../helpers/processes.js';
import { documentVerifies } from '../../helpers/verify-webhook.js';
import { startReceiver, type Answer, type ReceivedRequest, type WebhookReceiver } from '../../helpers/webhook-receiver.js';

const SECRET = 'zap_secret_0123456789abcdef';
const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
const DOC_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

const WEBHOOK_CONFIG: Config['webhooks'] = {
  allowPrivate: true,
  maxAttempts: 3,
  horizonS: 3_600,
  retryBaseMs: 60_000,
  retryMaxDelayMs: 60_000,
  connectTimeoutMs: 2_000,
  timeoutMs: 5_000,
  concurrency: 8,
  endpointConcurrency: 4,
  hookTimeoutMs: 5_000,
};

function signature(request: ReceivedRequest): string | undefined {
  const value = request.headers['x-dialanyone-signature'];
  return typeof value === 'string' ? value : undefined;
}

function json(request: ReceivedRequest): Record<string, unknown> {
  return JSON.parse(request.body.toString('utf8')) as Record<string, unknown>;
}

/** What a command prints on stdout while it runs. */
async function captureStdout(run: () => Promise<unknown>): Promise<string> {
  const write = process.stdout.write.bind(process.stdout);
  let out = '';
  process.stdout.write = ((chunk: string | Uint8Array) => ((out += String(chunk)), true)) as typeof process.stdout.write;
  try {
    await run();
  } finally {
    process.stdout.write = write;
  }
  return out;
}

function event(type: string, data: Record<string, unknown>, occurredAt = '2026-03-01T12:00:00.123Z'): WebhookEvent {
  return { id: 'evt_abc123', type, accountId: 'acct_1', occurredAt, data };
}

describe('DialAnyone webhook payload formats', () => {
  test('an inbound call and an inbound SMS become the documented notifications, keys in order; nothing else does', () => {
    const call = plainPayload(event('call.queued', { call_id: 'call_1', from: '+14155555678', to: '+14155551234', direction: 'inbound', state: 'queued' }));
    assert.equal(
      JSON.stringify(call),
      '{"event":"incoming_call","call_id":"call_1","from":"+14155555678","to":"+14155551234","timestamp":"2026-03-01T12:00:00Z"}',
    );
    const sms = plainPayload(
      event('sms.received', { message_id: 'msg_1', from: '+14155555678', to: '+14155551234', body: 'Reply message text', direction: 'inbound' }),
    );
    assert.equal(
      JSON.stringify(sms),
      '{"event":"incoming_sms","message_id":"msg_1","from":"+14155555678","to":"+14155551234","body":"Reply message text","timestamp":"2026-03-01T12:00:00Z"}',
    );
    assert.equal(
      JSON.stringify(envelope('evt_abc123', sms!)),
      '{"event_type":"incoming_sms","event_id":"evt_abc123","timestamp":"2026-03-01T12:00:00Z","data":' + JSON.stringify(sms) + '}',
    );
    // An outbound call's queued event, later call states and other SMS events are not the document's events.
    assert.equal(plainPayload(event('call.queued', { call_id: 'call_2', direction: 'outbound' })), undefined);
    assert.equal(plainPayload(event('call.answered', { call_id: 'call_1', direction: 'inbound' })), undefined);
    assert.equal(plainPayload(event('sms.delivered', { message_id: 'msg_1' })), undefined);
    assert.equal(plainPayload(event('webhook.test', {})), undefined);
  });

  test('the formats are registered once per service and render the exact bodies', () => {
    const formats = new Map<string, WebhookFormat>();
    const fake = { registerFormat: (name: string, format: WebhookFormat) => formats.set(name, format) } as unknown as WebhookService;
    registerDialAnyoneFormats(fake);
    formats.clear();
    registerDialAnyoneFormats(fake);
    assert.equal(formats.size, 0, 'a second registration does nothing');
    const fresh = { registerFormat: (name: string, format: WebhookFormat) => formats.set(name, format) } as unknown as WebhookService;
    registerDialAnyoneFormats(fresh);
    assert.deepEqual([...formats.keys()], [PLAIN_FORMAT, ENVELOPE_FORMAT]);
    const endpoint = {} as WebhookEndpointRow;
    const sms = event('sms.received', { message_id: 'msg_1', from: '+1', to: '+2', body: 'x' });
    assert.equal(formats.get(PLAIN_FORMAT)!(sms, endpoint), '{"event":"incoming_sms","message_id":"msg_1","from":"+1","to":"+2","body":"x","timestamp":"2026-03-01T12:00:00Z"}');
    assert.equal(
      formats.get(ENVELOPE_FORMAT)!(sms, endpoint),
      '{"event_type":"incoming_sms","event_id":"evt_abc123","timestamp":"2026-03-01T12:00:00Z","data":{"event":"incoming_sms","message_id":"msg_1","from":"+1","to":"+2","body":"x","timestamp":"2026-03-01T12:00:00Z"}}',
    );
    for (const format of formats.values()) assert.equal(format(event('call.ended', { direction: 'inbound' }), endpoint), undefined);
  });

  test('the CLI turns its options into the admin body: empty secret is unsigned, --clear clears', () => {
    assert.deepEqual(keyWebhooksInput({}), {});
    assert.deepEqual(keyWebhooksInput({ callUrl: 'https://a.example/c', callSecret: 's', smsSecret: '', clear: 'legacy' }), {
      call_webhook_url: 'https://a.example/c',
      call_webhook_secret: 's',
      sms_webhook_secret: null,
      webhook_url: null,
    });
    assert.throws(() => keyWebhooksInput({ clear: 'fax' }), /unknown webhook fax/);
    assert.throws(() => keyWebhooksInput({ clear: 'call', callUrl: 'https://a.example/c' }), /cannot be combined/);
  });
});

await describeEachDialect('DialAnyone webhooks', (dialect) => {
  let t: TestApp;
  let accountId: string;
  let token: string;
  let keyId: string;
  let sameAccountToken: string;
  let sameAccountKeyId: string;
  let otherAccountId: string;
  let otherToken: string;
  let otherKeyId: string;
  let receiver: WebhookReceiver;
  let answers: (index: number, request: ReceivedRequest) => Answer;

  before(async () => {
    t = await createTestApp(dialect);
    const seeded = await seedAccount(t.services);
    accountId = seeded.account.id;
    token = seeded.token;
    keyId = seeded.key.id;
    const second = await t.services.keys.create(accountId, { name: 'second' });
    sameAccountToken = second.token;
    sameAccountKeyId = second.key.id;
    const other = await t.services.accounts.create({ name: 'Other', email: 'other@example.com' });
    otherAccountId = other.account.id;
    await t.services.numbers.add(otherAccountId, { number: '+14155550199', type: 'purchased' });
    const otherKey = await t.services.keys.create(otherAccountId, { name: 'other' });
    otherToken = otherKey.token;
    otherKeyId = otherKey.key.id;
    receiver = await startReceiver((index, request) => answers(index, request));
    t.services.webhooks.attach({
      notify: () => undefined,
      send: createHttpSender({ allowPrivate: true, connectTimeoutMs: 2_000, timeoutMs: 5_000 }),
    });
  });
  after(async () => {
    await receiver.close();
    await t.close();
  });
  beforeEach(() => {
    answers = (_index, request) => ({ status: request.path.includes('fail') ? 500 : 200 });
    receiver.requests.length = 0;
  });

  const api = (method: 'GET' | 'POST' | 'DELETE', url: string, bearer: string, payload?: unknown) =>
    t.app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${bearer}` },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
  const adminApi = (method: 'GET' | 'PUT', url: string, payload?: unknown) =>
    t.app.inject({ method, url, headers: admin, ...(payload === undefined ? {} : { payload: payload as object }) });
  const url = (path: string) => `${receiver.url}/${path}`;

  async function count(table: 'webhook_endpoints' | 'webhook_deliveries'): Promise<number> {
    const result = await sql<{ n: number }>`select count(*) as n from ${sql.table(table)}`.execute(t.services.store.database.db);
    return Number(result.rows[0]?.n);
  }

  test('subscribe tests delivery at once and answers in the documented shape; the tests are signed envelopes', async () => {
    const response = await api('POST', '/api/v1/webhooks/subscribe', token, {
      webhook_url: url('zap'),
      event_types: ['incoming_call', 'incoming_sms'],
      webhook_secret: SECRET,
    });
    assert.equal(response.statusCode, 201, response.body);
    const body = response.json();
    assert.match(body.subscription.created_at, DOC_TIME);
    assert.deepEqual(body, {
      success: true,
      subscription: {
        webhook_url: url('zap'),
        event_types: ['incoming_call', 'incoming_sms'],
        created_at: body.subscription.created_at,
        test_delivery_status: 'success',
      },
      test_results: { call_test: { success: true }, sms_test: { success: true } },
    });
    assert.equal(receiver.requests.length, 2);
    const byType = new Map(receiver.requests.map((r) => [json(r).event_type, r]));
    const call = json(byType.get('incoming_call')!);
    assert.deepEqual(Object.keys(call), ['event_type', 'event_id', 'timestamp', 'data']);
    assert.deepEqual(Object.keys(call.data as object), ['event', 'call_id', 'from', 'to', 'timestamp']);
    assert.match(String((call.data as { call_id: string }).call_id), /^call_test_/);
    const sms = json(byType.get('incoming_sms')!);
    assert.deepEqual(Object.keys(sms.data as object), ['event', 'message_id', 'from', 'to', 'body', 'timestamp']);
    assert.match(String(sms.timestamp), DOC_TIME);
    for (const request of receiver.requests) {
      assert.equal(request.path, '/hook/zap');
      assert.equal(documentVerifies(request.body, signature(request)!, SECRET), true, 'verify_webhook accepts the test');
      assert.equal(documentVerifies(request.body, signature(request)!, 'wrong secret'), false);
    }
  });

  test('a failing endpoint is still subscribed, with the failure in the test results; no secret means unsigned', async () => {
    t.clock.advance(1_000);
    const failing = await api('POST', '/api/v1/webhooks/subscribe', token, { webhook_url: url('fail'), event_types: ['incoming_call'] });
    assert.equal(failing.statusCode, 201);
    assert.deepEqual(failing.json().test_results, { call_test: { success: false } });
    assert.equal(failing.json().subscription.test_delivery_status, 'failed');
    t.clock.advance(1_000);
    const unsigned = await api('POST', '/api/v1/webhooks/subscribe', token, { webhook_url: url('sms-only'), event_types: ['incoming_sms'] });
    assert.deepEqual(unsigned.json().test_results, { sms_test: { success: true } });
    const request = receiver.requests.find((r) => r.path === '/hook/sms-only')!;
    assert.equal(signature(request), undefined);
    assert.equal(json(request).event_type, 'incoming_sms');
    // Subscribing the same URL again adds event types to the one subscription and keeps its first creation time.
    const first = unsigned.json().subscription.created_at;
    t.clock.advance(5_000);
    const again = await api('POST', '/api/v1/webhooks/subscribe', token, { webhook_url: url('sms-only'), event_types: ['incoming_call'] });
    assert.deepEqual(again.json().subscription.event_types, ['incoming_call', 'incoming_sms']);
    assert.equal(again.json().subscription.created_at, first);
    assert.deepEqual(again.json().test_results, { call_test: { success: true } });
  });

  test('the listing is the documented shape: the newest subscription per type, its secret, and the totals', async () => {
    t.clock.advance(1_000);
    const response = await api('GET', '/api/v1/webhooks/subscriptions', token);
    assert.equal(response.statusCode, 200);
    const body = response.json();
    assert.deepEqual(Object.keys(body).slice(0, 3), ['success', 'subscriptions', 'totals']);
    assert.deepEqual(body.subscriptions, {
      // sms-only took incoming_call last.
      call_webhook_url: url('sms-only'),
      sms_webhook_url: url('sms-only'),
      call_webhook_secret: null,
      sms_webhook_secret: null,
    });
    // zap (call, sms), fail (call), sms-only (call, sms): five URL and event type pairs.
    assert.deepEqual(body.totals, { total_subscriptions: 5, has_call_webhook: true, has_sms_webhook: true });
    assert.deepEqual(
      body.all_subscriptions.map((s: { webhook_url: string; event_types: string[]; webhook_secret: string | null }) => [
        s.webhook_url,
        s.event_types,
        s.webhook_secret,
      ]),
      [
        [url('zap'), ['incoming_call', 'incoming_sms'], SECRET],
        [url('fail'), ['incoming_call'], null],
        [url('sms-only'), ['incoming_call', 'incoming_sms'], null],
      ],
    );
    assert.deepEqual(body.key_webhooks, { call_webhook_url: null, sms_webhook_url: null, webhook_url: null });

    // Another key of the same account, and another account's key, see none of them.
    for (const bearer of [sameAccountToken, otherToken]) {
      const theirs = (await api('GET', '/api/v1/webhooks/subscriptions', bearer)).json();
      assert.deepEqual(theirs.subscriptions, { call_webhook_url: null, sms_webhook_url: null, call_webhook_secret: null, sms_webhook_secret: null });
      assert.deepEqual(theirs.totals, { total_subscriptions: 0, has_call_webhook: false, has_sms_webhook: false });
      assert.deepEqual(theirs.all_subscriptions, []);
    }
  });

  test('the test route answers in the documented shape, signing with the subscription secret', async () => {
    const ok = await api('POST', '/api/v1/webhooks/test', token, { webhook_url: url('zap'), event_types: ['incoming_call', 'incoming_sms'] });
    assert.equal(ok.statusCode, 200);
    assert.deepEqual(ok.json(), {
      success: true,
      webhook_url: url('zap'),
      event_types: ['incoming_call', 'incoming_sms'],
      overall_success: true,
      message: 'All webhook tests completed successfully',
      test_results: { call_test: { success: true }, sms_test: { success: true } },
    });
    for (const request of receiver.requests) assert.equal(documentVerifies(request.body, signature(request)!, SECRET), true);

    const failed = await api('POST', '/api/v1/webhooks/test', token, { webhook_url: url('fail-test'), event_types: ['incoming_sms'] });
    assert.equal(failed.statusCode, 200);
    assert.deepEqual(failed.json(), {
      success: true,
      webhook_url: url('fail-test'),
      event_types: ['incoming_sms'],
      overall_success: false,
      message: 'All webhook tests failed: incoming_sms: HTTP 500',
      test_results: { sms_test: { success: false } },
    });
    // Testing writes no subscription.
    assert.equal((await api('GET', '/api/v1/webhooks/subscriptions', token)).json().all_subscriptions.length, 3);
  });

  test('bad input is a 400 in the face error shape and writes nothing; read-only keys may not subscribe', async () => {
    const endpoints = await count('webhook_endpoints');
    const deliveries = await count('webhook_deliveries');
    const cases: Array<['POST' | 'DELETE', string, unknown, string, string]> = [
      ['POST', '/api/v1/webhooks/subscribe', {}, 'validation_failed', 'webhook_url'],
      ['POST', '/api/v1/webhooks/subscribe', { webhook_url: 'ftp://example.com/hook' }, 'invalid_webhook_url', 'webhook_url'],
      ['POST', '/api/v1/webhooks/subscribe', { webhook_url: 'not a url' }, 'invalid_webhook_url', 'webhook_url'],
      ['POST', '/api/v1/webhooks/subscribe', { webhook_url: 'https://user:pw@example.com/' }, 'invalid_webhook_url', 'webhook_url'],
      ['POST', '/api/v1/webhooks/subscribe', { webhook_url: url('x'), event_types: ['incoming_fax'] }, 'validation_failed', 'event_types.0'],
      ['POST', '/api/v1/webhooks/subscribe', { webhook_url: url('x'), event_types: [] }, 'validation_failed', 'event_types'],
      ['POST', '/api/v1/webhooks/subscribe', { webhook_url: url('x'), event_types: 'incoming_call' }, 'validation_failed', 'event_types'],
      ['POST', '/api/v1/webhooks/subscribe', { webhook_url: 42 }, 'validation_failed', 'webhook_url'],
      ['POST', '/api/v1/webhooks/subscribe', { webhook_url: url('x'), webhook_secret: 7 }, 'validation_failed', 'webhook_secret'],
      ['POST', '/api/v1/webhooks/test', { webhook_url: 'mailto:a@example.com' }, 'invalid_webhook_url', 'webhook_url'],
      ['POST', '/api/v1/webhooks/test', { event_types: ['incoming_sms'] }, 'validation_failed', 'webhook_url'],
      ['DELETE', '/api/v1/webhooks/unsubscribe', { webhook_url: url('zap'), event_types: ['incoming_fax'] }, 'validation_failed', 'event_types.0'],
      ['DELETE', '/api/v1/webhooks/unsubscribe', {}, 'validation_failed', 'webhook_url'],
    ];
    for (const [method, path, payload, code, field] of cases) {
      const response = await api(method, path, token, payload);
      assert.equal(response.statusCode, 400, `${JSON.stringify(payload)}: ${response.body}`);
      const error = response.json().error;
      assert.deepEqual(Object.keys(error).sort(), ['code', 'details', 'message']);
      assert.equal(error.code, code, JSON.stringify(payload));
      assert.equal(error.details.field, field, JSON.stringify(payload));
    }
    const noBody = await t.app.inject({ method: 'POST', url: '/api/v1/webhooks/subscribe', headers: { authorization: `Bearer ${token}` } });
    assert.equal(noBody.statusCode, 400);
    const readOnly = await t.services.keys.create(accountId, { name: 'ro', permission: 'read_only' });
    const refused = await api('POST', '/api/v1/webhooks/subscribe', readOnly.token, { webhook_url: url('ro') });
    assert.equal(refused.statusCode, 403);
    assert.equal(refused.json().error.code, 'read_only_key');
    const anonymous = await t.app.inject({ method: 'GET', url: '/api/v1/webhooks/subscriptions' });
    assert.equal(anonymous.statusCode, 401);
    assert.equal(await count('webhook_endpoints'), endpoints);
    assert.equal(await count('webhook_deliveries'), deliveries);
    assert.equal(receiver.requests.length, 0);
  });

  test('unsubscribe removes some or all event types in the documented shape, and 404s when nothing matches', async () => {
    // Another key (of this account or another) cannot remove this key's subscription.
    for (const bearer of [sameAccountToken, otherToken]) {
      const response = await api('DELETE', '/api/v1/webhooks/unsubscribe', bearer, { webhook_url: url('zap') });
      assert.equal(response.statusCode, 404);
      assert.equal(response.json().error.code, 'not_found');
    }
    const listed = (await api('GET', '/api/v1/webhooks/subscriptions', token)).json().all_subscriptions as Array<{ webhook_url: string; created_at: string }>;
    const zapCreated = listed.find((s) => s.webhook_url === url('zap'))!.created_at;

    const partial = await api('DELETE', '/api/v1/webhooks/unsubscribe', token, { webhook_url: url('zap'), event_types: ['incoming_sms'] });
    assert.equal(partial.statusCode, 200);
    assert.deepEqual(partial.json(), {
      success: true,
      message: 'Webhook subscription removed successfully',
      removed_subscription: { webhook_url: url('zap'), event_types: ['incoming_sms'], created_at: zapCreated },
    });
    const again = await api('DELETE', '/api/v1/webhooks/unsubscribe', token, { webhook_url: url('zap'), event_types: ['incoming_sms'] });
    assert.equal(again.statusCode, 404);
    assert.deepEqual(Object.keys(again.json().error).sort(), ['code', 'details', 'message']);

    // Asking for both removes what there is: the call type only.
    const rest = await api('DELETE', '/api/v1/webhooks/unsubscribe', token, {
      webhook_url: url('zap'),
      event_types: ['incoming_call', 'incoming_sms'],
    });
    assert.deepEqual(rest.json().removed_subscription.event_types, ['incoming_call']);
    // No event_types: everything.
    for (const path of ['fail', 'sms-only']) {
      const all = await api('DELETE', '/api/v1/webhooks/unsubscribe', token, { webhook_url: url(path) });
      assert.equal(all.statusCode, 200);
    }
    const after = (await api('GET', '/api/v1/webhooks/subscriptions', token)).json();
    assert.deepEqual(after.all_subscriptions, []);
    assert.deepEqual(after.totals, { total_subscriptions: 0, has_call_webhook: false, has_sms_webhook: false });
    assert.equal((await t.services.webhooks.listEndpoints(accountId)).length, 0, 'the endpoints are gone');
  });

  test('per-key webhook URLs and secrets through the admin API: validated, masked, cleared, confined to the account', async () => {
    const path = `/admin/v1/accounts/${accountId}/keys/${keyId}/webhooks`;
    const empty = await adminApi('GET', path);
    assert.equal(empty.statusCode, 200);
    assert.deepEqual(empty.json(), {
      account_id: accountId,
      key_id: keyId,
      call_webhook_url: null,
      call_webhook_secret: null,
      sms_webhook_url: null,
      sms_webhook_secret: null,
      webhook_url: null,
      webhook_secret: null,
      subscriptions: [],
    });
    const set = await adminApi('PUT', path, {
      call_webhook_url: url('calls'),
      call_webhook_secret: 'secret_for_calls_0001',
      sms_webhook_url: url('sms'),
      webhook_url: url('legacy'),
      webhook_secret: 'secret_for_legacy_001',
    });
    assert.equal(set.statusCode, 200, set.body);
    assert.deepEqual(set.json(), {
      ...empty.json(),
      call_webhook_url: url('calls'),
      call_webhook_secret: 'secr…0001',
      sms_webhook_url: url('sms'),
      sms_webhook_secret: null,
      webhook_url: url('legacy'),
      webhook_secret: 'secr…_001',
    });
    const rows = await t.services.webhooks.listEndpoints(accountId);
    assert.deepEqual(
      rows.map((r) => [r.owner, r.format, r.signatureHeader, r.eventTypes]).sort(),
      [
        [`dialanyone:key:${keyId}:call`, PLAIN_FORMAT, 'X-DialAnyone-Signature', ['call.queued']],
        [`dialanyone:key:${keyId}:legacy`, PLAIN_FORMAT, 'X-DialAnyone-Signature', ['call.queued', 'sms.received']],
        [`dialanyone:key:${keyId}:sms`, PLAIN_FORMAT, 'X-DialAnyone-Signature', ['sms.received']],
      ],
    );

    // The key's holder sees them, secrets whole, where no subscription takes the type.
    const listing = (await api('GET', '/api/v1/webhooks/subscriptions', token)).json();
    assert.deepEqual(listing.subscriptions, {
      call_webhook_url: url('calls'),
      sms_webhook_url: url('sms'),
      call_webhook_secret: 'secret_for_calls_0001',
      sms_webhook_secret: null,
    });
    assert.deepEqual(listing.totals, { total_subscriptions: 4, has_call_webhook: true, has_sms_webhook: true });
    assert.deepEqual(listing.key_webhooks, { call_webhook_url: url('calls'), sms_webhook_url: url('sms'), webhook_url: url('legacy') });

    const endpoints = await count('webhook_endpoints');
    const bad: Array<[string, unknown, number, string]> = [
      [path, { call_webhook_url: 'ftp://x.example/' }, 400, 'invalid_webhook_url'],
      [path, { sms_webhook_url: url('ok'), call_webhook_url: 'nope' }, 400, 'invalid_webhook_url'],
      [path, { call_webhook_url: 5 }, 400, 'validation_failed'],
      [path, { unknown_field: 1 }, 400, 'validation_failed'],
      [`/admin/v1/accounts/${accountId}/keys/${sameAccountKeyId}/webhooks`, { sms_webhook_secret: 'no url yet' }, 400, 'validation_failed'],
      [`/admin/v1/accounts/${accountId}/keys/${otherKeyId}/webhooks`, { call_webhook_url: url('x') }, 404, 'not_found'],
      [`/admin/v1/accounts/${otherAccountId}/keys/${keyId}/webhooks`, { call_webhook_url: url('x') }, 404, 'not_found'],
      [`/admin/v1/accounts/${accountId}/keys/key_missing/webhooks`, { call_webhook_url: url('x') }, 404, 'not_found'],
    ];
    for (const [target, payload, status, code] of bad) {
      const response = await adminApi('PUT', target, payload);
      assert.equal(response.statusCode, status, `${target} ${JSON.stringify(payload)}: ${response.body}`);
      assert.equal(response.json().error.code, code);
    }
    assert.equal((await adminApi('GET', `/admin/v1/accounts/${otherAccountId}/keys/${keyId}/webhooks`)).statusCode, 404);
    assert.equal((await t.app.inject({ method: 'GET', url: path })).statusCode, 401, 'the admin token is required');
    assert.equal(await count('webhook_endpoints'), endpoints);
    assert.equal((await adminApi('GET', path)).json().sms_webhook_url, url('sms'), 'nothing changed');

    // A secret alone changes the secret; null clears a URL; the rest stays.
    const changed = await adminApi('PUT', path, { sms_webhook_secret: 'secret_for_sms_000001', webhook_url: null });
    assert.equal(changed.statusCode, 200);
    assert.equal(changed.json().sms_webhook_url, url('sms'));
    assert.equal(changed.json().sms_webhook_secret, 'secr…0001');
    assert.equal(changed.json().webhook_url, null);
    assert.equal(changed.json().call_webhook_url, url('calls'));
    const cleared = await adminApi('PUT', path, { call_webhook_url: null, sms_webhook_url: null });
    assert.equal(cleared.json().call_webhook_url, null);
    assert.equal((await t.services.webhooks.listEndpoints(accountId)).length, 0);
  });

  test('the CLI shows and sets a key\'s webhooks through the running server, and on the database without one', async () => {
    await t.app.listen({ host: '127.0.0.1', port: 0 });
    const port = (t.app.server.address() as AddressInfo).port;
    const dataDir = mkdtempSync(join(tmpdir(), 'dialplane-keyhooks-'));
    try {
      const viaServer = loadConfig(testEnv({ DIALPLANE_HTTP_PORT: String(port), DIALPLANE_ADMIN_TOKEN: ADMIN_TOKEN, DIALPLANE_DATA_DIR: dataDir }));
      const set = await runKeyWebhooks(viaServer, keyId, { account: accountId, callUrl: url('cli-call'), callSecret: 'cli_secret_0000000001' });
      assert.equal(set.call_webhook_url, url('cli-call'));
      assert.equal(set.call_webhook_secret, 'cli_…0001');
      const shown = await runKeyWebhooks(viaServer, keyId, { account: accountId });
      assert.deepEqual(shown, set);
      await assert.rejects(runKeyWebhooks(viaServer, keyId, {}), /several accounts exist/);
      await assert.rejects(runKeyWebhooks(viaServer, keyId, { account: otherAccountId }), (error: Error & { code?: string }) => error.code === 'not_found');
      await assert.rejects(runKeyWebhooks(viaServer, keyId, { account: accountId, smsUrl: 'gopher://x' }), (error: Error & { code?: string }) => error.code === 'invalid_webhook_url');

      // The command itself, as `dialplane keys webhooks` runs it.
      const keys = new Command('keys').exitOverride();
      addKeyWebhooksCommand(keys, () => viaServer);
      const printed = await captureStdout(() =>
        keys.parseAsync(['webhooks', keyId, '--account', accountId, '--sms-url', url('cli-sms'), '--sms-secret', '', '--clear', 'call', '--json'], { from: 'user' }),
      );
      const result = JSON.parse(printed) as { call_webhook_url: string | null; sms_webhook_url: string; sms_webhook_secret: string | null };
      assert.deepEqual([result.call_webhook_url, result.sms_webhook_url, result.sms_webhook_secret], [null, url('cli-sms'), null]);
      const human = await captureStdout(() => keys.parseAsync(['webhooks', keyId, '--account', accountId], { from: 'user' }));
      assert.match(human, new RegExp(`sms +${url('cli-sms').replaceAll('/', '\\/')} \\(unsigned\\)`));

      if (dialect === 'sqlite') {
        // No server at this address: the command writes to the database itself.
        const viaDatabase = loadConfig(
          testEnv({
            DIALPLANE_HTTP_PORT: String(await freePort()),
            DIALPLANE_DATA_DIR: dataDir,
            DIALPLANE_DATABASE_URL: t.db.file!,
            // The same database, so the same secrets key as the test app's store.
            DIALPLANE_SECRETS_KEY: TEST_SECRETS_KEY,
          }),
        );
        const written = await runKeyWebhooks(viaDatabase, keyId, { account: accountId, legacyUrl: url('cli-legacy') });
        assert.equal(written.webhook_url, url('cli-legacy'));
        assert.equal(written.sms_webhook_url, url('cli-sms'));
        const rows = await t.services.webhooks.listEndpoints(accountId, `dialanyone:key:${keyId}:legacy`);
        assert.deepEqual(rows.map((r) => [r.url, r.format]), [[url('cli-legacy'), PLAIN_FORMAT]]);
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
      await adminApi('PUT', `/admin/v1/accounts/${accountId}/keys/${keyId}/webhooks`, { call_webhook_url: null, sms_webhook_url: null, webhook_url: null });
    }
    assert.equal((await t.services.webhooks.listEndpoints(accountId)).length, 0);
  });

  test('a revoked key\'s subscriptions and URLs receive nothing; enabling the key again restores them', async () => {
    const revocable = await t.services.keys.create(accountId, { name: 'revocable' });
    const subscribed = await api('POST', '/api/v1/webhooks/subscribe', revocable.token, {
      webhook_url: url('revoked-sub'),
      event_types: ['incoming_sms'],
    });
    assert.equal(subscribed.statusCode, 201);
    const event = () => t.services.webhooks.event(accountId, 'sms.received', { message_id: 'msg_x', from: '+14155550100', to: '+14155551234', body: 'hi' });
    const toRevocable = async () =>
      (await t.services.store.webhooks.listEndpoints(accountId)).filter((row) => row.url === url('revoked-sub') && row.status === 'enabled').length;
    assert.equal(await toRevocable(), 1);
    await t.services.keys.revoke(accountId, revocable.key.id);
    assert.equal(await toRevocable(), 0, 'disabled with the key');
    const before = await count('webhook_deliveries');
    await t.services.webhooks.emit(event());
    const written = (await t.services.webhooks.listDeliveries({ accountId, limit: 50 })).filter((d) => d.url === url('revoked-sub'));
    assert.equal(written.filter((d) => d.status === 'pending').length, 0, 'no delivery for the revoked key');
    await t.services.keys.setEnabled(accountId, revocable.key.id, true);
    assert.equal(await toRevocable(), 1, 'restored with the key');
    assert.ok((await count('webhook_deliveries')) >= before);
  });

  test('real events reach per-key URLs (plain) and subscriptions (envelope), signed so verify_webhook accepts them', async (tc) => {
    // An account of its own, so only this test's endpoints take its events.
    const { account } = await t.services.accounts.create({ name: 'Events', email: 'events@example.com' });
    const ours = '+14155550123';
    await t.services.numbers.add(account.id, { number: ours, type: 'purchased' });
    const { key, token: eventsToken } = await t.services.keys.create(account.id, { name: 'events' });
    const delivery = startWebhookDelivery(WEBHOOK_CONFIG, t.services, pino({ level: 'silent' }), { now: () => t.clock.nowMs() });
    tc.after(async () => {
      await delivery.close();
      t.services.webhooks.attach({
        notify: () => undefined,
        send: createHttpSender({ allowPrivate: true, connectTimeoutMs: 2_000, timeoutMs: 5_000 }),
      });
    });
    const set = await adminApi('PUT', `/admin/v1/accounts/${account.id}/keys/${key.id}/webhooks`, {
      call_webhook_url: url('key-call'),
      call_webhook_secret: 'call_secret_000000001',
      sms_webhook_url: url('key-sms'),
      sms_webhook_secret: 'sms_secret_0000000001',
      webhook_url: url('key-legacy'),
      webhook_secret: 'legacy_secret_0000001',
    });
    assert.equal(set.statusCode, 200);
    const subscribed = await api('POST', '/api/v1/webhooks/subscribe', eventsToken, { webhook_url: url('sub'), webhook_secret: SECRET });
    assert.equal(subscribed.json().subscription.test_delivery_status, 'success');
    receiver.requests.length = 0;
    const secrets: Record<string, string> = {
      '/hook/key-call': 'call_secret_000000001',
      '/hook/key-sms': 'sms_secret_0000000001',
      '/hook/key-legacy': 'legacy_secret_0000001',
      '/hook/sub': SECRET,
    };

    const message = await t.services.sms.onInbound({ from: '+14155555678', to: ours, text: 'Héllo ☎ from a handset', encoding: 'GSM-7', segments: 1 });
    assert.ok(message);
    // Another account's SMS and an outbound call are none of these endpoints' business.
    await t.services.sms.onInbound({ from: '+14155555678', to: '+14155550199', text: 'not yours', encoding: 'GSM-7', segments: 1 });
    await t.services.calls.create({ accountId: account.id, direction: 'outbound', from: ours, to: '+14155550100', ringTimeoutS: 30, maxDurationS: 60 });
    const call = await t.services.calls.create({ accountId: account.id, direction: 'inbound', from: '+14155555678', to: ours, ringTimeoutS: 0, maxDurationS: 3_600 });
    await t.services.calls.advance(call.id, 'ringing');
    await t.services.calls.advance(call.id, 'answered', { sipStatus: 200, sipReason: 'OK' });

    // SMS: the SMS URL, the legacy URL and the subscription; call: the call URL, the legacy URL and the subscription.
    await receiver.waitFor(6);
    await delivery.dispatcher.idle();
    assert.equal(receiver.requests.length, 6, receiver.requests.map((r) => r.path).join());
    const timestamp = message.createdAt.replace(/\.\d{3}Z$/, 'Z');
    const smsPlain = {
      event: 'incoming_sms',
      message_id: message.id,
      from: '+14155555678',
      to: ours,
      body: 'Héllo ☎ from a handset',
      timestamp,
    };
    const callPlain = { event: 'incoming_call', call_id: call.id, from: '+14155555678', to: ours, timestamp: call.createdAt.replace(/\.\d{3}Z$/, 'Z') };
    const received = (path: string) => receiver.requests.filter((r) => r.path === path).map((r) => ({ request: r, body: json(r) }));
    assert.deepEqual(received('/hook/key-sms').map((r) => r.body), [smsPlain]);
    assert.deepEqual(received('/hook/key-call').map((r) => r.body), [callPlain]);
    assert.deepEqual(
      received('/hook/key-legacy').map((r) => r.body).sort((a, b) => String(a.event).localeCompare(String(b.event))),
      [callPlain, smsPlain],
    );
    const envelopes = received('/hook/sub');
    assert.equal(envelopes.length, 2);
    for (const { request, body } of envelopes) {
      assert.deepEqual(Object.keys(body), ['event_type', 'event_id', 'timestamp', 'data']);
      assert.equal(body.event_id, request.headers['x-dialplane-event-id'], 'event_id is the event id');
      assert.deepEqual(body, {
        event_type: body.event_type,
        event_id: body.event_id,
        timestamp: (body.data as { timestamp: string }).timestamp,
        data: body.event_type === 'incoming_sms' ? smsPlain : callPlain,
      });
    }
    // The same event has one id across its endpoints.
    const smsEventIds = new Set(receiver.requests.filter((r) => json(r).event === 'incoming_sms' || json(r).event_type === 'incoming_sms').map((r) => r.headers['x-dialplane-event-id']));
    assert.equal(smsEventIds.size, 1);
    for (const request of receiver.requests) {
      const secret = secrets[request.path]!;
      assert.equal(documentVerifies(request.body, signature(request)!, secret), true, `verify_webhook accepts ${request.path}`);
    }
    // Nothing else was sent: the other account's SMS, the outbound call and the later call states are not theirs.
    await waitUntil('the dispatcher is idle', async () => (await delivery.dispatcher.idle(), true), 2_000);
    assert.equal(receiver.requests.length, 6);
  });
});
