import assert from 'node:assert/strict';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import smpp from 'smpp';
import { readShortMessagePdu, SmppConnection } from '../../../src/sms/smpp-carrier.js';

/** A deliver_sm as an SMSC writes it, encoded by the smpp package (an independent encoder). */
function deliverSm(fields: { source: string; destination: string; esmClass: number; dataCoding: number; shortMessage: Buffer; seq: number }): Buffer {
  return new smpp.PDU('deliver_sm', {
    sequence_number: fields.seq,
    source_addr_ton: 1,
    source_addr_npi: 1,
    source_addr: fields.source,
    dest_addr_ton: 1,
    dest_addr_npi: 1,
    destination_addr: fields.destination,
    esm_class: fields.esmClass,
    data_coding: fields.dataCoding,
    short_message: fields.shortMessage,
  }).toBuffer();
}

const digits = fc.stringMatching(/^[0-9]{5,15}$/);
const pduFields = fc.record({
  source: digits,
  destination: digits,
  esmClass: fc.constantFrom(0, 0x04, 0x40),
  dataCoding: fc.constantFrom(0, 3, 8),
  shortMessage: fc.uint8Array({ minLength: 0, maxLength: 254 }).map((a) => Buffer.from(a)),
  seq: fc.integer({ min: 1, max: 0x7fffffff }),
});

describe('SMPP short-message PDUs on the wire', () => {
  test('fixture: a receipt deliver_sm reads back field for field', () => {
    const text = Buffer.from('id:0123456789 sub:001 dlvrd:001 submit date:2611221200 done date:2611221201 stat:DELIVRD err:000 text:hi', 'latin1');
    const pdu = readShortMessagePdu(deliverSm({ source: '14155550100', destination: '14155551234', esmClass: 4, dataCoding: 0, shortMessage: text, seq: 7 }));
    assert.ok(pdu);
    assert.equal(pdu.source, '14155550100');
    assert.equal(pdu.destination, '14155551234');
    assert.equal(pdu.esmClass, 4);
    assert.deepEqual(pdu.shortMessage, text);
  });

  test('round trip: whatever the smpp package encodes is read back exactly (fast-check)', () => {
    fc.assert(
      fc.property(pduFields, (fields) => {
        const pdu = readShortMessagePdu(deliverSm(fields));
        assert.ok(pdu);
        assert.equal(pdu.source, fields.source);
        assert.equal(pdu.destination, fields.destination);
        assert.equal(pdu.esmClass, fields.esmClass);
        assert.equal(pdu.dataCoding, fields.dataCoding);
        assert.deepEqual(pdu.shortMessage, fields.shortMessage);
      }),
      { numRuns: 300, interruptAfterTimeLimit: 5_000 },
    );
  });

  test('random and mutated octets never throw: a PDU or undefined (fast-check)', () => {
    const mutated = fc.tuple(pduFields, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }), fc.nat()).map(
      ([fields, flips, cut]) => {
        const raw = Buffer.from(deliverSm(fields));
        for (const [at, value] of flips) raw[at % raw.length] = value;
        return raw.subarray(0, Math.max(0, raw.length - (cut % 8)));
      },
    );
    fc.assert(
      fc.property(fc.oneof(mutated, fc.uint8Array({ maxLength: 400 }).map((a) => Buffer.from(a))), (raw) => {
        const pdu = readShortMessagePdu(raw);
        assert.ok(pdu === undefined || Buffer.isBuffer(pdu.shortMessage));
      }),
      { numRuns: 1_000, interruptAfterTimeLimit: 5_000 },
    );
  });
});

/** A connected pair on loopback: `a` wrapped as an SmppConnection, `b` the raw peer socket. */
async function pair(): Promise<{ conn: SmppConnection; peer: Socket; close(): Promise<void> }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  const socket = connect((server.address() as AddressInfo).port, '127.0.0.1');
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  const peer = await accepted;
  const conn = new SmppConnection(socket);
  return {
    conn,
    peer,
    async close() {
      socket.destroy();
      peer.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('SMPP framing over TCP', () => {
  test('PDUs split into arbitrary chunks arrive whole and in order (fast-check)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(pduFields, { minLength: 1, maxLength: 6 }), fc.array(fc.integer({ min: 1, max: 60 }), { minLength: 1, maxLength: 20 }), async (list, cuts) => {
        const { conn, peer, close } = await pair();
        try {
          const wire = Buffer.concat(list.map(deliverSm));
          const seen: number[] = [];
          const all = new Promise<void>((resolve) =>
            conn.on('pdu', (pdu) => {
              seen.push(pdu.sequence_number as number);
              if (seen.length === list.length) resolve();
            }),
          );
          let at = 0;
          for (let i = 0; at < wire.length; i++) {
            const size = cuts[i % cuts.length]!;
            peer.write(wire.subarray(at, at + size));
            at += size;
          }
          await all;
          assert.deepEqual(seen, list.map((f) => f.seq));
        } finally {
          await close();
        }
      }),
      { numRuns: 25, interruptAfterTimeLimit: 8_000 },
    );
  });

  test('an impossible command_length closes the connection with an error instead of throwing', async () => {
    const { conn, peer, close } = await pair();
    try {
      const closed = new Promise<Error | undefined>((resolve) => conn.once('close', resolve));
      peer.write(Buffer.from([0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 1]));
      const error = await closed;
      assert.match(String(error?.message), /command_length/);
    } finally {
      await close();
    }
  });
});
