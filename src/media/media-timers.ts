/**
 * The timers the media layer starts, by name, on a clock tests can replace: a fake moves `now()` and fires the
 * started timers itself, so a 60 s watch is tested without waiting a minute.
 */
export interface MediaTimers {
  /** Milliseconds on a monotonic clock. */
  now(): number;
  start(name: 'RtpInactivity', ms: number, fire: () => void): { cancel(): void };
}

/** Real time; the timers do not keep the process alive. */
export const systemMediaTimers: MediaTimers = {
  now: () => performance.now(),
  start(_name, ms, fire) {
    const timer = setTimeout(fire, ms);
    timer.unref();
    return { cancel: () => clearTimeout(timer) };
  },
};
