import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { test } from 'node:test';
import { MediaClock } from '../../../src/media/media-clock.js';
import { RtpPortPool } from '../../../src/media/rtp-ports.js';
import { RtpSession } from '../../../src/media/rtp-session.js';
import { parseRtcpCompound, type RtcpPacket } from '../../../src/media/rtp/rtcp-packet.js';
import { serializeRtp } from '../../../src/media/rtp/rtp-packet.js';

test('a session reports on its RTCP port: Sender Report with our counts, a reception block for the peer, CNAME', async () => {
  const pool = new RtpPortPool({ min: 44000, max: 44999 }, '127.0.0.1');
  const reservation = await pool.reserve();
  // The peer: an even RTP port and RTCP on the next one, like any phone.
  const peerPorts = await pool.reserve();
  const reports: RtcpPacket[][] = [];
  peerPorts.rtcp.on('message', (data) => reports.push(parseRtcpCompound(data)));
  const session = new RtpSession({
    socket: reservation.rtp,
    rtcpSocket: reservation.rtcp,
    rtcpIntervalMs: 200,
    remote: { address: '127.0.0.1', port: peerPorts.port },
    payloadType: 0,
    clock: new MediaClock(),
    cname: 'leg@test',
  });
  const peer = createSocket('udp4');
  await new Promise<void>((resolve) => peer.bind(0, '127.0.0.1', resolve));
  try {
    await session.play(Array.from({ length: 10 }, () => Buffer.alloc(160, 0xff)));
    // The peer's packets arrive from its RTP port, which the session latches onto; sequence 3 is lost.
    for (const seq of [1, 2, 4, 5]) {
      peerPorts.rtp.send(
        serializeRtp({ version: 2, padding: false, marker: false, payloadType: 0, sequenceNumber: seq, timestamp: seq * 160, ssrc: 0xabc, csrcs: [], payload: Buffer.alloc(160) }),
        reservation.port,
        '127.0.0.1',
      );
    }
    // A report that went out after all of the above (one may still be in flight from before).
    const seen = reports.length;
    for (let i = 0; i < 80 && reports.length < seen + 2; i++) await new Promise((resolve) => setTimeout(resolve, 25));
    const compound = reports.at(-1)!;
    const sr = compound.find((p) => p.type === 'sr');
    assert.ok(sr && sr.type === 'sr');
    assert.equal(sr.ssrc, session.ssrc);
    assert.equal(sr.packetCount, 10);
    assert.equal(sr.octetCount, 1600);
    assert.equal(sr.reports[0]?.ssrc, 0xabc);
    assert.equal(sr.reports[0]?.cumulativeLost, 1);
    const sdes = compound.find((p) => p.type === 'sdes');
    assert.ok(sdes, 'CNAME travels with the report');
  } finally {
    session.close();
    peer.close();
    await reservation.release();
    await peerPorts.release();
  }
});

test('a new SSRC starts reception statistics afresh: no jitter spike or loss from the old stream', async () => {
  const pool = new RtpPortPool({ min: 44000, max: 44999 }, '127.0.0.1');
  const reservation = await pool.reserve();
  const peerPorts = await pool.reserve();
  const session = new RtpSession({
    socket: reservation.rtp,
    remote: { address: '127.0.0.1', port: peerPorts.port },
    payloadType: 0,
    clock: new MediaClock(),
  });
  const send = (ssrc: number, seq: number, timestamp: number) =>
    peerPorts.rtp.send(
      serializeRtp({ version: 2, padding: false, marker: false, payloadType: 0, sequenceNumber: seq, timestamp, ssrc, csrcs: [], payload: Buffer.alloc(160) }),
      reservation.port,
      '127.0.0.1',
    );
  try {
    // A callee's own silence, then the same socket echoing another stream: new SSRC, sequence and timestamp origins.
    for (let i = 0; i < 5; i++) {
      send(0x1111, 100 + i, 1_000 + i * 160);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    for (let i = 0; i < 5; i++) {
      send(0x2222, 40_000 + i, 3_000_000_000 + i * 160);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    for (let i = 0; i < 40 && session.stats.report().highestSeq % 65536 !== 40_004; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const report = session.stats.report();
    // 20 ms pacing on loopback: a few ms of jitter at most (8 units a ms); the stream switch alone would read as
    // hundreds of seconds.
    assert.ok(session.stats.jitter < 8 * 50, `jitter ${session.stats.jitter} units`);
    assert.equal(report.cumulativeLost, 0);
  } finally {
    session.close();
    await reservation.release();
    await peerPorts.release();
  }
});
