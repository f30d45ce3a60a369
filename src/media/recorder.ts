import { decodeG711 } from './codecs/g711.js';
import type { CallMedia } from './call-media.js';
import type { MediaClock } from './media-clock.js';
import { writeWav } from './tts/wav.js';

const FRAME = 160;
/** Frames a direction may run ahead before the oldest are dropped (a stalled peer must not grow memory). */
const MAX_QUEUED_FRAMES = 25;

export type RecordingLayout = 'mixed' | 'split';

/**
 * Records one leg, both directions, onto the media clock's 20 ms grid: each tick takes one frame heard and one frame
 * sent (silence when a side had nothing), so the two stay aligned and the length is the call's length. `split` keeps
 * the far end on the left channel and our side on the right; `mixed` sums them into one channel.
 */
export class CallRecorder {
  private readonly heard: Int16Array[] = [];
  private readonly said: Int16Array[] = [];
  private readonly left: Int16Array[] = [];
  private readonly right: Int16Array[] = [];
  private readonly stops: Array<() => void>;
  private stopped = false;

  constructor(media: CallMedia, clock: MediaClock) {
    const { codec } = media;
    this.stops = [
      media.rtp.listen((packet) => {
        if (packet.payloadType === codec.payloadType) queue(this.heard, decodeG711(packet.payload, codec.name));
      }),
      media.rtp.listenSent((payloadType, payload) => {
        if (payloadType === codec.payloadType) queue(this.said, decodeG711(payload, codec.name));
      }),
      clock.subscribe(() => this.tick()),
    ];
  }

  /** Seconds recorded so far. */
  get seconds(): number {
    return (this.left.length * FRAME) / 8000;
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const stop of this.stops) stop();
  }

  toWav(layout: RecordingLayout): Buffer {
    const frames = this.left.length;
    if (layout === 'mixed') {
      const mixed = new Int16Array(frames * FRAME);
      for (let f = 0; f < frames; f++) {
        const a = this.left[f]!;
        const b = this.right[f]!;
        for (let i = 0; i < FRAME; i++) mixed[f * FRAME + i] = Math.max(-32768, Math.min(32767, a[i]! + b[i]!));
      }
      return writeWav({ sampleRate: 8000, samples: mixed });
    }
    const interleaved = new Int16Array(frames * FRAME * 2);
    for (let f = 0; f < frames; f++) {
      const a = this.left[f]!;
      const b = this.right[f]!;
      for (let i = 0; i < FRAME; i++) {
        interleaved[(f * FRAME + i) * 2] = a[i]!;
        interleaved[(f * FRAME + i) * 2 + 1] = b[i]!;
      }
    }
    return writeWav({ sampleRate: 8000, samples: interleaved }, 2);
  }

  private tick(): void {
    this.left.push(this.heard.shift() ?? new Int16Array(FRAME));
    this.right.push(this.said.shift() ?? new Int16Array(FRAME));
  }
}

function queue(frames: Int16Array[], samples: Int16Array): void {
  for (let at = 0; at < samples.length; at += FRAME) {
    const frame = new Int16Array(FRAME);
    frame.set(samples.subarray(at, at + FRAME));
    frames.push(frame);
  }
  if (frames.length > MAX_QUEUED_FRAMES) frames.splice(0, frames.length - MAX_QUEUED_FRAMES);
}
