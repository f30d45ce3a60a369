import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort, sleep } from './processes.js';
import { killGroup, trackPeerProcess, type SystemPeer } from './peers.js';

/**
 * A PostgreSQL server of the test's own, for tests that stop and start the database (the machine's server on
 * 127.0.0.1:5432 is shared with every other test and is never restarted). It uses the Debian server binaries
 * (/usr/lib/postgresql/<version>/bin, or DIALPLANE_TEST_POSTGRES_BIN), a data directory and socket directory in a
 * temporary directory, and a free loopback port. initdb and postgres refuse to run as root: as root (CI) they run
 * as the `postgres` user, the temporary directory given to it.
 */
const SERVER_USER = 'postgres';

function binDir(): string | undefined {
  const configured = process.env.DIALPLANE_TEST_POSTGRES_BIN;
  if (configured) return existsSync(join(configured, 'postgres')) ? configured : undefined;
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((name) => /^\d+$/.test(name) && existsSync(join(root, name, 'bin', 'postgres')) && existsSync(join(root, name, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(root, versions[0], 'bin') : undefined;
}

const asRoot = process.getuid?.() === 0;

function serverUser(): { uid: number; gid: number } | undefined {
  const id = spawnSync('id', ['-u', SERVER_USER], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', SERVER_USER], { encoding: 'utf8' });
  if (id.status !== 0 || gid.status !== 0) return undefined;
  return { uid: Number(id.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** The command line that runs a server binary: as the postgres user when the tests run as root. */
function asServerUser(bin: string, args: readonly string[]): [string, string[]] {
  return asRoot ? ['runuser', ['-u', SERVER_USER, '--', bin, ...args]] : [bin, [...args]];
}

export const postgresServerPeer: SystemPeer = {
  label: 'PostgreSQL server binaries',
  hint: 'install the Debian package postgresql (initdb and postgres under /usr/lib/postgresql/<version>/bin)',
  async problem() {
    if (!binDir()) return 'no initdb and postgres under /usr/lib/postgresql/<version>/bin';
    if (asRoot && !serverUser()) return `running as root and there is no "${SERVER_USER}" user to run the server as`;
    if (asRoot && spawnSync('runuser', ['--help'], { stdio: 'ignore' }).status !== 0) return 'runuser is not available';
    return undefined;
  },
};

export interface PrivatePostgres {
  /** postgres://postgres@127.0.0.1:<port>/postgres */
  readonly url: string;
  readonly port: number;
  /** Stops the server with a fast shutdown (SIGINT): open sessions are terminated, as in a restart. */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same data. */
  start(): Promise<void>;
  /** Stops it if it runs and removes its directory. */
  cleanup(): Promise<void>;
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = binDir();
  if (!bin) throw new Error('no PostgreSQL server binaries');
  const dir = mkdtempSync(join(tmpdir(), 'dialplane-pg-'));
  const data = join(dir, 'data');
  if (asRoot) {
    const user = serverUser();
    if (!user) throw new Error(`no "${SERVER_USER}" user`);
    chownSync(dir, user.uid, user.gid);
  }
  const [initCommand, initArgs] = asServerUser(join(bin, 'initdb'), [
    '-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync',
  ]);
  const init = spawnSync(initCommand, initArgs, { encoding: 'utf8', timeout: 60_000 });
  if (init.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed (${init.status ?? init.signal}): ${init.stderr}${init.stdout}`);
  }
  const port = await freePort();
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  let child: ChildProcess | undefined;
  let untrack: () => void = () => undefined;
  let log = '';

  const start = async (): Promise<void> => {
    // fsync off: the data is thrown away after the test and the machine's disk is shared.
    const [command, args] = asServerUser(join(bin, 'postgres'), [
      '-D', data, '-p', String(port), '-h', '127.0.0.1', '-k', dir, '-F', '-c', 'max_connections=40',
    ]);
    log = '';
    const proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => (log += chunk));
    proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => (log += chunk));
    child = proc;
    untrack = trackPeerProcess(proc, () => rmSync(dir, { recursive: true, force: true }));
    const deadline = Date.now() + 30_000;
    for (;;) {
      const probe = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_000 });
      probe.on('error', () => undefined);
      try {
        await probe.connect();
        await probe.query('select 1');
        return;
      } catch {
        // not accepting connections yet
      } finally {
        await probe.end().catch(() => undefined);
      }
      if (proc.exitCode !== null || Date.now() > deadline) {
        killGroup(proc, 'SIGKILL');
        throw new Error(`PostgreSQL on port ${port} did not start: ${log}`);
      }
      await sleep(100);
    }
  };

  const stop = async (): Promise<void> => {
    const proc = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    child = undefined;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    // The postmaster's own pid: under runuser the spawned process is runuser, which does not pass SIGINT on.
    const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
    process.kill(pid, 'SIGINT');
    const timer = setTimeout(() => killGroup(proc, 'SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
    untrack();
  };

  await start();
  return {
    url,
    port,
    start,
    stop,
    async cleanup() {
      await stop().catch(() => undefined);
      if (child) killGroup(child, 'SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
