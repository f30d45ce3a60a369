import type { LegMedia, ReceptionQuality } from '../core/calls/call-engine.js';

/** One reading of a leg's reception, `atMs` after the leg was answered. */
export interface QualitySample extends ReceptionQuality {
  readonly atMs: number;
}

export interface QualityLogOptions {
  /** Between samples of a live leg (RTCP itself reports every 5 s; a finer grain draws a short call too). */
  readonly intervalMs?: number;
  /** Legs whose samples are kept (the oldest are forgotten first). */
  readonly maxLegs?: number;
  /** Samples kept per leg; a long call keeps its latest. */
  readonly maxSamples?: number;
}

/**
 * Audio quality of answered legs over time, as their RTCP reception reports count it (packets received and lost,
 * interarrival jitter), sampled while each leg lives and kept in memory for the latest legs: what a call's
 * timeline draws. A process-local record, not stored: a restart or another node's calls have none.
 */
export class QualityLog {
  private readonly legs = new Map<string, QualitySample[]>();
  private readonly live = new Map<string, { media: LegMedia; startedAt: number; last: string }>();
  private timer: NodeJS.Timeout | undefined;
  private readonly intervalMs: number;
  private readonly maxLegs: number;
  private readonly maxSamples: number;

  constructor(options: QualityLogOptions = {}) {
    this.intervalMs = options.intervalMs ?? 1_000;
    this.maxLegs = options.maxLegs ?? 500;
    this.maxSamples = options.maxSamples ?? 600;
  }

  /** Starts sampling an answered leg; stop() it when the leg ends. */
  track(legId: string, media: LegMedia | undefined): void {
    if (!media?.quality) return;
    if (this.legs.size >= this.maxLegs && !this.legs.has(legId)) {
      const oldest = this.legs.keys().next().value;
      if (oldest !== undefined) {
        this.legs.delete(oldest);
        this.live.delete(oldest);
      }
    }
    this.legs.set(legId, []);
    this.live.set(legId, { media, startedAt: Date.now(), last: '' });
    this.timer ??= setInterval(() => this.sampleAll(), this.intervalMs);
    this.timer.unref();
  }

  /** The leg ended: one last sample, then no more. */
  stop(legId: string): void {
    const entry = this.live.get(legId);
    if (!entry) return;
    this.sample(legId, entry, true);
    this.live.delete(legId);
    if (this.live.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  samples(legId: string): readonly QualitySample[] {
    return this.legs.get(legId) ?? [];
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.live.clear();
  }

  private sampleAll(): void {
    for (const [legId, entry] of this.live) this.sample(legId, entry, false);
  }

  private sample(legId: string, entry: { media: LegMedia; startedAt: number; last: string }, force: boolean): void {
    const quality = entry.media.quality?.();
    const list = this.legs.get(legId);
    if (!quality || !list) return;
    const key = `${quality.received}|${quality.lost}|${quality.jitterMs}`;
    if (!force && key === entry.last && list.length > 0) return;
    entry.last = key;
    list.push({ atMs: Date.now() - entry.startedAt, ...quality });
    if (list.length > this.maxSamples) list.splice(0, list.length - this.maxSamples);
  }
}
