import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { windows } from '../../../src/api/faces/dialanyone/policy.js';
import type { SmsCarrierPort } from '../../../src/core/sms.js';
import { createTestApp, seedAccount, type TestApp } from '../../helpers/app.js';

/**
 * The document's SMS limit on POST /api/v1/sms: 1,000 a minute per key, inside the 10,000-an-hour total every
 * route of the face shares. The generic limiter (several windows, per IP, per key) is covered by
 * test/integration/api/rate-limit-http.test.ts and the hourly total of GET /api/v1/me by me.test.ts; this is the
 * face's own wiring of its SMS window. The limiter keeps its counters in memory, so SQLite is enough.
 */

const MINUTE = 60_000;
const HOUR = 3_600_000;

let t: TestApp;
let seed: Awaited<ReturnType<typeof seedAccount>>;
let submitted = 0;

/** Accepts every part at once, and counts them. */
const carrier: SmsCarrierPort = {
  async submit(message) {
    const smscIds = message.parts.map(() => `smsc-${++submitted}`);
    smscIds.forEach((id, index) => message.onPartAccepted?.(index, id));
    return { smscIds };
  },
};

before(async () => {
  t = await createTestApp('sqlite');
  seed = await seedAccount(t.services);
  t.services.sms.attachCarrier(carrier);
});
after(async () => {
  await t.services.sms.settled();
  await t.close();
});

const sms = (token: string) =>
  t.app.inject({
    method: 'POST',
    url: '/api/v1/sms',
    headers: { authorization: `Bearer ${token}` },
    payload: { from: '+14155551234', to: '+14155550100', body: 'rate limited?' },
  });
const me = (token: string) => t.app.inject({ method: 'GET', url: '/api/v1/me', headers: { authorization: `Bearer ${token}` } });

async function newKey(name: string): Promise<{ token: string; keyId: string }> {
  const { token, key } = await t.services.keys.create(seed.account.id, { name });
  return { token, keyId: key.id };
}

/** Spends `count` requests of a key's windows directly in the limiter, under the face's own counter. */
async function spend(keyId: string, count: number, routeWindows: Parameters<TestApp['rateLimiter']['consume']>[1]): Promise<void> {
  for (let i = 0; i < count; i++) await t.rateLimiter.consume(`dialanyone:${keyId}`, routeWindows);
}

function toNext(periodMs: number): void {
  t.clock.advance(periodMs - (t.clock.nowMs() % periodMs));
}

test('POST /api/v1/sms reports the 1,000-a-minute SMS window, reset on the minute', async () => {
  toNext(MINUTE);
  const { token } = await newKey('headers');
  const first = await sms(token);
  assert.equal(first.statusCode, 201, first.body);
  assert.equal(first.headers['x-ratelimit-limit'], '1000');
  assert.equal(first.headers['x-ratelimit-remaining'], '999');
  const reset = Number(first.headers['x-ratelimit-reset']);
  assert.equal(reset, t.clock.nowMs() / 1000 + 60, 'the minute window is aligned and resets at the next minute');
  assert.equal((await sms(token)).headers['x-ratelimit-remaining'], '998');
});

test('the 1,001st SMS request in a minute is 429 with Retry-After and sends, stores and charges nothing', async () => {
  toNext(HOUR);
  t.clock.advance(30_000);
  const { token, keyId } = await newKey('flood');
  assert.equal((await sms(token)).statusCode, 201);
  await spend(keyId, 998, [windows.sms, windows.total]);
  const last = await sms(token);
  assert.equal(last.statusCode, 201);
  assert.equal(last.headers['x-ratelimit-remaining'], '0');

  const balance = (await t.services.credits.balance(seed.account.id)).balanceMinor;
  const stored = (await t.services.sms.list(seed.account.id, 100)).length;
  const parts = submitted;
  const limited = await sms(token);
  assert.equal(limited.statusCode, 429);
  assert.deepEqual(limited.json(), {
    error: { code: 'rate_limited', message: 'Too many requests, please retry later', details: { retry_after_seconds: 30 } },
  });
  assert.equal(limited.headers['x-ratelimit-limit'], '1000');
  assert.equal(limited.headers['x-ratelimit-remaining'], '0');
  assert.equal(limited.headers['retry-after'], '30', 'until the minute window resets');
  assert.equal((await t.services.credits.balance(seed.account.id)).balanceMinor, balance, 'nothing charged');
  assert.equal((await t.services.sms.list(seed.account.id, 100)).length, stored, 'nothing stored');
  assert.equal(submitted, parts, 'nothing sent');

  const total = await me(token);
  assert.equal(total.statusCode, 200, 'other routes are not held back by the SMS window');
  assert.equal(total.headers['x-ratelimit-remaining'], String(10_000 - 1_000 - 1), 'the refused request consumed nothing of the total');
  assert.equal((await sms(seed.token)).statusCode, 201, 'another key of the same account has its own windows');

  t.clock.advance(30_000);
  const next = await sms(token);
  assert.equal(next.statusCode, 201, 'the next minute is open');
  assert.equal(next.headers['x-ratelimit-remaining'], '999');
});

test('SMS requests count in the hourly total; other requests do not count in the SMS window', async () => {
  toNext(HOUR);
  const { token } = await newKey('shared');
  for (let i = 0; i < 3; i++) assert.equal((await me(token)).statusCode, 200);
  const first = await sms(token);
  assert.equal(first.headers['x-ratelimit-remaining'], '999', 'three GET /me took nothing from the SMS window');
  assert.equal((await me(token)).headers['x-ratelimit-remaining'], String(10_000 - 5));
});

test('when the hourly total is the tighter window, it is reported and it refuses', async () => {
  toNext(HOUR);
  const { token, keyId } = await newKey('hourly');
  await spend(keyId, 9_999, [windows.total]);
  const last = await sms(token);
  assert.equal(last.statusCode, 201);
  assert.equal(last.headers['x-ratelimit-limit'], '10000');
  assert.equal(last.headers['x-ratelimit-remaining'], '0');
  const limited = await sms(token);
  assert.equal(limited.statusCode, 429);
  assert.equal(limited.headers['x-ratelimit-limit'], '10000');
  assert.equal(limited.headers['retry-after'], '3600');
  toNext(HOUR);
  assert.equal((await sms(token)).statusCode, 201, 'the next hour is open');
});

test('requests without a valid key are 401 and consume nothing', async () => {
  toNext(HOUR);
  const { token } = await newKey('untouched');
  const anonymous = await t.app.inject({ method: 'POST', url: '/api/v1/sms', payload: { from: '+14155551234', to: '+14155550100', body: 'x' } });
  assert.equal(anonymous.statusCode, 401);
  assert.equal(anonymous.headers['x-ratelimit-limit'], undefined);
  assert.equal((await sms(token)).headers['x-ratelimit-remaining'], '999');
});
