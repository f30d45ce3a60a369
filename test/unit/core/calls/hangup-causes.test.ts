import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canTransition } from '../../../../src/core/calls/call-state.js';
import { resultForEnd, resultForSipStatus, shouldFailOver } from '../../../../src/core/calls/hangup-causes.js';

test('SIP final responses map to outcomes and Q.850 causes', () => {
  const table: Array<[number, string, number, string]> = [
    [486, 'busy', 17, 'USER_BUSY'],
    [600, 'busy', 17, 'USER_BUSY'],
    [603, 'rejected', 21, 'CALL_REJECTED'],
    [404, 'unallocated', 1, 'UNALLOCATED_NUMBER'],
    [604, 'unallocated', 1, 'UNALLOCATED_NUMBER'],
    [484, 'invalid_number', 28, 'INVALID_NUMBER_FORMAT'],
    [480, 'no_answer', 19, 'NO_ANSWER'],
    [408, 'no_answer', 19, 'NO_ANSWER'],
    [500, 'failed', 41, 'NORMAL_TEMPORARY_FAILURE'],
    [503, 'failed', 41, 'NORMAL_TEMPORARY_FAILURE'],
    [599, 'failed', 41, 'NORMAL_TEMPORARY_FAILURE'],
    [488, 'failed', 88, 'INCOMPATIBLE_DESTINATION'],
  ];
  for (const [status, outcome, code, name] of table) {
    assert.deepEqual(resultForSipStatus(status), { outcome, cause: { code, name } }, String(status));
  }
});

test('ends without a SIP status', () => {
  assert.deepEqual(resultForEnd('ring_timeout', false), { outcome: 'no_answer', cause: { code: 19, name: 'NO_ANSWER' } });
  assert.deepEqual(resultForEnd('time_limit', true), { outcome: 'completed', cause: { code: 16, name: 'NORMAL_CLEARING' } });
  assert.deepEqual(resultForEnd('remote_hangup', true).outcome, 'completed');
  assert.deepEqual(resultForEnd('api_hangup', false).outcome, 'canceled');
  assert.deepEqual(resultForEnd('timeout', false).cause.name, 'RECOVERY_ON_TIMER_EXPIRE');
  assert.deepEqual(resultForEnd('crash_recovery', false).outcome, 'failed');
});

test('rtp_timeout: an answered call completed by a timer (102), an unanswered one failed', () => {
  assert.deepEqual(resultForEnd('rtp_timeout', true), { outcome: 'completed', cause: { code: 102, name: 'RECOVERY_ON_TIMER_EXPIRE' } });
  assert.deepEqual(resultForEnd('rtp_timeout', false), { outcome: 'failed', cause: { code: 102, name: 'RECOVERY_ON_TIMER_EXPIRE' } });
});

test('failover only on 5xx or no response, never on the callee answering 4xx/6xx', () => {
  assert.equal(shouldFailOver(503), true);
  assert.equal(shouldFailOver(undefined), true);
  for (const status of [404, 486, 603, 600, 480, 487]) assert.equal(shouldFailOver(status), false, String(status));
});

test('the state machine only moves forward', () => {
  assert.equal(canTransition('queued', 'dialing'), true);
  assert.equal(canTransition('ringing', 'early_media'), true);
  assert.equal(canTransition('early_media', 'ringing'), true);
  assert.equal(canTransition('answered', 'ringing'), false);
  assert.equal(canTransition('ended', 'answered'), false);
  assert.equal(canTransition('queued', 'answered'), false);
  assert.equal(canTransition('queued', 'ringing'), true, 'an inbound call rings at once');
});
