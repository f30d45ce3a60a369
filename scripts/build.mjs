#!/usr/bin/env node
// Compiles the TypeScript sources into dist/.
//
//   node scripts/build.mjs                   # everything: src, test, bench (tsconfig.json; what npm test runs first)
//   node scripts/build.mjs --src             # the server and CLI only (tsconfig.build.json; what npm install runs)
//   node scripts/build.mjs --src --if-stale  # only when a source changed since the last build (what npm start runs)
//
// A successful build leaves dist/.src-built; --if-stale compiles only when dist/src/cli.js is missing or a file
// under src/ (or a tsconfig) is newer than that stamp, so a start with a current dist/ costs a directory walk, not a
// compile. Exit code: tsc's.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const stamp = join(root, 'dist', '.src-built');
const args = process.argv.slice(2);
const srcOnly = args.includes('--src');
const ifStale = args.includes('--if-stale');

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(path));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

function isStale() {
  if (!existsSync(join(root, 'dist', 'src', 'cli.js')) || !existsSync(stamp)) return true;
  const built = statSync(stamp).mtimeMs;
  const sources = Math.max(
    newestMtime(join(root, 'src')),
    ...['tsconfig.json', 'tsconfig.build.json'].map((f) => statSync(join(root, f)).mtimeMs),
  );
  return sources > built;
}

if (ifStale && !isStale()) process.exit(0);
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const started = Date.now();
const result = spawnSync(process.execPath, [tsc, '-p', srcOnly ? 'tsconfig.build.json' : 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
if (result.status !== 0) process.exit(result.status ?? 1);
// The stamp carries the time the build started: a source saved while tsc ran is newer, and compiled next time.
writeFileSync(stamp, `${new Date(started).toISOString()}\n`);
utimesSync(stamp, new Date(started), new Date(started));
if (ifStale) console.error(`dialplane: sources changed, compiled in ${((Date.now() - started) / 1000).toFixed(1)} s`);
