import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clusterOn } from '../../helpers/cluster.js';
import { createTestDatabase, postgresTestOptions, type TestDatabase } from '../../helpers/databases.js';
import { requirePeer } from '../../helpers/peers.js';
import { sleep, waitUntil } from '../../helpers/processes.js';
import { redisPeer, startPrivateRedis, type PrivateRedis } from '../../helpers/redis.js';

/**
 * Two nodes on one PostgreSQL database and one Redis, each caching API keys for ten minutes
 * (DIALPLANE_KEY_CACHE_TTL_MS) and account summaries for a few seconds: a change made through node A is seen by
 * node B at once (within a second), because A publishes the invalidation. Then Redis is restarted: B drops its
 * caches, since an invalidation may have been missed while it was down.
 */

const NAME = 'two nodes sharing Redis: a key revoked or credits added on one node are seen on the other at once';
const ADMIN_TOKEN = 'shared-caches-test-admin-token-0123456789';
const options = await postgresTestOptions(NAME);

test(NAME, { skip: options.skip, timeout: 120_000 }, async (t) => {
  if (options.failure) throw new Error(options.failure);
  if (!(await requirePeer(redisPeer, t))) return;
  const db: TestDatabase = await createTestDatabase('postgres');
  const redis: PrivateRedis = await startPrivateRedis();
  const cluster = clusterOn(db.schema!, ADMIN_TOKEN);
  try {
    const start = (rtpPorts: string) => cluster.start(rtpPorts, {
        DIALPLANE_REDIS_URL: redis.url,
        DIALPLANE_SIP_PORT: '0',
        DIALPLANE_KEY_CACHE_TTL_MS: '600000',
      });
    const a = await start('37200-37299');
    const b = await start('37300-37399');
    const admin = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
    const adminPost = async (path: string, body: unknown) => {
      const response = await fetch(`${a.base}${path}`, { method: 'POST', headers: admin, body: JSON.stringify(body) });
      assert.ok(response.ok, `${path}: ${response.status} ${await response.clone().text()}`);
      return response.json() as Promise<Record<string, unknown>>;
    };
    const { accounts } = (await (await fetch(`${a.base}/admin/v1/accounts`, { headers: admin })).json()) as { accounts: Array<{ id: string }> };
    const accountId = accounts[0]!.id;
    const created = (await adminPost(`/admin/v1/accounts/${accountId}/keys`, { name: 'on node B' })) as { api_key: string; key: { id: string } };
    const me = async () => {
      const response = await fetch(`${b.base}/api/v1/me`, { headers: { authorization: `Bearer ${created.api_key}` } });
      const body = await response.text();
      return { status: response.status, balance: response.ok ? (JSON.parse(body) as { user: { credits_balance: number } }).user.credits_balance : undefined };
    };
    const seenWithin = async (what: string, check: () => Promise<boolean>): Promise<number> => {
      const started = Date.now();
      await waitUntil(what, check, 1_000);
      return Date.now() - started;
    };

    // Node B caches the key and the account's summary.
    const before = await me();
    assert.equal(before.status, 200);
    assert.equal((await me()).balance, before.balance);

    await adminPost(`/admin/v1/accounts/${accountId}/credits`, { amount: '12.50', description: 'top-up through node A' });
    const balanceMs = await seenWithin('the top-up on node B', async () => (await me()).balance === before.balance! + 12.5);

    await adminPost(`/admin/v1/accounts/${accountId}/keys/${created.key.id}/revoke`, {});
    const revokeMs = await seenWithin('the revoked key refused on node B', async () => (await me()).status === 401);
    t.diagnostic(`node B saw node A's top-up after ${balanceMs} ms and its key revocation after ${revokeMs} ms (key cache TTL 600 s)`);

    // While Redis is down, a change on A cannot reach B; when Redis is back, B drops its caches.
    const second = (await adminPost(`/admin/v1/accounts/${accountId}/keys`, { name: 'second' })) as { api_key: string; key: { id: string } };
    const useSecond = async () =>
      (await fetch(`${b.base}/api/v1/me`, { headers: { authorization: `Bearer ${second.api_key}` } })).status;
    assert.equal(await useSecond(), 200, 'cached on node B');
    await redis.stop();
    await adminPost(`/admin/v1/accounts/${accountId}/keys/${second.key.id}/revoke`, {});
    await sleep(300);
    assert.equal(await useSecond(), 200, 'with Redis down node B still holds the key (for at most its TTL)');
    await redis.start();
    await waitUntil('node B drops its caches once Redis is back', async () => (await useSecond()) === 401, 15_000);
    t.diagnostic('Redis restarted: node B dropped its caches and refused the key revoked meanwhile');
  } finally {
    await redis.stop();
    await db.close();
    await cluster.cleanup();
  }
});
