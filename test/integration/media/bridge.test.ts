import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { after, before, test } from 'node:test';
import { transcode } from '../../../src/media/codecs/g711.js';
import { MediaBridge } from '../../../src/media/bridge.js';
import { CallMedia } from '../../../src/media/call-media.js';
import { MediaClock } from '../../../src/media/media-clock.js';
import { RtpPortPool, type RtpPortReservation } from '../../../src/media/rtp-ports.js';
import { parseRtp, serializeRtp, type RtpPacket } from '../../../src/media/rtp/rtp-packet.js';

/** Two legs bridged, with real UDP peers on loopback standing in for the two phones. */
const pool = new RtpPortPool({ min: 38000, max: 38999 }, '127.0.0.1');
let reservations: RtpPortReservation[] = [];
let peers: Socket[] = [];

async function peer(): Promise<{ socket: Socket; port: number; received: RtpPacket[] }> {
  const socket = createSocket('udp4');
  const received: RtpPacket[] = [];
  socket.on('message', (data) => received.push(parseRtp(data)));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  peers.push(socket);
  return { socket, port: socket.address().port, received };
}

const packet = (payloadType: number, seq: number, ts: number, payload: Buffer, marker = false) =>
  serializeRtp({ version: 2, padding: false, marker, payloadType, sequenceNumber: seq, timestamp: ts, ssrc: 0x1234, csrcs: [], payload });

const settle = () => new Promise((resolve) => setTimeout(resolve, 100));

before(() => {
  reservations = [];
  peers = [];
});
after(async () => {
  for (const socket of peers) socket.close();
  await Promise.all(reservations.map((r) => r.release()));
});

test('audio crosses both ways, transcoded PCMU <-> PCMA, re-stamped per leg; keys cross as telephone-events', async () => {
  const clock = new MediaClock();
  const phoneA = await peer();
  const phoneB = await peer();
  const [ra, rb] = [await pool.reserve(), await pool.reserve()];
  reservations.push(ra, rb);
  const legA = new CallMedia({ socket: ra.rtp, remote: { address: '127.0.0.1', port: phoneA.port }, codec: { name: 'PCMU', payloadType: 0 }, telephoneEvent: 101, clock });
  const legB = new CallMedia({ socket: rb.rtp, remote: { address: '127.0.0.1', port: phoneB.port }, codec: { name: 'PCMA', payloadType: 8 }, telephoneEvent: 96, clock });
  const bridge = new MediaBridge(legA, legB);

  const frames = Array.from({ length: 10 }, (_, i) => Buffer.alloc(160, 0x10 + i));
  frames.forEach((frame, i) => phoneA.socket.send(packet(0, 500 + i, 8000 + 160 * i, frame, i === 0), ra.port, '127.0.0.1'));
  await settle();
  assert.equal(phoneB.received.length, 10);
  phoneB.received.forEach((p, i) => {
    assert.equal(p.payloadType, 8);
    assert.ok(p.payload.equals(transcode(frames[i]!, 'PCMU', 'PCMA')), `frame ${i} transcoded`);
    assert.equal(p.ssrc, legB.rtp.ssrc, "B hears B's own SSRC, not A's");
    if (i > 0) {
      assert.equal(p.sequenceNumber, (phoneB.received[i - 1]!.sequenceNumber + 1) & 0xffff);
      assert.equal(p.timestamp, (phoneB.received[i - 1]!.timestamp + 160) >>> 0, 'spacing kept');
    }
  });
  assert.equal(phoneB.received[0]?.marker, true);

  const back = Buffer.alloc(160, 0x55);
  phoneB.socket.send(packet(8, 9, 1000, back), rb.port, '127.0.0.1');
  await settle();
  assert.equal(phoneA.received.length, 1);
  assert.equal(phoneA.received[0]?.payloadType, 0);
  assert.ok(phoneA.received[0]?.payload.equals(transcode(back, 'PCMA', 'PCMU')));

  const keyOne = Buffer.from([1, 0x0a, 0x00, 0xa0]);
  phoneA.socket.send(packet(101, 600, 20000, keyOne, true), ra.port, '127.0.0.1');
  await settle();
  const event = phoneB.received.at(-1)!;
  assert.equal(event.payloadType, 96, "on B's negotiated telephone-event type");
  assert.ok(event.payload.equals(keyOne));

  bridge.stop();
  phoneA.socket.send(packet(0, 700, 30000, frames[0]!), ra.port, '127.0.0.1');
  await settle();
  assert.equal(phoneB.received.length, 11, 'nothing crosses once the bridge is stopped');
  legA.close();
  legB.close();
});
