import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { after, before, test } from 'node:test';
import { encodeG711, transcode } from '../../../src/media/codecs/g711.js';
import { CallRecorder } from '../../../src/media/recorder.js';
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

test('a recording holds both directions, aligned, for as long as it ran', async () => {
  const clock = new MediaClock();
  const phone = await peer();
  const reservation = await pool.reserve();
  reservations.push(reservation);
  const leg = new CallMedia({ socket: reservation.rtp, remote: { address: '127.0.0.1', port: phone.port }, codec: { name: 'PCMU', payloadType: 0 }, telephoneEvent: 101, clock });
  const recorder = new CallRecorder(leg, clock);
  // The phone talks for 1 s (a loud tone, paced by its own clock); we say 0.5 s of a different tone.
  const tone = (hz: number, samples: number) => Int16Array.from({ length: samples }, (_, i) => Math.round(8000 * Math.sin((2 * Math.PI * hz * i) / 8000)));
  const phoneFrames = encodeG711(tone(440, 8000), 'PCMU');
  let sent = 0;
  const stopPhone = new MediaClock().subscribe(() => {
    if (sent >= 50) return;
    phone.socket.send(
      serializeRtp({ version: 2, padding: false, marker: sent === 0, payloadType: 0, sequenceNumber: sent, timestamp: sent * 160, ssrc: 7, csrcs: [], payload: phoneFrames.subarray(sent * 160, sent * 160 + 160) }),
      reservation.port,
      '127.0.0.1',
    );
    sent += 1;
  });
  await leg.play(tone(1000, 4000));
  await new Promise((resolve) => setTimeout(resolve, 800));
  stopPhone();
  recorder.stop();
  assert.ok(recorder.seconds >= 1.2 && recorder.seconds <= 1.5, `${recorder.seconds} s recorded`);
  const wav = recorder.toWav('split');
  assert.equal(wav.readUInt16LE(22), 2, 'two channels');
  const frames = (wav.length - 44) / 4;
  const energy = (channel: number, from: number, to: number) => {
    let sum = 0;
    for (let i = Math.floor(from * 8000); i < Math.min(frames, Math.floor(to * 8000)); i++) sum += Math.abs(wav.readInt16LE(44 + i * 4 + channel * 2));
    return sum / ((to - from) * 8000);
  };
  assert.ok(energy(0, 0.1, 0.9) > 2000, 'the far end is on the left');
  assert.ok(energy(1, 0.05, 0.45) > 2000, 'our prompt is on the right');
  assert.ok(energy(1, 0.7, 1.1) < 100, 'and stops after 0.5 s');
  const mixed = recorder.toWav('mixed');
  assert.equal(mixed.readUInt16LE(22), 1);
  assert.equal((mixed.length - 44) / 2, frames);
  leg.close();
});

test('keys as tones in the audio are heard from a peer without telephone-events (and, on request, from any peer)', async () => {
  const { generateDtmf } = await import('../../unit/media/dtmf/dtmf-signals.js');
  const clock = new MediaClock();
  const phone = await peer();
  const reservation = await pool.reserve();
  reservations.push(reservation);
  const leg = new CallMedia({ socket: reservation.rtp, remote: { address: '127.0.0.1', port: phone.port }, codec: { name: 'PCMU', payloadType: 0 }, telephoneEvent: undefined, clock });
  const heard: string[] = [];
  leg.onDigit((digit) => heard.push(digit));
  const audio = encodeG711(Int16Array.from(generateDtmf('7', 200, { amplitude: 8000 })), 'PCMU');
  for (let i = 0; i * 160 < audio.length; i++) {
    phone.socket.send(packet(0, i, i * 160, audio.subarray(i * 160, i * 160 + 160)), reservation.port, '127.0.0.1');
  }
  await settle();
  assert.deepEqual(heard, ['7']);
  leg.close();
});
