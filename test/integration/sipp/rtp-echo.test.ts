import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MediaClock } from '../../../src/media/media-clock.js';
import { RtpPortPool } from '../../../src/media/rtp-ports.js';
import { RtpSession } from '../../../src/media/rtp-session.js';
import type { RtpPacket } from '../../../src/media/rtp/rtp-packet.js';
import { describeWithSipp, startSipp } from '../../helpers/sipp.js';

/** Paced RTP from Dialplane to SIPp's -rtp_echo and back: every packet arrives, intact and in order. */
await describeWithSipp('RTP against SIPp -rtp_echo', () => {
  test('50 packets at 20 ms come back intact, in order, with symmetric RTP latched on the echo', async (t) => {
    const sipp = await startSipp({ scenario: 'uas', rtpEcho: true, calls: 1, timeoutSeconds: 10, t });
    const pool = new RtpPortPool({ min: 35000, max: 35999 }, '127.0.0.1');
    const reservation = await pool.reserve();
    const echoed: RtpPacket[] = [];
    const session = new RtpSession({
      socket: reservation.rtp,
      remote: { address: '127.0.0.1', port: sipp.mediaPort },
      payloadType: 0,
      clock: new MediaClock(),
      onPacket: (packet) => echoed.push(packet),
    });
    try {
      const payloads = Array.from({ length: 50 }, (_, i) => Buffer.alloc(160, i));
      const started = performance.now();
      await session.play(payloads);
      const elapsed = performance.now() - started;
      assert.ok(elapsed >= 900 && elapsed < 1_500, `50 packets paced at 20 ms took ${elapsed.toFixed(0)} ms`);
      for (let i = 0; i < 50 && echoed.length < 50; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(session.sent, 50);
      assert.equal(echoed.length, 50);
      echoed.forEach((packet, i) => {
        assert.equal(packet.ssrc, session.ssrc);
        assert.ok(packet.payload.equals(payloads[i]!), `payload ${i}`);
        assert.equal(packet.payloadType, 0);
      });
      assert.equal(echoed[0]?.marker, true, 'the first packet of a talkspurt carries the marker');
      const seqs = echoed.map((p) => p.sequenceNumber);
      assert.ok(seqs.every((s, i) => i === 0 || s === ((seqs[i - 1]! + 1) & 0xffff)));
      const stamps = echoed.map((p) => p.timestamp);
      assert.ok(stamps.every((s, i) => i === 0 || s === ((stamps[i - 1]! + 160) >>> 0)));
      assert.equal(session.stats.cumulativeLost, 0);
    } finally {
      session.close();
      await reservation.release();
      await sipp.stop();
    }
  });
});
