// Helpers shared by the benchmarks in bench/. This directory is not scanned by scripts/run-bench.mjs (only
// bench/*.mjs are benchmarks). Everything here talks to 127.0.0.1 only and cleans up what it starts.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
export const cliPath = join(repoRoot, 'dist', 'src', 'cli.js');
export const HOST = '127.0.0.1';

// ---------------------------------------------------------------------------------------------------------------
// Cleanup: every child process and temp directory is registered here and removed on normal completion, on an
// exception, on process.exit() and on SIGINT/SIGTERM. The 'exit' handler can only run synchronous code, so children
// get SIGKILL there (a graceful SIGTERM stop is done by the scripts themselves on the normal path).

const children = new Set();
const tempDirs = new Set();
let handlersInstalled = false;

function cleanupSync() {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  children.clear();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

export function installCleanupHandlers() {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', cleanupSync);
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ]) {
    process.on(signal, () => {
      console.error(`\n${signal}: stopping child processes and removing temp directories`);
      process.exit(code);
    });
  }
}

export function trackChild(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

export function makeTempDir(prefix) {
  const dir = mkdtempSync(join(os.tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

export function removeTempDir(dir) {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

// ---------------------------------------------------------------------------------------------------------------

export function requireBuild() {
  if (!existsSync(cliPath)) {
    throw new Error(`${cliPath} not found: build first with \`npx tsc -p tsconfig.json\``);
  }
}

/** A port that was free a moment ago (bind to :0, read it, release it); the server binds it right after. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function machineInfo() {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    nproc: typeof os.availableParallelism === 'function' ? os.availableParallelism() : cpus.length,
    memGiB: (os.totalmem() / 1024 ** 3).toFixed(1),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
  };
}

export function printHeader(title) {
  const m = machineInfo();
  const command = ['node', ...process.argv.slice(1).map((a) => a.replace(`${repoRoot}`, ''))].join(' ');
  console.log(`== ${title}`);
  console.log(`command : ${command}   (cwd ${process.cwd()})`);
  console.log(`machine : ${m.cpu}, nproc=${m.nproc}, ${m.memGiB} GiB RAM, ${m.os}, node ${m.node}`);
  console.log(`date    : ${new Date().toISOString()}`);
}

/**
 * The environment of a Dialplane process: the caller's environment without any DIALPLANE_* variable (so a
 * DIALPLANE_LOG_LEVEL or DIALPLANE_CONFIG set in the shell cannot change what is measured), plus `vars`.
 */
export function dialplaneEnv(vars) {
  const env = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('DIALPLANE_')) env[name] = value;
  return { ...env, ...vars };
}

/** Last lines of a log file, for error messages. */
export function tail(file, lines = 20) {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export function fileSize(file) {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/**
 * Starts `node dist/src/cli.js serve` exactly as a user would, with configuration from the environment only.
 * stdout and stderr go to `logFile` (as with `serve > file`), so the benchmark process does not spend CPU reading
 * the server's request log. `extraEnv` adds DIALPLANE_* variables (e.g. DIALPLANE_DATABASE_URL). Resolves once GET
 * /readyz answers 200.
 */
export async function startDialplane({ dataDir, port, logFile, logLevel, nodeArgs = [], extraEnv = {}, timeoutMs = 20_000 }) {
  requireBuild();
  const env = dialplaneEnv({
    DIALPLANE_DATA_DIR: dataDir,
    DIALPLANE_HTTP_HOST: HOST,
    DIALPLANE_HTTP_PORT: String(port),
    DIALPLANE_SIP_PORT: '0',
    ...(logLevel ? { DIALPLANE_LOG_LEVEL: logLevel } : {}),
    ...extraEnv,
  });
  const fd = openSync(logFile, 'a');
  let child;
  try {
    child = trackChild(spawn(process.execPath, [...nodeArgs, cliPath, 'serve'], { cwd: repoRoot, env, stdio: ['ignore', fd, fd] }));
  } finally {
    closeSync(fd);
  }
  const url = `http://${HOST}:${port}`;
  await waitForReady(child, `${url}/readyz`, timeoutMs, logFile);
  return { child, url, env, logFile };
}

export async function waitForReady(child, readyUrl, timeoutMs, logFile) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`server exited (code ${child.exitCode}, signal ${child.signalCode}) before ready:\n${tail(logFile)}`);
    }
    try {
      const response = await fetch(readyUrl, { signal: AbortSignal.timeout(1000) });
      await response.arrayBuffer();
      if (response.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`server not ready at ${readyUrl} after ${timeoutMs} ms:\n${tail(logFile)}`);
    await sleep(100);
  }
}

/** Sends `signal`, waits for the exit (SIGKILL after `timeoutMs`); resolves { code, signal, forced }. */
export function stopProcess(child, { signal = 'SIGTERM', timeoutMs = 10_000 } = {}) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve({ code: child.exitCode, signal: child.signalCode, forced: false });
      return;
    }
    let forced = false;
    const timer = setTimeout(() => {
      forced = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('exit', (code, sig) => {
      clearTimeout(timer);
      resolve({ code, signal: sig, forced });
    });
    child.kill(signal);
  });
}

/** Runs the Dialplane CLI (e.g. `keys create --name x --json`) with `env`; resolves its stdout, rejects on failure. */
export function runCli(args, env, timeoutMs = 30_000) {
  return new Promise((resolve, reject) => {
    const child = trackChild(spawn(process.execPath, [cliPath, ...args], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.stderr.on('data', (chunk) => (err += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`dialplane ${args.join(' ')} failed (code ${code}, signal ${signal}): ${err || out}`));
    });
  });
}

/** Percentile (nearest rank) of an ascending-sorted array. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}
