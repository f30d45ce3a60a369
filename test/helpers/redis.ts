import { spawn, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { freePort, sleep } from './processes.js';
import { killGroup, trackPeerProcess, type SystemPeer } from './peers.js';

/**
 * Redis for the shared-state suites: the server the machine runs (DIALPLANE_TEST_REDIS_URL, default
 * redis://127.0.0.1:6379), and for outage tests a private redis-server of the test's own on a free loopback port,
 * which the test may stop and start.
 */
export const REDIS_URL = process.env.DIALPLANE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const REDIS_SERVER_BIN = process.env.DIALPLANE_TEST_REDIS_SERVER ?? 'redis-server';

let problemOnce: Promise<string | undefined> | undefined;

function redisProblem(): Promise<string | undefined> {
  problemOnce ??= (async () => {
    const client = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 2_000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      const pong = await client.ping();
      return pong === 'PONG' ? undefined : `${REDIS_URL} answered PING with ${pong}`;
    } catch (err) {
      return `${REDIS_URL}: ${err instanceof Error ? err.message : String(err)}`;
    } finally {
      client.disconnect();
    }
  })();
  return problemOnce;
}

export const redisPeer: SystemPeer = {
  label: 'Redis',
  hint: 'install the Debian package redis-server and start it on 127.0.0.1:6379',
  problem: redisProblem,
};

/** A client of the machine's Redis that the test closes. */
export function redisClient(url: string = REDIS_URL): Redis {
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  client.on('error', () => undefined);
  return client;
}

export interface PrivateRedis {
  readonly url: string;
  readonly port: number;
  /** Stops the server (SIGKILL: an outage, not a shutdown). */
  stop(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
}

/** A redis-server of the test's own, in memory only, on a free loopback port. */
export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  let untrack: () => void = () => undefined;
  const start = async (): Promise<void> => {
    const proc = spawn(REDIS_SERVER_BIN, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: 'ignore',
      detached: true,
    });
    child = proc;
    untrack = trackPeerProcess(proc);
    const deadline = Date.now() + 10_000;
    for (;;) {
      const probe = new Redis(`redis://127.0.0.1:${port}`, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      probe.on('error', () => undefined);
      try {
        await probe.connect();
        if ((await probe.ping()) === 'PONG') return;
      } catch {
        // not listening yet
      } finally {
        probe.disconnect();
      }
      if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`redis-server on port ${port} did not start`);
      await sleep(50);
    }
  };
  const stop = async (): Promise<void> => {
    const proc = child;
    if (!proc) return;
    child = undefined;
    const exited = new Promise<void>((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) resolve();
      else proc.once('exit', () => resolve());
    });
    killGroup(proc, 'SIGKILL');
    await exited;
    untrack();
  };
  await start();
  return { url: `redis://127.0.0.1:${port}`, port, stop, start };
}
