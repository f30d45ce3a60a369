import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Dialog, RequestBody } from '../../../../src/sip/dialog/dialog.js';
import { ReferNotifier, ReferSubscriber, referTargetFor, type ReferResult } from '../../../../src/sip/dialog/refer.js';
import { parseNameAddr } from '../../../../src/sip/message/headers.js';
import { parseReferTo } from '../../../../src/sip/message/refer-headers.js';
import type { SipRequest, SipResponse } from '../../../../src/sip/message/types.js';
import type { ClientTransactionUser } from '../../../../src/sip/transaction/client-transactions.js';
import { DEFAULT_TIMER_BASE, VirtualTimers } from '../../../../src/sip/transaction/timers.js';
import type { IncomingRequest } from '../../../../src/sip/ua/sip-stack.js';
import type { ResponseSpec } from '../../../../src/sip/ua/build.js';

/** A dialog that records the requests it is asked to send and lets the test answer each. */
class RecordingDialog {
  readonly sent: Array<{ method: string; spec: RequestBody; user: ClientTransactionUser }> = [];
  readonly contact = { scheme: 'sip', user: undefined, password: undefined, host: '127.0.0.1', port: 5060, params: [], headers: [] } as const;
  readonly target = 'sip:carrier@192.0.2.7:5070;transport=udp';
  readonly local = parseNameAddr('<sip:+14155551234@127.0.0.1;user=phone>;tag=ours');
  private cseq = 10;

  send(method: string, spec: RequestBody, user: ClientTransactionUser): SipRequest {
    this.sent.push({ method, spec, user });
    const request: SipRequest = { kind: 'request', method, uri: this.target, headers: [{ name: 'CSeq', value: `${++this.cseq} ${method}` }, ...(spec.headers ?? [])], body: spec.body ?? Buffer.alloc(0) };
    return request;
  }

  /** Answers the i-th request sent with `status`. */
  answer(i: number, status: number, reason = 'OK'): void {
    const sent = this.sent[i]!;
    sent.user.onResponse({ kind: 'response', status, reason, headers: [{ name: 'CSeq', value: `${11 + i} ${sent.method}` }], body: Buffer.alloc(0) });
  }

  header(i: number, name: string): string | undefined {
    return this.sent[i]!.spec.headers?.find((h) => h.name === name)?.value;
  }
}

/** A received request and the responses we gave it. */
function incoming(method: string, headers: Array<[string, string]>, body = ''): IncomingRequest & { responses: Array<{ status: number; spec?: ResponseSpec }> } {
  const responses: Array<{ status: number; spec?: ResponseSpec }> = [];
  const request: SipRequest = { kind: 'request', method, uri: 'sip:127.0.0.1', headers: headers.map(([name, value]) => ({ name, value })), body: Buffer.from(body) };
  return {
    request,
    source: { transport: 'udp', address: '192.0.2.7', port: 5070 },
    local: { transport: 'udp', address: '127.0.0.1', port: 5060 },
    responses,
    respond(status, reason, spec) {
      responses.push({ status, ...(spec ? { spec } : {}) });
      return { kind: 'response', status, reason, headers: [], body: Buffer.alloc(0) } satisfies SipResponse;
    },
    sendRaw: () => undefined,
  };
}

function notifier(dialog: RecordingDialog, eventId?: string, open = () => true) {
  const refer = incoming('REFER', [['Refer-To', '<sip:+14155550200@192.0.2.7>']]);
  const referTo = parseReferTo('<sip:+14155550200@192.0.2.7>');
  return { refer, notifier: new ReferNotifier(refer, dialog as unknown as Dialog, eventId, open, referTo, undefined, undefined, 'INVITE') };
}

describe('ReferNotifier: the implicit subscription of a REFER we accepted', () => {
  test('202 with our Contact, NOTIFY 100 Trying at once, then the final status; one NOTIFY at a time', () => {
    const dialog = new RecordingDialog();
    const { refer, notifier: n } = notifier(dialog);
    n.accept();
    assert.equal(refer.responses[0]?.status, 202);
    assert.equal(refer.responses[0]?.spec?.contact, dialog.contact);
    assert.equal(dialog.sent.length, 1);
    assert.equal(dialog.header(0, 'Event'), 'refer');
    assert.equal(dialog.header(0, 'Subscription-State'), 'active;expires=660');
    assert.equal(dialog.sent[0]!.spec.contentType, 'message/sipfrag;version=2.0');
    assert.equal(dialog.sent[0]!.spec.body?.toString(), 'SIP/2.0 100 Trying\r\n');
    n.notify(180, 'Ringing');
    n.notify(200, 'OK');
    assert.equal(dialog.sent.length, 1, 'the next NOTIFY waits for the final response to the previous one');
    dialog.answer(0, 100, 'Trying');
    assert.equal(dialog.sent.length, 1, 'a provisional response is not the end of its transaction');
    dialog.answer(0, 200);
    assert.equal(dialog.sent[1]!.spec.body?.toString(), 'SIP/2.0 180 Ringing\r\n');
    dialog.answer(1, 200);
    assert.equal(dialog.sent[2]!.spec.body?.toString(), 'SIP/2.0 200 OK\r\n');
    assert.equal(dialog.header(2, 'Subscription-State'), 'terminated;reason=noresource');
    n.notify(200, 'OK');
    dialog.answer(2, 200);
    assert.equal(dialog.sent.length, 3, 'nothing after the final status');
  });

  test('the Event id of a later REFER; a 481 or a closed dialog stops the NOTIFYs; refuse() answers once', () => {
    const dialog = new RecordingDialog();
    const { notifier: n } = notifier(dialog, '7');
    n.accept();
    assert.equal(dialog.header(0, 'Event'), 'refer;id=7');
    n.notify(486, 'Busy Here');
    dialog.answer(0, 481, 'Subscription Does Not Exist');
    assert.equal(dialog.sent.length, 1, 'the subscriber is gone');

    let open = true;
    const closing = new RecordingDialog();
    const second = notifier(closing, undefined, () => open);
    second.notifier.accept();
    open = false;
    second.notifier.notify(200, 'OK');
    closing.answer(0, 200);
    assert.equal(closing.sent.length, 1, 'the dialog ended: no final NOTIFY');

    const refused = notifier(new RecordingDialog());
    refused.notifier.refuse(403, 'Forbidden');
    refused.notifier.accept();
    refused.notifier.notify(200, 'OK');
    assert.deepEqual(refused.refer.responses.map((r) => r.status), [403]);
  });
});

describe('ReferSubscriber: a REFER we sent', () => {
  function subscriber() {
    const dialog = new RecordingDialog();
    const timers = new VirtualTimers();
    const results: ReferResult[] = [];
    const sub = new ReferSubscriber(dialog as unknown as Dialog, timers, DEFAULT_TIMER_BASE, (r) => results.push(r));
    sub.start({ referTo: '<sip:+14155550300@192.0.2.7:5070;user=phone>', referredBy: '<sip:+14155551234@127.0.0.1>' });
    return { dialog, timers, results, sub };
  }
  const notify = (state: string, frag: string, event = 'refer') =>
    incoming('NOTIFY', [['Event', event], ['Subscription-State', state], ['Content-Type', 'message/sipfrag']], frag);

  test('REFER with Refer-To and Referred-By; each NOTIFY answered 200; the final sipfrag is the outcome', () => {
    const { dialog, results, sub } = subscriber();
    assert.equal(dialog.sent[0]!.method, 'REFER');
    assert.equal(dialog.header(0, 'Refer-To'), '<sip:+14155550300@192.0.2.7:5070;user=phone>');
    assert.equal(dialog.header(0, 'Referred-By'), '<sip:+14155551234@127.0.0.1>');
    dialog.answer(0, 202, 'Accepted');
    assert.equal(sub.matches({ type: 'refer', id: '11', params: [] }), true, 'its id is the REFER\'s CSeq');
    assert.equal(sub.matches({ type: 'refer', id: '12', params: [] }), false);
    assert.equal(sub.matches({ type: 'presence', id: undefined, params: [] }), false);
    const trying = notify('active;expires=60', 'SIP/2.0 100 Trying\r\n');
    sub.receiveNotify(trying);
    assert.deepEqual(trying.responses.map((r) => r.status), [200]);
    assert.deepEqual(results, []);
    const ok = notify('terminated;reason=noresource', 'SIP/2.0 200 OK\r\n');
    sub.receiveNotify(ok);
    assert.deepEqual(results, [{ kind: 'notified', status: 200, reason: 'OK' }]);
    assert.equal(sub.finished, true);
  });

  test('a refused REFER, no NOTIFY in time, a subscription ended without a final status, the dialog ending', () => {
    const refused = subscriber();
    refused.dialog.answer(0, 603, 'Decline');
    assert.deepEqual(refused.results, [{ kind: 'refused', status: 603, reason: 'Decline' }]);

    const silent = subscriber();
    silent.dialog.answer(0, 202, 'Accepted');
    silent.timers.advance(64 * DEFAULT_TIMER_BASE.T1 - 1);
    assert.deepEqual(silent.results, []);
    silent.timers.advance(1);
    assert.deepEqual(silent.results, [{ kind: 'timeout' }]);

    const cut = subscriber();
    cut.sub.receiveNotify(notify('active;expires=30', 'SIP/2.0 180 Ringing\r\n'));
    cut.timers.advance(29_000);
    cut.sub.receiveNotify(notify('terminated;reason=timeout', ''));
    assert.deepEqual(cut.results, [{ kind: 'notified', status: 180, reason: 'Ringing' }], 'the last status heard');

    const ended = subscriber();
    ended.sub.close();
    ended.sub.close();
    assert.deepEqual(ended.results, [{ kind: 'ended' }]);

    const bad = subscriber();
    const unreadable = incoming('NOTIFY', [['Event', 'refer'], ['Subscription-State', ';;']], 'SIP/2.0 200 OK\r\n');
    bad.sub.receiveNotify(unreadable);
    assert.equal(unreadable.responses[0]?.status, 400);
    assert.deepEqual(bad.results, []);
  });

  test('referTargetFor: a number at the peer\'s host (user=phone), or a URI as given; Referred-By is our URI without tag', () => {
    const dialog = new RecordingDialog() as unknown as Dialog;
    assert.deepEqual(referTargetFor(dialog, { number: '+14155550300' }), {
      referTo: '<sip:+14155550300@192.0.2.7:5070;user=phone>',
      referredBy: '<sip:+14155551234@127.0.0.1;user=phone>',
    });
    assert.equal(referTargetFor(dialog, { uri: 'sip:alice@198.51.100.9:5062' }).referTo, '<sip:alice@198.51.100.9:5062>');
  });
});
