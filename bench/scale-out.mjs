#!/usr/bin/env node
// Scale-out on this machine: call cycles/s through Kamailio and API requests/s spread over the nodes, for a
// cluster of 1, 2 and 3 Dialplane nodes (deploy/cluster.sh: Kamailio with deploy/kamailio/kamailio.cfg, the nodes
// on one PostgreSQL database and one Redis), each figure also as a ratio to one node.
//
//   npm run build && node bench/scale-out.mjs [--nodes=1,2,3] [--calls=2000] [--call-rate=1000] [--call-limit=200]
//        [--api-seconds=10] [--connections=24]
//
// Before each measured phase, a warm-up that is not measured (200 calls per node; 2 s of API requests on each
// node), since each node process compiles its own hot paths. For each node count N, a fresh cluster: `deploy/cluster.sh start N` with its own run directory, its own
// PostgreSQL database (created by the script from DIALPLANE_BENCH_POSTGRES_URL, default
// postgres://postgres@127.0.0.1:5432/postgres, dropped afterwards), a private redis-server on a free loopback port,
// free ports for Kamailio, the nodes' SIP and HTTP; stopped with `deploy/cluster.sh stop` afterwards. Then:
//   (a) call cycles/s: the first node's bootstrap account gets an application whose program is
//       [{verb:'pause',length:0.05},{verb:'hangup'}] (pause answers the call) on one of its numbers; SIPp (test/sipp/uac-proxied-call-dialplane.xml, from 127.0.0.2) places --calls calls
//       through Kamailio at most --call-rate/s with at most --call-limit at once: INVITE -> 100/180 -> 200 -> ACK,
//       then the node's BYE -> 200, every in-dialog request through Kamailio, no media. Figure = SIPp's successful
//       calls / (its last statistics dump - its start), from its -trace_stat CSV. Kamailio spreads the calls
//       round-robin; the calls per node are read from its DISPATCH lines.
//   (b) API requests/s: GET /dialplane/v1/applications (API key auth from the key cache, one query) on every node
//       at once, --connections keep-alive connections in all split evenly over the nodes (one autocannon per node,
//       in this process), for --api-seconds s. Figure = 2xx responses / duration, summed over the nodes. The API
//       allows 1,200 requests per minute per key, counted across the nodes in Redis; so the requests rotate over
//       enough fresh keys (made through the admin API) that none comes near its limit, and any non-2xx (a 429
//       included) is counted and printed.
// Beside each figure: the machine's CPU busy share over the phase (from /proc/stat, both cores, whoever used them),
// and the CPU seconds of the nodes, Kamailio (all its processes), every PostgreSQL server process on the machine,
// and for (b) this process (autocannon). SIPp's own CPU is not shown: it has exited when the phase is read.
//
// CAVEAT, printed with the figures: everything runs on one 2-core machine shared with other work: the nodes,
// Kamailio, PostgreSQL, Redis and the load generators compete for the same two cores, so adding a node adds no CPU.
// The ratios show what spreading costs or gains here, not what N machines would do.
//
// Exit code: 0 when every phase ran (figures are reported, not judged), 1 if something failed to run, 2 for a bad
// argument. Every child runs under coreutils `timeout` or is stopped by the cluster script; temp directories and the
// databases are removed.
import autocannon from 'autocannon';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort, installCleanupHandlers, machineInfo, makeTempDir, printHeader, removeTempDir, repoRoot, requireBuild, sleep, trackChild } from './lib/common.mjs';
import { reportFigures } from './lib/report.mjs';
import { describeSippExit, readStatCsv, sippPorts, startSipp, tail } from './lib/sipp.mjs';

const SCRIPT = join(repoRoot, 'deploy', 'cluster.sh');
const SCENARIO = join(repoRoot, 'test', 'sipp', 'uac-proxied-call-dialplane.xml');
const POSTGRES_URL = process.env.DIALPLANE_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const KEY_BUDGET_PER_MINUTE = 1_000; // under the API's 1,200 per key per minute
const TICKS = 100; // USER_HZ: /proc CPU times are in 1/100 s
const IDLE_MS = 5000;
const WARMUP_CALLS = 200; // per node
const WARMUP_API_S = 2;

function parseArgs(argv) {
  const opts = { nodes: [1, 2, 3], calls: 2000, callRate: 1000, callLimit: 200, apiSeconds: 10, connections: 24 };
  const names = { nodes: 'nodes', calls: 'calls', 'call-rate': 'callRate', 'call-limit': 'callLimit', 'api-seconds': 'apiSeconds', connections: 'connections' };
  for (const arg of argv) {
    const m = /^--([a-z-]+)=(.+)$/.exec(arg);
    const key = m && names[m[1]];
    if (!key) {
      console.error(`unknown argument ${arg}; expected --name=value with name one of ${Object.keys(names).join(', ')}`);
      process.exit(2);
    }
    if (key === 'nodes') {
      const list = m[2].split(',').map(Number);
      if (!list.every((n) => Number.isInteger(n) && n >= 1 && n <= 9)) {
        console.error('--nodes: node counts 1-9, comma-separated');
        process.exit(2);
      }
      opts.nodes = list;
      continue;
    }
    const value = Number(m[2]);
    if (!Number.isInteger(value) || value <= 0) {
      console.error(`--${m[1]} must be a positive integer`);
      process.exit(2);
    }
    opts[key] = value;
  }
  return opts;
}

const fmt = (n, digits = 0) =>
  Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : 'n/a';

// ---------------------------------------------------------------------------------------------------------------
// CPU accounting from /proc

/** [busy, total] jiffies of the whole machine. */
function machineCpu() {
  const cells = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = cells[3] + (cells[4] ?? 0);
  const total = cells.reduce((a, b) => a + b, 0);
  return [total - idle, total];
}

/** pid -> { comm, ppid, ticks } for every process now. */
function processTable() {
  const table = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const rest = stat.slice(close + 2).split(' ');
      table.set(Number(name), { comm, ppid: Number(rest[1]), ticks: Number(rest[11]) + Number(rest[12]) });
    } catch {
      // gone meanwhile
    }
  }
  return table;
}

/** The CPU ticks of each group: a group is a set of root pids with all their descendants, or a process name. */
function cpuByGroup(groups) {
  const table = processTable();
  const children = new Map();
  for (const [pid, p] of table) {
    if (!children.has(p.ppid)) children.set(p.ppid, []);
    children.get(p.ppid).push(pid);
  }
  const out = {};
  for (const [name, roots] of Object.entries(groups)) {
    let ticks = 0;
    if (typeof roots === 'string') {
      for (const p of table.values()) if (p.comm === roots) ticks += p.ticks;
    } else {
      const stack = [...roots];
      const seen = new Set();
      while (stack.length) {
        const pid = stack.pop();
        if (seen.has(pid)) continue;
        seen.add(pid);
        ticks += table.get(pid)?.ticks ?? 0;
        stack.push(...(children.get(pid) ?? []));
      }
    }
    out[name] = ticks;
  }
  return out;
}

function cpuDelta(before, after) {
  return Object.fromEntries(Object.keys(after).map((k) => [k, (after[k] - (before[k] ?? 0)) / TICKS]));
}

// ---------------------------------------------------------------------------------------------------------------
// Cluster

function runScript(args, env) {
  const result = spawnSync('bash', [SCRIPT, ...args], { env, cwd: env.CLUSTER_DIR, encoding: 'utf8', timeout: 120_000 });
  return { code: result.status, stdout: result.stdout ?? '', stderr: result.stderr ?? '' };
}

async function startRedis() {
  const port = await freePort();
  const child = trackChild(
    spawn('timeout', ['-k', '3', '900', 'redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: 'ignore',
    }),
  );
  for (let i = 0; i < 100; i++) {
    const ping = spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' });
    if (ping.stdout?.trim() === 'PONG') return { url: `redis://127.0.0.1:${port}`, child };
    await sleep(50);
  }
  throw new Error('redis-server did not start');
}

async function withPostgres(use) {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

async function api(base, method, path, token, body) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return JSON.parse(text);
}

async function startCluster(n, dir, redisUrl) {
  const runDir = join(dir, `cluster-${n}`);
  const database = `dp_bench_scale_${process.pid}_${n}`;
  const url = new URL(POSTGRES_URL);
  url.pathname = `/${database}`;
  const kamailioPort = (await sippPorts()).sip;
  const httpBase = (await freePort()) - 1;
  const env = {
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DIALPLANE_'))),
    CLUSTER_DIR: runDir,
    DIALPLANE_DATABASE_URL: url.toString(),
    DIALPLANE_REDIS_URL: redisUrl,
    KAMAILIO_LISTEN: `127.0.0.1:${kamailioPort}`,
    NODE_SIP_PORT: String((await sippPorts()).sip),
    HTTP_BASE_PORT: String(httpBase),
    RTP_BASE_PORT: '40000',
    PING_INTERVAL: '5',
    NODE: process.execPath,
  };
  spawnSync('mkdir', ['-p', runDir]);
  const started = runScript(['start', String(n)], env);
  const cluster = { n, runDir, env, database, kamailio: `127.0.0.1:${kamailioPort}`, bases: [], started };
  if (started.code !== 0) return cluster;
  for (let i = 1; i <= n; i++) cluster.bases.push(`http://127.0.0.1:${httpBase + i}`);
  const pid = (file) => Number(readFileSync(join(runDir, file), 'utf8'));
  cluster.nodePids = Array.from({ length: n }, (_, i) => pid(`node-${i + 1}.pid`));
  cluster.kamailioPid = pid('kamailio.pid');
  return cluster;
}

function stopCluster(cluster) {
  const stopped = runScript(['stop'], cluster.env);
  return stopped;
}

async function dropDatabase(name) {
  await withPostgres((client) => client.query(`drop database if exists ${name} with (force)`));
}

// ---------------------------------------------------------------------------------------------------------------
// Phases

function cpuGroups(cluster, extra = {}) {
  return { nodes: cluster.nodePids, kamailio: [cluster.kamailioPid], 'postgres (every server process on the machine)': 'postgres', ...extra };
}

async function callPhase(cluster, opts, dir, token) {
  const base = cluster.bases[0];
  const { numbers } = JSON.parse(readFileSync(join(cluster.runDir, 'node-1', 'bootstrap.json'), 'utf8'));
  const number = numbers[0].number;
  const application = await api(base, 'POST', '/dialplane/v1/applications', token, { name: 'answer and hang up', program: [{ verb: 'pause', length: 0.05 }, { verb: 'hangup' }] });
  await api(base, 'PUT', `/dialplane/v1/numbers/${encodeURIComponent(number)}/route`, token, { application_id: application.id });

  // Warm-up, not measured: WARMUP_CALLS calls for each node (each process compiles its hot paths itself).
  const warmPorts = await sippPorts();
  const warmup = startSipp(
    ['-sf', SCENARIO, '-i', '127.0.0.2', '-mi', '127.0.0.2', '-p', String(warmPorts.sip), '-mp', String(warmPorts.media), '-t', 'u1',
      '-s', number, '-key', 'caller', 'sipp', '-m', String(WARMUP_CALLS * cluster.n), '-r', String(opts.callRate), '-l', String(opts.callLimit),
      '-buff_size', String(4 * 1024 * 1024), '-nostdin', '-timeout', '60s', cluster.kamailio],
    { logFile: join(dir, `warmup-${cluster.n}.log`), limitS: 80, cwd: dir },
  );
  const warmExit = await warmup.exited;
  if (warmExit.code !== 0) console.log(`    warm-up calls: sipp ${describeSippExit(warmExit)}`);

  const kamailioLogFile = join(cluster.runDir, 'kamailio.log');
  const logOffset = readFileSync(kamailioLogFile).length; // DISPATCH lines of the measured calls only
  const ports = await sippPorts();
  const csv = join(dir, `calls-${cluster.n}.csv`);
  const log = join(dir, `calls-${cluster.n}.log`);
  const errors = join(dir, `calls-${cluster.n}-errors.log`);
  const args = ['-sf', SCENARIO, '-i', '127.0.0.2', '-mi', '127.0.0.2', '-p', String(ports.sip), '-mp', String(ports.media), '-t', 'u1',
    '-s', number, '-key', 'caller', 'sipp', '-m', String(opts.calls), '-r', String(opts.callRate), '-l', String(opts.callLimit),
    '-buff_size', String(4 * 1024 * 1024), '-nostdin', '-timeout', '150s', '-trace_stat', '-stf', csv, '-fd', '1', '-trace_err', '-error_file', errors, cluster.kamailio];
  const m0 = machineCpu();
  const c0 = cpuByGroup(cpuGroups(cluster));
  const run = startSipp(args, { logFile: log, limitS: 170, cwd: dir });
  const exit = await run.exited;
  const c1 = cpuByGroup(cpuGroups(cluster));
  const m1 = machineCpu();
  const stats = readStatCsv(csv);
  const kamailioLog = readFileSync(kamailioLogFile).subarray(logOffset).toString('utf8');
  const perNode = {};
  for (const match of kamailioLog.matchAll(/DISPATCH INVITE call-id \S+ to sip:([\d.]+):/g)) perNode[match[1]] = (perNode[match[1]] ?? 0) + 1;
  return {
    command: run.command,
    exit,
    errors: existsSync(errors) ? readFileSync(errors, 'utf8') : '',
    stats,
    log,
    rate: stats ? stats.successful / stats.seconds : Number.NaN,
    perNode,
    busy: (m1[0] - m0[0]) / (m1[1] - m0[1]),
    cpu: cpuDelta(c0, c1),
  };
}

async function apiPhase(cluster, opts, token, accountId, adminToken) {
  const base = cluster.bases[0];
  // Enough keys that none nears its limit: the whole phase's requests at a generous ceiling of 4,000/s.
  const keysNeeded = Math.max(4, Math.ceil((4000 * (opts.apiSeconds + WARMUP_API_S)) / KEY_BUDGET_PER_MINUTE));
  const keys = [];
  for (let i = 0; i < keysNeeded; i++) {
    const created = await fetch(`${base}/admin/v1/accounts/${accountId}/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: `bench ${i}` }),
    });
    if (created.status !== 201) throw new Error(`creating a key: ${created.status} ${await created.text()}`);
    keys.push((await created.json()).api_key);
  }
  const requests = keys.map((key) => ({ method: 'GET', path: '/dialplane/v1/applications', headers: { authorization: `Bearer ${key}` } }));
  // Warm every node's key cache (one request per key per node), then each node for WARMUP_API_S s, not measured.
  for (const nodeBase of cluster.bases) for (const key of keys) await api(nodeBase, 'GET', '/dialplane/v1/applications', key);
  const perNodeConnections = Math.max(1, Math.round(opts.connections / cluster.n));
  await Promise.all(cluster.bases.map((url) => autocannon({ url, connections: perNodeConnections, duration: WARMUP_API_S, requests })));

  const m0 = machineCpu();
  const c0 = cpuByGroup(cpuGroups(cluster, { generator: [process.pid] }));
  const results = await Promise.all(
    cluster.bases.map((url) => autocannon({ url, connections: perNodeConnections, duration: opts.apiSeconds, requests })),
  );
  const c1 = cpuByGroup(cpuGroups(cluster, { generator: [process.pid] }));
  const m1 = machineCpu();
  const ok = results.reduce((a, r) => a + r['2xx'], 0);
  const duration = Math.max(...results.map((r) => r.duration));
  return {
    keys: keys.length,
    perNodeConnections,
    ok,
    non2xx: results.reduce((a, r) => a + r.non2xx, 0),
    errors: results.reduce((a, r) => a + r.errors + r.timeouts, 0),
    statusCodes: results.map((r) => Object.fromEntries(Object.entries(r.statusCodeStats).map(([code, v]) => [code, v.count]))),
    perNode: results.map((r) => r['2xx'] / r.duration),
    rps: ok / duration,
    busy: (m1[0] - m0[0]) / (m1[1] - m0[1]),
    cpu: cpuDelta(c0, c1),
  };
}

function cpuLine(cpu) {
  return Object.entries(cpu)
    .map(([k, v]) => `${k} ${fmt(v, 1)} s`)
    .join(', ');
}

// ---------------------------------------------------------------------------------------------------------------

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  installCleanupHandlers();
  requireBuild();
  for (const [what, ok] of [
    ['kamailio', existsSync('/usr/sbin/kamailio') || spawnSync('sh', ['-c', 'command -v kamailio']).status === 0],
    ['sipp', existsSync('/usr/bin/sipp')],
    ['redis-server', spawnSync('sh', ['-c', 'command -v redis-server']).status === 0],
  ]) {
    if (!ok) throw new Error(`${what} is not installed`);
  }
  printHeader('scale-out: call cycles/s through Kamailio and API requests/s over 1..N Dialplane nodes (deploy/cluster.sh)');
  console.log(
    `options : --nodes=${opts.nodes.join(',')} --calls=${opts.calls} --call-rate=${opts.callRate} --call-limit=${opts.callLimit} ` +
      `--api-seconds=${opts.apiSeconds} --connections=${opts.connections}`,
  );
  const loadStart = os.loadavg().map((x) => x.toFixed(2)).join(' / ');
  const dir = makeTempDir('dialplane-scale-out-');
  const redis = await startRedis();
  const rows = [];
  let failed = false;
  try {
    for (const n of opts.nodes) {
      console.log(`\n--- ${n} node${n > 1 ? 's' : ''} ---`);
      const cluster = await startCluster(n, dir, redis.url);
      try {
        if (cluster.started.code !== 0) {
          console.log(`    PROBLEM: deploy/cluster.sh start ${n} exited ${cluster.started.code}:\n${cluster.started.stdout}\n${cluster.started.stderr}`);
          failed = true;
          continue;
        }
        const bootstrap = JSON.parse(readFileSync(join(cluster.runDir, 'node-1', 'bootstrap.json'), 'utf8'));
        const adminToken = readFileSync(join(cluster.runDir, 'admin.token'), 'utf8').trim();
        await fetch(`${cluster.bases[0]}/admin/v1/accounts/${bootstrap.accountId}/credits`, {
          method: 'POST',
          headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
          body: JSON.stringify({ amount: 100000, description: 'bench' }),
        });
        await sleep(1000);

        // What the nodes spend doing nothing (timers, lease renewals, Redis), so it can be told apart below.
        const i0 = cpuByGroup(cpuGroups(cluster));
        const idleStart = Date.now();
        await sleep(IDLE_MS);
        const idle = cpuDelta(i0, cpuByGroup(cpuGroups(cluster)));
        const idleShare = idle.nodes / ((Date.now() - idleStart) / 1000) / n; // of one core, per node
        console.log(`    idle: each node ${fmt(100 * idleShare, 1)}% of a core, Kamailio ${fmt((100 * idle.kamailio) / ((Date.now() - idleStart) / 1000), 1)}% (over ${IDLE_MS / 1000} s)`);

        const calls = await callPhase(cluster, opts, dir, bootstrap.apiKey);
        console.log(`    calls: ${calls.command.replace(repoRoot, '')}`);
        console.log(`    sipp ${describeSippExit(calls.exit)}`);
        if (calls.stats) {
          console.log(
            `    ${fmt(calls.stats.successful)} successful, ${fmt(calls.stats.failed)} failed${Object.keys(calls.stats.failures).length ? ` ${JSON.stringify(calls.stats.failures)}` : ''}, ` +
              `${fmt(calls.stats.retransmissions)} retransmissions, in ${fmt(calls.stats.seconds, 2)} s -> ${fmt(calls.rate)} call cycles/s`,
          );
        }
        if (calls.stats && calls.stats.successful + calls.stats.failed < opts.calls) {
          console.log(`    note: SIPp's -timeout ended the run after ${fmt(calls.stats.successful + calls.stats.failed)} of ${fmt(opts.calls)} calls`);
        }
        if (calls.stats?.failed) {
          const first = /Aborting call[^\n]*\n(?:[^\n]+\n){0,3}/.exec(calls.errors)?.[0] ?? calls.errors.slice(0, 600);
          console.log(`    first failure SIPp logged: ${first.trim().replace(/\n/g, '\n      ')}`);
        }
        console.log(`    calls per node (Kamailio's DISPATCH lines): ${JSON.stringify(calls.perNode)}`);
        console.log(`    machine CPU busy ${fmt(100 * calls.busy)}% of ${os.cpus().length} cores; CPU seconds: ${cpuLine(calls.cpu)}`);
        if (!calls.stats || calls.stats.successful === 0) {
          console.log(`    PROBLEM: no call succeeded: ${tail(calls.log, 15)}`);
          failed = true;
        }

        const apiResult = await apiPhase(cluster, opts, bootstrap.apiKey, bootstrap.accountId, adminToken);
        console.log(
          `    API: GET /dialplane/v1/applications, ${apiResult.perNodeConnections} connection(s) on each of ${n} node(s), ${apiResult.keys} keys rotated, ${opts.apiSeconds} s`,
        );
        console.log(
          `    ${fmt(apiResult.ok)} 2xx, ${fmt(apiResult.non2xx)} non-2xx, ${fmt(apiResult.errors)} errors/timeouts -> ${fmt(apiResult.rps)} requests/s ` +
            `(per node: ${apiResult.perNode.map((r) => fmt(r)).join(', ')})`,
        );
        if (apiResult.non2xx || apiResult.errors) {
          console.log(`    status codes per node: ${JSON.stringify(apiResult.statusCodes)}`);
          failed = true;
        }
        console.log(`    machine CPU busy ${fmt(100 * apiResult.busy)}% of ${os.cpus().length} cores; CPU seconds: ${cpuLine(apiResult.cpu)}`);
        rows.push({
          n,
          callRate: calls.rate,
          callsFailed: calls.stats?.failed ?? Number.NaN,
          callBusy: calls.busy,
          // CPU of the nodes and Kamailio per call (ms), and of the nodes per 1,000 API requests (s): less sensitive to
          // what else runs on the machine than the rates.
          callCpuMs: (1000 * (calls.cpu.nodes + calls.cpu.kamailio)) / Math.max(1, calls.stats?.successful ?? 0),
          idleShare,
          rps: apiResult.rps,
          apiBusy: apiResult.busy,
          apiCpuMs: (1000 * apiResult.cpu.nodes) / Math.max(1, apiResult.ok),
        });
      } finally {
        const stopped = stopCluster(cluster);
        if (stopped.code !== 0) console.log(`    deploy/cluster.sh stop exited ${stopped.code}: ${stopped.stderr}`);
        await dropDatabase(cluster.database).catch((error) => console.log(`    could not drop ${cluster.database}: ${error.message}`));
      }
    }

    const one = rows.find((r) => r.n === 1);
    console.log(
      `\n${'nodes'.padEnd(6)}${'call cycles/s'.padStart(14)}${'ratio'.padStart(7)}${'failed'.padStart(7)}${'CPU busy'.padStart(9)}${'ms CPU/call'.padStart(13)}` +
        `${'API req/s'.padStart(11)}${'ratio'.padStart(7)}${'CPU busy'.padStart(9)}${'ms CPU/req'.padStart(12)}${'idle/node'.padStart(11)}`,
    );
    for (const r of rows) {
      console.log(
        `${String(r.n).padEnd(6)}${fmt(r.callRate).padStart(14)}${(one ? fmt(r.callRate / one.callRate, 2) : 'n/a').padStart(7)}${fmt(r.callsFailed).padStart(7)}` +
          `${`${fmt(100 * r.callBusy)}%`.padStart(9)}${fmt(r.callCpuMs, 2).padStart(13)}${fmt(r.rps).padStart(11)}${(one ? fmt(r.rps / one.rps, 2) : 'n/a').padStart(7)}` +
          `${`${fmt(100 * r.apiBusy)}%`.padStart(9)}${fmt(r.apiCpuMs, 3).padStart(12)}${`${fmt(100 * r.idleShare, 1)}%`.padStart(11)}`,
      );
    }
    console.log(
      'ms CPU/call: CPU of the nodes and Kamailio per successful call; ms CPU/req: CPU of the nodes per 2xx API request; ' +
        'idle/node: CPU share of one core each node takes while idle (included in the two CPU columns).',
    );
    const vsOne = (r, figure, unit, value, anchorValue, better) => ({
      figure: `${r.n} node${r.n > 1 ? 's' : ''}: ${figure}`,
      unit,
      value,
      ...(one && r.n !== 1 ? { anchor: '1 node', anchorValue } : {}),
      better,
    });
    reportFigures(
      'scale-out',
      rows.flatMap((r) => [
        vsOne(r, 'call cycles/s through Kamailio', '/s', r.callRate, one?.callRate, 'higher'),
        vsOne(r, 'CPU per call (nodes + Kamailio)', 'ms', r.callCpuMs, one?.callCpuMs, 'lower'),
        vsOne(r, 'API requests/s', '/s', r.rps, one?.rps, 'higher'),
        vsOne(r, 'CPU per API request (nodes)', 'ms', r.apiCpuMs, one?.apiCpuMs, 'lower'),
      ]),
      [
        `${opts.calls} calls per cluster (at most ${opts.callRate}/s, ${opts.callLimit} at once), API for ${opts.apiSeconds} s over ${opts.connections} connections; failed calls: ${rows.map((r) => `${r.n} node(s) ${fmt(r.callsFailed)}`).join(', ')}.`,
        'Every node, Kamailio, PostgreSQL, Redis and the load generators share the same cores: a node added brings no CPU, so the ratios show the cost of spreading, not the gain of N machines.',
      ],
    );
    const m = machineInfo();
    console.log(
      `caveat  : one ${m.nproc}-core machine runs every node, Kamailio, PostgreSQL, Redis, SIPp and autocannon: a node added brings no CPU, ` +
        'so these ratios show the cost of spreading over processes here, not the gain of N machines.',
    );
    console.log(`machine : ${m.cpu}, nproc=${m.nproc}; load average ${loadStart} at start, ${os.loadavg().map((x) => x.toFixed(2)).join(' / ')} at the end`);
  } finally {
    redis.child.kill('SIGTERM');
    removeTempDir(dir);
  }
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error?.stack ?? error);
    process.exit(1);
  },
);
