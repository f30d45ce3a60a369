import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { POSTGRES_URL } from './databases.js';
import { freePort, killHard, spawnServe, testEnv, waitReady, type ServerProcess } from './processes.js';

/**
 * Servers of one deployment for process tests: every node runs in the test's own schema of the test PostgreSQL,
 * with the admin token and secrets key they must share (docs/configuration.md, Several servers on one database),
 * and a data directory and HTTP port of its own.
 */
export interface Cluster {
  /** DIALPLANE_SECRETS_KEY of every node (base64), for a test that seals values in the database itself. */
  readonly secretsKey: string;
  /** The environment and HTTP base of a new node; `extra` adds or overrides variables. */
  node(rtpPorts: string, extra?: Record<string, string>): Promise<{ env: NodeJS.ProcessEnv; base: string }>;
  /** A new node, started and ready. */
  start(rtpPorts: string, extra?: Record<string, string>): Promise<{ base: string; proc: ServerProcess }>;
  /** Kills the nodes `start` made and removes every node's data directory. */
  cleanup(): Promise<void>;
}

export function clusterOn(schema: string, adminToken: string): Cluster {
  const url = new URL(POSTGRES_URL);
  url.searchParams.set('options', `-c search_path=${schema}`);
  const secretsKey = randomBytes(32).toString('base64');
  const dirs: string[] = [];
  const procs: ServerProcess[] = [];
  const cluster: Cluster = {
    secretsKey,
    async node(rtpPorts, extra = {}) {
      const dataDir = await mkdtemp(join(tmpdir(), 'dialplane-node-'));
      dirs.push(dataDir);
      const port = await freePort();
      const env = testEnv({
        DIALPLANE_DATA_DIR: dataDir,
        DIALPLANE_HTTP_PORT: String(port),
        DIALPLANE_DATABASE_URL: url.toString(),
        DIALPLANE_ADMIN_TOKEN: adminToken,
        DIALPLANE_SECRETS_KEY: secretsKey,
        DIALPLANE_TRUNK: 'dev',
        DIALPLANE_TRUNK_KEEPALIVE_S: '0',
        DIALPLANE_RTP_PORTS: rtpPorts,
        ...extra,
      });
      return { env, base: `http://127.0.0.1:${port}` };
    },
    async start(rtpPorts, extra = {}) {
      const { env, base } = await cluster.node(rtpPorts, extra);
      const proc = spawnServe(env);
      procs.push(proc);
      await waitReady(base, proc);
      return { base, proc };
    },
    async cleanup() {
      for (const proc of procs.splice(0)) await killHard(proc);
      for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
    },
  };
  return cluster;
}
