import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import pino from 'pino';
import type { Config } from '../../../src/config/config.js';
import { systemClock } from '../../../src/core/clock.js';
import { createServices, type Services } from '../../../src/core/services.js';
import { createStore } from '../../../src/store/store.js';
import { startWebhookDelivery, type WebhookDelivery } from '../../../src/webhook-delivery.js';
import type { Resolver } from '../../../src/webhooks/guarded-request.js';
import { createTestDatabase } from '../../helpers/databases.js';
import { waitUntil } from '../../helpers/processes.js';
import { startReceiver, type WebhookReceiver } from '../../helpers/webhook-receiver.js';

/**
 * Deliveries keep their connections: the real outbox, dispatcher and sender over SQLite, delivering to real HTTP
 * receivers on loopback. The receivers count the TCP connections they accept.
 */

const WEBHOOK_CONFIG: Config['webhooks'] = {
  allowPrivate: true,
  maxAttempts: 10,
  horizonS: 86_400,
  retryBaseMs: 200,
  retryMaxDelayMs: 1_000,
  connectTimeoutMs: 2_000,
  timeoutMs: 5_000,
  concurrency: 16,
  endpointConcurrency: 4,
  hookTimeoutMs: 5_000,
};

interface Harness {
  readonly services: Services;
  readonly delivery: WebhookDelivery;
  readonly accountId: string;
}

async function harness(t: TestContext, resolve?: Resolver): Promise<Harness> {
  const db = await createTestDatabase('sqlite');
  const services = createServices(createStore(db.database), { clock: systemClock, defaultCountry: 'US', keyCacheTtlMs: 60_000 });
  const { account } = await services.accounts.create({ name: 'Kept', email: `kept-${Math.random()}@example.com` });
  const delivery = startWebhookDelivery(WEBHOOK_CONFIG, services, pino({ level: 'silent' }), resolve ? { resolve } : {});
  t.after(async () => {
    await delivery.close();
    await db.close();
  });
  return { services, delivery, accountId: account.id };
}

async function emit(h: Harness, count: number, from = 0): Promise<void> {
  for (let i = from; i < from + count; i++) {
    await h.services.webhooks.emit(h.services.webhooks.event(h.accountId, 'call.answered', { call_id: `call_${i}` }));
  }
}

function received(receiver: WebhookReceiver): string[] {
  return receiver.requests.map((r) => (JSON.parse(r.body.toString('utf8')) as { data: { call_id: string } }).data.call_id);
}

test('300 deliveries to one receiver go over at most as many connections as requests a target may have in flight', async (t) => {
  const receiver = await startReceiver();
  t.after(() => receiver.close());
  const h = await harness(t);
  await h.services.webhooks.createEndpoint(h.accountId, { url: receiver.url, eventTypes: ['call.*'] });
  await emit(h, 300);
  await receiver.waitFor(300, 20_000);
  await h.delivery.dispatcher.idle();
  t.diagnostic(`300 deliveries over ${receiver.connections()} connections`);
  assert.equal(new Set(received(receiver)).size, 300, 'every event arrived');
  assert.ok(receiver.connections() <= WEBHOOK_CONFIG.endpointConcurrency, `${receiver.connections()} connections`);
});

test('a receiver that closes idle connections loses nothing: the next delivery opens a new one', async (t) => {
  const receiver = await startReceiver();
  t.after(() => receiver.close());
  const h = await harness(t);
  await h.services.webhooks.createEndpoint(h.accountId, { url: receiver.url, eventTypes: ['call.*'] });
  await emit(h, 20);
  await receiver.waitFor(20);
  // The receiver's keep-alive timeout is 1 s: every kept connection is closed by it meanwhile.
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  const before = receiver.connections();
  await emit(h, 20, 20);
  await waitUntil('the second batch arrived', () => new Set(received(receiver)).size === 40, 10_000);
  assert.ok(receiver.connections() > before, 'new connections were opened');
});

test('when the host name resolves elsewhere, the next delivery connects to the newly checked address only', async (t) => {
  const first = await startReceiver(undefined, 0, '127.0.0.1');
  t.after(() => first.close());
  const second = await startReceiver(undefined, first.port, '127.0.0.2');
  t.after(() => second.close());
  let answer = '127.0.0.1';
  const resolved: string[] = [];
  const h = await harness(t, async (host) => {
    resolved.push(host);
    return [answer];
  });
  await h.services.webhooks.createEndpoint(h.accountId, { url: `http://hooks.example.test:${first.port}/hook`, eventTypes: ['call.*'] });
  await emit(h, 10);
  await first.waitFor(10);
  await h.delivery.dispatcher.idle();
  answer = '127.0.0.2';
  await emit(h, 10, 10);
  await second.waitFor(10);
  await h.delivery.dispatcher.idle();
  assert.deepEqual(received(first).sort(), Array.from({ length: 10 }, (_, i) => `call_${i}`).sort());
  assert.deepEqual(received(second).sort(), Array.from({ length: 10 }, (_, i) => `call_${i + 10}`).sort());
  assert.equal(resolved.length, 20, 'the name is resolved and checked for every delivery');
  assert.equal(second.requests[0]?.headers.host, `hooks.example.test:${first.port}`, 'the Host header names the URL host');
});

test('a kept connection is never used for an address the guard refuses', async (t) => {
  const receiver = await startReceiver();
  t.after(() => receiver.close());
  let answer = '127.0.0.1';
  const h = await harness(t, async () => [answer]);
  await h.services.webhooks.createEndpoint(h.accountId, { url: `http://rebind.example.test:${receiver.port}/hook`, eventTypes: ['call.*'] });
  await emit(h, 5);
  await receiver.waitFor(5);
  await h.delivery.dispatcher.idle();
  // The same name now answers a metadata address: refused before any request, although a connection is kept.
  answer = '169.254.169.254';
  await emit(h, 1, 5);
  await waitUntil('the refused delivery failed', async () => (await h.services.store.webhooks.countByStatus())['failed'] === 1, 10_000);
  assert.equal(receiver.requests.length, 5, 'nothing more reached the receiver');
});
