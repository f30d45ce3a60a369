/** Injected wherever time is read, so tests can move it. */
export interface Clock {
  now(): Date;
  /** now() as an ISO 8601 string, when the clock can give it without a Date (see systemClock). */
  nowIso?(): string;
}

let isoMs = Number.NaN;
let iso = '';

export const systemClock: Clock = {
  now: () => new Date(),
  // A call writes the time with each of its events, several in the same millisecond under load: the string of the
  // last millisecond is kept rather than a Date made and formatted each time.
  nowIso() {
    const ms = Date.now();
    if (ms !== isoMs) {
      iso = new Date(ms).toISOString();
      isoMs = ms;
    }
    return iso;
  },
};

export function isoNow(clock: Clock): string {
  return clock.nowIso ? clock.nowIso() : clock.now().toISOString();
}
