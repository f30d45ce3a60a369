#!/usr/bin/env node
// CPU and garbage per relayed RTP packet in the bridge's own code, without sockets or a load generator: two CallMedia
// legs bridged by MediaBridge (as a media worker runs them) on in-memory sockets, fed a stream of PCMU packets.
// What the kernel and libuv cost per packet is the same for any version and is measured by bench/media-relay.mjs.
//
//   npx tsc -p tsconfig.json && node bench/media-packet-cpu.mjs [--dist=<dir with src/media>] [--packets=300000]
//        [--rounds=5] [--laws=PCMU,PCMU]
//
// --dist points at another build's dist/ (a copy of an older build) so that old and new can be run alternately on
// this shared machine; the figures are user+system CPU per packet (process.cpuUsage) and young-generation
// collections per 10,000 packets (PerformanceObserver 'gc', minor), the median of --rounds rounds.
import { EventEmitter } from 'node:events';
import { join, resolve } from 'node:path';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { repoRoot } from './lib/common.mjs';

const args = Object.fromEntries(process.argv.slice(2).map((a) => /^--([^=]+)=(.*)$/.exec(a)?.slice(1) ?? [a, 'true']));
const dist = resolve(args.dist ?? join(repoRoot, 'dist'));
const packets = Number(args.packets ?? 300_000);
const rounds = Number(args.rounds ?? 5);
const [lawA, lawB] = (args.laws ?? 'PCMU,PCMU').split(',');
const load = (file) => import(pathToFileURL(join(dist, 'src', 'media', file)).href);
const { CallMedia } = await load('call-media.js');
const { MediaBridge } = await load('bridge.js');
const { MediaClock } = await load('media-clock.js');

/** A dgram socket as RtpSession uses it: 'message' events in, send() counted and dropped. */
class MemorySocket extends EventEmitter {
  sent = 0;
  constructor(port) {
    super();
    this.port = port;
  }
  send() {
    this.sent += 1;
  }
  address() {
    return { address: '127.0.0.1', port: this.port, family: 'IPv4' };
  }
}

const payloadType = { PCMU: 0, PCMA: 8 };
const clock = new MediaClock();
const socketA = new MemorySocket(20000);
const socketB = new MemorySocket(20002);
const phoneA = { address: '127.0.0.1', port: 40000, family: 'IPv4', size: 172 };
const legA = new CallMedia({ socket: socketA, remote: phoneA, codec: { name: lawA, payloadType: payloadType[lawA] }, telephoneEvent: 101, clock });
const legB = new CallMedia({ socket: socketB, remote: { address: '127.0.0.1', port: 40002 }, codec: { name: lawB, payloadType: payloadType[lawB] }, telephoneEvent: 101, clock });
const bridge = new MediaBridge(legA, legB);

let minorGcs = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) if ((entry.detail?.kind ?? entry.kind) === constants.NODE_PERFORMANCE_GC_MINOR) minorGcs += 1;
}).observe({ entryTypes: ['gc'] });

let sequence = 0;
let timestamp = 0;
/** A fresh datagram per packet, as the socket hands them over. */
function datagram() {
  const packet = Buffer.allocUnsafe(172);
  packet[0] = 0x80;
  packet[1] = payloadType[lawA];
  packet.writeUInt16BE(sequence, 2);
  packet.writeUInt32BE(timestamp >>> 0, 4);
  packet.writeUInt32BE(0x1234abcd, 8);
  packet.fill(0x55, 12);
  sequence = (sequence + 1) & 0xffff;
  timestamp += 160;
  return packet;
}

// Datagrams are made before each round, so only the relay's own work is timed.
const results = [];
for (let round = 0; round <= rounds; round++) {
  const batch = Array.from({ length: packets }, datagram);
  await new Promise((done) => setImmediate(done));
  const gcBefore = minorGcs;
  const before = process.cpuUsage();
  for (const packet of batch) socketA.emit('message', packet, phoneA);
  const used = process.cpuUsage(before);
  await new Promise((done) => setTimeout(done, 50));
  // Round 0 warms the JIT up and is not counted.
  if (round > 0) results.push({ us: (used.user + used.system) / packets, gcs: ((minorGcs - gcBefore) * 10_000) / packets });
}
bridge.stop();
legA.close();
legB.close();
const median = (values) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)];
console.log(
  `relay path ${lawA}->${lawB}, ${packets} packets x ${rounds} rounds, dist ${dist}: ` +
    `${median(results.map((r) => r.us)).toFixed(3)} µs CPU per packet, ${median(results.map((r) => r.gcs)).toFixed(2)} minor GCs per 10k packets ` +
    `(relayed ${bridge.relayed}, sent ${socketB.sent})`,
);
