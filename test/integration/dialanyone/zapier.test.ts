import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePort, killHard, ok, runCli, spawnServe, testEnv, waitReady, waitUntil, type ServerProcess } from '../../helpers/processes.js';
import { startReceiver, type ReceivedRequest, type WebhookReceiver } from '../../helpers/webhook-receiver.js';

/**
 * The DialAnyone document's Zapier REST Hook trigger, its three functions exactly as printed, run against a real
 * `dialplane serve` (dev carrier, dev SMSC): subscribe, an inbound SMS and an inbound call arrive and parse into the
 * documented records, unsubscribe stops them. Only the base URL in the code is replaced.
 */
const ZAPIER_CODE = [
  "const subscribeHook = async (z, bundle) => {",
  "  const response = await z.request({",
  "    url: 'https://dialanyone.com/api/v1/webhooks/subscribe',",
  "    method: 'POST',",
  "    headers: {",
  "      'Authorization': `Bearer ${bundle.authData.api_key}`,",
  "      'Content-Type': 'application/json'",
  "    },",
  "    body: {",
  "      webhook_url: bundle.targetUrl,",
  "      event_types: ['incoming_call', 'incoming_sms']",
  "    }",
  "  });",
  "  ",
  "  return response.data;",
  "};",
  "",
  "const unsubscribeHook = async (z, bundle) => {",
  "  await z.request({",
  "    url: 'https://dialanyone.com/api/v1/webhooks/unsubscribe', ",
  "    method: 'DELETE',",
  "    headers: {",
  "      'Authorization': `Bearer ${bundle.authData.api_key}`,",
  "      'Content-Type': 'application/json'",
  "    },",
  "    body: {",
  "      webhook_url: bundle.targetUrl,",
  "      event_types: ['incoming_call', 'incoming_sms']",
  "    }",
  "  });",
  "  ",
  "  return {};",
  "};",
  "",
  "const parseWebhook = (z, bundle) => {",
  "  const webhook = bundle.cleanedRequest;",
  "  ",
  "  // Extract data based on event type",
  "  if (webhook.event_type === 'incoming_call') {",
  "    return [{",
  "      id: webhook.data.call_id,",
  "      caller: webhook.data.from,",
  "      called_number: webhook.data.to,",
  "      timestamp: webhook.timestamp,",
  "      event_type: 'call'",
  "    }];",
  "  }",
  "  ",
  "  if (webhook.event_type === 'incoming_sms') {",
  "    return [{",
  "      id: webhook.data.message_id,",
  "      from: webhook.data.from,",
  "      to: webhook.data.to,",
  "      message: webhook.data.body,",
  "      timestamp: webhook.timestamp,",
  "      event_type: 'sms'",
  "    }];",
  "  }",
  "  ",
  "  return [];",
  "};",
].join('\n');

interface ZapierRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  body?: unknown;
}
interface Bundle {
  authData?: { api_key: string };
  targetUrl?: string;
  cleanedRequest?: unknown;
}
interface Z {
  request(options: ZapierRequest): Promise<{ status: number; data: unknown }>;
}
interface ZapierFunctions {
  subscribeHook(z: Z, bundle: Bundle): Promise<unknown>;
  unsubscribeHook(z: Z, bundle: Bundle): Promise<unknown>;
  parseWebhook(z: Z, bundle: Bundle): Array<Record<string, unknown>>;
}

function zapierFunctions(apiBase: string): ZapierFunctions {
  const code = ZAPIER_CODE.replaceAll('https://dialanyone.com/api/v1', apiBase);
  return new Function(`${code}\nreturn { subscribeHook, unsubscribeHook, parseWebhook };`)() as ZapierFunctions;
}

const DOC_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const ADMIN = 'zapier-test-admin-token-0123456789';
const OUR_NUMBER = '+14155551234';

describe('the document\'s Zapier REST Hook trigger against a real server', () => {
  let dataDir: string;
  let base: string;
  let env: NodeJS.ProcessEnv;
  let server: ServerProcess | undefined;
  let receiver: WebhookReceiver;
  let apiKey: string;
  let accountId: string;
  let zapier: ZapierFunctions;
  const requests: Array<{ url: string; method: string; status: number }> = [];

  /** z.request as a Zapier app sees it: a JSON body sent, the JSON answer parsed. */
  const z: Z = {
    async request({ url, method, headers, body }) {
      const response = await fetch(url, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
      const text = await response.text();
      requests.push({ url, method, status: response.status });
      return { status: response.status, data: text === '' ? undefined : (JSON.parse(text) as unknown) };
    },
  };
  const bundle = (): Bundle => ({ authData: { api_key: apiKey }, targetUrl: `${receiver.url}/zap/hook_123` });
  const parsed = (request: ReceivedRequest) =>
    zapier.parseWebhook(z, { cleanedRequest: JSON.parse(request.body.toString('utf8')) as unknown });
  const zapRequests = () => receiver.requests.filter((r) => r.path === '/hook/zap/hook_123');
  const admin = async <T>(path: string): Promise<T> => {
    const response = await fetch(`${base}/admin/v1${path}`, { headers: { authorization: `Bearer ${ADMIN}` } });
    assert.equal(response.status, 200, path);
    return (await response.json()) as T;
  };

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'dialplane-zapier-'));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    env = testEnv({
      DIALPLANE_DATA_DIR: dataDir,
      DIALPLANE_HTTP_PORT: String(port),
      DIALPLANE_ADMIN_TOKEN: ADMIN,
      DIALPLANE_TRUNK_KEEPALIVE_S: '0',
      DIALPLANE_RTP_PORTS: '36000-36999',
    });
    receiver = await startReceiver();
    server = spawnServe(env);
    await waitReady(base, server);
    const bootstrap = JSON.parse(await readFile(join(dataDir, 'bootstrap.json'), 'utf8')) as { apiKey: string; accountId: string };
    apiKey = bootstrap.apiKey;
    accountId = bootstrap.accountId;
    zapier = zapierFunctions(`${base}/api/v1`);
  });
  after(async () => {
    await killHard(server);
    await receiver.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  test('subscribeHook subscribes the target URL and returns the documented answer; the test events parse', async () => {
    const data = (await zapier.subscribeHook(z, bundle())) as { subscription: { created_at: string } };
    assert.deepEqual(requests.at(-1), { url: `${base}/api/v1/webhooks/subscribe`, method: 'POST', status: 201 });
    assert.match(data.subscription.created_at, DOC_TIME);
    assert.deepEqual(data, {
      success: true,
      subscription: {
        webhook_url: bundle().targetUrl,
        event_types: ['incoming_call', 'incoming_sms'],
        created_at: data.subscription.created_at,
        test_delivery_status: 'success',
      },
      test_results: { call_test: { success: true }, sms_test: { success: true } },
    });
    // The subscription's test deliveries arrived before the answer and are records Zapier can show as samples.
    assert.equal(zapRequests().length, 2);
    const samples = zapRequests().flatMap(parsed);
    assert.deepEqual(samples.map((s) => s.event_type).sort(), ['call', 'sms']);
    for (const sample of samples) assert.match(String(sample.id), /^(call|msg)_test_/);

    const listed = await fetch(`${base}/api/v1/webhooks/subscriptions`, { headers: { authorization: `Bearer ${apiKey}` } });
    const listing = (await listed.json()) as { subscriptions: Record<string, unknown>; totals: Record<string, unknown> };
    assert.deepEqual(listing.subscriptions, {
      call_webhook_url: bundle().targetUrl,
      sms_webhook_url: bundle().targetUrl,
      call_webhook_secret: null,
      sms_webhook_secret: null,
    });
    assert.deepEqual(listing.totals, { total_subscriptions: 2, has_call_webhook: true, has_sms_webhook: true });
  });

  test('an inbound SMS and an inbound call arrive and parseWebhook turns them into the documented records', async () => {
    const before = zapRequests().length;
    ok(await runCli(env, ['dev', 'sms-in', '--from', '+14155555678', '--to', OUR_NUMBER, '--body', 'Hello from integration platform!', '--json']));
    const answered = ok<{ answered: boolean }>(
      await runCli(env, ['dev', 'call-in', '--from', '+14155550143', '--to', OUR_NUMBER, '--hold', '0.5', '--json']),
    );
    assert.equal(answered.answered, true);
    await waitUntil('both notifications', () => zapRequests().length >= before + 2, 15_000, server);
    const records = zapRequests().slice(before).flatMap(parsed);
    assert.equal(records.length, 2);

    const sms = records.find((r) => r.event_type === 'sms')!;
    const message = (await (
      await fetch(`${base}/api/v1/sms/${String(sms.id)}`, { headers: { authorization: `Bearer ${apiKey}` } })
    ).json()) as { message_id: string; direction: string; created_at: string };
    assert.equal(message.direction, 'inbound');
    assert.deepEqual(sms, {
      id: message.message_id,
      from: '+14155555678',
      to: OUR_NUMBER,
      message: 'Hello from integration platform!',
      timestamp: message.created_at,
      event_type: 'sms',
    });

    const call = records.find((r) => r.event_type === 'call')!;
    const stored = await admin<{ call: { id: string; direction: string; created_at: string } }>(
      `/accounts/${accountId}/calls/${String(call.id)}`,
    );
    assert.equal(stored.call.direction, 'inbound');
    assert.deepEqual(call, {
      id: stored.call.id,
      caller: '+14155550143',
      called_number: OUR_NUMBER,
      timestamp: stored.call.created_at.replace(/\.\d{3}Z$/, 'Z'),
      event_type: 'call',
    });
    // Nothing else reached the hook: later call states are not DialAnyone events.
    await waitUntil('the call has ended', async () => {
      const shown = await admin<{ call: { state: string } }>(`/accounts/${accountId}/calls/${String(call.id)}`);
      return shown.call.state === 'ended';
    }, 10_000, server);
    assert.equal(zapRequests().length, before + 2);
  });

  test('unsubscribeHook removes the subscription: later events are not sent to it', async () => {
    assert.deepEqual(await zapier.unsubscribeHook(z, bundle()), {});
    assert.deepEqual(requests.at(-1), { url: `${base}/api/v1/webhooks/unsubscribe`, method: 'DELETE', status: 200 });
    const listed = await fetch(`${base}/api/v1/webhooks/subscriptions`, { headers: { authorization: `Bearer ${apiKey}` } });
    const listing = (await listed.json()) as { totals: Record<string, unknown>; all_subscriptions: unknown[] };
    assert.deepEqual(listing.totals, { total_subscriptions: 0, has_call_webhook: false, has_sms_webhook: false });
    assert.deepEqual(listing.all_subscriptions, []);
    // Unsubscribing again finds nothing.
    await zapier.unsubscribeHook(z, bundle());
    assert.equal(requests.at(-1)!.status, 404);

    // A platform endpoint sees the next inbound SMS; the delivery log shows it was the only delivery of that event.
    ok(await runCli(env, ['webhooks', 'endpoints', 'add', `${receiver.url}/control`, '--events', 'sms.received', '--json']));
    const before = zapRequests().length;
    ok(await runCli(env, ['dev', 'sms-in', '--from', '+14155555678', '--to', OUR_NUMBER, '--body', 'after unsubscribing', '--json']));
    const control = () => receiver.requests.find((r) => r.path === '/hook/control');
    await waitUntil('the control delivery', () => control() !== undefined, 15_000, server);
    const eventId = String(control()!.headers['x-dialplane-event-id']);
    const log = await admin<{ deliveries: Array<{ url: string }> }>(`/webhooks/deliveries?event_id=${encodeURIComponent(eventId)}`);
    assert.deepEqual(log.deliveries.map((d) => d.url), [`${receiver.url}/control`]);
    assert.equal(zapRequests().length, before);
  });
});
