import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

/** Shared by the tests that run the real `dialplane` command and server as child processes. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(new URL(import.meta.url)));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('package.json not found above the compiled test');
    dir = parent;
  }
  return dir;
}

export const ROOT = repoRoot();
export const CLI = join(ROOT, 'dist', 'src', 'cli.js');
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** The inherited environment without any DIALPLANE_* setting of the developer's shell, plus the test's own. */
export function testEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('DIALPLANE_')) env[name] = value;
  // SIP on a free port: several servers (parallel test files) must never contend for 5060.
  return { ...env, DIALPLANE_LOG_LEVEL: 'warn', DIALPLANE_SIP_PORT: '0', ...extra };
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program to completion; killed after `timeoutMs` so a hung one fails the test instead of the run. */
export async function runProgram(
  command: string,
  args: readonly string[],
  options: { readonly env?: NodeJS.ProcessEnv; readonly cwd?: string; readonly timeoutMs?: number } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd ?? ROOT, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 20_000);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs one CLI command to completion; killed after 20 s. */
export async function runCli(env: NodeJS.ProcessEnv, args: readonly string[]): Promise<CliResult> {
  return runProgram(process.execPath, [CLI, ...args], { env });
}

/** Parses the single JSON document a `--json` command prints, with the whole output in the failure message. */
export function parseJson<T>(result: CliResult): T {
  try {
    return JSON.parse(result.stdout) as T;
  } catch {
    throw new Error(`not JSON (exit ${result.code}):\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  }
}

/** A successful --json command's document. */
export function ok<T>(result: CliResult): T {
  assert.equal(result.code, 0, `expected exit 0\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  return parseJson<T>(result);
}


export interface ServerProcess {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or the signal name) once the process has exited. */
  readonly exited: Promise<number | string>;
  hasExited(): boolean;
}

export function spawnServe(env: NodeJS.ProcessEnv): ServerProcess {
  const child = spawn(process.execPath, [CLI, 'serve'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let done = false;
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      done = true;
      resolve(code ?? signal ?? 'unknown');
    });
  });
  return { child, stdout: () => out, stderr: () => err, exited, hasExited: () => done };
}

/** The promise's value, or 'timeout' after ms; the timer is cleared either way so it never holds the process open. */
export async function within<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export async function waitUntil(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number, proc?: ServerProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (proc?.hasExited()) throw new Error(`server exited while waiting for ${what}; stderr: ${proc.stderr()}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; stderr: ${proc?.stderr() ?? ''}`);
    await sleep(50);
  }
}

/** Until /readyz answers 200; a start that recovers much (a restart after a crash under load) may need longer. */
export async function waitReady(base: string, proc: ServerProcess, timeoutMs = 15_000): Promise<void> {
  await waitUntil(
    '/readyz',
    async () => {
      try {
        const response = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(500) });
        await response.arrayBuffer();
        return response.status === 200;
      } catch {
        return false;
      }
    },
    timeoutMs,
    proc,
  );
}

/** SIGTERM, then SIGKILL if it lingers, so no test leaves a process behind whatever happened before. */
export async function killHard(proc: ServerProcess | undefined): Promise<void> {
  if (!proc || proc.hasExited()) return;
  proc.child.kill('SIGTERM');
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), 3_000);
  await proc.exited;
  clearTimeout(timer);
}

