import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { once } from 'node:events';
import { RtpPortPool, RtpPortsExhaustedError } from '../../../src/media/rtp-ports.js';
import type { RtpPortRange, RtpPortReservation } from '../../../src/media/rtp-ports.js';

// Loopback only: nothing here sends anywhere but 127.0.0.1.
const HOST = '127.0.0.1';

async function bind(port: number): Promise<Socket> {
  const socket = createSocket('udp4');
  socket.bind(port, HOST);
  await once(socket, 'listening');
  return socket;
}

async function close(socket: Socket): Promise<void> {
  await new Promise<void>((resolve) => socket.close(() => resolve()));
}

async function canBind(port: number): Promise<boolean> {
  try {
    await close(await bind(port));
    return true;
  } catch {
    return false;
  }
}

/**
 * A range of `pairs` port pairs that are free right now, below Linux's ephemeral range so that servers other tests
 * start on port 0 do not land in it. Randomised so parallel runs rarely meet.
 */
async function freeRange(pairs: number): Promise<RtpPortRange> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const min = 20000 + 2 * Math.floor(Math.random() * 5000);
    const max = min + 2 * pairs - 1;
    let free = true;
    for (let port = min; port <= max && free; port++) free = await canBind(port);
    if (free) return { min, max };
  }
  throw new Error('no free port range found');
}

async function releaseAll(reservations: readonly RtpPortReservation[]): Promise<void> {
  await Promise.all(reservations.map((r) => r.release()));
}

describe('RtpPortPool', () => {
  test('counts pairs: even RTP ports whose odd RTCP neighbour fits', () => {
    assert.equal(new RtpPortPool({ min: 10000, max: 10009 }, HOST).size, 5);
    assert.equal(new RtpPortPool({ min: 10001, max: 10004 }, HOST).size, 1);
    assert.equal(new RtpPortPool({ min: 10000, max: 10001 }, HOST).size, 1);
    assert.throws(() => new RtpPortPool({ min: 10000, max: 10000 }, HOST), RangeError);
    assert.throws(() => new RtpPortPool({ min: 10001, max: 10002 }, HOST), RangeError);
    assert.throws(() => new RtpPortPool({ min: 20000, max: 10000 }, HOST), RangeError);
    assert.throws(() => new RtpPortPool({ min: 0, max: 70000 }, HOST), RangeError);
    assert.throws(() => new RtpPortPool({ min: 10000, max: 10010 }, 'localhost'), TypeError);
  });

  test('reserve binds both sockets; release frees them', async () => {
    const range = await freeRange(4);
    const pool = new RtpPortPool(range, HOST);
    assert.equal(pool.size, 4);
    const r = await pool.reserve();
    try {
      assert.equal(r.port % 2, 0);
      assert.ok(r.port >= range.min && r.rtcpPort <= range.max);
      assert.equal(r.rtcpPort, r.port + 1);
      assert.deepEqual([r.rtp.address().address, r.rtp.address().port], [HOST, r.port]);
      assert.deepEqual([r.rtcp.address().address, r.rtcp.address().port], [HOST, r.rtcpPort]);
      assert.equal(pool.inUse, 1);
      assert.equal(await canBind(r.port), false);
      assert.equal(await canBind(r.rtcpPort), false);

      // The RTP socket really receives.
      const sender = createSocket('udp4');
      const received = once(r.rtp, 'message');
      sender.send(Buffer.from('hello'), r.port, HOST);
      const [message] = (await received) as [Buffer];
      assert.equal(message.toString(), 'hello');
      await close(sender);
    } finally {
      await r.release();
    }
    assert.equal(pool.inUse, 0);
    assert.equal(await canBind(r.port), true);
    assert.equal(await canBind(r.rtcpPort), true);
  });

  test('rotates through the range instead of reusing a just-freed pair', async () => {
    const range = await freeRange(3);
    const pool = new RtpPortPool(range, HOST);
    const ports: number[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await pool.reserve();
      ports.push(r.port);
      await r.release();
    }
    assert.deepEqual(ports, [range.min, range.min + 2, range.min + 4, range.min]);
  });

  test('exhaustion with a tiny range is its own error, and releasing makes room', async () => {
    const range = await freeRange(2);
    const pool = new RtpPortPool(range, HOST);
    const a = await pool.reserve();
    const b = await pool.reserve();
    try {
      assert.notEqual(a.port, b.port);
      assert.equal(pool.inUse, 2);
      await assert.rejects(pool.reserve(), (error: unknown) => {
        assert.ok(error instanceof RtpPortsExhaustedError);
        assert.deepEqual(error.range, range);
        return true;
      });
      assert.equal(pool.inUse, 2);
      await a.release();
      const c = await pool.reserve();
      assert.equal(c.port, a.port);
      await c.release();
    } finally {
      await releaseAll([a, b]);
    }
    assert.equal(pool.inUse, 0);
  });

  test('skips pairs whose RTP or RTCP port another socket holds', async () => {
    const range = await freeRange(3);
    const pool = new RtpPortPool(range, HOST);
    const blockRtp = await bind(range.min);
    const blockRtcp = await bind(range.min + 3);
    try {
      const r = await pool.reserve();
      assert.equal(r.port, range.min + 4);
      // The RTP half of the pair whose RTCP was busy was let go again.
      assert.equal(await canBind(range.min + 2), true);
      await assert.rejects(pool.reserve(), RtpPortsExhaustedError);
      await r.release();
      assert.equal(pool.inUse, 0);
    } finally {
      await close(blockRtp);
      await close(blockRtcp);
    }
  });

  test('concurrent reserve() calls never hand out the same pair', async () => {
    const range = await freeRange(8);
    const pool = new RtpPortPool(range, HOST);
    const results = await Promise.allSettled(Array.from({ length: 11 }, () => pool.reserve()));
    const granted = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    try {
      assert.equal(granted.length, 8);
      assert.equal(new Set(granted.map((r) => r.port)).size, 8);
      assert.equal(refused.length, 3);
      for (const reason of refused) assert.ok(reason instanceof RtpPortsExhaustedError);
      assert.equal(pool.inUse, 8);
    } finally {
      await releaseAll(granted);
    }
    assert.equal(pool.inUse, 0);
  });

  test('release is idempotent, even after the holder closed a socket itself', async () => {
    const range = await freeRange(2);
    const pool = new RtpPortPool(range, HOST);
    const a = await pool.reserve();
    const b = await pool.reserve();
    const first = a.release();
    const second = a.release();
    assert.equal(first, second);
    await Promise.all([first, second, a.release()]);
    await a.release();
    assert.equal(pool.inUse, 1);

    await close(b.rtp);
    await b.release();
    await b.release();
    assert.equal(pool.inUse, 0);
    assert.equal(await canBind(b.port), true);
    assert.equal(await canBind(b.rtcpPort), true);
  });
});
