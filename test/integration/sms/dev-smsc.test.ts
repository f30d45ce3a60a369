/**
 * SmppCarrier against DevSmsc, end to end over 127.0.0.1: submit and receipt, the documented test numbers, inbound
 * messages injected by the SMSC, refused binds, and deliver_sm answered only once the receiver has kept them.
 */
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { DEV_SMSC_TEST_NUMBERS, DevSmsc, devSmscOutcome, type DevSmscOptions, type DevSmscSubmission } from '../../../src/sms/dev-smsc.js';
import { parseReceipt } from '../../../src/sms/receipt.js';
import { segment } from '../../../src/sms/segmenter.js';
import {
  SMPP_STATUS,
  SmppBindError,
  SmppCarrier,
  SmppSubmitError,
  type SmppCarrierOptions,
  type SmppInboundMessage,
  type SmppReceipt,
  type SmppReceiver,
} from '../../../src/sms/smpp-carrier.js';
import { waitUntil } from '../../helpers/processes.js';

async function startSmsc(t: TestContext, options: DevSmscOptions = {}): Promise<DevSmsc> {
  const smsc = new DevSmsc({ receiptDelayMs: 10, ...options });
  await smsc.start();
  t.after(() => smsc.stop());
  return smsc;
}

async function startCarrier(t: TestContext, url: string): Promise<{ carrier: SmppCarrier; receipts: SmppReceipt[]; inbound: SmppInboundMessage[] }> {
  const carrier = new SmppCarrier({ url, reconnectInitialMs: 20, reconnectMaxMs: 200, unbindTimeoutMs: 300, onError: (e) => assert.fail(String(e)) });
  const receipts: SmppReceipt[] = [];
  const inbound: SmppInboundMessage[] = [];
  carrier.on('receipt', (r) => receipts.push(r));
  carrier.on('inbound', (m) => inbound.push(m));
  t.after(() => carrier.stop());
  await carrier.start();
  return { carrier, receipts, inbound };
}

function message(text: string, to: string) {
  const seg = segment(text);
  return { from: '+15550001111', to, parts: seg.parts, dataCoding: seg.dataCoding };
}

describe('DevSmsc with SmppCarrier', () => {
  test('url and port; the test-number table', async (t) => {
    const smsc = await startSmsc(t);
    assert.ok(smsc.port > 0);
    assert.equal(smsc.url, `smpp://dialplane:dialplane@127.0.0.1:${smsc.port}`);
    assert.deepEqual(
      DEV_SMSC_TEST_NUMBERS.map((n) => n.suffix),
      ['0404', '0500', '0400'],
    );
    assert.deepEqual(devSmscOutcome('15551230404'), { accept: true, stat: 'UNDELIV', err: '001' });
    assert.deepEqual(devSmscOutcome('15551230500'), { accept: true, stat: 'REJECTD', err: '002' });
    assert.deepEqual(devSmscOutcome('15551230400'), { accept: false, commandStatus: SMPP_STATUS.ESME_RINVDSTADR });
    assert.deepEqual(devSmscOutcome('15551234567'), { accept: true, stat: 'DELIVRD', err: '000' });
  });

  test('submit, then a DELIVRD receipt for the same message id', async (t) => {
    const submissions: DevSmscSubmission[] = [];
    const smsc = await startSmsc(t, { onSubmit: (s) => submissions.push(s) });
    const { carrier, receipts } = await startCarrier(t, smsc.url);
    const { smscIds } = await carrier.submit(message('Hello from Dialplane, with love', '+15551234567'));
    assert.equal(smscIds.length, 1);
    await waitUntil('the receipt', () => receipts.length === 1, 2_000);
    const r = receipts[0];
    assert.equal(r?.smscId, smscIds[0]);
    assert.equal(r?.stat, 'DELIVRD');
    assert.equal(r?.status, 'delivered');
    assert.equal(r?.err, '000');
    assert.equal(r?.from, '+15551234567');
    assert.equal(r?.to, '+15550001111');
    assert.ok(r?.doneDate instanceof Date);
    assert.equal(parseReceipt(r?.receiptText ?? '')?.text, 'Hello from Dialplane'); // the first 20 characters
    assert.equal(submissions[0]?.destination, '15551234567');
    assert.equal(smsc.counters.submitAccepted, 1);
    await waitUntil('the receipt acknowledged', () => smsc.counters.receiptsAcknowledged === 1, 2_000);
  });

  test('test numbers: 0404 undelivered, 0500 failed, 0400 refused at submit', async (t) => {
    const smsc = await startSmsc(t);
    const { carrier, receipts } = await startCarrier(t, smsc.url);
    const a = await carrier.submit(message('to 0404', '+15551230404'));
    const b = await carrier.submit(message('to 0500', '+15551230500'));
    await assert.rejects(carrier.submit(message('to 0400', '+15551230400')), (error: unknown) => {
      assert.ok(error instanceof SmppSubmitError);
      assert.equal(error.commandStatus, SMPP_STATUS.ESME_RINVDSTADR);
      return true;
    });
    await waitUntil('two receipts', () => receipts.length === 2, 2_000);
    const byId = new Map(receipts.map((r) => [r.smscId, r]));
    assert.deepEqual(
      { stat: byId.get(a.smscIds[0] ?? '')?.stat, err: byId.get(a.smscIds[0] ?? '')?.err, status: byId.get(a.smscIds[0] ?? '')?.status },
      { stat: 'UNDELIV', err: '001', status: 'undelivered' },
    );
    assert.deepEqual(
      { stat: byId.get(b.smscIds[0] ?? '')?.stat, err: byId.get(b.smscIds[0] ?? '')?.err, status: byId.get(b.smscIds[0] ?? '')?.status },
      { stat: 'REJECTD', err: '002', status: 'failed' },
    );
    assert.equal(smsc.counters.submitRefused, 1);
  });

  test('a long UCS-2 message: one submit_sm and one receipt per part', async (t) => {
    const smsc = await startSmsc(t);
    const { carrier, receipts } = await startCarrier(t, smsc.url);
    const text = 'Многочастное сообщение 😀 '.repeat(8);
    const seg = segment(text);
    assert.equal(seg.segments, 4);
    const { smscIds } = await carrier.submit(message(text, '+15551234567'));
    assert.equal(new Set(smscIds).size, 4);
    await waitUntil('four receipts', () => receipts.length === 4, 2_000);
    assert.deepEqual(new Set(receipts.map((r) => r.smscId)), new Set(smscIds));
    assert.ok(receipts.every((r) => r.status === 'delivered'));
  });

  test('injectInbound: a long text arrives as one inbound event; no registered delivery, no receipt', async (t) => {
    const smsc = await startSmsc(t);
    const { carrier, inbound, receipts } = await startCarrier(t, smsc.url);
    const text = `${'Long inbound message with {braces} and € signs. '.repeat(8)}End.`;
    const sent = await smsc.injectInbound({ from: '+447700900123', to: '+15550001111', text });
    assert.equal(sent.parts, 3);
    assert.deepEqual(sent.statuses, [0, 0, 0]);
    await waitUntil('the inbound message', () => inbound.length === 1, 2_000);
    assert.deepEqual({ ...inbound[0] }, { from: '+447700900123', to: '+15550001111', text, encoding: 'GSM-7', dataCoding: 0, parts: 3 });

    await carrier.submit({ ...message('no receipt please', '+15551234567'), registeredDelivery: false });
    await smsc.injectInbound({ from: '12345', to: '+15550001111', text: 'Ответ' });
    await waitUntil('the second inbound message', () => inbound.length === 2, 2_000);
    assert.deepEqual({ ...inbound[1] }, { from: '12345', to: '+15550001111', text: 'Ответ', encoding: 'UCS-2', dataCoding: 8, parts: 1 });
    assert.equal(receipts.length, 0);
    assert.equal(smsc.counters.receiptsSent, 0);
  });

  test('injectInbound without a bound session throws', async (t) => {
    const smsc = await startSmsc(t);
    await assert.rejects(smsc.injectInbound({ from: '+1', to: '+2', text: 'nobody' }), /no bound session/);
  });

  test('wrong credentials: the bind is refused with ESME_RBINDFAIL', async (t) => {
    const smsc = await startSmsc(t);
    const carrier = new SmppCarrier({ host: '127.0.0.1', port: smsc.port, systemId: 'dialplane', password: 'nope', reconnectInitialMs: 1_000 });
    t.after(() => carrier.stop());
    await assert.rejects(carrier.start(), (error: unknown) => error instanceof SmppBindError && error.commandStatus === SMPP_STATUS.ESME_RBINDFAIL);
    assert.equal(carrier.state, 'bind_failed');
    assert.equal(smsc.counters.bindsRefused, 1);
    assert.equal(smsc.boundSessions, 0);
  });
});

/** A receiver that keeps what it is given; the next `failures.*` calls of each kind reject, as a failed store does. */
function keeper(delayMs = 0): {
  receiver: SmppReceiver;
  receipts: SmppReceipt[];
  inbound: SmppInboundMessage[];
  failures: { receipt: number; inbound: number };
  hang: { inbound: boolean };
} {
  const receipts: SmppReceipt[] = [];
  const inbound: SmppInboundMessage[] = [];
  const failures = { receipt: 0, inbound: 0 };
  const hang = { inbound: false };
  const settle = async (kind: 'receipt' | 'inbound', keep: () => void): Promise<void> => {
    if (kind === 'inbound' && hang.inbound) return new Promise<void>(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    if (failures[kind] > 0) {
      failures[kind] -= 1;
      throw new Error('the store is away');
    }
    keep();
  };
  return {
    receiver: {
      receipt: (r) => settle('receipt', () => receipts.push(r)),
      inbound: (m) => settle('inbound', () => inbound.push(m)),
    },
    receipts,
    inbound,
    failures,
    hang,
  };
}

describe('DevSmsc with SmppCarrier: deliver_sm answered once kept', () => {
  async function withReceiver(t: TestContext, url: string, receiver: SmppReceiver, options: Partial<SmppCarrierOptions> = {}): Promise<{ carrier: SmppCarrier; expired: unknown[] }> {
    const carrier = new SmppCarrier({ url, receiver, reconnectInitialMs: 20, unbindTimeoutMs: 300, onError: (e) => assert.fail(String(e)), ...options });
    const expired: unknown[] = [];
    carrier.on('reassembly_expired', (e) => expired.push(e));
    t.after(() => carrier.stop());
    await carrier.start();
    return { carrier, expired };
  }

  test('an inbound message is answered ESME_ROK only after the receiver has kept it', async (t) => {
    const smsc = await startSmsc(t);
    const kept = keeper(50);
    await withReceiver(t, smsc.url, kept.receiver);
    const sent = await smsc.injectInbound({ from: '+447700900123', to: '+15550001111', text: 'kept before answered' });
    assert.deepEqual(sent.statuses, [SMPP_STATUS.ESME_ROK]);
    // No wait: the answer came after the store.
    assert.deepEqual(kept.inbound.map((m) => m.text), ['kept before answered']);
  });

  test('a store that fails answers ESME_RX_T_APPN; the message sent again is kept once', async (t) => {
    const smsc = await startSmsc(t);
    const kept = keeper();
    const { carrier } = await withReceiver(t, smsc.url, kept.receiver);
    kept.failures.inbound = 1;
    const first = await smsc.injectInbound({ from: '+447700900123', to: '+15550001111', text: 'try again later' });
    assert.deepEqual(first.statuses, [SMPP_STATUS.ESME_RX_T_APPN]);
    assert.equal(SMPP_STATUS.ESME_RX_T_APPN, 0x64);
    assert.equal(kept.inbound.length, 0);
    const second = await smsc.injectInbound({ from: '+447700900123', to: '+15550001111', text: 'try again later' });
    assert.deepEqual(second.statuses, [SMPP_STATUS.ESME_ROK]);
    assert.deepEqual(kept.inbound.map((m) => m.text), ['try again later']);
    assert.equal(carrier.counters.receiverFailures, 1);
  });

  test('concatenated: only the completing part waits; when its store fails the other parts are held for its resend', async (t) => {
    const smsc = await startSmsc(t);
    const kept = keeper();
    const { carrier, expired } = await withReceiver(t, smsc.url, kept.receiver, { reassemblyTimeoutMs: 300 });
    const text = `${'A long inbound message in three parts. '.repeat(10)}The end.`;
    const mo = { from: '+447700900123', to: '+15550001111', text };
    kept.failures.inbound = 1;
    const first = await smsc.injectInbound(mo, { reference: 77 });
    assert.equal(first.parts, 3);
    assert.deepEqual(first.statuses, [SMPP_STATUS.ESME_ROK, SMPP_STATUS.ESME_ROK, SMPP_STATUS.ESME_RX_T_APPN]);
    assert.equal(kept.inbound.length, 0);
    // The SMSC sends again only the part it was refused.
    const again = await smsc.injectInbound(mo, { reference: 77, onlyParts: [2] });
    assert.deepEqual(again.statuses, [SMPP_STATUS.ESME_ROK]);
    assert.equal(kept.inbound.length, 1);
    assert.equal(kept.inbound[0]?.text, text);
    assert.equal(kept.inbound[0]?.parts, 3);
    // Stored: nothing is left to expire.
    await new Promise((resolve) => setTimeout(resolve, 450));
    assert.deepEqual(expired, []);
    assert.equal(carrier.counters.receiverFailures, 1);
  });

  test('concatenated: parts held after a failed store still expire when the last part never comes again', async (t) => {
    const smsc = await startSmsc(t);
    const kept = keeper();
    const { carrier } = await withReceiver(t, smsc.url, kept.receiver, { reassemblyTimeoutMs: 100 });
    const expired = [] as Array<{ received: number[] }>;
    carrier.on('reassembly_expired', (e) => expired.push(e));
    kept.failures.inbound = 1;
    const first = await smsc.injectInbound({ from: '+447700900123', to: '+15550001111', text: 'z'.repeat(300) }, { reference: 5 });
    assert.deepEqual(first.statuses, [SMPP_STATUS.ESME_ROK, SMPP_STATUS.ESME_RX_T_APPN]);
    await waitUntil('the held parts expire', () => expired.length === 1, 2_000);
    assert.deepEqual(expired[0]?.received, [1, 2]);
    assert.equal(kept.inbound.length, 0);
  });

  test('a receiver that does not answer within receiverTimeoutMs: ESME_RX_T_APPN', async (t) => {
    const smsc = await startSmsc(t);
    const kept = keeper();
    kept.hang.inbound = true;
    const { carrier } = await withReceiver(t, smsc.url, kept.receiver, { receiverTimeoutMs: 100 });
    const sent = await smsc.injectInbound({ from: '+447700900123', to: '+15550001111', text: 'nobody home' });
    assert.deepEqual(sent.statuses, [SMPP_STATUS.ESME_RX_T_APPN]);
    assert.equal(carrier.counters.receiverTimeouts, 1);
    assert.equal(carrier.counters.receiverFailures, 0);
  });

  test('a receipt whose store fails is answered ESME_RX_T_APPN, delivered again by the SMSC and kept once', async (t) => {
    const smsc = await startSmsc(t, { redeliverMs: 30 });
    const kept = keeper();
    const { carrier } = await withReceiver(t, smsc.url, kept.receiver);
    kept.failures.receipt = 1;
    const { smscIds } = await carrier.submit(message('receipt kept on the second try', '+15551234567'));
    await waitUntil('the receipt kept', () => kept.receipts.length === 1, 3_000);
    assert.equal(kept.receipts[0]?.smscId, smscIds[0]);
    await waitUntil('the receipt acknowledged', () => smsc.counters.receiptsAcknowledged === 1, 2_000);
    assert.equal(smsc.counters.receiptsRedelivered, 1);
    assert.equal(smsc.counters.receiptsSent, 2);
    assert.equal(kept.receipts.length, 1);
    assert.equal(carrier.counters.receipts, 2);
  });
});
