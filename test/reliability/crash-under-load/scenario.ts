/**
 * A real `dialplane serve` killed with SIGKILL under load, then started again, and only then its webhook receiver:
 *
 * - `CALLS` live bridged calls (an inline program dials a second number; both legs answered by a SIPp carrier,
 *   test/sipp/uas-answer-bye-or-timeout.xml, which waits for a BYE or gives up after BYE_WAIT_MS);
 * - at least 1,000 webhook deliveries pending to two endpoints of a receiver that is down;
 * - SMS in flight through a slow SMSC written with Net::SMPP (net-smpp-smsc.pl), which logs every submit_sm;
 * - SIGKILL, restart (under the same DIALPLANE_NODE_ID), the receiver comes up.
 *
 * Afterwards: every call leg has exactly one final event (`call.ended`), delivered to each endpoint (the receiver
 * de-duplicates by event id: none missing); no call is left live; no SMS part reached the SMSC twice and every SMS
 * has a final status; the ledger sums to the balance and no credit hold is left; SIPp saw a BYE or a timeout for
 * every call. Each figure is reported.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { DatabaseDialect } from '../../../src/config/config.js';
import { systemClock } from '../../../src/core/clock.js';
import { createServices } from '../../../src/core/services.js';
import { openDatabase, type Database } from '../../../src/store/database.js';
import { loadSecretBox } from '../../../src/store/secret-keys.js';
import { createStore } from '../../../src/store/store.js';
import { createTestDatabase, POSTGRES_URL, type TestDatabase } from '../../helpers/databases.js';
import { requirePeer } from '../../helpers/peers.js';
import { freePort, killHard, spawnServe, testEnv, waitReady, waitUntil, type ServerProcess } from '../../helpers/processes.js';
import { describeSippResult, freeUdpPortBlock, requireSipp, startSipp, type SippHandle } from '../../helpers/sipp.js';
import { startReceiver, type WebhookReceiver } from '../../helpers/webhook-receiver.js';
import { netSmppPeer, startNetSmppSmsc, type NetSmppSmsc } from './net-smpp-smsc.js';

/** Bridged calls live at the kill: 200 under CI; DIALPLANE_CRASH_TEST_CALLS may lower it on a plain run. */
export const CALLS = process.env.CI === 'true' ? 200 : Math.min(200, Math.max(1, Number(process.env.DIALPLANE_CRASH_TEST_CALLS ?? 200) || 200));
const SMS = 30;
/** Every SMS of two parts: 60 submit_sm through a window of 10, each answered this long after it arrived. */
const SMS_BODY_LENGTH = 200;
const SMSC_DELAY_MS = 1_500;
/** How long SIPp's answered legs wait for a BYE before giving up (they get none: the server that had them died). */
const BYE_WAIT_MS = 30_000;
const PENDING_DELIVERIES = 1_000;
const FROM = '+14155551234';
const ADMIN_TOKEN = `crash-under-load-${randomBytes(12).toString('hex')}`;

/** CPU seconds (user + system) a process has used so far, from /proc (Linux); undefined elsewhere. */
async function cpuSeconds(pid: number | undefined): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of the whole line, in clock ticks (100 a second on Linux).
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

export interface CrashFigures {
  readonly dialect: DatabaseDialect;
  readonly callsLive: number;
  readonly legsLive: number;
  readonly deliveriesPending: number;
  readonly fillerDeliveries: number;
  readonly smsInFlight: number;
  readonly smsQueued: number;
  readonly serverCpuS: number | undefined;
}

/** True when SIPp and Net::SMPP are there (else the test is skipped, or fails under CI=true). */
export async function peersPresent(t: TestContext): Promise<boolean> {
  return (await requireSipp(t)) && (await requirePeer(netSmppPeer, t));
}

export async function crashUnderLoad(t: TestContext, dialect: DatabaseDialect): Promise<void> {
  const started = Date.now();
  /** DIALPLANE_CRASH_TEST_TRACE=1 prints each step as it is reached, with the seconds since the start. */
  const step = (what: string): void => {
    if (process.env.DIALPLANE_CRASH_TEST_TRACE) process.stderr.write(`[crash ${dialect} ${((Date.now() - started) / 1000).toFixed(1)} s] ${what}\n`);
  };
  const dataDir = await mkdtemp(join(tmpdir(), 'dialplane-crash-load-'));
  const logDir = await mkdtemp(join(tmpdir(), 'dialplane-crash-sipp-'));
  let server: ServerProcess | undefined;
  let receiver: WebhookReceiver | undefined;
  let smsc: NetSmppSmsc | undefined;
  let sipp: SippHandle | undefined;
  let testDb: TestDatabase | undefined;
  let database: Database | undefined;
  try {
    const legs = CALLS * 2;
    smsc = await startNetSmppSmsc(SMSC_DELAY_MS);
    const sippLog = join(logDir, 'calls.log');
    sipp = await startSipp({
      scenario: 'uas-answer-bye-or-timeout.xml',
      calls: legs,
      limit: legs + 10,
      timeoutSeconds: 150,
      traceMessages: false,
      args: ['-recv_timeout', String(BYE_WAIT_MS), '-trace_logs', '-log_file', sippLog],
      t,
    });
    const httpPort = await freePort();
    const receiverPort = await freePort(); // nothing listens here until the receiver is brought up
    const rtpBase = await freeUdpPortBlock(1_000);
    const base = `http://127.0.0.1:${httpPort}`;
    let databaseUrl: string | undefined;
    if (dialect === 'postgres') {
      testDb = await createTestDatabase('postgres');
      database = testDb.database;
      const url = new URL(POSTGRES_URL);
      url.searchParams.set('options', `-c search_path=${testDb.schema}`);
      databaseUrl = url.toString();
    }
    const env = testEnv({
      DIALPLANE_DATA_DIR: dataDir,
      DIALPLANE_HTTP_PORT: String(httpPort),
      ...(databaseUrl ? { DIALPLANE_DATABASE_URL: databaseUrl } : {}),
      DIALPLANE_ADMIN_TOKEN: ADMIN_TOKEN,
      // The restart takes back its own calls and SMS at once instead of waiting for the old lease to run out.
      DIALPLANE_NODE_ID: `crash-${dialect}`,
      DIALPLANE_TRUNK: `sip:${sipp.address};transport=udp`,
      DIALPLANE_TRUNK_KEEPALIVE_S: '0',
      DIALPLANE_RTP_PORTS: `${rtpBase}-${rtpBase + 999}`,
      DIALPLANE_RTP_TIMEOUT_S: '0',
      DIALPLANE_MAX_CALLS: String(legs + 10),
      DIALPLANE_SMSC: smsc.url,
      DIALPLANE_WEBHOOK_ALLOW_PRIVATE: 'true',
      // Retries 4 to 8 s apart: a receiver that is down costs a few attempts per delivery, not the CPU the calls need.
      DIALPLANE_WEBHOOK_RETRY_BASE_MS: '8000',
      DIALPLANE_WEBHOOK_RETRY_MAX_DELAY_MS: '8000',
      DIALPLANE_WEBHOOK_MAX_ATTEMPTS: '100',
      DIALPLANE_WEBHOOK_CONNECT_TIMEOUT_MS: '1000',
      DIALPLANE_WEBHOOK_TIMEOUT_MS: '5000',
    });

    server = spawnServe(env);
    step('server starting');
    await waitReady(base, server, 60_000);
    database ??= await openDatabase({ url: join(dataDir, 'dialplane.sqlite'), dialect: 'sqlite', migrate: false });
    const db = database.db;
    // The server's secrets key (its data directory's key file), to read the endpoints as a second server would.
    const { box } = await loadSecretBox({ dataDir, key: undefined, previousKeys: undefined });
    const store = createStore(database, { secrets: box });

    const admin = async <T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> => {
      const response = await fetch(`${base}/admin/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await response.text();
      assert.ok(response.ok, `${method} ${path}: ${response.status} ${text}`);
      return JSON.parse(text) as T;
    };
    const { accounts } = await admin<{ accounts: Array<{ id: string }> }>('GET', '/accounts');
    const accountId = accounts[0]!.id;
    await admin('POST', `/accounts/${accountId}/credits`, { amount: 100_000 });
    const { api_key: apiKey } = await admin<{ api_key: string }>('POST', `/accounts/${accountId}/keys`, { name: 'crash test' });
    // Two endpoints: /a takes every event, /b only the final ones.
    const endpoints: string[] = [];
    for (const [path, eventTypes] of [
      ['/a', ['*']],
      ['/b', ['call.ended']],
    ] as const) {
      const { endpoint } = await admin<{ endpoint: { id: string } }>('POST', `/accounts/${accountId}/webhooks/endpoints`, {
        url: `http://127.0.0.1:${receiverPort}${path}`,
        event_types: eventTypes,
      });
      endpoints.push(endpoint.id);
    }

    const callIds = await placeBridgedCalls(base, apiKey);
    const answeredLegs = async () =>
      Number(
        (
          await db
            .selectFrom('calls')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .where('account_id', '=', accountId)
            .where('state', '=', 'answered')
            .executeTakeFirstOrThrow()
        ).n,
      );
    step('calls placed; waiting for every leg to answer');
    await waitUntil(`${legs} legs answered`, async () => (await answeredLegs()) === legs, 90_000, server);
    const bridged = Number(
      (
        await db
          .selectFrom('calls')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('account_id', '=', accountId)
          .where('parent_call_id', 'in', callIds)
          .where('state', '=', 'answered')
          .executeTakeFirstOrThrow()
      ).n,
    );
    assert.equal(bridged, CALLS, 'every call has its dialled leg answered');

    // SMS, each of two parts with a text of its own so the SMSC's log shows any part received twice.
    const smsIds: string[] = [];
    for (let i = 0; i < SMS; i++) {
      const body = `crash test message ${i} `.padEnd(SMS_BODY_LENGTH, String.fromCharCode(97 + (i % 26)));
      const { message } = await admin<{ message: { id: string } }>('POST', `/accounts/${accountId}/sms`, {
        from: FROM,
        to: `+1415558${String(i).padStart(4, '0')}`,
        message: body,
      });
      smsIds.push(message.id);
    }
    // Kill once the first window was answered and the next is in flight.
    step('SMS accepted; waiting for parts in flight');
    await waitUntil('SMS parts in flight at the SMSC', async () => (await smsc!.submits()).length >= 15, 30_000, server);

    const pendingDeliveries = async () =>
      Number(
        (
          await db
            .selectFrom('webhook_deliveries')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .where('account_id', '=', accountId)
            .where('status', 'in', ['pending', 'delivering'])
            .executeTakeFirstOrThrow()
        ).n,
      );
    // With fewer calls (a plain run with DIALPLANE_CRASH_TEST_CALLS), events written by another process into the same
    // database, as a second server would, make up the 1,000.
    const services = createServices(store, { clock: systemClock, defaultCountry: 'US', keyCacheTtlMs: 1_000 });
    let filler = 0;
    while ((await pendingDeliveries()) < PENDING_DELIVERIES) {
      await database.write(async (trx) => {
        for (let i = 0; i < 50; i++) filler += await services.webhooks.enqueue(trx, services.webhooks.event(accountId, 'crash.filler', { n: filler }));
      });
    }

    const cpuBeforeKill = await cpuSeconds(server.child.pid);
    step('SIGKILL');
    server.child.kill('SIGKILL');
    assert.equal(await server.exited, 'SIGKILL');
    const partsAtKill = await db.selectFrom('sms_parts').select(['message_id', 'status']).where('message_id', 'in', smsIds).execute();
    const liveAtKill = await db.selectFrom('calls').select(['id', 'parent_call_id']).where('account_id', '=', accountId).where('state', '!=', 'ended').execute();
    const figures: CrashFigures = {
      dialect,
      callsLive: liveAtKill.filter((row) => row.parent_call_id === null).length,
      legsLive: liveAtKill.length,
      deliveriesPending: await pendingDeliveries(),
      fillerDeliveries: filler,
      smsInFlight: partsAtKill.filter((p) => p.status === 'submitting').length,
      smsQueued: partsAtKill.filter((p) => p.status === 'queued').length,
      serverCpuS: cpuBeforeKill,
    };
    t.diagnostic(
      `[${dialect}] load held at the kill: ${figures.callsLive} bridged calls (${figures.legsLive} legs) live, ` +
        `${figures.deliveriesPending} webhook deliveries pending to a receiver that is down (${figures.fillerDeliveries} of them filler), ` +
        `${figures.smsInFlight} SMS parts in flight and ${figures.smsQueued} queued; fault injected: SIGKILL ` +
        `(the server had used ${figures.serverCpuS ?? '?'} CPU s, ${((Date.now() - started) / 1000).toFixed(1)} s into the test)`,
    );
    assert.equal(figures.callsLive, CALLS);
    assert.equal(figures.legsLive, legs);
    assert.ok(figures.smsInFlight > 0, 'some SMS parts were in flight at the kill');

    const restartAt = Date.now();
    // A port of its own: another process may take the killed server's HTTP port in between.
    const restartPort = await freePort();
    server = spawnServe({ ...env, DIALPLANE_HTTP_PORT: String(restartPort) });
    step('restarting');
    const restarted = server;
    await waitReady(`http://127.0.0.1:${restartPort}`, restarted, 60_000).catch((error: unknown) => {
      throw new Error(`${String(error)}\nstdout: ${restarted.stdout().slice(-3_000)}`);
    });
    const restartS = ((Date.now() - restartAt) / 1000).toFixed(1);
    const restartCpuS = await cpuSeconds(server.child.pid);
    receiver = await startReceiver(() => ({ status: 200 }), receiverPort);

    // No call is left live, and every leg has exactly one final event.
    step('restarted; the receiver is up');
    await waitUntil('every call ended', async () => (await answeredLegs()) === 0, 30_000, server);
    const rows = await db.selectFrom('calls').select(['id', 'state', 'end_reason']).where('account_id', '=', accountId).execute();
    assert.equal(rows.length, legs);
    assert.deepEqual(
      rows.filter((row) => row.state !== 'ended' || row.end_reason !== 'crash_recovery'),
      [],
      'every leg ended by the recovery',
    );
    const finals = await db
      .selectFrom('webhook_deliveries')
      .select(['event_id', 'endpoint_id', 'payload'])
      .where('account_id', '=', accountId)
      .where('event_type', '=', 'call.ended')
      .execute();
    const finalEventOf = new Map<string, Set<string>>();
    for (const delivery of finals) {
      const callId = (JSON.parse(delivery.payload) as { data: { call_id: string } }).data.call_id;
      const ids = finalEventOf.get(callId) ?? new Set<string>();
      ids.add(delivery.event_id);
      finalEventOf.set(callId, ids);
    }
    assert.deepEqual(
      rows.filter((row) => finalEventOf.get(row.id)?.size !== 1).map((row) => row.id),
      [],
      'exactly one final event per leg',
    );
    assert.equal(finals.length, legs * endpoints.length, 'one delivery of each final event per endpoint');

    // Every final event reaches each endpoint (the receiver de-duplicates by event id).
    const finalIds = new Set(finals.map((d) => d.event_id));
    const receivedFinals = (path: string) =>
      new Set(
        receiver!.requests
          .filter((r) => r.path === path && finalIds.has(String(r.headers['x-dialplane-event-id'])))
          .map((r) => String(r.headers['x-dialplane-event-id'])),
      );
    step('waiting for the final events at both endpoints');
    await waitUntil(
      'every final event delivered to both endpoints',
      () => receivedFinals('/a').size === finalIds.size && receivedFinals('/b').size === finalIds.size,
      60_000,
      server,
    );
    const duplicates = (path: string) => {
      const ids = receiver!.requests.filter((r) => r.path === path).map((r) => String(r.headers['x-dialplane-event-id']));
      return ids.length - new Set(ids).size;
    };

    // And every other delivery: none lost, none given up.
    step('waiting for every other delivery');
    await waitUntil(
      'every webhook delivery delivered',
      async () => {
        const counts = await store.webhooks.countByStatus(accountId);
        return counts.pending === 0 && counts.delivering === 0;
      },
      60_000,
      server,
    );
    const deliveryCounts = await store.webhooks.countByStatus(accountId);
    assert.equal(deliveryCounts.failed, 0, JSON.stringify(deliveryCounts));

    // Every SMS is final; no part reached the SMSC twice.
    step('waiting for every SMS to be final');
    const sms = await checkSms(db, smsIds, smsc, figures.smsInFlight, server);

    // Billing: the ledger sums to the balance and no hold is left.
    const balance = (await store.credits.balance(accountId))!;
    assert.equal(await store.credits.ledgerSum(accountId), balance.balanceMinor, 'the ledger equals the balance');
    const holds = (await store.credits.activeHoldsReferencing('')).filter((hold) => hold.account_id === accountId);
    assert.deepEqual(holds, [], 'no credit hold left');

    // SIPp: every leg ended with a BYE or a timeout, once.
    step('waiting for SIPp to end');
    const byes = await checkSipp(sipp, sippLog, legs);

    t.diagnostic(
      `[${dialect}] restarted and ready in ${restartS} s (${restartCpuS ?? '?'} CPU s); ${legs} of ${legs} legs ended (crash_recovery), 0 live; ` +
        `${finalIds.size} final events, each delivered to ${endpoints.length} endpoints: events lost = 0 ` +
        `(${deliveryCounts.delivered} deliveries in all, 0 failed), ` +
        `duplicates received (de-duplicated by event id) = ${duplicates('/a') + duplicates('/b')}; ` +
        `SMS: ${sms.sent} sent, ${sms.unconfirmed} settled submit_unconfirmed, ${sms.submits} submit_sm at the SMSC, ` +
        `0 twice; ledger = balance = ${balance.balanceMinor}, holds left = 0; ` +
        `SIPp: ${byes} BYE + ${legs - byes} timeouts = ${legs} of ${legs} legs; ` +
        `${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  } finally {
    await killHard(server);
    await receiver?.close();
    await sipp?.stop();
    await smsc?.stop();
    if (testDb) await testDb.close();
    else await database?.close();
    await rm(dataDir, { recursive: true, force: true });
    await rm(logDir, { recursive: true, force: true });
  }
}

/** Every SMS final (sent, or failed submit_unconfirmed), and no part received twice by the SMSC. */
async function checkSms(
  db: Database['db'],
  smsIds: readonly string[],
  smsc: NetSmppSmsc,
  inFlightAtKill: number,
  server: ServerProcess,
): Promise<{ sent: number; unconfirmed: number; submits: number }> {
  await waitUntil(
    'every SMS final',
    async () =>
      (await db.selectFrom('sms_messages').select('status').where('id', 'in', smsIds).execute()).every((m) => m.status !== 'queued'),
    60_000,
    server,
  ).catch(async (error: unknown) => {
    // Which messages and parts were left, and what the server said.
    const left = await db
      .selectFrom('sms_messages')
      .select(['id', 'status', 'owner_node'])
      .where('id', 'in', smsIds)
      .where('status', '=', 'queued')
      .execute();
    const leftParts =
      left.length === 0
        ? []
        : await db.selectFrom('sms_parts').select(['message_id', 'seq', 'status']).where('message_id', 'in', left.map((m) => m.id)).execute();
    throw new Error(`${String(error)}\n${JSON.stringify(left)}\n${JSON.stringify(leftParts)}\nstdout: ${server.stdout().slice(-5000)}`);
  });
  const submits = await smsc.submits();
  const keys = submits.map((s) => `${s.to} ${s.shortMessage}`);
  const twice = keys.filter((key, i) => keys.indexOf(key) !== i);
  assert.deepEqual(twice, [], 'no SMS part submitted twice');
  const messages = await db.selectFrom('sms_messages').select(['id', 'status', 'error_code']).where('id', 'in', smsIds).execute();
  const sent = messages.filter((m) => m.status === 'sent' || m.status === 'delivered');
  const unconfirmed = messages.filter((m) => m.status === 'failed' && m.error_code === 'submit_unconfirmed');
  assert.equal(sent.length + unconfirmed.length, SMS, JSON.stringify(messages));
  assert.ok(unconfirmed.length > 0, 'the parts in flight at the kill settled as submit_unconfirmed');
  const partsAfter = await db.selectFrom('sms_parts').select(['message_id', 'status']).where('message_id', 'in', smsIds).execute();
  // A part marked in flight may have died before its submit_sm was written: at most once, not exactly once.
  const accepted = partsAfter.filter((p) => p.status === 'sent').length;
  assert.ok(
    submits.length >= accepted && submits.length <= accepted + inFlightAtKill,
    `the SMSC received ${submits.length} submit_sm: each of the ${accepted} parts accepted, and at most the ${inFlightAtKill} in flight at the kill`,
  );
  return { sent: sent.length, unconfirmed: unconfirmed.length, submits: submits.length };
}

/** SIPp ended every leg (2 per call) successfully, each once, with a BYE or a timeout; the number of BYEs. */
async function checkSipp(sipp: SippHandle, sippLog: string, legs: number): Promise<number> {
  const result = await sipp.done;
  assert.equal(result.code, 0, describeSippResult(result));
  assert.equal(result.stats.successful, legs, describeSippResult(result));
  assert.equal(result.stats.failed, 0, describeSippResult(result));
  const endings = (await readFile(sippLog, 'latin1')).split('\n').filter((line) => /^(bye|timeout) /.test(line));
  const byes = endings.filter((line) => line.startsWith('bye ')).length;
  assert.equal(endings.length, legs);
  assert.equal(new Set(endings.map((line) => line.split(' ')[1])).size, legs, 'one ending per SIP call');
  return byes;
}

/** The calls, a few at a time: each answers, then its program dials the second number and bridges the two; their ids. */
async function placeBridgedCalls(base: string, apiKey: string): Promise<string[]> {
  const callIds: string[] = [];
  let next = 0;
  const placeCalls = async (): Promise<void> => {
    while (next < CALLS) {
      const i = next++;
      const response = await fetch(`${base}/dialplane/v1/calls`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          from: FROM,
          to: `+1415556${String(i).padStart(4, '0')}`,
          ring_timeout: 60,
          program: [{ verb: 'dial', timeout: 60, target: [{ type: 'phone', number: `+1415557${String(i).padStart(4, '0')}` }] }],
        }),
      });
      const text = await response.text();
      assert.equal(response.status, 201, `call ${i}: ${text}`);
      callIds.push((JSON.parse(text) as { call_id: string }).call_id);
    }
  };
  await Promise.all(Array.from({ length: 8 }, placeCalls));
  return callIds;
}
