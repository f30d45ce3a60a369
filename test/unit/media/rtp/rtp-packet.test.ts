import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isRtcp, parseRtp, RtpParseError, RtpView, serializeRtp } from '../../../../src/media/rtp/rtp-packet.js';
import type { RtpPacket } from '../../../../src/media/rtp/rtp-packet.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('RTP fixtures', () => {
  test('G.711 PCMU packet with marker', () => {
    // V=2 P=0 X=0 CC=0 | M=1 PT=0 | seq 1 | ts 160 | SSRC 0xdeadbeef | 160 octets of µ-law silence
    const wire = hex('80 80 0001 000000a0 deadbeef' + 'ff'.repeat(160));
    const packet: RtpPacket = {
      version: 2,
      padding: false,
      marker: true,
      payloadType: 0,
      sequenceNumber: 1,
      timestamp: 160,
      ssrc: 0xdeadbeef,
      csrcs: [],
      payload: Buffer.alloc(160, 0xff),
    };
    assert.deepEqual(parseRtp(wire), packet);
    assert.deepEqual(serializeRtp(packet), wire);
  });

  test('2 CSRCs, a header extension and padding', () => {
    const wire = hex(
      'b2 08 ffff 12345678 11223344' + // V=2 P=1 X=1 CC=2 | M=0 PT=8 | seq 65535 | ts | SSRC
        'aaaaaaaa bbbbbbbb' + // CSRCs
        'bede 0001 10ff0000' + // extension: profile 0xBEDE, 1 word
        'd5d5d5d5' + // payload (A-law silence)
        '000003', // 3 padding octets, count last
    );
    const packet: RtpPacket = {
      version: 2,
      padding: true,
      marker: false,
      payloadType: 8,
      sequenceNumber: 0xffff,
      timestamp: 0x12345678,
      ssrc: 0x11223344,
      csrcs: [0xaaaaaaaa, 0xbbbbbbbb],
      extension: { profile: 0xbede, data: hex('10ff0000') },
      payload: hex('d5d5d5d5'),
      paddingLength: 3,
    };
    assert.deepEqual(parseRtp(wire), packet);
    assert.deepEqual(serializeRtp(packet), wire);
  });

  test('padding without an explicit length pads to 32 bits', () => {
    const { paddingLength: _ignored, ...rest } = parseRtp(hex('a0 00 0001 00000000 00000001 aabbcc 01'));
    const out = serializeRtp(rest);
    assert.equal(out.length, 16);
    assert.equal(out.readUInt8(15), 1);
    const out2 = serializeRtp({ ...rest, payload: Buffer.alloc(4) });
    assert.equal(out2.length, 20);
    assert.equal(out2.readUInt8(19), 4);
  });

  test('malformed packets throw RtpParseError', () => {
    const cases: Record<string, string> = {
      empty: '',
      'short header': '80 00 0001 00000000 000000',
      'version 1': '40 00 0001 00000000 00000001',
      'CSRCs past the end': '82 00 0001 00000000 00000001 aaaaaaaa',
      'extension header past the end': '90 00 0001 00000000 00000001 bede',
      'extension data past the end': '90 00 0001 00000000 00000001 bede 0002 00000000',
      'padding count 0': 'a0 00 0001 00000000 00000001 aabbcc 00',
      'padding count beyond payload': 'a0 00 0001 00000000 00000001 aabbcc 05',
      'padding on a bare header': 'a0 00 0001 00000000 00000001',
    };
    for (const [name, h] of Object.entries(cases)) {
      assert.throws(() => parseRtp(hex(h)), RtpParseError, name);
    }
  });

  test('serializeRtp rejects fields that do not fit', () => {
    const base = parseRtp(hex('80 00 0001 00000000 00000001'));
    assert.throws(() => serializeRtp({ ...base, payloadType: 128 }), RangeError);
    assert.throws(() => serializeRtp({ ...base, sequenceNumber: 65536 }), RangeError);
    assert.throws(() => serializeRtp({ ...base, csrcs: new Array<number>(16).fill(1) }), RangeError);
    assert.throws(() => serializeRtp({ ...base, extension: { profile: 1, data: Buffer.alloc(3) } }), RangeError);
    assert.throws(() => serializeRtp({ ...base, padding: true, paddingLength: 0 }), RangeError);
  });
});

describe('isRtcp (RFC 5761 §4)', () => {
  test('RTCP packet types 192-223 are RTCP, RTP payload types are not, with or without marker', () => {
    for (const pt of [200, 201, 202, 203, 205, 206, 192, 223]) assert.equal(isRtcp(Buffer.from([0x80, pt])), true, `${pt}`);
    for (const pt of [0, 8, 96, 127, 0x80, 0x80 | 96, 0x80 | 63, 224]) assert.equal(isRtcp(Buffer.from([0x80, pt])), false, `${pt}`);
    assert.equal(isRtcp(Buffer.from([0x80])), false);
    assert.equal(isRtcp(Buffer.alloc(0)), false);
  });
});

const uint32 = fc.nat({ max: 0xffffffff });
const bytes = (maxLength: number) => fc.uint8Array({ maxLength }).map((a) => Buffer.from(a));

const rtpPacketArb: fc.Arbitrary<RtpPacket> = fc
  .record({
    marker: fc.boolean(),
    payloadType: fc.nat({ max: 127 }),
    sequenceNumber: fc.nat({ max: 0xffff }),
    timestamp: uint32,
    ssrc: uint32,
    csrcs: fc.array(uint32, { maxLength: 15 }),
    extension: fc.option(
      fc.record({
        profile: fc.nat({ max: 0xffff }),
        data: fc.array(uint32, { maxLength: 8 }).map((ws) => {
          const b = Buffer.alloc(4 * ws.length);
          ws.forEach((w, i) => b.writeUInt32BE(w, 4 * i));
          return b;
        }),
      }),
      { nil: undefined },
    ),
    payload: bytes(300),
    paddingLength: fc.option(fc.integer({ min: 1, max: 255 }), { nil: undefined }),
  })
  .map(({ extension, paddingLength, ...rest }) => {
    const p: RtpPacket = { version: 2, padding: paddingLength !== undefined, ...rest };
    // fc.record builds null-prototype objects; deepStrictEqual compares prototypes.
    if (extension) p.extension = { profile: extension.profile, data: extension.data };
    if (paddingLength !== undefined) p.paddingLength = paddingLength;
    return p;
  });

describe('RTP properties', () => {
  test('serialize → parse round-trips', () => {
    fc.assert(
      fc.property(rtpPacketArb, (p) => {
        assert.deepEqual(parseRtp(serializeRtp(p)), p);
      }),
      { numRuns: 500 },
    );
  });

  test('parse → serialize is byte-exact when padding octets are zero', () => {
    fc.assert(
      fc.property(rtpPacketArb, (p) => {
        const wire = serializeRtp(p);
        assert.deepEqual(serializeRtp(parseRtp(wire)), wire);
      }),
      { numRuns: 300 },
    );
  });

  const onlyRtpParseError = (buf: Buffer): void => {
    try {
      const p = parseRtp(buf);
      // Whatever parses must serialize and parse back to the same packet.
      assert.deepEqual(parseRtp(serializeRtp(p)), p);
    } catch (err) {
      if (!(err instanceof RtpParseError)) throw err;
    }
  };

  test('fuzz: random buffers only ever throw RtpParseError', () => {
    fc.assert(fc.property(bytes(80), onlyRtpParseError), { numRuns: 2000 });
    // Random buffers that at least start like RTP v2, to get past the version check.
    fc.assert(
      fc.property(bytes(80), fc.nat({ max: 0x3f }), (b, low) => {
        if (b.length > 0) b.writeUInt8(0x80 | low, 0);
        onlyRtpParseError(b);
      }),
      { numRuns: 2000 },
    );
  });

  test('fuzz: mutated and truncated valid packets only ever throw RtpParseError', () => {
    fc.assert(
      fc.property(
        rtpPacketArb,
        fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { maxLength: 4 }),
        fc.nat(),
        (p, flips, cut) => {
          const wire = serializeRtp(p);
          for (const [at, value] of flips) if (wire.length > 0) wire.writeUInt8(value, at % wire.length);
          onlyRtpParseError(wire);
          onlyRtpParseError(wire.subarray(0, cut % (wire.length + 1)));
        },
      ),
      { numRuns: 1000 },
    );
  });

  /** RtpView.read accepts exactly what parseRtp accepts, and reads the same fields and payload. */
  const viewAgrees = (view: RtpView, buf: Buffer): void => {
    let parsed: RtpPacket | undefined;
    try {
      parsed = parseRtp(buf);
    } catch {
      parsed = undefined;
    }
    assert.equal(view.read(buf), parsed !== undefined);
    if (!parsed) return;
    const { marker, payloadType, sequenceNumber, timestamp, ssrc, padding } = view;
    assert.deepEqual({ marker, payloadType, sequenceNumber, timestamp, ssrc, padding }, {
      marker: parsed.marker,
      payloadType: parsed.payloadType,
      sequenceNumber: parsed.sequenceNumber,
      timestamp: parsed.timestamp,
      ssrc: parsed.ssrc,
      padding: parsed.padding,
    });
    assert.deepEqual(view.payload, parsed.payload);
  };

  test('RtpView reads what parseRtp parses, and refuses what it refuses (one view reused)', () => {
    const view = new RtpView();
    fc.assert(
      fc.property(rtpPacketArb, fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { maxLength: 3 }), fc.nat(), (p, flips, cut) => {
        const wire = serializeRtp(p);
        viewAgrees(view, wire);
        for (const [at, value] of flips) if (wire.length > 0) wire.writeUInt8(value, at % wire.length);
        viewAgrees(view, wire);
        viewAgrees(view, wire.subarray(0, cut % (wire.length + 1)));
      }),
      { numRuns: 1000 },
    );
  });
});
