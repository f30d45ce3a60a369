/**
 * SmppCarrier against SMPP servers written here with the `smpp` package's createServer, each scripted for one
 * situation: refused binds, throttling, a connection lost with a full window, receipts, inbound messages. Timers
 * and backoffs are shortened so every test takes well under a second.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { describe, test, type TestContext } from 'node:test';
import smpp, { type PDU, type Session } from 'smpp';
import { segment } from '../../../src/sms/segmenter.js';
import {
  SMPP_STATUS,
  SmppBindError,
  SmppCarrier,
  SmppStoppedError,
  SmppSubmitError,
  addressFromSmpp,
  classifySubmitStatus,
  inboundEncoding,
  parseSmppUrl,
  readShortMessagePdu,
  realSmppTimers,
  reconnectDelayMs,
  smppAddress,
  type SmppCarrierEvents,
  type SmppCarrierOptions,
  type SmppCarrierState,
  type SmppTimerName,
  type SmppTimers,
} from '../../../src/sms/smpp-carrier.js';
import { sleep, waitUntil, within } from '../../helpers/processes.js';

/** Fast settings: what takes seconds in production takes milliseconds here. */
const FAST: Partial<SmppCarrierOptions> = {
  reconnectInitialMs: 20,
  reconnectMaxMs: 200,
  throttleRetryMs: 20,
  enquireLinkMs: 5_000,
  bindTimeoutMs: 2_000,
  unbindTimeoutMs: 300,
};

interface ServerContext {
  /** 0-based index of this connection among all the server accepted. */
  readonly index: number;
  readonly session: Session;
}

interface TestServer {
  readonly port: number;
  readonly url: (password?: string) => string;
  readonly sessions: Session[];
  close(): Promise<void>;
}

/**
 * An SMPP server on 127.0.0.1 that answers enquire_link and unbind itself and hands every new session to `setup`,
 * which scripts the rest.
 */
async function startServer(t: TestContext, setup: (ctx: ServerContext) => void): Promise<TestServer> {
  const sessions: Session[] = [];
  const server = smpp.createServer((session: Session) => {
    const index = sessions.length;
    sessions.push(session);
    session.on('error', () => undefined);
    session.on('enquire_link', (pdu: PDU) => session.send(pdu.response()));
    session.on('unbind', (pdu: PDU) => {
      session.send(pdu.response());
      session.close();
    });
    setup({ index, session });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  const close = async (): Promise<void> => {
    for (const s of sessions) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  t.after(close);
  return { port, url: (password = 'secret') => `smpp://esme:${password}@127.0.0.1:${port}`, sessions, close };
}

/** Accepts bind_transceiver for esme/secret; refuses others with `refusal`. */
function answerBind(session: Session, refusal: number = SMPP_STATUS.ESME_RBINDFAIL): void {
  session.on('bind_transceiver', (pdu: PDU) => {
    if (pdu.system_id === 'esme' && pdu.password === 'secret') {
      session.send(pdu.response({ system_id: 'test-smsc' }));
    } else {
      session.send(pdu.response({ command_status: refusal }));
    }
  });
}

interface StartedTimer {
  readonly name: SmppTimerName;
  readonly ms: number;
}

function carrierFor(
  t: TestContext,
  url: string,
  options: Partial<SmppCarrierOptions> = {},
): { carrier: SmppCarrier; states: SmppCarrierState[]; timers: StartedTimer[] } {
  const timers: StartedTimer[] = [];
  // Real timers, recorded by name.
  const recording: SmppTimers = {
    start(name, ms, fire) {
      timers.push({ name, ms });
      return realSmppTimers.start(name, ms, fire);
    },
  };
  const carrier = new SmppCarrier({ url, ...FAST, timers: recording, ...options, onError: (error) => assert.fail(String(error)) });
  const states: SmppCarrierState[] = [];
  carrier.on('state', (state) => states.push(state));
  t.after(() => carrier.stop());
  return { carrier, states, timers };
}

function textOf(pdu: PDU): string {
  const sm = pdu.short_message as { message?: unknown } | Buffer;
  if (Buffer.isBuffer(sm)) return sm.toString('latin1');
  return String(sm.message);
}

function message(text: string, to = '+15557654321') {
  const seg = segment(text);
  return { from: '+15550001111', to, parts: seg.parts, dataCoding: seg.dataCoding };
}

describe('SmppCarrier: pure helpers', () => {
  test('submit_sm_resp status classes', () => {
    assert.equal(classifySubmitStatus(SMPP_STATUS.ESME_ROK), 'accepted');
    assert.equal(classifySubmitStatus(SMPP_STATUS.ESME_RTHROTTLED), 'retry');
    assert.equal(classifySubmitStatus(SMPP_STATUS.ESME_RMSGQFUL), 'retry');
    assert.equal(classifySubmitStatus(SMPP_STATUS.ESME_RINVDSTADR), 'rejected');
    assert.equal(classifySubmitStatus(SMPP_STATUS.ESME_RSYSERR), 'rejected');
  });

  test('reconnect backoff: 500 ms doubling to 30 s', () => {
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 100].map((n) => reconnectDelayMs(n, 500, 30_000)),
      [500, 500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000],
    );
  });

  test('addresses', () => {
    assert.deepEqual(smppAddress('+15550001111'), { ton: 1, npi: 1, addr: '15550001111' });
    assert.deepEqual(smppAddress('12345'), { ton: 0, npi: 1, addr: '12345' });
    assert.deepEqual(smppAddress('Dialplane'), { ton: 5, npi: 0, addr: 'Dialplane' });
    assert.equal(addressFromSmpp('447700900123', 1), '+447700900123');
    assert.equal(addressFromSmpp('12345', 0), '12345');
    assert.equal(addressFromSmpp('Bank', 5), 'Bank');
  });

  test('smpp:// urls', () => {
    assert.deepEqual(parseSmppUrl('smpp://user%40x:p%3Ass@127.0.0.1:2776'), { host: '127.0.0.1', port: 2776, systemId: 'user@x', password: 'p:ss' });
    assert.deepEqual(parseSmppUrl('smpp://esme@smsc.example'), { host: 'smsc.example', port: 2775, systemId: 'esme', password: '' });
    assert.throws(() => parseSmppUrl('http://x:y@127.0.0.1'), RangeError);
    assert.throws(() => parseSmppUrl('not a url'), RangeError);
  });

  test('data_coding to encoding', () => {
    assert.equal(inboundEncoding(0), 'GSM-7');
    assert.equal(inboundEncoding(8), 'UCS-2');
    assert.equal(inboundEncoding(1), 'LATIN-1');
    assert.equal(inboundEncoding(3), 'LATIN-1');
    assert.equal(inboundEncoding(4), 'binary');
    assert.equal(inboundEncoding(0xf0), 'GSM-7');
    assert.equal(inboundEncoding(0xf4), 'binary');
    assert.equal(inboundEncoding(0x18), 'UCS-2');
  });

  test('raw deliver_sm fields, TLVs included; truncated PDUs are refused', () => {
    const raw = new smpp.PDU('deliver_sm', {
      sequence_number: 1,
      source_addr_ton: 1,
      source_addr: '447700900123',
      destination_addr: '15550001111',
      esm_class: 0x40,
      data_coding: 8,
      short_message: Buffer.from([0x05, 0x00, 0x03, 1, 2, 1, 0x04, 0x1f]),
      receipted_message_id: 'abc',
    }).toBuffer();
    const sm = readShortMessagePdu(raw);
    assert.ok(sm);
    assert.equal(sm.source, '447700900123');
    assert.equal(sm.sourceTon, 1);
    assert.equal(sm.destination, '15550001111');
    assert.equal(sm.esmClass, 0x40);
    assert.equal(sm.dataCoding, 8);
    assert.deepEqual(sm.shortMessage, Buffer.from([0x05, 0x00, 0x03, 1, 2, 1, 0x04, 0x1f]));
    assert.deepEqual(sm.tlvs.get(0x001e), Buffer.from('abc\0', 'latin1'));
    for (const missing of [3, 12]) {
      // A TLV value, then the short_message, running past the end.
      const cut = Buffer.from(raw.subarray(0, raw.length - missing));
      cut.writeUInt32BE(cut.length, 0);
      assert.equal(readShortMessagePdu(cut), undefined, `${missing} octets missing`);
    }
  });
});

describe('SmppCarrier: binding', () => {
  test('a refused bind surfaces as bind_failed and start() rejecting; retried with backoff; no submit goes out', async (t) => {
    let binds = 0;
    let submits = 0;
    const server = await startServer(t, ({ session }) => {
      session.on('bind_transceiver', () => (binds += 1));
      session.on('submit_sm', () => (submits += 1));
      answerBind(session, SMPP_STATUS.ESME_RINVPASWD);
    });
    const details: Array<number | undefined> = [];
    const { carrier, states, timers } = carrierFor(t, server.url('wrong'), { reconnectInitialMs: 40, reconnectMaxMs: 320 });
    carrier.on('state', (state, detail) => {
      if (state === 'bind_failed') details.push(detail.retryInMs);
    });

    await assert.rejects(carrier.start(), (error: unknown) => {
      assert.ok(error instanceof SmppBindError);
      assert.equal(error.commandStatus, SMPP_STATUS.ESME_RINVPASWD);
      assert.equal(error.statusName, 'ESME_RINVPASWD');
      return true;
    });
    assert.equal(carrier.state, 'bind_failed');

    const pending = carrier.submit(message('never sent'));
    const outcome = pending.then(
      () => 'resolved',
      (error: unknown) => error,
    );
    await sleep(700);
    assert.equal(submits, 0, 'no submit_sm while not bound');
    assert.equal(carrier.queued, 1);
    // Attempts at ~0, 40, 120, 280, 600 ms: a handful, not hundreds.
    assert.ok(binds >= 3 && binds <= 6, `bind attempts in 700 ms: ${binds}`);
    assert.deepEqual(details.slice(0, 4), [40, 80, 160, 320]);
    assert.deepEqual(
      timers.filter((x) => x.name === 'smpp.reconnect').map((x) => x.ms).slice(0, 4),
      [40, 80, 160, 320],
    );
    assert.ok(states.includes('bind_failed'));
    assert.ok(!states.includes('bound'));

    await carrier.stop();
    assert.ok((await outcome) instanceof SmppStoppedError);
    assert.equal(carrier.state, 'stopped');
  });

  test('start() resolves once bound; stop() unbinds and closes', async (t) => {
    let unbinds = 0;
    const server = await startServer(t, ({ session }) => {
      answerBind(session);
      session.on('unbind', () => (unbinds += 1));
    });
    const { carrier, states } = carrierFor(t, server.url());
    await carrier.start();
    assert.equal(carrier.state, 'bound');
    await carrier.stop();
    assert.equal(unbinds, 1);
    assert.deepEqual(states, ['connecting', 'bound', 'stopped']);
    await assert.rejects(carrier.submit(message('late')), SmppStoppedError);
  });

  test('nothing listening: start() rejects with the connection error and the carrier keeps retrying', async (t) => {
    const server = await startServer(t, () => undefined);
    const url = server.url();
    await server.close();
    const { carrier, states } = carrierFor(t, url);
    await assert.rejects(carrier.start(), /ECONNREFUSED|failed|closed/);
    await waitUntil('a second attempt', () => states.filter((s) => s === 'connecting').length >= 2, 2_000);
    assert.ok(states.includes('disconnected'));
  });

  test('an unanswered enquire_link marks the link dead; the carrier reconnects', async (t) => {
    const server = await startServer(t, ({ index, session }) => {
      answerBind(session);
      // The first connection goes silent after binding.
      if (index === 0) session.removeAllListeners('enquire_link');
    });
    const { carrier, states } = carrierFor(t, server.url(), { enquireLinkMs: 40 });
    await carrier.start();
    await waitUntil('a second bind', () => states.filter((s) => s === 'bound').length >= 2, 3_000);
    assert.ok(server.sessions.length >= 2);
    assert.ok(states.includes('disconnected'));
  });
});

describe('SmppCarrier: submitting', () => {
  test('submit_sm fields: addresses, esm_class, data_coding, registered_delivery, UDH', async (t) => {
    const seen: PDU[] = [];
    let id = 0;
    const server = await startServer(t, ({ session }) => {
      answerBind(session);
      session.on('submit_sm', (pdu: PDU) => {
        seen.push(pdu);
        session.send(pdu.response({ message_id: `m${id++}` }));
      });
    });
    const { carrier } = carrierFor(t, server.url());
    await carrier.start();

    const long = segment('x'.repeat(200), { reference: 7 });
    const r1 = await carrier.submit({ from: '+15550001111', to: '+442071234567', parts: long.parts, dataCoding: long.dataCoding });
    const ucs = segment('Привет');
    const r2 = await carrier.submit({ from: 'Dialplane', to: '12345', parts: ucs.parts, dataCoding: ucs.dataCoding, registeredDelivery: false });
    assert.deepEqual(r1.smscIds, ['m0', 'm1']);
    assert.deepEqual(r2.smscIds, ['m2']);

    const [p1, p2, p3] = seen;
    assert.ok(p1 && p2 && p3);
    assert.equal(p1.source_addr, '15550001111');
    assert.equal(p1.source_addr_ton, 1);
    assert.equal(p1.source_addr_npi, 1);
    assert.equal(p1.destination_addr, '442071234567');
    assert.equal(p1.dest_addr_ton, 1);
    assert.equal(p1.esm_class, 0x40);
    assert.equal(p1.registered_delivery, 1);
    assert.equal(p1.data_coding, 0);
    const udh = (p1.short_message as { udh?: Buffer[] }).udh?.[0];
    assert.deepEqual(udh, Buffer.from([0x00, 0x03, 7, 2, 1]));
    assert.equal(p2.esm_class, 0x40);
    assert.equal(textOf(p1) + textOf(p2), 'x'.repeat(200));
    assert.equal(p3.source_addr, 'Dialplane');
    assert.equal(p3.source_addr_ton, 5);
    assert.equal(p3.dest_addr_ton, 0);
    assert.equal(p3.esm_class, 0);
    assert.equal(p3.data_coding, 8);
    assert.equal(p3.registered_delivery, 0);
    assert.equal(textOf(p3), 'Привет');
  });

  test('ESME_RTHROTTLED and ESME_RMSGQFUL: parts are sent again after a pause and accepted exactly once', async (t) => {
    const REFUSALS = [
      SMPP_STATUS.ESME_RTHROTTLED,
      SMPP_STATUS.ESME_RTHROTTLED,
      SMPP_STATUS.ESME_RTHROTTLED,
      SMPP_STATUS.ESME_RMSGQFUL,
      SMPP_STATUS.ESME_RMSGQFUL,
    ];
    let received = 0;
    const accepted = new Map<string, number>();
    const refusedAt: number[] = [];
    const acceptedAt = new Map<string, number>();
    const server = await startServer(t, ({ session }) => {
      answerBind(session);
      session.on('submit_sm', (pdu: PDU) => {
        const refusal = REFUSALS[received++];
        if (refusal !== undefined) {
          refusedAt.push(Date.now());
          session.send(pdu.response({ command_status: refusal }));
          return;
        }
        const text = textOf(pdu);
        accepted.set(text, (accepted.get(text) ?? 0) + 1);
        acceptedAt.set(text, Date.now());
        session.send(pdu.response({ message_id: `id-${text}` }));
      });
    });
    const { carrier, timers } = carrierFor(t, server.url(), { throttleRetryMs: 60 });
    await carrier.start();
    const texts = Array.from({ length: 8 }, (_, i) => `throttled ${i}`);
    const results = await within(Promise.all(texts.map((text) => carrier.submit(message(text)))), 5_000);
    assert.notEqual(results, 'timeout');
    assert.deepEqual(
      (results as Array<{ smscIds: string[] }>).map((r) => r.smscIds),
      texts.map((text) => [`id-${text}`]),
    );
    assert.equal(accepted.size, 8);
    for (const text of texts) assert.equal(accepted.get(text), 1, text);
    assert.equal(received, 8 + REFUSALS.length);
    assert.equal(carrier.counters.submitRetried, REFUSALS.length);
    assert.ok(timers.some((x) => x.name === 'smpp.throttleRetry' && x.ms === 60));
    // The five refused were the first five sent (the window holds all eight); they went out again only after the pause.
    for (const text of texts.slice(0, REFUSALS.length)) {
      assert.ok((acceptedAt.get(text) ?? 0) - Math.min(...refusedAt) >= 50, `${text} sent again after the pause`);
    }
  });

  test('a permanent error rejects that submit with its command_status; others go through', async (t) => {
    const server = await startServer(t, ({ session }) => {
      answerBind(session);
      session.on('submit_sm', (pdu: PDU) => {
        if (pdu.destination_addr === '15550000000') session.send(pdu.response({ command_status: SMPP_STATUS.ESME_RINVDSTADR }));
        else session.send(pdu.response({ message_id: 'ok' }));
      });
    });
    const { carrier } = carrierFor(t, server.url());
    await carrier.start();
    const bad = carrier.submit(message('to nowhere', '+15550000000'));
    const good = carrier.submit(message('fine'));
    await assert.rejects(bad, (error: unknown) => {
      assert.ok(error instanceof SmppSubmitError);
      assert.equal(error.commandStatus, SMPP_STATUS.ESME_RINVDSTADR);
      assert.equal(error.partIndex, 0);
      return true;
    });
    assert.deepEqual(await good, { smscIds: ['ok'] });
  });

  test('connection lost with a full window: unanswered parts are sent again after reconnecting, none lost, none accepted twice', async (t) => {
    const WINDOW = 5;
    const ACKED_FIRST = 3;
    const accepted = new Map<string, number>();
    const held: string[] = [];
    let firstSessionSubmits = 0;
    let maxOutstanding = 0;
    let id = 0;
    const server = await startServer(t, ({ index, session }) => {
      answerBind(session);
      session.on('submit_sm', (pdu: PDU) => {
        const text = textOf(pdu);
        if (index === 0) {
          firstSessionSubmits += 1;
          if (firstSessionSubmits <= ACKED_FIRST) {
            accepted.set(text, (accepted.get(text) ?? 0) + 1);
            session.send(pdu.response({ message_id: `id${id++}` }));
            return;
          }
          // Hold every response until the window is full, then drop the connection without answering.
          held.push(text);
          maxOutstanding = Math.max(maxOutstanding, held.length);
          if (held.length === WINDOW) session.destroy();
          return;
        }
        accepted.set(text, (accepted.get(text) ?? 0) + 1);
        session.send(pdu.response({ message_id: `id${id++}` }));
      });
    });
    const { carrier, states } = carrierFor(t, server.url(), { windowSize: WINDOW });
    await carrier.start();
    const texts = Array.from({ length: 14 }, (_, i) => `window ${i}`);
    const results = await within(Promise.all(texts.map((text) => carrier.submit(message(text)))), 5_000);
    assert.notEqual(results, 'timeout', `accepted so far: ${[...accepted.keys()].join(', ')}`);

    assert.equal(firstSessionSubmits, ACKED_FIRST + WINDOW, 'the window bounded what the first connection got');
    assert.equal(maxOutstanding, WINDOW);
    assert.equal(accepted.size, texts.length, 'none lost');
    for (const text of texts) assert.equal(accepted.get(text), 1, `${text} accepted exactly once`);
    const ids = (results as Array<{ smscIds: string[] }>).flatMap((r) => r.smscIds);
    assert.equal(new Set(ids).size, texts.length);
    assert.equal(carrier.counters.resentAfterLoss, WINDOW);
    assert.equal(server.sessions.length, 2);
    assert.deepEqual(states.slice(0, 5), ['connecting', 'bound', 'disconnected', 'connecting', 'bound']);
  });
});

describe('SmppCarrier: beforePartWrite', () => {
  test('each part waits for it before its submit_sm is written, holding a place in the window', async (t) => {
    const written: string[] = [];
    const server = await startServer(t, ({ session }) => {
      answerBind(session);
      session.on('submit_sm', (pdu: PDU) => {
        written.push(textOf(pdu));
        session.send(pdu.response({ message_id: `id${written.length}` }));
      });
    });
    const { carrier } = carrierFor(t, server.url(), { windowSize: 2 });
    await carrier.start();
    const marked: string[] = [];
    const gates = new Map<string, () => void>();
    const gated = (text: string) => ({
      ...message(text),
      beforePartWrite: (index: number) =>
        new Promise<void>((resolve) => {
          marked.push(`${text}#${index}`);
          gates.set(text, resolve);
        }),
    });
    const first = carrier.submit(gated('first'));
    const second = carrier.submit(gated('second'));
    const third = carrier.submit(gated('third'));
    await waitUntil('two parts being prepared', () => marked.length === 2, 2_000);
    await sleep(100);
    assert.deepEqual(marked, ['first#0', 'second#0'], 'the window of 2 is taken by parts being prepared');
    assert.deepEqual(written, [], 'nothing written before its hook resolved');
    assert.equal(carrier.queued, 3);
    gates.get('second')!();
    await waitUntil('second written', () => written.length === 1, 2_000);
    assert.deepEqual(written, ['second']);
    gates.get('first')!();
    await waitUntil('third prepared', () => marked.length === 3, 2_000);
    gates.get('third')!();
    assert.notEqual(await within(Promise.all([first, second, third]), 2_000), 'timeout');
    assert.deepEqual([...written].sort(), ['first', 'second', 'third']);
  });

  test('a hook that rejects rejects the submit, and its part is never written', async (t) => {
    const written: string[] = [];
    const server = await startServer(t, ({ session }) => {
      answerBind(session);
      session.on('submit_sm', (pdu: PDU) => {
        written.push(textOf(pdu));
        session.send(pdu.response({ message_id: `id${written.length}` }));
      });
    });
    const { carrier } = carrierFor(t, server.url());
    await carrier.start();
    await assert.rejects(
      carrier.submit({ ...message('refused'), beforePartWrite: () => Promise.reject(new Error('not recorded')) }),
      /not recorded/,
    );
    await carrier.submit(message('after'));
    assert.deepEqual(written, ['after']);
  });
});

describe('SmppCarrier: receiving', () => {
  /** A bound carrier and the server session it is bound to. */
  async function bound(t: TestContext, options: Partial<SmppCarrierOptions> = {}): Promise<{ carrier: SmppCarrier; session: Session }> {
    const server = await startServer(t, ({ session }) => answerBind(session));
    const { carrier } = carrierFor(t, server.url(), options);
    await carrier.start();
    const session = server.sessions[0];
    assert.ok(session);
    return { carrier, session };
  }

  /** Sends a deliver_sm; resolves with the deliver_sm_resp. */
  function deliver(session: Session, fields: Record<string, unknown>): Promise<PDU> {
    return new Promise((resolve) => {
      session.deliver_sm(
        { source_addr_ton: 1, source_addr_npi: 1, source_addr: '447700900123', dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: '15550001111', ...fields },
        resolve,
      );
    });
  }

  function collect<K extends 'receipt' | 'inbound' | 'reassembly_expired'>(carrier: SmppCarrier, event: K): Array<SmppCarrierEvents[K][0]> {
    const out: Array<SmppCarrierEvents[K][0]> = [];
    (carrier.on as (event: K, listener: (value: SmppCarrierEvents[K][0]) => void) => SmppCarrier)(event, (value) => out.push(value));
    return out;
  }

  test('receipts from the receipt text, and from the TLVs when present; deliver_sm_resp sent', async (t) => {
    const { carrier, session } = await bound(t);
    const receipts = collect(carrier, 'receipt');

    const text = 'id:A1B2C3 sub:001 dlvrd:001 submit date:2603011200 done date:2603011201 stat:DELIVRD err:000 text:hello';
    const r1 = await deliver(session, { esm_class: 0x04, data_coding: 0, short_message: Buffer.from(text, 'latin1') });
    assert.equal(r1.command, 'deliver_sm_resp');
    assert.equal(r1.command_status, 0);

    const r2 = await deliver(session, {
      esm_class: 0x04,
      short_message: Buffer.from('id:ignored stat:DELIVRD err:000', 'latin1'),
      receipted_message_id: 'tlv-id-9',
      message_state: 5,
    });
    assert.equal(r2.command_status, 0);

    const r3 = await deliver(session, { esm_class: 0x04, short_message: Buffer.alloc(0), receipted_message_id: 'only-tlvs', message_state: 8 });
    assert.equal(r3.command_status, 0);

    await waitUntil('three receipts', () => receipts.length === 3, 2_000);
    const [a, b, c] = receipts;
    assert.deepEqual(
      { ...a },
      {
        smscId: 'A1B2C3',
        stat: 'DELIVRD',
        err: '000',
        status: 'delivered',
        doneDate: new Date(Date.UTC(2026, 2, 1, 12, 1)),
        submitDate: new Date(Date.UTC(2026, 2, 1, 12, 0)),
        from: '+447700900123',
        to: '+15550001111',
        receiptText: text,
      },
    );
    assert.equal(b?.smscId, 'tlv-id-9');
    assert.equal(b?.stat, 'UNDELIV');
    assert.equal(b?.status, 'undelivered');
    assert.equal(c?.smscId, 'only-tlvs');
    assert.equal(c?.status, 'failed');
    assert.equal(c?.err, '');
    assert.equal(carrier.counters.inbound, 0);
  });

  test('inbound single messages: GSM-7, UCS-2, Latin-1', async (t) => {
    const { carrier, session } = await bound(t);
    const inbound = collect(carrier, 'inbound');
    const gsm = segment('Hello @ £5 {ok} €');
    assert.equal(gsm.dataCoding, 0);
    await deliver(session, { esm_class: 0, data_coding: 0, short_message: gsm.parts[0]?.payload });
    const ucs = segment('Привет 👋');
    assert.equal(ucs.dataCoding, 8);
    await deliver(session, { esm_class: 0, data_coding: 8, short_message: ucs.parts[0]?.payload });
    await deliver(session, { esm_class: 0, data_coding: 3, short_message: Buffer.from('café déjà', 'latin1') });
    await waitUntil('three messages', () => inbound.length === 3, 2_000);
    assert.deepEqual(
      inbound.map((m) => ({ ...m })),
      [
        { from: '+447700900123', to: '+15550001111', text: 'Hello @ £5 {ok} €', encoding: 'GSM-7', dataCoding: 0, parts: 1 },
        { from: '+447700900123', to: '+15550001111', text: 'Привет 👋', encoding: 'UCS-2', dataCoding: 8, parts: 1 },
        { from: '+447700900123', to: '+15550001111', text: 'café déjà', encoding: 'LATIN-1', dataCoding: 3, parts: 1 },
      ],
    );
  });

  for (const [label, text] of [
    ['GSM-7', `${'Concatenated GSM-7 message with an extension € in it. '.repeat(7)}the end`],
    ['UCS-2', `${'Сообщение из трёх частей 😀 '.repeat(6)}конец`],
  ] as const) {
    test(`inbound concatenated ${label}: three parts out of order make one message`, async (t) => {
      const { carrier, session } = await bound(t);
      const inbound = collect(carrier, 'inbound');
      const seg = segment(text, { reference: 42 });
      assert.equal(seg.segments, 3);
      // An unrelated single message from another sender arrives between the parts.
      const order = [2, 0, 1];
      const responses: PDU[] = [];
      for (const [n, i] of order.entries()) {
        const part = seg.parts[i];
        assert.ok(part?.udh);
        responses.push(await deliver(session, { esm_class: 0x40, data_coding: seg.dataCoding, short_message: Buffer.concat([part.udh, part.payload]) }));
        if (n === 0) responses.push(await deliver(session, { source_addr: '447700900999', esm_class: 0, data_coding: 0, short_message: Buffer.from('other') }));
      }
      assert.ok(responses.every((r) => r.command === 'deliver_sm_resp' && r.command_status === 0));
      await waitUntil('two inbound events', () => inbound.length === 2, 2_000);
      assert.equal(inbound[0]?.text, 'other');
      assert.deepEqual({ ...inbound[1] }, {
        from: '+447700900123',
        to: '+15550001111',
        text,
        encoding: label,
        dataCoding: seg.dataCoding,
        parts: 3,
      });
    });
  }

  test('an incomplete concatenated message expires with reassembly_expired and no inbound event', async (t) => {
    const { carrier, session } = await bound(t, { reassemblyTimeoutMs: 80 });
    const inbound = collect(carrier, 'inbound');
    const expired = collect(carrier, 'reassembly_expired');
    const seg = segment('y'.repeat(400), { reference: 9 });
    for (const i of [0, 2]) {
      const part = seg.parts[i];
      assert.ok(part?.udh);
      await deliver(session, { esm_class: 0x40, data_coding: 0, short_message: Buffer.concat([part.udh, part.payload]) });
    }
    await waitUntil('expiry', () => expired.length === 1, 2_000);
    assert.deepEqual(expired[0]?.received, [1, 3]);
    assert.equal(expired[0]?.total, 3);
    assert.equal(expired[0]?.reference, 9);
    assert.equal(expired[0]?.partialText, (seg.parts[0]?.text ?? '') + (seg.parts[2]?.text ?? ''));
    assert.equal(inbound.length, 0);
  });
});
