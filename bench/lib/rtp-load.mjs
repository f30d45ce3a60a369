// Load generator for bench/media-relay.mjs, in its own process so its CPU is not mixed with the relay's.
// Plays two phones per call (2N UDP sockets on 127.0.0.1). Every phone sends RTP (PCMU, payload type 0, 160-byte
// payload, one packet per 20 ms) to its relay port; the streams' phases are spread evenly over the 20 ms so the
// offered load is smooth (not a burst of 2N packets per tick). The first 16 payload bytes carry
//   [0..8)  send time, performance.now() in ms (float64 LE), taken just before socket.send
//   [8..12) sender phone index (uint32 LE)      [12..16) per-stream packet counter (uint32 LE)
// Each phone receives the other phone's relayed packets; added latency = receive time - send time (one process,
// one clock); loss = packets sent during the measurement window that never arrived on the partner socket.
// IPC (fork):
//   { type: 'bind', phones }                                   -> { type: 'bound', ports }
//   { type: 'run', targets, warmupMs, durationMs, drainMs, srtp }
//                                                              -> { type: 'measure-start' }, { type: 'measure-end' },
//                                                                 { type: 'result', ... }
//   phone 2i is call i's phone A, 2i+1 its phone B; targets[j] = the port phone j sends to. With srtp (one
//   { send, receive } pair of hex key||salt per phone) every packet is SRTP-protected (Dialplane's own SrtpContext,
//   AES_CM_128_HMAC_SHA1_80) and every packet received must unprotect, else it counts as malformed.
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { HOST, repoRoot } from './common.mjs';

const PTIME = 20;
const PAYLOAD = 160;
const HEADER = 12;
let sockets = [];
let sendErrors = 0;

function bind(count) {
  return Promise.all(
    Array.from({ length: count }, () => new Promise((resolve, reject) => {
      const s = createSocket({ type: 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
      s.once('error', reject);
      s.bind(0, HOST, () => {
        s.off('error', reject);
        s.on('error', () => {
          sendErrors += 1;
        });
        resolve(s);
      });
    })),
  ).then((list) => {
    sockets = list;
    return list.map((s) => s.address().port);
  });
}

async function run({ targets, warmupMs, durationMs, drainMs, srtp }) {
  const n = sockets.length;
  let contexts;
  if (srtp) {
    const { SrtpContext } = await import(pathToFileURL(join(repoRoot, 'dist', 'src', 'media', 'srtp', 'srtp-context.js')).href);
    const master = (text) => {
      const raw = Buffer.from(text, 'hex');
      return { suite: 'AES_CM_128_HMAC_SHA1_80', key: raw.subarray(0, 16), salt: raw.subarray(16) };
    };
    contexts = srtp.map((k) => ({ send: new SrtpContext(master(k.send)), receive: new SrtpContext(master(k.receive)) }));
  }
  const maxPackets = Math.ceil((warmupMs + durationMs) / PTIME) + 10;
  const seen = Array.from({ length: n }, () => new Uint8Array(maxPackets));
  const sentAt = Array.from({ length: n }, () => new Float64Array(maxPackets));
  const latencies = new Float64Array(Math.ceil((n * durationMs) / PTIME) + n * 4);
  let latencyCount = 0;
  let sentInWindow = 0;
  let receivedInWindow = 0;
  let receivedTotal = 0;
  let duplicates = 0;
  let misrouted = 0;
  let malformed = 0;
  let maxSendLagMs = 0;
  const partner = (j) => j ^ 1;

  // A ring of RING prebuilt packets per stream: a buffer is rewritten RING x 20 ms after it was handed to
  // socket.send, long after the kernel has copied it, and no allocation happens per packet.
  const RING = 64;
  const packets = sockets.map((_, j) =>
    Array.from({ length: RING }, () => {
      const b = Buffer.alloc(HEADER + PAYLOAD, 0xff);
      b[0] = 0x80;
      b[1] = 0; // PT 0 (PCMU), no marker
      b.writeUInt32BE((0x1000 + j) >>> 0, 8); // SSRC
      b.writeUInt32LE(j, HEADER + 8);
      return b;
    }),
  );
  let rtcp = 0;

  let measureStart = Infinity;
  let measureEnd = Infinity;
  for (let j = 0; j < n; j++) {
    sockets[j].on('message', (received) => {
      const now = performance.now();
      receivedTotal += 1;
      if (received[1] >= 200 && received[1] <= 204) {
        rtcp += 1; // RTCP a relay sends to our port + 1 (Dialplane does, RFC 3550 §11): not audio
        return;
      }
      let data = received;
      if (contexts) {
        const result = contexts[j].receive.unprotectRtp(received);
        if (!result.ok) {
          malformed += 1;
          return;
        }
        data = result.packet;
      }
      if (data.length < HEADER + 16) {
        malformed += 1;
        return;
      }
      const cc = data[0] & 0x0f;
      const at = HEADER + 4 * cc;
      const sender = data.readUInt32LE(at + 8);
      const counter = data.readUInt32LE(at + 12);
      if (sender !== partner(j) || counter >= maxPackets) {
        misrouted += 1;
        return;
      }
      const sent = data.readDoubleLE(at);
      if (seen[sender][counter]) {
        duplicates += 1;
        return;
      }
      seen[sender][counter] = 1;
      if (sent >= measureStart && sent < measureEnd) {
        receivedInWindow += 1;
        if (latencyCount < latencies.length) latencies[latencyCount++] = now - sent;
      }
    });
  }

  const start = performance.now() + 50;
  const phase = Array.from({ length: n }, (_, j) => (j * PTIME) / n);
  const nextIndex = new Uint32Array(n);
  const stopAt = start + warmupMs + durationMs;
  measureStart = start + warmupMs;
  measureEnd = stopAt;
  const cpuStart = { value: undefined };
  let startedMeasure = false;
  let endedMeasure = false;

  return new Promise((resolve) => {
    const tick = () => {
      let now = performance.now();
      if (!startedMeasure && now >= measureStart) {
        startedMeasure = true;
        cpuStart.value = process.cpuUsage();
        process.send({ type: 'measure-start' });
      }
      if (now >= stopAt) {
        if (!endedMeasure) {
          endedMeasure = true;
          const cpu = process.cpuUsage(cpuStart.value);
          process.send({ type: 'measure-end' });
          setTimeout(() => finish(cpu), drainMs);
        }
        return;
      }
      for (let j = 0; j < n; j++) {
        for (;;) {
          const k = nextIndex[j];
          const due = start + phase[j] + k * PTIME;
          if (due > now || due >= stopAt) break;
          const lag = now - due;
          if (lag > maxSendLagMs && due >= measureStart) maxSendLagMs = lag;
          const b = packets[j][k % RING];
          b.writeUInt16BE(k & 0xffff, 2);
          b.writeUInt32BE((k * 160) >>> 0, 4);
          now = performance.now();
          b.writeDoubleLE(now, HEADER);
          b.writeUInt32LE(k, HEADER + 12);
          sentAt[j][k] = now;
          if (now >= measureStart && now < measureEnd) sentInWindow += 1;
          sockets[j].send(contexts ? contexts[j].send.protectRtp(b) : b, targets[j], HOST);
          nextIndex[j] = k + 1;
        }
      }
      setTimeout(tick, 1);
    };
    const finish = (cpu) => {
      // Packets whose send time fell in the window but that were counted as sent outside it (or vice versa) cannot
      // happen: both use the same stamped time. Sent-in-window is recounted from the stamps to be exact.
      let sent = 0;
      let received = 0;
      for (let j = 0; j < n; j++) {
        for (let k = 0; k < nextIndex[j]; k++) {
          const t = sentAt[j][k];
          if (t >= measureStart && t < measureEnd) {
            sent += 1;
            if (seen[j][k]) received += 1;
          }
        }
      }
      const lat = latencies.subarray(0, latencyCount).sort();
      const pct = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))] : NaN);
      for (const s of sockets) s.close();
      resolve({
        type: 'result',
        phones: n,
        windowMs: measureEnd - measureStart,
        sent,
        received,
        sentInWindowLive: sentInWindow,
        receivedInWindowLive: receivedInWindow,
        receivedTotal,
        duplicates,
        misrouted,
        rtcp,
        malformed,
        sendErrors,
        maxSendLagMs,
        latency: { samples: lat.length, p50: pct(50), p90: pct(90), p99: pct(99), p999: pct(99.9), max: lat.length ? lat[lat.length - 1] : NaN },
        cpuUserMs: cpu.user / 1000,
        cpuSystemMs: cpu.system / 1000,
      });
    };
    setTimeout(tick, Math.max(0, start - performance.now()));
  });
}

process.on('message', async (message) => {
  try {
    if (message.type === 'bind') process.send({ type: 'bound', ports: await bind(message.phones) });
    else if (message.type === 'run') process.send(await run(message), () => process.exit(0));
  } catch (error) {
    process.send({ type: 'error', message: String(error?.stack ?? error) }, () => process.exit(1));
  }
});
process.on('disconnect', () => process.exit(0));
