/**
 * RTP data packets (RFC 3550 §5.1). Pure: no I/O, no clocks.
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |V=2|P|X|  CC   |M|     PT      |       sequence number         |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                           timestamp                           |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |           synchronization source (SSRC) identifier            |
 * +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 * |            contributing source (CSRC) identifiers             |
 * |                             ....                              |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Header extension (§5.3.1), present when X = 1, after the CSRC list:
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |      defined by profile       |           length              |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                        header extension                       |
 * |                             ....                              |
 *
 * `length` counts 32-bit words of extension data, not including the 4-octet extension header.
 * When P = 1 the last octet of the packet is the number of padding octets (itself included) to ignore.
 */

export class RtpParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RtpParseError';
  }
}

export interface RtpHeaderExtension {
  /** The 16-bit "defined by profile" field (0xBEDE for RFC 8285 one-byte headers, 0x1000-0x100F two-byte). */
  profile: number;
  /** Extension data; its length is a multiple of 4 octets. */
  data: Buffer;
}

export interface RtpPacket {
  version: 2;
  padding: boolean;
  marker: boolean;
  /** 0-127. */
  payloadType: number;
  /** 0-65535. */
  sequenceNumber: number;
  /** Unsigned 32-bit. */
  timestamp: number;
  /** Unsigned 32-bit. */
  ssrc: number;
  /** At most 15 unsigned 32-bit identifiers. */
  csrcs: number[];
  extension?: RtpHeaderExtension;
  payload: Buffer;
  /**
   * Number of padding octets, the count octet included (1-255). Set by parseRtp when `padding` is true so that a
   * parsed packet serializes back byte for byte. When `padding` is true and this is absent, serializeRtp pads the
   * packet to a multiple of 4 octets (at least 1 padding octet). Ignored when `padding` is false.
   */
  paddingLength?: number;
}

const FIXED_HEADER = 12;

export function parseRtp(buf: Buffer): RtpPacket {
  if (buf.length < FIXED_HEADER) {
    throw new RtpParseError(`RTP packet too short: ${buf.length} octets, need at least ${FIXED_HEADER}`);
  }
  const b0 = buf.readUInt8(0);
  const b1 = buf.readUInt8(1);
  const version = b0 >> 6;
  if (version !== 2) throw new RtpParseError(`unsupported RTP version ${version}`);
  const padding = (b0 & 0x20) !== 0;
  const hasExtension = (b0 & 0x10) !== 0;
  const csrcCount = b0 & 0x0f;

  let offset = FIXED_HEADER;
  if (buf.length < offset + 4 * csrcCount) {
    throw new RtpParseError(`CSRC list of ${csrcCount} entries runs past the end of a ${buf.length}-octet packet`);
  }
  const csrcs: number[] = [];
  for (let i = 0; i < csrcCount; i++, offset += 4) csrcs.push(buf.readUInt32BE(offset));

  let extension: RtpHeaderExtension | undefined;
  if (hasExtension) {
    if (buf.length < offset + 4) throw new RtpParseError('header extension header runs past the end of the packet');
    const profile = buf.readUInt16BE(offset);
    const words = buf.readUInt16BE(offset + 2);
    offset += 4;
    if (buf.length < offset + 4 * words) {
      throw new RtpParseError(`header extension of ${words} words runs past the end of the packet`);
    }
    extension = { profile, data: Buffer.from(buf.subarray(offset, offset + 4 * words)) };
    offset += 4 * words;
  }

  let end = buf.length;
  let paddingLength: number | undefined;
  if (padding) {
    paddingLength = buf.readUInt8(buf.length - 1);
    if (paddingLength === 0) throw new RtpParseError('padding bit set but padding count is 0');
    if (paddingLength > buf.length - offset) {
      throw new RtpParseError(`padding count ${paddingLength} exceeds the ${buf.length - offset} octets after the header`);
    }
    end -= paddingLength;
  }

  const packet: RtpPacket = {
    version: 2,
    padding,
    marker: (b1 & 0x80) !== 0,
    payloadType: b1 & 0x7f,
    sequenceNumber: buf.readUInt16BE(2),
    timestamp: buf.readUInt32BE(4),
    ssrc: buf.readUInt32BE(8),
    csrcs,
    payload: Buffer.from(buf.subarray(offset, end)),
  };
  if (extension) packet.extension = extension;
  if (paddingLength !== undefined) packet.paddingLength = paddingLength;
  return packet;
}

function checkUint(name: string, value: number, bits: number): void {
  if (!Number.isInteger(value) || value < 0 || value > 2 ** bits - 1) {
    throw new RangeError(`${name} must be an unsigned ${bits}-bit integer, got ${value}`);
  }
}

/** Throws RangeError when a field does not fit its place in the header. */
export function serializeRtp(p: RtpPacket): Buffer {
  checkUint('payloadType', p.payloadType, 7);
  checkUint('sequenceNumber', p.sequenceNumber, 16);
  checkUint('timestamp', p.timestamp, 32);
  checkUint('ssrc', p.ssrc, 32);
  if (p.csrcs.length > 15) throw new RangeError(`at most 15 CSRCs fit, got ${p.csrcs.length}`);
  for (const c of p.csrcs) checkUint('csrc', c, 32);
  if (p.extension) {
    checkUint('extension.profile', p.extension.profile, 16);
    if (p.extension.data.length % 4 !== 0 || p.extension.data.length / 4 > 0xffff) {
      throw new RangeError(`extension data must be a multiple of 4 octets and at most 262140, got ${p.extension.data.length}`);
    }
  }

  const headerLength = FIXED_HEADER + 4 * p.csrcs.length + (p.extension ? 4 + p.extension.data.length : 0);
  let paddingLength = 0;
  if (p.padding) {
    if (p.paddingLength !== undefined) {
      if (!Number.isInteger(p.paddingLength) || p.paddingLength < 1 || p.paddingLength > 255) {
        throw new RangeError(`paddingLength must be 1-255, got ${p.paddingLength}`);
      }
      paddingLength = p.paddingLength;
    } else {
      paddingLength = 4 - ((headerLength + p.payload.length) % 4);
    }
  }

  const buf = Buffer.alloc(headerLength + p.payload.length + paddingLength);
  buf.writeUInt8(0x80 | (p.padding ? 0x20 : 0) | (p.extension ? 0x10 : 0) | p.csrcs.length, 0);
  buf.writeUInt8((p.marker ? 0x80 : 0) | p.payloadType, 1);
  buf.writeUInt16BE(p.sequenceNumber, 2);
  buf.writeUInt32BE(p.timestamp, 4);
  buf.writeUInt32BE(p.ssrc, 8);
  let offset = FIXED_HEADER;
  for (const c of p.csrcs) {
    buf.writeUInt32BE(c, offset);
    offset += 4;
  }
  if (p.extension) {
    buf.writeUInt16BE(p.extension.profile, offset);
    buf.writeUInt16BE(p.extension.data.length / 4, offset + 2);
    p.extension.data.copy(buf, offset + 4);
    offset += 4 + p.extension.data.length;
  }
  p.payload.copy(buf, offset);
  if (paddingLength > 0) buf.writeUInt8(paddingLength, buf.length - 1);
  return buf;
}

/**
 * Demultiplexes RTP and RTCP sharing one port (RFC 5761 §4): RTCP packet types 192-223 occupy the second octet,
 * which for RTP is the marker bit and payload type, so after masking the marker bit values 64-95 mean RTCP.
 * Buffers shorter than 2 octets are not RTCP (nor valid RTP). Only the second octet is inspected.
 */
export function isRtcp(buf: Buffer): boolean {
  if (buf.length < 2) return false;
  const pt = buf.readUInt8(1) & 0x7f;
  return pt >= 64 && pt <= 95;
}

/** What a listener of received packets reads: the fields of RtpPacket that media code uses. */
export interface RtpPacketView {
  readonly marker: boolean;
  readonly payloadType: number;
  readonly sequenceNumber: number;
  readonly timestamp: number;
  readonly ssrc: number;
  /** The payload (padding excluded). */
  readonly payload: Buffer;
}

/**
 * A received datagram's RTP header read where it lies, for the per-packet path: one view is reused for every packet
 * of a stream, and the payload is a window onto the datagram made only when asked for, so relaying a packet
 * allocates nothing here. Valid only until the next packet is read into it; hold on to `payload` (a window, not a
 * copy), never to the view.
 */
export class RtpView implements RtpPacketView {
  data: Buffer = Buffer.alloc(0);
  padding = false;
  marker = false;
  payloadType = 0;
  sequenceNumber = 0;
  timestamp = 0;
  ssrc = 0;
  /** Octets before the payload: 12, plus CSRCs and a header extension when present. */
  headerLength = FIXED_HEADER;
  /** Where the payload ends in `data` (before any padding). */
  payloadEnd = 0;
  #payload: Buffer | undefined;

  get payload(): Buffer {
    return (this.#payload ??= this.data.subarray(this.headerLength, this.payloadEnd));
  }

  /**
   * Reads `buf` into this view with the checks of parseRtp; false (the view then undefined) where parseRtp would
   * throw.
   */
  read(buf: Buffer): boolean {
    if (buf.length < FIXED_HEADER) return false;
    const b0 = buf[0]!;
    if (b0 >> 6 !== 2) return false;
    let offset = FIXED_HEADER + 4 * (b0 & 0x0f);
    if (buf.length < offset) return false;
    if ((b0 & 0x10) !== 0) {
      if (buf.length < offset + 4) return false;
      offset += 4 + 4 * buf.readUInt16BE(offset + 2);
      if (buf.length < offset) return false;
    }
    let end = buf.length;
    const padding = (b0 & 0x20) !== 0;
    if (padding) {
      const paddingLength = buf[buf.length - 1]!;
      if (paddingLength === 0 || paddingLength > buf.length - offset) return false;
      end -= paddingLength;
    }
    const b1 = buf[1]!;
    this.data = buf;
    this.padding = padding;
    this.marker = (b1 & 0x80) !== 0;
    this.payloadType = b1 & 0x7f;
    this.sequenceNumber = buf.readUInt16BE(2);
    this.timestamp = buf.readUInt32BE(4);
    this.ssrc = buf.readUInt32BE(8);
    this.headerLength = offset;
    this.payloadEnd = end;
    this.#payload = undefined;
    return true;
  }
}
