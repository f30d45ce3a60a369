import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Redis } from 'ioredis';
import { NodeUnreachable, RedisNodeBus } from '../../../src/shared-state/node-bus.js';
import { openRedis } from '../../../src/shared-state/redis-client.js';
import { requirePeer } from '../../helpers/peers.js';
import { waitUntil } from '../../helpers/processes.js';
import { redisPeer, startPrivateRedis } from '../../helpers/redis.js';

/**
 * The node bus over a real Redis: a command reaches the named node and its reply (a result or a refusal) comes
 * back; a command for a node nobody hears, or while Redis is down, fails at once; one the node does not answer
 * fails at the timeout; events reach every other node and not their sender.
 */

const quiet = { onDown: () => undefined, onUp: () => undefined };

test('the node bus over Redis: request and reply, refusals, nobody listening, timeout, broadcast', async (t) => {
  if (!(await requirePeer(redisPeer, t))) return;
  const redis = await startPrivateRedis();
  const clients: Redis[] = [];
  const errors: string[] = [];
  const busOf = (nodeId: string, commandTimeoutMs?: number): RedisNodeBus => {
    const publisher = openRedis(redis.url, quiet);
    const subscriber = openRedis(redis.url, quiet, { subscriber: true });
    clients.push(publisher, subscriber);
    const bus = new RedisNodeBus(publisher, subscriber, nodeId, (err, context) => errors.push(`${context}: ${String(err)}`), commandTimeoutMs);
    bus.start();
    return bus;
  };
  try {
    // A's commands wait 300 ms for their reply unless told otherwise (DIALPLANE_NODE_COMMAND_TIMEOUT_MS).
    const a = busOf('node_a', 300);
    assert.equal(a.commandTimeoutMs, 300);
    const b = busOf('node_b');
    const heardByA: unknown[] = [];
    const heardByB: Array<{ event: unknown; from: string }> = [];
    a.onEvent((event) => heardByA.push(event));
    b.onEvent((event, from) => heardByB.push({ event, from }));
    let hang = false;
    b.serve(async (command, from) => {
      if (hang) return new Promise(() => undefined);
      if (command.kind === 'refuse') return { ok: false, error: { code: 'not_found', message: 'no such call', details: { from } } };
      return { ok: true, body: { echoed: command.body, from } };
    });
    // Both subscriptions are up once B hears a broadcast from A.
    await waitUntil('both buses subscribed', async () => {
      a.broadcast({ probe: true });
      await new Promise((resolve) => setTimeout(resolve, 50));
      return heardByB.length > 0;
    }, 5_000);
    // Broadcasts before the connections were up failed (and were reported): that is not what is tested below.
    errors.length = 0;

    const started = Date.now();
    const reply = await a.request('node_b', { kind: 'hangup', body: { callId: 'call_1' } }, 2_000);
    t.diagnostic(`request and reply over Redis: ${Date.now() - started} ms`);
    assert.deepEqual(reply, { ok: true, body: { echoed: { callId: 'call_1' }, from: 'node_a' } });
    assert.deepEqual(await a.request('node_b', { kind: 'refuse', body: {} }, 2_000), {
      ok: false,
      error: { code: 'not_found', message: 'no such call', details: { from: 'node_a' } },
    });

    const gone = Date.now();
    await assert.rejects(a.request('node_gone', { kind: 'hangup', body: {} }, 5_000), (error: unknown) => {
      assert.ok(error instanceof NodeUnreachable);
      assert.equal(error.reason, 'not_listening');
      return true;
    });
    assert.ok(Date.now() - gone < 2_000, `a node nobody hears fails at once, not at the timeout (${Date.now() - gone} ms)`);

    hang = true;
    const waited = Date.now();
    await assert.rejects(a.request('node_b', { kind: 'hangup', body: {} }), (error: unknown) => {
      assert.ok(error instanceof NodeUnreachable);
      assert.equal(error.reason, 'timeout');
      return true;
    });
    assert.ok(Date.now() - waited >= 290, 'the timeout is waited for');
    assert.ok(Date.now() - waited < 9_000, 'the configured timeout, not the 10 s default');

    heardByB.length = 0;
    heardByA.length = 0;
    a.broadcast({ kind: 'call', callId: 'call_1' });
    await waitUntil('B hears A', () => heardByB.length === 1, 2_000);
    assert.deepEqual(heardByB[0], { event: { kind: 'call', callId: 'call_1' }, from: 'node_a' });
    assert.equal(heardByA.length, 0, 'a node does not hear its own broadcast');

    // Closing fails what still waits for a reply at once.
    const pending = a.request('node_b', { kind: 'hangup', body: {} }, 5_000);
    await a.close();
    await assert.rejects(pending, (error: unknown) => error instanceof NodeUnreachable && error.reason === 'bus_down');

    // Redis gone: a command fails at once, not at its timeout.
    await redis.stop();
    const down = Date.now();
    await assert.rejects(b.request('node_a', { kind: 'hangup', body: {} }, 5_000), (error: unknown) => {
      assert.ok(error instanceof NodeUnreachable);
      assert.equal(error.reason, 'bus_down');
      return true;
    });
    assert.ok(Date.now() - down < 2_000, `Redis down fails at once (${Date.now() - down} ms)`);

    await b.close();
    assert.deepEqual(errors, [], 'no publish or subscribe failed');
  } finally {
    for (const client of clients) client.disconnect();
    await redis.stop();
  }
});
