/**
 * Regression: SMS parts whose submit_sm was in flight when their server died stayed `queued`, and the SMS resume at
 * the next start submitted them again, so the SMSC saw them twice. A part is now marked `submitting` before its
 * submit_sm is written; the resume never writes such a part again and settles its message `failed` with
 * `submit_unconfirmed`, refunding only the segments that were never written.
 *
 * The dying run sends through a real SmppCarrier to an SMSC (the `smpp` package's server) that takes submit_sm and
 * never answers; the run is then abandoned as a crash leaves it (its SMSC gone, nothing settled). The next run under
 * the same node id resumes through a real SmppCarrier to an SMSC that answers; both SMSCs log every submit_sm.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import smpp, { type PDU, type Server, type Session } from 'smpp';
import { SmppCarrier } from '../../../src/sms/smpp-carrier.js';
import { createStore, type Store } from '../../../src/store/store.js';
import { ManualClock } from '../../helpers/app.js';
import { createTestDatabase, describeEachDialect, type TestDatabase } from '../../helpers/databases.js';
import { makeNode } from '../../helpers/nodes.js';
import { waitUntil } from '../../helpers/processes.js';

interface TestSmsc {
  readonly url: string;
  /** Every submit_sm received: destination and short_message (hex). */
  readonly submits: Array<{ to: string; text: string }>;
  close(): Promise<void>;
}

async function startSmsc(answer: boolean): Promise<TestSmsc> {
  const sessions: Session[] = [];
  const submits: Array<{ to: string; text: string }> = [];
  let id = 0;
  const server: Server = smpp.createServer((session: Session) => {
    sessions.push(session);
    session.on('error', () => undefined);
    session.on('bind_transceiver', (pdu: PDU) => session.send(pdu.response({ system_id: 'test-smsc' })));
    session.on('enquire_link', (pdu: PDU) => session.send(pdu.response()));
    session.on('submit_sm', (pdu: PDU) => {
      const message = pdu.short_message as { message?: unknown } | Buffer | string;
      const text = Buffer.isBuffer(message) ? message.toString('hex') : JSON.stringify(message);
      submits.push({ to: String(pdu.destination_addr), text });
      if (answer) session.send(pdu.response({ message_id: `m${id++}` }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `smpp://esme:secret@127.0.0.1:${port}`,
    submits,
    async close() {
      for (const session of sessions) session.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const FAST = { reconnectInitialMs: 50, reconnectMaxMs: 200, enquireLinkMs: 60_000, unbindTimeoutMs: 200 } as const;

await describeEachDialect('SMS parts in flight at a crash', (dialect) => {
  let db: TestDatabase;
  let store: Store;
  let clock: ManualClock;
  let accountId: string;

  before(async () => {
    db = await createTestDatabase(dialect);
    store = createStore(db.database);
    clock = new ManualClock();
    const node = makeNode(store, clock, 'setup');
    accountId = (await node.services.accounts.create({ name: 'Crash', email: 'crash@example.com' })).account.id;
    await node.services.credits.add(accountId, 100_000, 'test');
    await node.services.numbers.add(accountId, { number: '+14155551234', type: 'purchased', capabilities: ['voice', 'sms'] });
  });
  after(async () => db.close());

  test('are not submitted again at restart: their message fails submit_unconfirmed, unwritten segments refunded', { timeout: 30_000 }, async () => {
    const nodeId = `sms_crash_${Math.random().toString(36).slice(2, 8)}`;
    const silent = await startSmsc(false);
    const answering = await startSmsc(true);
    // Window 2: the one-part message and the first part of the three-part one are written; the rest wait.
    const dyingCarrier = new SmppCarrier({ url: silent.url, windowSize: 2, ...FAST });
    const restartedCarrier = new SmppCarrier({ url: answering.url, windowSize: 2, ...FAST });
    try {
      const dying = makeNode(store, clock, nodeId);
      await dying.lease.start();
      dying.services.sms.attachCarrier(dyingCarrier);
      await dyingCarrier.start();
      const single = await dying.services.sms.send(accountId, { from: '+14155551234', to: '+14155550201', body: 'one part' });
      const triple = await dying.services.sms.send(accountId, { from: '+14155551234', to: '+14155550202', body: 'x'.repeat(400) });
      const waiting = await dying.services.sms.send(accountId, { from: '+14155551234', to: '+14155550203', body: 'never written' });
      assert.deepEqual([single.segments, triple.segments, waiting.segments], [1, 3, 1]);
      await waitUntil('two submit_sm at the silent SMSC', () => silent.submits.length === 2, 10_000);
      const balanceAtCrash = (await dying.services.credits.balance(accountId)).balanceMinor;

      // The crash: the SMSC connection is gone and nothing of the dying run settles anything afterwards.
      dying.services.sms.attachCarrier(undefined);
      await silent.close();
      const parts = async (id: string) => (await store.sms.parts(id)).map((p) => p.status);
      assert.deepEqual(await parts(single.id), ['submitting']);
      assert.deepEqual(await parts(triple.id), ['submitting', 'queued', 'queued']);
      assert.deepEqual(await parts(waiting.id), ['queued']);

      const restarted = makeNode(store, clock, nodeId);
      await restarted.lease.start();
      restarted.services.sms.attachCarrier(restartedCarrier);
      await restartedCarrier.start();
      assert.equal(await restarted.services.sms.resumeUnsent(), 1, 'only the message none of whose parts was written is resumed');
      await restarted.services.sms.settled();

      // Only the never-written message reaches the SMSC again, once.
      assert.deepEqual(
        answering.submits.map((s) => s.to),
        ['14155550203'],
      );
      const single2 = await restarted.services.sms.get(accountId, single.id);
      const triple2 = await restarted.services.sms.get(accountId, triple.id);
      assert.deepEqual([single2.status, single2.errorCode], ['failed', 'submit_unconfirmed']);
      assert.deepEqual([triple2.status, triple2.errorCode], ['failed', 'submit_unconfirmed']);
      assert.equal((await restarted.services.sms.get(accountId, waiting.id)).status, 'sent');
      assert.deepEqual(
        (await store.sms.parts(triple.id)).map((p) => [p.status, p.error_code]),
        [
          ['failed', 'submit_unconfirmed'],
          ['failed', 'not_submitted'],
          ['failed', 'not_submitted'],
        ],
      );
      assert.equal((await restarted.services.sms.history(accountId, single.id)).at(-1)?.errorCode, 'submit_unconfirmed');

      // Billing: the two segments of the three-part message never written are refunded; the segments that may have
      // reached the SMSC stay charged. The ledger sums to the balance.
      const perSegment = triple.priceMinor / 3;
      const refunds = (await restarted.services.credits.entries(accountId, 100)).filter((e) => e.kind === 'refund');
      assert.deepEqual(
        refunds.map((e) => [e.amountMinor, e.reference]),
        [[2 * perSegment, triple.id]],
      );
      const balance = (await restarted.services.credits.balance(accountId)).balanceMinor;
      assert.equal(balance, balanceAtCrash + 2 * perSegment);
      assert.equal(await store.credits.ledgerSum(accountId), balance);

      // A second start finds nothing left to resume and refunds nothing twice.
      assert.equal(await restarted.services.sms.resumeUnsent(), 0);
      assert.equal((await restarted.services.credits.entries(accountId, 100)).filter((e) => e.kind === 'refund').length, 1);
    } finally {
      await restartedCarrier.stop();
      await dyingCarrier.stop();
      await answering.close();
      await silent.close().catch(() => undefined);
    }
  });
});
