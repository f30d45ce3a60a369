import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Interpreter, MAX_CONSECUTIVE_REDIRECTS } from '../../../../src/core/calls/interpreter.js';
import { validateProgram } from '../../../../src/core/calls/program.js';
import { FakeCallDriver, settle } from '../../../helpers/fake-call-driver.js';

const HOOK = 'https://app.example.com/hook';

function start(driver: FakeCallDriver, program: unknown) {
  const errors: unknown[] = [];
  const interpreter = new Interpreter(driver, { onError: (err) => errors.push(err) });
  let done = false;
  const running = interpreter.run(validateProgram(program)).then(() => (done = true));
  return { interpreter, errors, running, isDone: () => done };
}

const kinds = (driver: FakeCallDriver) => driver.activities.map((a) => a.kind);

test('say, then gather with an action hook: the answer replaces the rest of the program', async () => {
  const driver = new FakeCallDriver();
  driver.hookAnswer = () => [{ verb: 'say', text: 'You chose' }];
  const { running, errors } = start(driver, [
    { verb: 'say', text: 'Welcome' },
    { verb: 'gather', numDigits: 1, say: { text: 'Press 1' }, actionHook: HOOK },
    { verb: 'say', text: 'never said' },
  ]);
  await settle();
  assert.deepEqual(driver.log, ['answer', 'speech Welcome', 'play 7']);
  driver.leg.finish();
  await settle();
  assert.ok(driver.leg.playing, 'the gather prompt plays');
  driver.leg.press('1');
  await settle();
  assert.equal(driver.leg.stops, 1, 'the key stopped the prompt (barge-in)');
  assert.deepEqual(driver.hooks, [{ url: HOOK, extra: { digits: '1', reason: 'max_digits' } }]);
  driver.leg.finish();
  await running;
  assert.deepEqual(driver.log.slice(-3), ['speech You chose', 'play 9', 'hangup']);
  assert.ok(!driver.log.includes('speech never said'));
  assert.deepEqual(driver.activities, [
    { kind: 'gather', data: { digits: '1', reason: 'max_digits' } },
    { kind: 'program', data: { source: 'hook', verbs: 1 } },
  ]);
  assert.deepEqual(errors, []);
});

test('gather without a hook goes on with the next verb; defaults: 5 s first key, the same between keys, # ends', async () => {
  const driver = new FakeCallDriver();
  const { running } = start(driver, [{ verb: 'gather' }, { verb: 'gather', timeout: 2 }, { verb: 'hangup' }]);
  await settle();
  assert.deepEqual(driver.clock.started.map((t) => [t.name, t.ms]), [['FirstDigit', 5_000]]);
  driver.leg.press('12');
  assert.deepEqual(driver.clock.started.at(-1), { name: 'InterDigit', ms: 5_000, at: 0 });
  driver.leg.press('#');
  await settle();
  driver.clock.advance(2_000);
  await running;
  assert.deepEqual(driver.activities.map((a) => a.data), [
    { digits: '12', reason: 'finish_key' },
    { digits: '', reason: 'timeout' },
  ]);
  assert.equal(driver.hooks.length, 0);
  assert.equal(driver.hangups, 1);
});

test('a hook that fails is a hook_error, then the call is hung up', async () => {
  const driver = new FakeCallDriver();
  driver.hookAnswer = () => {
    throw Object.assign(new Error('the hook answered 500'), { reason: 'status' });
  };
  const { running, errors } = start(driver, [{ verb: 'record', actionHook: HOOK }, { verb: 'say', text: 'never' }]);
  await running;
  assert.deepEqual(driver.hooks[0]?.extra, { recording_id: 'rec_1', recording_duration: 3, reason: 'finish_key' });
  assert.deepEqual(driver.activities.at(-1), {
    kind: 'hook_error',
    data: { url: HOOK, reason: 'status', message: 'the hook answered 500' },
  });
  assert.equal(driver.hangups, 1);
  assert.ok(!driver.log.includes('speech never'));
  assert.deepEqual(errors, [], 'a hook failure is an activity, not an error of the platform');
});

test('a hook that answers an invalid program is a hook_error, then the call is hung up', async () => {
  for (const answer of [{ verbs: [] }, [], [{ verb: 'say' }], 'hello', null]) {
    const driver = new FakeCallDriver();
    driver.hookAnswer = () => answer;
    const { running } = start(driver, [{ verb: 'dial', target: [{ type: 'phone', number: '+14155550100' }], actionHook: HOOK }]);
    await running;
    const error = driver.activities.at(-1);
    assert.equal(error?.kind, 'hook_error');
    assert.equal(error?.data['reason'], 'invalid_program');
    assert.equal(driver.hangups, 1);
  }
});

test('dial does not answer first; its result is an activity and the hook gets it', async () => {
  const driver = new FakeCallDriver();
  driver.hookAnswer = () => [{ verb: 'hangup' }];
  const { running } = start(driver, [{ verb: 'dial', target: [{ type: 'extension', extension: 'ext_1' }], actionHook: HOOK }]);
  await running;
  assert.equal(driver.answered, false);
  assert.equal(driver.dials[0]?.options.timeoutS, 30);
  assert.deepEqual(driver.activities[0], { kind: 'dial', data: { outcome: 'completed', dial_call_id: 'call_child', duration_s: 12 } });
  assert.deepEqual(driver.hooks[0]?.extra, { dial_call_status: 'completed', dial_call_id: 'call_child', dial_duration: 12 });
  assert.equal(driver.hangups, 1);
});

test('replace() mid-say stops the prompt and runs the new program', async () => {
  const driver = new FakeCallDriver();
  const { interpreter, running } = start(driver, [{ verb: 'say', text: 'long' }, { verb: 'say', text: 'after' }]);
  await settle();
  assert.ok(driver.leg.playing);
  assert.equal(interpreter.replace(validateProgram([{ verb: 'say', text: 'new' }])), true);
  await settle();
  assert.equal(driver.leg.stops, 1);
  assert.ok(driver.log.includes('speech new'));
  driver.leg.finish();
  await running;
  assert.ok(!driver.log.includes('speech after'));
  assert.deepEqual(driver.activities, [{ kind: 'program', data: { source: 'live', verbs: 1 } }]);
  assert.equal(interpreter.replace(validateProgram([{ verb: 'hangup' }])), false, 'nothing left to replace');
});

test('replace() mid-gather cancels collection and its timers; no hook is called', async () => {
  const driver = new FakeCallDriver();
  const { interpreter, running } = start(driver, [{ verb: 'gather', say: { text: 'Menu' }, actionHook: HOOK }]);
  await settle();
  driver.leg.finish();
  await settle();
  assert.deepEqual(driver.clock.active(), ['FirstDigit']);
  interpreter.replace(validateProgram([{ verb: 'pause', length: 1 }]));
  await settle();
  // Only the pause listens now (keys pressed during it are kept for a later gather); the gather's listener is gone.
  assert.equal(driver.leg.listening, 1, 'key collection was cancelled');
  assert.deepEqual(driver.clock.active(), ['Pause']);
  driver.leg.press('5');
  driver.clock.advance(1_000);
  await running;
  assert.equal(driver.hooks.length, 0);
  assert.deepEqual(kinds(driver), ['program']);
  assert.equal(driver.hangups, 1);
});

test('the caller hanging up mid-pause ends the program at once, without hanging up again', async () => {
  const driver = new FakeCallDriver();
  const { running, isDone } = start(driver, [{ verb: 'pause', length: 60 }, { verb: 'say', text: 'never' }]);
  await settle();
  driver.clock.advance(1_000);
  driver.callerHangsUp();
  await settle();
  assert.ok(isDone());
  await running;
  assert.deepEqual(driver.clock.active(), []);
  assert.equal(driver.hangups, 0);
  assert.ok(!driver.log.includes('speech never'));
});

test('the caller hanging up mid-gather stores what was pressed and calls no hook', async () => {
  const driver = new FakeCallDriver();
  const { running } = start(driver, [{ verb: 'gather', actionHook: HOOK }]);
  await settle();
  driver.leg.press('98');
  driver.callerHangsUp();
  await running;
  assert.deepEqual(driver.activities, [{ kind: 'gather', data: { digits: '98', reason: 'hangup' } }]);
  assert.equal(driver.hooks.length, 0);
  assert.equal(driver.hangups, 0);
});

test('the caller hanging up mid-record keeps the recording and calls no hook', async () => {
  const driver = new FakeCallDriver();
  driver.recordResult = (signal) =>
    new Promise((resolve) => signal?.addEventListener('abort', () => resolve({ recordingId: 'rec_9', durationS: 7, reason: 'hangup' })));
  const { running } = start(driver, [{ verb: 'record', actionHook: HOOK }]);
  await settle();
  driver.callerHangsUp();
  await running;
  assert.deepEqual(driver.activities, [{ kind: 'record', data: { recording_id: 'rec_9', duration_s: 7, reason: 'hangup' } }]);
  assert.equal(driver.hooks.length, 0);
});

test('replace() mid-dial aborts the dial through its signal', async () => {
  const driver = new FakeCallDriver();
  driver.dialResult = () => new Promise(() => undefined);
  const { interpreter, running } = start(driver, [{ verb: 'dial', target: [{ type: 'sip', sipUri: 'sip:a@b.example' }] }]);
  await settle();
  interpreter.replace(validateProgram([{ verb: 'hangup' }]));
  await running;
  assert.equal(driver.dials[0]?.options.signal?.aborted, true);
  assert.equal(driver.hangups, 1);
});

test('redirect fetches the next program', async () => {
  const driver = new FakeCallDriver();
  driver.hookAnswer = () => [{ verb: 'play', recording: 'rec_2' }];
  const { running } = start(driver, [{ verb: 'redirect', actionHook: HOOK }, { verb: 'say', text: 'never' }]);
  await settle();
  assert.deepEqual(driver.log.slice(0, 3), [`hook ${HOOK}`, 'activity program', 'answer'], 'redirect itself does not answer');
  driver.leg.finish();
  await running;
  assert.deepEqual(driver.hooks, [{ url: HOOK, extra: {} }]);
  assert.deepEqual(driver.activities, [{ kind: 'program', data: { source: 'redirect', verbs: 1 } }]);
  assert.deepEqual(driver.log.slice(-4), ['answer', 'audio rec_2', 'play 80', 'hangup']);
});

test('endless redirects stop after the limit as a hook_error', async () => {
  const driver = new FakeCallDriver();
  driver.hookAnswer = () => [{ verb: 'redirect', actionHook: HOOK }];
  const { running } = start(driver, [{ verb: 'redirect', actionHook: HOOK }]);
  await running;
  assert.equal(driver.hooks.length, MAX_CONSECUTIVE_REDIRECTS);
  assert.equal(driver.activities.at(-1)?.data['reason'], 'redirect_loop');
  assert.equal(driver.hangups, 1);
});

test('a program that runs out hangs up; hangup ends the program', async () => {
  const driver = new FakeCallDriver(true);
  await start(driver, [{ verb: 'say', text: 'Bye' }]).running;
  assert.deepEqual(driver.log, ['answer', 'speech Bye', 'play 3', 'hangup']);
  const other = new FakeCallDriver(true);
  await start(other, [{ verb: 'hangup' }, { verb: 'say', text: 'never' }]).running;
  assert.deepEqual(other.log, ['hangup']);
});

test('a driver that throws is reported through onError and the call is hung up', async () => {
  const driver = new FakeCallDriver(true);
  driver.speech = () => {
    throw new Error('tts down');
  };
  const { running, errors } = start(driver, [{ verb: 'say', text: 'x' }, { verb: 'say', text: 'y' }]);
  await running;
  assert.deepEqual(errors.map((e) => (e as Error).message), ['tts down']);
  assert.equal(driver.hangups, 1);
});

test('a media stop() that throws inside an abort listener does not escape; the call is hung up', async () => {
  const driver = new FakeCallDriver();
  driver.leg.stop = () => {
    throw new Error('socket closed');
  };
  const errors: unknown[] = [];
  const interpreter = new Interpreter(driver, {
    onError: (err) => {
      errors.push(err);
      throw new Error('a broken error handler');
    },
  });
  const running = interpreter.run(validateProgram([{ verb: 'gather', say: { text: 'Menu' } }]));
  await settle();
  driver.leg.press('1');
  await running;
  assert.deepEqual(errors.map((e) => (e as Error).message), ['socket closed']);
  assert.equal(driver.hangups, 1);
});

test('stop() ends the program and leaves the call up', async () => {
  const driver = new FakeCallDriver();
  const { interpreter, running } = start(driver, [{ verb: 'pause', length: 10 }]);
  await settle();
  interpreter.stop();
  await running;
  assert.equal(driver.hangups, 0);
  assert.deepEqual(driver.clock.active(), []);
});

test('replace() while an action hook is in flight: the live program wins and the late answer is dropped', async () => {
  const driver = new FakeCallDriver();
  let answerHook: (program: unknown) => void = () => undefined;
  driver.hookAnswer = () => new Promise((resolve) => (answerHook = resolve));
  const { interpreter, running } = start(driver, [{ verb: 'gather', numDigits: 1, actionHook: HOOK }]);
  await settle();
  driver.leg.press('3');
  await settle();
  assert.equal(driver.hooks.length, 1);
  interpreter.replace(validateProgram([{ verb: 'hangup' }]));
  answerHook([{ verb: 'say', text: 'too late' }]);
  await running;
  assert.deepEqual(kinds(driver), ['gather', 'program']);
  assert.equal(driver.activities[1]?.data['source'], 'live');
  assert.ok(!driver.log.includes('speech too late'));
  assert.equal(driver.hangups, 1);
});

test('keys pressed while say plays are the next gather\'s first keys (type-ahead); its prompt is then not played', async () => {
  const driver = new FakeCallDriver();
  const { running, errors } = start(driver, [
    { verb: 'say', text: 'Press one, two, three.' },
    { verb: 'gather', numDigits: 3, timeout: 10, say: { text: 'Enter them now' } },
    { verb: 'gather', numDigits: 1, timeout: 1 },
    { verb: 'hangup' },
  ]);
  await settle();
  assert.ok(driver.leg.playing, 'the say plays');
  driver.leg.press('12');
  driver.leg.finish();
  await settle();
  assert.ok(!driver.log.includes('play 14'), 'the gather prompt is skipped');
  driver.leg.press('3');
  await settle();
  driver.clock.advance(1_000);
  await running;
  assert.deepEqual(driver.activities.map((a) => a.data), [
    { digits: '123', reason: 'max_digits' },
    { digits: '', reason: 'timeout' },
  ], 'a gather takes the type-ahead once: the next one starts empty');
  assert.deepEqual(errors, []);
});

test('keys pressed during a record are not type-ahead for a later gather', async () => {
  const driver = new FakeCallDriver();
  let recorded!: () => void;
  driver.recordResult = () =>
    new Promise((resolve) => (recorded = () => resolve({ recordingId: 'rec_1', durationS: 1, reason: 'max_length' })));
  const { running } = start(driver, [
    { verb: 'say', text: 'Hi' },
    { verb: 'record', maxLength: 5, beep: false },
    { verb: 'gather', numDigits: 1, timeout: 1 },
    { verb: 'hangup' },
  ]);
  await settle();
  driver.leg.press('9');
  driver.leg.finish();
  await settle();
  assert.ok(driver.log.includes('record'));
  driver.leg.press('5');
  recorded();
  await settle();
  driver.clock.advance(1_000);
  await running;
  assert.deepEqual(driver.activities.find((a) => a.kind === 'gather')?.data, { digits: '', reason: 'timeout' });
});

test('gather onDigits: the matching branch replaces the rest of the program; no hook is called', async () => {
  const driver = new FakeCallDriver();
  const { running, errors } = start(driver, [
    {
      verb: 'gather', numDigits: 1, finishOnKey: '', say: { text: 'Press 1' }, actionHook: HOOK,
      onDigits: { '1': [{ verb: 'say', text: 'Thanks' }, { verb: 'hangup' }], '#': [{ verb: 'say', text: 'Hash' }] },
    },
    { verb: 'say', text: 'never said' },
  ]);
  await settle();
  driver.leg.press('1');
  await settle();
  driver.leg.finish();
  await running;
  assert.deepEqual(driver.hooks, []);
  assert.deepEqual(driver.log.slice(-3), ['speech Thanks', 'play 6', 'hangup']);
  assert.ok(!driver.log.includes('speech never said') && !driver.log.includes('speech Hash'));
  assert.deepEqual(driver.activities, [
    { kind: 'gather', data: { digits: '1', reason: 'max_digits' } },
    { kind: 'program', data: { source: 'digits', verbs: 2 } },
  ]);
  assert.deepEqual(errors, []);
});

test('gather onDigits: unmatched keys go to the action hook, or to the next verb; a timeout matches nothing', async () => {
  const withHook = new FakeCallDriver();
  withHook.hookAnswer = () => [{ verb: 'hangup' }];
  const hooked = start(withHook, [{ verb: 'gather', numDigits: 1, onDigits: { '1': [{ verb: 'say', text: 'no' }] }, actionHook: HOOK }]);
  await settle();
  withHook.leg.press('7');
  await hooked.running;
  assert.deepEqual(withHook.hooks, [{ url: HOOK, extra: { digits: '7', reason: 'max_digits' } }]);

  const driver = new FakeCallDriver();
  const menu = { verb: 'gather', numDigits: 1, timeout: 2, say: { text: 'Menu' }, onDigits: { '1': [{ verb: 'say', text: 'One' }] } };
  const { running } = start(driver, [menu, menu, { verb: 'say', text: 'Bye' }]);
  await settle();
  driver.leg.press('5');
  await settle();
  driver.leg.finish();
  await settle();
  driver.leg.finish();
  await settle();
  driver.clock.advance(2_000);
  await settle();
  driver.leg.finish();
  await running;
  assert.deepEqual(driver.activities, [
    { kind: 'gather', data: { digits: '5', reason: 'max_digits' } },
    { kind: 'gather', data: { digits: '', reason: 'timeout' } },
  ]);
  assert.deepEqual(driver.log.filter((line) => line.startsWith('speech')), ['speech Menu', 'speech Menu', 'speech Bye']);
});

test('transfer: answered by the far end, the program is over (the leg was handed off)', async () => {
  const driver = new FakeCallDriver();
  const { running, errors } = start(driver, [{ verb: 'transfer', to: '+14155550100' }, { verb: 'say', text: 'never said' }]);
  await running;
  assert.deepEqual(driver.transfers, [{ number: '+14155550100' }]);
  assert.ok(!driver.log.includes('speech never said'));
  assert.deepEqual(driver.activities, [{ kind: 'transfer', data: { to: '+14155550100', outcome: 'completed', sip_status: null } }]);
  assert.deepEqual(errors, []);
});

test('transfer: a failure goes to the actionHook with its status, else the next verb runs', async () => {
  const driver = new FakeCallDriver();
  driver.transferResult = async () => ({ outcome: 'failed', status: 486, reason: 'Busy Here' });
  driver.hookAnswer = () => [{ verb: 'say', text: 'Busy' }];
  const withHook = start(driver, [{ verb: 'transfer', to: 'sip:bob@192.0.2.7', actionHook: HOOK }]);
  await settle();
  driver.leg.finish();
  await withHook.running;
  assert.deepEqual(driver.transfers, [{ uri: 'sip:bob@192.0.2.7' }]);
  assert.deepEqual(driver.hooks, [{ url: HOOK, extra: { transfer_status: 'failed', transfer_sip_status: 486 } }]);
  assert.ok(driver.log.includes('speech Busy'));

  const plain = new FakeCallDriver();
  plain.transferResult = async () => ({ outcome: 'refused', status: 603, reason: 'Decline' });
  const next = start(plain, [{ verb: 'transfer', to: '+14155550100' }, { verb: 'say', text: 'Still here' }]);
  await settle();
  plain.leg.finish();
  await next.running;
  assert.ok(plain.log.includes('speech Still here'), 'the program goes on');
  assert.deepEqual(kinds(plain), ['transfer']);
});

test('handOver: the running verb starts again (for the leg that took over), then the rest', async () => {
  const driver = new FakeCallDriver();
  const { interpreter, running } = start(driver, [{ verb: 'say', text: 'One' }, { verb: 'say', text: 'Two' }]);
  await settle();
  assert.deepEqual(driver.log, ['answer', 'speech One', 'play 3']);
  assert.equal(interpreter.handOver(), true);
  await settle();
  driver.leg.finish();
  await settle();
  driver.leg.finish();
  await running;
  assert.deepEqual(driver.log.filter((l) => l.startsWith('speech')), ['speech One', 'speech One', 'speech Two']);
  assert.deepEqual(driver.activities, [{ kind: 'program', data: { source: 'transfer', verbs: 2 } }]);
  assert.equal(interpreter.handOver(), false, 'nothing runs any more');
});
