import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LegMedia } from '../../../../src/core/calls/call-engine.js';
import { sayAndCollect } from '../../../../src/core/calls/verbs.js';
import { VirtualTimers } from '../../../../src/sip/transaction/timers.js';

/** A leg whose prompt takes until the test says it finished, and whose keys the test presses. */
class ScriptedLeg implements LegMedia {
  playing = false;
  stopped = 0;
  private finishPlay: (() => void) | undefined;
  private readonly listeners = new Set<(digit: string) => void>();
  play(): Promise<void> {
    this.playing = true;
    return new Promise((resolve) => (this.finishPlay = () => {
      this.playing = false;
      resolve();
    }));
  }
  stop(): void {
    this.stopped += 1;
    this.finishPlay?.();
  }
  onAudio(): () => void {
    return () => undefined;
  }
  onDigit(listener: (digit: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  onInactive(): () => void {
    return () => undefined;
  }
  press(keys: string): void {
    for (const key of keys) for (const l of this.listeners) l(key);
  }
  promptEnds(): void {
    this.finishPlay?.();
  }
}

const tick = () => new Promise((resolve) => setImmediate(resolve));
const base = { maxDigits: 4, firstDigitTimeoutMs: 5_000, interDigitTimeoutMs: 3_000 };

test('collects up to the maximum number of digits', async () => {
  const leg = new ScriptedLeg();
  const result = sayAndCollect(leg, base, new VirtualTimers<'FirstDigit' | 'InterDigit'>());
  leg.press('12345');
  assert.deepEqual(await result, { digits: '1234', reason: 'max_digits' });
});

test('the finish key ends collection and is not part of the digits', async () => {
  const leg = new ScriptedLeg();
  const result = sayAndCollect(leg, { ...base, finishKey: '#' }, new VirtualTimers<'FirstDigit' | 'InterDigit'>());
  leg.press('42#');
  assert.deepEqual(await result, { digits: '42', reason: 'finish_key' });
});

test('first-digit timeout counts from the end of the prompt; inter-digit timeout from each key', async () => {
  const timers = new VirtualTimers<'FirstDigit' | 'InterDigit'>();
  const leg = new ScriptedLeg();
  const result = sayAndCollect(leg, { ...base, prompt: new Int16Array(8000) }, timers);
  timers.advance(60_000);
  assert.deepEqual(timers.active(), [], 'no timer runs while the prompt plays');
  leg.promptEnds();
  await tick();
  assert.deepEqual(timers.active(), ['FirstDigit']);
  leg.press('7');
  timers.advance(2_999);
  leg.press('8');
  timers.advance(3_000);
  assert.deepEqual(await result, { digits: '78', reason: 'timeout' });
});

test('barge-in: a key during the prompt stops it at once', async () => {
  const leg = new ScriptedLeg();
  const result = sayAndCollect(leg, { ...base, maxDigits: 1, prompt: new Int16Array(8000), bargeIn: true }, new VirtualTimers<'FirstDigit' | 'InterDigit'>());
  assert.equal(leg.playing, true);
  leg.press('1');
  assert.equal(leg.playing, false);
  assert.equal(leg.stopped, 1);
  assert.deepEqual(await result, { digits: '1', reason: 'max_digits' });
});

test('a hang-up ends collection with what was gathered', async () => {
  const leg = new ScriptedLeg();
  let hangUp = () => undefined as void;
  const ended = new Promise<void>((resolve) => (hangUp = resolve));
  const result = sayAndCollect(leg, { ...base, ended }, new VirtualTimers<'FirstDigit' | 'InterDigit'>());
  leg.press('9');
  hangUp();
  assert.deepEqual(await result, { digits: '9', reason: 'hangup' });
});
