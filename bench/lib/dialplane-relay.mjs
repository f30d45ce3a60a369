// Child process for bench/media-relay.mjs: Dialplane's media relay alone, from dist/, through the media host the
// server uses (MediaHost: worker threads binding the legs' ports, one leg pair per call in one worker, bridged
// there), with nothing else in the process.
// Driven over IPC (fork):
//   { type: 'setup', phones: [{ a, b }], portMin, portMax, srtp, workers }  -> { type: 'ready', legs: [{ a, b, keys }] }
//        (phones[i].a / .b: UDP ports of call i's phone A / phone B on 127.0.0.1; legs[i].a / .b: the reserved RTP
//         ports phone A / phone B must send to; with srtp, each leg runs SRTP (AES_CM_128_HMAC_SHA1_80) with fresh
//         keys and legs[i].keys.a / .b are the phone's { send, receive } master keys as hex key||salt;
//         workers: DIALPLANE_MEDIA_WORKERS for the run)
//   { type: 'stop' }  -> { type: 'stopped', relayed }  then exits (relayed: as the workers last reported, once a second).
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot, HOST } from './common.mjs';

const { MediaHost } = await import(pathToFileURL(join(repoRoot, 'dist', 'src', 'media', 'workers', 'media-host.js')).href);
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
let host;
const reservations = [];
const bridges = [];

async function setup({ phones, portMin, portMax, srtp, workers }) {
  host = new MediaHost({ workers, host: HOST, ports: { min: portMin, max: portMax } });
  const legs = [];
  for (const [i, phone] of phones.entries()) {
    // Both legs of a call in one group, as the server places a call's legs.
    const ra = await host.reserve(`call-${i}`);
    const rb = await host.reserve(`call-${i}`);
    reservations.push(ra, rb);
    const ka = srtp ? legKeys() : undefined;
    const kb = srtp ? legKeys() : undefined;
    const open = (remotePort, keys) =>
      ({ remote: { address: HOST, port: remotePort }, codec, telephoneEvent: 101, direction: 'sendrecv', rtpTimeoutS: 0, srtp: keys?.srtp });
    const legA = ra.open(open(phone.a, ka));
    const legB = rb.open(open(phone.b, kb));
    const bridge = host.bridge(legA, legB);
    if (!bridge) throw new Error(`call ${i}: its legs were not bridged`);
    bridges.push(bridge);
    legs.push({ a: ra.port, b: rb.port, ...(srtp ? { keys: { a: ka.phone, b: kb.phone } } : {}) });
  }
  return legs;
}

process.on('message', async (message) => {
  try {
    if (message.type === 'setup') {
      process.send({ type: 'ready', legs: await setup(message) });
    } else if (message.type === 'stop') {
      // The workers report their counts once a second: wait for a report after the load stopped.
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      const relayed = bridges.reduce((sum, b) => sum + b.relayed, 0);
      for (const b of bridges) b.stop();
      await Promise.all(reservations.map((r) => r.release()));
      await host.close();
      process.send({ type: 'stopped', relayed }, () => process.exit(0));
    }
  } catch (error) {
    process.send({ type: 'error', message: String(error?.stack ?? error) }, () => process.exit(1));
  }
});
process.on('disconnect', () => process.exit(0));
