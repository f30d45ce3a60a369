#!/usr/bin/env node
// Runs the benchmarks: every bench/*.mjs in name order, or only those named as arguments (`me-throughput`,
// `me-throughput.mjs` or `bench/me-throughput.mjs` all work). Arguments starting with `--` are passed on to each
// selected benchmark (the benchmarks reject options they do not know, so name the one they are meant for). Only
// bench/*.mjs are benchmarks; bench/lib/ holds their helpers. Builds nothing: run `npx tsc -p tsconfig.json` (or `npm run build`) first.
// Each benchmark's output is forwarded as it is produced; the exit code is 1 if any benchmark failed to run.
//
//   node scripts/run-bench.mjs                    # all
//   node scripts/run-bench.mjs idle-memory        # one
//   npm run bench -- me-throughput --duration=5
//   npm run bench -- --report                     # all, with REPORT_OPTIONS, then bench/report.md
//
// --report runs each selected benchmark with its options from REPORT_OPTIONS below (chosen so that the whole run is
// meant to take about 20 minutes on 2 quiet cores; other `--` options are added after them), gives each the
// environment variable DIALPLANE_BENCH_RESULTS naming a file where it appends its figures (bench/lib/report.mjs), and
// then writes <bench dir>/report.md: the machine, the load average before and after, every figure beside its anchor
// with the ratio, and which benchmark failed to run. DIALPLANE_BENCH_DIR names another benchmark directory (tests).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { basename, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RESULTS_ENV, readResults, renderReport } from '../bench/lib/report.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const benchDir = process.env.DIALPLANE_BENCH_DIR || join(root, 'bench');

/**
 * Options of each benchmark in a --report run: shorter than their defaults where a default run is long, so the
 * whole report takes about 20 minutes. A benchmark not listed runs with its defaults.
 */
const REPORT_OPTIONS = {
  'call-program-cpu': ['--calls=40', '--max-seconds=60'],
  'cli-wall-times': ['--runs=3'],
  'media-relay': ['--duration=8'],
  'scale-out': ['--calls=600', '--api-seconds=5'],
  soak: ['--minutes=2'],
};

const args = process.argv.slice(2);
const report = args.includes('--report');
const flags = args.filter((a) => a.startsWith('--') && a !== '--report');
const names = args.filter((a) => !a.startsWith('--'));

const available = readdirSync(benchDir)
  .filter((f) => f.endsWith('.mjs'))
  .sort();
let selected = available;
if (names.length > 0) {
  selected = names.map((name) => {
    const file = `${basename(name).replace(/\.mjs$/, '')}.mjs`;
    if (!available.includes(file)) {
      console.error(`no benchmark ${name}; available: ${available.map((f) => f.replace(/\.mjs$/, '')).join(', ')}`);
      process.exit(2);
    }
    return file;
  });
}
if (selected.length === 0) {
  console.error('no benchmarks found in bench/');
  process.exit(2);
}
if (!existsSync(join(root, 'dist', 'src', 'cli.js'))) {
  console.error('dist/src/cli.js not found: build first with `npx tsc -p tsconfig.json`');
  process.exit(1);
}

let current;
// Forward an interrupt to the running benchmark so it can stop its servers and remove its temp directories.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    if (current && current.exitCode === null) current.kill(signal);
    else process.exit(1);
  });
}

const loadAverage = () => os.loadavg().map((x) => x.toFixed(2)).join(' / ');
const loadBefore = loadAverage();
const resultsDir = report ? mkdtempSync(join(os.tmpdir(), 'dialplane-bench-results-')) : undefined;
const resultsFile = resultsDir && join(resultsDir, 'results.jsonl');
const env = resultsFile ? { ...process.env, [RESULTS_ENV]: resultsFile } : process.env;

const results = [];
for (const file of selected) {
  const bench = file.replace(/\.mjs$/, '');
  const benchArgs = [...(report ? (REPORT_OPTIONS[bench] ?? []) : []), ...flags];
  const shown = relative(root, join(benchDir, file));
  console.log(`\n>>> node ${shown}${benchArgs.length ? ` ${benchArgs.join(' ')}` : ''}\n`);
  const started = Date.now();
  const code = await new Promise((resolve) => {
    current = spawn(process.execPath, [join(benchDir, file), ...benchArgs], { cwd: root, stdio: 'inherit', env });
    current.once('error', (err) => {
      console.error(`could not start ${file}: ${err.message}`);
      resolve(1);
    });
    current.once('exit', (exitCode, signal) => resolve(exitCode ?? (signal ? 1 : 0)));
  });
  current = undefined;
  results.push({ file, bench, args: benchArgs, code, seconds: (Date.now() - started) / 1000 });
}

if (report) {
  const { records, skipped } = readResults(resultsFile);
  rmSync(resultsDir, { recursive: true, force: true });
  const cpus = os.cpus();
  let commit;
  try {
    commit = execFileSync('git', ['describe', '--always', '--dirty'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    // not a git checkout
  }
  const markdown = renderReport({
    runs: results,
    records,
    skipped,
    machine: {
      cpu: cpus[0]?.model ?? 'unknown',
      cores: os.availableParallelism(),
      memGiB: (os.totalmem() / 1024 ** 3).toFixed(1),
      kernel: `${os.type()} ${os.release()} ${os.arch()}`,
      node: process.version,
      commit,
    },
    load: { before: loadBefore, after: loadAverage() },
    date: new Date().toISOString(),
    command: ['npm run bench --', ...args].join(' '),
  });
  const out = join(benchDir, 'report.md');
  writeFileSync(out, markdown);
  console.log(`\n>>> report: ${relative(process.cwd(), out) || out} (${records.reduce((n, r) => n + r.figures.length, 0)} figures)`);
}

console.log('\n>>> summary');
for (const r of results) console.log(`  ${r.file.padEnd(24)} ${r.code === 0 ? 'ran' : `FAILED (exit ${r.code})`}  ${r.seconds.toFixed(1)} s`);
process.exit(results.some((r) => r.code !== 0) ? 1 : 0);
