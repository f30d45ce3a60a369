import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { SipRequest, SipResponse } from '../../../../src/sip/message/types.js';
import { InviteClientTransaction, NonInviteClientTransaction } from '../../../../src/sip/transaction/client-transactions.js';
import { InviteServerTransaction, NonInviteServerTransaction } from '../../../../src/sip/transaction/server-transactions.js';
import { DEFAULT_TIMER_BASE, VirtualTimers, timerDurations } from '../../../../src/sip/transaction/timers.js';

const request = (method: string): SipRequest => ({
  kind: 'request',
  method,
  uri: 'sip:+14155550100@127.0.0.1:5090',
  headers: [
    { name: 'Via', value: 'SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKabc' },
    { name: 'CSeq', value: `1 ${method}` },
  ],
  body: Buffer.alloc(0),
});
const response = (status: number): SipResponse => ({ kind: 'response', status, reason: 'X', headers: [], body: Buffer.alloc(0) });
const ackFor = (): SipRequest => request('ACK');

function recorder() {
  const sent: Array<SipRequest | SipResponse> = [];
  const heard: string[] = [];
  return {
    sent,
    heard,
    send: (m: SipRequest | SipResponse) => void sent.push(m),
    user: {
      onResponse: (r: SipResponse) => void heard.push(`response ${r.status}`),
      onTimeout: () => void heard.push('timeout'),
      onTransportError: (e: Error) => void heard.push(`transport ${e.message}`),
      onTerminated: () => void heard.push('terminated'),
    },
  };
}

describe('timer values derive from T1/T2/T4', () => {
  test('RFC 3261 Table 4 for UDP, zero waits for TCP', () => {
    const udp = timerDurations(DEFAULT_TIMER_BASE, false);
    assert.deepEqual([udp.A, udp.B, udp.D, udp.E, udp.F, udp.G, udp.H, udp.I, udp.J, udp.K], [500, 32000, 32000, 500, 32000, 500, 32000, 5000, 32000, 5000]);
    const tcp = timerDurations(DEFAULT_TIMER_BASE, true);
    assert.deepEqual([tcp.D, tcp.I, tcp.J, tcp.K], [0, 0, 0, 0]);
    assert.equal(timerDurations({ T1: 1000, T2: 4000, T4: 5000 }, false).B, 64_000);
  });
});

describe('INVITE client transaction', () => {
  test('UDP: retransmits at 500, 1000, 2000 ... ms until a provisional, then waits without a timeout', () => {
    const timers = new VirtualTimers();
    const r = recorder();
    const tx = new InviteClientTransaction({ request: request('INVITE'), reliable: false, timers, base: DEFAULT_TIMER_BASE, send: r.send, user: r.user }, ackFor);
    tx.start();
    timers.advance(3_499);
    assert.equal(r.sent.length, 3, 'sent at 0, 500, 1500');
    timers.advance(1);
    assert.equal(r.sent.length, 4, 'and at 3500');
    tx.receive(response(180));
    assert.equal(tx.state, 'proceeding');
    timers.advance(120_000);
    assert.equal(r.sent.length, 4, 'no retransmission after a provisional');
    assert.deepEqual(r.heard, ['response 180'], 'no Timer B once proceeding');
  });

  test('Timer B: no response at all in 64*T1 is a timeout', () => {
    const timers = new VirtualTimers();
    const r = recorder();
    const tx = new InviteClientTransaction({ request: request('INVITE'), reliable: false, timers, base: DEFAULT_TIMER_BASE, send: r.send, user: r.user }, ackFor);
    tx.start();
    timers.advance(31_999);
    assert.equal(tx.state, 'calling');
    timers.advance(1);
    assert.equal(tx.state, 'terminated');
    assert.deepEqual(r.heard, ['terminated', 'timeout']);
    assert.equal(r.sent.length, 7, 'INVITE at 0, .5, 1.5, 3.5, 7.5, 15.5, 31.5 s');
  });

  test('a failure response is ACKed by the transaction, its retransmissions too, then Timer D ends it', () => {
    const timers = new VirtualTimers();
    const r = recorder();
    const tx = new InviteClientTransaction({ request: request('INVITE'), reliable: false, timers, base: DEFAULT_TIMER_BASE, send: r.send, user: r.user }, ackFor);
    tx.start();
    tx.receive(response(486));
    assert.equal(tx.state, 'completed');
    assert.equal((r.sent[1] as SipRequest).method, 'ACK');
    tx.receive(response(486));
    assert.equal(r.sent.length, 3, 'the lost ACK is re-sent for the retransmitted 486');
    assert.deepEqual(r.heard, ['response 486'], 'the TU hears the failure once');
    timers.advance(32_000);
    assert.equal(tx.state, 'terminated');
  });

  test('2xx: Accepted, where retransmitted 2xx still reach the TU until Timer M', () => {
    const timers = new VirtualTimers();
    const r = recorder();
    const tx = new InviteClientTransaction({ request: request('INVITE'), reliable: true, timers, base: DEFAULT_TIMER_BASE, send: r.send, user: r.user }, ackFor);
    tx.start();
    tx.receive(response(200));
    tx.receive(response(200));
    assert.deepEqual(r.heard, ['response 200', 'response 200']);
    assert.equal(r.sent.length, 1, 'the transaction does not ACK a 2xx');
    timers.advance(32_000);
    assert.equal(tx.state, 'terminated');
  });

  test('TCP: no retransmissions, and Completed ends at once', () => {
    const timers = new VirtualTimers();
    const r = recorder();
    const tx = new InviteClientTransaction({ request: request('INVITE'), reliable: true, timers, base: DEFAULT_TIMER_BASE, send: r.send, user: r.user }, ackFor);
    tx.start();
    timers.advance(10_000);
    assert.equal(r.sent.length, 1);
    tx.receive(response(503));
    assert.equal(tx.state, 'terminated');
  });

  test('a transport failure is reported and ends the transaction', () => {
    const timers = new VirtualTimers();
    const r = recorder();
    const tx = new InviteClientTransaction(
      { request: request('INVITE'), reliable: true, timers, base: DEFAULT_TIMER_BASE, send: () => { throw new Error('ECONNREFUSED'); }, user: r.user },
      ackFor,
    );
    tx.start();
    assert.equal(tx.state, 'terminated');
    assert.deepEqual(r.heard, ['terminated', 'transport ECONNREFUSED']);
    assert.deepEqual(timers.active(), []);
  });
});

describe('non-INVITE client transaction', () => {
  test('Timer E doubles up to T2, then T2 once proceeding; Timer F times out', () => {
    const timers = new VirtualTimers();
    const r = recorder();
    const tx = new NonInviteClientTransaction({ request: request('OPTIONS'), reliable: false, timers, base: DEFAULT_TIMER_BASE, send: r.send, user: r.user });
    tx.start();
    timers.advance(15_500);
    // 0, .5, 1.5, 3.5, 7.5, 11.5, 15.5
    assert.equal(r.sent.length, 7);
    tx.receive(response(100));
    timers.advance(8_000);
    assert.equal(r.sent.length, 9, 'every T2 while proceeding');
    timers.advance(8_500);
    assert.equal(tx.state, 'terminated');
    assert.deepEqual(r.heard, ['response 100', 'terminated', 'timeout']);
  });

  test('a final response completes it; Timer K absorbs retransmissions', () => {
    const timers = new VirtualTimers();
    const r = recorder();
    const tx = new NonInviteClientTransaction({ request: request('BYE'), reliable: false, timers, base: DEFAULT_TIMER_BASE, send: r.send, user: r.user });
    tx.start();
    tx.receive(response(200));
    tx.receive(response(200));
    assert.deepEqual(r.heard, ['response 200']);
    timers.advance(5_000);
    assert.equal(tx.state, 'terminated');
  });
});

describe('INVITE server transaction', () => {
  test('sends 100 Trying if the TU is silent for 200 ms; retransmitted INVITEs get the last response', () => {
    const timers = new VirtualTimers();
    const r = recorder();
    const tx = new InviteServerTransaction({
      request: request('INVITE'),
      reliable: false,
      timers,
      base: DEFAULT_TIMER_BASE,
      send: r.send,
      user: r.user,
      trying: () => response(100),
    });
    tx.start();
    timers.advance(200);
    assert.deepEqual(r.sent.map((m) => (m as SipResponse).status), [100]);
    tx.respond(response(180));
    tx.receiveRetransmission();
    assert.deepEqual(r.sent.map((m) => (m as SipResponse).status), [100, 180, 180]);
  });

  test('a failure response is retransmitted (Timer G) until ACKed, then Timer I ends it', () => {
    const timers = new VirtualTimers();
    const r = recorder();
    const tx = new InviteServerTransaction({ request: request('INVITE'), reliable: false, timers, base: DEFAULT_TIMER_BASE, send: r.send, user: r.user });
    tx.start();
    tx.respond(response(486));
    timers.advance(1_500);
    assert.equal(r.sent.length, 3, '486 at 0, .5, 1.5 s');
    tx.receiveAck();
    assert.equal(tx.state, 'confirmed');
    timers.advance(10_000);
    assert.equal(r.sent.length, 3);
    assert.equal(tx.state, 'terminated');
  });

  test('Timer H: no ACK ever', () => {
    const timers = new VirtualTimers();
    const r = recorder();
    const tx = new InviteServerTransaction({ request: request('INVITE'), reliable: false, timers, base: DEFAULT_TIMER_BASE, send: r.send, user: r.user });
    tx.start();
    tx.respond(response(603));
    timers.advance(32_000);
    assert.equal(tx.state, 'terminated');
    assert.ok(r.heard.includes('timeout'));
    // G doubles to T2: 0, .5, 1.5, 3.5, 7.5, 11.5, ... , 31.5
    assert.equal(r.sent.length, 11);
  });

  test('2xx: Accepted until Timer L; the TU owns 2xx retransmission', () => {
    const timers = new VirtualTimers();
    const r = recorder();
    const tx = new InviteServerTransaction({ request: request('INVITE'), reliable: false, timers, base: DEFAULT_TIMER_BASE, send: r.send, user: r.user });
    tx.start();
    tx.respond(response(200));
    timers.advance(10_000);
    assert.equal(r.sent.length, 1);
    assert.equal(tx.state, 'accepted');
    timers.advance(22_000);
    assert.equal(tx.state, 'terminated');
  });
});

describe('non-INVITE server transaction', () => {
  test('answers retransmissions with the final response until Timer J', () => {
    const timers = new VirtualTimers();
    const r = recorder();
    const tx = new NonInviteServerTransaction({ request: request('OPTIONS'), reliable: false, timers, base: DEFAULT_TIMER_BASE, send: r.send, user: r.user });
    tx.respond(response(200));
    tx.receiveRetransmission();
    assert.equal(r.sent.length, 2);
    timers.advance(32_000);
    assert.equal(tx.state, 'terminated');
    tx.receiveRetransmission();
    assert.equal(r.sent.length, 2);
  });
});
