import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DatabaseOutage, isDatabaseUnavailable } from '../../../src/store/database-outage.js';

function coded(message: string, code: string, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(message), { code, ...extra });
}

test('the errors of a database server that is away are told from every other failure', () => {
  const away = [
    coded('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED'),
    coded('read ECONNRESET', 'ECONNRESET'),
    coded('connect ENOENT /run/postgresql/.s.PGSQL.5432', 'ENOENT', { syscall: 'connect' }),
    coded('terminating connection due to administrator command', '57P01'),
    coded('the database system is shutting down', '57P03'),
    coded('the database system is starting up', '57P03'),
    coded('connection failure', '08006'),
    new Error('Connection terminated unexpectedly'),
    new Error('Connection terminated due to connection timeout'),
    new Error('Client has encountered a connection error and is not queryable'),
    new Error('timeout exceeded when trying to connect'),
    // Node's connection attempt to every address of a name, each refused.
    Object.assign(new AggregateError([coded('connect ECONNREFUSED ::1:5432', 'ECONNREFUSED')], ''), {}),
    new Error('could not record', { cause: coded('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED') }),
  ];
  for (const error of away) assert.equal(isDatabaseUnavailable(error), true, String(error));

  const other = [
    coded('duplicate key value violates unique constraint', '23505'),
    coded('relation "calls" does not exist', '42P01'),
    coded('canceling statement due to statement timeout', '57014'),
    coded('SQLITE_BUSY: database is locked', 'SQLITE_BUSY'),
    coded("ENOENT: no such file or directory, open 'x.sqlite'", 'ENOENT', { syscall: 'open' }),
    new Error('Connection refused by policy'),
    new TypeError('x is undefined'),
    undefined,
    null,
    'ECONNREFUSED',
  ];
  for (const error of other) assert.equal(isDatabaseUnavailable(error), false, String(error));
});

test('an outage is heard once when it begins and once when a connection is made again', () => {
  let now = 1_000;
  const outage = new DatabaseOutage(() => now);
  const heard: string[] = [];
  outage.subscribe({ down: (reason) => heard.push(`down ${reason.code} ${reason.message}`), up: (ms) => heard.push(`up ${ms}`) });

  outage.connected();
  assert.equal(outage.observe(coded('duplicate key', '23505')), false);
  assert.equal(outage.down, false);
  assert.deepEqual(heard, []);

  assert.equal(outage.observe(coded('terminating connection due to administrator command', '57P01')), true);
  now += 500;
  assert.equal(outage.observe(coded('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED')), true);
  assert.equal(outage.down, true);
  now += 2_000;
  outage.connected();
  outage.connected();
  assert.equal(outage.down, false);
  assert.deepEqual(heard, ['down 57P01 terminating connection due to administrator command', 'up 2500']);

  // A listener that throws does not stop the others, nor the failure being told apart.
  outage.subscribe({
    down: () => {
      throw new Error('listener failed');
    },
  });
  assert.equal(outage.observe(new Error('Connection terminated unexpectedly')), true);
  assert.equal(heard.at(-1), 'down undefined Connection terminated unexpectedly');
});
