import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { refresherFrom, refresherParam, SessionTimer } from '../../../../src/sip/dialog/session-timer.js';
import { VirtualTimers } from '../../../../src/sip/transaction/timers.js';
import { dtmfFromInfo } from '../../../../src/sip/dialog/dtmf-info.js';

function timerWith() {
  const timers = new VirtualTimers();
  const events: string[] = [];
  const timer = new SessionTimer(
    timers,
    () => events.push(`refresh@${timers.now}`),
    () => events.push(`expired@${timers.now}`),
  );
  return { timers, events, timer };
}

describe('SessionTimer (RFC 4028 section 10)', () => {
  test('as the refresher: a refresh at half the interval, once per start', () => {
    const { timers, events, timer } = timerWith();
    timer.start({ seconds: 90, refresher: 'local' });
    timers.advance(44_999);
    assert.deepEqual(events, []);
    timers.advance(1);
    assert.deepEqual(events, ['refresh@45000']);
    timers.advance(600_000);
    assert.deepEqual(events, ['refresh@45000'], 'nothing more until the refresh succeeds and starts the count again');
  });

  test('the refreshee: expiry at the interval minus min(32 s, a third of it)', () => {
    const short = timerWith();
    short.timer.start({ seconds: 90, refresher: 'remote' });
    short.timers.advance(59_999);
    assert.deepEqual(short.events, []);
    short.timers.advance(1);
    assert.deepEqual(short.events, ['expired@60000']);

    const long = timerWith();
    long.timer.start({ seconds: 1_800, refresher: 'remote' });
    long.timers.advance(1_768_000);
    assert.deepEqual(long.events, ['expired@1768000']);
  });

  test('each successful refresh starts the count again with the interval it negotiated', () => {
    const { timers, events, timer } = timerWith();
    timer.start({ seconds: 90, refresher: 'remote' });
    timers.advance(50_000);
    timer.start({ seconds: 120, refresher: 'remote' });
    timers.advance(50_000);
    assert.deepEqual(events, []);
    timers.advance(30_000); // 120 s minus 32 s = 88 s after the refresh
    assert.deepEqual(events, []);
    timers.advance(8_000);
    assert.deepEqual(events, ['expired@138000']);
  });

  test('no interval turns the timers off; stop() cancels', () => {
    const { timers, events, timer } = timerWith();
    timer.start({ seconds: 90, refresher: 'local' });
    timer.start(undefined);
    assert.equal(timer.interval, undefined);
    timers.advance(3_600_000);
    timer.start({ seconds: 90, refresher: 'remote' });
    timer.stop();
    timers.advance(3_600_000);
    assert.deepEqual(events, []);
    assert.deepEqual(timers.active(), []);
  });

  test('a refused refresh leaves the session to expire when a refresh would have been too late', () => {
    const { timers, events, timer } = timerWith();
    timer.start({ seconds: 90, refresher: 'local' });
    timers.advance(45_000);
    timer.expireAfterFailedRefresh();
    timers.advance(14_999);
    assert.deepEqual(events, ['refresh@45000']);
    timers.advance(1);
    // 60 s after the last successful refresh (90 s minus 30 s), as for the refreshee.
    assert.deepEqual(events, ['refresh@45000', 'expired@60000']);
  });

  test('refresher params, seen from either side of a transaction', () => {
    // A message the UAC of the transaction wrote: refresher=uac names the UAC.
    assert.equal(refresherFrom('uac', true), 'local');
    assert.equal(refresherFrom('uac', false), 'remote');
    assert.equal(refresherFrom('uas', true), 'remote');
    assert.equal(refresherFrom('uas', false), 'local');
    for (const weAreUac of [true, false]) {
      for (const refresher of ['local', 'remote'] as const) assert.equal(refresherFrom(refresherParam(refresher, weAreUac), weAreUac), refresher);
    }
  });
});

describe('keys signalled by INFO', () => {
  test('application/dtmf-relay and application/dtmf bodies', () => {
    assert.equal(dtmfFromInfo('application/dtmf-relay', Buffer.from('Signal=5\r\nDuration=160\r\n')), '5');
    assert.equal(dtmfFromInfo('Application/DTMF-Relay; charset=utf-8', Buffer.from('signal= #\r\nDuration=160')), '#');
    assert.equal(dtmfFromInfo('application/dtmf-relay', Buffer.from('Signal=11\r\nDuration=160')), '#');
    assert.equal(dtmfFromInfo('application/dtmf-relay', Buffer.from('Signal=10\r\n')), '*');
    assert.equal(dtmfFromInfo('application/dtmf-relay', Buffer.from('Signal=a\r\n')), 'A');
    assert.equal(dtmfFromInfo('application/dtmf', Buffer.from('7\r\n')), '7');
  });

  test('a known type without a key is null; another type is undefined', () => {
    assert.equal(dtmfFromInfo('application/dtmf-relay', Buffer.from('Duration=160')), null);
    assert.equal(dtmfFromInfo('application/dtmf-relay', Buffer.from('Signal=X')), null);
    assert.equal(dtmfFromInfo('application/dtmf', Buffer.from('12')), null);
    assert.equal(dtmfFromInfo('application/sdp', Buffer.from('v=0')), undefined);
    assert.equal(dtmfFromInfo(undefined, Buffer.from('Signal=5')), undefined);
  });
});
