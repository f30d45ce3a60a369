import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WorkClaim, type ClaimTimerName, type ClaimTimers } from '../../../src/core/work-claim.js';
import { ClaimsRepository } from '../../../src/store/claims-repository.js';
import { ManualClock } from '../../helpers/app.js';
import { createTestDatabase, describeEachDialect, postgresTestOptions } from '../../helpers/databases.js';

const LEASE_MS = 15_000;

/** Named timers fired by hand; `elapsed` is the claim's monotonic time, moved with the wall clock. */
class FakeClaimTimers implements ClaimTimers {
  readonly armed = new Map<ClaimTimerName, () => void>();
  start(name: ClaimTimerName, _ms: number, fire: () => void): { cancel(): void } {
    this.armed.set(name, fire);
    return { cancel: () => (this.armed.get(name) === fire ? this.armed.delete(name) : undefined) };
  }
  fire(name: ClaimTimerName): void {
    const fire = this.armed.get(name);
    assert.ok(fire, `${name} is armed`);
    this.armed.delete(name);
    fire();
  }
}

interface Side {
  readonly claim: WorkClaim;
  readonly timers: FakeClaimTimers;
  readonly log: string[];
}

function side(claims: Pick<ClaimsRepository, 'acquire' | 'release'>, clock: ManualClock, holder: string): Side {
  const timers = new FakeClaimTimers();
  const log: string[] = [];
  const claim = new WorkClaim(claims as ClaimsRepository, clock, {
    name: 'smpp:test@127.0.0.1:2775',
    holder,
    leaseMs: LEASE_MS,
    timers,
    elapsed: () => clock.nowMs(),
    onAcquired: () => void log.push('acquired'),
    onLost: () => void log.push('lost'),
    onError: (_error, context) => log.push(`error: ${context}`),
  });
  return { claim, timers, log };
}

const postgres = await postgresTestOptions('work claims between nodes');

test('on SQLite (one server) a claim an earlier run left is taken at once', async () => {
  const db = await createTestDatabase('sqlite');
  try {
    const claims = new ClaimsRepository(db.database);
    const clock = new ManualClock();
    assert.equal(await claims.acquire('smpp:test@127.0.0.1:2775', 'node-crashed', clock.now().toISOString(), new Date(clock.nowMs() + LEASE_MS).toISOString()), true);
    const restarted = side(claims, clock, 'node-restarted');
    await restarted.claim.start();
    assert.equal(restarted.claim.held, true);
    assert.equal((await claims.find('smpp:test@127.0.0.1:2775'))?.holder, 'node-restarted');
    await restarted.claim.stop();
  } finally {
    await db.close();
  }
});

test('several nodes on PostgreSQL: one holder at a time; another takes over once the lease runs out, or at once after a clean stop', postgres, async () => {
  if (postgres.failure) throw new Error(postgres.failure);
  const db = await createTestDatabase('postgres');
  try {
    const claims = new ClaimsRepository(db.database);
    const clock = new ManualClock();
    const a = side(claims, clock, 'node-a');
    const b = side(claims, clock, 'node-b');
    await a.claim.start();
    await b.claim.start();
    assert.deepEqual([a.claim.held, b.claim.held], [true, false]);

    // Renewals keep it: B's tries fail while A renews within the lease.
    for (let i = 0; i < 4; i++) {
      clock.advance(LEASE_MS / 3);
      await a.claim.attempt();
      await b.claim.attempt();
    }
    assert.deepEqual([a.claim.held, b.claim.held], [true, false]);
    assert.equal((await claims.find('smpp:test@127.0.0.1:2775'))?.holder, 'node-a');

    // A stops renewing (killed): B's try after the lease has run out takes it; A, come back, finds it taken and stops.
    clock.advance(LEASE_MS - 1);
    await b.claim.attempt();
    assert.equal(b.claim.held, false, 'not before the lease runs out');
    clock.advance(1);
    await b.claim.attempt();
    assert.equal(b.claim.held, true);
    await a.claim.attempt();
    assert.equal(a.claim.held, false);
    assert.deepEqual(a.log, ['acquired', 'lost']);

    // A clean stop gives it up at once.
    await b.claim.stop();
    assert.deepEqual(b.log, ['acquired', 'lost']);
    await a.claim.attempt();
    assert.equal(a.claim.held, true);
    await a.claim.stop();
  } finally {
    await db.close();
  }
});

await describeEachDialect('work claims', (dialect) => {
  test('a holder whose renewals fail stops its work before anyone can take the claim, later if a renewal is still under way', async () => {
    const db = await createTestDatabase(dialect);
    try {
      const real = new ClaimsRepository(db.database);
      let mode: 'ok' | 'fail' | 'hang' = 'ok';
      let hung: (() => void) | undefined;
      const claims = {
        acquire: (name: string, holder: string, now: string, until: string) => {
          if (mode === 'fail') return Promise.reject(new Error('database away'));
          if (mode === 'hang') return new Promise<boolean>((resolve) => (hung = () => resolve(false)));
          return real.acquire(name, holder, now, until);
        },
        release: real.release.bind(real),
      };
      const clock = new ManualClock();
      const a = side(claims, clock, 'node-a');
      await a.claim.start();
      assert.equal(a.claim.held, true);

      mode = 'fail';
      clock.advance(LEASE_MS / 3);
      await a.claim.attempt();
      assert.equal(a.claim.held, true, 'one failed renewal is not enough');
      clock.advance(LEASE_MS / 3);
      a.timers.fire('ClaimDeadline');
      assert.equal(a.claim.held, false, 'two thirds of a lease without a renewal: the work stops');
      assert.ok(a.log.includes('error: work claim lapsed'));

      // Back: the next renewal takes it again (it is still this node's in the database).
      mode = 'ok';
      await a.claim.attempt();
      assert.equal(a.claim.held, true);

      // A renewal that hangs past the deadline is waited for until five sixths of the lease, no longer.
      mode = 'hang';
      clock.advance((2 * LEASE_MS) / 3);
      const pending = a.claim.attempt();
      a.timers.fire('ClaimDeadline');
      assert.equal(a.claim.held, true, 'a renewal under way gets until five sixths of the lease');
      clock.advance(LEASE_MS / 6);
      a.timers.fire('ClaimDeadline');
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(a.claim.held, false);
      hung?.();
      await pending;
      assert.deepEqual(a.log.filter((l) => !l.startsWith('error')), ['acquired', 'lost', 'acquired', 'lost']);
      await a.claim.stop();
    } finally {
      await db.close();
    }
  });
});
