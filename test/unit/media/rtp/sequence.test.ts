import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  isNewer,
  isTimestampNewer,
  ReceiverStats,
  seqAdd,
  seqDiff,
  timestampAdd,
  timestampDiff,
} from '../../../../src/media/rtp/sequence.js';

describe('sequence and timestamp arithmetic', () => {
  test('16-bit sequence numbers wrap 65535 → 0', () => {
    assert.equal(seqDiff(0, 65535), 1);
    assert.equal(seqDiff(65535, 0), -1);
    assert.equal(seqDiff(5, 65530), 11);
    assert.equal(seqDiff(100, 100), 0);
    assert.equal(seqDiff(0x8000, 0), -0x8000); // exactly half-way counts as older
    assert.equal(seqDiff(0x7fff, 0), 0x7fff);
    assert.equal(isNewer(0, 65535), true);
    assert.equal(isNewer(65535, 0), false);
    assert.equal(isNewer(7, 7), false);
    assert.equal(seqAdd(65535, 1), 0);
    assert.equal(seqAdd(0, -1), 65535);
  });

  test('32-bit timestamps wrap 2^32-1 → 0', () => {
    assert.equal(timestampDiff(0, 0xffffffff), 1);
    assert.equal(timestampDiff(0xffffffff, 0), -1);
    assert.equal(timestampDiff(80, 0xffffff60), 240);
    assert.equal(isTimestampNewer(80, 0xffffff60), true);
    assert.equal(timestampAdd(0xffffff60, 240), 80);
  });

  test('seqDiff inverts seqAdd for distances within half the space', () => {
    fc.assert(
      fc.property(fc.nat({ max: 0xffff }), fc.integer({ min: -0x8000, max: 0x7fff }), (s, n) => {
        assert.equal(seqDiff(seqAdd(s, n), s), n);
        assert.equal(isNewer(seqAdd(s, n), s), n > 0);
      }),
      { numRuns: 1000 },
    );
    fc.assert(
      fc.property(fc.nat({ max: 0xffffffff }), fc.integer({ min: -0x80000000, max: 0x7fffffff }), (t, n) => {
        assert.equal(timestampDiff(timestampAdd(t, n), t), n);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('ReceiverStats (RFC 3550 A.1, A.3, A.8)', () => {
  test('worked example: wrap-around, one loss, jitter, then a duplicate', () => {
    // 8 kHz G.711, 20 ms packets: 160 timestamp units apart. Arrival times are in the same units.
    const stats = new ReceiverStats({ minSequential: 1, clockRate: 8000 });
    //                          seq    ts   arrival      D = (ΔR) - (ΔS)          J += (|D| - J) / 16
    assert.ok(stats.receive(65534, 0, 1000)); //                                   J = 0 (first packet)
    assert.ok(stats.receive(65535, 160, 1160)); //    160 - 160 = 0               J = 0
    assert.ok(stats.receive(0, 320, 1400)); //        240 - 160 = 80              J = 80/16 = 5
    //                               seq 1 (ts 480) is lost
    assert.ok(stats.receive(2, 640, 1640)); //        240 - 320 = -80             J = 5 + 75/16 = 9.6875
    assert.ok(stats.receive(3, 800, 1800)); //        160 - 160 = 0               J = 9.6875 · 15/16 = 9.08203125
    assert.equal(stats.jitter, 9.08203125);

    // base_seq 65534; extended max = 1 cycle (65536) + 3 = 65539; expected = 65539 - 65534 + 1 = 6; received 5.
    assert.equal(stats.extendedHighestSeq, 65539);
    assert.equal(stats.expected, 6);
    assert.equal(stats.packetsReceived, 5);
    assert.deepEqual(stats.report(), {
      fractionLost: 42, // floor(1 · 256 / 6)
      cumulativeLost: 1,
      highestSeq: 0x00010003,
      jitter: 9,
      lsr: 0,
      dlsr: 0,
    });

    // Next interval: seq 4 on time, then seq 4 again 10 units later (a duplicate: counted, as in A.1).
    assert.ok(stats.receive(4, 960, 1960)); //        160 - 160 = 0               J = 9.08203125 · 15/16 = 8.514404296875
    assert.ok(stats.receive(4, 960, 1970)); //        10 - 0 = 10                 J = 8.5144… + (10 - 8.5144…)/16
    const j = 8.514404296875 + (10 - 8.514404296875) / 16; // 8.60725402832…
    assert.equal(stats.jitter, j);
    // expected 7, received 7: interval expected 1, received 2, lost -1 → fraction 0; cumulative lost 0.
    assert.deepEqual(stats.report(), { fractionLost: 0, cumulativeLost: 0, highestSeq: 0x00010004, jitter: 8, lsr: 0, dlsr: 0 });
  });

  test('jitter across an RTP timestamp wrap matches the unwrapped stream', () => {
    const wrapped = new ReceiverStats({ minSequential: 1 });
    const plain = new ReceiverStats({ minSequential: 1 });
    const arrivals = [0, 170, 310, 500, 640, 820];
    arrivals.forEach((arrival, i) => {
      wrapped.receive(i, timestampAdd(0xffffff00, 160 * i), arrival);
      plain.receive(i, 160 * i, arrival);
    });
    assert.equal(wrapped.jitter, plain.jitter);
    assert.ok(wrapped.jitter > 0);
  });

  test('probation: a source is valid after MIN_SEQUENTIAL (2) packets in sequence', () => {
    const stats = new ReceiverStats();
    assert.equal(stats.receive(100, 0, 0), false);
    assert.equal(stats.receive(200, 0, 0), false); // out of sequence: probation restarts
    assert.equal(stats.receive(201, 160, 160), true);
    assert.equal(stats.packetsReceived, 1);
    assert.equal(stats.expected, 1);
    assert.equal(stats.receive(202, 320, 320), true);
    assert.equal(stats.report().cumulativeLost, 0);
  });

  test('a large jump is dropped once, then re-synced when the next packet follows it', () => {
    const stats = new ReceiverStats({ minSequential: 1 });
    for (let s = 10; s < 20; s++) stats.receive(s, s * 160, s * 160);
    assert.equal(stats.receive(9000, 0, 4000), false);
    assert.equal(stats.receive(9001, 160, 4160), true);
    assert.equal(stats.packetsReceived, 1);
    assert.equal(stats.extendedHighestSeq, 9001);
    assert.equal(stats.report().cumulativeLost, 0);
  });

  test('cumulative loss is clamped to signed 24 bits; LSR and DLSR come from the last SR', () => {
    const stats = new ReceiverStats({ minSequential: 1, clockRate: 8000 });
    stats.receive(0, 0, 0);
    stats.receiveSenderReport(0xe8f1a2b380000000n, 2000);
    const r = stats.report(2000 + 4000); // 4000 units at 8 kHz = 0.5 s = 32768 / 65536 s
    assert.equal(r.lsr, 0xa2b38000);
    assert.equal(r.dlsr, 32768);

    // 1000 duplicates of one packet: lost = 1 - 1001 = -1000, reported as is (within range).
    const dup = new ReceiverStats({ minSequential: 1 });
    for (let i = 0; i <= 1000; i++) dup.receive(5, 0, 0);
    assert.equal(dup.report().cumulativeLost, -1000);
  });

  test('over a long random in-order stream with drops, lost = sent - received', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 0xffff }),
        fc.array(fc.boolean(), { minLength: 2, maxLength: 3000 }),
        (start, keep) => {
          keep[0] = true;
          const stats = new ReceiverStats({ minSequential: 1 });
          let last = 0;
          let got = 0;
          keep.forEach((k, i) => {
            if (!k) return;
            stats.receive(seqAdd(start, i), 160 * i, 160 * i);
            last = i;
            got++;
          });
          const r = stats.report();
          assert.equal(r.cumulativeLost, last + 1 - got);
          assert.equal(r.highestSeq, start + last);
          assert.equal(r.jitter, 0);
        },
      ),
      { numRuns: 200 },
    );
  });
});
