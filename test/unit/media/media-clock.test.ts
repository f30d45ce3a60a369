import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MediaClock, type ClockSource } from '../../../src/media/media-clock.js';

/** A clock whose timers fire late by a chosen amount: the drift a chained-timer sender would accumulate. */
class LateClock implements ClockSource {
  time = 0;
  private pending: Array<{ at: number; fire: () => void }> = [];
  constructor(private lateness: () => number) {}
  now() {
    return this.time;
  }
  schedule(ms: number, fire: () => void) {
    const entry = { at: this.time + ms + this.lateness(), fire };
    this.pending.push(entry);
    return { cancel: () => (this.pending = this.pending.filter((p) => p !== entry)) };
  }
  runUntil(t: number) {
    for (;;) {
      this.pending.sort((a, b) => a.at - b.at);
      const next = this.pending[0];
      if (!next || next.at > t) break;
      this.pending.shift();
      this.time = next.at;
      next.fire();
    }
    this.time = t;
  }
}

test('ticks stay on the 20 ms grid although every timer fires 3 ms late', () => {
  const clock = new LateClock(() => 3);
  const media = new MediaClock(clock);
  const at: number[] = [];
  media.subscribe(() => at.push(clock.now()));
  clock.runUntil(60_000);
  // 60 s at 50 ticks/s; a chained timer would have lost 3 ms per tick (130 ms per second).
  assert.ok(at.length >= 2_998 && at.length <= 3_000, String(at.length));
  const last = at[at.length - 1]!;
  assert.ok(Math.abs(last - at.length * 20) <= 3, `tick ${at.length} at ${last} ms`);
});

test('a short stall is caught up tick by tick; a long one resynchronises', () => {
  let stall = 0;
  const clock = new LateClock(() => stall);
  const media = new MediaClock(clock);
  const ticks: number[] = [];
  media.subscribe((tick) => ticks.push(tick));
  clock.runUntil(100);
  stall = 70; // timers now fire 70 ms late: several ticks are due at once each time
  clock.runUntil(400);
  stall = 0;
  clock.runUntil(500);
  assert.deepEqual(ticks, Array.from({ length: 25 }, (_, i) => i + 1), 'every tick, none skipped, in order');
  assert.equal(media.skipped, 0);
  stall = 1_000;
  clock.runUntil(1_500);
  stall = 0;
  clock.runUntil(1_600);
  assert.ok(media.skipped > 0, 'a one-second stall is not replayed as 50 packets');
});

test('the clock runs only while someone listens, and a failing listener does not stop the others', () => {
  const clock = new LateClock(() => 0);
  const errors: unknown[] = [];
  const media = new MediaClock(clock, 20, (error) => errors.push(error));
  assert.equal(media.running, false);
  let heard = 0;
  const a = media.subscribe(() => {
    throw new Error('bad stream');
  });
  const b = media.subscribe(() => void (heard += 1));
  clock.runUntil(100);
  assert.equal(heard, 5);
  assert.equal(errors.length, 5);
  a();
  b();
  assert.equal(media.running, false);
});
