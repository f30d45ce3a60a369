import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { ROOT } from '../../helpers/processes.js';

/** bench/lib/report.mjs: what a bench records, and the markdown scripts/run-bench.mjs renders from it. */
interface Figure {
  readonly figure: string;
  readonly value: number | null | undefined;
  readonly unit?: string;
  readonly anchor?: string;
  readonly anchorValue?: number | null | undefined;
  readonly better?: 'higher' | 'lower';
}
interface Run {
  readonly bench: string;
  readonly code: number;
  readonly seconds: number;
  readonly args: readonly string[];
}
interface ReportModule {
  readonly RESULTS_ENV: string;
  reportFigures(bench: string, figures: readonly Figure[], notes?: ReadonlyArray<string | undefined>): void;
  readResults(file: string): { records: Array<{ bench: string; figures: Figure[]; notes: string[] }>; skipped: number };
  formatNumber(value: number | null | undefined): string;
  renderReport(input: {
    runs: readonly Run[];
    records: ReadonlyArray<{ bench: string; figures: readonly Figure[]; notes?: readonly string[] }>;
    skipped?: number;
    machine: { cpu: string; cores: number; memGiB: string; kernel: string; node: string; commit?: string };
    load: { before: string; after: string };
    date: string;
    command: string;
  }): string;
}

const report = (await import(pathToFileURL(join(ROOT, 'bench', 'lib', 'report.mjs')).href)) as ReportModule;

const machine = { cpu: 'AMD EPYC', cores: 2, memGiB: '23.5', kernel: 'Linux 6.1.0 x64', node: 'v20.20.2', commit: 'abc1234' };
const load = { before: '1.00 / 2.00 / 3.00', after: '4.00 / 5.00 / 6.00' };

test('reportFigures appends one JSON line per call to the results file, and writes nothing without it', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dialplane-report-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'results.jsonl');
  const saved = process.env[report.RESULTS_ENV];
  t.after(() => {
    if (saved === undefined) delete process.env[report.RESULTS_ENV];
    else process.env[report.RESULTS_ENV] = saved;
  });

  delete process.env[report.RESULTS_ENV];
  report.reportFigures('quiet', [{ figure: 'x', value: 1 }]);
  assert.deepEqual(report.readResults(file), { records: [], skipped: 0 }, 'no file without the variable');

  process.env[report.RESULTS_ENV] = file;
  report.reportFigures('call-cycles', [
    { figure: 'cycles/s', value: 512.5, unit: '/s', anchor: 'SIPp', anchorValue: 4100, better: 'higher' },
    { figure: 'CPU per call', value: Number.NaN, unit: 'ms', better: 'lower' },
  ], ['one note', undefined]);
  report.reportFigures('idle-memory', [{ figure: 'VmRSS', value: 141.2, unit: 'MB' }]);
  const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
  assert.equal(lines.length, 2);
  const { records, skipped } = report.readResults(file);
  assert.equal(skipped, 0);
  assert.deepEqual(records[0], {
    bench: 'call-cycles',
    figures: [
      { figure: 'cycles/s', value: 512.5, unit: '/s', anchor: 'SIPp', anchorValue: 4100, better: 'higher' },
      // NaN is not JSON: a figure that was not measured is stored as null.
      { figure: 'CPU per call', value: null, unit: 'ms', better: 'lower' },
    ],
    notes: ['one note'],
  });
  assert.equal(records[1]!.bench, 'idle-memory');
});

test('renderReport: the machine, one table per bench with anchor and ratio, "—" without an anchor, failed benches named', () => {
  const markdown = report.renderReport({
    runs: [
      { bench: 'call-cycles', code: 0, seconds: 41.2, args: ['--calls=5000'] },
      { bench: 'idle-memory', code: 0, seconds: 8, args: [] },
      { bench: 'scale-out', code: 1, seconds: 12, args: [] },
    ],
    records: [
      {
        bench: 'call-cycles',
        figures: [
          { figure: 'originated call cycles/s', value: 1234.4, unit: '/s', anchor: 'SIPp uac -> SIPp uas', anchorValue: 4000, better: 'higher' },
          { figure: 'CPU per call', value: 0.8123, unit: 'ms', better: 'lower' },
          { figure: 'p99 | latency', value: null, unit: 'ms', anchor: 'SIPp', anchorValue: 3, better: 'lower' },
        ],
        notes: ['SIPp capped by -r.'],
      },
      { bench: 'idle-memory', figures: [{ figure: 'idle server VmRSS', value: 141.26, unit: 'MB', better: 'lower' }] },
    ],
    skipped: 1,
    machine,
    load,
    date: '2026-12-04T17:00:00.000Z',
    command: 'npm run bench -- --report',
  });
  const lines = markdown.split('\n');
  const has = (line: string) => assert.ok(lines.includes(line), `line ${JSON.stringify(line)} in:\n${markdown}`);
  has('# Benchmark report');
  has('| CPU | AMD EPYC |');
  has('| cores | 2 |');
  has('| RAM | 23.5 GiB |');
  has('| kernel | Linux 6.1.0 x64 |');
  has('| Node.js | v20.20.2 |');
  has('| load average before | 1.00 / 2.00 / 3.00 |');
  has('| load average after | 4.00 / 5.00 / 6.00 |');
  assert.match(markdown, /`npm run bench -- --report` on 2026-12-04T17:00:00.000Z/);
  has('| call-cycles | ran | 41 | `--calls=5000` |');
  has('| idle-memory | ran | 8 | (defaults) |');
  has('| scale-out | **FAILED** (exit 1) | 12 | (defaults) |');
  has('**1 bench failed to run: scale-out.** Figures of a failed bench, if any, are partial.');
  has('(1 unreadable line in the results file skipped.)');
  has('| figure | Dialplane | anchor | ratio | unit | better |');
  has('| originated call cycles/s | 1,234 | 4,000 (SIPp uac -> SIPp uas) | 0.31 | /s | higher |');
  has('| CPU per call | 0.812 | — | — | ms | lower |');
  has('| p99 \\| latency | n/a | 3.00 (SIPp) | n/a | ms | lower |');
  has('- SIPp capped by -r.');
  has('| idle server VmRSS | 141 | — | — | MB | lower |');
  has('## scale-out — FAILED');
  const failedSection = markdown.slice(markdown.indexOf('## scale-out — FAILED'));
  assert.match(failedSection, /exited with code 1 after 12 s/);
  assert.match(failedSection, /No figures reported\./);
  // Sections in the order the benches ran.
  assert.ok(markdown.indexOf('## call-cycles') < markdown.indexOf('## idle-memory'));
  assert.ok(markdown.indexOf('## idle-memory') < markdown.indexOf('## scale-out'));
});

test('formatNumber: thousands separated, three significant digits below 100, n/a for what was not measured', () => {
  assert.equal(report.formatNumber(9836.4), '9,836');
  assert.equal(report.formatNumber(123.5), '124');
  assert.equal(report.formatNumber(42.04), '42.0');
  assert.equal(report.formatNumber(4.2), '4.20');
  assert.equal(report.formatNumber(0.04567), '0.0457');
  assert.equal(report.formatNumber(0), '0');
  assert.equal(report.formatNumber(null), 'n/a');
  assert.equal(report.formatNumber(Number.NaN), 'n/a');
});
