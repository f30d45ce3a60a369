import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { validateProgram } from '../../../../src/core/calls/program.js';
import { DialplaneError } from '../../../../src/errors.js';

/** Asserts the program is refused with invalid_program naming this index and field. */
function refused(input: unknown, index: number | null, field: string | null, message?: RegExp): void {
  const before = structuredClone(input);
  assert.throws(
    () => validateProgram(input),
    (err: unknown) => {
      assert.ok(err instanceof DialplaneError, String(err));
      assert.equal(err.code, 'invalid_program');
      assert.equal(err.status, 400);
      assert.deepEqual(err.details, { index, field });
      if (index !== null) assert.ok(err.message.startsWith(`verb ${index}`), err.message);
      if (field !== null) assert.ok(err.message.includes(field), err.message);
      if (message) assert.match(err.message, message);
      return true;
    },
  );
  assert.deepEqual(input, before, 'the input was not changed');
}

const hook = 'https://example.com/hook';

describe('validateProgram: the program', () => {
  test('must be an array of 1 to 100 verbs', () => {
    for (const input of [undefined, null, {}, 'say', 42, []]) refused(input, null, null, /1 to 100 verbs/);
    refused(Array.from({ length: 101 }, () => ({ verb: 'hangup' })), null, null);
    assert.equal(validateProgram(Array.from({ length: 100 }, () => ({ verb: 'hangup' }))).length, 100);
  });

  test('each verb is an object with a known verb name', () => {
    refused([{ verb: 'hangup' }, 'say'], 1, 'verb');
    refused([null], 0, 'verb');
    refused([[{ verb: 'say' }]], 0, 'verb');
    refused([{ verb: 'sms', text: 'x' }], 0, 'verb', /one of say, play/);
    refused([{ text: 'x' }], 0, 'verb');
  });

  test('the message names the index, verb and field', () => {
    refused([{ verb: 'say', text: 'hi' }, { verb: 'say', text: 'hi' }, { verb: 'gather', numDigits: 33 }], 2, 'numDigits',
      /^verb 2 \(gather\): numDigits must be an integer from 1 to 32$/);
  });

  test('the result is a frozen copy and the input is never changed', () => {
    const input = [{ verb: 'gather', say: { text: 'Enter', loop: 2 }, actionHook: hook }, { verb: 'hangup' }];
    const before = structuredClone(input);
    const program = validateProgram(input);
    assert.deepEqual(program, before);
    assert.notEqual(program, input);
    assert.notEqual(program[0], input[0]);
    assert.ok(Object.isFrozen(program) && Object.isFrozen(program[0]));
    assert.deepEqual(input, before);
  });

  test('fields set to undefined are treated as absent and left out', () => {
    assert.deepEqual(validateProgram([{ verb: 'say', text: 'a', voice: undefined }]), [{ verb: 'say', text: 'a' }]);
  });

  test('an own __proto__ key (as JSON.parse makes) is an unknown field', () => {
    refused(JSON.parse('[{"verb":"hangup","__proto__":{"x":1}}]'), 0, '__proto__');
  });
});

describe('validateProgram: each verb', () => {
  test('say', () => {
    validateProgram([{ verb: 'say', text: 'Hello', voice: 'slt', loop: 100 }]);
    refused([{ verb: 'say' }], 0, 'text');
    refused([{ verb: 'say', text: '' }], 0, 'text');
    refused([{ verb: 'say', text: 'x'.repeat(4097) }], 0, 'text');
    refused([{ verb: 'say', text: 7 }], 0, 'text');
    refused([{ verb: 'say', text: 'a', loop: 0 }], 0, 'loop');
    refused([{ verb: 'say', text: 'a', loop: 101 }], 0, 'loop');
    refused([{ verb: 'say', text: 'a', loop: 1.5 }], 0, 'loop');
    refused([{ verb: 'say', text: 'a', voice: '' }], 0, 'voice');
    refused([{ verb: 'say', text: 'a', speed: 2 }], 0, 'speed', /not a field/);
  });

  test('play', () => {
    validateProgram([{ verb: 'play', url: 'http://example.com/a.wav', loop: 2 }, { verb: 'play', recording: 'rec_1' }]);
    refused([{ verb: 'play' }], 0, 'url', /not both/);
    refused([{ verb: 'play', url: 'https://x.test/a.wav', recording: 'r' }], 0, 'url');
    refused([{ verb: 'play', url: 'ftp://x.test/a.wav' }], 0, 'url', /http or https/);
    refused([{ verb: 'play', recording: 'no spaces' }], 0, 'recording');
    refused([{ verb: 'play', recording: 'r', loop: -1 }], 0, 'loop');
  });

  test('pause', () => {
    validateProgram([{ verb: 'pause', length: 0.5 }, { verb: 'pause', length: 3600 }]);
    refused([{ verb: 'pause' }], 0, 'length');
    refused([{ verb: 'pause', length: 0 }], 0, 'length');
    refused([{ verb: 'pause', length: 3601 }], 0, 'length');
    refused([{ verb: 'pause', length: '2' }], 0, 'length');
    refused([{ verb: 'pause', length: Number.NaN }], 0, 'length');
  });

  test('gather', () => {
    validateProgram([{ verb: 'gather' }]);
    validateProgram([{
      verb: 'gather', input: ['digits'], numDigits: 32, finishOnKey: '', timeout: 600, interDigitTimeout: 1,
      play: { url: 'https://example.com/menu.wav' }, actionHook: hook,
    }]);
    refused([{ verb: 'gather', input: ['speech'] }], 0, 'input');
    refused([{ verb: 'gather', numDigits: 0 }], 0, 'numDigits');
    refused([{ verb: 'gather', finishOnKey: '##' }], 0, 'finishOnKey');
    refused([{ verb: 'gather', finishOnKey: 'E' }], 0, 'finishOnKey');
    refused([{ verb: 'gather', timeout: 0 }], 0, 'timeout');
    refused([{ verb: 'gather', interDigitTimeout: 601 }], 0, 'interDigitTimeout');
    refused([{ verb: 'gather', actionHook: 'javascript:alert(1)' }], 0, 'actionHook');
    refused([{ verb: 'gather', actionHook: 'https://u:p@example.com/' }], 0, 'actionHook', /user name/);
    refused([{ verb: 'gather', actionHook: `https://example.com/${'a'.repeat(2048)}` }], 0, 'actionHook', /2048/);
  });

  test('gather prompts: say or play only, fields named by path', () => {
    refused([{ verb: 'gather', say: { text: 'a' }, play: { recording: 'r' } }], 0, 'play', /one prompt/);
    refused([{ verb: 'gather', dial: { target: [] } }], 0, 'dial');
    refused([{ verb: 'gather', say: 'hello' }], 0, 'say');
    refused([{ verb: 'gather', say: { verb: 'say', text: 'a' } }], 0, 'say.verb');
    refused([{ verb: 'gather', say: { text: '' } }], 0, 'say.text');
    refused([{ verb: 'gather', play: { url: 'file:///etc/passwd' } }], 0, 'play.url');
    refused([{ verb: 'gather', say: { text: 'a', loop: 0 } }], 0, 'say.loop');
  });

  test('dial', () => {
    validateProgram([{
      verb: 'dial', callerId: '+14155551234', timeout: 600, timeLimit: 86_400, actionHook: hook,
      target: [
        { type: 'phone', number: '+1 (415) 555-0100' },
        { type: 'extension', extension: 'ext_4Fq2u8ZrT0bWc1xYv9Lm' },
        { type: 'sip', sipUri: 'sip:alice@pbx.example.com:5062' },
        { type: 'sip', sipUri: 'sip:alice@10.0.0.1:5061;transport=tls' },
        { type: 'sip', sipUri: 'sips:alice@10.0.0.1' },
      ],
    }]);
    refused([{ verb: 'dial', target: [{ type: 'sip', sipUri: 'sip:alice@10.0.0.1;transport=sctp' }] }], 0, 'target[0].sipUri');
    refused([{ verb: 'dial' }], 0, 'target');
    refused([{ verb: 'dial', target: [] }], 0, 'target');
    refused([{ verb: 'dial', target: Array.from({ length: 11 }, () => ({ type: 'phone', number: '100' })) }], 0, 'target');
    refused([{ verb: 'dial', target: [{ type: 'phone', number: '100' }, { type: 'fax', number: '1' }] }], 0, 'target[1].type');
    refused([{ verb: 'dial', target: ['+14155550100'] }], 0, 'target[0].type');
    refused([{ verb: 'dial', target: [{ type: 'phone', number: 'abc' }] }], 0, 'target[0].number');
    refused([{ verb: 'dial', target: [{ type: 'phone', extension: 'e' }] }], 0, 'target[0].extension');
    refused([{ verb: 'dial', target: [{ type: 'sip', sipUri: 'alice@host' }] }], 0, 'target[0].sipUri');
    const ok = [{ type: 'phone', number: '100' }];
    refused([{ verb: 'dial', target: ok, timeout: 0 }], 0, 'timeout');
    refused([{ verb: 'dial', target: ok, timeLimit: 86_401 }], 0, 'timeLimit');
    refused([{ verb: 'dial', target: ok, callerId: 'anonymous' }], 0, 'callerId');
  });

  test('record', () => {
    validateProgram([{ verb: 'record' }, { verb: 'record', maxLength: 14_400, finishOnKey: '*', beep: false, actionHook: hook }]);
    refused([{ verb: 'record', maxLength: 0 }], 0, 'maxLength');
    refused([{ verb: 'record', beep: 'yes' }], 0, 'beep');
    refused([{ verb: 'record', finishOnKey: 1 }], 0, 'finishOnKey');
  });

  test('transfer', () => {
    assert.deepEqual(validateProgram([{ verb: 'transfer', to: '+14155550100' }]), [{ verb: 'transfer', to: '+14155550100' }]);
    validateProgram([{ verb: 'transfer', to: 'sip:alice@192.0.2.7:5062', actionHook: hook }]);
    refused([{ verb: 'transfer' }], 0, 'to');
    refused([{ verb: 'transfer', to: 'mailto:a@b' }], 0, 'to', /phone number or a sip/);
    refused([{ verb: 'transfer', to: '+1415', target: [] }], 0, 'target');
  });

  test('hangup and redirect', () => {
    validateProgram([{ verb: 'redirect', actionHook: 'http://127.0.0.1:9000/next' }, { verb: 'hangup' }]);
    refused([{ verb: 'hangup', reason: 'busy' }], 0, 'reason');
    refused([{ verb: 'redirect' }], 0, 'actionHook');
    refused([{ verb: 'redirect', actionHook: 'not a url' }], 0, 'actionHook', /not a URL/);
  });
});

describe('validateProgram: gather onDigits', () => {
  const say = (text: string) => ({ verb: 'say', text });

  test('branches by key sequence, each a frozen program checked by the same rules', () => {
    const program = validateProgram([
      { verb: 'gather', numDigits: 2, finishOnKey: '', onDigits: { '1': [say('one'), { verb: 'hangup' }], '*#': [say('star hash')] } },
    ]);
    const gather = program[0] as Extract<(typeof program)[number], { verb: 'gather' }>;
    assert.deepEqual(gather.onDigits, { '1': [say('one'), { verb: 'hangup' }], '*#': [say('star hash')] });
    assert.ok(Object.isFrozen(gather.onDigits) && Object.isFrozen(gather.onDigits?.['1']));
    // A branch may hold another gather with branches of its own.
    validateProgram([{ verb: 'gather', numDigits: 1, onDigits: { '9': [{ verb: 'gather', numDigits: 1, onDigits: { '1': [say('deep')] } }] } }]);
  });

  test('a problem inside a branch is named by its path', () => {
    refused([{ verb: 'gather', onDigits: { '1': [{ verb: 'say' }] } }], 0, 'onDigits.1[0].text');
    refused([say('x'), { verb: 'gather', onDigits: { '1': [say('ok'), { verb: 'fax' }] } }], 1, 'onDigits.1[1].verb');
    refused([{ verb: 'gather', onDigits: { '1': [{ verb: 'gather', onDigits: { '2': [{ verb: 'pause' }] } }] } }], 0, 'onDigits.1[0].onDigits.2[0].length');
  });

  test('names and values: keys only, a non-empty program each, at least one entry', () => {
    refused([{ verb: 'gather', onDigits: {} }], 0, 'onDigits');
    refused([{ verb: 'gather', onDigits: [] }], 0, 'onDigits');
    refused([{ verb: 'gather', onDigits: { x: [say('a')] } }], 0, 'onDigits.x');
    refused([{ verb: 'gather', onDigits: { '1': [] } }], 0, 'onDigits.1');
    refused([{ verb: 'gather', onDigits: { '1': say('a') } }], 0, 'onDigits.1');
    refused([{ verb: 'gather', onDigits: { ['1'.repeat(33)]: [say('a')] } }], 0, `onDigits.${'1'.repeat(33)}`);
  });

  test('a sequence that can never be collected is refused', () => {
    refused([{ verb: 'gather', numDigits: 1, onDigits: { '12': [say('a')] } }], 0, 'onDigits.12', /numDigits/);
    refused([{ verb: 'gather', onDigits: { '1#': [say('a')] } }], 0, 'onDigits.1#', /finishOnKey/);
    refused([{ verb: 'gather', finishOnKey: '*', onDigits: { '*': [say('a')] } }], 0, 'onDigits.*', /finishOnKey/);
    validateProgram([{ verb: 'gather', finishOnKey: '', onDigits: { '#': [say('a')] } }]);
    validateProgram([{ verb: 'gather', finishOnKey: '*', onDigits: { '#': [say('a')] } }]);
  });

  test('at most 100 verbs in all, nested ones counted', () => {
    const branch = Array.from({ length: 50 }, () => ({ verb: 'hangup' }));
    validateProgram([{ verb: 'gather', onDigits: { '1': branch.slice(0, 49), '2': branch } }]);
    refused([{ verb: 'gather', onDigits: { '1': branch, '2': branch } }], 0, 'onDigits.2[49].verb', /at most 100 verbs/);
  });
});
