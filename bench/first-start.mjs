#!/usr/bin/env node
// Clone to first /healthz, and to the first answered call, following the README as a new user does.
//
//   node bench/first-start.mjs [--repo=<path or URL>] [--cold-cache]
//
// Clones the repository (default: this checkout's committed HEAD) into a temporary directory, then runs
// `npm install` and `npm start` there with a fresh data directory and free ports, and times from the clone:
//   - install:        `npm install` done (dependencies, native addon builds, the `prepare` compile);
//   - first /healthz: GET /healthz answers 200 after `npm start`;
//   - first answered call: `npx dialplane call +14155550100 --from +14155551234` (the dev carrier) prints `answered`.
// --cold-cache gives npm an empty cache directory, as on a new machine (every package is downloaded). Nothing is
// asserted; exit code 1 when a step failed.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HOST, dialplaneEnv, freePort, installCleanupHandlers, printHeader, repoRoot, sleep, stopProcess, trackChild } from './lib/common.mjs';
import { reportFigures } from './lib/report.mjs';

function parseArgs(argv) {
  const opts = { repo: repoRoot, coldCache: false };
  for (const arg of argv) {
    if (arg === '--cold-cache') opts.coldCache = true;
    else if (arg.startsWith('--repo=')) opts.repo = arg.slice('--repo='.length);
    else throw new Error(`unknown argument ${arg}; see the comment at the top of bench/first-start.mjs`);
  }
  return opts;
}

function run(command, args, options) {
  const result = spawnSync(command, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', ...options });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${result.status}):\n${result.stdout}\n${result.stderr}`);
  return result;
}

async function main() {
  installCleanupHandlers();
  const opts = parseArgs(process.argv.slice(2));
  printHeader('clone to first /healthz and first answered call');
  const tmp = mkdtempSync(join(tmpdir(), 'dialplane-first-start-'));
  const dir = join(tmp, 'dialplane');
  const port = await freePort();
  const env = dialplaneEnv({
    DIALPLANE_DATA_DIR: join(tmp, 'data'),
    DIALPLANE_HTTP_HOST: HOST,
    DIALPLANE_HTTP_PORT: String(port),
    DIALPLANE_SIP_PORT: '0',
    ...(opts.coldCache ? { npm_config_cache: join(tmp, 'npm-cache') } : {}),
  });
  let server;
  try {
    const t0 = Date.now();
    run('git', ['clone', '--quiet', opts.repo, dir], { env });
    const cloned = Date.now();
    run('npm', ['install', '--no-audit', '--no-fund'], { cwd: dir, env });
    const installed = Date.now();
    server = trackChild(spawn('npm', ['start'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true }));
    let log = '';
    server.stdout.on('data', (chunk) => (log += chunk));
    server.stderr.on('data', (chunk) => (log += chunk));
    for (;;) {
      try {
        const response = await fetch(`http://${HOST}:${port}/healthz`, { signal: AbortSignal.timeout(500) });
        await response.arrayBuffer();
        if (response.ok) break;
      } catch {
        // not listening yet
      }
      if (server.exitCode !== null) throw new Error(`npm start exited:\n${log}`);
      if (Date.now() - installed > 60_000) throw new Error(`no /healthz after 60 s:\n${log}`);
      await sleep(20);
    }
    const healthy = Date.now();
    const answeredAt = await new Promise((resolve, reject) => {
      const call = trackChild(
        spawn('npx', ['--no-install', 'dialplane', 'call', '+14155550100', '--from', '+14155551234', '--max-duration', '1'], {
          cwd: dir,
          env,
          stdio: ['ignore', 'pipe', 'pipe'],
        }),
      );
      let out = '';
      let at;
      call.stdout.on('data', (chunk) => {
        out += chunk;
        if (at === undefined && /\banswered\b/.test(out)) at = Date.now();
      });
      call.stderr.on('data', (chunk) => (out += chunk));
      call.once('exit', (code) => (code === 0 && at !== undefined ? resolve(at) : reject(new Error(`dialplane call exited ${code}:\n${out}`))));
    });
    const s = (ms) => `${(ms / 1000).toFixed(1)} s`;
    console.log(`clone               ${s(cloned - t0)}`);
    console.log(`npm install         ${s(installed - cloned)}   (${opts.coldCache ? 'empty npm cache' : "the machine's npm cache"})`);
    console.log(`npm start → /healthz ${s(healthy - installed)}`);
    console.log(`clone → /healthz    ${s(healthy - t0)}`);
    console.log(`clone → answered call ${s(answeredAt - t0)}   (the dev carrier rings 1 s before it answers)`);
    reportFigures('first-start', [
      { figure: 'npm install', value: (installed - cloned) / 1000, unit: 's', better: 'lower' },
      { figure: 'npm start -> /healthz', value: (healthy - installed) / 1000, unit: 's', better: 'lower' },
      { figure: 'clone -> /healthz', value: (healthy - t0) / 1000, unit: 's', better: 'lower' },
      { figure: 'clone -> first answered call', value: (answeredAt - t0) / 1000, unit: 's', better: 'lower' },
    ], [`${opts.coldCache ? 'An empty npm cache' : "The machine's npm cache"}; the dev carrier rings 1 s before it answers.`]);
  } finally {
    if (server) {
      try {
        process.kill(-server.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      await stopProcess(server);
    }
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
