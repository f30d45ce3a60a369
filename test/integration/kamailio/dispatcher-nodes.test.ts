import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { systemClock } from '../../../src/core/clock.js';
import { createServices } from '../../../src/core/services.js';
import { SecretBox } from '../../../src/store/secret-box.js';
import { createStore } from '../../../src/store/store.js';
import { clusterOn } from '../../helpers/cluster.js';
import { createTestDatabase, postgresTestOptions, type TestDatabase } from '../../helpers/databases.js';
import { DEPLOY_KAMAILIO_CONFIG, describeWithKamailio, startKamailio, type KamailioHandle } from '../../helpers/kamailio.js';
import { requirePeer } from '../../helpers/peers.js';
import { waitUntil } from '../../helpers/processes.js';
import { redisPeer, startPrivateRedis } from '../../helpers/redis.js';
import { describeSippResult, freeUdpPort, requireSipp, startSipp } from '../../helpers/sipp.js';

/**
 * The shipped deploy/kamailio/kamailio.cfg in front of three Dialplane nodes on one PostgreSQL database and one
 * Redis, each node on its own loopback address (127.0.0.61-63) where it binds and advertises SIP and RTP, Kamailio
 * being every node's trunk (so the inbound INVITE gate lets its calls in). A SIPp caller on 127.0.0.2 places calls
 * through Kamailio to a number whose application answers, waits a second and hangs up:
 *
 * - every call completes and every node takes some (Kamailio's DISPATCH lines and the calls' owner_node agree);
 * - a node SIGKILLed is taken out of the set by its OPTIONS probes (probe interval 1 s) within a few seconds, and
 *   the calls placed after that all go to the two others and all complete;
 * - through a second Kamailio whose probes have not noticed yet, the INVITE sent to the dead node goes unanswered,
 *   is sent on to the next node (failure_route) and completes there;
 * - outbound, a call placed through a node's API leaves through Kamailio to the carrier (a SIPp UAS).
 */
const NAME = 'Kamailio (deploy/kamailio) spreads inbound calls over three nodes and stops sending calls to a killed node';
const ADMIN_TOKEN = 'kamailio-dispatcher-admin-token-0123456789';
const APP_NUMBER = '+14155550161';
const NODE_HOSTS = ['127.0.0.61', '127.0.0.62', '127.0.0.63'] as const;
const PING_INTERVAL_S = 1;
/** tm's fr_timer in the shipped configuration: how long an unanswered probe waits. */
const PROBE_TIMEOUT_S = 2;
const FIRST_CALLS = 60;
const LATER_CALLS = 30;
const FAILOVER_CALLS = 6;
const options = await postgresTestOptions(NAME);

/** The node each INVITE was sent to, from Kamailio's `DISPATCH INVITE call-id <id> to <uri>` lines. */
function dispatched(proxy: KamailioHandle): Map<string, string> {
  const out = new Map<string, string>();
  for (const match of proxy.output().matchAll(/DISPATCH INVITE call-id (\S+) to sip:([\d.]+):\d+/g)) out.set(match[1]!, match[2]!);
  return out;
}

/** The inbound calls once `count` of them are stored and all have ended (a node writes the end just after its BYE). */
async function endedCalls(db: TestDatabase, count: number) {
  const read = () =>
    db.database.db.selectFrom('calls').select(['sip_call_id', 'owner_node', 'outcome', 'state']).where('direction', '=', 'inbound').execute();
  await waitUntil(`${count} inbound calls ended`, async () => {
    const rows = await read();
    return rows.length >= count && rows.every((row) => row.state === 'ended');
  }, 10_000);
  const rows = await read();
  assert.equal(rows.length, count);
  return rows;
}

function countBy<T>(values: Iterable<T>): Map<T, number> {
  const counts = new Map<T, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  return counts;
}

/** `calls` inbound calls from SIPp on 127.0.0.2 through the proxy; each must complete (the node hangs up). */
async function placeCalls(t: TestContext, proxy: KamailioHandle, calls: number, label: string): Promise<void> {
  const caller = await startSipp({
    scenario: 'uac-proxied-call-dialplane.xml',
    bindAddress: '127.0.0.2',
    remote: proxy.address,
    service: APP_NUMBER,
    calls,
    rate: 20,
    limit: 30,
    timeoutSeconds: 30,
    traceMessages: false,
    t,
  });
  const result = await caller.done;
  assert.equal(result.code, 0, `${label}: ${describeSippResult(result)}\n${proxy.output().slice(-3000)}`);
  assert.equal(result.stats.successful, calls, `${label}: ${describeSippResult(result)}`);
}

await describeWithKamailio('Kamailio in front of several nodes (deploy/kamailio/kamailio.cfg)', () => {
  test(NAME, { skip: options.skip, timeout: 110_000 }, async (t) => {
    if (options.failure) throw new Error(options.failure);
    if (!(await requireSipp(t)) || !(await requirePeer(redisPeer, t))) return;
    const db: TestDatabase = await createTestDatabase('postgres');
    const redis = await startPrivateRedis();
    const cluster = clusterOn(db.schema!, ADMIN_TOKEN);
    const runtime = await mkdtemp(join(tmpdir(), 'dialplane-dispatcher-'));
    try {
      // Sealed with the nodes' key, as if made through a node's API.
      const secrets = new SecretBox(Buffer.from(cluster.secretsKey, 'base64'));
      const services = createServices(createStore(db.database, { secrets }), { clock: systemClock, defaultCountry: 'US', keyCacheTtlMs: 0 });
      const { account } = await services.accounts.create({ name: 'Dispatcher', email: 'dispatcher@example.com' });
      await services.numbers.add(account.id, { number: APP_NUMBER, type: 'purchased' });
      await services.credits.add(account.id, 100_000, 'test');
      const { application } = await services.applications.create(account.id, {
        name: 'answer and hang up',
        program: [{ verb: 'pause', length: 1 }, { verb: 'hangup' }],
      });
      await services.extensions.route(account.id, APP_NUMBER, { applicationId: application.id });

      // The carrier the nodes' outbound calls reach through Kamailio: answers one call and waits for the BYE.
      const carrier = await startSipp({ scenario: 'uas-proxied-wait-bye.xml', timeoutSeconds: 90, t });

      // The node list first (Kamailio reads it at start), then Kamailio, then the nodes with Kamailio as their trunk.
      const sipPorts = await Promise.all(NODE_HOSTS.map(() => freeUdpPort()));
      const listFile = join(runtime, 'dispatcher.list');
      await writeFile(listFile, NODE_HOSTS.map((host, i) => `1 sip:${host}:${sipPorts[i]} 0 0\n`).join(''));
      const proxy = await startKamailio({
        config: DEPLOY_KAMAILIO_CONFIG,
        defines: { DISPATCHER_LIST: `"${listFile}"`, PING_INTERVAL: String(PING_INTERVAL_S), CARRIER: `"sip:${carrier.address}"` },
        timeoutSeconds: 100,
        t,
      });
      // One after the other: three starts at once on a busy 2-core machine can each miss the ready deadline.
      const nodes = [];
      for (const [i, host] of NODE_HOSTS.entries()) {
        nodes.push(
          await cluster.start(`${38000 + 200 * i}-${38000 + 200 * i + 199}`, {
            DIALPLANE_NODE_ID: `dispatch-node-${i + 1}`,
            DIALPLANE_REDIS_URL: redis.url,
            DIALPLANE_SIP_HOST: host,
            DIALPLANE_SIP_PORT: String(sipPorts[i]),
            DIALPLANE_TRUNK: `sip:${proxy.address};transport=udp`,
            DIALPLANE_SIP_SOURCE_RATE: '0',
          }),
        );
      }
      // A second Kamailio of the same configuration and node list, whose probes are too rare to matter here: it
      // learns of the death below only by an INVITE going unanswered (failover).
      const unprobed = await startKamailio({
        config: DEPLOY_KAMAILIO_CONFIG,
        defines: { DISPATCHER_LIST: `"${listFile}"`, PING_INTERVAL: '600' },
        timeoutSeconds: 100,
        t,
      });
      // Nodes that missed Kamailio's first probes were marked down; each is back after one answered probe.
      const nodeUp = (host: string, port: number): boolean => {
        const events = [...proxy.output().matchAll(/DISPATCH node (down|up) sip:([\d.]+):(\d+)/g)].filter((m) => m[2] === host && Number(m[3]) === port);
        return events.length === 0 || events[events.length - 1]![1] === 'up';
      };
      await new Promise((resolve) => setTimeout(resolve, (PING_INTERVAL_S + 0.5) * 1000));
      await waitUntil('every node is in Kamailio\'s set', () => NODE_HOSTS.every((host, i) => nodeUp(host, sipPorts[i]!)), 10_000);

      await placeCalls(t, proxy, FIRST_CALLS, 'three nodes');
      const first = dispatched(proxy);
      assert.equal(first.size, FIRST_CALLS, 'one DISPATCH line per call');
      const perHost = countBy(first.values());
      t.diagnostic(`calls per node: ${JSON.stringify(Object.fromEntries(perHost))}`);
      for (const host of NODE_HOSTS) assert.ok((perHost.get(host) ?? 0) > 0, `node ${host} took some calls: ${JSON.stringify(Object.fromEntries(perHost))}`);

      // Each node drove the calls Kamailio gave it, and they completed.
      const rows = await endedCalls(db, FIRST_CALLS);
      for (const row of rows) {
        assert.equal(row.outcome, 'completed', JSON.stringify(row));
        const host = first.get(row.sip_call_id ?? '');
        assert.ok(host, `Kamailio dispatched ${row.sip_call_id}`);
        assert.equal(row.owner_node, `dispatch-node-${NODE_HOSTS.indexOf(host as (typeof NODE_HOSTS)[number]) + 1}`, JSON.stringify(row));
      }

      // Outbound: a call placed through node 2's API leaves through Kamailio (its trunk) to the carrier.
      const admin = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
      const keyResponse = await fetch(`${nodes[1]!.base}/admin/v1/accounts/${account.id}/keys`, { method: 'POST', headers: admin, body: JSON.stringify({ name: 'calls' }) });
      assert.equal(keyResponse.status, 201, await keyResponse.clone().text());
      const { api_key: apiKey } = (await keyResponse.json()) as { api_key: string };
      const placed = await fetch(`${nodes[1]!.base}/dialplane/v1/calls`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ from: APP_NUMBER, to: '+14155550100', program: [{ verb: 'pause', length: 1 }, { verb: 'hangup' }] }),
      });
      assert.ok(placed.ok, `${placed.status} ${await placed.clone().text()}`);
      const carried = await carrier.done;
      assert.equal(carried.code, 0, `outbound through Kamailio: ${describeSippResult(carried)}\n${proxy.output().slice(-3000)}`);
      assert.match(proxy.output(), new RegExp(`DISPATCH INVITE call-id \\S+ from node ${NODE_HOSTS[1].replace(/\./g, '\\.')} to carrier sip:${carrier.address}`));

      // Node 3 dies: its probes go unanswered and Kamailio takes it out of the set.
      const dead = NODE_HOSTS[2];
      const killedAt = Date.now();
      nodes[2]!.proc.child.kill('SIGKILL');
      await nodes[2]!.proc.exited;
      const limitMs = (PING_INTERVAL_S + PROBE_TIMEOUT_S) * 1000 + 5_000;
      await waitUntil(`Kamailio marks ${dead} down`, () => !nodeUp(dead, sipPorts[2]!), limitMs);
      t.diagnostic(`node ${dead} out of the set ${Date.now() - killedAt} ms after SIGKILL (probe every ${PING_INTERVAL_S} s, probe timeout ${PROBE_TIMEOUT_S} s)`);

      // Through the Kamailio that still counts the dead node in: the INVITE sent to it goes unanswered for tm's
      // fr_timer, is sent on to the next node and completes there; the dead node is marked down.
      await placeCalls(t, unprobed, FAILOVER_CALLS, 'failover');
      const failedOver = [...unprobed.output().matchAll(/DISPATCH INVITE call-id (\S+) node sip:([\d.]+):\d+ did not answer: marked down/g)];
      assert.ok(failedOver.length >= 1, `an INVITE went to the killed node and was not answered:\n${unprobed.output().slice(-3000)}`);
      for (const [, callId, host] of failedOver) {
        assert.equal(host, dead);
        assert.match(unprobed.output(), new RegExp(`DISPATCH INVITE call-id ${callId!.replace(/[.]/g, '\\.')} retried on sip:127\\.0\\.0\\.6[12]:`));
        const row = (await endedCalls(db, FIRST_CALLS + FAILOVER_CALLS)).find((r) => r.sip_call_id === callId);
        assert.equal(row?.outcome, 'completed', `${callId} completed on the next node`);
        assert.notEqual(row.owner_node, 'dispatch-node-3');
      }
      t.diagnostic(`failover: ${failedOver.length} INVITE(s) sent to the killed node were retried on another node`);

      await placeCalls(t, proxy, LATER_CALLS, 'after the kill');
      const later = [...dispatched(proxy)].filter(([callId]) => !first.has(callId)).map(([, host]) => host);
      assert.equal(later.length, LATER_CALLS);
      const laterPerHost = countBy(later);
      t.diagnostic(`calls per node after the kill: ${JSON.stringify(Object.fromEntries(laterPerHost))}`);
      assert.equal(laterPerHost.get(dead) ?? 0, 0, 'no call sent to the killed node');
      for (const host of NODE_HOSTS.slice(0, 2)) assert.ok((laterPerHost.get(host) ?? 0) > 0, `node ${host} took some of the later calls`);
    } finally {
      await cluster.cleanup();
      await redis.stop();
      await db.close();
      await rm(runtime, { recursive: true, force: true });
    }
  });
});
