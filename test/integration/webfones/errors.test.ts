import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { WEBFONES_WINDOW } from '../../../src/api/faces/webfones/policy.js';
import { createTestApp, seedAccount, type TestApp } from '../../helpers/app.js';

/**
 * Every error body the WebFones document gives, compared byte for byte, on both of its paths (/dialer/call and
 * /dailer/call); its 404 and 429 apply under its own prefixes only. No telephony runs here: the calls themselves are
 * in click-to-call.test.ts. The limiter keeps its counters in memory, so SQLite is enough.
 */
const PATHS = ['/dialer/call', '/dailer/call'] as const;
const BODY = JSON.stringify({ extension: '309', phonenumber: '15808675309' });

describe('WebFones: the documented error bodies, byte for byte', () => {
  let t: TestApp;
  let token: string;
  before(async () => {
    t = await createTestApp('sqlite');
    const seed = await seedAccount(t.services);
    token = seed.token;
    await t.services.extensions.create(seed.account.id, { number: '309' });
  });
  after(() => t.close());

  const post = (url: string, headers: Record<string, string>, payload = BODY, remoteAddress = '127.0.0.1') =>
    t.app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json', ...headers }, payload, remoteAddress });

  test('401 without a key, 403 with a wrong one (x-api-key or Bearer)', async () => {
    for (const path of PATHS) {
      const missing = await post(path, {});
      assert.equal(missing.statusCode, 401);
      assert.equal(missing.body, '{"error":"API key is required","message":"Please provide API key in x-api-key header or Authorization header"}');
      assert.match(String(missing.headers['content-type']), /^application\/json/);
      for (const headers of [{ 'x-api-key': 'dk_live_not_a_key_000000000000000000000' }, { authorization: 'Bearer dk_live_not_a_key_000000000000000000000' }] as Record<string, string>[]) {
        const wrong = await post(path, headers);
        assert.equal(wrong.statusCode, 403);
        assert.equal(wrong.body, '{"error":"Invalid API key","message":"The provided API key is not valid or has been revoked"}');
      }
    }
  });

  test('400 invalid extension for an unknown or missing extension; invalid phonenumber; both key headers are accepted', async () => {
    for (const headers of [{ 'x-api-key': token }, { authorization: `Bearer ${token}` }] as Record<string, string>[]) {
      for (const path of PATHS) {
        const unknown = await post(path, headers, JSON.stringify({ extension: '999', phonenumber: '15808675309' }));
        assert.equal(unknown.statusCode, 400);
        assert.equal(unknown.body, '{"message":"invalid extension"}');
        const missing = await post(path, headers, JSON.stringify({ phonenumber: '15808675309' }));
        assert.equal(missing.body, '{"message":"invalid extension"}');
      }
    }
    const badNumber = await post('/dialer/call', { 'x-api-key': token }, JSON.stringify({ extension: '309', phonenumber: 'call me' }));
    assert.equal(badNumber.statusCode, 400);
    assert.equal(badNumber.body, '{"message":"invalid phonenumber"}');
    const noNumber = await post('/dialer/call', { 'x-api-key': token }, JSON.stringify({ extension: '309' }));
    assert.equal(noNumber.body, '{"message":"invalid phonenumber"}');
    const badJson = await post('/dialer/call', { 'x-api-key': token }, '{"extension":');
    assert.equal(badJson.statusCode, 400);
    assert.deepEqual(Object.keys(badJson.json()), ['message']);
  });

  test('404 {"error":"Not found"} under the face\'s prefixes only, wrong methods included', async () => {
    for (const [method, url] of [
      ['GET', '/dialer/call'],
      ['POST', '/dialer/calls'],
      ['GET', '/dailer/nothing'],
      ['DELETE', '/dailer/call'],
      ['POST', '/dialer'],
    ] as const) {
      const response = await t.app.inject({ method, url });
      assert.equal(response.statusCode, 404, `${method} ${url}`);
      assert.equal(response.body, '{"error":"Not found"}', `${method} ${url}`);
    }
    // Elsewhere, and in DialAnyone's scope, the standard shape as before.
    assert.equal((await t.app.inject({ method: 'GET', url: '/nowhere' })).json().error.code, 'route_not_found');
    assert.equal((await t.app.inject({ method: 'GET', url: '/api/v1/nothing' })).json().error.code, 'route_not_found');
    assert.equal((await t.app.inject({ method: 'GET', url: '/api/v1/me' })).json().error.code, 'missing_credentials');
  });

  test('500 with the documented body and an ISO timestamp; the cause is never shown', async () => {
    const original = t.services.extensions.resolve.bind(t.services.extensions);
    t.services.extensions.resolve = async () => {
      throw new Error('database exploded: secret detail');
    };
    try {
      const response = await post('/dialer/call', { 'x-api-key': token });
      assert.equal(response.statusCode, 500);
      const body = response.json() as Record<string, string>;
      assert.deepEqual(Object.keys(body), ['error', 'message', 'timestamp']);
      assert.equal(response.body, `{"error":"Internal server error","message":"An unexpected error occurred","timestamp":"${body.timestamp}"}`);
      assert.match(body.timestamp!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.ok(Math.abs(Date.parse(body.timestamp!) - Date.now()) < 60_000);
      assert.ok(!response.body.includes('secret'));
    } finally {
      t.services.extensions.resolve = original;
    }
  });

  test('429 past 1,000 requests per 15 minutes per IP, over both paths and whatever the key; other IPs and faces unaffected', async () => {
    t.clock.advance(WEBFONES_WINDOW.windowMs);
    const ip = '198.51.100.7';
    // Counted before the key is checked: unauthenticated requests use the window too.
    for (let i = 0; i < 1_000; i++) {
      const response = await post(PATHS[i % 2]!, i % 3 === 0 ? {} : { 'x-api-key': token }, JSON.stringify({ extension: '999', phonenumber: '1' }), ip);
      assert.notEqual(response.statusCode, 429, `request ${i + 1}`);
    }
    for (const path of PATHS) {
      const limited = await post(path, { 'x-api-key': token }, BODY, ip);
      assert.equal(limited.statusCode, 429);
      assert.equal(limited.body, '{"error":"Too many requests from this IP, please try again later."}');
      assert.ok(Number(limited.headers['retry-after']) > 0);
    }
    assert.equal((await post('/dialer/call', {}, BODY, '198.51.100.8')).statusCode, 401, 'another IP is not limited');
    const dialAnyone = await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: { authorization: `Bearer ${token}` }, remoteAddress: ip });
    assert.equal(dialAnyone.statusCode, 200, 'other faces do not share the window');
    t.clock.advance(WEBFONES_WINDOW.windowMs);
    assert.equal((await post('/dialer/call', {}, BODY, ip)).statusCode, 401, 'a new window opens');
  });

  test('without telephony in the process a valid request is 503 in the document\'s generic shape', async () => {
    const response = await post('/dialer/call', { 'x-api-key': token });
    assert.equal(response.statusCode, 503);
    assert.deepEqual(Object.keys(response.json()), ['message', 'details']);
    assert.equal(response.json().message, 'Internal error');
  });
});
