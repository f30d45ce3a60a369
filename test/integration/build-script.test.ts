import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT, runProgram } from '../helpers/processes.js';

/** `npm start` runs `scripts/build.mjs --src --if-stale` first: with dist/ current (the suite was just built) it compiles nothing. */
test('npm start does not compile when dist/ is current', async () => {
  const started = performance.now();
  const result = await runProgram(process.execPath, [join(ROOT, 'scripts', 'build.mjs'), '--src', '--if-stale']);
  const ms = performance.now() - started;
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stderr, '', 'nothing compiled');
  assert.ok(ms < 3_000, `the check took ${ms.toFixed(0)} ms`);
});
