import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createStore, type Store } from '../../../src/store/store.js';
import { ManualClock } from '../../helpers/app.js';
import { createTestDatabase, describeEachDialect, type TestDatabase } from '../../helpers/databases.js';
import { LEASE_MS, makeNode } from '../../helpers/nodes.js';

await describeEachDialect('node leases', (dialect) => {
  let db: TestDatabase;
  let store: Store;
  let clock: ManualClock;

  before(async () => {
    db = await createTestDatabase(dialect);
    store = createStore(db.database);
    clock = new ManualClock();
  });
  after(async () => db.close());

  describe('NodeLease', () => {
    test('registers at start, renews every third of the lease, and ends the lease on stop', async () => {
      const a = makeNode(store, clock, 'lease-a');
      const observer = makeNode(store, clock, 'lease-observer').lease;
      assert.equal(await observer.isAlive('lease-a'), false, 'not alive before it starts');
      await a.lease.start();
      assert.deepEqual([...a.timers.armed].map(([name, t]) => [name, t.ms]), [
        ['LeaseRenewal', LEASE_MS / 3],
        ['LeaseSweep', LEASE_MS],
      ]);
      assert.equal(await observer.isAlive('lease-a'), true);
      assert.ok((await observer.liveNodes()).has('lease-a'));

      // Renewed on time, it stays alive however long it runs.
      for (let i = 0; i < 6; i++) {
        clock.advance(LEASE_MS / 3);
        a.timers.fire('LeaseRenewal');
        await a.lease.renew();
      }
      assert.equal(await observer.isAlive('lease-a'), true);
      const row = await store.nodes.find('lease-a');
      assert.equal(row?.heartbeat_at, clock.now().toISOString());
      assert.equal(row?.lease_until, new Date(clock.nowMs() + LEASE_MS).toISOString());

      // Silent for a whole lease: gone.
      clock.advance(LEASE_MS - 1);
      assert.equal(await observer.isAlive('lease-a'), true);
      clock.advance(1);
      assert.equal(await observer.isAlive('lease-a'), false);
      assert.ok((await observer.expiredNodes()).includes('lease-a'));

      // A renewal that comes too late says so, and brings it back.
      a.timers.fire('LeaseRenewal');
      await a.lease.renew();
      assert.deepEqual(a.errors, ['node lease lapsed']);
      assert.equal(await observer.isAlive('lease-a'), true);

      await a.lease.stop();
      assert.equal(a.timers.armed.size, 0, 'both timers cancelled');
      assert.equal(await observer.isAlive('lease-a'), false, 'a clean stop ends the lease at once');
      assert.ok((await observer.expiredNodes()).includes('lease-a'));
      await a.lease.stop();
    });

    test('a restart under the same id gets a new lease and learns what the last run left', async () => {
      const first = makeNode(store, clock, 'lease-fixed');
      assert.equal(await first.lease.start(), undefined);
      const second = makeNode(store, clock, 'lease-fixed');
      clock.advance(1_000);
      const previous = await second.lease.start();
      assert.equal(previous?.id, 'lease-fixed');
      assert.equal((await store.nodes.find('lease-fixed'))?.started_at, clock.now().toISOString());
      await second.lease.stop();
    });

    test('the sweep runs every task, reports failures, forgets long-gone nodes, and a pruned node registers again', async () => {
      const a = makeNode(store, clock, 'sweep-a');
      await a.lease.start();
      const ran: string[] = [];
      a.lease.onSweep(async () => {
        ran.push('first');
        throw new Error('broken task');
      });
      const remove = a.lease.onSweep(async () => void ran.push('second'));
      await store.nodes.register({ id: 'long-gone', started_at: '2025-01-01T00:00:00.000Z', heartbeat_at: '2025-01-01T00:00:00.000Z', lease_until: '2025-01-01T00:00:15.000Z' });
      a.timers.fire('LeaseSweep');
      await a.lease.sweep();
      assert.deepEqual(ran, ['first', 'second']);
      assert.deepEqual(a.errors, ['node sweep failed']);
      assert.equal(await store.nodes.find('long-gone'), undefined);
      remove();
      await a.lease.sweep();
      assert.deepEqual(ran, ['first', 'second', 'first']);

      await db.database.db.deleteFrom('nodes').where('id', '=', 'sweep-a').execute();
      await a.lease.renew();
      assert.ok(await store.nodes.find('sweep-a'), 'registered again');
      await a.lease.stop();
    });
  });

});
