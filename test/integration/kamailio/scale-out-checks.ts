/**
 * The checks of the scale-out acceptance test that read what the cluster left behind: the rate-limit hammer, the
 * final events and their deliveries, the SMS against the SMSC's log, the ledger against the calls, and the nodes'
 * lease warnings.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { legCost, CALL_RESERVE_REFERENCE } from '../../../src/core/calls/minute-reserve.js';
import type { Database } from '../../../src/store/database.js';
import type { Store } from '../../../src/store/store.js';
import { sleep, type ServerProcess } from '../../helpers/processes.js';
import type { ReceivedRequest } from '../../helpers/webhook-receiver.js';
import type { NetSmppSmsc } from '../../reliability/crash-under-load/net-smpp-smsc.js';

type Db = Database['db'];

export interface HammerFigures {
  readonly limit: number;
  readonly requests: number;
  readonly allowed: number;
  readonly refused: number;
  readonly perNode: readonly number[];
  readonly overshootPercent: number;
  readonly ms: number;
}

function get(agent: http.Agent, url: string, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { agent, headers: { authorization: `Bearer ${token}` } }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
    });
    request.on('error', reject);
  });
}

/**
 * `requests` GETs of one API key spread over every node by `clients` keep-alive connections each, all inside one
 * minute window of the key's `limit` (windows are aligned to the clock: with less than `budgetMs` left in this
 * minute, it waits for the next one).
 */
export async function hammerOneKey(bases: readonly string[], token: string, limit: number, requests: number, clients: number, budgetMs = 25_000): Promise<HammerFigures> {
  const intoMinute = Date.now() % 60_000;
  if (60_000 - intoMinute < budgetMs) await sleep(60_000 - intoMinute + 250);
  const windowStart = Math.floor(Date.now() / 60_000);
  const started = Date.now();
  const agents = Array.from({ length: clients }, () => new http.Agent({ keepAlive: true, maxSockets: 1 }));
  const perNode = bases.map(() => 0);
  const statuses = new Map<number, number>();
  let next = 0;
  try {
    await Promise.all(
      agents.map(async (agent, client) => {
        for (;;) {
          const i = next++;
          if (i >= requests) return;
          const node = (client + i) % bases.length;
          const status = await get(agent, `${bases[node]}/dialplane/v1/applications`, token);
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
          if (status === 200) perNode[node]! += 1;
        }
      }),
    );
  } finally {
    for (const agent of agents) agent.destroy();
  }
  assert.equal(Math.floor(Date.now() / 60_000), windowStart, `every request fell in one minute window (${Date.now() - started} ms)`);
  assert.deepEqual([...statuses.keys()].sort(), [200, 429], `statuses: ${JSON.stringify([...statuses])}`);
  const allowed = statuses.get(200) ?? 0;
  return {
    limit,
    requests,
    allowed,
    refused: statuses.get(429) ?? 0,
    perNode,
    overshootPercent: ((allowed - limit) / limit) * 100,
    ms: Date.now() - started,
  };
}

export interface FinalEventFigures {
  readonly legs: number;
  readonly finalEvents: number;
  readonly deliveries: number;
  readonly acknowledged: number;
  readonly refusedAttempts: number;
}

/**
 * Every leg of the account has exactly one `call.ended` event, delivered once to each endpoint path: the receiver
 * answered 2xx to each (path, event id) once, and as many 2xx in all as there are delivered rows. `statusOf` is the
 * status the receiver answered each request with (by index).
 */
export async function checkFinalEvents(
  db: Db,
  store: Store,
  accountId: string,
  received: readonly ReceivedRequest[],
  statusOf: readonly number[],
  paths: readonly string[],
): Promise<FinalEventFigures> {
  const legs = await db.selectFrom('calls').select(['id', 'state']).where('account_id', '=', accountId).execute();
  assert.deepEqual(legs.filter((leg) => leg.state !== 'ended'), [], 'every leg ended');
  const finals = await db
    .selectFrom('webhook_deliveries')
    .select(['event_id', 'payload'])
    .where('account_id', '=', accountId)
    .where('event_type', '=', 'call.ended')
    .execute();
  const eventsOf = new Map<string, Set<string>>();
  for (const delivery of finals) {
    const callId = (JSON.parse(delivery.payload) as { data: { call_id: string } }).data.call_id;
    eventsOf.set(callId, (eventsOf.get(callId) ?? new Set<string>()).add(delivery.event_id));
  }
  assert.deepEqual(
    legs.filter((leg) => eventsOf.get(leg.id)?.size !== 1).map((leg) => `${leg.id}: ${eventsOf.get(leg.id)?.size ?? 0}`),
    [],
    'exactly one final event per leg',
  );
  assert.equal(finals.length, legs.length * paths.length, 'one delivery of each final event per endpoint');

  const acknowledged = new Map<string, number>();
  let refusedAttempts = 0;
  received.forEach((request, i) => {
    const status = statusOf[i] ?? 0;
    if (status < 200 || status > 299) {
      refusedAttempts += 1;
      return;
    }
    const key = `${request.path} ${String(request.headers['x-dialplane-event-id'])}`;
    acknowledged.set(key, (acknowledged.get(key) ?? 0) + 1);
  });
  const twice = [...acknowledged].filter(([, n]) => n > 1).map(([key, n]) => `${key} x${n}`);
  assert.deepEqual(twice, [], 'no delivery acknowledged twice');
  const finalIds = new Set(finals.map((delivery) => delivery.event_id));
  for (const path of paths) {
    const missing = [...finalIds].filter((id) => !acknowledged.has(`${path} ${id}`));
    assert.deepEqual(missing, [], `every final event delivered to ${path}`);
  }
  const counts = await store.webhooks.countByStatus(accountId);
  assert.equal(counts.pending + counts.delivering + counts.failed, 0, `every delivery delivered: ${JSON.stringify(counts)}`);
  assert.equal(acknowledged.size, counts.delivered, `one acknowledged request per delivered row: ${JSON.stringify(counts)}`);
  return { legs: legs.length, finalEvents: finalIds.size, deliveries: counts.delivered, acknowledged: acknowledged.size, refusedAttempts };
}

export interface SmsFigures {
  readonly messages: number;
  readonly sent: number;
  readonly unconfirmed: number;
  readonly submits: number;
  readonly connections: number;
}

/**
 * Every SMS is final (sent, or failed `submit_unconfirmed` for a part in flight at the kill), no part reached the
 * SMSC twice, and the SMSC received each accepted part and at most the parts in flight at the kill besides.
 */
export async function checkSms(db: Db, smsIds: readonly string[], smsc: NetSmppSmsc, inFlightAtKill: number): Promise<SmsFigures> {
  const submits = await smsc.submits();
  const keys = submits.map((submit) => `${submit.to} ${submit.shortMessage}`);
  const twice = keys.filter((key, i) => keys.indexOf(key) !== i);
  assert.deepEqual(twice, [], 'no SMS part submitted twice');
  const messages = await db.selectFrom('sms_messages').select(['id', 'status', 'error_code']).where('id', 'in', smsIds).execute();
  const sent = messages.filter((m) => m.status === 'sent' || m.status === 'delivered');
  const unconfirmed = messages.filter((m) => m.status === 'failed' && m.error_code === 'submit_unconfirmed');
  assert.equal(sent.length + unconfirmed.length, smsIds.length, JSON.stringify(messages));
  assert.ok(unconfirmed.length <= inFlightAtKill, `at most the ${inFlightAtKill} parts in flight at the kill left their messages unconfirmed`);
  const parts = await db.selectFrom('sms_parts').select(['status']).where('message_id', 'in', smsIds).execute();
  const accepted = parts.filter((p) => p.status === 'sent').length;
  // A part marked in flight may have died before its submit_sm was written: at most once, not exactly once.
  assert.ok(
    submits.length >= accepted && submits.length <= accepted + inFlightAtKill,
    `the SMSC received ${submits.length} submit_sm: each of the ${accepted} parts accepted, and at most the ${inFlightAtKill} in flight at the kill`,
  );
  return { messages: messages.length, sent: sent.length, unconfirmed: unconfirmed.length, submits: submits.length, connections: new Set(submits.map((s) => s.connection)).size };
}

export interface LedgerFigures {
  readonly balance: number;
  readonly entries: number;
  readonly callsCharged: number;
  readonly chargedMinor: number;
  readonly callsReleased: number;
}

/**
 * The ledger sums to the balance, no credit hold is left, and every call was charged once: what its reserves
 * captured is its legs' cost (each answered leg through the trunk, per started minute), except the calls ended by
 * crash recovery, whose reserves were released uncharged (what was talked before the crash is not billed).
 */
export async function checkLedger(db: Db, store: Store, accountId: string): Promise<LedgerFigures> {
  const balance = (await store.credits.balance(accountId))!;
  assert.equal(await store.credits.ledgerSum(accountId), balance.balanceMinor, 'the ledger equals the balance');
  const holds = await db.selectFrom('credit_holds').select(['id', 'status', 'reference']).where('account_id', '=', accountId).execute();
  assert.deepEqual(holds.filter((hold) => hold.status === 'active'), [], 'no credit hold left');
  const captures = await db
    .selectFrom('credit_entries')
    .select(['hold_id', 'amount_minor'])
    .where('account_id', '=', accountId)
    .where('kind', '=', 'capture')
    .execute();
  const callOfHold = new Map(
    holds.filter((hold) => hold.reference?.startsWith(CALL_RESERVE_REFERENCE)).map((hold) => [hold.id, hold.reference!.slice(CALL_RESERVE_REFERENCE.length)]),
  );
  const captured = new Map<string, number>();
  for (const capture of captures) {
    const callId = callOfHold.get(capture.hold_id ?? '');
    assert.ok(callId, `capture of hold ${capture.hold_id} is a call's`);
    captured.set(callId, (captured.get(callId) ?? 0) - Number(capture.amount_minor));
  }
  const legs = await db
    .selectFrom('calls')
    .select(['id', 'parent_call_id', 'answered_at', 'ended_at', 'price_minor', 'end_reason'])
    .where('account_id', '=', accountId)
    .execute();
  const due = new Map<string, number>();
  const recovered = new Set<string>();
  for (const leg of legs) {
    const root = leg.parent_call_id ?? leg.id;
    if (leg.end_reason === 'crash_recovery') recovered.add(root);
    const price = leg.price_minor === null ? null : Number(leg.price_minor);
    due.set(root, (due.get(root) ?? 0) + legCost(leg.answered_at, leg.ended_at, price));
  }
  const wrong: string[] = [];
  let callsCharged = 0;
  let chargedMinor = 0;
  for (const [root, cost] of due) {
    const expected = recovered.has(root) ? 0 : cost;
    const got = captured.get(root) ?? 0;
    if (got !== expected) wrong.push(`${root}: captured ${got}, due ${expected}${recovered.has(root) ? ' (crash_recovery)' : ''}`);
    if (got > 0) callsCharged += 1;
    chargedMinor += got;
  }
  assert.deepEqual(wrong, [], 'every call charged once, for its cost');
  const entries = await db.selectFrom('credit_entries').select('id').where('account_id', '=', accountId).execute();
  return { balance: balance.balanceMinor, entries: entries.length, callsCharged, chargedMinor, callsReleased: recovered.size };
}

/**
 * The nodes' log lines about leases (a renewal that came too late, calls of a node whose lease ran out ended), for
 * failure messages: on a busy machine a late renewal lets another node end a live node's calls.
 */
export function leaseLines(nodes: ReadonlyArray<{ readonly id: string; readonly proc: ServerProcess }>): string[] {
  return nodes.flatMap((node) =>
    node.proc
      .stdout()
      .split('\n')
      .filter((line) => /lease/i.test(line))
      .map((line) => {
        try {
          const entry = JSON.parse(line) as { time?: number; msg?: string; count?: number; err?: { message?: string } };
          const count = entry.count === undefined ? '' : ` (${entry.count})`;
          return `${node.id} ${new Date(entry.time ?? 0).toISOString()}: ${entry.err?.message ?? entry.msg ?? ''}${count}`;
        } catch {
          return `${node.id}: ${line.slice(0, 300)}`;
        }
      }),
  );
}
