import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { dialplaneWindows } from '../../../src/api/dialplane/policy.js';
import { clusterOn } from '../../helpers/cluster.js';
import { createTestDatabase, postgresTestOptions, type TestDatabase } from '../../helpers/databases.js';
import { requirePeer } from '../../helpers/peers.js';
import { sleep, waitUntil } from '../../helpers/processes.js';
import { redisPeer, startPrivateRedis, type PrivateRedis } from '../../helpers/redis.js';

/**
 * Two `dialplane serve` processes on one PostgreSQL database and one Redis (DIALPLANE_REDIS_URL): 8 clients, each on
 * its own keep-alive connection, spread one API key's requests over both nodes. The key's window (1,200 requests a
 * minute on /dialplane/v1) is one count across the nodes: 1,200 pass in all, not 1,200 per node. Then Redis is
 * killed: every request is still answered (counted per node), and each node logs the fallback.
 */

const NAME = 'two nodes sharing Redis hold one API key to one window: 1,200 a minute in all';
const ADMIN_TOKEN = 'shared-limits-test-admin-token-0123456789';
const CLIENTS = 8;
const REQUESTS = 1_500;
const options = await postgresTestOptions(NAME);

interface Answer {
  readonly status: number;
  readonly body: string;
}

function get(agent: http.Agent, base: string, path: string, token: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = http.get(`${base}${path}`, { agent, headers: { authorization: `Bearer ${token}` } }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    request.on('error', reject);
  });
}

test(NAME, { skip: options.skip, timeout: 120_000 }, async (t) => {
  if (options.failure) throw new Error(options.failure);
  if (!(await requirePeer(redisPeer, t))) return;
  const db: TestDatabase = await createTestDatabase('postgres');
  const redis: PrivateRedis = await startPrivateRedis();
  const cluster = clusterOn(db.schema!, ADMIN_TOKEN);
  const agents: http.Agent[] = [];
  try {
    const start = (rtpPorts: string) => cluster.start(rtpPorts, { DIALPLANE_REDIS_URL: redis.url, DIALPLANE_SIP_PORT: '0' });
    // One after the other: the second node finds the database the first one made.
    const a = await start('37000-37099');
    const b = await start('37100-37199');

    const admin = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
    const { accounts } = (await (await fetch(`${a.base}/admin/v1/accounts`, { headers: admin })).json()) as { accounts: Array<{ id: string }> };
    const created = await fetch(`${a.base}/admin/v1/accounts/${accounts[0]!.id}/keys`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ name: 'limits across nodes' }),
    });
    assert.equal(created.status, 201);
    const { api_key: token } = (await created.json()) as { api_key: string };

    // The window is a minute aligned to the clock: start early in one, so all requests fall in it.
    const intoMinute = Date.now() % 60_000;
    if (intoMinute > 30_000) await sleep(60_000 - intoMinute + 250);
    const windowStart = Math.floor(Date.now() / 60_000);

    const hammerStarted = Date.now();
    const limit = dialplaneWindows.requests.limit;
    const statuses = new Map<number, number>();
    const perNode = [0, 0];
    let next = 0;
    await Promise.all(
      Array.from({ length: CLIENTS }, async (_, client) => {
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        agents.push(agent);
        for (;;) {
          const i = next++;
          if (i >= REQUESTS) return;
          const node = (client + i) % 2;
          const answer = await get(agent, node === 0 ? a.base : b.base, '/dialplane/v1/applications', token);
          statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
          if (answer.status === 200) perNode[node]!++;
        }
      }),
    );
    assert.equal(Math.floor(Date.now() / 60_000), windowStart, 'every request fell in one window');
    const allowed = statuses.get(200) ?? 0;
    const refused = statuses.get(429) ?? 0;
    const overshoot = ((allowed - limit) / limit) * 100;
    t.diagnostic(
      `${REQUESTS} requests from ${CLIENTS} clients over 2 nodes, limit ${limit}/min: allowed ${allowed} (node A ${perNode[0]}, node B ${perNode[1]}), refused ${refused}, overshoot ${overshoot.toFixed(2)} %, in ${Date.now() - hammerStarted} ms`,
    );
    assert.deepEqual([...statuses.keys()].sort(), [200, 429], `statuses: ${JSON.stringify([...statuses])}`);
    assert.equal(allowed, limit, 'one window across both nodes');
    assert.ok(perNode[0]! > 0 && perNode[1]! > 0, 'both nodes answered');

    // Redis lost: requests are answered (per-node windows start empty), never refused for want of Redis.
    await redis.stop();
    let answered = 0;
    for (let i = 0; i < 20; i++) {
      const answer = await get(agents[0]!, i % 2 === 0 ? a.base : b.base, '/dialplane/v1/applications', token);
      if (answer.status === 200) answered++;
    }
    t.diagnostic(`Redis killed: ${answered} of 20 requests answered 200`);
    assert.equal(answered, 20);
    for (const node of [a, b]) {
      await waitUntil('the fallback is logged', () => node.proc.stdout().includes('rate limits are counted per node until Redis answers again'), 5_000, node.proc);
    }
  } finally {
    for (const agent of agents) agent.destroy();
    await redis.stop();
    await db.close();
    await cluster.cleanup();
  }
});
