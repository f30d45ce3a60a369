/**
 * RFC 4733 telephone-event payloads (DTMF digits carried as named events, the successor of RFC 2833).
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |     event     |E|R|  volume   |          duration             |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * event     0-255; DTMF uses 0-9 for '0'-'9', 10 '*', 11 '#', 12-15 'A'-'D' (RFC 4733 §3.2).
 * E         end of event.
 * R         reserved: senders send 0, receivers ignore it (kept here so a payload round-trips).
 * volume    power level as −dBm0, 0-63 (0 is loudest).
 * duration  in RTP timestamp units (samples at the clock rate, 8000 Hz for 8 kHz audio) since the event's RTP
 *           timestamp, which is the same in every packet of one event.
 *
 * A sender marks the first packet of an event (RTP M bit), sends updates with a growing duration while the event
 * lasts and sends the final packet (E set) three times. RTP framing (sequence numbers, SSRC, the absolute timestamp)
 * belongs to the caller; this module only deals with the 4-byte payload and with the per-event logic.
 *
 * Not handled: events longer than 0xFFFF timestamp units (RFC 4733 §2.5.1.3 splits them into segments with new
 * timestamps; rfc4733Packets refuses to build them and the receiver would report each segment as its own digit), and
 * several events in one payload via RFC 2198 redundancy (only a bare 4-byte payload is accepted).
 */

export const RFC4733_PAYLOAD_LENGTH = 4;

export type Rfc4733ErrorCode = 'payload_length' | 'invalid_field' | 'invalid_digit' | 'invalid_option';

/** The only error this module throws. */
export class Rfc4733Error extends Error {
  readonly code: Rfc4733ErrorCode;
  constructor(code: Rfc4733ErrorCode, message: string) {
    super(message);
    this.name = 'Rfc4733Error';
    this.code = code;
  }
}

export interface TelephoneEvent {
  /** 0-255. */
  readonly event: number;
  /** E bit. */
  readonly end: boolean;
  /** R bit (reserved; preserved for round trips). */
  readonly reserved: boolean;
  /** 0-63, −dBm0. */
  readonly volume: number;
  /** 0-65535 RTP timestamp units. */
  readonly duration: number;
}

export type DtmfDigit = '0' | '1' | '2' | '3' | '4' | '5' | '6' | '7' | '8' | '9' | '*' | '#' | 'A' | 'B' | 'C' | 'D';

const DIGITS: readonly DtmfDigit[] = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#', 'A', 'B', 'C', 'D'];

/** The DTMF character for an event code, or undefined for codes above 15 (flash hook, tones…). */
export function eventToDigit(event: number): DtmfDigit | undefined {
  return Number.isInteger(event) ? DIGITS[event] : undefined;
}

/** The event code of a DTMF character ('a'-'d' accepted as 'A'-'D'); undefined for anything else. */
export function digitToEvent(digit: string): number | undefined {
  if (digit.length !== 1) return undefined;
  const i = DIGITS.indexOf(digit.toUpperCase() as DtmfDigit);
  return i < 0 ? undefined : i;
}

export function isDtmfDigit(value: string): value is DtmfDigit {
  return value.length === 1 && DIGITS.includes(value as DtmfDigit);
}

/** Parse a telephone-event payload. Throws Rfc4733Error unless it is exactly 4 bytes. */
export function parseTelephoneEvent(payload: Uint8Array): TelephoneEvent {
  if (payload.length !== RFC4733_PAYLOAD_LENGTH) {
    throw new Rfc4733Error(
      'payload_length',
      `telephone-event payload must be ${RFC4733_PAYLOAD_LENGTH} bytes, got ${payload.length}`,
    );
  }
  const b1 = payload[1]!;
  return {
    event: payload[0]!,
    end: (b1 & 0x80) !== 0,
    reserved: (b1 & 0x40) !== 0,
    volume: b1 & 0x3f,
    duration: (payload[2]! << 8) | payload[3]!,
  };
}

/** Serialize a telephone event. `reserved` defaults to false. Throws Rfc4733Error on out-of-range fields. */
export function serializeTelephoneEvent(ev: {
  readonly event: number;
  readonly end: boolean;
  readonly reserved?: boolean;
  readonly volume: number;
  readonly duration: number;
}): Buffer {
  checkInt('event', ev.event, 0, 255);
  checkInt('volume', ev.volume, 0, 63);
  checkInt('duration', ev.duration, 0, 0xffff);
  const out = Buffer.allocUnsafe(RFC4733_PAYLOAD_LENGTH);
  out[0] = ev.event;
  out[1] = (ev.end ? 0x80 : 0) | (ev.reserved === true ? 0x40 : 0) | ev.volume;
  out.writeUInt16BE(ev.duration, 2);
  return out;
}

function checkInt(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Rfc4733Error('invalid_field', `${name} must be an integer in ${min}..${max}, got ${String(value)}`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Sender side

export interface Rfc4733PacketOptions {
  /** Tone length; default 100 ms. Must give 1..65535 timestamp units. */
  readonly durationMs?: number;
  /** −dBm0, 0-63; default 10. */
  readonly volume?: number;
  /** RTP clock rate of the telephone-event payload type; default 8000. */
  readonly clockRate?: number;
  /** Gap between update packets; default 50 ms. */
  readonly intervalMs?: number;
}

export interface Rfc4733Packet {
  readonly payload: Buffer;
  /** RTP marker bit: set on the first packet of the event only. */
  readonly marker: boolean;
  /**
   * RTP timestamp relative to the event's first packet. Always 0 here: every packet of one event carries the
   * timestamp of its start (RFC 4733 §2.5.1.1); the field exists so segmented long events could be described.
   */
  readonly timestampOffset: number;
  /** When to send this packet, in ms after the first one. The three end packets share the last send time. */
  readonly sendOffsetMs: number;
}

/**
 * The packets a sender emits for one digit: the first (marker set) and one update every `intervalMs`, each with
 * the duration reached by the end of the media it stands for, then the end packet three times with the full
 * duration. A tone no longer than one interval is a single marked packet with E set, repeated three times.
 */
export function rfc4733Packets(digit: string, options: Rfc4733PacketOptions = {}): Rfc4733Packet[] {
  const event = digitToEvent(digit);
  if (event === undefined) throw new Rfc4733Error('invalid_digit', `not a DTMF digit: ${JSON.stringify(digit)}`);
  const durationMs = options.durationMs ?? 100;
  const volume = options.volume ?? 10;
  const clockRate = options.clockRate ?? 8000;
  const intervalMs = options.intervalMs ?? 50;
  checkInt('volume', volume, 0, 63);
  if (!Number.isInteger(clockRate) || clockRate <= 0) {
    throw new Rfc4733Error('invalid_option', `clockRate must be a positive integer, got ${String(clockRate)}`);
  }
  if (!Number.isFinite(intervalMs) || intervalMs <= 0) {
    throw new Rfc4733Error('invalid_option', `intervalMs must be positive, got ${String(intervalMs)}`);
  }
  const total = Math.round((durationMs * clockRate) / 1000);
  if (!Number.isFinite(durationMs) || total < 1 || total > 0xffff) {
    throw new Rfc4733Error(
      'invalid_option',
      `durationMs must give 1..65535 timestamp units at ${clockRate} Hz, got ${String(durationMs)} ms`,
    );
  }
  const packets: Rfc4733Packet[] = [];
  for (let k = 0; ; k++) {
    const duration = Math.min(Math.round(((k + 1) * intervalMs * clockRate) / 1000), total);
    const sendOffsetMs = k * intervalMs;
    if (duration >= total) {
      const payload = serializeTelephoneEvent({ event, end: true, volume, duration: total });
      for (let r = 0; r < 3; r++) {
        packets.push({ payload: Buffer.from(payload), marker: k === 0 && r === 0, timestampOffset: 0, sendOffsetMs });
      }
      return packets;
    }
    packets.push({
      payload: serializeTelephoneEvent({ event, end: false, volume, duration }),
      marker: k === 0,
      timestampOffset: 0,
      sendOffsetMs,
    });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Receiver side

export interface ReceivedDigit {
  readonly digit: DtmfDigit;
  readonly event: number;
  /** RTP timestamp identifying the event. */
  readonly timestamp: number;
  /** Longest duration seen for the event, in timestamp units. */
  readonly duration: number;
  /** The same in ms at the receiver's clock rate. */
  readonly durationMs: number;
  readonly volume: number;
  /** True when an end packet was seen; false when the digit was reported because a newer event began, or on flush. */
  readonly ended: boolean;
}

export interface Rfc4733ReceiverOptions {
  /** Default 8000. */
  readonly clockRate?: number;
  /** How many finished event timestamps to remember so late duplicates are dropped; default 16. */
  readonly historySize?: number;
}

interface PendingEvent {
  readonly timestamp: number;
  readonly event: number;
  duration: number;
  volume: number;
}

/**
 * Turns received telephone-event packets into digits, one per event. An event is identified by its RTP timestamp:
 * retransmitted start packets, updates (in any order) and the redundant end packets of one event all share it.
 * A digit is reported on the first end packet of its event, or — if the end packets were all lost — when a packet
 * of a newer event arrives (or on flush()). Packets of events already reported, packets older than the current
 * event (RTP timestamps compared modulo 2^32), malformed payloads and non-DTMF events (codes above 15) are ignored;
 * push() never throws.
 */
export class Rfc4733Receiver {
  readonly clockRate: number;
  private readonly historySize: number;
  private readonly finished: number[] = [];
  private pending: PendingEvent | undefined;
  private lastTimestamp: number | undefined;
  /** Payloads dropped because they did not parse. */
  malformed = 0;

  constructor(options: Rfc4733ReceiverOptions = {}) {
    const clockRate = options.clockRate ?? 8000;
    const historySize = options.historySize ?? 16;
    if (!Number.isInteger(clockRate) || clockRate <= 0) {
      throw new Rfc4733Error('invalid_option', `clockRate must be a positive integer, got ${String(clockRate)}`);
    }
    if (!Number.isInteger(historySize) || historySize < 1) {
      throw new Rfc4733Error('invalid_option', `historySize must be a positive integer, got ${String(historySize)}`);
    }
    this.clockRate = clockRate;
    this.historySize = historySize;
  }

  /**
   * Feed one packet: its RTP timestamp (uint32), marker bit and payload. Returns the digits completed by it
   * (zero, one, or two when an unfinished event is superseded by a new event whose first packet is already an end).
   */
  push(timestamp: number, marker: boolean, payload: Uint8Array): ReceivedDigit[] {
    void marker; // events are told apart by timestamp; the marker adds nothing once packets can be lost or repeated
    let ev: TelephoneEvent;
    try {
      ev = parseTelephoneEvent(payload);
    } catch {
      this.malformed++;
      return [];
    }
    const ts = timestamp >>> 0;
    if (ev.event > 15 || this.finished.includes(ts)) return [];
    const out: ReceivedDigit[] = [];
    const pending = this.pending;
    if (pending !== undefined && pending.timestamp === ts) {
      if (ev.event !== pending.event) return []; // a different event under the same timestamp: corrupt, ignore
      pending.duration = Math.max(pending.duration, ev.duration);
      pending.volume = ev.volume;
    } else {
      // A packet of an event older than the newest one seen is a late straggler.
      if (this.lastTimestamp !== undefined && isBefore(ts, this.lastTimestamp)) return [];
      if (pending !== undefined) out.push(this.complete(pending, false));
      this.pending = { timestamp: ts, event: ev.event, duration: ev.duration, volume: ev.volume };
      this.lastTimestamp = ts;
    }
    if (ev.end && this.pending !== undefined) {
      out.push(this.complete(this.pending, true));
    }
    return out;
  }

  /** Report the event in progress, if any, as finished (e.g. when the stream stops or times out). */
  flush(): ReceivedDigit[] {
    return this.pending === undefined ? [] : [this.complete(this.pending, false)];
  }

  private complete(p: PendingEvent, ended: boolean): ReceivedDigit {
    this.pending = undefined;
    this.finished.push(p.timestamp);
    if (this.finished.length > this.historySize) this.finished.shift();
    return {
      digit: DIGITS[p.event]!,
      event: p.event,
      timestamp: p.timestamp,
      duration: p.duration,
      durationMs: (p.duration * 1000) / this.clockRate,
      volume: p.volume,
      ended,
    };
  }
}

/** a comes before b in RTP timestamp order (serial number arithmetic modulo 2^32). */
function isBefore(a: number, b: number): boolean {
  const diff = (a - b) >>> 0;
  return diff !== 0 && diff >= 0x80000000;
}
