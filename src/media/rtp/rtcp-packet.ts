/**
 * RTCP packets (RFC 3550 §6.4-6.6) and compound packets (§6.1). Pure: no I/O, no clocks.
 *
 * Every RTCP packet starts with the same 4-octet header:
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |V=2|P|  count  |      PT       |             length            |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * `length` is the packet's size in 32-bit words minus one, header and padding included. A compound packet is
 * such packets back to back; only the last may be padded (§6.4.1).
 *
 * The parser accepts any sequence of well-formed packets (it does not insist on SR/RR first, so reduced-size
 * RTCP, RFC 5506, parses too). Packet types other than SR, RR, SDES and BYE come back as `unknown` with their
 * body untouched, and serialize back unchanged. Serializers never add padding.
 */

export class RtcpParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RtcpParseError';
  }
}

export const RTCP_SR = 200;
export const RTCP_RR = 201;
export const RTCP_SDES = 202;
export const RTCP_BYE = 203;

/** SDES item types (§6.5). */
export const SDES_END = 0;
export const SDES_CNAME = 1;

/**
 * Reception report block (§6.4.1), 24 octets, carried by SR and RR:
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 * |                 SSRC_1 (SSRC of first source)                 |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | fraction lost |       cumulative number of packets lost       |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |           extended highest sequence number received           |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                      interarrival jitter                      |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                         last SR (LSR)                         |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                   delay since last SR (DLSR)                  |
 * +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 */
export interface ReportBlock {
  ssrc: number;
  /** Fixed point, loss fraction × 256, 0-255. */
  fractionLost: number;
  /** Signed 24-bit: -8388608 to 8388607 (negative when duplicates outnumber losses). */
  cumulativeLost: number;
  /** Extended highest sequence number received, unsigned 32-bit (cycles << 16 | seq). */
  highestSeq: number;
  /** Interarrival jitter in timestamp units, unsigned 32-bit. */
  jitter: number;
  /** Middle 32 bits of the NTP timestamp of the last SR received, 0 if none. */
  lsr: number;
  /** Delay since that SR in units of 1/65536 s, 0 if none. */
  dlsr: number;
}

/**
 * Sender Report, PT = 200 (§6.4.1):
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |V=2|P|    RC   |   PT=SR=200   |             length            |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                         SSRC of sender                        |
 * +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 * |              NTP timestamp, most significant word             |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |             NTP timestamp, least significant word             |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                         RTP timestamp                         |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                     sender's packet count                     |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                      sender's octet count                     |
 * +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 * |                 report blocks (24 octets each)                |
 * +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 * |                  profile-specific extensions                  |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Profile-specific extensions are skipped by the parser and never written.
 */
export interface RtcpSenderReport {
  type: 'sr';
  ssrc: number;
  /** 64-bit NTP timestamp (seconds since 1900 << 32 | fraction). */
  ntpTimestamp: bigint;
  rtpTimestamp: number;
  packetCount: number;
  octetCount: number;
  reports: ReportBlock[];
}

/**
 * Receiver Report, PT = 201 (§6.4.2): the SR without the sender information.
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |V=2|P|    RC   |   PT=RR=201   |             length            |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                     SSRC of packet sender                     |
 * +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 * |                 report blocks (24 octets each)                |
 * +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 */
export interface RtcpReceiverReport {
  type: 'rr';
  ssrc: number;
  reports: ReportBlock[];
}

/**
 * Source Description, PT = 202 (§6.5):
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |V=2|P|    SC   |  PT=SDES=202  |             length            |
 * +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 * |                          SSRC/CSRC_1                          |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |     type      |    length     |  text (length octets) ...     |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |   ... more items, then a 0 (END) octet and null octets up to  |
 * |   the next 32-bit boundary                                    |
 * +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 * |                          SSRC/CSRC_2 ...                      |
 *
 * Items of any type are kept as raw text octets; CNAME (type 1) is the one RTP requires.
 */
export interface SdesItem {
  /** 1-255; SDES_CNAME for the canonical name. */
  type: number;
  /** 0-255 octets, UTF-8 per §6.5. */
  value: Buffer;
}

export interface SdesChunk {
  source: number;
  items: SdesItem[];
}

export interface RtcpSourceDescription {
  type: 'sdes';
  chunks: SdesChunk[];
}

/**
 * Goodbye, PT = 203 (§6.6):
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |V=2|P|    SC   |   PT=BYE=203  |             length            |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                           SSRC/CSRC                           |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * :                              ...                              :
 * +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 * |     length    |               reason for leaving            ... (opt)
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * The reason is padded with null octets to the next 32-bit boundary.
 */
export interface RtcpGoodbye {
  type: 'bye';
  sources: number[];
  /** Raw reason octets (UTF-8), absent when the packet carries none. */
  reason?: Buffer;
}

/** Any other packet type (APP, RTPFB, PSFB, XR, ...): header fields and the body after the 4-octet header. */
export interface RtcpUnknownPacket {
  type: 'unknown';
  packetType: number;
  /** The 5-bit count/format field. */
  count: number;
  /** The body after the common header, padding removed; a multiple of 4 octets. */
  body: Buffer;
}

export type RtcpPacket =
  | RtcpSenderReport
  | RtcpReceiverReport
  | RtcpSourceDescription
  | RtcpGoodbye
  | RtcpUnknownPacket;

// ---------------------------------------------------------------------------------------------------------------
// Parsing

const REPORT_BLOCK_SIZE = 24;

function parseReportBlocks(body: Buffer, offset: number, count: number, what: string): ReportBlock[] {
  if (body.length < offset + count * REPORT_BLOCK_SIZE) {
    throw new RtcpParseError(`${what}: ${count} report blocks do not fit in ${body.length} octets`);
  }
  const reports: ReportBlock[] = [];
  for (let i = 0; i < count; i++, offset += REPORT_BLOCK_SIZE) {
    reports.push({
      ssrc: body.readUInt32BE(offset),
      fractionLost: body.readUInt8(offset + 4),
      cumulativeLost: body.readIntBE(offset + 5, 3),
      highestSeq: body.readUInt32BE(offset + 8),
      jitter: body.readUInt32BE(offset + 12),
      lsr: body.readUInt32BE(offset + 16),
      dlsr: body.readUInt32BE(offset + 20),
    });
  }
  return reports;
}

function parseSdes(body: Buffer, count: number): RtcpSourceDescription {
  const chunks: SdesChunk[] = [];
  let offset = 0;
  for (let c = 0; c < count; c++) {
    if (body.length < offset + 4) throw new RtcpParseError(`SDES: chunk ${c + 1} of ${count} is missing`);
    const source = body.readUInt32BE(offset);
    offset += 4;
    const items: SdesItem[] = [];
    for (;;) {
      if (offset >= body.length) throw new RtcpParseError('SDES: chunk has no END item');
      const type = body.readUInt8(offset);
      if (type === SDES_END) {
        // The END octet and null octets up to the next 32-bit boundary (chunks start 32-bit aligned).
        offset = (offset + 4) & ~3;
        if (offset > body.length) throw new RtcpParseError('SDES: chunk padding runs past the packet');
        break;
      }
      if (offset + 2 > body.length) throw new RtcpParseError('SDES: item header runs past the packet');
      const length = body.readUInt8(offset + 1);
      if (offset + 2 + length > body.length) throw new RtcpParseError('SDES: item text runs past the packet');
      items.push({ type, value: Buffer.from(body.subarray(offset + 2, offset + 2 + length)) });
      offset += 2 + length;
    }
    chunks.push({ source, items });
  }
  return { type: 'sdes', chunks };
}

function parseBye(body: Buffer, count: number): RtcpGoodbye {
  if (body.length < 4 * count) throw new RtcpParseError(`BYE: ${count} sources do not fit in ${body.length} octets`);
  const sources: number[] = [];
  for (let i = 0; i < count; i++) sources.push(body.readUInt32BE(4 * i));
  const bye: RtcpGoodbye = { type: 'bye', sources };
  const offset = 4 * count;
  if (body.length > offset) {
    const length = body.readUInt8(offset);
    if (offset + 1 + length > body.length) throw new RtcpParseError('BYE: reason runs past the packet');
    bye.reason = Buffer.from(body.subarray(offset + 1, offset + 1 + length));
  }
  return bye;
}

/** Parses one RTCP packet that exactly fills `buf` (as framed by its length field). */
function parseOne(buf: Buffer, allowPadding: boolean): RtcpPacket {
  const b0 = buf.readUInt8(0);
  const padding = (b0 & 0x20) !== 0;
  const count = b0 & 0x1f;
  const packetType = buf.readUInt8(1);
  let end = buf.length;
  if (padding) {
    if (!allowPadding) throw new RtcpParseError('only the last packet of a compound packet may be padded');
    const padCount = buf.readUInt8(buf.length - 1);
    if (padCount === 0 || padCount > buf.length - 4) {
      throw new RtcpParseError(`invalid padding count ${padCount} in a ${buf.length}-octet packet`);
    }
    end -= padCount;
  }
  const body = buf.subarray(4, end);
  switch (packetType) {
    case RTCP_SR: {
      if (body.length < 24) throw new RtcpParseError(`SR too short: ${body.length} octets after the header`);
      return {
        type: 'sr',
        ssrc: body.readUInt32BE(0),
        ntpTimestamp: body.readBigUInt64BE(4),
        rtpTimestamp: body.readUInt32BE(12),
        packetCount: body.readUInt32BE(16),
        octetCount: body.readUInt32BE(20),
        reports: parseReportBlocks(body, 24, count, 'SR'),
      };
    }
    case RTCP_RR: {
      if (body.length < 4) throw new RtcpParseError(`RR too short: ${body.length} octets after the header`);
      return { type: 'rr', ssrc: body.readUInt32BE(0), reports: parseReportBlocks(body, 4, count, 'RR') };
    }
    case RTCP_SDES:
      return parseSdes(body, count);
    case RTCP_BYE:
      return parseBye(body, count);
    default:
      if (body.length % 4 !== 0) throw new RtcpParseError('padding leaves a body that is not 32-bit aligned');
      return { type: 'unknown', packetType, count, body: Buffer.from(body) };
  }
}

/** Parses a compound RTCP packet (or a single one). Throws RtcpParseError on anything malformed. */
export function parseRtcpCompound(buf: Buffer): RtcpPacket[] {
  if (buf.length < 4) throw new RtcpParseError(`RTCP packet too short: ${buf.length} octets`);
  const packets: RtcpPacket[] = [];
  let offset = 0;
  while (offset < buf.length) {
    if (buf.length - offset < 4) throw new RtcpParseError(`${buf.length - offset} trailing octets after the last packet`);
    const version = buf.readUInt8(offset) >> 6;
    if (version !== 2) throw new RtcpParseError(`unsupported RTCP version ${version}`);
    const size = 4 * (buf.readUInt16BE(offset + 2) + 1);
    if (offset + size > buf.length) {
      throw new RtcpParseError(`packet of ${size} octets runs past the end of a ${buf.length}-octet compound packet`);
    }
    const last = offset + size === buf.length;
    packets.push(parseOne(buf.subarray(offset, offset + size), last));
    offset += size;
  }
  return packets;
}

/** Parses a buffer holding exactly one RTCP packet. */
export function parseRtcp(buf: Buffer): RtcpPacket {
  const packets = parseRtcpCompound(buf);
  const [first] = packets;
  if (first === undefined || packets.length !== 1) {
    throw new RtcpParseError(`expected one RTCP packet, found ${packets.length}`);
  }
  return first;
}

// ---------------------------------------------------------------------------------------------------------------
// Serializing. Throws RangeError when a field does not fit.

function checkUint(name: string, value: number, bits: number): void {
  if (!Number.isInteger(value) || value < 0 || value > 2 ** bits - 1) {
    throw new RangeError(`${name} must be an unsigned ${bits}-bit integer, got ${value}`);
  }
}

function header(count: number, packetType: number, bodyLength: number): Buffer {
  if (count > 31) throw new RangeError(`at most 31 entries fit in one RTCP packet, got ${count}`);
  if (bodyLength % 4 !== 0) throw new RangeError(`RTCP body of ${bodyLength} octets is not 32-bit aligned`);
  const words = bodyLength / 4;
  if (words > 0xffff) throw new RangeError(`RTCP packet of ${bodyLength + 4} octets is too large`);
  const h = Buffer.alloc(4);
  h.writeUInt8(0x80 | count, 0);
  h.writeUInt8(packetType, 1);
  h.writeUInt16BE(words, 2);
  return h;
}

function serializeReportBlocks(reports: ReportBlock[]): Buffer {
  const buf = Buffer.alloc(reports.length * REPORT_BLOCK_SIZE);
  reports.forEach((r, i) => {
    const o = i * REPORT_BLOCK_SIZE;
    checkUint('ssrc', r.ssrc, 32);
    checkUint('fractionLost', r.fractionLost, 8);
    if (!Number.isInteger(r.cumulativeLost) || r.cumulativeLost < -0x800000 || r.cumulativeLost > 0x7fffff) {
      throw new RangeError(`cumulativeLost must be a signed 24-bit integer, got ${r.cumulativeLost}`);
    }
    checkUint('highestSeq', r.highestSeq, 32);
    checkUint('jitter', r.jitter, 32);
    checkUint('lsr', r.lsr, 32);
    checkUint('dlsr', r.dlsr, 32);
    buf.writeUInt32BE(r.ssrc, o);
    buf.writeUInt8(r.fractionLost, o + 4);
    buf.writeIntBE(r.cumulativeLost, o + 5, 3);
    buf.writeUInt32BE(r.highestSeq, o + 8);
    buf.writeUInt32BE(r.jitter, o + 12);
    buf.writeUInt32BE(r.lsr, o + 16);
    buf.writeUInt32BE(r.dlsr, o + 20);
  });
  return buf;
}

function pad4(length: number): number {
  return (4 - (length % 4)) % 4;
}

function serializeBody(p: RtcpPacket): { count: number; packetType: number; body: Buffer } {
  switch (p.type) {
    case 'sr': {
      checkUint('ssrc', p.ssrc, 32);
      if (p.ntpTimestamp < 0n || p.ntpTimestamp > 0xffffffffffffffffn) {
        throw new RangeError(`ntpTimestamp must be an unsigned 64-bit integer, got ${p.ntpTimestamp}`);
      }
      checkUint('rtpTimestamp', p.rtpTimestamp, 32);
      checkUint('packetCount', p.packetCount, 32);
      checkUint('octetCount', p.octetCount, 32);
      const info = Buffer.alloc(24);
      info.writeUInt32BE(p.ssrc, 0);
      info.writeBigUInt64BE(p.ntpTimestamp, 4);
      info.writeUInt32BE(p.rtpTimestamp, 12);
      info.writeUInt32BE(p.packetCount, 16);
      info.writeUInt32BE(p.octetCount, 20);
      return { count: p.reports.length, packetType: RTCP_SR, body: Buffer.concat([info, serializeReportBlocks(p.reports)]) };
    }
    case 'rr': {
      checkUint('ssrc', p.ssrc, 32);
      const info = Buffer.alloc(4);
      info.writeUInt32BE(p.ssrc, 0);
      return { count: p.reports.length, packetType: RTCP_RR, body: Buffer.concat([info, serializeReportBlocks(p.reports)]) };
    }
    case 'sdes': {
      const parts: Buffer[] = [];
      for (const chunk of p.chunks) {
        checkUint('source', chunk.source, 32);
        const ssrc = Buffer.alloc(4);
        ssrc.writeUInt32BE(chunk.source, 0);
        parts.push(ssrc);
        let length = 0;
        for (const item of chunk.items) {
          if (!Number.isInteger(item.type) || item.type < 1 || item.type > 255) {
            throw new RangeError(`SDES item type must be 1-255, got ${item.type}`);
          }
          if (item.value.length > 255) throw new RangeError(`SDES item of ${item.value.length} octets is too long`);
          parts.push(Buffer.from([item.type, item.value.length]), item.value);
          length += 2 + item.value.length;
        }
        // END octet plus null octets to the next 32-bit boundary: 1-4 zero octets.
        parts.push(Buffer.alloc(4 - (length % 4)));
      }
      return { count: p.chunks.length, packetType: RTCP_SDES, body: Buffer.concat(parts) };
    }
    case 'bye': {
      const sources = Buffer.alloc(4 * p.sources.length);
      p.sources.forEach((s, i) => {
        checkUint('source', s, 32);
        sources.writeUInt32BE(s, 4 * i);
      });
      if (p.reason === undefined) return { count: p.sources.length, packetType: RTCP_BYE, body: sources };
      if (p.reason.length > 255) throw new RangeError(`BYE reason of ${p.reason.length} octets is too long`);
      const reason = Buffer.concat([Buffer.from([p.reason.length]), p.reason]);
      const body = Buffer.concat([sources, reason, Buffer.alloc(pad4(reason.length))]);
      return { count: p.sources.length, packetType: RTCP_BYE, body };
    }
    case 'unknown':
      checkUint('packetType', p.packetType, 8);
      checkUint('count', p.count, 5);
      return { count: p.count, packetType: p.packetType, body: p.body };
  }
}

/** Serializes one RTCP packet (no padding). */
export function serializeRtcp(p: RtcpPacket): Buffer {
  const { count, packetType, body } = serializeBody(p);
  return Buffer.concat([header(count, packetType, body.length), body]);
}

/** Serializes packets back to back into one compound packet. */
export function serializeRtcpCompound(packets: readonly RtcpPacket[]): Buffer {
  return Buffer.concat(packets.map(serializeRtcp));
}

/** An SDES packet carrying one CNAME item per source. */
export function sdesCname(source: number, cname: string): RtcpSourceDescription {
  return { type: 'sdes', chunks: [{ source, items: [{ type: SDES_CNAME, value: Buffer.from(cname, 'utf8') }] }] };
}

/** The CNAME of a chunk, if it has one. */
export function cnameOf(chunk: SdesChunk): string | undefined {
  const item = chunk.items.find((i) => i.type === SDES_CNAME);
  return item === undefined ? undefined : item.value.toString('utf8');
}
