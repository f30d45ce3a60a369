import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { buildApp } from '../../../src/api/app.js';
import { MemoryRateLimitStore } from '../../../src/api/rate-limit/memory-store.js';
import { RateLimiter } from '../../../src/api/rate-limit/rate-limiter.js';
import type { Services } from '../../../src/core/services.js';
import type { Telephony } from '../../../src/telephony.js';
import { ADMIN_TOKEN } from '../../helpers/app.js';
import { createCallingAccount, NO_TRUNK, startTestTelephony } from '../../helpers/telephony.js';

/**
 * POST /api/v1/calls refuses bad input in the face's error shape before anything is reserved or dialled: the
 * ledger and the calls table are unchanged, and no call leg exists. Reading calls back is confined to the account.
 */
let app: FastifyInstance;
let services: Services;
let telephony: Telephony;
let token: string;
let otherToken: string;
let closeDb: () => Promise<void>;
const rateStore = new MemoryRateLimitStore();

before(async () => {
  const account = await createCallingAccount('Calls API');
  services = account.services;
  closeDb = () => account.db.close();
  await services.credits.add(account.accountId, 100_000, 'test');
  token = (await services.keys.create(account.accountId, { name: 'calls' })).token;
  const other = await services.accounts.create({ name: 'Other', email: 'other-calls@example.com' });
  otherToken = (await services.keys.create(other.account.id, { name: 'other' })).token;
  telephony = await startTestTelephony(services, { rtpPorts: '46000-46499', trunk: NO_TRUNK });
  app = await buildApp({
    services,
    http: { bodyLimit: 4_096, trustProxy: false },
    rateLimiter: new RateLimiter(rateStore),
    logger: false,
    metrics: new Registry(),
    adminToken: ADMIN_TOKEN,
    ready: async () => undefined,
    calls: telephony.control,
  });
  await app.ready();
});
after(async () => {
  await app.close();
  await telephony.close();
  rateStore.close();
  await closeDb();
});

const post = (payload: unknown, bearer = token, contentType = 'application/json') =>
  app.inject({
    method: 'POST',
    url: '/api/v1/calls',
    headers: { authorization: `Bearer ${bearer}`, 'content-type': contentType },
    payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
  });

async function snapshot(accountId: string) {
  const [balance, calls] = await Promise.all([services.credits.balance(accountId), services.calls.list(accountId, 100)]);
  return { balance, calls: calls.length };
}

test('bad input is a 400 in the face shape naming the field; nothing reserved, nothing dialled', async () => {
  const me = await app.inject({ method: 'GET', url: '/api/v1/me', headers: { authorization: `Bearer ${token}` } });
  const accountId = (await services.keys.authenticate(token))!.accountId;
  assert.equal(me.statusCode, 200);
  const before = await snapshot(accountId);
  const cases: Array<[unknown, number, string, string | undefined]> = [
    [{}, 400, 'validation_failed', 'user_number'],
    [{ user_number: '+14155551234' }, 400, 'validation_failed', 'target_number'],
    [{ user_number: '4155551234', target_number: '+14155555678' }, 400, 'invalid_phone_number', 'user_number'],
    [{ user_number: '+14155551234', target_number: '(415) 555-5678' }, 400, 'invalid_phone_number', 'target_number'],
    [{ user_number: '+14155550000', target_number: '+14155555678' }, 400, 'validation_failed', 'user_number'],
    [{ user_number: 14155551234, target_number: '+14155555678' }, 400, 'validation_failed', 'user_number'],
    [{ user_number: '+14155551234', target_number: '+14155555678', extra: true }, 400, 'validation_failed', undefined],
    ['{"user_number": "+1415', 400, 'invalid_json', undefined],
    [{ user_number: '+14155551234', target_number: `+1${'4'.repeat(5_000)}` }, 413, 'payload_too_large', undefined],
  ];
  for (const [payload, status, code, field] of cases) {
    const response = await post(payload);
    const label = typeof payload === 'string' ? payload : JSON.stringify(payload).slice(0, 80);
    assert.equal(response.statusCode, status, label);
    const body = response.json() as { error: { code: string; message: string; details?: { field?: string } } };
    assert.equal(body.error.code, code, label);
    assert.equal(typeof body.error.message, 'string');
    if (field) assert.ok(body.error.details?.field === field || body.error.message.includes(field), `${label}: names ${field}`);
  }
  assert.deepEqual(await snapshot(accountId), before, 'nothing reserved, nothing stored, nothing dialled');
  assert.equal(telephony.engine.activeCalls, 0);
});

test('insufficient credits: 402 with the documented details and no call', async () => {
  const poor = await services.accounts.create({ name: 'Poor', email: 'poor@example.com' });
  await services.numbers.add(poor.account.id, { number: '+14155550777', type: 'purchased' });
  await services.credits.add(poor.account.id, 100, 'a little');
  const key = (await services.keys.create(poor.account.id, { name: 'poor' })).token;
  const response = await post({ user_number: '+14155550777', target_number: '+14155555678' }, key);
  assert.equal(response.statusCode, 402);
  assert.deepEqual(response.json(), {
    error: {
      code: 'insufficient_credits',
      message: 'Your account does not have enough credits to complete this operation',
      details: { required_credits: 10, current_balance: 1 },
    },
  });
  assert.equal((await services.calls.list(poor.account.id, 10)).length, 0);
  assert.equal(telephony.engine.activeCalls, 0);
});

test('a placed call is read back by its own account only, and hung up', async () => {
  const created = await post({ user_number: '+14155551234', target_number: '+14155555678' });
  assert.equal(created.statusCode, 201);
  const body = created.json() as Record<string, unknown>;
  assert.deepEqual(Object.keys(body), ['call_id', 'status', 'user_number', 'target_number', 'estimated_cost_per_minute', 'created_at']);
  assert.equal(body.status, 'initiating');
  assert.equal(body.estimated_cost_per_minute, 10);
  assert.match(String(body.created_at), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  const id = String(body.call_id);
  const mine = await app.inject({ method: 'GET', url: `/api/v1/calls/${id}`, headers: { authorization: `Bearer ${token}` } });
  assert.equal(mine.statusCode, 200);
  const theirs = await app.inject({ method: 'GET', url: `/api/v1/calls/${id}`, headers: { authorization: `Bearer ${otherToken}` } });
  assert.equal(theirs.statusCode, 404);
  assert.equal(theirs.json().error.code, 'not_found');
  const hangupTheirs = await app.inject({ method: 'POST', url: `/api/v1/calls/${id}/hangup`, headers: { authorization: `Bearer ${otherToken}` } });
  assert.equal(hangupTheirs.statusCode, 404);
  const listed = await app.inject({ method: 'GET', url: '/api/v1/calls', headers: { authorization: `Bearer ${token}` } });
  assert.deepEqual((listed.json().calls as Array<{ call_id: string }>).map((c) => c.call_id), [id]);
  // The trunk answers nothing: the user leg fails and the call ends without a charge.
  const hungUp = await app.inject({ method: 'POST', url: `/api/v1/calls/${id}/hangup`, headers: { authorization: `Bearer ${token}` } });
  assert.equal(hungUp.statusCode, 200);
  assert.equal(hungUp.json().legs.target, null);
});

test('the calls window: 100 requests a minute per key, with X-RateLimit-* headers; the 101st is 429', async () => {
  const limited = await services.accounts.create({ name: 'Limited', email: 'limited@example.com' });
  const key = (await services.keys.create(limited.account.id, { name: 'limited' })).token;
  let last;
  for (let i = 0; i < 100; i++) {
    last = await post({ user_number: 'not-a-number', target_number: '+14155555678' }, key);
    assert.equal(last.statusCode, 400);
  }
  assert.equal(last?.headers['x-ratelimit-limit'], '100');
  assert.equal(last?.headers['x-ratelimit-remaining'], '0');
  const refused = await post({ user_number: '+14155551234', target_number: '+14155555678' }, key);
  assert.equal(refused.statusCode, 429);
  assert.equal(refused.json().error.code, 'rate_limited');
  assert.ok(Number(refused.headers['retry-after']) > 0);
  assert.equal((await services.calls.list(limited.account.id, 10)).length, 0);
});
