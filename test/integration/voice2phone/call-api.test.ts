import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { Registry } from 'prom-client';
import { buildApp } from '../../../src/api/app.js';
import { MESSAGE_MAX_CHARS } from '../../../src/api/faces/voice2phone/call-routes.js';
import { MemoryRateLimitStore } from '../../../src/api/rate-limit/memory-store.js';
import { RateLimiter } from '../../../src/api/rate-limit/rate-limiter.js';
import type { Services } from '../../../src/core/services.js';
import type { Telephony } from '../../../src/telephony.js';
import { ADMIN_TOKEN } from '../../helpers/app.js';
import { createCallingAccount, NO_TRUNK, startTestTelephony } from '../../helpers/telephony.js';

/**
 * The Voice2Phone face over HTTP (inject): HTTPS only, the document's body as written (bare keys, any letter case),
 * Basic or bare-key auth, and every documented error as a JSON body. Requests count as HTTPS through a trusted proxy's
 * X-Forwarded-Proto here; test/integration/voice2phone/https-server.test.ts runs the real TLS listener with curl.
 */
let app: FastifyInstance;
let untrusting: FastifyInstance;
let services: Services;
let telephony: Telephony;
let accountId: string;
let token: string;
let otherToken: string;
let closeDb: () => Promise<void>;
const rateStore = new MemoryRateLimitStore();

/** The document's own body, character for character: its keys Phone, Message and Dtmf are not quoted. */
const DOCUMENT_BODY = `{
    Phone:
    {
        "Number":"4252337837",
        "CountryCode":"US"
    },
    Message: "Please press one",
    
    Dtmf:
    {
        "1"     : "Thank you"
    }
}`;

const basic = (key: string) => `Basic ${Buffer.from(`${key}:`).toString('base64')}`;

async function appWith(trustProxy: boolean): Promise<FastifyInstance> {
  const built = await buildApp({
    services,
    http: { bodyLimit: 16_384, trustProxy },
    rateLimiter: new RateLimiter(rateStore),
    logger: false,
    metrics: new Registry(),
    adminToken: ADMIN_TOKEN,
    ready: async () => undefined,
    calls: telephony.control,
  });
  await built.ready();
  return built;
}

before(async () => {
  const account = await createCallingAccount('Voice2Phone API');
  services = account.services;
  accountId = account.accountId;
  closeDb = () => account.db.close();
  token = (await services.keys.create(accountId, { name: 'v2p' })).token;
  const other = await services.accounts.create({ name: 'Other', email: 'other-v2p@example.com' });
  await services.numbers.add(other.account.id, { number: '+14155550111', type: 'purchased' });
  await services.credits.add(other.account.id, 10_000, 'test');
  otherToken = (await services.keys.create(other.account.id, { name: 'other' })).token;
  telephony = await startTestTelephony(services, { rtpPorts: '46500-46999', trunk: NO_TRUNK });
  app = await appWith(true);
  untrusting = await appWith(false);
});
after(async () => {
  await app.close();
  await untrusting.close();
  // Calls to the silent trunk are still trying: end them before the engine stops.
  for (const call of await services.calls.list(accountId, 100)) await telephony.control.hangup(accountId, call.id).catch(() => undefined);
  await telephony.close();
  rateStore.close();
  await closeDb();
});

function send(options: {
  method?: 'GET' | 'POST';
  url?: string;
  body?: string | object;
  auth?: string | null;
  https?: boolean;
  contentType?: string;
  on?: FastifyInstance;
}) {
  const headers: Record<string, string> = {};
  if (options.auth !== null) headers.authorization = options.auth ?? basic(token);
  if (options.https ?? true) headers['x-forwarded-proto'] = 'https';
  const request: InjectOptions = { method: options.method ?? 'POST', url: options.url ?? '/voice2phone/call', headers };
  if (options.body !== undefined) {
    headers['content-type'] = options.contentType ?? 'application/json';
    request.payload = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  }
  return (options.on ?? app).inject(request);
}

const valid = { Phone: { Number: '4252337837', CountryCode: 'US' }, Message: 'Please press one', Dtmf: { '1': 'Thank you' } };

test('plain HTTP is refused with a JSON error before anything else, also from a proxy that is not trusted', async () => {
  for (const [label, response] of [
    ['plain', await send({ body: DOCUMENT_BODY, https: false })],
    ['plain without a key', await send({ body: DOCUMENT_BODY, https: false, auth: null })],
    ['plain GET', await send({ method: 'GET', url: '/voice2phone/call/call_x', https: false })],
    ['untrusted X-Forwarded-Proto', await send({ body: DOCUMENT_BODY, on: untrusting })],
  ] as const) {
    assert.equal(response.statusCode, 403, label);
    assert.match(String(response.headers['content-type']), /application\/json/, label);
    const body = response.json() as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'https_required', label);
    assert.match(body.error.message, /HTTPS only/, label);
  }
  assert.equal((await services.calls.list(accountId, 100)).length, 0, 'nothing was placed');
  // The other faces still answer plain HTTP.
  const me = await app.inject({ method: 'GET', url: '/api/v1/me', headers: { authorization: `Bearer ${token}` } });
  assert.equal(me.statusCode, 200);
});

test("the document's body as written (unquoted keys) places a call; GET reads it back in the document's shape", async () => {
  const created = await send({ body: DOCUMENT_BODY });
  assert.equal(created.statusCode, 200, created.body);
  const { CallId } = created.json() as { CallId: string };
  assert.deepEqual(Object.keys(created.json()), ['CallId']);
  const call = await services.calls.get(accountId, CallId);
  assert.equal(call.to, '+14252337837', 'a US local number, read with CountryCode');
  assert.equal(call.from, '+14155551234', "the account's oldest voice number");
  const status = await send({ method: 'GET', url: `/voice2phone/call/${CallId}` });
  assert.equal(status.statusCode, 200);
  const body = status.json() as Record<string, unknown>;
  assert.deepEqual(Object.keys(body), ['CallId', 'Status', 'CreatedDateUtc', 'UpdatedDateUtc', 'Dtmf']);
  assert.equal(body.CallId, CallId);
  assert.ok([0, 1, 6].includes(body.Status as number), `not answered (${String(body.Status)})`);
  assert.match(String(body.CreatedDateUtc), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}$/);
  assert.match(String(body.UpdatedDateUtc), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}$/);
  assert.ok(String(body.UpdatedDateUtc) >= String(body.CreatedDateUtc));
  assert.equal(body.Dtmf, null);
});

test('keys in any letter case, an international number, the bare key in Authorization, any Content-Type', async () => {
  const cases = [
    { body: { phone: { NUMBER: '+44 20 7946 0958', countrycode: 'us' }, MESSAGE: 'Hello', dtmf: { '#': 'Bye', '*': 'Star' } }, to: '+442079460958' },
    { body: '{ phone: { number: "(425) 233-7838", countryCode: "US", }, message: "Hi", }', to: '+14252337838' },
    { body: { Phone: { Number: '0527121102', CountryCode: 'IL' }, Message: 'Shalom', Dtmf: null }, to: '+972527121102' },
  ];
  for (const { body, to } of cases) {
    const response = await send({ body, auth: token, contentType: 'text/plain' });
    assert.equal(response.statusCode, 200, response.body);
    const call = await services.calls.get(accountId, (response.json() as { CallId: string }).CallId);
    assert.equal(call.to, to);
  }
});

test('bodies that are not JSON, wrong types and values out of range: 400 naming the field, nothing placed', async () => {
  const before = (await services.calls.list(accountId, 100)).length;
  const phone = valid.Phone;
  const cases: Array<[string | object, string, string | undefined]> = [
    ['Phone=4252337837&Message=hi', 'invalid_json', undefined],
    ['{ Phone: { "Number": "4252337837" ', 'invalid_json', undefined],
    ['', 'invalid_json', undefined],
    ['[1, 2]', 'validation_failed', undefined],
    [{ Message: 'hi' }, 'validation_failed', 'Phone'],
    [{ Phone: phone }, 'validation_failed', 'Message'],
    [{ Phone: { CountryCode: 'US' }, Message: 'hi' }, 'validation_failed', 'Phone.Number'],
    [{ Phone: { Number: 4252337837, CountryCode: 'US' }, Message: 'hi' }, 'validation_failed', 'Phone.Number'],
    [{ Phone: { Number: '4252337837', CountryCode: 1 }, Message: 'hi' }, 'validation_failed', 'Phone.CountryCode'],
    [{ Phone: { Number: '4252337837', CountryCode: 'USA' }, Message: 'hi' }, 'validation_failed', 'Phone.CountryCode'],
    [{ Phone: { Number: '4252337837', CountryCode: 'XX' }, Message: 'hi' }, 'validation_failed', 'Phone.CountryCode'],
    [{ Phone: { Number: '12', CountryCode: 'US' }, Message: 'hi' }, 'invalid_phone_number', 'Phone.Number'],
    [{ Phone: phone, Message: 42 }, 'validation_failed', 'Message'],
    [{ Phone: phone, Message: '   ' }, 'validation_failed', 'Message'],
    [{ Phone: phone, Message: 'x'.repeat(MESSAGE_MAX_CHARS + 1) }, 'validation_failed', 'Message'],
    [{ Phone: phone, Message: 'hi', Dtmf: ['Thank you'] }, 'validation_failed', 'Dtmf'],
    [{ Phone: phone, Message: 'hi', Dtmf: { '12': 'no' } }, 'validation_failed', 'Dtmf'],
    [{ Phone: phone, Message: 'hi', Dtmf: { '1': 1 } }, 'validation_failed', 'Dtmf.1'],
    [{ Phone: phone, Message: 'hi', Dtmf: { '1': 'x'.repeat(MESSAGE_MAX_CHARS + 1) } }, 'validation_failed', 'Dtmf.1'],
    [{ Phone: phone, Message: 'hi', message: 'twice' }, 'validation_failed', 'Message'],
    [{ Phone: phone, Message: 'hi', Callback: 'https://example.com' }, 'validation_failed', 'Callback'],
  ];
  for (const [body, code, field] of cases) {
    const response = await send({ body });
    const label = typeof body === 'string' ? body.slice(0, 60) : JSON.stringify(body).slice(0, 80);
    assert.equal(response.statusCode, 400, label);
    assert.match(String(response.headers['content-type']), /application\/json/, label);
    const error = (response.json() as { error: { code: string; message: string; details?: { field?: string } } }).error;
    assert.equal(error.code, code, `${label}: ${error.message}`);
    if (field) assert.ok(error.details?.field === field || error.message.includes(field), `${label}: names ${field} (${error.message})`);
  }
  assert.equal((await services.calls.list(accountId, 100)).length, before);
  assert.equal(MESSAGE_MAX_CHARS, 1_000, 'the limit docs/voice2phone.md states');
  const longest = await send({ body: { Phone: phone, Message: 'x'.repeat(MESSAGE_MAX_CHARS) } });
  assert.equal(longest.statusCode, 200, 'a message of exactly the limit is taken');
});

test('401 without a key or with a wrong one; Basic with the key as user name works with or without a password', async () => {
  for (const auth of [null, 'Basic ' + Buffer.from(':').toString('base64'), basic('dk_live_wrong'), 'Bearer ' + token]) {
    const response = await send({ body: valid, auth });
    assert.equal(response.statusCode, 401, String(auth));
    assert.match((response.json() as { error: { code: string } }).error.code, /missing_credentials|invalid_credentials/);
  }
  const withPassword = await send({ body: valid, auth: `Basic ${Buffer.from(`${token}:ignored`).toString('base64')}` });
  assert.equal(withPassword.statusCode, 200);
});

test("402 when the balance cannot cover the call's first minute, or the account has no number to call from", async () => {
  const poor = await services.accounts.create({ name: 'Poor', email: 'poor-v2p@example.com' });
  await services.numbers.add(poor.account.id, { number: '+14155550778', type: 'purchased' });
  await services.credits.add(poor.account.id, 100, 'a little');
  const poorKey = (await services.keys.create(poor.account.id, { name: 'poor' })).token;
  const refused = await send({ body: valid, auth: basic(poorKey) });
  assert.equal(refused.statusCode, 402);
  assert.equal((refused.json() as { error: { code: string } }).error.code, 'insufficient_credits');
  const silent = await services.accounts.create({ name: 'No number', email: 'none-v2p@example.com' });
  await services.credits.add(silent.account.id, 10_000, 'rich');
  const silentKey = (await services.keys.create(silent.account.id, { name: 'none' })).token;
  const noNumber = await send({ body: valid, auth: basic(silentKey) });
  assert.equal(noNumber.statusCode, 402);
  assert.equal((noNumber.json() as { error: { code: string } }).error.code, 'no_caller_id');
  assert.equal((await services.calls.list(poor.account.id, 10)).length, 0);
  assert.equal((await services.calls.list(silent.account.id, 10)).length, 0);
});

test("404 for an unknown call and for another account's", async () => {
  const created = await send({ body: valid });
  const { CallId } = created.json() as { CallId: string };
  for (const [url, auth] of [
    ['/voice2phone/call/call_doesnotexist000000', basic(token)],
    ['/voice2phone/call/54b16dd7-8e68-4a2a-973d-063e39a6998c', basic(token)],
    [`/voice2phone/call/${CallId}`, basic(otherToken)],
  ] as const) {
    const response = await send({ method: 'GET', url, auth });
    assert.equal(response.statusCode, 404, url);
    assert.equal((response.json() as { error: { code: string } }).error.code, 'not_found');
  }
  const unknownRoute = await send({ method: 'GET', url: '/voice2phone/calls' });
  assert.equal(unknownRoute.statusCode, 404);
  assert.equal((unknownRoute.json() as { error: { code: string } }).error.code, 'route_not_found');
});

test('429 past 100 calls a minute per key, with Retry-After; nothing placed', async () => {
  const limited = await services.accounts.create({ name: 'Limited', email: 'limited-v2p@example.com' });
  const key = (await services.keys.create(limited.account.id, { name: 'limited' })).token;
  let last;
  for (let i = 0; i < 100; i++) {
    last = await send({ body: { Phone: { Number: 'nope', CountryCode: 'US' }, Message: 'hi' }, auth: basic(key) });
    assert.equal(last.statusCode, 400);
  }
  assert.equal(last?.headers['x-ratelimit-remaining'], '0');
  const refused = await send({ body: valid, auth: basic(key) });
  assert.equal(refused.statusCode, 429);
  assert.equal((refused.json() as { error: { code: string } }).error.code, 'rate_limited');
  assert.ok(Number(refused.headers['retry-after']) > 0);
  assert.equal((await services.calls.list(limited.account.id, 10)).length, 0);
});

test('the OpenAPI document has both routes and publishes the Status mapping', async () => {
  const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
    paths: Record<string, Record<string, { responses: Record<string, { content: Record<string, { schema: { properties: Record<string, { description?: string }> } }> }> }>>;
  };
  assert.ok(doc.paths['/voice2phone/call']?.post);
  const get = doc.paths['/voice2phone/call/{callId}']?.get;
  assert.ok(get);
  const status = get.responses['200']?.content['application/json']?.schema.properties.Status;
  assert.match(String(status?.description), /0 queued.*1 ringing.*2 in progress.*3 completed.*4 busy.*5 no answer.*6 failed/);
});
