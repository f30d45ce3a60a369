import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { dialplaneWindows } from '../../../src/api/dialplane/policy.js';
import { systemClock } from '../../../src/core/clock.js';
import { createServices } from '../../../src/core/services.js';
import { SecretBox } from '../../../src/store/secret-box.js';
import { createStore } from '../../../src/store/store.js';
import { requireBaresip, startBaresip } from '../../helpers/baresip.js';
import { clusterOn } from '../../helpers/cluster.js';
import { createTestDatabase, postgresTestOptions, type TestDatabase } from '../../helpers/databases.js';
import { DEPLOY_KAMAILIO_CONFIG, describeWithKamailio, startKamailio, type KamailioHandle } from '../../helpers/kamailio.js';
import { requirePeer } from '../../helpers/peers.js';
import { killHard, sleep, spawnServe, waitReady, waitUntil, type ServerProcess } from '../../helpers/processes.js';
import { redisPeer, startPrivateRedis } from '../../helpers/redis.js';
import { describeSippResult, freeUdpPort, freeUdpPortBlock, requireSipp, startSipp } from '../../helpers/sipp.js';
import { startReceiver } from '../../helpers/webhook-receiver.js';
import { netSmppPeer, startNetSmppSmsc } from '../../reliability/crash-under-load/net-smpp-smsc.js';
import { checkFinalEvents, checkLedger, checkSms, hammerOneKey, leaseLines } from './scale-out-checks.js';

/**
 * The scale-out acceptance test: the shipped deploy/kamailio/kamailio.cfg in front of three Dialplane nodes on one
 * PostgreSQL database and one private Redis, each node on its own loopback address (127.0.0.71-73), Kamailio being
 * every node's trunk, a Net::SMPP SMSC all nodes share (one holds the bind), and a webhook receiver. In one run:
 *
 * 1. the rate limit of one API key hammered over the three nodes at once lets through at most 1 % more than the limit;
 * 2. a baresip phone registered through node 1 is rung by a call placed on node 2's API, and the call completes;
 * 3. CALLS inbound calls from SIPp through Kamailio, each held HOLD_S seconds by its node, are spread over all three
 *    nodes (Kamailio's DISPATCH lines and the calls' owner_node agree);
 * 4. each node's API reads and hangs up a live call owned by another node (one final event each);
 * 5. while every node holds live calls, webhook deliveries are pending (the receiver answers 503 until the kill) and
 *    SMS sent through every node's API are in flight at the SMSC, the node holding the SMSC bind is SIGKILLed: the
 *    other nodes' calls go on and complete, the killed node's calls are ended by a survivor once its lease (LEASE_S)
 *    has run out, with exactly one final event each; the bind moves to a survivor; no webhook is acknowledged twice,
 *    no SMS part reaches the SMSC twice, and the ledger is exact (every call charged once, no hold left).
 */
const NAME = 'scale-out acceptance: three nodes behind Kamailio share calls, API, devices and limits, and survive a SIGKILL under load';
const ADMIN_TOKEN = 'scale-out-acceptance-admin-token-0123456789';
const APP_NUMBER = '+14155550171';
const NODE_HOSTS = ['127.0.0.71', '127.0.0.72', '127.0.0.73'] as const;
const CALLS = 300;
const CALL_RATE = 30;
/**
 * How long each inbound call's program holds it: the kill comes once every call was answered, while the calls are
 * up. On a busy 2-core machine the 300 calls took 35 s to be answered, so the first ones must last longer than that.
 */
const HOLD_S = 45;
/** How long a SIPp caller waits for its BYE (HOLD_S and a margin): the killed node's callers get none. */
const BYE_WAIT_MS = 60_000;
/**
 * The default, set here so the test does not depend on it. The killed node's calls are ended within two leases of
 * the kill, while the other nodes' calls are still up, so a shorter lease would not shorten the test; and on a 2-core
 * machine loaded by others as well (load average 16 to 19), live nodes' renewals came up to 7 s late: with a 5 s or
 * 10 s lease another node then ended a live node's calls (crash_recovery).
 */
const LEASE_S = 15;
const PING_INTERVAL_S = 1;
const SMS_PER_NODE = 10;
/** Every SMS of two parts, so 60 submit_sm through a window of 10, each answered this long after it arrived. */
const SMS_BODY_LENGTH = 200;
const SMSC_DELAY_MS = 1_500;
const HAMMER_REQUESTS = 1_500;
const HAMMER_CLIENTS = 9;
const WEBHOOK_PATHS = ['/a', '/b'] as const;
const options = await postgresTestOptions(NAME);

function countBy<T>(values: Iterable<T>): Map<T, number> {
  const counts = new Map<T, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  return counts;
}

const show = (counts: Map<unknown, number>) => JSON.stringify(Object.fromEntries(counts));

async function peersPresent(t: TestContext): Promise<boolean> {
  return (
    (await requireSipp(t)) && (await requirePeer(redisPeer, t)) && (await requireBaresip(t)) && (await requirePeer(netSmppPeer, t))
  );
}

await describeWithKamailio('Scale-out acceptance (Kamailio, three nodes, PostgreSQL, Redis)', () => {
  test(NAME, { skip: options.skip, timeout: 290_000 }, async (t) => {
    if (options.failure) throw new Error(options.failure);
    if (!(await peersPresent(t))) return;
    const started = Date.now();
    const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
    /** DIALPLANE_SCALE_OUT_TRACE=1 prints each step as it is reached. */
    const step = (what: string): void => {
      if (process.env.DIALPLANE_SCALE_OUT_TRACE) process.stderr.write(`[scale-out ${elapsed()}] ${what}\n`);
    };
    const db: TestDatabase = await createTestDatabase('postgres');
    const redis = await startPrivateRedis();
    const cluster = clusterOn(db.schema!, ADMIN_TOKEN);
    const runtime = await mkdtemp(join(tmpdir(), 'dialplane-scale-out-'));
    const smsc = await startNetSmppSmsc(SMSC_DELAY_MS);
    // Webhook receiver: refuses (503) until the kill, so that deliveries are pending then and none the killed node
    // attempted was acknowledged; accepts afterwards. Each request's answer is kept to count acknowledgements.
    let accepting = false;
    const statusOf: number[] = [];
    const receiver = await startReceiver((index) => {
      statusOf[index] = accepting ? 200 : 503;
      return { status: statusOf[index]! };
    });
    const procs: ServerProcess[] = [];
    let cleaning: Promise<void> | undefined;
    // Also after a timeout, which leaves the test's own code waiting.
    const cleanup = () =>
      (cleaning ??= (async () => {
        for (const proc of procs) await killHard(proc);
        await cluster.cleanup();
        await receiver.close();
        await smsc.stop();
        await redis.stop();
        await db.close();
        await rm(runtime, { recursive: true, force: true });
      })());
    t.after(cleanup);
    try {
      const sqlDb = db.database.db;
      // Sealed with the nodes' key, as if made through a node's API.
      const secrets = new SecretBox(Buffer.from(cluster.secretsKey, 'base64'));
      const store = createStore(db.database, { secrets });
      const services = createServices(store, { clock: systemClock, defaultCountry: 'US', keyCacheTtlMs: 0 });
      const { account } = await services.accounts.create({ name: 'Scale-out', email: 'scale-out@example.com' });
      await services.numbers.add(account.id, { number: APP_NUMBER, type: 'purchased' });
      await services.credits.add(account.id, 1_000_000, 'test');
      const { application } = await services.applications.create(account.id, {
        name: 'hold and hang up',
        program: [{ verb: 'pause', length: HOLD_S }, { verb: 'hangup' }],
      });
      await services.extensions.route(account.id, APP_NUMBER, { applicationId: application.id });

      // The carrier the device call's first leg reaches through Kamailio: answers one call and waits for the BYE.
      const carrier = await startSipp({ scenario: 'uas-proxied-wait-bye.xml', timeoutSeconds: 280, t });
      const sipPorts = await Promise.all(NODE_HOSTS.map(() => freeUdpPort()));
      const listFile = join(runtime, 'dispatcher.list');
      await writeFile(listFile, NODE_HOSTS.map((host, i) => `1 sip:${host}:${sipPorts[i]} 0 0\n`).join(''));
      const proxy: KamailioHandle = await startKamailio({
        config: DEPLOY_KAMAILIO_CONFIG,
        defines: { DISPATCHER_LIST: `"${listFile}"`, PING_INTERVAL: String(PING_INTERVAL_S), CARRIER: `"sip:${carrier.address}"` },
        timeoutSeconds: 290,
        t,
      });
      const rtpBase = await freeUdpPortBlock(1_200);
      const startNode = async (i: number, host: string): Promise<{ id: string; base: string; proc: ServerProcess }> => {
        const id = `scale-node-${i + 1}`;
        const rtp = rtpBase + 400 * i;
        const { env, base } = await cluster.node(`${rtp}-${rtp + 399}`, {
          DIALPLANE_NODE_ID: id,
          DIALPLANE_NODE_LEASE_S: String(LEASE_S),
          DIALPLANE_REDIS_URL: redis.url,
          DIALPLANE_SIP_HOST: host,
          DIALPLANE_SIP_PORT: String(sipPorts[i]),
          DIALPLANE_TRUNK: `sip:${proxy.address};transport=udp`,
          DIALPLANE_SIP_SOURCE_RATE: '0',
          DIALPLANE_MAX_CALLS: String(CALLS + 50),
          DIALPLANE_RTP_TIMEOUT_S: '0',
          DIALPLANE_SMSC: smsc.url,
          DIALPLANE_WEBHOOK_ALLOW_PRIVATE: 'true',
          // Retries 15 to 30 s apart: a receiver refusing costs a few attempts per delivery, not the CPU the calls need.
          DIALPLANE_WEBHOOK_RETRY_BASE_MS: '30000',
          DIALPLANE_WEBHOOK_RETRY_MAX_DELAY_MS: '30000',
          DIALPLANE_WEBHOOK_MAX_ATTEMPTS: '100',
          DIALPLANE_WEBHOOK_CONNECT_TIMEOUT_MS: '1000',
          DIALPLANE_WEBHOOK_TIMEOUT_MS: '5000',
        });
        const proc = spawnServe(env);
        procs.push(proc);
        // A start takes 7 to 9 s on a quiet 2-core machine, the first one migrating the database; far more on a busy one.
        await waitReady(base, proc, 60_000).catch((error: unknown) => {
          throw new Error(`${id}: ${String(error)}\nstdout: ${proc.stdout().slice(-3_000)}`);
        });
        return { id, base, proc };
      };
      // The first node alone, then the two others together (three at once on a busy 2-core machine can miss the
      // ready deadline).
      const first = await startNode(0, NODE_HOSTS[0]);
      const nodes = [first, ...(await Promise.all(NODE_HOSTS.slice(1).map((host, i) => startNode(i + 1, host))))];
      const leaseTrouble = (): string => leaseLines(nodes).join('\n');
      step('nodes ready');
      const nodeUp = (host: string, port: number): boolean => {
        const events = [...proxy.output().matchAll(/DISPATCH node (down|up) sip:([\d.]+):(\d+)/g)].filter((m) => m[2] === host && Number(m[3]) === port);
        return events.length === 0 || events[events.length - 1]![1] === 'up';
      };
      await sleep((PING_INTERVAL_S + 0.5) * 1000);
      await waitUntil("every node is in Kamailio's set", () => NODE_HOSTS.every((host, i) => nodeUp(host, sipPorts[i]!)), 10_000);

      const adminHeaders = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
      const request = async <T>(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = adminHeaders): Promise<T> => {
        const response = await fetch(`${base}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
        const text = await response.text();
        assert.ok(response.ok, `${method} ${base}${path}: ${response.status} ${text}`);
        return JSON.parse(text) as T;
      };
      const accountPath = `/admin/v1/accounts/${account.id}`;
      const { api_key: apiKey } = await request<{ api_key: string }>(nodes[0]!.base, 'POST', `${accountPath}/keys`, { name: 'calls' });
      const { api_key: hammerKey } = await request<{ api_key: string }>(nodes[1]!.base, 'POST', `${accountPath}/keys`, { name: 'hammer' });
      const user = { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' };
      // Two endpoints: /a takes every event, /b only the final ones.
      for (const [path, eventTypes] of [
        ['/a', ['*']],
        ['/b', ['call.ended']],
      ] as const) {
        await request(nodes[2]!.base, 'POST', `${accountPath}/webhooks/endpoints`, { url: `http://127.0.0.1:${receiver.port}${path}`, event_types: eventTypes });
      }

      /** 2. A phone registered through node 1 is rung by a call placed on node 2, and the call completes. */
      async function deviceCall(): Promise<void> {
        const { extension } = await request<{ extension: { id: string } }>(nodes[0]!.base, 'POST', `${accountPath}/extensions`, { name: 'Desk' });
        const device = await request<{ username: string; password: string }>(nodes[0]!.base, 'POST', `${accountPath}/extensions/${extension.id}/devices`, {});
        const phone = await startBaresip({
          user: device.username,
          account: `<sip:${device.username}@${NODE_HOSTS[0]}:${sipPorts[0]};transport=udp>;auth_pass=${device.password};regint=60;answermode=auto`,
          maxSeconds: 60,
          t,
        });
        try {
          await phone.waitRegistered();
          const placed = await request<{ call_id: string }>(
            nodes[1]!.base,
            'POST',
            '/dialplane/v1/calls',
            {
              from: APP_NUMBER,
              to: '+14155550100',
              program: [{ verb: 'dial', target: [{ type: 'extension', extension: extension.id }], timeout: 10, timeLimit: 2 }, { verb: 'hangup' }],
            },
            user,
          );
          await phone.waitEvent('CALL_ESTABLISHED', 15_000);
          const view = async () =>
            request<{ live: boolean; activities: Array<{ kind: string; data: Record<string, unknown> }> }>(nodes[1]!.base, 'GET', `/dialplane/v1/calls/${placed.call_id}`, undefined, user);
          await waitUntil('the device call is over', async () => !(await view()).live, 30_000);
          const dial = (await view()).activities.find((activity) => activity.kind === 'dial');
          assert.equal(dial?.data.outcome, 'completed', JSON.stringify((await view()).activities));
          const owner = await sqlDb.selectFrom('calls').select('owner_node').where('id', '=', placed.call_id).executeTakeFirstOrThrow();
          assert.equal(owner.owner_node, nodes[1]!.id);
          t.diagnostic(`device registered through ${nodes[0]!.id}, rung by a call placed on ${nodes[1]!.id}: dial outcome ${String(dial?.data.outcome)}`);
        } finally {
          await phone.stop();
        }
        const carried = await carrier.done;
        assert.equal(carried.code, 0, `the device call's carrier leg: ${describeSippResult(carried)}`);
      }

      // 1. One API key's window is one count over the three nodes (hammered while the device call below runs).
      step('hammering one key; device call');
      const limit = dialplaneWindows.requests.limit;
      const hammering = hammerOneKey(nodes.map((node) => node.base), hammerKey, limit, HAMMER_REQUESTS, HAMMER_CLIENTS);
      hammering.catch(() => undefined);
      await deviceCall();
      const hammer = await hammering;
      t.diagnostic(
        `rate limit: ${hammer.requests} requests of one key from ${HAMMER_CLIENTS} clients over 3 nodes, limit ${limit}/min: ` +
          `allowed ${hammer.allowed} (per node ${hammer.perNode.join('/')}), refused ${hammer.refused}, overshoot ${hammer.overshootPercent.toFixed(2)} %, in ${hammer.ms} ms`,
      );
      assert.ok(hammer.allowed >= limit, `the limit was reached (${hammer.allowed} allowed)`);
      assert.ok(hammer.overshootPercent < 1, `overshoot ${hammer.overshootPercent.toFixed(2)} % < 1 %`);
      assert.ok(hammer.perNode.every((n) => n > 0), 'every node let some through');


      // 3. The inbound load through Kamailio.
      step('placing inbound calls');
      const placedAt = Date.now();
      const sippLog = join(runtime, 'callers.log');
      const callers = await startSipp({
        scenario: 'uac-proxied-call-bye-or-timeout.xml',
        bindAddress: '127.0.0.2',
        remote: proxy.address,
        service: APP_NUMBER,
        calls: CALLS,
        rate: CALL_RATE,
        limit: CALLS + 10,
        timeoutSeconds: 200,
        traceMessages: false,
        args: ['-recv_timeout', String(BYE_WAIT_MS), '-trace_logs', '-log_file', sippLog],
        t,
      });
      const inbound = () =>
        sqlDb
          .selectFrom('calls')
          .select(['id', 'sip_call_id', 'owner_node', 'state', 'answered_at', 'ended_at', 'outcome', 'end_reason'])
          .where('account_id', '=', account.id)
          .where('direction', '=', 'inbound')
          .execute();
      // 4. Each node reads and hangs up a live call another node owns, while the rest of the calls are being set up.
      const hungUp = new Set<string>();
      /** Calls seen live that had ended by themselves when the hang-up reached their node. */
      const endedFirst: string[] = [];
      const acrossNodes = (async () => {
        let live: Awaited<ReturnType<typeof inbound>> = [];
        await waitUntil(
          'every node owns an answered call',
          async () => {
            live = (await inbound()).filter((row) => row.state === 'answered');
            return nodes.every((node) => live.some((row) => row.owner_node === node.id));
          },
          120_000,
        );
        // The last answered: the furthest from the end of its program.
        live.sort((a, b) => Date.parse(b.answered_at!) - Date.parse(a.answered_at!));
        for (const [i, node] of nodes.entries()) {
          const owner = nodes[(i + 1) % nodes.length]!;
          // A call seen live may end by itself before the hang-up reaches its node (once, on a machine at load 18,
          // the hang-up found a call ended as local_hangup): then the next one, up to three.
          for (const call of live.filter((row) => row.owner_node === owner.id).slice(0, 3)) {
            const seen = await request<{ state: string; live: boolean }>(node.base, 'GET', `/dialplane/v1/calls/${call.id}`, undefined, user);
            assert.equal(seen.state, 'answered', `${node.id} sees ${owner.id}'s call live\n${leaseTrouble()}`);
            assert.equal(seen.live, true);
            const askedAt = Date.now();
            const ended = await request<{ state: string; end_reason: string }>(node.base, 'POST', `/dialplane/v1/calls/${call.id}/hangup`, {}, user);
            const row = await sqlDb.selectFrom('calls').selectAll().where('id', '=', call.id).executeTakeFirstOrThrow();
            const why = `hang-up asked ${new Date(askedAt).toISOString()}; stored: ${JSON.stringify(row)}\n${leaseTrouble()}`;
            assert.equal(ended.state, 'ended', `${node.id} hung up ${owner.id}'s call: ${why}`);
            if (ended.end_reason === 'api_hangup') {
              hungUp.add(call.id);
              break;
            }
            // Only a call that had ended before the hang-up was asked may end otherwise.
            assert.ok(Date.parse(row.ended_at!) < askedAt, `${node.id} hung up ${owner.id}'s call: end_reason ${ended.end_reason}; ${why}`);
            endedFirst.push(`${call.id} ${ended.end_reason}`);
          }
          assert.ok([...hungUp].some((id) => live.find((row) => row.id === id)?.owner_node === owner.id), `${node.id} hung up a call of ${owner.id}`);
        }
      })();
      acrossNodes.catch(() => undefined);
      let lastTrace = 0;
      await waitUntil(
        `${CALLS} inbound calls answered`,
        async () => {
          const rows = await inbound();
          if (Date.now() - lastTrace > 2_000) {
            lastTrace = Date.now();
            step(`inbound calls by state: ${show(countBy(rows.map((row) => row.state)))}`);
          }
          return rows.length >= CALLS && rows.every((row) => row.state === 'answered' || row.state === 'ended');
        },
        120_000,
      );
      const setUp = await inbound();
      assert.equal(setUp.length, CALLS, 'one call per INVITE');
      assert.deepEqual(setUp.filter((row) => row.answered_at === null), [], `every call answered\n${leaseTrouble()}`);
      await acrossNodes;
      t.diagnostic(
        `hang-ups across nodes: ${nodes.map((node, i) => `${node.id} -> ${nodes[(i + 1) % nodes.length]!.id}`).join(', ')}; ` +
          `calls that had ended first: ${endedFirst.length === 0 ? 'none' : endedFirst.join(', ')}`,
      );

      const answeredInMs = Date.now() - placedAt;
      step('every inbound call answered');

      // 5. SMS through every node's API, then the node holding the SMSC bind is killed while their parts are in flight.
      step('sending SMS');
      const smsIds: string[] = [];
      // All at once: on a busy machine, one after the other they took longer than the calls last.
      await Promise.all(
        Array.from({ length: SMS_PER_NODE * nodes.length }, async (_, k) => {
          const body = `scale-out message ${k} `.padEnd(SMS_BODY_LENGTH, String.fromCharCode(97 + (k % 26)));
          const { message } = await request<{ message: { id: string } }>(nodes[k % nodes.length]!.base, 'POST', `${accountPath}/sms`, {
            from: APP_NUMBER,
            to: `+1415558${String(k).padStart(4, '0')}`,
            message: body,
          });
          smsIds.push(message.id);
        }),
      );
      const smsClaim = () => sqlDb.selectFrom('work_claims').select(['name', 'holder']).where('name', 'like', 'smpp:%').executeTakeFirst();
      // Past the first window (10): some parts accepted, others in flight.
      await waitUntil('SMS parts in flight at the SMSC', async () => (await smsc.submits()).length > 10, 30_000);
      const holder = (await smsClaim())?.holder;
      const killedIndex = nodes.findIndex((node) => node.id === holder);
      assert.ok(killedIndex >= 0, `a node holds the SMSC bind (${holder})`);
      const killed = nodes[killedIndex]!;
      const survivors = nodes.filter((node) => node !== killed);

      const liveByNode = countBy((await inbound()).filter((row) => row.state === 'answered').map((row) => row.owner_node));
      const pendingAtKill = await store.webhooks.countByStatus(account.id);
      step(`SIGKILL ${killed.id}`);
      killed.proc.child.kill('SIGKILL');
      const killedAt = Date.now();
      assert.equal(await killed.proc.exited, 'SIGKILL');
      const partsAtKill = await sqlDb.selectFrom('sms_parts').select(['status']).where('message_id', 'in', smsIds).execute();
      const inFlightAtKill = partsAtKill.filter((part) => part.status === 'submitting').length;
      const submitsAtKill = (await smsc.submits()).length;
      t.diagnostic(
        `at the kill of ${killed.id} (SMSC bind holder), ${elapsed()} in: live calls per node ${show(liveByNode)}; ` +
          `webhook deliveries pending ${pendingAtKill.pending + pendingAtKill.delivering} (receiver refusing); ` +
          `SMS parts in flight ${inFlightAtKill}, queued ${partsAtKill.filter((part) => part.status === 'queued').length}, submit_sm so far ${submitsAtKill}`,
      );
      for (const node of nodes) assert.ok((liveByNode.get(node.id) ?? 0) > 0, `${node.id} held live calls at the kill: ${show(liveByNode)}`);
      // Requests the killed node had sent are read by the receiver before it starts accepting.
      await sleep(1_000);
      accepting = true;

      // The bind moves to a survivor, which settles what was in flight and sends the rest.
      const survivorIds = survivors.map((node) => node.id);
      await waitUntil('a survivor holds the SMSC bind', async () => survivorIds.includes((await smsClaim())?.holder ?? ''), 30_000);
      const newHolder = (await smsClaim())!.holder;
      const bindMovedMs = Date.now() - killedAt;
      await waitUntil(
        'every SMS final',
        async () => (await sqlDb.selectFrom('sms_messages').select('status').where('id', 'in', smsIds).execute()).every((m) => m.status !== 'queued'),
        60_000,
      );

      // Every call ends: the survivors' at the end of their program, the killed node's by a survivor's recovery.
      await waitUntil('every inbound call ended', async () => (await inbound()).every((row) => row.state === 'ended'), 90_000);
      const rows = await inbound();
      const recoveredMs = Date.now() - killedAt;
      assert.equal(rows.length, CALLS);
      // On a busy machine the first calls may have ended by themselves before the last ones were answered and the kill.
      const endedBeforeKill = (row: (typeof rows)[number]) => Date.parse(row.ended_at!) < killedAt;
      const expectedEnd = (row: (typeof rows)[number]) =>
        hungUp.has(row.id) ? 'api_hangup' : row.owner_node === killed.id && !endedBeforeKill(row) ? 'crash_recovery' : 'local_hangup';
      const wrongEnd = rows.filter((row) => row.outcome !== 'completed' || row.end_reason !== expectedEnd(row));
      assert.deepEqual(wrongEnd, [], `the survivors' calls completed; the killed node's were ended by crash recovery\n${leaseTrouble()}`);
      t.diagnostic(`calls ended: ${show(countBy(rows.map((row) => `${row.owner_node} ${row.outcome}/${row.end_reason}`)))}`);
      const recoveredAt = rows.filter((row) => row.end_reason === 'crash_recovery').map((row) => Date.parse(row.ended_at!));
      const recoveryMs = [Math.min(...recoveredAt) - killedAt, Math.max(...recoveredAt) - killedAt];
      const lease = await sqlDb.selectFrom('nodes').select('lease_until').where('id', '=', killed.id).executeTakeFirstOrThrow();
      assert.ok(
        Math.min(...recoveredAt) >= Date.parse(lease.lease_until),
        `the killed node's calls were ended once its lease had run out (${lease.lease_until}), not before`,
      );

      // Kamailio's decisions and the calls' owners agree, and every node took some calls.
      // A node slow to answer an INVITE (tm's fr_timer, 2 s) is passed over for the next one: the last node wins.
      const dispatched = new Map<string, string>();
      let retried = 0;
      for (const match of proxy.output().matchAll(/DISPATCH INVITE call-id (\S+) (to|retried on) sip:([\d.]+):\d+/g)) {
        dispatched.set(match[1]!, match[3]!);
        if (match[2] === 'retried on') retried += 1;
      }
      for (const row of rows) {
        const host = dispatched.get(row.sip_call_id ?? '');
        assert.ok(host, `Kamailio dispatched ${row.sip_call_id}`);
        assert.equal(row.owner_node, nodes[NODE_HOSTS.indexOf(host as (typeof NODE_HOSTS)[number])]?.id, JSON.stringify(row));
      }
      const perNode = countBy(rows.map((row) => row.owner_node));
      t.diagnostic(
        `calls per node (owner_node, as Kamailio dispatched them): ${show(perNode)}; INVITEs retried on another node: ${retried}; ` +
          `${CALLS} calls placed at ${CALL_RATE}/s all answered ${answeredInMs} ms after the first`,
      );
      for (const node of nodes) assert.ok((perNode.get(node.id) ?? 0) > 0, `${node.id} took some calls`);

      // SIPp: a BYE for every call of the survivors, none for the killed node's (its callers gave up waiting).
      const result = await callers.done;
      assert.equal(result.code, 0, describeSippResult(result));
      assert.equal(result.stats.successful, CALLS, describeSippResult(result));
      const endings = (await readFile(sippLog, 'latin1')).split('\n').filter((line) => /^(bye|timeout) /.test(line));
      const byes = new Set(endings.filter((line) => line.startsWith('bye ')).map((line) => line.split(' ')[1]));
      assert.equal(endings.length, CALLS, 'one ending per call');
      const expectBye = new Set(rows.filter((row) => row.end_reason !== 'crash_recovery').map((row) => row.sip_call_id));
      assert.deepEqual([...byes].sort(), [...expectBye].sort(), "a BYE for exactly the calls whose node lived to send it");

      // Webhooks: one final event per leg, each acknowledged once per endpoint, none lost.
      await waitUntil(
        'every webhook delivery done',
        async () => {
          const counts = await store.webhooks.countByStatus(account.id);
          return counts.pending + counts.delivering === 0;
        },
        60_000,
      );
      const finals = await checkFinalEvents(sqlDb, store, account.id, receiver.requests, statusOf, WEBHOOK_PATHS);
      const sms = await checkSms(sqlDb, smsIds, smsc, inFlightAtKill);
      const ledger = await checkLedger(sqlDb, store, account.id);
      t.diagnostic(
        `after the kill: the SMSC bind moved to ${newHolder} in ${bindMovedMs} ms; ${recoveredAt.length} calls of ${killed.id} ended by crash recovery ` +
          `${recoveryMs[0]}-${recoveryMs[1]} ms after the kill (lease ${LEASE_S} s); the last call ended ${recoveredMs} ms after the kill; ` +
          `SIPp: ${byes.size} BYE + ${CALLS - byes.size} timeouts; lease warnings: ${leaseLines(nodes).length}`,
      );
      t.diagnostic(
        `final events: ${finals.finalEvents} for ${finals.legs} legs, exactly one each; deliveries ${finals.deliveries} delivered, ` +
          `${finals.acknowledged} acknowledged (duplicates 0), ${finals.refusedAttempts} attempts refused before the kill`,
      );
      t.diagnostic(
        `SMS: ${sms.messages} through 3 nodes' APIs, ${sms.sent} sent, ${sms.unconfirmed} submit_unconfirmed, ${sms.submits} submit_sm ` +
          `over ${sms.connections} SMSC binds, none twice`,
      );
      t.diagnostic(
        `ledger: balance ${ledger.balance} = sum of ${ledger.entries} entries, holds left 0; ${ledger.callsCharged} calls charged ${ledger.chargedMinor} in all, ` +
          `each once; ${ledger.callsReleased} recovered calls' reserves released uncharged; wall time ${elapsed()}`,
      );
    } finally {
      await cleanup();
    }
  });
});
