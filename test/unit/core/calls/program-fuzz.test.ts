import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Interpreter } from '../../../../src/core/calls/interpreter.js';
import { validateProgram } from '../../../../src/core/calls/program.js';
import { DialplaneError } from '../../../../src/errors.js';
import { FakeCallDriver, settle } from '../../../helpers/fake-call-driver.js';

/** Each property stops after this long (fast-check counts an interrupted run as passed): the suite stays fast. */
const TIME_LIMIT_MS = 3_000;

const hook = fc.constantFrom('https://app.example.com/hook', 'http://127.0.0.1:9000/next');
const key = fc.constantFrom('1', '9', '*', '#', 'A', '');
const text = fc.string({ minLength: 1, maxLength: 40 });
const loop = fc.integer({ min: 1, max: 3 });
const sayFields = fc.record({ text, voice: fc.constantFrom('slt', 'kal'), loop }, { requiredKeys: ['text'] });
const playFields = fc.oneof(
  fc.record({ url: hook, loop }, { requiredKeys: ['url'] }),
  fc.record({ recording: fc.constantFrom('rec_1', 'greeting.v2'), loop }, { requiredKeys: ['recording'] }),
);
const target = fc.oneof(
  fc.record({ type: fc.constant('phone'), number: fc.constantFrom('+14155550100', '0527121102', '100') }),
  fc.record({ type: fc.constant('extension'), extension: fc.constantFrom('ext_1', 'ext_4Fq2u8ZrT0bWc1xYv9Lm') }),
  fc.record({ type: fc.constant('sip'), sipUri: fc.constantFrom('sip:alice@pbx.example.com', 'sip:100@10.0.0.1:5062') }),
);

const verb = fc.oneof(
  sayFields.map((fields) => ({ verb: 'say', ...fields })),
  playFields.map((fields) => ({ verb: 'play', ...fields })),
  fc.integer({ min: 1, max: 36_000 }).map((tenths) => ({ verb: 'pause', length: tenths / 10 })),
  fc.record(
    {
      verb: fc.constant('gather'),
      input: fc.constant(['digits']),
      numDigits: fc.integer({ min: 1, max: 32 }),
      finishOnKey: key,
      timeout: fc.integer({ min: 1, max: 600 }),
      interDigitTimeout: fc.integer({ min: 1, max: 600 }),
      say: sayFields,
      actionHook: hook,
    },
    { requiredKeys: ['verb'] },
  ),
  fc.record({ verb: fc.constant('gather'), play: playFields }),
  fc.record(
    {
      verb: fc.constant('dial'),
      target: fc.array(target, { minLength: 1, maxLength: 3 }),
      callerId: fc.constant('+14155551234'),
      timeout: fc.integer({ min: 1, max: 600 }),
      timeLimit: fc.integer({ min: 1, max: 86_400 }),
      actionHook: hook,
    },
    { requiredKeys: ['verb', 'target'] },
  ),
  fc.record(
    { verb: fc.constant('record'), maxLength: fc.integer({ min: 1, max: 14_400 }), finishOnKey: key, beep: fc.boolean(), actionHook: hook },
    { requiredKeys: ['verb'] },
  ),
  fc.constant({ verb: 'hangup' }),
  hook.map((actionHook) => ({ verb: 'redirect', actionHook })),
);
const program = fc.array(verb, { minLength: 1, maxLength: 12 });

/** A valid program with one thing changed: a field set to any JSON value, removed, or added. */
const almostValid = fc
  .tuple(program, fc.nat(), fc.constantFrom('set', 'delete', 'add'), fc.string({ maxLength: 12 }), fc.jsonValue())
  .map(([verbs, pick, change, name, value]) => {
    const copy = structuredClone(verbs) as Array<Record<string, unknown>>;
    const target = copy[pick % copy.length]!;
    const fields = Object.keys(target);
    const field = change === 'add' ? name : fields[pick % fields.length]!;
    if (change === 'delete') delete target[field];
    else target[field] = value;
    return copy;
  });

function onlyInvalidProgram(input: unknown): void {
  const before = JSON.stringify(input);
  try {
    validateProgram(input);
  } catch (err) {
    assert.ok(err instanceof DialplaneError && err.code === 'invalid_program', `unexpected ${String(err)}`);
    assert.ok(/^(verb \d+|a program)/.test(err.message), err.message);
  }
  assert.equal(JSON.stringify(input), before, 'the input was not changed');
}

test('random JSON values never make validateProgram throw anything but invalid_program', () => {
  fc.assert(fc.property(fc.jsonValue(), onlyInvalidProgram), { numRuns: 1_000, interruptAfterTimeLimit: TIME_LIMIT_MS });
  fc.assert(fc.property(fc.array(fc.jsonValue(), { minLength: 1, maxLength: 5 }), onlyInvalidProgram), {
    numRuns: 1_000,
    interruptAfterTimeLimit: TIME_LIMIT_MS,
  });
});

test('generated programs are valid; almost-valid ones are accepted or refused with invalid_program', () => {
  fc.assert(
    fc.property(program, (verbs) => {
      assert.deepEqual(validateProgram(verbs), JSON.parse(JSON.stringify(verbs)));
    }),
    { numRuns: 300, interruptAfterTimeLimit: TIME_LIMIT_MS },
  );
  fc.assert(fc.property(almostValid, onlyInvalidProgram), { numRuns: 1_000, interruptAfterTimeLimit: TIME_LIMIT_MS });
});

test('random valid programs run to completion on the fake driver', async () => {
  const hookAnswers: unknown[] = [[{ verb: 'say', text: 'next' }], [{ verb: 'hangup' }], 'not a program', new Error('hook down')];
  const moment = fc.option(fc.integer({ min: 0, max: 30 }));
  let runs = 0;
  await fc.assert(
    fc.asyncProperty(program, fc.nat(), moment, moment, async (verbs, seed, pressAfter, hangupAfter) => {
      runs += 1;
      const driver = new FakeCallDriver(true);
      let hooks = seed;
      driver.hookAnswer = () => {
        const answer = hookAnswers[hooks++ % hookAnswers.length];
        if (answer instanceof Error) throw answer;
        return answer;
      };
      const errors: unknown[] = [];
      const running = new Interpreter(driver, { onError: (err) => errors.push(err) }).run(validateProgram(verbs));
      if (pressAfter !== null) void settle(pressAfter).then(() => driver.leg.press('12#'));
      if (hangupAfter !== null) void settle(hangupAfter).then(() => driver.callerHangsUp());
      let timer: NodeJS.Timeout | undefined;
      const hung = new Promise<'hung'>((resolve) => (timer = setTimeout(() => resolve('hung'), 2_000)));
      const result = await Promise.race([running.then(() => 'done' as const), hung]);
      clearTimeout(timer);
      assert.equal(result, 'done', `the program did not finish: ${JSON.stringify(verbs)}`);
      assert.deepEqual(errors, []);
      assert.ok(driver.hangups <= 1, 'hung up at most once');
      assert.ok(driver.hangups === 1 || driver.log.includes('caller hangs up'), 'the call did not end');
    }),
    { numRuns: 150, interruptAfterTimeLimit: TIME_LIMIT_MS },
  );
  assert.ok(runs >= 10, `only ${runs} programs ran within the time limit`);
});
