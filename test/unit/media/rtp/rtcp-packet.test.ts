import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  cnameOf,
  parseRtcp,
  parseRtcpCompound,
  RtcpParseError,
  sdesCname,
  serializeRtcp,
  serializeRtcpCompound,
} from '../../../../src/media/rtp/rtcp-packet.js';
import type { ReportBlock, RtcpPacket, SdesChunk } from '../../../../src/media/rtp/rtcp-packet.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

const SENDER_INFO = 'e8f1a2b3 80000000 000003e8 00000064 00003e80'; // NTP, RTP ts 1000, 100 packets, 16000 octets

describe('RTCP fixtures', () => {
  test('Sender Report with one report block', () => {
    const wire = hex(
      '81 c8 000c 11223344' + // V=2 P=0 RC=1 | PT=200 | length 12 words | SSRC
        SENDER_INFO +
        '55667788' + // report block: SSRC_1
        '40 fffffd' + // fraction 64/256, cumulative lost -3 (signed 24-bit)
        '0001ffff 00000010 a2b38000 00010000', // ext. highest seq (1 cycle, 65535), jitter 16, LSR, DLSR 1 s
    );
    const sr: RtcpPacket = {
      type: 'sr',
      ssrc: 0x11223344,
      ntpTimestamp: 0xe8f1a2b380000000n,
      rtpTimestamp: 1000,
      packetCount: 100,
      octetCount: 16000,
      reports: [
        {
          ssrc: 0x55667788,
          fractionLost: 64,
          cumulativeLost: -3,
          highestSeq: 0x1ffff,
          jitter: 16,
          lsr: 0xa2b38000,
          dlsr: 0x10000,
        },
      ],
    };
    assert.deepEqual(parseRtcpCompound(wire), [sr]);
    assert.deepEqual(parseRtcp(wire), sr);
    assert.deepEqual(serializeRtcp(sr), wire);
  });

  test('Receiver Report', () => {
    const wire = hex(
      '81 c9 0007 55667788' + // V=2 P=0 RC=1 | PT=201 | length 7 words | SSRC of packet sender
        '11223344 00 000005 00001388 0000002a f1a2b380 00008000',
    );
    const rr: RtcpPacket = {
      type: 'rr',
      ssrc: 0x55667788,
      reports: [
        { ssrc: 0x11223344, fractionLost: 0, cumulativeLost: 5, highestSeq: 5000, jitter: 42, lsr: 0xf1a2b380, dlsr: 0x8000 },
      ],
    };
    assert.deepEqual(parseRtcpCompound(wire), [rr]);
    assert.deepEqual(serializeRtcp(rr), wire);
  });

  test('compound SR + SDES CNAME + BYE', () => {
    const wire = hex(
      '80 c8 0006 11223344' + SENDER_INFO + // SR, no report blocks: 28 octets
        '81 ca 0004 11223344' + // SDES, 1 chunk, length 4 words
        '01 09 757365724068 6f7374' + // CNAME "user@host"
        '00' + // END; 11 item octets + END = 12, already 32-bit aligned
        '81 cb 0002 11223344' + // BYE, 1 source, length 2 words
        '03 627965', // reason "bye", exactly 4 octets
    );
    const packets: RtcpPacket[] = [
      {
        type: 'sr',
        ssrc: 0x11223344,
        ntpTimestamp: 0xe8f1a2b380000000n,
        rtpTimestamp: 1000,
        packetCount: 100,
        octetCount: 16000,
        reports: [],
      },
      sdesCname(0x11223344, 'user@host'),
      { type: 'bye', sources: [0x11223344], reason: Buffer.from('bye') },
    ];
    const parsed = parseRtcpCompound(wire);
    assert.deepEqual(parsed, packets);
    assert.deepEqual(serializeRtcpCompound(packets), wire);
    const sdes = parsed[1];
    assert.ok(sdes?.type === 'sdes');
    assert.equal(cnameOf(sdes.chunks[0] as SdesChunk), 'user@host');
  });

  test('SDES item already ending on a boundary gets a full word of END + nulls; BYE without reason', () => {
    // CNAME "ab": 01 02 61 62 = 4 octets, so END plus 3 nulls.
    const sdesWire = hex('81 ca 0003 00000001 01026162 00000000');
    assert.deepEqual(serializeRtcp(sdesCname(1, 'ab')), sdesWire);
    assert.deepEqual(parseRtcp(sdesWire), sdesCname(1, 'ab'));
    const byeWire = hex('82 cb 0002 00000001 00000002');
    assert.deepEqual(parseRtcp(byeWire), { type: 'bye', sources: [1, 2] });
    assert.deepEqual(serializeRtcp({ type: 'bye', sources: [1, 2] }), byeWire);
  });

  test('padding on the last packet is honoured; unknown packet types are kept', () => {
    // RR with no blocks then a BYE padded with 4 octets (P=1, count 4).
    const wire = hex('80 c9 0001 00000001' + 'a1 cb 0002 00000001 00000004');
    assert.deepEqual(parseRtcpCompound(wire), [
      { type: 'rr', ssrc: 1, reports: [] },
      { type: 'bye', sources: [1] },
    ]);
    // A PLI (PSFB, PT 206, FMT 1) comes back as unknown and serializes unchanged.
    const pli = hex('81 ce 0002 00000001 00000002');
    assert.deepEqual(parseRtcp(pli), { type: 'unknown', packetType: 206, count: 1, body: hex('00000001 00000002') });
    assert.deepEqual(serializeRtcp(parseRtcp(pli)), pli);
  });

  test('malformed packets throw RtcpParseError', () => {
    const cases: Record<string, string> = {
      empty: '',
      'short header': '80 c9 00',
      'version 1': '40 c9 0001 00000001',
      'length past the end': '80 c9 0002 00000001',
      'trailing octets': '80 c9 0001 00000001 80',
      'RR blocks past the length': '81 c9 0001 00000001',
      'SR too short': '80 c8 0001 00000001',
      'padding on a non-last packet': 'a0 c9 0001 00000001 80 c9 0001 00000001',
      'padding count 0': 'a0 c9 0001 00000000',
      'padding count too large': 'a0 c9 0001 00000009',
      'SDES chunk missing': '82 ca 0001 00000001',
      'SDES without END': '81 ca 0002 00000001 01026162',
      'SDES item past the end': '81 ca 0002 00000001 01096162',
      'BYE sources past the end': '82 cb 0001 00000001',
      'BYE reason past the end': '81 cb 0002 00000001 05616200',
    };
    for (const [name, h] of Object.entries(cases)) {
      assert.throws(() => parseRtcpCompound(hex(h)), RtcpParseError, name);
    }
    assert.throws(() => parseRtcp(hex('80 c9 0001 00000001 80 c9 0001 00000001')), RtcpParseError);
  });

  test('serializers reject fields that do not fit', () => {
    const block: ReportBlock = { ssrc: 1, fractionLost: 0, cumulativeLost: 0, highestSeq: 0, jitter: 0, lsr: 0, dlsr: 0 };
    assert.throws(() => serializeRtcp({ type: 'rr', ssrc: 1, reports: [{ ...block, cumulativeLost: 0x800000 }] }), RangeError);
    assert.throws(() => serializeRtcp({ type: 'rr', ssrc: 1, reports: [{ ...block, fractionLost: 256 }] }), RangeError);
    assert.throws(() => serializeRtcp({ type: 'rr', ssrc: 1, reports: new Array<ReportBlock>(32).fill(block) }), RangeError);
    assert.throws(() => serializeRtcp({ type: 'bye', sources: [], reason: Buffer.alloc(256) }), RangeError);
  });
});

const uint32 = fc.nat({ max: 0xffffffff });
const bytes = (maxLength: number) => fc.uint8Array({ maxLength }).map((a) => Buffer.from(a));

// fc.record builds null-prototype objects and deepStrictEqual compares prototypes, hence the spreads into literals.
const reportBlockArb: fc.Arbitrary<ReportBlock> = fc
  .record({
    ssrc: uint32,
    fractionLost: fc.nat({ max: 255 }),
    cumulativeLost: fc.integer({ min: -0x800000, max: 0x7fffff }),
    highestSeq: uint32,
    jitter: uint32,
    lsr: uint32,
    dlsr: uint32,
  })
  .map((r) => ({ ...r }));

const reports = fc.array(reportBlockArb, { maxLength: 31 });

const rtcpPacketArb: fc.Arbitrary<RtcpPacket> = fc.oneof(
  fc
    .record({
      ssrc: uint32,
      ntpTimestamp: fc.bigInt({ min: 0n, max: 0xffffffffffffffffn }),
      rtpTimestamp: uint32,
      packetCount: uint32,
      octetCount: uint32,
      reports,
    })
    .map((r): RtcpPacket => ({ type: 'sr', ...r })),
  fc.record({ ssrc: uint32, reports }).map((r): RtcpPacket => ({ type: 'rr', ...r })),
  fc
    .array(
      fc.record({
        source: uint32,
        items: fc.array(fc.record({ type: fc.integer({ min: 1, max: 255 }), value: bytes(255) }), { maxLength: 4 }),
      }),
      { maxLength: 31 },
    )
    .map((chunks): RtcpPacket => ({
      type: 'sdes',
      chunks: chunks.map((c) => ({ source: c.source, items: c.items.map((i) => ({ ...i })) })),
    })),
  fc
    .record({ sources: fc.array(uint32, { maxLength: 31 }), reason: fc.option(bytes(255), { nil: undefined }) })
    .map(({ sources, reason }): RtcpPacket => (reason === undefined ? { type: 'bye', sources } : { type: 'bye', sources, reason })),
  fc
    .record({
      packetType: fc.constantFrom(204, 205, 206, 207),
      count: fc.nat({ max: 31 }),
      body: fc.array(uint32, { maxLength: 16 }).map((ws) => {
        const b = Buffer.alloc(4 * ws.length);
        ws.forEach((w, i) => b.writeUInt32BE(w, 4 * i));
        return b;
      }),
    })
    .map((r): RtcpPacket => ({ type: 'unknown', ...r })),
);

describe('RTCP properties', () => {
  test('compound serialize → parse round-trips, and re-serializes byte-exact', () => {
    fc.assert(
      fc.property(fc.array(rtcpPacketArb, { minLength: 1, maxLength: 5 }), (packets) => {
        const wire = serializeRtcpCompound(packets);
        const parsed = parseRtcpCompound(wire);
        assert.deepEqual(parsed, packets);
        assert.deepEqual(serializeRtcpCompound(parsed), wire);
      }),
      { numRuns: 300 },
    );
  });

  const onlyRtcpParseError = (buf: Buffer): void => {
    try {
      const packets = parseRtcpCompound(buf);
      // Whatever parses must serialize and parse back to the same packets.
      assert.deepEqual(parseRtcpCompound(serializeRtcpCompound(packets)), packets);
    } catch (err) {
      if (!(err instanceof RtcpParseError)) throw err;
    }
  };

  test('fuzz: random buffers only ever throw RtcpParseError', () => {
    fc.assert(fc.property(bytes(120), onlyRtcpParseError), { numRuns: 2000 });
    // Random bodies behind a plausible header: version 2, a known packet type, a length that fits.
    fc.assert(
      fc.property(fc.nat({ max: 0x3f }), fc.constantFrom(200, 201, 202, 203, 206), bytes(120), (b0, pt, rest) => {
        const buf = Buffer.concat([Buffer.from([0x80 | b0, pt, 0, 0]), rest]);
        buf.writeUInt16BE(Math.floor(rest.length / 4), 2);
        onlyRtcpParseError(buf.subarray(0, 4 + 4 * Math.floor(rest.length / 4)));
        onlyRtcpParseError(buf);
      }),
      { numRuns: 3000 },
    );
  });

  test('fuzz: mutated and truncated valid compound packets only ever throw RtcpParseError', () => {
    fc.assert(
      fc.property(
        fc.array(rtcpPacketArb, { minLength: 1, maxLength: 3 }),
        fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { maxLength: 4 }),
        fc.nat(),
        (packets, flips, cut) => {
          const wire = serializeRtcpCompound(packets);
          for (const [at, value] of flips) wire.writeUInt8(value, at % wire.length);
          onlyRtcpParseError(wire);
          onlyRtcpParseError(wire.subarray(0, cut % (wire.length + 1)));
        },
      ),
      { numRuns: 500 },
    );
  });
});
