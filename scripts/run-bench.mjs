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
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const benchDir = join(root, 'bench');

const args = process.argv.slice(2);
const flags = args.filter((a) => a.startsWith('--'));
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

const results = [];
for (const file of selected) {
  console.log(`\n>>> node bench/${file}${flags.length ? ` ${flags.join(' ')}` : ''}\n`);
  const started = Date.now();
  const code = await new Promise((resolve) => {
    current = spawn(process.execPath, [join(benchDir, file), ...flags], { cwd: root, stdio: 'inherit' });
    current.once('error', (err) => {
      console.error(`could not start ${file}: ${err.message}`);
      resolve(1);
    });
    current.once('exit', (exitCode, signal) => resolve(exitCode ?? (signal ? 1 : 0)));
  });
  current = undefined;
  results.push({ file, code, seconds: (Date.now() - started) / 1000 });
}

console.log('\n>>> summary');
for (const r of results) console.log(`  ${r.file.padEnd(24)} ${r.code === 0 ? 'ran' : `FAILED (exit ${r.code})`}  ${r.seconds.toFixed(1)} s`);
process.exit(results.some((r) => r.code !== 0) ? 1 : 0);
