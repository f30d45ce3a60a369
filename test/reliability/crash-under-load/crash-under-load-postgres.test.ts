import { test } from 'node:test';
import { postgresTestOptions } from '../../helpers/databases.js';
import { CALLS, crashUnderLoad, peersPresent } from './scenario.js';

const NAME = `SIGKILL under load on PostgreSQL (${CALLS} bridged calls, webhooks pending, SMS in flight): nothing lost, nothing twice`;
const options = await postgresTestOptions(NAME);

test(NAME, { skip: options.skip, timeout: 115_000 }, async (t) => {
  if (options.failure) throw new Error(options.failure);
  if (!(await peersPresent(t))) return;
  await crashUnderLoad(t, 'postgres');
});
