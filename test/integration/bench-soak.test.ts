import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT, runProgram } from '../helpers/processes.js';

/**
 * `bench/soak.mjs` kept working: a 20-second run of the soak against a real `dialplane serve` (the full run is ten
 * minutes: `node bench/soak.mjs --minutes=10`). Twenty seconds measure the script, not a leak, and its 5-second
 * periods swing with JIT and garbage collection, so the memory bounds are loosened here; every call, SMS, webhook
 * and read must still succeed.
 */
const SOAK = join(ROOT, 'bench', 'soak.mjs');

test('a 20-second soak: calls, SMS, webhooks and reads all succeed, figures per period, verdict PASS', { timeout: 100_000 }, async () => {
  const result = await runProgram(
    process.execPath,
    [SOAK, '--seconds=20', '--calls-per-min=30', '--sms-per-min=60', '--reads-per-s=5', '--max-rss-growth-mb=100', '--max-heap-growth-mb=60'],
    { timeoutMs: 90_000 },
  );
  const out = result.stdout;
  assert.equal(result.code, 0, `exit ${result.code}\nstdout:\n${out}\nstderr:\n${result.stderr}`);
  const count = (pattern: RegExp): number[] => {
    const match = pattern.exec(out);
    assert.ok(match, `${pattern} in:\n${out}`);
    return match.slice(1).map(Number);
  };
  const [callsOk, callsFailed] = count(/^ {2}calls\s+(\d+) completed with the keys gathered, (\d+) failed/m);
  assert.ok(callsOk! >= 5, `${callsOk} calls completed`);
  assert.equal(callsFailed, 0);
  const [smsOk, smsFailed] = count(/^ {2}SMS\s+(\d+) delivered, (\d+) failed/m);
  assert.ok(smsOk! >= 10, `${smsOk} SMS delivered`);
  assert.equal(smsFailed, 0);
  const [hooks, badSignatures] = count(/^ {2}webhooks\s+(\d+) events received with a valid signature .*?, (\d+) bad signatures/m);
  // Each completed call is five events (queued, dialing, ringing, answered, ended), each SMS three.
  assert.ok(hooks! >= 5 * callsOk! + 3 * smsOk!, `${hooks} webhook events for ${callsOk} calls and ${smsOk} SMS`);
  assert.equal(badSignatures, 0);
  const [readsOk, readsFailed] = count(/^ {2}reads\s+(\d+) answered 200, (\d+) failed/m);
  assert.ok(readsOk! >= 50, `${readsOk} reads`);
  assert.equal(readsFailed, 0);
  const periods = out.split('\n').filter((line) => /^\d+-\d+ s\s/.test(line));
  assert.equal(periods.length, 4, `four periods of 5 s:\n${out}`);
  for (const line of periods) assert.match(line, /\d+\.\d\s+\d+\.\d\s+\d+\.\d\s+[\d.]+\/[\d.]+\/[\d.]+$/, 'memory and event-loop figures in every period');
  assert.match(out, /^ {2}memory\s+RSS [\d.]+ MB \(first period\) -> [\d.]+ MB \(last\)/m);
  assert.match(out, /^verdict : PASS$/m);
  assert.match(out, /^shutdown: SIGTERM -> exit code 0$/m);
});

test('a bad argument: exit 2 and the reason, before any server starts', async () => {
  for (const arg of ['--minutes=ten', '--db=mysql', '--seconds=5', '--calls=3']) {
    const result = await runProgram(process.execPath, [SOAK, arg], { timeoutMs: 10_000 });
    assert.equal(result.code, 2, `${arg}: exit ${result.code}\n${result.stdout}${result.stderr}`);
    assert.match(result.stderr, /bad value|must be|unknown argument|must last/, arg);
    assert.doesNotMatch(result.stdout, /server {2}:/, `${arg}: no server started`);
  }
});
