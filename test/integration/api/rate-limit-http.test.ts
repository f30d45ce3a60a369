import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createTestApp, seedAccount, type TestApp } from '../../helpers/app.js';
import type { RouteSettings } from '../../../src/api/types.js';

// Policies are data on a route; these probe routes use the same hooks every face uses. SQLite is enough here:
// nothing of the limiter touches the database.
const perIp: RouteSettings = {
  auth: ['x-api-key', 'bearer'],
  rateLimit: { subject: 'ip', scope: 'probe', windows: [{ name: 'requests', limit: 3, windowMs: 15 * 60_000 }] },
};
const perKey: RouteSettings = {
  auth: ['bearer'],
  rateLimit: {
    subject: 'key',
    scope: 'probe',
    windows: [
      { name: 'calls', limit: 2, windowMs: 60_000 },
      { name: 'total', limit: 5, windowMs: 3_600_000 },
    ],
  },
};

let t: TestApp;
let token: string;

before(async () => {
  t = await createTestApp('sqlite', {
    beforeReady(app) {
      app.get('/probe/ip', { config: { dialplane: perIp } }, async () => ({ ok: true }));
      app.post('/probe/calls', { config: { dialplane: perKey } }, async () => ({ ok: true }));
      app.get('/probe/other', { config: { dialplane: { ...perKey, rateLimit: { ...perKey.rateLimit!, windows: [perKey.rateLimit!.windows[1]!] } } } }, async () => ({ ok: true }));
    },
  });
  token = (await seedAccount(t.services)).token;
});
after(async () => t.close());

test('per-IP limits count before authentication, so unauthenticated floods are limited too', async () => {
  const from = (ip: string, headers: Record<string, string> = {}) =>
    t.app.inject({ method: 'GET', url: '/probe/ip', remoteAddress: ip, headers });
  assert.equal((await from('127.0.0.2', { 'x-api-key': token })).statusCode, 200);
  assert.equal((await from('127.0.0.2')).statusCode, 401);
  const third = await from('127.0.0.2', { 'x-api-key': token });
  assert.equal(third.statusCode, 200);
  assert.equal(third.headers['x-ratelimit-limit'], '3');
  assert.equal(third.headers['x-ratelimit-remaining'], '0');
  const limited = await from('127.0.0.2', { 'x-api-key': token });
  assert.equal(limited.statusCode, 429);
  assert.ok(Number(limited.headers['retry-after']) >= 1);
  assert.equal((await from('127.0.0.3', { 'x-api-key': token })).statusCode, 200, 'another IP has its own window');
  t.clock.advance(15 * 60_000);
  assert.equal((await from('127.0.0.2', { 'x-api-key': token })).statusCode, 200, 'the next window is open');
});

test('several windows at once: the per-minute one denies, the hourly total is shared across routes', async () => {
  t.clock.advance(3_600_000 - (t.clock.nowMs() % 3_600_000));
  const call = () => t.app.inject({ method: 'POST', url: '/probe/calls', headers: { authorization: `Bearer ${token}` } });
  const other = () => t.app.inject({ method: 'GET', url: '/probe/other', headers: { authorization: `Bearer ${token}` } });
  const first = await call();
  assert.equal(first.headers['x-ratelimit-limit'], '2', 'the tighter per-minute window is reported');
  assert.equal(first.headers['x-ratelimit-remaining'], '1');
  assert.equal((await call()).statusCode, 200);
  const denied = await call();
  assert.equal(denied.statusCode, 429);
  assert.equal(denied.headers['x-ratelimit-limit'], '2');
  const o = await other();
  assert.equal(o.statusCode, 200);
  assert.equal(o.headers['x-ratelimit-limit'], '5');
  assert.equal(o.headers['x-ratelimit-remaining'], '2', 'two calls and this request; the denied call consumed nothing');
  t.clock.advance(60_000);
  assert.equal((await call()).statusCode, 200);
  assert.equal((await other()).headers['x-ratelimit-remaining'], '0');
  const overTotal = await call();
  assert.equal(overTotal.statusCode, 429);
  assert.equal(overTotal.headers['x-ratelimit-limit'], '5', 'now the hourly total denies');
});

test('unauthenticated requests to per-key routes are 401 and consume nothing', async () => {
  const response = await t.app.inject({ method: 'POST', url: '/probe/calls' });
  assert.equal(response.statusCode, 401);
  assert.equal(response.headers['x-ratelimit-limit'], undefined);
});
