/** The packet interval of G.711 audio: 20 ms, 160 samples at 8 kHz. */
export const PTIME_MS = 20;
/** After a stall longer than this many intervals, ticks resume from now instead of bursting to catch up. */
export const MAX_CATCH_UP_TICKS = 5;

export interface ClockSource {
  /** Milliseconds, monotonic (performance.now in production). */
  now(): number;
  schedule(ms: number, fire: () => void): { cancel(): void };
}

export const realClockSource: ClockSource = {
  now: () => performance.now(),
  schedule(ms, fire) {
    const handle = setTimeout(fire, Math.max(0, ms));
    return { cancel: () => clearTimeout(handle) };
  },
};

export type TickListener = (tick: number) => void;

/**
 * One 20 ms clock for every stream in the process. Each tick is scheduled against the clock's start time
 * (start + n × 20 ms), never chained from the previous timer, so lateness does not accumulate: a timer that fires
 * 3 ms late is followed by one that fires on time. Short stalls are caught up tick by tick; long ones resynchronise.
 * Listener exceptions are contained so one stream cannot stop the others.
 */
export class MediaClock {
  private readonly listeners = new Set<TickListener>();
  private origin = 0;
  private tick = 0;
  private timer: { cancel(): void } | undefined;
  /** Ticks skipped by resynchronisation after stalls (exposed for metrics). */
  skipped = 0;

  constructor(
    private readonly source: ClockSource = realClockSource,
    private readonly intervalMs = PTIME_MS,
    private readonly onListenerError: (error: unknown) => void = () => undefined,
  ) {}

  get running(): boolean {
    return this.timer !== undefined;
  }

  /** Starts the clock with the first listener and stops it with the last, so an idle server has no timer. */
  subscribe(listener: TickListener): () => void {
    this.listeners.add(listener);
    if (!this.timer) this.start();
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.stop();
    };
  }

  private start(): void {
    this.origin = this.source.now();
    this.tick = 0;
    this.arm();
  }

  private stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  private arm(): void {
    const deadline = this.origin + (this.tick + 1) * this.intervalMs;
    this.timer = this.source.schedule(deadline - this.source.now(), () => this.fire());
  }

  private fire(): void {
    const due = Math.floor((this.source.now() - this.origin) / this.intervalMs);
    if (due - this.tick > MAX_CATCH_UP_TICKS) {
      this.skipped += due - this.tick - 1;
      this.tick = due - 1;
    }
    while (this.tick < due && this.listeners.size > 0) {
      this.tick += 1;
      for (const listener of this.listeners) {
        try {
          listener(this.tick);
        } catch (error) {
          this.onListenerError(error);
        }
      }
    }
    if (this.listeners.size > 0) this.arm();
    else this.timer = undefined;
  }
}
