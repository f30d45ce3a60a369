import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CALL_ENDED, CUT_SHORT, Cut, VerbAborted, VerbRun } from '../../../../src/core/calls/verb-run.js';

test('a cut tells its listeners once, in order, with its reason set; none added after it, none removed', () => {
  const cut = new Cut();
  const heard: string[] = [];
  cut.onAbort(() => heard.push(`a ${String(cut.reason === CUT_SHORT)}`));
  const offB = cut.onAbort(() => heard.push('b'));
  cut.onAbort(() => heard.push('c'));
  offB();
  cut.abort(CUT_SHORT);
  cut.abort(CALL_ENDED);
  assert.deepEqual(heard, ['a true', 'c']);
  assert.equal(cut.aborted, true);
  assert.equal(cut.reason, CUT_SHORT);
  cut.onAbort(() => heard.push('late'));
  assert.deepEqual(heard, ['a true', 'c']);
});

test('a cut: a listener removed by an earlier one is not told', () => {
  const cut = new Cut();
  const heard: string[] = [];
  let offSecond = (): void => undefined;
  cut.onAbort(() => {
    heard.push('first');
    offSecond();
  });
  offSecond = cut.onAbort(() => heard.push('second'));
  cut.onAbort(() => heard.push('third'));
  cut.abort(CUT_SHORT);
  assert.deepEqual(heard, ['first', 'third']);
});

test('a verb run follows its program: do() rejects with VerbAborted, signal aborts, dispose removes its listener', async () => {
  const program = new Cut();
  const run = new VerbRun(program);
  const pending = run.do(() => new Promise<void>(() => undefined));
  const signal = run.signal;
  assert.equal(signal.aborted, false);
  program.abort(CUT_SHORT);
  await assert.rejects(pending, VerbAborted);
  assert.equal(run.cutShort, true);
  assert.equal(signal.aborted, true);
  await assert.rejects(run.do(async () => 1), VerbAborted);

  const next = new Cut();
  const kept = new VerbRun(next);
  kept.dispose();
  next.abort(CUT_SHORT);
  assert.equal(kept.cutShort, false, 'a disposed run no longer follows its program');
});

test('a verb run made after its program was cut is cut at once; the call ending leaves doUntilCommanded waiting', async () => {
  const cut = new Cut();
  cut.abort(CUT_SHORT);
  const late = new VerbRun(cut);
  assert.equal(late.cutShort, true);
  assert.equal(late.signal.aborted, true);

  const program = new Cut();
  const run = new VerbRun(program);
  let finish!: (value: string) => void;
  const result = run.doUntilCommanded(() => new Promise<string>((resolve) => (finish = resolve)));
  program.abort(CALL_ENDED);
  assert.equal(run.cutShort, true);
  finish('ended with a result');
  assert.equal(await result, 'ended with a result');
});
