import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { documentStatus, messageProgram, STATUS } from '../../../../src/api/faces/voice2phone/call-routes.js';
import { documentTime } from '../../../../src/api/faces/voice2phone/policy.js';
import { parseRelaxedJson, toStrictJson } from '../../../../src/api/faces/voice2phone/relaxed-json.js';
import type { Call } from '../../../../src/core/calls/call-service.js';
import { validateProgram } from '../../../../src/core/calls/program.js';

/** Each property stops after this long (fast-check counts an interrupted run as passed): the suite stays fast. */
const TIME_LIMIT_MS = 2_000;

test("relaxed JSON reads the document's body: bare keys quoted, strings and values left alone", () => {
  assert.deepEqual(parseRelaxedJson('{ Phone: { "Number":"4252337837", "CountryCode":"US" }, Message: "Please press one", Dtmf: { "1" : "Thank you" } }'), {
    Phone: { Number: '4252337837', CountryCode: 'US' },
    Message: 'Please press one',
    Dtmf: { '1': 'Thank you' },
  });
  assert.equal(toStrictJson('{a:true,b:[null,false,],"c: d":"{e: f,}",}'), '{"a":true,"b":[null,false],"c: d":"{e: f,}"}');
  assert.deepEqual(parseRelaxedJson('{"quote \\" a: b": 1, $x_1 : {y:2}}'), { 'quote " a: b': 1, $x_1: { y: 2 } });
  for (const bad of ['', 'Phone=1', '{a:}', '{1a: 2}', '{a b: 1}', '[1,,]', '{"a": undefined}', "{'a': 1}", '{a: 1']) {
    assert.throws(() => parseRelaxedJson(bad), SyntaxError, bad);
  }
});

test('relaxed JSON reads all JSON as JSON.parse does, and objects written with bare keys the same (property)', () => {
  fc.assert(
    fc.property(fc.jsonValue(), (value) => {
      const text = JSON.stringify(value);
      assert.deepEqual(parseRelaxedJson(text), JSON.parse(text));
    }),
    { interruptAfterTimeLimit: TIME_LIMIT_MS, numRuns: 2_000 },
  );
  const identifier = fc.stringMatching(/^[A-Za-z_$][A-Za-z0-9_$]{0,8}$/);
  const leaf = fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null));
  const tree = fc.letrec((tie) => ({ node: fc.oneof({ depthSize: 'small' }, leaf, fc.dictionary(identifier, tie('node'), { maxKeys: 4 })) })).node;
  const bare = (value: unknown): string =>
    value !== null && typeof value === 'object'
      ? `{ ${Object.entries(value).map(([k, v]) => `${k} : ${bare(v)}`).join(' ,\n')} , }`
      : JSON.stringify(value);
  fc.assert(
    fc.property(tree, (value) => assert.deepEqual(parseRelaxedJson(bare(value)), JSON.parse(JSON.stringify(value)))),
    { interruptAfterTimeLimit: TIME_LIMIT_MS, numRuns: 1_000 },
  );
});

test('relaxed JSON: any text parses or throws a SyntaxError, nothing else (property)', () => {
  fc.assert(
    fc.property(fc.string({ unit: fc.constantFrom(...'{}[],:"\\ ab1$_-.etrufnl'.split('')), maxLength: 60 }), (text) => {
      try {
        parseRelaxedJson(text);
      } catch (error) {
        assert.ok(error instanceof SyntaxError, String(error));
      }
    }),
    { interruptAfterTimeLimit: TIME_LIMIT_MS, numRuns: 5_000 },
  );
});

test('the program: say the message and wait for a key, twice; a mapped key says its reply and hangs up', () => {
  const program = validateProgram(messageProgram('Please press one', { '1': 'Thank you', '#': 'Bye' }));
  const ask = {
    verb: 'gather',
    numDigits: 1,
    finishOnKey: '',
    timeout: 5,
    say: { text: 'Please press one' },
    onDigits: {
      '1': [{ verb: 'say', text: 'Thank you' }, { verb: 'hangup' }],
      '#': [{ verb: 'say', text: 'Bye' }, { verb: 'hangup' }],
    },
  };
  assert.deepEqual(program, [ask, ask, { verb: 'hangup' }]);
  const every = Object.fromEntries([...'0123456789*#'].map((key) => [key, 'x'.repeat(1_000)]));
  assert.equal(validateProgram(messageProgram('x'.repeat(1_000), every)).length, 3, 'twelve replies fit the verb limit');
  assert.deepEqual(validateProgram(messageProgram('Hello', {}))[0], { verb: 'gather', numDigits: 1, finishOnKey: '', timeout: 5, say: { text: 'Hello' } });
});

test('Status: the first leg state and outcome as the published integers', () => {
  const call = (state: Call['state'], outcome: Call['outcome'] = null) => ({ state, outcome }) as Call;
  assert.deepEqual(STATUS, { queued: 0, ringing: 1, in_progress: 2, completed: 3, busy: 4, no_answer: 5, failed: 6 });
  assert.equal(documentStatus(call('queued')), 0);
  assert.equal(documentStatus(call('dialing')), 0);
  assert.equal(documentStatus(call('ringing')), 1);
  assert.equal(documentStatus(call('early_media')), 1);
  assert.equal(documentStatus(call('answered')), 2);
  assert.equal(documentStatus(call('ended', 'completed')), 3);
  assert.equal(documentStatus(call('ended', 'busy')), 4);
  assert.equal(documentStatus(call('ended', 'no_answer')), 5);
  for (const outcome of ['rejected', 'unallocated', 'invalid_number', 'canceled', 'failed'] as const) {
    assert.equal(documentStatus(call('ended', outcome)), 6, outcome);
  }
});

test("times in the document's format: UTC with milliseconds, no zone suffix", () => {
  assert.equal(documentTime('2016-08-01T18:33:08.997Z'), '2016-08-01T18:33:08.997');
});
