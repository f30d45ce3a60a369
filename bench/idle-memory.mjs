#!/usr/bin/env node
// Resident memory of an idle Dialplane server.
//
//   npx tsc -p tsconfig.json && node bench/idle-memory.mjs [--idle=3] [--log-level=<level>]
//
// Starts `node dist/src/cli.js serve` with a fresh data directory (so it also creates its SQLite database and the
// bootstrap account, as on a first start), waits until GET /readyz answers 200, lets it idle --idle seconds, then
// reads VmRSS (and the peak, VmHWM) of the server process from /proc/<pid>/status. Target: VmRSS < 150 MB.
// Finally it stops the server with SIGTERM and checks that it exits with code 0.
// Exit code: 0 when the figures were measured and the server shut down cleanly (whether or not the target is met);
// 1 when the server did not start, /proc could not be read, or the shutdown was not clean.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  freePort,
  installCleanupHandlers,
  makeTempDir,
  printHeader,
  removeTempDir,
  sleep,
  startDialplane,
  stopProcess,
  tail,
} from './lib/common.mjs';
import { reportFigures } from './lib/report.mjs';

const TARGET_MB = 150;

function parseArgs(argv) {
  const opts = { idle: 3, logLevel: undefined };
  for (const arg of argv) {
    const match = /^--(idle|log-level)=(.+)$/.exec(arg);
    if (!match) throw new Error(`unknown argument ${arg}; see the comment at the top of bench/idle-memory.mjs`);
    if (match[1] === 'idle') opts.idle = Number(match[2]);
    else opts.logLevel = match[2];
  }
  if (!(opts.idle >= 0 && opts.idle <= 60)) throw new Error('--idle must be between 0 and 60 seconds');
  return opts;
}

/** VmRSS, VmHWM... of a process, in kB, from /proc/<pid>/status (Linux only). */
function procStatus(pid) {
  const fields = {};
  for (const line of readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const match = /^(Vm\w+|Rss\w+):\s+(\d+) kB/.exec(line);
    if (match) fields[match[1]] = Number(match[2]);
  }
  if (fields.VmRSS === undefined) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return fields;
}

const mb = (kb) => `${(kb / 1024).toFixed(1)} MB`;

async function main() {
  installCleanupHandlers();
  const opts = parseArgs(process.argv.slice(2));
  printHeader('idle resident memory of the Dialplane server');
  const tmp = makeTempDir('dialplane-bench-mem-');
  const logFile = join(tmp, 'dialplane.log');
  let server;
  try {
    const port = await freePort();
    console.log(
      `server  : node dist/src/cli.js serve (fresh DIALPLANE_DATA_DIR=<tmp>/data, DIALPLANE_HTTP_PORT=${port}, log level ${opts.logLevel ?? 'default (info)'})`,
    );
    const started = Date.now();
    server = await startDialplane({ dataDir: join(tmp, 'data'), port, logFile, logLevel: opts.logLevel });
    const readyMs = Date.now() - started;
    console.log(`ready   : /readyz answered 200 after ${readyMs} ms (pid ${server.child.pid}); idling ${opts.idle} s`);
    await sleep(opts.idle * 1000);
    if (server.child.exitCode !== null) throw new Error(`server exited while idle:\n${tail(logFile)}`);
    const status = procStatus(server.child.pid);
    const rssMb = status.VmRSS / 1024;
    console.log('');
    console.log(`  VmRSS (resident)        ${mb(status.VmRSS)}   target < ${TARGET_MB} MB -> ${rssMb < TARGET_MB ? 'met' : 'NOT met'}`);
    if (status.RssAnon !== undefined) {
      console.log(`    anonymous / file      ${mb(status.RssAnon)} / ${mb(status.RssFile ?? 0)}`);
    }
    if (status.VmHWM !== undefined) console.log(`  VmHWM (peak resident)   ${mb(status.VmHWM)}`);
    console.log('');
    reportFigures('idle-memory', [
      { figure: 'idle server VmRSS', value: rssMb, unit: 'MB', better: 'lower' },
      { figure: 'idle server VmHWM (peak)', value: (status.VmHWM ?? Number.NaN) / 1024, unit: 'MB', better: 'lower' },
      { figure: 'start to /readyz', value: readyMs, unit: 'ms', better: 'lower' },
    ], [`A fresh data directory (the first start), idle ${opts.idle} s after /readyz. Target: VmRSS < ${TARGET_MB} MB (${rssMb < TARGET_MB ? 'met' : 'NOT met'}).`]);

    const stop = await stopProcess(server.child, { signal: 'SIGTERM', timeoutMs: 10_000 });
    const clean = stop.code === 0 && !stop.forced;
    console.log(
      `shutdown: SIGTERM -> ${stop.forced ? 'did not exit within 10 s, killed' : `exit code ${stop.code}${stop.signal ? `, signal ${stop.signal}` : ''}`} -> ${clean ? 'ok' : 'FAILED'}`,
    );
    if (!clean) {
      console.error(tail(logFile));
      return 1;
    }
    return 0;
  } finally {
    if (server) await stopProcess(server.child, { timeoutMs: 3000 });
    removeTempDir(tmp);
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`\nidle-memory failed: ${err instanceof Error ? err.stack : err}`);
    process.exit(1);
  },
);
