import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { recoverCalls } from '../../../src/core/calls/call-recovery.js';
import { CALL_RESERVE_REFERENCE } from '../../../src/core/calls/minute-reserve.js';
import { createServices } from '../../../src/core/services.js';
import type { SmsCarrierPort } from '../../../src/core/sms.js';
import { createStore, type Store } from '../../../src/store/store.js';
import { ManualClock } from '../../helpers/app.js';
import { createTestDatabase, describeEachDialect, type TestDatabase } from '../../helpers/databases.js';
import { LEASE_MS, makeNode, type TestNode } from '../../helpers/nodes.js';

await describeEachDialect('recovery of the calls and SMS of gone nodes', (dialect) => {
  let db: TestDatabase;
  let store: Store;
  let clock: ManualClock;
  let accountId: string;

  before(async () => {
    db = await createTestDatabase(dialect);
    store = createStore(db.database);
    clock = new ManualClock();
    const services = createServices(store, { clock, defaultCountry: 'US', keyCacheTtlMs: 0 });
    accountId = (await services.accounts.create({ name: 'Leases', email: 'leases@example.com' })).account.id;
    await services.credits.add(accountId, 1_000_000, 'test');
    await services.numbers.add(accountId, { number: '+14155551234', type: 'purchased', capabilities: ['voice', 'sms'] });
  });
  after(async () => db.close());

  describe('calls and their reserves', () => {
    let a: TestNode;
    let b: TestNode;

    beforeEach(async () => {
      // Each test starts from no live call and no active reserve.
      for (const row of await store.calls.unfinished()) await store.calls.transition(row.id, [row.state], { state: 'ended' }, { call_id: row.id, state: 'ended', at: clock.now().toISOString(), sip_status: null, sip_reason: null, outcome: null, hangup_cause: null, hangup_cause_code: null, end_reason: null });
      const cleanup = createServices(store, { clock, defaultCountry: 'US', keyCacheTtlMs: 0 });
      for (const hold of await store.credits.activeHoldsReferencing('')) await cleanup.credits.release(hold.account_id, hold.id);
      a = makeNode(store, clock, `a_${Math.random().toString(36).slice(2, 8)}`);
      b = makeNode(store, clock, `b_${Math.random().toString(36).slice(2, 8)}`);
      await a.lease.start();
      await b.lease.start();
    });

    const liveCall = async (node: TestNode, parentCallId: string | null = null) => {
      const call = await node.services.calls.create({
        dialing: { trunk: 'dev' },
        accountId,
        direction: 'outbound',
        from: '+14155551234',
        to: '+14155550100',
        ringTimeoutS: 30,
        maxDurationS: 3600,
        parentCallId,
      });
      await node.services.calls.advance(call.id, 'answered', { sipStatus: 200 });
      const hold = await node.services.credits.hold(accountId, 500, `${CALL_RESERVE_REFERENCE}${call.id}`);
      return { call, hold };
    };
    const holdStatus = async (holdId: string) => (await store.credits.findHold(accountId, holdId))?.status;
    const callState = async (callId: string) => (await store.calls.findAny(callId))?.state;

    test('a call records its node; a command for it elsewhere is refused naming that node', async () => {
      const { call } = await liveCall(a);
      assert.equal(await a.services.calls.ownerOf(call.id), a.lease.nodeId);
      assert.equal(await b.services.calls.ownerOf('call_missing'), undefined);
      assert.equal((await a.services.calls.assertOwnedHere(accountId, call.id)).id, call.id);
      await assert.rejects(b.services.calls.assertOwnedHere(accountId, call.id), (error: Error & { code?: string; status?: number; details?: unknown }) => {
        assert.equal(error.code, 'call_owned_elsewhere');
        assert.equal(error.status, 409);
        assert.match(error.message, new RegExp(`node ${a.lease.nodeId}`));
        assert.deepEqual(error.details, { owner_node: a.lease.nodeId, node: b.lease.nodeId });
        return true;
      });
      await assert.rejects(b.services.calls.assertOwnedHere(accountId, 'call_missing'), { code: 'not_found' });
      await a.services.calls.end(call.id, { reason: 'remote_hangup' });
      assert.equal((await b.services.calls.assertOwnedHere(accountId, call.id)).state, 'ended', 'an ended call is nobody’s');
    });

    test("starting a node leaves a live node's calls and reserves alone", async () => {
      const fromA = await liveCall(a);
      const restarted = makeNode(store, clock, `c_${Math.random().toString(36).slice(2, 8)}`);
      await restarted.lease.start();
      const recovered = await recoverCalls(restarted.services, true);
      assert.deepEqual(recovered, { ended: [], released: 0 });
      assert.equal(await callState(fromA.call.id), 'answered');
      assert.equal(await holdStatus(fromA.hold.id), 'active');
    });

    test("once a node's lease runs out, another's sweep ends its calls and legs and releases their reserves, and only theirs", async () => {
      const root = await liveCall(a);
      const leg = await liveCall(a, root.call.id);
      const ringing = await a.services.calls.create({ dialing: { trunk: 'dev' }, accountId, direction: 'outbound', from: '+14155551234', to: '+14155550480', ringTimeoutS: 30, maxDurationS: 60 });
      // Ended, but its node died before settling the reserve.
      const unsettled = await liveCall(a);
      await a.services.calls.end(unsettled.call.id, { reason: 'remote_hangup' });
      const mine = await liveCall(b);
      const unrelated = await b.services.credits.hold(accountId, 700, 'something-else');

      // A is killed: it renews no more. Before its lease runs out, nothing is touched.
      clock.advance(LEASE_MS - 1_000);
      await b.lease.renew();
      assert.deepEqual(await recoverCalls(b.services, false), { ended: [], released: 0 });
      assert.equal(await callState(root.call.id), 'answered');

      clock.advance(1_000);
      await b.lease.renew();
      assert.ok((await b.lease.expiredNodes()).includes(a.lease.nodeId));
      const swept = await recoverCalls(b.services, false);
      assert.deepEqual(swept.ended.map((c) => c.id).sort(), [root.call.id, leg.call.id, ringing.id].sort());
      for (const call of swept.ended) {
        assert.equal(call.endReason, 'crash_recovery');
        assert.deepEqual((await b.services.calls.events(accountId, call.id)).at(-1)?.state, 'ended');
      }
      assert.equal(swept.released, 3);
      for (const hold of [root.hold, leg.hold, unsettled.hold]) assert.equal(await holdStatus(hold.id), 'released');
      assert.equal(await callState(mine.call.id), 'answered', "the sweeping node's own call is up");
      assert.equal(await holdStatus(mine.hold.id), 'active');
      assert.equal(await holdStatus(unrelated.id), 'active');
      const balance = await b.services.credits.balance(accountId);
      assert.equal(balance.heldMinor, 500 + 700, 'nothing charged for the recovered calls');

      // A second sweep (or another node's) finds nothing left.
      assert.deepEqual(await recoverCalls(b.services, false), { ended: [], released: 0 });
      await b.services.credits.release(accountId, unrelated.id);
    });

    test("the sweep never takes the node's own calls, even when its own lease lapsed", async () => {
      const mine = await liveCall(b);
      clock.advance(LEASE_MS * 2);
      assert.deepEqual(await recoverCalls(b.services, false), { ended: [], released: 0 });
      assert.equal(await callState(mine.call.id), 'answered');
    });

    test('at start a node takes what no node owns and what a previous run under its own id left', async () => {
      const fixedId = `fixed_${Math.random().toString(36).slice(2, 8)}`;
      const firstRun = makeNode(store, clock, fixedId);
      await firstRun.lease.start();
      const leftByFirstRun = await liveCall(firstRun);
      const unowned = await liveCall(a);
      await db.database.db.updateTable('calls').set({ owner_node: null }).where('id', '=', unowned.call.id).execute();
      const fromB = await liveCall(b);

      // Restarted at once, before the first run's lease ran out.
      const secondRun = makeNode(store, clock, fixedId);
      await secondRun.lease.start();
      const recovered = await recoverCalls(secondRun.services, true);
      assert.deepEqual(recovered.ended.map((c) => c.id).sort(), [leftByFirstRun.call.id, unowned.call.id].sort());
      assert.equal(recovered.released, 2);
      assert.equal(await holdStatus(leftByFirstRun.hold.id), 'released');
      assert.equal(await holdStatus(unowned.hold.id), 'released');
      assert.equal(await callState(fromB.call.id), 'answered');
      assert.equal(await holdStatus(fromB.hold.id), 'active');
    });
  });

  describe('unsent SMS', () => {
    /** A carrier that accepts every part and remembers what it was given. */
    const recordingCarrier = (sent: string[]): SmsCarrierPort => ({
      async submit(message) {
        sent.push(message.to);
        const smscIds = message.parts.map((_, seq) => `smsc-${message.to}-${seq}-${Math.random().toString(36).slice(2, 8)}`);
        smscIds.forEach((id, seq) => message.onPartAccepted?.(seq, id));
        return { smscIds };
      },
    });
    /** A message accepted by `node` whose submission never happened (its node died first). */
    const unsentBy = async (node: TestNode, to: string) => {
      // Services of the node's run that dies: its submission never gets an answer.
      const dying = createServices(store, { clock, defaultCountry: 'US', keyCacheTtlMs: 0, node: node.lease });
      dying.sms.attachCarrier({ submit: () => new Promise(() => undefined) });
      return dying.sms.send(accountId, { from: '+14155551234', to, body: 'hello' });
    };
    const owner = async (id: string) =>
      (await db.database.db.selectFrom('sms_messages').select('owner_node').where('id', '=', id).executeTakeFirst())?.owner_node;

    test("are resumed only once their sender's lease ran out, by one node, and never a live node's", async () => {
      const a = makeNode(store, clock, `sa_${Math.random().toString(36).slice(2, 8)}`);
      const b = makeNode(store, clock, `sb_${Math.random().toString(36).slice(2, 8)}`);
      const c = makeNode(store, clock, `sc_${Math.random().toString(36).slice(2, 8)}`);
      for (const node of [a, b, c]) await node.lease.start();
      const fromA = await unsentBy(a, '+14155550101');
      const fromB = await unsentBy(b, '+14155550102');
      assert.equal(await owner(fromA.id), a.lease.nodeId);
      const sentByB: string[] = [];
      const sentByC: string[] = [];
      b.services.sms.attachCarrier(recordingCarrier(sentByB));
      c.services.sms.attachCarrier(recordingCarrier(sentByC));

      // A is alive: neither a start nor a sweep elsewhere sends its message.
      assert.equal(await c.services.sms.resumeUnsent(), 0);
      assert.equal(await b.services.sms.resumeOrphaned(), 0);
      assert.equal((await a.services.sms.get(accountId, fromA.id)).status, 'queued');

      // A dies; B and C sweep at the same moment: exactly one takes the message over and sends it.
      clock.advance(LEASE_MS);
      await b.lease.renew();
      await c.lease.renew();
      const [byB, byC] = await Promise.all([b.services.sms.resumeOrphaned(), c.services.sms.resumeOrphaned()]);
      assert.equal(byB + byC, 1);
      await Promise.all([b.services.sms.settled(), c.services.sms.settled()]);
      assert.deepEqual([...sentByB, ...sentByC], ['+14155550101']);
      assert.equal((await b.services.sms.get(accountId, fromA.id)).status, 'sent');
      assert.equal(await owner(fromA.id), byB === 1 ? b.lease.nodeId : c.lease.nodeId);
      // B's own unsent message is not taken by C's sweep while B lives, nor by B's own sweep.
      assert.equal((await b.services.sms.get(accountId, fromB.id)).status, 'queued');
      assert.equal(await owner(fromB.id), b.lease.nodeId);
    });

    test('at start a node sends what no node owns and what a previous run under its id left', async () => {
      const fixedId = `sfixed_${Math.random().toString(36).slice(2, 8)}`;
      const firstRun = makeNode(store, clock, fixedId);
      await firstRun.lease.start();
      const left = await unsentBy(firstRun, '+14155550103');
      const unowned = await unsentBy(firstRun, '+14155550104');
      await db.database.db.updateTable('sms_messages').set({ owner_node: null }).where('id', '=', unowned.id).execute();
      const secondRun = makeNode(store, clock, fixedId);
      await secondRun.lease.start();
      const sent: string[] = [];
      secondRun.services.sms.attachCarrier(recordingCarrier(sent));
      assert.equal(await secondRun.services.sms.resumeUnsent(), 2);
      await secondRun.services.sms.settled();
      assert.deepEqual(sent.sort(), ['+14155550103', '+14155550104']);
      assert.equal(await owner(unowned.id), fixedId);
      assert.equal((await secondRun.services.sms.get(accountId, left.id)).status, 'sent');
    });
  });
});
