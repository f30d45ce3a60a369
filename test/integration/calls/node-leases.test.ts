import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CALL_RESERVE_REFERENCE } from '../../../src/core/calls/minute-reserve.js';
import { systemClock } from '../../../src/core/clock.js';
import { createServices } from '../../../src/core/services.js';
import { createStore } from '../../../src/store/store.js';
import { clusterOn } from '../../helpers/cluster.js';
import { createTestDatabase, postgresTestOptions, type TestDatabase } from '../../helpers/databases.js';
import { killHard, sleep, spawnServe, waitReady, waitUntil, type ServerProcess } from '../../helpers/processes.js';

const NAME = 'two servers on one PostgreSQL database: a SIGKILLed node’s call is ended by the other once its lease runs out';
const LEASE_S = 2;
const ADMIN_TOKEN = 'node-lease-test-admin-token-0123456789';
const headers = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
const options = await postgresTestOptions(NAME);

interface CallView {
  readonly id: string;
  readonly state: string;
  readonly end_reason: string | null;
  readonly ended_at: string | null;
}

test(NAME, { skip: options.skip, timeout: 120_000 }, async () => {
  if (options.failure) throw new Error(options.failure);
  const db: TestDatabase = await createTestDatabase('postgres');
  const cluster = clusterOn(db.schema!, ADMIN_TOKEN);
  let a: ServerProcess | undefined;
  let b: ServerProcess | undefined;
  try {
    const node = (rtpPorts: string) => cluster.node(rtpPorts, { DIALPLANE_NODE_LEASE_S: String(LEASE_S) });
    const nodeA = await node('35000-35999');
    const nodeB = await node('36000-36999');
    const api = async <T>(base: string, path: string, body?: unknown): Promise<T> => {
      const response = await fetch(`${base}${path}`, body === undefined ? { headers } : { method: 'POST', headers, body: JSON.stringify(body) });
      const text = await response.text();
      assert.ok(response.ok, `${path}: ${response.status} ${text}`);
      return JSON.parse(text) as T;
    };
    const services = createServices(createStore(db.database), { clock: systemClock, defaultCountry: 'US', keyCacheTtlMs: 0 });
    const holdsOf = async (callId: string) =>
      (await services.store.credits.activeHoldsReferencing(`${CALL_RESERVE_REFERENCE}${callId}`)).filter(
        (hold) => hold.reference === `${CALL_RESERVE_REFERENCE}${callId}`,
      );

    /** A call that answers and stays up (the dev carrier's callee for any other number), placed on `base`'s node. */
    const longCall = async (base: string, proc: ServerProcess, accountId: string, to: string) => {
      const { call } = await api<{ call: CallView }>(base, `/admin/v1/accounts/${accountId}/calls`, { from: '+14155551234', to });
      await waitUntil(`${call.id} answered`, async () => (await services.calls.get(accountId, call.id)).state === 'answered', 15_000, proc);
      // Its first minute was reserved (`call-reserve:<callId>`) before the INVITE left.
      assert.equal((await holdsOf(call.id)).length, 1, 'the first minute is reserved');
      return call.id;
    };

    a = spawnServe(nodeA.env);
    await waitReady(nodeA.base, a);
    const { accounts } = await api<{ accounts: Array<{ id: string }> }>(nodeA.base, '/admin/v1/accounts');
    const accountId = accounts[0]!.id;
    const callOfA = await longCall(nodeA.base, a, accountId, '+14155550100');
    const ownerA = await services.calls.ownerOf(callOfA);
    assert.match(ownerA ?? '', /^node_/);

    // B starts while A lives: A's call stays up, through B's start-up recovery and several of B's sweeps.
    b = spawnServe(nodeB.env);
    await waitReady(nodeB.base, b);
    const callOfB = await longCall(nodeB.base, b, accountId, '+14155550101');
    const ownerB = await services.calls.ownerOf(callOfB);
    assert.ok(ownerB && ownerB !== ownerA, 'each server is a node of its own');
    await sleep(LEASE_S * 1000 * 2.5);
    const seenByB = await api<{ call: CallView }>(nodeB.base, `/admin/v1/accounts/${accountId}/calls/${callOfA}`);
    assert.equal(seenByB.call.state, 'answered', "B leaves a live node's call up");
    assert.equal((await holdsOf(callOfA)).length, 1, 'and its reserve held');
    await assert.rejects(services.calls.assertOwnedHere(accountId, callOfA), { code: 'call_owned_elsewhere' });

    a.child.kill('SIGKILL');
    assert.equal(await a.exited, 'SIGKILL');
    a = undefined;
    const leaseOfA = (await services.store.nodes.find(ownerA!))?.lease_until;
    assert.ok(leaseOfA, "A's lease is on record");

    // B's sweep (every lease period) finds A's lease run out and ends A's call.
    let ended: CallView | undefined;
    await waitUntil(
      "A's call ended by B",
      async () => {
        const { call } = await api<{ call: CallView }>(nodeB.base, `/admin/v1/accounts/${accountId}/calls/${callOfA}`);
        if (call.state === 'ended') ended = call;
        return ended !== undefined;
      },
      LEASE_S * 1000 * 5,
      b,
    );
    assert.equal(ended!.end_reason, 'crash_recovery');
    assert.ok(ended!.ended_at! >= leaseOfA!, `ended at ${ended!.ended_at}, not before A's lease ran out at ${leaseOfA}`);
    const { events } = await api<{ events: Array<{ state: string }> }>(nodeB.base, `/admin/v1/accounts/${accountId}/calls/${callOfA}`);
    assert.equal(events.at(-1)?.state, 'ended');
    await waitUntil("A's call's reserve released", async () => (await holdsOf(callOfA)).length === 0, 5_000, b);

    // Only A's: B's own call is still up with its reserve, and nothing was charged for A's call.
    assert.equal((await services.calls.get(accountId, callOfB)).state, 'answered');
    assert.equal((await holdsOf(callOfB)).length, 1);
    const charged = (await services.credits.entries(accountId, 100)).filter((entry) => entry.kind === 'capture');
    assert.deepEqual(charged, []);
  } finally {
    await killHard(a);
    await killHard(b);
    await db.close();
    await cluster.cleanup();
  }
});
