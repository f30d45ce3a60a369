// The benchmark report: each bench hands its figures to reportFigures() at the end of its run, and
// `npm run bench -- --report` (scripts/run-bench.mjs) collects them and renders bench/report.md with renderReport().
//
// reportFigures() appends one JSON line to the file named by DIALPLANE_BENCH_RESULTS, and does nothing when that
// variable is not set, so a bench run by hand prints its figures as before and writes nothing. The write is
// synchronous: most benches end with process.exit(), which would drop a pending asynchronous write.
import { appendFileSync, readFileSync } from 'node:fs';

export const RESULTS_ENV = 'DIALPLANE_BENCH_RESULTS';

/**
 * Records the figures of one bench (its file name without .mjs, e.g. 'call-cycles'). Each figure:
 *   { figure: 'originated call cycles/s', value, unit: '/s', anchor: 'SIPp uac -> uas', anchorValue,
 *     better: 'higher' | 'lower' }
 * anchor and anchorValue are left out when the figure has no anchor; a value that could not be measured is passed
 * as undefined or NaN and shown as "n/a". `notes` are short sentences printed under the bench's table (what was run,
 * CPU costs, targets).
 */
export function reportFigures(bench, figures, notes = []) {
  const file = process.env[RESULTS_ENV];
  if (!file) return;
  const clean = figures.map((f) => ({
    figure: String(f.figure),
    value: finite(f.value),
    unit: f.unit ?? '',
    ...(f.anchor ? { anchor: String(f.anchor), anchorValue: finite(f.anchorValue) } : {}),
    ...(f.better ? { better: f.better } : {}),
  }));
  appendFileSync(file, `${JSON.stringify({ bench, figures: clean, notes: notes.filter(Boolean).map(String) })}\n`);
}

// JSON has no NaN: a figure that could not be measured is written as null.
function finite(value) {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/** The records in a results file; a line that is not a record (a bench killed mid-write) is skipped and counted. */
export function readResults(file) {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return { records: [], skipped: 0 };
  }
  const records = [];
  let skipped = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const record = JSON.parse(line);
      if (typeof record.bench === 'string' && Array.isArray(record.figures)) records.push(record);
      else skipped += 1;
    } catch {
      skipped += 1;
    }
  }
  return { records, skipped };
}

/** 4012 -> "4,012", 12.345 -> "12.3", 0.4567 -> "0.457": three significant digits at most below 100. */
export function formatNumber(value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return 'n/a';
  const abs = Math.abs(value);
  if (abs >= 100) return Math.round(value).toLocaleString('en-US');
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  if (abs === 0) return '0';
  return value.toPrecision(3);
}

/** Dialplane ÷ anchor, two decimals; "—" when there is no anchor, "n/a" when either side was not measured. */
export function ratio(figure) {
  if (!figure.anchor) return '—';
  if (!Number.isFinite(figure.value) || !Number.isFinite(figure.anchorValue) || figure.anchorValue === 0) return 'n/a';
  return (figure.value / figure.anchorValue).toFixed(2);
}

const cell = (text) => String(text).replace(/\|/g, '\\|').replace(/\n/g, ' ');

/**
 * The markdown report. `runs` lists every bench run, in order: { bench, code, seconds, args }; `records` are what
 * the benches reported (readResults); `machine` is { cpu, cores, memGiB, kernel, node, commit };
 * `load` is { before, after } (load averages as text); `date` an ISO string; `command` how the report was made.
 */
export function renderReport({ runs, records, skipped = 0, machine, load, date, command }) {
  const out = [];
  const failed = runs.filter((r) => r.code !== 0);
  out.push('# Benchmark report', '');
  out.push(`Produced by \`${command}\` on ${date}. Every figure below is from this one run, beside its anchor measured in the same run.`);
  out.push('Ratio = Dialplane ÷ anchor; the last column says which way is better. "—": no anchor; "n/a": not measured.', '');
  out.push('| machine | |', '|---|---|');
  out.push(`| CPU | ${cell(machine.cpu)} |`);
  out.push(`| cores | ${machine.cores} |`);
  out.push(`| RAM | ${machine.memGiB} GiB |`);
  out.push(`| kernel | ${cell(machine.kernel)} |`);
  out.push(`| Node.js | ${machine.node} |`);
  if (machine.commit) out.push(`| commit | ${cell(machine.commit)} |`);
  out.push(`| load average before | ${load.before} |`);
  out.push(`| load average after | ${load.after} |`);
  out.push('');
  out.push(
    'The machine may be shared with other work (see the load averages): wall-clock rates are noisy; CPU time per unit of work and ratios to an anchor measured in the same run are the steadier figures.',
    '',
  );
  out.push('| bench | result | seconds | options |', '|---|---|---|---|');
  for (const run of runs) {
    const result = run.code === 0 ? 'ran' : `**FAILED** (exit ${run.code})`;
    out.push(`| ${run.bench} | ${result} | ${run.seconds.toFixed(0)} | ${run.args.length ? `\`${run.args.join(' ')}\`` : '(defaults)'} |`);
  }
  out.push('');
  if (failed.length) {
    out.push(`**${failed.length} bench${failed.length > 1 ? 'es' : ''} failed to run: ${failed.map((r) => r.bench).join(', ')}.** Figures of a failed bench, if any, are partial.`, '');
  }
  if (skipped) out.push(`(${skipped} unreadable line${skipped > 1 ? 's' : ''} in the results file skipped.)`, '');

  for (const run of runs) {
    const own = records.filter((r) => r.bench === run.bench);
    out.push(`## ${run.bench}${run.code === 0 ? '' : ' — FAILED'}`, '');
    if (run.code !== 0) out.push(`The bench exited with code ${run.code} after ${run.seconds.toFixed(0)} s; the report run's output says why.`, '');
    const figures = own.flatMap((r) => r.figures);
    if (figures.length === 0) {
      out.push('No figures reported.', '');
    } else {
      out.push('| figure | Dialplane | anchor | ratio | unit | better |', '|---|---|---|---|---|---|');
      for (const f of figures) {
        const anchor = f.anchor ? `${formatNumber(f.anchorValue)} (${cell(f.anchor)})` : '—';
        out.push(`| ${cell(f.figure)} | ${formatNumber(f.value)} | ${anchor} | ${ratio(f)} | ${cell(f.unit)} | ${f.better ?? ''} |`);
      }
      out.push('');
    }
    const notes = own.flatMap((r) => r.notes ?? []);
    for (const note of notes) out.push(`- ${note}`);
    if (notes.length) out.push('');
  }
  return `${out.join('\n').trimEnd()}\n`;
}
