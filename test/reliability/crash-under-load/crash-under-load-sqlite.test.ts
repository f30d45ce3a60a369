import { test } from 'node:test';
import { CALLS, crashUnderLoad, peersPresent } from './scenario.js';

test(`SIGKILL under load on SQLite (${CALLS} bridged calls, webhooks pending, SMS in flight): nothing lost, nothing twice`, { timeout: 115_000 }, async (t) => {
  if (!(await peersPresent(t))) return;
  await crashUnderLoad(t, 'sqlite');
});
