import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clusterOn } from '../../helpers/cluster.js';
import { createTestDatabase, postgresTestOptions, type TestDatabase } from '../../helpers/databases.js';
import { requirePeer } from '../../helpers/peers.js';
import { waitUntil } from '../../helpers/processes.js';
import { redisPeer, startPrivateRedis, type PrivateRedis } from '../../helpers/redis.js';

/**
 * Two nodes on one PostgreSQL database and one Redis. A call placed on node A (the dev carrier answers and holds it)
 * is watched live on node B (`GET /dialplane/v1/calls/{id}/events`): a new program sent to node B runs on node A and
 * its `program` activity and the leg it dials reach B's stream as they happen; a hang-up sent to node B ends the call
 * on node A, and B's stream shows the end and closes. A Dial face session dialled through A is played to and hung up
 * through B. Then node A stops answering (SIGSTOP): a command sent to B is 503 `call_owner_unreachable` after the
 * timeout, and once A is killed, at once (in the Dial face's shape too).
 */

const NAME = 'a call placed on node A is watched live and commanded through node B';
const ADMIN_TOKEN = 'shared-calls-admin-token-0123456789abcdef';
const options = await postgresTestOptions(NAME);

interface SseEvent {
  readonly event: string;
  readonly data: Record<string, unknown>;
}

/** An SSE response read as it arrives. */
function openSse(url: string, headers: Record<string, string>) {
  const events: SseEvent[] = [];
  const controller = new AbortController();
  let ended = false;
  const done = (async () => {
    const response = await fetch(url, { headers, signal: controller.signal });
    assert.equal(response.status, 200, `${url}: ${response.status}`);
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of response.body! as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let cut: number;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event && data) events.push({ event, data: JSON.parse(data) as Record<string, unknown> });
      }
    }
    ended = true;
  })().catch((error: unknown) => {
    ended = true;
    if (!controller.signal.aborted) throw error;
  });
  return { events, done, ended: () => ended, close: () => controller.abort() };
}

test(NAME, { skip: options.skip, timeout: 120_000 }, async (t) => {
  if (options.failure) throw new Error(options.failure);
  if (!(await requirePeer(redisPeer, t))) return;
  const db: TestDatabase = await createTestDatabase('postgres');
  const redis: PrivateRedis = await startPrivateRedis();
  const cluster = clusterOn(db.schema!, ADMIN_TOKEN);
  const streams: Array<{ close(): void }> = [];
  try {
    const a = await cluster.start('37600-37699', { DIALPLANE_REDIS_URL: redis.url, DIALPLANE_SIP_PORT: '0' });
    const b = await cluster.start('37700-37799', { DIALPLANE_REDIS_URL: redis.url, DIALPLANE_SIP_PORT: '0' });
    const admin = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
    const request = async (base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = admin) => {
      const response = await fetch(`${base}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
      return { status: response.status, headers: response.headers, body: JSON.parse(await response.text()) as Record<string, any> };
    };
    const ok = async (base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = admin) => {
      const response = await request(base, method, path, body, headers);
      assert.ok(response.status >= 200 && response.status < 300, `${method} ${path}: ${response.status} ${JSON.stringify(response.body)}`);
      return response.body;
    };
    const { accounts } = await ok(a.base, 'GET', '/admin/v1/accounts');
    const accountId = (accounts as Array<{ id: string }>)[0]!.id;
    const { api_key: token } = await ok(a.base, 'POST', `/admin/v1/accounts/${accountId}/keys`, { name: 'calls' });
    const user = { authorization: `Bearer ${String(token)}`, 'content-type': 'application/json' };
    const hold = [{ verb: 'pause', length: 60 }];
    /** A call placed on node A that answers and holds. */
    const callOnA = async (to: string): Promise<string> => {
      const placed = await ok(a.base, 'POST', '/dialplane/v1/calls', { from: '+14155551234', to, program: hold }, user);
      const id = String(placed.call_id);
      await waitUntil(
        `${id} answered`,
        async () => (await ok(b.base, 'GET', `/dialplane/v1/calls/${id}`, undefined, user)).state === 'answered',
        15_000,
        a.proc,
      );
      return id;
    };

    const callId = await callOnA('+14155550100');
    const stream = openSse(`${b.base}/dialplane/v1/calls/${callId}/events`, { authorization: `Bearer ${String(token)}` });
    streams.push(stream);
    await waitUntil('the stored events replayed on B', () => stream.events.some((e) => e.event === 'state' && e.data.state === 'answered'), 10_000);
    assert.equal(stream.ended(), false, "B's stream stays open while the call is live on A");

    // A new program through B (a dial): it runs on A, and its activity and the leg it rings reach B's stream live.
    const commanded = Date.now();
    const program = [{ verb: 'dial', target: [{ type: 'phone', number: '+14155550102' }], timeLimit: 50 }];
    const programmed = await ok(b.base, 'POST', `/dialplane/v1/calls/${callId}/program`, { program }, user);
    assert.equal(programmed.state, 'answered');
    await waitUntil(
      "the live program's activity on B's stream",
      () => stream.events.some((e) => e.event === 'activity' && e.data.kind === 'program' && (e.data.data as Record<string, unknown>).source === 'live'),
      5_000,
    );
    t.diagnostic(`program through B, its activity on B's stream: ${Date.now() - commanded} ms`);
    await waitUntil(
      "the dialled leg's answer on B's stream",
      () => stream.events.some((e) => e.event === 'state' && e.data.leg_id !== callId && e.data.state === 'answered'),
      10_000,
    );
    const activities = (await ok(a.base, 'GET', `/dialplane/v1/calls/${callId}`, undefined, user)).activities as Array<{ kind: string }>;
    assert.ok(activities.some((activity) => activity.kind === 'program'), 'node A stored the live program');

    // A hang-up through B ends the call on A; B's stream hears the end and closes.
    const hungUp = Date.now();
    const ended = await ok(b.base, 'POST', `/dialplane/v1/calls/${callId}/hangup`, {}, user);
    t.diagnostic(`hang-up through B answered in ${Date.now() - hungUp} ms`);
    assert.equal(ended.state, 'ended');
    assert.equal(ended.end_reason, 'api_hangup');
    await waitUntil("B's stream ends", () => stream.ended(), 10_000);
    const states = stream.events.filter((e) => e.event === 'state' && e.data.leg_id === callId).map((e) => e.data.state);
    assert.equal(states.at(-1), 'ended', JSON.stringify(states));
    assert.equal(stream.events.at(-1)?.event, 'end');
    assert.equal(stream.events.at(-1)?.data.state, 'ended');
    const legEnded = stream.events.some((e) => e.event === 'state' && e.data.leg_id !== callId && e.data.state === 'ended');
    assert.ok(legEnded, "the dialled leg's end is on B's stream");

    // The Dial face: a session dialled through A is played to and hung up through B.
    const created = await ok(a.base, 'POST', `/admin/v1/accounts/${accountId}/apps`, { name: 'gateway', caller_id_allow_list: ['0721234567'], country: 'IL' });
    const appHeaders = { 'x-app-id': String(created.app_id), 'x-api-key': String(created.api_key), 'content-type': 'application/json' };
    /** A gateway session dialled through node A, answered. */
    const sessionOnA = async (): Promise<string> => {
      const dialled = await ok(a.base, 'POST', '/api/v1/dial', { to: '0527121102', from: '0721234567' }, appHeaders);
      const uuid = String(dialled.session_uuid);
      await waitUntil(
        `session ${uuid} answered`,
        async () => (await ok(b.base, 'GET', `/api/v1/dial/${uuid}`, undefined, appHeaders)).status === 'answered',
        15_000,
        a.proc,
      );
      return uuid;
    };
    const sessionUuid = await sessionOnA();
    const played = await ok(b.base, 'POST', `/api/v1/dial/${sessionUuid}/play`, { text: 'hello from node B' }, appHeaders);
    assert.equal(played.status, 'answered');
    await waitUntil('node A runs the program the play stands for', async () => {
      const { activities } = await ok(a.base, 'GET', `/dialplane/v1/calls/${sessionUuid}`, undefined, user);
      return (activities as Array<{ kind: string; data: Record<string, unknown> }>).some((activity) => activity.kind === 'program' && activity.data.source === 'live');
    }, 5_000);
    const closed = await ok(b.base, 'POST', `/api/v1/dial/${sessionUuid}/hangup`, {}, appHeaders);
    assert.equal(closed.status, 'ended');
    const liveSession = await sessionOnA();

    // Node A frozen: the command gets no answer, and B says so when the timeout is up.
    const second = await callOnA('+14155550101');
    a.proc.child.kill('SIGSTOP');
    try {
      const frozen = Date.now();
      const refused = await request(b.base, 'POST', `/dialplane/v1/calls/${second}/hangup`, {}, user);
      const waitedMs = Date.now() - frozen;
      t.diagnostic(`hang-up through B while A is frozen: ${refused.status} after ${waitedMs} ms`);
      assert.equal(refused.status, 503, JSON.stringify(refused.body));
      assert.equal(refused.body.error.code, 'call_owner_unreachable');
      assert.equal(refused.body.error.details.reason, 'timeout');
      assert.equal(refused.headers.get('retry-after'), '5');
      assert.ok(waitedMs >= 9_000 && waitedMs < 30_000, `answered at the timeout, not before nor hanging (${waitedMs} ms)`);
    } finally {
      a.proc.child.kill('SIGKILL');
    }
    await a.proc.exited;

    // Node A gone: nobody hears the command, and B says so at once.
    const goneAt = Date.now();
    const refused = await request(b.base, 'POST', `/dialplane/v1/calls/${second}/program`, { program: hold }, user);
    const goneMs = Date.now() - goneAt;
    t.diagnostic(`program through B once A is gone: ${refused.status} after ${goneMs} ms`);
    assert.equal(refused.status, 503, JSON.stringify(refused.body));
    assert.equal(refused.body.error.code, 'call_owner_unreachable');
    assert.equal(refused.body.error.details.reason, 'not_listening');
    assert.ok(goneMs < 5_000, `at once, not at the timeout (${goneMs} ms)`);

    // The same in the Dial face's shape.
    const faceRefused = await request(b.base, 'POST', `/api/v1/dial/${liveSession}/play`, { text: 'anyone there?' }, appHeaders);
    assert.equal(faceRefused.status, 503, JSON.stringify(faceRefused.body));
    assert.equal(faceRefused.body.error, 'call_owner_unreachable');
    assert.equal(faceRefused.body.retry_after, 5);
  } finally {
    for (const stream of streams) stream.close();
    await cluster.cleanup();
    await redis.stop();
    await db.close();
  }
});
