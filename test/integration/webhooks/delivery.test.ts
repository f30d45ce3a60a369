import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, beforeEach, test, type TestContext } from 'node:test';
import pino from 'pino';
import { Registry } from 'prom-client';
import type { Config } from '../../../src/config/config.js';
import type { Clock } from '../../../src/core/clock.js';
import { createServices, type Services } from '../../../src/core/services.js';
import { VirtualTimers } from '../../../src/sip/transaction/timers.js';
import { createStore } from '../../../src/store/store.js';
import { startWebhookDelivery, type WebhookDelivery } from '../../../src/webhook-delivery.js';
import type { Connector, Resolver } from '../../../src/webhooks/guarded-request.js';
import { DIALANYONE_SIGNATURE_HEADER, verifyBody, verifyTimestamped } from '../../../src/webhooks/signer.js';
import { createTestDatabase, describeEachDialect, type TestDatabase } from '../../helpers/databases.js';
import { sleep, waitUntil } from '../../helpers/processes.js';
import { documentVerifies } from '../../helpers/verify-webhook.js';
import { startReceiver, type Answer, type ReceivedRequest, type WebhookReceiver } from '../../helpers/webhook-receiver.js';

const BASE = Date.parse('2026-03-01T12:00:00Z');
const SECRET = 'whsec_test_secret_0123456789abcdef';

const WEBHOOK_CONFIG: Config['webhooks'] = {
  allowPrivate: true,
  maxAttempts: 10,
  horizonS: 86_400,
  retryBaseMs: 30_000,
  retryMaxDelayMs: 7 * 3_600_000,
  connectTimeoutMs: 2_000,
  timeoutMs: 5_000,
  concurrency: 16,
  endpointConcurrency: 4,
  hookTimeoutMs: 5_000,
};

interface Harness {
  readonly services: Services;
  readonly delivery: WebhookDelivery;
  readonly timers: VirtualTimers<'webhook.wake'>;
  readonly accountId: string;
  /** The delivery's Prometheus metrics. */
  readonly metrics: Registry;
  close(): Promise<void>;
}

/**
 * The real outbox, dispatcher and sender over a real database, delivering to a real HTTP receiver; only time is
 * virtual: it moves when the test advances it, and random jitter is 0 so the schedule is the policy's upper bound.
 */
async function harness(
  db: TestDatabase,
  options: { config?: Partial<Config['webhooks']>; resolve?: Resolver; connect?: Connector } = {},
): Promise<Harness> {
  const timers = new VirtualTimers<'webhook.wake'>();
  const now = () => BASE + timers.now;
  const clock: Clock = { now: () => new Date(now()) };
  const services = createServices(createStore(db.database), { clock, defaultCountry: 'US', keyCacheTtlMs: 60_000 });
  const { account } = await services.accounts.create({ name: 'Hooks', email: `hooks-${Math.random()}@example.com` });
  const metrics = new Registry();
  const delivery = startWebhookDelivery({ ...WEBHOOK_CONFIG, ...options.config }, services, pino({ level: 'silent' }), {
    metrics,
    now,
    random: () => 0,
    timers,
    ...(options.resolve ? { resolve: options.resolve } : {}),
    ...(options.connect ? { connect: options.connect } : {}),
  });
  return {
    services,
    delivery,
    timers,
    accountId: account.id,
    metrics,
    close: () => delivery.close(),
  };
}

/** Lets the dispatcher finish what the last notification or timer started. */
async function settle(h: Harness): Promise<void> {
  for (let i = 0; i < 3; i++) {
    await sleep(20);
    await h.delivery.dispatcher.idle();
  }
}

function header(request: ReceivedRequest, name: string): string {
  const value = request.headers[name.toLowerCase()];
  assert.equal(typeof value, 'string', `${name} present`);
  return value as string;
}

await describeEachDialect('webhook delivery', (dialect) => {
  let receiver: WebhookReceiver;
  let answers: (index: number, request: ReceivedRequest) => Answer;

  before(async () => {
    receiver = await startReceiver((index, request) => answers(index, request));
  });
  after(async () => {
    await receiver.close();
  });
  beforeEach(async () => {
    answers = () => ({ status: 200 });
    receiver.requests.length = 0;
  });

  async function withHarness(
    t: TestContext,
    options: Parameters<typeof harness>[1] = {},
  ): Promise<Harness> {
    // A database of its own: the dispatcher delivers whatever is due in its outbox, whichever test wrote it.
    const db = await createTestDatabase(dialect);
    const h = await harness(db, options);
    t.after(async () => {
      await h.close();
      await db.close();
    });
    return h;
  }

  test('an event arrives signed: both signatures verify, the Python check included, and ids are stable', async (t) => {
    const h = await withHarness(t);
    const endpoint = await h.services.webhooks.createEndpoint(h.accountId, {
      url: receiver.url,
      secret: SECRET,
      signatureHeader: DIALANYONE_SIGNATURE_HEADER,
      eventTypes: ['call.*'],
    });
    assert.equal(endpoint.secret, SECRET, 'the secret is shown when created');
    const event = h.services.webhooks.event(h.accountId, 'call.answered', { call_id: 'call_1', note: 'héllo ☎' });
    assert.equal(await h.services.webhooks.emit(event), 1);
    // An event the endpoint did not ask for is not written.
    assert.equal(await h.services.webhooks.emit(h.services.webhooks.event(h.accountId, 'sms.delivered', {})), 0);
    await receiver.waitFor(1);
    await settle(h);

    const [request] = receiver.requests;
    assert.ok(request);
    assert.equal(request.method, 'POST');
    assert.equal(request.path, '/hook');
    assert.equal(header(request, 'content-type'), 'application/json');
    assert.equal(header(request, 'x-dialplane-event-id'), event.id);
    assert.equal(header(request, 'x-dialplane-event-type'), 'call.answered');
    assert.equal(header(request, 'x-dialplane-attempt'), '1');
    const body = JSON.parse(request.body.toString('utf8')) as Record<string, unknown>;
    assert.deepEqual(body, {
      id: event.id,
      type: 'call.answered',
      created_at: event.occurredAt,
      account_id: h.accountId,
      data: { call_id: 'call_1', note: 'héllo ☎' },
    });

    const plain = header(request, DIALANYONE_SIGNATURE_HEADER);
    assert.equal(plain, createHmac('sha256', SECRET).update(request.body).digest('hex'));
    assert.ok(verifyBody(request.body, plain, SECRET));
    assert.equal(documentVerifies(request.body, plain, SECRET), true, 'the document\'s Python verify_webhook accepts the delivery');
    assert.equal(documentVerifies(request.body, plain, 'another-secret-entirely'), false);
    const stamped = header(request, 'x-dialplane-signature');
    const nowSeconds = Math.floor((BASE + h.timers.now) / 1000);
    assert.deepEqual(verifyTimestamped(request.body, stamped, [SECRET], { nowSeconds }), { ok: true });

    const [logged] = await h.services.webhooks.listDeliveries({ accountId: h.accountId });
    assert.equal(logged?.status, 'delivered');
    assert.equal(logged?.attempts, 1);
    const detail = await h.services.webhooks.getDelivery(logged!.id);
    assert.equal(detail.payload, request.body.toString('utf8'), 'the log keeps the exact bytes sent');
    assert.equal(detail.attempts.length, 1);
    assert.equal(detail.attempts[0]?.statusCode, 200);
    assert.equal(detail.attempts[0]?.result, 'delivered');
  });

  test('a replayed delivery is rejected once it is older than 5 minutes, and a tampered body always', async (t) => {
    const h = await withHarness(t);
    await h.services.webhooks.createEndpoint(h.accountId, { url: receiver.url, secret: SECRET });
    await h.services.webhooks.emit(h.services.webhooks.event(h.accountId, 'call.ended', { call_id: 'call_2' }));
    await receiver.waitFor(1);
    const [request] = receiver.requests;
    const stamped = header(request!, 'x-dialplane-signature');
    const sentAt = Math.floor((BASE + h.timers.now) / 1000);
    // A receiver following the documented rule: accept within 300 s, reject a replay captured and sent later.
    assert.deepEqual(verifyTimestamped(request!.body, stamped, [SECRET], { nowSeconds: sentAt + 299 }), { ok: true });
    assert.deepEqual(verifyTimestamped(request!.body, stamped, [SECRET], { nowSeconds: sentAt + 301 }), {
      ok: false,
      reason: 'expired',
    });
    const tampered = Buffer.from(request!.body.toString('utf8').replace('call_2', 'call_3'));
    assert.deepEqual(verifyTimestamped(tampered, stamped, [SECRET], { nowSeconds: sentAt }), { ok: false, reason: 'mismatch' });
    // A retry is signed anew at its own time, so a late but genuine attempt is still accepted.
    await settle(h);
  });

  test('during a rotation both secrets sign; after it only the new one', async (t) => {
    const h = await withHarness(t);
    const endpoint = await h.services.webhooks.createEndpoint(h.accountId, { url: receiver.url, secret: SECRET });
    const rotated = await h.services.webhooks.rotateSecret(h.accountId, endpoint.id);
    assert.notEqual(rotated.secret, SECRET);
    assert.equal(rotated.rotating, true);
    await h.services.webhooks.emit(h.services.webhooks.event(h.accountId, 'call.ringing', {}));
    await receiver.waitFor(1);
    const nowSeconds = Math.floor((BASE + h.timers.now) / 1000);
    const first = receiver.requests[0]!;
    for (const secret of [SECRET, rotated.secret]) {
      assert.deepEqual(verifyTimestamped(first.body, header(first, 'x-dialplane-signature'), [secret], { nowSeconds }), { ok: true });
    }
    await h.services.webhooks.finishRotation(h.accountId, endpoint.id);
    await h.services.webhooks.emit(h.services.webhooks.event(h.accountId, 'call.ringing', {}));
    await receiver.waitFor(2);
    const second = receiver.requests[1]!;
    const stamped = header(second, 'x-dialplane-signature');
    assert.deepEqual(verifyTimestamped(second.body, stamped, [rotated.secret], { nowSeconds }), { ok: true });
    assert.deepEqual(verifyTimestamped(second.body, stamped, [SECRET], { nowSeconds }), { ok: false, reason: 'mismatch' });
    await settle(h);
  });

  test('the retry schedule is followed to the millisecond, with the same event id and a growing attempt number', async (t) => {
    const h = await withHarness(t, { config: { retryBaseMs: 30_000 } });
    answers = (index) => (index < 3 ? { status: index === 0 ? 500 : index === 1 ? 503 : 408 } : { status: 200 });
    await h.services.webhooks.createEndpoint(h.accountId, { url: receiver.url, secret: SECRET });
    const event = h.services.webhooks.event(h.accountId, 'call.ended', {});
    await h.services.webhooks.emit(event);
    await receiver.waitFor(1);
    await settle(h);

    // Un-jittered delays of the default policy: 30 s, then ×2.9 each time.
    const delays = [30_000, 87_000, 252_300];
    let elapsed = 0;
    for (const [i, delay] of delays.entries()) {
      h.timers.advance(delay - 1);
      await settle(h);
      assert.equal(receiver.requests.length, i + 1, `attempt ${i + 2} not before ${elapsed + delay} ms`);
      h.timers.advance(1);
      await receiver.waitFor(i + 2);
      await settle(h);
      elapsed += delay;
    }
    assert.deepEqual(
      receiver.requests.map((r) => [header(r, 'x-dialplane-event-id'), header(r, 'x-dialplane-attempt')]),
      [1, 2, 3, 4].map((n) => [event.id, String(n)]),
    );
    const [logged] = await h.services.webhooks.listDeliveries({ accountId: h.accountId });
    const detail = await h.services.webhooks.getDelivery(logged!.id);
    assert.equal(detail.delivery.status, 'delivered');
    assert.deepEqual(
      detail.attempts.map((a) => [a.statusCode, a.result, Date.parse(a.startedAt) - BASE]),
      [
        [500, 'retry', 0],
        [503, 'retry', 30_000],
        [408, 'retry', 117_000],
        [200, 'delivered', 369_300],
      ],
    );
  });

  test('connection errors are retried like 5xx', async (t) => {
    const closed = await startReceiver();
    const url = closed.url;
    await closed.close(); // nothing listens there now
    const h = await withHarness(t, { config: { retryBaseMs: 1_000 } });
    await h.services.webhooks.createEndpoint(h.accountId, { url, secret: SECRET });
    await h.services.webhooks.emit(h.services.webhooks.event(h.accountId, 'call.ended', {}));
    await settle(h);
    let [logged] = await h.services.webhooks.listDeliveries({ accountId: h.accountId });
    assert.equal(logged?.status, 'pending');
    assert.equal(logged?.attempts, 1);
    assert.match(logged?.lastError ?? '', /ECONNREFUSED/);
    assert.equal(Date.parse(logged!.nextAttemptAt!) - BASE, 1_000);
    h.timers.advance(1_000);
    await settle(h);
    [logged] = await h.services.webhooks.listDeliveries({ accountId: h.accountId });
    assert.equal(logged?.attempts, 2);
    assert.equal(Date.parse(logged!.nextAttemptAt!) - BASE, 1_000 + 2_900);
  });

  test('Retry-After on 429 is honoured instead of the backoff', async (t) => {
    const h = await withHarness(t);
    answers = (index) => (index === 0 ? { status: 429, headers: { 'retry-after': '120' } } : { status: 204 });
    await h.services.webhooks.createEndpoint(h.accountId, { url: receiver.url, secret: SECRET });
    await h.services.webhooks.emit(h.services.webhooks.event(h.accountId, 'call.ended', {}));
    await receiver.waitFor(1);
    await settle(h);
    h.timers.advance(119_999);
    await settle(h);
    assert.equal(receiver.requests.length, 1, 'not retried before Retry-After (the backoff alone would be 30 s)');
    h.timers.advance(1);
    await receiver.waitFor(2);
    await settle(h);
    const [logged] = await h.services.webhooks.listDeliveries({ accountId: h.accountId });
    assert.equal(logged?.status, 'delivered');
  });

  test('410 Gone disables the endpoint: its other pending deliveries are cancelled and no new ones are written', async (t) => {
    const h = await withHarness(t, { config: { endpointConcurrency: 1 } });
    answers = (index) => (index === 0 ? { status: 410 } : { status: 200 });
    const endpoint = await h.services.webhooks.createEndpoint(h.accountId, { url: receiver.url, secret: SECRET });
    const write = h.services.store.database.write.bind(h.services.store.database);
    // Three events in one transaction, so all three are pending before the first attempt.
    await write(async (trx) => {
      for (let i = 0; i < 3; i++) await h.services.webhooks.enqueue(trx, h.services.webhooks.event(h.accountId, 'call.ended', { i }));
    });
    h.services.webhooks.notify();
    await receiver.waitFor(1);
    await settle(h);
    assert.equal(receiver.requests.length, 1);
    assert.equal((await h.services.webhooks.getEndpoint(h.accountId, endpoint.id)).status, 'disabled');
    const deliveries = await h.services.webhooks.listDeliveries({ accountId: h.accountId });
    assert.deepEqual(deliveries.map((d) => d.status).sort(), ['cancelled', 'cancelled', 'failed']);
    assert.equal(deliveries.find((d) => d.status === 'failed')?.finalReason, 'endpoint_gone');
    assert.equal(await h.services.webhooks.emit(h.services.webhooks.event(h.accountId, 'call.ended', {})), 0);
    await h.services.webhooks.setEnabled(h.accountId, endpoint.id, true);
    assert.equal(await h.services.webhooks.emit(h.services.webhooks.event(h.accountId, 'call.ended', {})), 1);
    await receiver.waitFor(2);
    await settle(h);
  });

  test('other 4xx answers are final after one attempt', async (t) => {
    const h = await withHarness(t);
    answers = () => ({ status: 400 });
    await h.services.webhooks.createEndpoint(h.accountId, { url: receiver.url, secret: SECRET });
    await h.services.webhooks.emit(h.services.webhooks.event(h.accountId, 'call.ended', {}));
    await receiver.waitFor(1);
    await settle(h);
    h.timers.advance(3_600_000);
    await settle(h);
    assert.equal(receiver.requests.length, 1);
    const [logged] = await h.services.webhooks.listDeliveries({ accountId: h.accountId });
    assert.equal(logged?.status, 'failed');
    assert.equal(logged?.finalReason, 'non_retryable_status');
    assert.equal(logged?.lastStatusCode, 400);
  });

  test('attempts stop at the configured maximum', async (t) => {
    const h = await withHarness(t, { config: { maxAttempts: 3, retryBaseMs: 1_000 } });
    answers = () => ({ status: 500 });
    await h.services.webhooks.createEndpoint(h.accountId, { url: receiver.url, secret: SECRET });
    await h.services.webhooks.emit(h.services.webhooks.event(h.accountId, 'call.ended', {}));
    await receiver.waitFor(1);
    await settle(h);
    for (let i = 0; i < 5; i++) {
      h.timers.advance(10_000);
      await settle(h);
    }
    assert.equal(receiver.requests.length, 3);
    const [logged] = await h.services.webhooks.listDeliveries({ accountId: h.accountId });
    assert.equal(logged?.status, 'failed');
    assert.equal(logged?.finalReason, 'max_attempts');
  });

  test('one slow endpoint holds only its own share: the others are delivered meanwhile', async (t) => {
    const h = await withHarness(t, { config: { concurrency: 6, endpointConcurrency: 2 } });
    const fast = await startReceiver();
    t.after(() => fast.close());
    answers = () => 'hold';
    await h.services.webhooks.createEndpoint(h.accountId, { url: receiver.url, eventTypes: ['slow.event'] });
    await h.services.webhooks.createEndpoint(h.accountId, { url: fast.url, eventTypes: ['fast.event'] });
    for (let i = 0; i < 10; i++) await h.services.webhooks.emit(h.services.webhooks.event(h.accountId, 'slow.event', { i }));
    for (let i = 0; i < 10; i++) await h.services.webhooks.emit(h.services.webhooks.event(h.accountId, 'fast.event', { i }));
    await fast.waitFor(10);
    await waitUntil('the fast deliveries are recorded', () => h.delivery.dispatcher.inFlightCount === 2, 5_000);
    assert.equal(receiver.held(), 2, 'the slow receiver never has more than its cap in flight');
    // Release them one round at a time: never more than two at once.
    for (let round = 0; round < 5; round++) {
      await receiver.waitFor(2 * (round + 1));
      await sleep(30);
      assert.ok(receiver.held() <= 2);
      receiver.release(200);
    }
    await settle(h);
    assert.equal(receiver.requests.length, 10);
    const counts = await h.services.store.webhooks.countByStatus(h.accountId);
    assert.equal(counts.delivered, 20);
  });

  test('a backlog larger than every limit drains with no timer: each attempt that ends makes room for the next claim', async (t) => {
    // Virtual time never moves here, so a dispatcher that stopped claiming while deliveries were due (and waited for
    // its poll timer) would never deliver the rest.
    const h = await withHarness(t, { config: { concurrency: 6, endpointConcurrency: 4 } });
    const other = await startReceiver();
    t.after(() => other.close());
    await h.services.webhooks.createEndpoint(h.accountId, { url: receiver.url, eventTypes: ['one.event'] });
    await h.services.webhooks.createEndpoint(h.accountId, { url: other.url, eventTypes: ['two.event'] });
    const write = h.services.store.database.write.bind(h.services.store.database);
    await write(async (trx) => {
      for (let i = 0; i < 80; i++) {
        await h.services.webhooks.enqueue(trx, h.services.webhooks.event(h.accountId, i % 4 === 0 ? 'two.event' : 'one.event', { i }));
      }
    });
    h.services.webhooks.notify();
    await receiver.waitFor(60);
    await other.waitFor(20);
    await settle(h);
    const counts = await h.services.store.webhooks.countByStatus(h.accountId);
    assert.equal(counts.delivered, 80);
    assert.equal(receiver.requests.length + other.requests.length, 80, 'each delivered once');
  });

  test('with the guard on, a private target is refused before any connection and the delivery fails for good', async (t) => {
    const connects: string[] = [];
    const resolved: string[] = [];
    const h = await withHarness(t, {
      config: { allowPrivate: false },
      resolve: async (host) => {
        resolved.push(host);
        return host === 'hooks.internal.test' ? ['127.0.0.1'] : ['192.0.2.10'];
      },
      connect: async (address) => {
        connects.push(address);
        throw new Error('the recording connector never connects');
      },
    });
    const urls = [
      'http://127.0.0.1/hook',
      'http://10.0.0.1/hook',
      'http://192.168.1.1/hook',
      'http://169.254.169.254/latest/meta-data',
      'http://[::1]/hook',
      'http://[fd00::1]/hook',
      'http://hooks.internal.test/hook',
    ];
    for (const url of urls) await h.services.webhooks.createEndpoint(h.accountId, { url, eventTypes: ['guard.test'] });
    await h.services.webhooks.emit(h.services.webhooks.event(h.accountId, 'guard.test', {}));
    await settle(h);
    const deliveries = await h.services.webhooks.listDeliveries({ accountId: h.accountId });
    assert.equal(deliveries.length, urls.length);
    for (const delivery of deliveries) {
      assert.equal(delivery.status, 'failed', delivery.url);
      assert.equal(delivery.finalReason, 'target_refused', delivery.url);
      assert.equal(delivery.attempts, 1);
      assert.match(delivery.lastError ?? '', /not an allowed|refused|disallowed|loopback|private|metadata|ula/i);
    }
    assert.deepEqual(resolved, ['hooks.internal.test'], 'only the name was resolved');
    assert.deepEqual(connects, [], 'no connection was attempted');
  });

  test('a re-send is a new delivery of the same event and body; a test delivery reports its outcome', async (t) => {
    const h = await withHarness(t);
    await h.services.webhooks.createEndpoint(h.accountId, { url: receiver.url, secret: SECRET });
    const event = h.services.webhooks.event(h.accountId, 'call.ended', { call_id: 'call_9' });
    await h.services.webhooks.emit(event);
    await receiver.waitFor(1);
    await settle(h);
    const [original] = await h.services.webhooks.listDeliveries({ accountId: h.accountId });
    const again = await h.services.webhooks.resend(original!.id, h.accountId);
    assert.notEqual(again.id, original!.id);
    assert.equal(again.eventId, event.id);
    await receiver.waitFor(2);
    await settle(h);
    assert.deepEqual(receiver.requests[1]!.body, receiver.requests[0]!.body);
    assert.equal(header(receiver.requests[1]!, 'x-dialplane-event-id'), event.id);
    await assert.rejects(h.services.webhooks.resend(original!.id, 'acct_someone_else'), { code: 'not_found' });

    const attempts = async (result: string) =>
      (await h.metrics.getSingleMetric('dialplane_webhook_attempts_total')!.get()).values.find((v) => v.labels.result === result)?.value ?? 0;
    const [deliveredBefore, failedBefore] = [await attempts('delivered'), await attempts('failed')];
    answers = () => ({ status: 503 });
    const failed = await h.services.webhooks.testDelivery({ accountId: h.accountId, url: receiver.url, secret: SECRET });
    assert.equal(failed.delivered, false);
    assert.equal(failed.statusCode, 503);
    answers = () => ({ status: 200 });
    const okResult = await h.services.webhooks.testDelivery({ accountId: h.accountId, url: receiver.url, secret: SECRET });
    assert.equal(okResult.delivered, true);
    assert.equal(okResult.delivery.status, 'delivered');
    const last = receiver.requests.at(-1)!;
    assert.equal(header(last, 'x-dialplane-event-type'), 'webhook.test');
    // Issue 21: test deliveries are attempts too, in dialplane_webhook_attempts_total.
    assert.equal(await attempts('delivered'), deliveredBefore + 1);
    assert.equal(await attempts('failed'), failedBefore + 1);
    await settle(h);
    h.timers.advance(3_600_000);
    await settle(h);
    assert.equal(receiver.requests.length, 4, 'a failed test delivery is not retried');
  });

  test('call state changes write their events in the same transaction', async (t) => {
    const h = await withHarness(t);
    await h.services.webhooks.createEndpoint(h.accountId, { url: receiver.url, secret: SECRET, eventTypes: ['call.answered', 'call.ended'] });
    const call = await h.services.calls.create({
      accountId: h.accountId,
      direction: 'outbound',
      from: '+14155551234',
      to: '+14155550100',
      ringTimeoutS: 30,
      maxDurationS: 60,
      dialing: { trunk: 'dev' },
    });
    await h.services.calls.advance(call.id, 'answered', { sipStatus: 200, sipReason: 'OK' });
    await h.services.calls.end(call.id, { reason: 'remote_hangup' });
    // A step the state machine refuses writes no event.
    assert.equal(await h.services.calls.advance(call.id, 'ringing'), undefined);
    await receiver.waitFor(2);
    await settle(h);
    const bodies = receiver.requests.map((r) => JSON.parse(r.body.toString('utf8')) as { type: string; data: Record<string, unknown> });
    assert.deepEqual(bodies.map((b) => b.type).sort(), ['call.answered', 'call.ended']);
    const ended = bodies.find((b) => b.type === 'call.ended')!;
    assert.equal(ended.data.call_id, call.id);
    assert.equal(ended.data.outcome, 'completed');
    assert.equal(ended.data.hangup_cause, 'NORMAL_CLEARING');
  });

  test('a transaction that rolls back leaves no event behind', async (t) => {
    const h = await withHarness(t);
    await h.services.webhooks.createEndpoint(h.accountId, { url: receiver.url });
    await assert.rejects(
      h.services.store.database.write(async (trx) => {
        await h.services.webhooks.enqueue(trx, h.services.webhooks.event(h.accountId, 'call.ended', {}));
        throw new Error('the state change failed');
      }),
      /state change failed/,
    );
    h.services.webhooks.notify();
    await settle(h);
    assert.equal(receiver.requests.length, 0);
    assert.equal((await h.services.webhooks.listDeliveries({ accountId: h.accountId })).length, 0);
  });
});
