import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createTestApp, seedAccount, type TestApp } from '../../helpers/app.js';
import { describeEachDialect } from '../../helpers/databases.js';
import { windows } from '../../../src/api/faces/dialanyone/policy.js';

await describeEachDialect('DialAnyone GET /api/v1/me', (dialect) => {
  let t: TestApp;
  let seed: Awaited<ReturnType<typeof seedAccount>>;
  const me = (token: string) => t.app.inject({ method: 'GET', url: '/api/v1/me', headers: { authorization: `Bearer ${token}` } });

  before(async () => {
    t = await createTestApp(dialect);
    seed = await seedAccount(t.services);
  });
  after(async () => t.close());

  test('returns the document shape filled with the account', async () => {
    const response = await me(seed.token);
    assert.equal(response.statusCode, 200);
    assert.match(String(response.headers['content-type']), /application\/json/);
    const created = t.clock.now().toISOString().replace(/\.\d{3}Z$/, 'Z');
    assert.deepEqual(response.json(), {
      email: 'user@example.com',
      user: { id: seed.owner.id, email: 'user@example.com', credits_balance: 1250.75 },
      phone_numbers: {
        purchased: [{ id: seed.purchased.id, number: '+14155551234', capabilities: ['voice', 'sms'], created_at: created }],
        ported: [{ id: seed.ported.id, number: '+14155555678', capabilities: ['voice', 'sms'], created_at: created }],
        outgoing_only: [],
      },
      totals: { total_numbers: 2, purchased_count: 1, ported_count: 1, outgoing_only_count: 0 },
    });
    assert.match(seed.owner.id, /^user_/);
    assert.match(seed.purchased.id, /^pn_/);
  });

  test('stays right as numbers and credits change', async () => {
    await t.services.numbers.add(seed.account.id, { number: '+14155550100', type: 'outgoing_only', capabilities: ['voice'] });
    await t.services.credits.debit(seed.account.id, 250, 'sms');
    const hold = await t.services.credits.hold(seed.account.id, 1_000, 'call');
    const body = (await me(seed.token)).json();
    assert.equal(body.user.credits_balance, 1238.25, 'available balance excludes the active hold');
    assert.equal(body.phone_numbers.outgoing_only.length, 1);
    assert.deepEqual(body.phone_numbers.outgoing_only[0].capabilities, ['voice']);
    assert.deepEqual(body.totals, { total_numbers: 3, purchased_count: 1, ported_count: 1, outgoing_only_count: 1 });
    await t.services.credits.release(seed.account.id, hold.id);
    assert.equal((await me(seed.token)).json().user.credits_balance, 1248.25);
  });

  test('another account sees only its own numbers and balance', async () => {
    const { account } = await t.services.accounts.create({ name: 'B', email: 'b@example.com' });
    const { token } = await t.services.keys.create(account.id, { name: 'b' });
    const body = (await me(token)).json();
    assert.equal(body.email, 'b@example.com');
    assert.equal(body.user.credits_balance, 0);
    assert.equal(body.totals.total_numbers, 0);
  });

  test('X-RateLimit headers count down against the hourly total and reset on the hour', async () => {
    const { token } = await t.services.keys.create(seed.account.id, { name: 'headers' });
    const first = await me(token);
    const second = await me(token);
    assert.equal(first.headers['x-ratelimit-limit'], '10000');
    assert.equal(first.headers['x-ratelimit-remaining'], '9999');
    assert.equal(second.headers['x-ratelimit-remaining'], '9998');
    const reset = Number(first.headers['x-ratelimit-reset']);
    const nowSeconds = t.clock.nowMs() / 1000;
    assert.ok(reset > nowSeconds && reset <= nowSeconds + 3600, `reset ${reset} within the hour`);
    assert.equal(reset % 3600, 0, 'the hourly window is aligned to the hour');
  });

  test('the 10,001st request in an hour is 429 with Retry-After; the next hour is open again', async () => {
    const { token } = await t.services.keys.create(seed.account.id, { name: 'flood' });
    t.clock.advance(3_600_000 - (t.clock.nowMs() % 3_600_000));
    const response = await me(token);
    assert.equal(response.headers['x-ratelimit-remaining'], '9999');
    // The next 9,998 go straight to the limiter under the face's own counter (as many injects would only be slow).
    const principal = await t.services.keys.authenticate(token);
    assert.ok(principal);
    for (let i = 0; i < 9_998; i++) await t.rateLimiter.consume(`dialanyone:${principal.keyId}`, [windows.total]);
    const last = await me(token);
    assert.equal(last.statusCode, 200);
    assert.equal(last.headers['x-ratelimit-remaining'], '0');
    const limited = await me(token);
    assert.equal(limited.statusCode, 429);
    assert.equal(limited.json().error.code, 'rate_limited');
    assert.equal(limited.headers['x-ratelimit-remaining'], '0');
    assert.equal(limited.headers['retry-after'], '3600');
    // Other keys of the same account have their own windows.
    assert.equal((await me(seed.token)).statusCode, 200);
    t.clock.advance(3_600_000);
    assert.equal((await me(token)).statusCode, 200);
  });

  test('wrong method is 405 with Allow, unknown route 404, both in the face shape', async () => {
    const post = await t.app.inject({ method: 'POST', url: '/api/v1/me', headers: { authorization: `Bearer ${seed.token}` } });
    assert.equal(post.statusCode, 405);
    assert.match(String(post.headers.allow), /GET/);
    assert.equal(post.json().error.code, 'method_not_allowed');
    const missing = await t.app.inject({ method: 'GET', url: '/api/v1/nothing-here' });
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.json().error.code, 'route_not_found');
  });

  test('errors never carry a stack trace', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/api/v1/me', headers: { authorization: 'Bearer dk_live_short' } });
    assert.equal(response.statusCode, 401);
    assert.doesNotMatch(response.body, /at .*\.js:\d+/);
    assert.deepEqual(Object.keys(response.json()), ['error']);
  });
});
