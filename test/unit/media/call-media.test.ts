import assert from 'node:assert/strict';
import type { Socket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import { describe, test } from 'node:test';
import { CallMedia, type CallMediaOptions } from '../../../src/media/call-media.js';
import type { MediaClock } from '../../../src/media/media-clock.js';
import type { MediaTimers } from '../../../src/media/media-timers.js';
import { isRtcp, parseRtp, serializeRtp } from '../../../src/media/rtp/rtp-packet.js';
import { serializeRtcpCompound } from '../../../src/media/rtp/rtcp-packet.js';
import { VirtualTimers } from '../../../src/sip/transaction/timers.js';
import type { SdpDirection } from '../../../src/sdp/types.js';

/** A UDP socket that keeps what is sent and delivers what the test says the peer sent. */
class FakeSocket extends EventEmitter {
  readonly sent: Buffer[] = [];
  send(data: Buffer): void {
    this.sent.push(data);
  }
  address() {
    return { address: '127.0.0.1', family: 'IPv4', port: 40000 };
  }
  deliver(data: Buffer): void {
    this.emit('message', data, { address: '127.0.0.1', port: PEER_PORT });
  }
}

/** The media clock, ticked by the test. */
class FakeClock {
  private readonly listeners = new Set<() => void>();
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  tick(times = 1): void {
    for (let i = 0; i < times; i++) for (const listener of [...this.listeners]) listener();
  }
}

const PEER_PORT = 50000;
const TIMEOUT_S = 60;

function rtp(seq: number, payloadType = 0): Buffer {
  return serializeRtp({
    version: 2,
    padding: false,
    marker: false,
    payloadType,
    sequenceNumber: seq,
    timestamp: seq * 160,
    ssrc: 0xabcd,
    csrcs: [],
    payload: Buffer.alloc(160, 0xff),
  });
}

function leg(options: Partial<CallMediaOptions> & { direction?: SdpDirection } = {}) {
  const socket = new FakeSocket();
  const clock = new FakeClock();
  const virtual = new VirtualTimers<'RtpInactivity'>();
  const timers: MediaTimers = { now: () => virtual.now, start: (name, ms, fire) => virtual.start(name, ms, fire) };
  const media = new CallMedia({
    socket: socket as unknown as Socket,
    remote: { address: '127.0.0.1', port: PEER_PORT },
    codec: { name: 'PCMU', payloadType: 0 },
    telephoneEvent: 101,
    clock: clock as unknown as MediaClock,
    rtpTimeoutS: TIMEOUT_S,
    timers,
    ...options,
  });
  const inactive: number[] = [];
  return { media, socket, clock, virtual, inactive, watch: () => media.onInactive(() => inactive.push(virtual.now)) };
}

describe('CallMedia: RTP inactivity', () => {
  test('fires once, DIALPLANE_RTP_TIMEOUT_S after the last RTP packet', () => {
    const { media, socket, virtual, inactive, watch } = leg();
    watch();
    virtual.advance(30_000);
    socket.deliver(rtp(1));
    virtual.advance(59_999);
    assert.deepEqual(inactive, [], 'a packet 30 s in restarted the count');
    virtual.advance(1);
    assert.deepEqual(inactive, [90_000]);
    virtual.advance(600_000);
    assert.deepEqual(inactive, [90_000], 'reported once');
    assert.deepEqual(virtual.active(), []);
    media.close();
  });

  test('a steady stream keeps the leg alive, on one timer rather than one per packet', () => {
    const { media, socket, virtual, inactive, watch } = leg();
    watch();
    for (let seq = 0; seq < 10 * 60 * 50; seq++) {
      socket.deliver(rtp(seq));
      virtual.advance(20);
    }
    assert.deepEqual(inactive, []);
    assert.ok(virtual.started.length <= 12, `${virtual.started.length} timers for 10 minutes of packets`);
    media.close();
  });

  test('telephone-events count as RTP; RTCP does not', () => {
    const { media, socket, virtual, inactive, watch } = leg();
    watch();
    virtual.advance(50_000);
    socket.deliver(rtp(1, 101));
    const report = serializeRtcpCompound([{ type: 'rr', ssrc: 0xabcd, reports: [] }]);
    assert.ok(isRtcp(report));
    for (let at = 0; at < 70_000; at += 5_000) {
      socket.deliver(report);
      virtual.advance(5_000);
    }
    assert.deepEqual(inactive, [110_000]);
    media.close();
  });

  test('RTP from a source other than the latched one does not count', () => {
    const { media, socket, virtual, inactive, watch } = leg();
    watch();
    socket.deliver(rtp(1));
    virtual.advance(10_000);
    socket.emit('message', rtp(2), { address: '192.0.2.66', port: 4000 });
    virtual.advance(50_000);
    assert.deepEqual(inactive, [60_000]);
    media.close();
  });

  test('0 disables the watch; no listener, no watch', () => {
    const off = leg({ rtpTimeoutS: 0 });
    off.watch();
    off.virtual.advance(3_600_000);
    assert.deepEqual(off.inactive, []);
    assert.deepEqual(off.virtual.started, []);
    const unwatched = leg();
    unwatched.virtual.advance(3_600_000);
    assert.deepEqual(unwatched.virtual.started, []);
  });

  test('counts from the first subscription, not from construction; the last unsubscribe stops it', () => {
    const { media, virtual, inactive, watch } = leg();
    virtual.advance(100_000);
    const stop = watch();
    virtual.advance(59_000);
    stop();
    assert.deepEqual(virtual.active(), []);
    virtual.advance(10_000);
    assert.deepEqual(inactive, []);
    media.close();
  });

  test('not armed while the peer will not send (we answered sendonly or inactive); armed again off hold', () => {
    for (const direction of ['sendonly', 'inactive'] as const) {
      const { media, virtual, inactive, watch } = leg({ direction });
      watch();
      virtual.advance(3_600_000);
      assert.deepEqual(inactive, [], direction);
      media.setDirection('sendrecv');
      virtual.advance(60_000);
      assert.deepEqual(inactive, [3_660_000], `${direction}, then sendrecv`);
      media.close();
    }
    const onHold = leg({ direction: 'recvonly' });
    onHold.watch();
    onHold.virtual.advance(60_000);
    assert.deepEqual(onHold.inactive, [60_000], 'recvonly: the peer sends (music on hold), so we watch');
  });

  test('close stops the watch', () => {
    const { media, virtual, inactive, watch } = leg();
    watch();
    media.close();
    virtual.advance(120_000);
    assert.deepEqual(inactive, []);
  });
});

describe('CallMedia: the SDP direction decides whether we send', () => {
  const prompt = new Int16Array(800); // 100 ms: five packets

  test('sendrecv and sendonly: the prompt goes out paced by the clock', async () => {
    for (const direction of ['sendrecv', 'sendonly'] as const) {
      const { media, socket, clock } = leg({ direction });
      const played = media.play(prompt);
      clock.tick(5);
      await played;
      assert.equal(socket.sent.filter((b) => !isRtcp(b)).length, 5, direction);
      media.close();
    }
  });

  test('recvonly and inactive: play resolves at once and nothing is sent; keys are not pressed either', async () => {
    for (const direction of ['recvonly', 'inactive'] as const) {
      const { media, socket } = leg({ direction });
      await media.play(prompt);
      await media.pressKeys('123', 10, 0);
      assert.deepEqual(socket.sent, [], direction);
      assert.equal(media.rtp.sent, 0);
      media.close();
    }
  });

  test('going on hold mid-prompt stops it: the play resolves, nothing more is sent', async () => {
    const { media, socket, clock } = leg();
    const played = media.play(prompt);
    clock.tick(2);
    media.setDirection('recvonly');
    await played;
    clock.tick(10);
    assert.equal(socket.sent.length, 2);
    assert.equal(parseRtp(socket.sent[0]!).payloadType, 0);
    media.close();
  });

  test('relayed (bridged) packets are dropped while we must not send', () => {
    const { media, socket } = leg({ direction: 'inactive' });
    media.rtp.forward(Buffer.alloc(160), 0, false, 0);
    assert.deepEqual(socket.sent, []);
    media.setDirection('sendrecv');
    media.rtp.forward(Buffer.alloc(160), 0, false, 0);
    assert.equal(socket.sent.length, 1);
    media.close();
  });
});
