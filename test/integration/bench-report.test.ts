import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { ROOT, runProgram } from '../helpers/processes.js';

/**
 * `npm run bench -- --report` collects what each bench reports and writes report.md beside the benches: run here on
 * a directory of tiny benches (DIALPLANE_BENCH_DIR), one of which fails after reporting a figure, and one that runs
 * with no DIALPLANE_BENCH_RESULTS when run without --report.
 */
const RUN_BENCH = join(ROOT, 'scripts', 'run-bench.mjs');
const REPORT_LIB = pathToFileURL(join(ROOT, 'bench', 'lib', 'report.mjs')).href;

function fakeBenches(): string {
  const dir = mkdtempSync(join(tmpdir(), 'dialplane-fake-benches-'));
  writeFileSync(
    join(dir, 'alpha.mjs'),
    `import { reportFigures } from ${JSON.stringify(REPORT_LIB)};
console.log('alpha ran with', JSON.stringify(process.argv.slice(2)));
reportFigures('alpha', [
  { figure: 'widgets/s', value: 250, unit: '/s', anchor: 'reference widget', anchorValue: 1000, better: 'higher' },
  { figure: 'CPU per widget', value: 1.5, unit: 'ms', better: 'lower' },
], ['argv ' + process.argv.slice(2).join(' ')]);
`,
  );
  writeFileSync(
    join(dir, 'beta.mjs'),
    `import { reportFigures } from ${JSON.stringify(REPORT_LIB)};
reportFigures('beta', [{ figure: 'half done', value: 7, unit: 'items' }]);
console.error('beta: the peer did not start');
process.exit(3);
`,
  );
  // A bench that reports with no results file writes nothing and says so.
  writeFileSync(
    join(dir, 'gamma.mjs'),
    `import { reportFigures } from ${JSON.stringify(REPORT_LIB)};
reportFigures('gamma', [{ figure: 'g', value: 1 }]);
console.log('gamma results file: ' + (process.env.DIALPLANE_BENCH_RESULTS ?? 'none'));
`,
  );
  return dir;
}

test('--report runs every bench, collects their figures into report.md, names the failed one and exits 1', { timeout: 60_000 }, async (t) => {
  const dir = fakeBenches();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const result = await runProgram(process.execPath, [RUN_BENCH, '--report', '--speed=2'], {
    env: { ...process.env, DIALPLANE_BENCH_DIR: dir },
    timeoutMs: 50_000,
  });
  assert.equal(result.code, 1, `exit ${result.code}\n${result.stdout}\n${result.stderr}`);
  assert.match(result.stdout, /alpha ran with \["--speed=2"\]/, 'other options are passed on');
  assert.match(result.stdout, /gamma results file: \/.*results\.jsonl/, 'each bench is told where to write');
  assert.match(result.stdout, /beta\.mjs\s+FAILED \(exit 3\)/);
  const file = join(dir, 'report.md');
  assert.ok(existsSync(file), `${file} written`);
  const markdown = readFileSync(file, 'utf8');
  const lines = markdown.split('\n');
  const has = (line: string) => assert.ok(lines.includes(line), `line ${JSON.stringify(line)} in:\n${markdown}`);
  // Seconds are whole: a loaded machine may take one for a tiny bench.
  assert.match(markdown, /^\| alpha \| ran \| \d+ \| `--speed=2` \|$/m);
  assert.match(markdown, /^\| beta \| \*\*FAILED\*\* \(exit 3\) \| \d+ \| `--speed=2` \|$/m);
  has('| widgets/s | 250 | 1,000 (reference widget) | 0.25 | /s | higher |');
  has('| CPU per widget | 1.50 | — | — | ms | lower |');
  has('- argv --speed=2');
  has('## beta — FAILED');
  has('| half done | 7.00 | — | — | items |  |');
  has('| g | 1.00 | — | — |  |  |');
  has('**1 bench failed to run: beta.** Figures of a failed bench, if any, are partial.');
  assert.match(markdown, /\| Node\.js \| v\d+\.\d+\.\d+ \|/);
  assert.match(markdown, /\| load average before \| [\d.]+ \/ [\d.]+ \/ [\d.]+ \|/);
  assert.match(markdown, /\| cores \| \d+ \|/);
});

test('without --report nothing is collected and no report is written', { timeout: 60_000 }, async (t) => {
  const dir = fakeBenches();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const result = await runProgram(process.execPath, [RUN_BENCH, 'gamma'], {
    env: { ...process.env, DIALPLANE_BENCH_DIR: dir, DIALPLANE_BENCH_RESULTS: '' },
    timeoutMs: 50_000,
  });
  assert.equal(result.code, 0, `exit ${result.code}\n${result.stdout}\n${result.stderr}`);
  assert.match(result.stdout, /gamma results file: (none)?\n/);
  assert.equal(existsSync(join(dir, 'report.md')), false);
});
