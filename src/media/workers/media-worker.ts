import type { Socket } from 'node:dgram';
import { parentPort } from 'node:worker_threads';
import type { NegotiatedSrtp } from '../../sdp/types.js';
import type { SrtpMasterKey } from '../srtp/srtp-suites.js';
import { MediaBridge } from '../bridge.js';
import { CallMedia } from '../call-media.js';
import { MediaClock } from '../media-clock.js';
import { CallRecorder } from '../recorder.js';
import { bindPortPair, closeSocket } from '../rtp-ports.js';
import type { HostCommand, LegOpen, LegReport, WorkerEvent } from './media-protocol.js';

/**
 * A media worker: the RTP of the legs the main thread opens here, on sockets bound here (a dgram socket cannot move
 * between threads), with this thread's own 20 ms clock. It knows legs only by the ids the main thread gives them and
 * answers every command that waits for an answer; whatever throws while handling one is reported by the thread's end,
 * which the host treats as this worker's failure.
 */

const REPORT_INTERVAL_MS = 1_000;

interface Leg {
  readonly rtp: Socket;
  readonly rtcp: Socket;
  media: CallMedia | undefined;
  audioOff: (() => void) | undefined;
  watchOff: (() => void) | undefined;
}

const port = parentPort;
if (!port) throw new Error('media-worker.js runs as a worker thread');
const legs = new Map<number, Leg>();
const bridges = new Map<number, MediaBridge>();
/** The legs each bridge joins, so that a leg's end stops its bridge even when no unbridge comes. */
const bridgedLegs = new Map<number, readonly [number, number]>();
const recorders = new Map<number, CallRecorder>();
const clock = new MediaClock();

function post(event: WorkerEvent, transfer?: ArrayBuffer[]): void {
  port!.postMessage(event, transfer);
}

function buffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function masterKey(key: SrtpMasterKey): SrtpMasterKey {
  return { suite: key.suite, key: buffer(key.key), salt: buffer(key.salt) };
}

/** SDES keys as they crossed the channel (their Buffers arrive as Uint8Array). */
function srtpOf(srtp: NegotiatedSrtp | undefined): NegotiatedSrtp | undefined {
  return srtp ? { suite: srtp.suite, local: masterKey(srtp.local), remote: masterKey(srtp.remote) } : undefined;
}

/** An ArrayBuffer to hand over whole: the bytes' own, when they are all of it, else a copy. */
function transferable(bytes: Buffer): { view: Uint8Array; transfer: ArrayBuffer[] } {
  const owned = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer;
  const view = owned ? new Uint8Array(bytes.buffer) : new Uint8Array(bytes);
  return { view, transfer: [view.buffer as ArrayBuffer] };
}

function open(id: number, options: LegOpen): void {
  const leg = legs.get(id);
  if (!leg || leg.media) return;
  const media = new CallMedia({
    socket: leg.rtp,
    rtcpSocket: leg.rtcp,
    remote: options.remote,
    codec: options.codec,
    telephoneEvent: options.telephoneEvent,
    clock,
    direction: options.direction,
    rtpTimeoutS: options.rtpTimeoutS,
    srtp: srtpOf(options.srtp),
    onSrtpRejected: (reason) => post({ ev: 'srtpRejected', id, reason }),
  });
  media.onDigit((digit) => post({ ev: 'digit', id, digit }));
  leg.media = media;
}

function unbridge(bridge: number): void {
  const joined = bridges.get(bridge);
  if (!joined) return;
  joined.stop();
  bridges.delete(bridge);
  bridgedLegs.delete(bridge);
  // Its final counts: the main thread would otherwise keep those of the last once-a-second report.
  post({ ev: 'unbridged', bridge, ...joined.counts });
}

function closeLeg(id: number, leg: Leg): void {
  for (const [bridge, [a, b]] of bridgedLegs) if (a === id || b === id) unbridge(bridge);
  leg.audioOff?.();
  leg.watchOff?.();
  leg.audioOff = leg.watchOff = undefined;
  leg.media?.close();
}

async function release(id: number): Promise<void> {
  const leg = legs.get(id);
  if (leg) {
    closeLeg(id, leg);
    await Promise.all([closeSocket(leg.rtp), closeSocket(leg.rtcp)]);
    legs.delete(id);
  }
  post({ ev: 'released', id });
}

async function reserve(id: number, host: string, rtpPort: number): Promise<void> {
  try {
    const pair = await bindPortPair(host, rtpPort);
    if (!pair) {
      post({ ev: 'reserved', id, ok: false, busy: true, message: `port ${rtpPort} or ${rtpPort + 1} is taken` });
      return;
    }
    const [rtp, rtcp] = pair;
    // A socket error (an ICMP-reported unreachable peer, say) is the leg's concern, never the worker's end.
    rtp.on('error', () => undefined);
    rtcp.on('error', () => undefined);
    legs.set(id, { rtp, rtcp, media: undefined, audioOff: undefined, watchOff: undefined });
    post({ ev: 'reserved', id, ok: true });
  } catch (error) {
    post({ ev: 'reserved', id, ok: false, busy: false, message: error instanceof Error ? error.message : String(error) });
  }
}

function handle(command: HostCommand): void {
  switch (command.op) {
    case 'reserve':
      void reserve(command.id, command.host, command.port);
      return;
    case 'release':
      void release(command.id);
      return;
    case 'open':
      open(command.id, command);
      return;
    case 'inspect': {
      const rtp = legs.get(command.id)?.media?.rtp;
      post({
        ev: 'inspected',
        id: command.id,
        inspection: rtp && {
          local: rtp.local,
          secure: rtp.secure,
          sending: rtp.sending,
          sent: rtp.sent,
          received: rtp.received,
          srtpRejected: rtp.srtpRejected,
          lastHeard: rtp.lastHeard && { ...rtp.lastHeard },
        },
      });
      return;
    }
    case 'crash':
      if (command.how === 'exit') process.exit(70);
      setImmediate(() => {
        throw new Error('media worker: crash requested');
      });
      return;
    case 'bridge': {
      const a = legs.get(command.a)?.media;
      const b = legs.get(command.b)?.media;
      if (a && b) {
        bridges.set(command.bridge, new MediaBridge(a, b));
        bridgedLegs.set(command.bridge, [command.a, command.b]);
      }
      return;
    }
    case 'unbridge':
      unbridge(command.bridge);
      return;
    case 'record': {
      const media = legs.get(command.id)?.media;
      if (media) recorders.set(command.recording, new CallRecorder(media, clock));
      return;
    }
    case 'stopRecording': {
      const recorder = recorders.get(command.recording);
      recorders.delete(command.recording);
      recorder?.stop();
      const { view, transfer } = transferable(recorder ? recorder.toWav('mixed') : Buffer.alloc(0));
      post({ ev: 'recorded', recording: command.recording, wav: view, durationMs: recorder ? Math.round(recorder.seconds * 1000) : 0 }, transfer);
      return;
    }
    default:
      break;
  }
  const leg = legs.get(command.id);
  const media = leg?.media;
  if (!leg || !media) {
    // A play on a leg that is not (or no longer) open finishes at once, as CallMedia's does when nothing can be sent.
    if (command.op === 'play') post({ ev: 'played', id: command.id, play: command.play });
    return;
  }
  switch (command.op) {
    case 'close':
      closeLeg(command.id, leg);
      return;
    case 'play':
      void media.playEncoded(buffer(command.g711)).then(() => post({ ev: 'played', id: command.id, play: command.play }));
      return;
    case 'stop':
      media.stop();
      return;
    case 'direction':
      media.setDirection(command.direction);
      return;
    case 'remote':
      media.setRemote(command.remote);
      return;
    case 'srtp':
      media.setSrtp(srtpOf(command.srtp));
      return;
    case 'digit':
      media.signalDigit(command.digit);
      return;
    case 'audio':
      leg.audioOff?.();
      leg.audioOff = command.on ? media.onAudio((payload) => post({ ev: 'audio', id: command.id, payload: new Uint8Array(payload) })) : undefined;
      return;
    case 'watch':
      leg.watchOff?.();
      leg.watchOff = command.on ? media.onInactive(() => post({ ev: 'inactive', id: command.id })) : undefined;
      return;
  }
}

port.on('message', handle);
post({ ev: 'ready' });

// Reception figures for LegMedia.quality() and the bridges' counts, one message a second for all of this worker's
// legs rather than a question per leg.
setInterval(() => {
  const reports: LegReport[] = [];
  for (const [id, leg] of legs) if (leg.media) reports.push({ id, quality: leg.media.quality() });
  if (reports.length === 0 && bridges.size === 0) return;
  post({ ev: 'reports', legs: reports, bridges: [...bridges].map(([bridge, joined]) => ({ bridge, ...joined.counts })) });
}, REPORT_INTERVAL_MS).unref();
