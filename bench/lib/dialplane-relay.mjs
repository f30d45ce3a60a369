// Child process for bench/media-relay.mjs: Dialplane's media relay alone, from dist/ (RtpPortPool, CallMedia,
// MediaClock, MediaBridge exactly as the server wires a bridged call), with nothing else in the process.
// Driven over IPC (fork):
//   { type: 'setup', phones: [{ a, b }], portMin, portMax, srtp }  -> { type: 'ready', legs: [{ a, b, keys }] }
//        (phones[i].a / .b: UDP ports of call i's phone A / phone B on 127.0.0.1; legs[i].a / .b: the reserved RTP
//         ports phone A / phone B must send to; with srtp, each leg runs SRTP (AES_CM_128_HMAC_SHA1_80) with fresh
//         keys and legs[i].keys.a / .b are the phone's { send, receive } master keys as hex key||salt)
//   { type: 'stop' }  -> { type: 'stopped', relayed }  then exits.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot, HOST } from './common.mjs';

const media = (file) => import(pathToFileURL(join(repoRoot, 'dist', 'src', 'media', file)).href);
const { RtpPortPool } = await media('rtp-ports.js');
const { CallMedia } = await media('call-media.js');
const { MediaClock } = await media('media-clock.js');
const { MediaBridge } = await media('bridge.js');
const { newMasterKey } = await import(pathToFileURL(join(repoRoot, 'dist', 'src', 'sdp', 'sdp-crypto.js')).href);

const SUITE = 'AES_CM_128_HMAC_SHA1_80';
const hex = (k) => Buffer.concat([k.key, k.salt]).toString('hex');
/** A leg's SDES keys: the relay's (it protects with local) and the phone's view of them. */
function legKeys() {
  const relay = newMasterKey(SUITE);
  const phone = newMasterKey(SUITE);
  return { srtp: { suite: SUITE, local: relay, remote: phone }, phone: { send: hex(phone), receive: hex(relay) } };
}

const codec = { name: 'PCMU', payloadType: 0 };
let pool;
const reservations = [];
const bridges = [];

async function setup({ phones, portMin, portMax, srtp }) {
  pool = new RtpPortPool({ min: portMin, max: portMax }, HOST);
  const clock = new MediaClock();
  const legs = [];
  for (const phone of phones) {
    const ra = await pool.reserve();
    const rb = await pool.reserve();
    reservations.push(ra, rb);
    for (const r of [ra, rb]) {
      r.rtp.on('error', (error) => console.error(`relay socket ${r.port}: ${error.message}`));
      r.rtcp.on('error', () => undefined);
    }
    const ka = srtp ? legKeys() : undefined;
    const kb = srtp ? legKeys() : undefined;
    const legA = new CallMedia({ socket: ra.rtp, rtcpSocket: ra.rtcp, remote: { address: HOST, port: phone.a }, codec, telephoneEvent: 101, clock, srtp: ka?.srtp });
    const legB = new CallMedia({ socket: rb.rtp, rtcpSocket: rb.rtcp, remote: { address: HOST, port: phone.b }, codec, telephoneEvent: 101, clock, srtp: kb?.srtp });
    bridges.push(new MediaBridge(legA, legB));
    legs.push({ a: ra.port, b: rb.port, ...(srtp ? { keys: { a: ka.phone, b: kb.phone } } : {}) });
  }
  return legs;
}

process.on('message', async (message) => {
  try {
    if (message.type === 'setup') {
      process.send({ type: 'ready', legs: await setup(message) });
    } else if (message.type === 'stop') {
      const relayed = bridges.reduce((sum, b) => sum + b.relayed, 0);
      for (const b of bridges) b.stop();
      await Promise.all(reservations.map((r) => r.release()));
      process.send({ type: 'stopped', relayed }, () => process.exit(0));
    }
  } catch (error) {
    process.send({ type: 'error', message: String(error?.stack ?? error) }, () => process.exit(1));
  }
});
process.on('disconnect', () => process.exit(0));
