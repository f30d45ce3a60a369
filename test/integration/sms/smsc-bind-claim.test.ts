import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DevSmsc, type DevSmscSubmission } from '../../../src/sms/dev-smsc.js';
import { clusterOn } from '../../helpers/cluster.js';
import { createTestDatabase, postgresTestOptions, type TestDatabase } from '../../helpers/databases.js';
import { killHard, spawnServe, waitReady, waitUntil, type ServerProcess } from '../../helpers/processes.js';

const NAME = 'two servers, one SMSC account: one bind at a time, the other takes it over when the holder is killed, no SMS twice';
// Long enough that a node of a loaded test machine, late on its timers by a few seconds, still renews in time.
const LEASE_S = 5;
const PER_NODE = 10;
const ADMIN_TOKEN = 'smsc-claim-test-admin-token-0123456789';
const headers = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
const options = await postgresTestOptions(NAME);

test(NAME, { skip: options.skip, timeout: 90_000 }, async () => {
  if (options.failure) throw new Error(options.failure);
  const db: TestDatabase = await createTestDatabase('postgres');
  const cluster = clusterOn(db.schema!, ADMIN_TOKEN);
  // One SMSC both servers are configured with (the dev SMSC, run here so the test sees every bind and submit_sm).
  const submitted: DevSmscSubmission[] = [];
  const smsc = new DevSmsc({ host: '127.0.0.1', port: 0, receiptDelayMs: 10, onSubmit: (s) => submitted.push(s) });
  await smsc.start();
  let mostBound = 0;
  const sampler = setInterval(() => (mostBound = Math.max(mostBound, smsc.boundSessions)), 5);
  const procs = new Map<string, ServerProcess>();
  try {
    const extra = { DIALPLANE_NODE_LEASE_S: String(LEASE_S), DIALPLANE_SMSC: smsc.url };
    const a = await cluster.node('37000-37099', { ...extra, DIALPLANE_NODE_ID: 'node-a' });
    const b = await cluster.node('37100-37199', { ...extra, DIALPLANE_NODE_ID: 'node-b' });
    const bases = new Map([
      ['node-a', a.base],
      ['node-b', b.base],
    ]);
    procs.set('node-a', spawnServe(a.env));
    await waitReady(a.base, procs.get('node-a')!);
    procs.set('node-b', spawnServe(b.env));
    await waitReady(b.base, procs.get('node-b')!);

    const api = async <T>(base: string, path: string, body?: unknown): Promise<T> => {
      const response = await fetch(`${base}${path}`, body === undefined ? { headers } : { method: 'POST', headers, body: JSON.stringify(body) });
      const text = await response.text();
      assert.ok(response.ok, `${path}: ${response.status} ${text}`);
      return JSON.parse(text) as T;
    };
    const { accounts } = await api<{ accounts: Array<{ id: string }> }>(a.base, '/admin/v1/accounts');
    const accountId = accounts[0]!.id;
    const holderNow = async () =>
      (await db.database.db.selectFrom('work_claims').select(['holder', 'lease_until']).where('name', 'like', 'smpp:%').executeTakeFirst())?.holder;
    const send = async (node: string, tag: string) => {
      const ids: string[] = [];
      for (let i = 0; i < PER_NODE; i++) {
        const { message } = await api<{ message: { id: string; status: string } }>(bases.get(node)!, `/admin/v1/accounts/${accountId}/sms`, {
          from: '+14155551234',
          to: '+14155550100',
          message: `${tag} ${i}`,
        });
        ids.push(message.id);
      }
      return ids;
    };
    const texts = () => submitted.map((s) => s.shortMessage.toString('latin1'));
    const statusOf = async (ids: string[]) =>
      db.database.db.selectFrom('sms_messages').select(['id', 'status', 'owner_node']).where('id', 'in', ids).execute();

    // Both running: one bind, held by the node that started first.
    await waitUntil('the account bound', () => smsc.boundSessions === 1, 10_000);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    assert.equal(smsc.boundSessions, 1, 'one bind for the account');
    const holder = (await holderNow())!;
    assert.equal(holder, 'node-a');
    const other = holder === 'node-a' ? 'node-b' : 'node-a';
    const bindsBefore = smsc.counters.binds;

    // Messages accepted by either node go out through the one bind; the other node's are handed over in the store.
    const first = [...(await send(holder, 'holder')), ...(await send(other, 'standby'))];
    await waitUntil('the first 20 submitted', () => submitted.length >= 2 * PER_NODE, 15_000);
    await waitUntil('the first 20 marked sent', async () => (await statusOf(first)).every((m) => m.status !== 'queued'), 10_000);
    assert.equal(await holderNow(), holder, 'the standby node never took the bind');

    // The holder is killed: the standby node accepts messages meanwhile, binds once the claim has run out, and sends them.
    const killed = procs.get(holder)!;
    const killedAt = Date.now();
    killed.child.kill('SIGKILL');
    await killed.exited;
    procs.delete(holder);
    const second = await send(other, 'after');
    await waitUntil('the standby node bound', () => smsc.counters.binds > bindsBefore, 20_000, procs.get(other));
    const takeoverMs = Date.now() - killedAt;
    await waitUntil('every message submitted', () => submitted.length >= 3 * PER_NODE, 20_000, procs.get(other));
    await waitUntil('the last 10 marked sent', async () => (await statusOf(second)).every((m) => m.status !== 'queued'), 10_000);
    assert.equal(await holderNow(), other);
    // Anything submitted twice would come a moment later.
    await new Promise((resolve) => setTimeout(resolve, 1_500));

    const sent = texts();
    assert.equal(sent.length, 3 * PER_NODE, `each message submitted once: ${JSON.stringify(sent)}`);
    assert.equal(new Set(sent).size, sent.length, 'no message submitted twice');
    for (const tag of ['holder', 'standby', 'after']) {
      for (let i = 0; i < PER_NODE; i++) assert.ok(sent.includes(`${tag} ${i}`), `${tag} ${i} was submitted`);
    }
    assert.equal(mostBound, 1, 'never two binds at once');
    assert.ok((await statusOf(second)).every((m) => m.owner_node === other), 'the new holder sent them');
    // The claim runs out LEASE_S after its last renewal (at most a third of it before the kill); the standby tries
    // every third of a lease.
    assert.ok(takeoverMs >= (LEASE_S * 2_000) / 3 - 100, `took over in ${takeoverMs} ms: not before the claim ran out`);
    assert.ok(takeoverMs < (LEASE_S * 4_000) / 3 + 5_000, `took over in ${takeoverMs} ms`);
    process.stdout.write(`# SMSC bind taken over ${takeoverMs} ms after the holder was killed (lease ${LEASE_S} s)\n`);
  } finally {
    clearInterval(sampler);
    for (const proc of procs.values()) await killHard(proc);
    await cluster.cleanup();
    await smsc.stop();
    await db.close();
  }
});
