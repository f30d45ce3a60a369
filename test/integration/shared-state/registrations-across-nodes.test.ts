import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clusterOn } from '../../helpers/cluster.js';
import { requireBaresip, startBaresip } from '../../helpers/baresip.js';
import { createTestDatabase, postgresTestOptions, type TestDatabase } from '../../helpers/databases.js';
import { requirePeer } from '../../helpers/peers.js';
import { waitUntil } from '../../helpers/processes.js';
import { redisPeer, startPrivateRedis, type PrivateRedis } from '../../helpers/redis.js';
import { freeUdpPort } from '../../helpers/sipp.js';

/**
 * Two nodes on one PostgreSQL database and one Redis. A baresip phone registers (UDP) through node A only; a call
 * placed on node B dials the phone's extension and rings it: node A announced the registration, node B read it from
 * the database and sent its INVITE to the address the phone registered from. The phone answers, and the dial's
 * outcome is `completed`.
 */

const NAME = 'a device registered through node A is rung by a call placed on node B';
const ADMIN_TOKEN = 'shared-registrations-admin-token-0123456789';
const options = await postgresTestOptions(NAME);

interface CallView {
  readonly call_id: string;
  readonly state: string;
  readonly live: boolean;
  readonly activities: ReadonlyArray<{ readonly kind: string; readonly data: Record<string, unknown> }>;
}

test(NAME, { skip: options.skip, timeout: 120_000 }, async (t) => {
  if (options.failure) throw new Error(options.failure);
  if (!(await requirePeer(redisPeer, t)) || !(await requireBaresip(t))) return;
  const db: TestDatabase = await createTestDatabase('postgres');
  const redis: PrivateRedis = await startPrivateRedis();
  const cluster = clusterOn(db.schema!, ADMIN_TOKEN);
  try {
    const sipPortA = await freeUdpPort();
    const a = await cluster.start('37400-37499', { DIALPLANE_REDIS_URL: redis.url, DIALPLANE_SIP_PORT: String(sipPortA) });
    const b = await cluster.start('37500-37599', { DIALPLANE_REDIS_URL: redis.url, DIALPLANE_SIP_PORT: '0' });
    const admin = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
    const call = async <T>(base: string, method: string, path: string, body?: unknown, headers = admin): Promise<T> => {
      const response = await fetch(`${base}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
      const text = await response.text();
      assert.ok(response.ok, `${method} ${path}: ${response.status} ${text}`);
      return JSON.parse(text) as T;
    };
    const { accounts } = await call<{ accounts: Array<{ id: string }> }>(a.base, 'GET', '/admin/v1/accounts');
    const accountId = accounts[0]!.id;
    const { extension } = await call<{ extension: { id: string } }>(a.base, 'POST', `/admin/v1/accounts/${accountId}/extensions`, { name: 'Desk' });
    const device = await call<{ username: string; password: string }>(
      a.base,
      'POST',
      `/admin/v1/accounts/${accountId}/extensions/${extension.id}/devices`,
      {},
    );
    const { api_key: token } = await call<{ api_key: string }>(a.base, 'POST', `/admin/v1/accounts/${accountId}/keys`, { name: 'calls' });

    const phone = await startBaresip({
      user: device.username,
      account: `<sip:${device.username}@127.0.0.1:${sipPortA};transport=udp>;auth_pass=${device.password};regint=60;answermode=auto`,
      maxSeconds: 40,
      t,
    });
    try {
      await phone.waitRegistered();
      const started = await call<{ call_id: string }>(
        b.base,
        'POST',
        '/dialplane/v1/calls',
        {
          from: '+14155551234',
          to: '+14155550100',
          program: [
            { verb: 'dial', target: [{ type: 'extension', extension: extension.id }], timeout: 10, timeLimit: 2 },
            { verb: 'hangup' },
          ],
        },
        { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      );
      await phone.waitEvent('CALL_ESTABLISHED', 15_000);
      await waitUntil(
        'the call placed on node B is over',
        async () => !(await call<CallView>(b.base, 'GET', `/dialplane/v1/calls/${started.call_id}`, undefined, { authorization: `Bearer ${token}`, 'content-type': 'application/json' })).live,
        30_000,
      );
      const view = await call<CallView>(b.base, 'GET', `/dialplane/v1/calls/${started.call_id}`, undefined, {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
      });
      const dial = view.activities.find((activity) => activity.kind === 'dial');
      t.diagnostic(`call ${view.call_id} placed on node B: dial outcome ${String(dial?.data.outcome)}`);
      assert.equal(dial?.data.outcome, 'completed', JSON.stringify(view.activities));
    } finally {
      await phone.stop();
    }
  } finally {
    await cluster.cleanup();
    await redis.stop();
    await db.close();
  }
});
