import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import pg from 'pg';
import { POSTGRES_URL, postgresTestOptions } from '../../helpers/databases.js';
import { KAMAILIO_BIN, describeWithKamailio } from '../../helpers/kamailio.js';
import { requirePeer } from '../../helpers/peers.js';
import { ROOT, freePort, runProgram, testEnv } from '../../helpers/processes.js';
import { redisPeer, startPrivateRedis } from '../../helpers/redis.js';
import { describeSippResult, freeUdpPort, requireSipp, startSipp } from '../../helpers/sipp.js';

/**
 * deploy/cluster.sh as a user runs it: `start 2` makes its database, starts two nodes (127.0.0.11 and 127.0.0.12)
 * and Kamailio with the shipped configuration, and prints where each listens; the first node's bootstrap key creates
 * an application that answers, a number is routed to it, and SIPp's calls through Kamailio all complete, spread over
 * both nodes; `stop` ends every process it started. Ports are free ones, the database and run directory the test's
 * own.
 */
const NAME = 'deploy/cluster.sh starts Kamailio and two nodes that take calls, and stops them';
const options = await postgresTestOptions(NAME);
const SCRIPT = join(ROOT, 'deploy', 'cluster.sh');
const CALLS = 12;

async function withPostgres<T>(use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

await describeWithKamailio('deploy/cluster.sh', () => {
  test(NAME, { skip: options.skip, timeout: 110_000 }, async (t) => {
    if (options.failure) throw new Error(options.failure);
    if (!(await requireSipp(t)) || !(await requirePeer(redisPeer, t))) return;
    const redis = await startPrivateRedis();
    const runDir = await mkdtemp(join(tmpdir(), 'dialplane-cluster-'));
    const database = `dp_cluster_${process.pid}_${Date.now().toString(36)}`;
    const databaseUrl = new URL(POSTGRES_URL);
    databaseUrl.pathname = `/${database}`;
    const kamailioPort = await freeUdpPort();
    const httpBase = (await freePort()) - 1;
    const env = testEnv({
      CLUSTER_DIR: runDir,
      DIALPLANE_DATABASE_URL: databaseUrl.toString(),
      DIALPLANE_REDIS_URL: redis.url,
      KAMAILIO_LISTEN: `127.0.0.1:${kamailioPort}`,
      NODE_SIP_PORT: String(await freeUdpPort()),
      HTTP_BASE_PORT: String(httpBase),
      RTP_BASE_PORT: '40000',
      PING_INTERVAL: '1',
      KAMAILIO: KAMAILIO_BIN,
      NODE: process.execPath,
    });
    const cluster = (...args: string[]) => runProgram('bash', [SCRIPT, ...args], { env, cwd: runDir, timeoutMs: 80_000 });
    try {
      const started = await cluster('start', '2');
      assert.equal(started.code, 0, `start: ${started.stdout}\n${started.stderr}`);
      for (const line of started.stdout.trim().split("\n")) t.diagnostic(line);
      assert.match(started.stdout, new RegExp(`created database ${database}`));
      assert.match(started.stdout, new RegExp(`Kamailio\\s+sip:127\\.0\\.0\\.1:${kamailioPort}`));
      assert.match(started.stdout, new RegExp(`node-1\\s+sip:127\\.0\\.0\\.11:\\d+\\s+http://127\\.0\\.0\\.1:${httpBase + 1}`));
      assert.match(started.stdout, new RegExp(`node-2\\s+sip:127\\.0\\.0\\.12:\\d+\\s+http://127\\.0\\.0\\.1:${httpBase + 2}`));
      const status = await cluster('status');
      assert.match(status.stdout, /kamailio: running/);
      assert.match(status.stdout, /node-1: running[\s\S]*node-2: running/);

      // As docs/scale-out.md shows: an application through node 1, the number's route through node 2.
      const bootstrap = JSON.parse(await readFile(join(runDir, 'node-1', 'bootstrap.json'), 'utf8')) as {
        apiKey: string;
        numbers: Array<{ number: string }>;
      };
      const number = bootstrap.numbers[0]!.number;
      const headers = { authorization: `Bearer ${bootstrap.apiKey}`, 'content-type': 'application/json' };
      const created = await fetch(`http://127.0.0.1:${httpBase + 1}/dialplane/v1/applications`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ name: 'answer', program: [{ verb: 'pause', length: 1 }, { verb: 'hangup' }] }),
      });
      assert.equal(created.status, 201, await created.clone().text());
      const { id: applicationId } = (await created.json()) as { id: string };
      const routed = await fetch(`http://127.0.0.1:${httpBase + 2}/dialplane/v1/numbers/${encodeURIComponent(number)}/route`, {
        method: 'PUT',
        headers,
        body: JSON.stringify({ application_id: applicationId }),
      });
      assert.equal(routed.status, 200, await routed.clone().text());

      const caller = await startSipp({
        scenario: 'uac-proxied-call-dialplane.xml',
        bindAddress: '127.0.0.2',
        remote: `127.0.0.1:${kamailioPort}`,
        service: number,
        calls: CALLS,
        rate: 10,
        limit: 20,
        timeoutSeconds: 30,
        traceMessages: false,
        t,
      });
      const result = await caller.done;
      const kamailioLog = await readFile(join(runDir, 'kamailio.log'), 'utf8');
      assert.equal(result.code, 0, `${describeSippResult(result)}\n${kamailioLog.slice(-3000)}`);
      assert.equal(result.stats.successful, CALLS);
      const nodes = [...kamailioLog.matchAll(/DISPATCH INVITE call-id \S+ to sip:([\d.]+):/g)].map((m) => m[1]);
      assert.equal(nodes.length, CALLS);
      assert.ok(nodes.includes('127.0.0.11') && nodes.includes('127.0.0.12'), `both nodes took calls: ${nodes.join(' ')}`);

      const stopped = await cluster('stop');
      assert.equal(stopped.code, 0, `stop: ${stopped.stdout}\n${stopped.stderr}`);
      assert.match(stopped.stdout, /kamailio: stopped/);
      assert.match(stopped.stdout, /node-1: stopped[\s\S]*node-2: stopped/);
      const after = await cluster('status');
      assert.doesNotMatch(after.stdout, /: running/);
    } finally {
      // Whatever failed above: nothing it started is left running (a second stop finds no pid file and does nothing).
      await cluster('stop');
      await redis.stop();
      await rm(runDir, { recursive: true, force: true });
      await withPostgres(async (client) => {
        // A node's connections may linger a moment after its exit.
        await client.query(`drop database if exists ${database} with (force)`);
      });
    }
  });
});
