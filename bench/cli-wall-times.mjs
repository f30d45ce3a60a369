#!/usr/bin/env node
// Wall time of ten typical `dialplane` commands, run as a user runs them, against a running server.
//
//   npx tsc -p tsconfig.json && node bench/cli-wall-times.mjs [--runs=5] [--root=<checkout>]
//
// Starts `node dist/src/cli.js serve` with a fresh data directory, then runs each command --runs times as its own
// process (`node dist/src/cli.js …`) and prints the median and the slowest wall time of each, from spawn to exit.
// `--root` measures another built checkout's CLI (e.g. an older commit in a `git worktree`), server included, so
// two builds can be compared on the same machine. The last rows run the same command through `bin/dialplane.js`
// and through `npx dialplane`. Nothing is asserted; the exit code is 1 only when a command failed.
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import {
  HOST,
  dialplaneEnv,
  freePort,
  installCleanupHandlers,
  makeTempDir,
  printHeader,
  removeTempDir,
  repoRoot,
  stopProcess,
  trackChild,
  waitForReady,
} from './lib/common.mjs';
import { reportFigures } from './lib/report.mjs';
import { closeSync, openSync } from 'node:fs';

function parseArgs(argv) {
  const opts = { runs: 5, root: repoRoot };
  for (const arg of argv) {
    const match = /^--(runs|root)=(.+)$/.exec(arg);
    if (!match) throw new Error(`unknown argument ${arg}; see the comment at the top of bench/cli-wall-times.mjs`);
    if (match[1] === 'runs') opts.runs = Number(match[2]);
    else opts.root = resolve(match[2]);
  }
  if (!(opts.runs >= 1 && opts.runs <= 50)) throw new Error('--runs must be between 1 and 50');
  return opts;
}

/** The ten commands; `call` dials the dev carrier's busy number so that its time is the CLI's, not a ringing phone's. */
const COMMANDS = [
  ['--help'],
  ['config'],
  ['account', 'list'],
  ['keys', 'list'],
  ['numbers', 'list'],
  ['credits', 'show'],
  ['credits', 'add', '1'],
  ['webhooks', 'endpoints', 'list'],
  ['sms', 'list'],
  ['call', '+14155550486', '--from', '+14155551234'],
];

function timed(command, args, env, cwd) {
  return new Promise((resolvePromise, reject) => {
    const started = process.hrtime.bigint();
    const child = trackChild(spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.stderr.on('data', (chunk) => (out += chunk));
    child.once('error', reject);
    child.once('exit', (code) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      resolvePromise({ ms, code, out });
    });
  });
}

async function main() {
  installCleanupHandlers();
  const opts = parseArgs(process.argv.slice(2));
  printHeader(`dialplane CLI wall times (${opts.root})`);
  const tmp = makeTempDir('dialplane-bench-cli-');
  const port = await freePort();
  const env = dialplaneEnv({
    DIALPLANE_DATA_DIR: tmp,
    DIALPLANE_HTTP_HOST: HOST,
    DIALPLANE_HTTP_PORT: String(port),
    DIALPLANE_SIP_PORT: '0',
    DIALPLANE_LOG_LEVEL: 'warn',
  });
  const cli = join(opts.root, 'dist', 'src', 'cli.js');
  const logFile = join(tmp, 'server.log');
  const fd = openSync(logFile, 'a');
  const server = trackChild(spawn(process.execPath, [cli, 'serve'], { cwd: opts.root, env, stdio: ['ignore', fd, fd] }));
  closeSync(fd);
  let failed = false;
  try {
    await waitForReady(server, `http://${HOST}:${port}/readyz`, 30_000, logFile);
    const rows = [
      ...COMMANDS.map((args) => ({ label: `dialplane ${args.join(' ')}`, command: process.execPath, args: [cli, ...args] })),
      { label: 'bin/dialplane.js config', command: process.execPath, args: [join(opts.root, 'bin', 'dialplane.js'), 'config'] },
      { label: 'npx dialplane config', command: 'npx', args: ['--no-install', 'dialplane', 'config'] },
    ];
    console.log(`${'command'.padEnd(58)} ${'median ms'.padStart(10)} ${'max ms'.padStart(8)}  exit`);
    const figures = [];
    for (const row of rows) {
      const times = [];
      let code = 0;
      for (let i = 0; i < opts.runs; i += 1) {
        const result = await timed(row.command, row.args, env, opts.root);
        times.push(result.ms);
        code = result.code;
        if (code !== 0 && !row.label.startsWith('dialplane call')) {
          failed = true;
          console.error(`${row.label} exited ${code}: ${result.out.trim()}`);
        }
      }
      times.sort((a, b) => a - b);
      const median = times[Math.floor(times.length / 2)];
      console.log(`${row.label.padEnd(58)} ${median.toFixed(0).padStart(10)} ${times[times.length - 1].toFixed(0).padStart(8)}  ${code}`);
      figures.push({ figure: `\`${row.label}\` (median)`, value: median, unit: 'ms', better: 'lower' });
    }
    reportFigures('cli-wall-times', figures, [`Wall time from spawn to exit, median of ${opts.runs} runs, with a server running.`]);
  } finally {
    await stopProcess(server);
    removeTempDir(tmp);
  }
  process.exitCode = failed ? 1 : 0;
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
