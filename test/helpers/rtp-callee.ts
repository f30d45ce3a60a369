import { createSocket, type RemoteInfo } from 'node:dgram';
import { randomBytes } from 'node:crypto';

/**
 * A callee's audio end for tests: a UDP socket that a carrier's SDP names (test/sipp/uas-answer-media-port.xml), which
 * hears the RTP Dialplane sends, decodes it (G.711 µ-law, written out here from ITU-T G.711 rather than taken from
 * the code under test), lays it on a timeline (packet after packet, and a gap in arrival as that much silence: the
 * sender sends nothing between prompts, and its RTP timestamps run on without the gap), and presses keys as RFC 4733
 * telephone-events.
 */
export interface HeardSegment {
  /** Seconds from the first packet heard. */
  readonly startS: number;
  readonly seconds: number;
  /** RMS over the segment's loud frames, dBFS. */
  readonly dbfs: number;
}

const SAMPLE_RATE = 8000;
/** Arrival gaps up to this are jitter of a paced stream; longer ones are silence between prompts. */
const GAP_MS = 100;
const FRAME = 160;
export const LOUD_DBFS = -40;

/** ITU-T G.711 µ-law to 16-bit linear. */
export function decodeUlaw(byte: number): number {
  const u = ~byte & 0xff;
  const exponent = (u >> 4) & 0x07;
  const magnitude = ((((u & 0x0f) << 3) + 0x84) << exponent) - 0x84;
  return u & 0x80 ? -magnitude : magnitude;
}

/** 20 ms frames of `samples`: whether each is loud (RMS above LOUD_DBFS) and its mean square. */
function frames(samples: Int16Array): Array<{ loud: boolean; power: number }> {
  const out: Array<{ loud: boolean; power: number }> = [];
  for (let start = 0; start + FRAME <= samples.length; start += FRAME) {
    let sum = 0;
    for (let i = start; i < start + FRAME; i++) sum += (samples[i]! / 32768) ** 2;
    const power = sum / FRAME;
    out.push({ loud: 10 * Math.log10(power + 1e-12) > LOUD_DBFS, power });
  }
  return out;
}

/**
 * The loud stretches of `samples`: runs of loud frames, a stretch ending after `gapS` of quiet (the pauses between
 * words are shorter), each with its loud seconds and loudness.
 */
export function loudSegments(samples: Int16Array, gapS = 0.6): HeardSegment[] {
  const all = frames(samples);
  const gapFrames = Math.round((gapS * SAMPLE_RATE) / FRAME);
  const segments: HeardSegment[] = [];
  let current: { start: number; loud: number; power: number } | undefined;
  let quiet = 0;
  const close = () => {
    if (!current) return;
    segments.push({
      startS: (current.start * FRAME) / SAMPLE_RATE,
      seconds: (current.loud * FRAME) / SAMPLE_RATE,
      dbfs: 10 * Math.log10(current.power / current.loud),
    });
    current = undefined;
  };
  all.forEach((frame, i) => {
    if (frame.loud) {
      current ??= { start: i, loud: 0, power: 0 };
      current.loud += 1;
      current.power += frame.power;
      quiet = 0;
    } else if (current && ++quiet >= gapFrames) {
      close();
    }
  });
  close();
  return segments;
}

export interface RtpCallee {
  readonly port: number;
  /** Packets heard, by payload type. */
  readonly packets: number;
  /** Where Dialplane's RTP comes from (after the first packet). */
  readonly remote: RemoteInfo | undefined;
  /** What was heard so far, on the arrival timeline (gaps are silence). */
  audio(): Int16Array;
  segments(): HeardSegment[];
  /** Milliseconds since the last loud frame arrived (Infinity before any). */
  quietForMs(): number;
  /** Presses a key as RFC 4733 telephone-events (payload type 101) towards where Dialplane's RTP comes from. */
  press(key: string): Promise<void>;
  close(): Promise<void>;
}

const EVENTS: Readonly<Record<string, number>> = { '*': 10, '#': 11, A: 12, B: 13, C: 14, D: 15 };

export async function startRtpCallee(port: number): Promise<RtpCallee> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, '127.0.0.1', () => resolve());
  });
  const chunks: Array<{ at: number; samples: Int16Array }> = [];
  let at = 0;
  let lastAt: number | undefined;
  let lastLength = 0;
  let remote: RemoteInfo | undefined;
  let packets = 0;
  let lastLoudAt = -Infinity;
  socket.on('message', (message, from) => {
    if (message.length < 12 || message[0]! >> 6 !== 2) return;
    remote ??= from;
    packets += 1;
    const csrc = message[0]! & 0x0f;
    const extension = (message[0]! & 0x10) !== 0;
    let offset = 12 + csrc * 4;
    if (extension) offset += 4 + message.readUInt16BE(offset + 2) * 4;
    const payloadType = message[1]! & 0x7f;
    if (payloadType !== 0) return;
    const payload = message.subarray(offset);
    const samples = Int16Array.from(payload, decodeUlaw);
    const now = performance.now();
    // Packets come every 20 ms while something plays, and none between prompts: a longer gap is that much silence.
    const gapMs = lastAt === undefined ? 0 : now - lastAt;
    at += gapMs > GAP_MS ? Math.round((gapMs * SAMPLE_RATE) / 1000 / FRAME) * FRAME : lastLength;
    lastAt = now;
    lastLength = samples.length;
    chunks.push({ at, samples });
    if (frames(samples).some((f) => f.loud)) lastLoudAt = now;
  });
  const ssrc = randomBytes(4).readUInt32BE(0);
  let seq = randomBytes(2).readUInt16BE(0);
  let timestamp = randomBytes(4).readUInt32BE(0);
  const send = (payload: Buffer, marker: boolean) =>
    new Promise<void>((resolve, reject) => {
      if (!remote) return reject(new Error('no RTP heard yet: nowhere to press a key'));
      const header = Buffer.alloc(12);
      header[0] = 0x80;
      header[1] = (marker ? 0x80 : 0) | 101;
      header.writeUInt16BE(seq, 2);
      header.writeUInt32BE(timestamp, 4);
      header.writeUInt32BE(ssrc, 8);
      seq = (seq + 1) & 0xffff;
      socket.send(Buffer.concat([header, payload]), remote.port, remote.address, (error) => (error ? reject(error) : resolve()));
    });
  const audio = (): Int16Array => {
    const last = chunks.at(-1);
    const out = new Int16Array(last ? last.at + last.samples.length : 0);
    for (const chunk of chunks) out.set(chunk.samples, chunk.at);
    return out;
  };
  return {
    port,
    get packets() {
      return packets;
    },
    get remote() {
      return remote;
    },
    audio,
    segments: () => loudSegments(audio()),
    quietForMs: () => performance.now() - lastLoudAt,
    async press(key: string) {
      const event = /^[0-9]$/.test(key) ? Number(key) : EVENTS[key];
      if (event === undefined) throw new Error(`not a key: ${key}`);
      // RFC 4733 2.5: one event, its duration growing every 20 ms, then the end bit sent three times.
      timestamp = (timestamp + 1600) >>> 0;
      const packet = (duration: number, end: boolean) => Buffer.from([event, (end ? 0x80 : 0) | 10, duration >> 8, duration & 0xff]);
      for (let i = 1; i <= 5; i++) {
        await send(packet(i * FRAME, false), i === 1);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      for (let i = 0; i < 3; i++) await send(packet(6 * FRAME, true), false);
    },
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
