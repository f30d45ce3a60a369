import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { buildApp } from '../../../src/api/app.js';
import { MemoryRateLimitStore } from '../../../src/api/rate-limit/memory-store.js';
import { RateLimiter } from '../../../src/api/rate-limit/rate-limiter.js';
import type { Services } from '../../../src/core/services.js';
import { ADMIN_TOKEN } from '../../helpers/app.js';
import { waitUntil } from '../../helpers/processes.js';
import { CALLER_NUMBER, createCallingAccount, startTestTelephony, type TestTelephony } from '../../helpers/telephony.js';

/**
 * GET /api/v1/calls shows every call of the account truthfully, not only those placed through POST /api/v1/calls:
 * a call placed by another API (here call control directly, as `dialplane call` does) and an inbound one show their
 * own numbers, their status and their price.
 */
let app: FastifyInstance;
let services: Services;
let accountId: string;
let telephony: TestTelephony;
let token: string;
let closeDb: () => Promise<void>;
const rateStore = new MemoryRateLimitStore();

before(async () => {
  const account = await createCallingAccount('Call list');
  ({ services, accountId } = account);
  closeDb = () => account.db.close();
  token = (await services.keys.create(accountId, { name: 'list' })).token;
  telephony = await startTestTelephony(services, { rtpPorts: '51600-51799', trunk: 'dev' });
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

async function listed(callId: string): Promise<Record<string, unknown>> {
  const response = await app.inject({ method: 'GET', url: '/api/v1/calls', headers: { authorization: `Bearer ${token}` } });
  assert.equal(response.statusCode, 200);
  const call = (response.json() as { calls: Array<Record<string, unknown>> }).calls.find((c) => c.call_id === callId);
  assert.ok(call, `${callId} is listed`);
  return call;
}

test('a call placed outside POST /calls is listed with its numbers, its status and its price', async () => {
  const call = await telephony.control.start(accountId, { from: CALLER_NUMBER, to: [{ type: 'phone', number: '+14155550100' }] });
  await waitUntil('answered', async () => (await services.calls.get(accountId, call.id)).state === 'answered', 10_000);
  const live = await listed(call.id);
  assert.equal(live.status, 'in_progress');
  assert.equal(live.user_number, CALLER_NUMBER);
  assert.equal(live.target_number, '+14155550100');
  assert.equal(live.estimated_cost_per_minute, 5);
  assert.equal(live.cost, null);
  await telephony.control.hangup(accountId, call.id);
  const done = await listed(call.id);
  assert.equal(done.status, 'completed');
  assert.equal(done.cost, 5);
});

test('an inbound call is listed with its caller, the number called, its status and its price', async () => {
  const result = await telephony.devCarrier!.callIn(telephony.sipEndpoint, { from: '+14155550111', to: CALLER_NUMBER, holdMs: 300 });
  assert.equal(result.answered, true);
  let callId = '';
  await waitUntil('the inbound call ended', async () => {
    const inbound = (await services.calls.list(accountId, 10)).find((c) => c.direction === 'inbound');
    callId = inbound?.id ?? '';
    // Over and settled: the view shows a cost once every leg has ended and the charge is captured.
    return inbound !== undefined && (await telephony.control.view(accountId, inbound.id)).costMinor !== null;
  }, 10_000);
  const call = await listed(callId);
  assert.equal(call.status, 'completed');
  assert.equal(call.user_number, '+14155550111');
  assert.equal(call.target_number, CALLER_NUMBER);
  assert.equal(call.estimated_cost_per_minute, 5);
  assert.equal(call.cost, 5);
});

test('issue 21: GET /api/v1/calls/ with a trailing slash is the list, not a call with an empty id', async () => {
  const headers = { authorization: `Bearer ${token}` };
  const withSlash = await app.inject({ method: 'GET', url: '/api/v1/calls/', headers });
  assert.equal(withSlash.statusCode, 200, withSlash.body);
  const without = await app.inject({ method: 'GET', url: '/api/v1/calls', headers });
  assert.deepEqual(withSlash.json(), without.json());
});
