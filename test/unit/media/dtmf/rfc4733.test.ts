import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  digitToEvent,
  eventToDigit,
  isDtmfDigit,
  parseTelephoneEvent,
  rfc4733Packets,
  Rfc4733Error,
  Rfc4733Receiver,
  serializeTelephoneEvent,
} from '../../../../src/media/dtmf/rfc4733.js';
import type { ReceivedDigit } from '../../../../src/media/dtmf/rfc4733.js';

const hex = (s: string): Buffer => Buffer.from(s, 'hex');
const ev = (event: number, end: boolean, duration: number, volume = 10): Buffer =>
  serializeTelephoneEvent({ event, end, volume, duration });

function digits(out: readonly ReceivedDigit[]): string {
  return out.map((d) => d.digit).join('');
}

describe('telephone-event payload', () => {
  test('parse fixtures', () => {
    assert.deepEqual(parseTelephoneEvent(hex('050a0190')), {
      event: 5,
      end: false,
      reserved: false,
      volume: 10,
      duration: 400,
    });
    assert.deepEqual(parseTelephoneEvent(hex('0b8a0320')), {
      event: 11,
      end: true,
      reserved: false,
      volume: 10,
      duration: 800,
    });
    assert.deepEqual(parseTelephoneEvent(hex('ffffffff')), {
      event: 255,
      end: true,
      reserved: true,
      volume: 63,
      duration: 65535,
    });
    assert.deepEqual(parseTelephoneEvent(hex('00000000')), {
      event: 0,
      end: false,
      reserved: false,
      volume: 0,
      duration: 0,
    });
  });

  test('serialize fixtures', () => {
    assert.equal(serializeTelephoneEvent({ event: 5, end: false, volume: 10, duration: 400 }).toString('hex'), '050a0190');
    assert.equal(serializeTelephoneEvent({ event: 11, end: true, volume: 10, duration: 800 }).toString('hex'), '0b8a0320');
    assert.equal(
      serializeTelephoneEvent({ event: 255, end: true, reserved: true, volume: 63, duration: 65535 }).toString('hex'),
      'ffffffff',
    );
  });

  test('invalid input throws Rfc4733Error', () => {
    for (const len of [0, 1, 3, 5, 8]) {
      assert.throws(() => parseTelephoneEvent(Buffer.alloc(len)), (e: unknown) => e instanceof Rfc4733Error && e.code === 'payload_length');
    }
    for (const bad of [
      { event: 256, end: false, volume: 0, duration: 0 },
      { event: -1, end: false, volume: 0, duration: 0 },
      { event: 1.5, end: false, volume: 0, duration: 0 },
      { event: 1, end: false, volume: 64, duration: 0 },
      { event: 1, end: false, volume: 0, duration: 65536 },
      { event: 1, end: false, volume: 0, duration: Number.NaN },
    ]) {
      assert.throws(() => serializeTelephoneEvent(bad), (e: unknown) => e instanceof Rfc4733Error && e.code === 'invalid_field');
    }
  });

  test('event code ↔ character map', () => {
    const chars = '0123456789*#ABCD';
    for (let i = 0; i < 16; i++) {
      assert.equal(eventToDigit(i), chars[i]);
      assert.equal(digitToEvent(chars[i]!), i);
      assert.ok(isDtmfDigit(chars[i]!));
    }
    assert.equal(digitToEvent('a'), 12);
    assert.equal(digitToEvent('d'), 15);
    assert.equal(digitToEvent('E'), undefined);
    assert.equal(digitToEvent('12'), undefined);
    assert.equal(digitToEvent(''), undefined);
    assert.equal(eventToDigit(16), undefined);
    assert.equal(eventToDigit(-1), undefined);
    assert.equal(eventToDigit(1.5), undefined);
    assert.ok(!isDtmfDigit('a'));
  });

  test('round trip (property)', () => {
    fc.assert(
      fc.property(
        fc.record({
          event: fc.integer({ min: 0, max: 255 }),
          end: fc.boolean(),
          reserved: fc.boolean(),
          volume: fc.integer({ min: 0, max: 63 }),
          duration: fc.integer({ min: 0, max: 65535 }),
        }),
        (e) => {
          assert.deepEqual(parseTelephoneEvent(serializeTelephoneEvent(e)), { ...e }); // fc.record objects have a null prototype
        },
      ),
      { numRuns: 1000 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 4, maxLength: 4 }), (bytes) => {
        assert.deepEqual(new Uint8Array(serializeTelephoneEvent(parseTelephoneEvent(bytes))), bytes);
      }),
      { numRuns: 1000 },
    );
  });

  test('fuzz: parse only ever throws Rfc4733Error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 12 }), (bytes) => {
        try {
          parseTelephoneEvent(bytes);
          assert.equal(bytes.length, 4);
        } catch (e) {
          assert.ok(e instanceof Rfc4733Error);
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe('rfc4733Packets', () => {
  test('100 ms digit at 8 kHz: start, one update, three ends', () => {
    const pkts = rfc4733Packets('5', { durationMs: 100, volume: 10 });
    assert.deepEqual(
      pkts.map((p) => [p.payload.toString('hex'), p.marker, p.timestampOffset, p.sendOffsetMs]),
      [
        ['050a0190', true, 0, 0],
        ['058a0320', false, 0, 50],
        ['058a0320', false, 0, 50],
        ['058a0320', false, 0, 50],
      ],
    );
  });

  test('default options and a longer tone', () => {
    const pkts = rfc4733Packets('#', { durationMs: 230 });
    assert.deepEqual(
      pkts.map((p) => parseTelephoneEvent(p.payload)).map((e) => [e.event, e.end, e.volume, e.duration]),
      [
        [11, false, 10, 400],
        [11, false, 10, 800],
        [11, false, 10, 1200],
        [11, false, 10, 1600],
        [11, true, 10, 1840],
        [11, true, 10, 1840],
        [11, true, 10, 1840],
      ],
    );
    assert.deepEqual(pkts.map((p) => p.marker), [true, false, false, false, false, false, false]);
    assert.deepEqual(pkts.map((p) => p.sendOffsetMs), [0, 50, 100, 150, 200, 200, 200]);
    assert.equal(rfc4733Packets('1').length, 4); // 100 ms default
  });

  test('a tone shorter than one interval is a marked end packet sent three times', () => {
    const pkts = rfc4733Packets('d', { durationMs: 40, volume: 0, clockRate: 16000 });
    assert.deepEqual(
      pkts.map((p) => [p.payload.toString('hex'), p.marker]),
      [
        ['0f800280', true],
        ['0f800280', false],
        ['0f800280', false],
      ],
    );
  });

  test('bad arguments throw Rfc4733Error', () => {
    const bad: Array<() => unknown> = [
      () => rfc4733Packets('E'),
      () => rfc4733Packets('', {}),
      () => rfc4733Packets('1', { durationMs: 0 }),
      () => rfc4733Packets('1', { durationMs: 9000 }),
      () => rfc4733Packets('1', { durationMs: Number.NaN }),
      () => rfc4733Packets('1', { volume: 64 }),
      () => rfc4733Packets('1', { clockRate: 0 }),
      () => rfc4733Packets('1', { intervalMs: 0 }),
    ];
    for (const f of bad) assert.throws(f, Rfc4733Error);
  });
});

describe('Rfc4733Receiver', () => {
  function feed(rx: Rfc4733Receiver, ts: number, pkts: ReturnType<typeof rfc4733Packets>): ReceivedDigit[] {
    return pkts.flatMap((p) => rx.push(ts, p.marker, p.payload));
  }

  test('a sender stream gives one digit with its duration, reported on the first end packet', () => {
    const rx = new Rfc4733Receiver();
    const pkts = rfc4733Packets('7', { durationMs: 120, volume: 12 });
    const results = pkts.map((p) => rx.push(1000, p.marker, p.payload));
    const firstEnd = pkts.findIndex((p) => parseTelephoneEvent(p.payload).end);
    results.forEach((r, i) => assert.equal(r.length, i === firstEnd ? 1 : 0, `packet ${i}`));
    assert.deepEqual(results[firstEnd], [
      { digit: '7', event: 7, timestamp: 1000, duration: 960, durationMs: 120, volume: 12, ended: true },
    ]);
    assert.deepEqual(rx.flush(), []);
  });

  test('redundant end packets and retransmitted starts give one digit', () => {
    const rx = new Rfc4733Receiver();
    const out = [
      ...rx.push(500, true, ev(1, false, 160)),
      ...rx.push(500, true, ev(1, false, 160)), // retransmitted start
      ...rx.push(500, false, ev(1, false, 320)),
      ...rx.push(500, false, ev(1, true, 800)),
      ...rx.push(500, false, ev(1, true, 800)),
      ...rx.push(500, false, ev(1, true, 800)),
      ...rx.push(500, true, ev(1, false, 160)), // very late retransmitted start
    ];
    assert.equal(digits(out), '1');
    assert.equal(out[0]!.duration, 800);
  });

  test('the same digit twice in a row (different timestamps) gives two digits', () => {
    const rx = new Rfc4733Receiver();
    const pkts = rfc4733Packets('3', { durationMs: 100 });
    const out = [...feed(rx, 8000, pkts), ...feed(rx, 9600, pkts)];
    assert.equal(digits(out), '33');
    assert.deepEqual(out.map((d) => d.timestamp), [8000, 9600]);
  });

  test('out-of-order updates keep the longest duration', () => {
    const rx = new Rfc4733Receiver();
    const out = [
      ...rx.push(42, false, ev(9, false, 800)),
      ...rx.push(42, true, ev(9, false, 400)),
      ...rx.push(42, false, ev(9, false, 1200)),
      ...rx.push(42, false, ev(9, false, 640)),
      ...rx.push(42, false, ev(9, true, 1280)),
      ...rx.push(42, false, ev(9, false, 960)), // late update after the end
      ...rx.push(42, false, ev(9, true, 1280)),
    ];
    assert.equal(digits(out), '9');
    assert.equal(out[0]!.duration, 1280);
  });

  test('all end packets lost: reported when the next event starts, or on flush', () => {
    const rx = new Rfc4733Receiver();
    assert.deepEqual(rx.push(100, true, ev(4, false, 400)), []);
    assert.deepEqual(rx.push(100, false, ev(4, false, 800)), []);
    const out = rx.push(2000, true, ev(6, false, 400));
    assert.deepEqual(out, [
      { digit: '4', event: 4, timestamp: 100, duration: 800, durationMs: 100, volume: 10, ended: false },
    ]);
    // the late end packet of the superseded event changes nothing
    assert.deepEqual(rx.push(100, false, ev(4, true, 960)), []);
    const flushed = rx.flush();
    assert.equal(digits(flushed), '6');
    assert.equal(flushed[0]!.ended, false);
    assert.deepEqual(rx.flush(), []);
  });

  test('a new event whose first packet is an end completes both', () => {
    const rx = new Rfc4733Receiver();
    rx.push(100, true, ev(2, false, 400));
    assert.equal(digits(rx.push(1000, true, ev(8, true, 400))), '28');
  });

  test('stragglers from an older event, non-DTMF events and malformed payloads are ignored', () => {
    const rx = new Rfc4733Receiver();
    assert.equal(digits(rx.push(5000, true, ev(0, true, 800))), '0');
    assert.deepEqual(rx.push(4000, true, ev(5, false, 400)), []); // older than the newest event
    assert.deepEqual(rx.push(6000, true, ev(16, true, 400)), []); // flash hook
    assert.deepEqual(rx.push(7000, true, Buffer.alloc(3)), []);
    assert.deepEqual(rx.push(7000, true, Buffer.alloc(0)), []);
    assert.equal(rx.malformed, 2);
    assert.equal(digits(rx.push(8000, true, ev(10, true, 800))), '*');
  });

  test('RTP timestamps wrap around 2^32', () => {
    const rx = new Rfc4733Receiver();
    const pkts = rfc4733Packets('A');
    const out = [...feed(rx, 0xffffff00, pkts), ...feed(rx, 0x00000100, pkts)];
    assert.equal(digits(out), 'AA');
    assert.deepEqual(rx.push(0xffffff00, true, ev(12, true, 800)), []);
  });

  test('property: any digit string sent with losses-free redundancy is received exactly', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...'0123456789*#ABCD'), { minLength: 1, maxLength: 12 }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 40, max: 400 }),
        (ds, ts0, durationMs) => {
          const rx = new Rfc4733Receiver();
          const out: ReceivedDigit[] = [];
          let ts = ts0;
          for (const d of ds) {
            out.push(...feed(rx, ts, rfc4733Packets(d, { durationMs })));
            ts = (ts + durationMs * 8 + 400) >>> 0;
          }
          out.push(...rx.flush());
          assert.equal(digits(out), ds.join(''));
          for (const r of out) assert.equal(r.duration, Math.round(durationMs * 8));
        },
      ),
      { numRuns: 300 },
    );
  });

  test('property: losing every end packet still yields every digit (the last on flush)', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...'0123456789*#ABCD'), { minLength: 1, maxLength: 8 }), (ds) => {
        const rx = new Rfc4733Receiver();
        const out: ReceivedDigit[] = [];
        ds.forEach((d, i) => {
          const pkts = rfc4733Packets(d, { durationMs: 200 }).filter((p) => !parseTelephoneEvent(p.payload).end);
          out.push(...feed(rx, i * 4000, pkts));
        });
        out.push(...rx.flush());
        assert.equal(digits(out), ds.join(''));
      }),
      { numRuns: 200 },
    );
  });

  test('fuzz: the receiver never throws and reports at most two digits per packet', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            ts: fc.oneof(fc.integer({ min: 0, max: 4 }), fc.integer({ min: 0, max: 0xffffffff })),
            marker: fc.boolean(),
            payload: fc.oneof(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.uint8Array({ maxLength: 8 })),
          }),
          { maxLength: 40 },
        ),
        (pkts) => {
          const rx = new Rfc4733Receiver();
          for (const p of pkts) {
            const out = rx.push(p.ts, p.marker, p.payload);
            assert.ok(out.length <= 2);
            for (const d of out) assert.ok(isDtmfDigit(d.digit));
          }
          assert.ok(rx.flush().length <= 1);
        },
      ),
      { numRuns: 500 },
    );
  });

  test('constructor options are validated', () => {
    assert.throws(() => new Rfc4733Receiver({ clockRate: 0 }), Rfc4733Error);
    assert.throws(() => new Rfc4733Receiver({ historySize: 0 }), Rfc4733Error);
    assert.equal(new Rfc4733Receiver({ clockRate: 16000 }).clockRate, 16000);
  });
});
