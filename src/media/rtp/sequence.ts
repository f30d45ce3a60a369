/**
 * RTP sequence-number and timestamp arithmetic with wrap-around, and per-source reception statistics
 * (RFC 3550 Appendix A.1 sequence validation, A.3 loss, A.8 interarrival jitter). Pure: arrival times are
 * passed in by the caller, in the stream's timestamp units (arrival seconds × clock rate).
 */

const SEQ_MOD = 0x10000;
const TS_MOD = 0x100000000;

/** a - b for 16-bit sequence numbers, as the shortest signed distance: -32768..32767. */
export function seqDiff(a: number, b: number): number {
  const d = (a - b) & 0xffff;
  return d >= 0x8000 ? d - SEQ_MOD : d;
}

/** True when sequence number `a` comes after `b` (within half the sequence space). */
export function isNewer(a: number, b: number): boolean {
  return seqDiff(a, b) > 0;
}

/** (seq + n) mod 2^16. */
export function seqAdd(seq: number, n: number): number {
  return (((seq + n) % SEQ_MOD) + SEQ_MOD) % SEQ_MOD;
}

/** a - b for 32-bit RTP timestamps, as the shortest signed distance: -2^31..2^31-1. */
export function timestampDiff(a: number, b: number): number {
  return (a - b) | 0;
}

/** True when timestamp `a` comes after `b` (within half the timestamp space). */
export function isTimestampNewer(a: number, b: number): boolean {
  return timestampDiff(a, b) > 0;
}

/** (ts + n) mod 2^32. */
export function timestampAdd(ts: number, n: number): number {
  return (ts + n) >>> 0;
}

/** RFC 3550 A.1 constants. */
export const MAX_DROPOUT = 3000;
export const MAX_MISORDER = 100;
export const MIN_SEQUENTIAL = 2;

export interface ReceiverStatsOptions {
  /** Packets that must arrive in sequence before the source counts as valid (A.1 MIN_SEQUENTIAL). At least 1. */
  minSequential?: number;
  /** Stream clock rate in Hz, used only to express DLSR (1/65536 s) from timestamp-unit arrival times. */
  clockRate?: number;
}

/** What A.3 yields for one reception report; report blocks take these fields as they are. */
export interface ReceptionReport {
  fractionLost: number;
  /** Clamped to the signed 24-bit range. */
  cumulativeLost: number;
  /** Extended highest sequence number, mod 2^32. */
  highestSeq: number;
  /** Floor of the jitter estimate, timestamp units. */
  jitter: number;
  lsr: number;
  dlsr: number;
}

/**
 * Per-source receive statistics. Call `receive` for every RTP packet from the source, `receiveSenderReport` for
 * each SR from it, and `report` when building an RR/SR report block (it resets the "since last report" interval).
 */
export class ReceiverStats {
  readonly minSequential: number;
  readonly clockRate: number | undefined;

  /** A.1 state. */
  private maxSeq = 0;
  private cycles = 0;
  private baseSeq = 0;
  private badSeq = SEQ_MOD + 1;
  private probation: number;
  private received = 0;
  private expectedPrior = 0;
  private receivedPrior = 0;
  private started = false;

  /** A.8 state. */
  private jitterEstimate = 0;
  private lastArrival: number | undefined;
  private lastTimestamp = 0;

  /** Last SR: middle 32 bits of its NTP timestamp, and its arrival time. */
  private lastSr: { lsr: number; arrival: number } | undefined;

  constructor(options: ReceiverStatsOptions = {}) {
    const minSequential = options.minSequential ?? MIN_SEQUENTIAL;
    if (!Number.isInteger(minSequential) || minSequential < 1) {
      throw new RangeError(`minSequential must be an integer >= 1, got ${minSequential}`);
    }
    this.minSequential = minSequential;
    this.clockRate = options.clockRate;
    this.probation = minSequential;
  }

  private initSeq(seq: number): void {
    this.baseSeq = seq;
    this.maxSeq = seq;
    this.badSeq = SEQ_MOD + 1;
    this.cycles = 0;
    this.received = 0;
    this.receivedPrior = 0;
    this.expectedPrior = 0;
  }

  /** A.1 update_seq. Returns false while the source is on probation and for packets judged invalid. */
  private updateSeq(seq: number): boolean {
    const udelta = (seq - this.maxSeq) & 0xffff;
    if (this.probation > 0) {
      if (seq === ((this.maxSeq + 1) & 0xffff)) {
        this.probation--;
        this.maxSeq = seq;
        if (this.probation === 0) {
          this.initSeq(seq);
          this.received++;
          return true;
        }
      } else {
        this.probation = this.minSequential - 1;
        this.maxSeq = seq;
      }
      return false;
    } else if (udelta < MAX_DROPOUT) {
      // In order, with permissible gap.
      if (seq < this.maxSeq) this.cycles += SEQ_MOD;
      this.maxSeq = seq;
    } else if (udelta <= SEQ_MOD - MAX_MISORDER) {
      // The sequence number made a very large jump.
      if (seq === this.badSeq) {
        // Two sequential packets: assume the other side restarted without telling us, so re-sync.
        this.initSeq(seq);
      } else {
        this.badSeq = (seq + 1) & 0xffff;
        return false;
      }
    }
    // Otherwise a duplicate or reordered packet: counted, max unchanged.
    this.received++;
    return true;
  }

  /**
   * Records one RTP packet. `arrival` is the receiver's clock at arrival, in the stream's timestamp units
   * (any origin; only differences matter). Returns whether the packet was accepted as valid (A.1).
   */
  receive(sequenceNumber: number, timestamp: number, arrival: number): boolean {
    if (!this.started) {
      // A.1: init_seq(s, seq); s->max_seq = seq - 1; s->probation = MIN_SEQUENTIAL.
      this.initSeq(sequenceNumber);
      this.maxSeq = (sequenceNumber - 1) & 0xffff;
      this.probation = this.minSequential;
      this.started = true;
    }
    if (!this.updateSeq(sequenceNumber)) return false;
    // A.8 / §6.4.1: D(i-1,i) = (Rj - Ri) - (Sj - Si); J += (|D| - J) / 16. Timestamp difference taken mod 2^32.
    if (this.lastArrival !== undefined) {
      const d = arrival - this.lastArrival - timestampDiff(timestamp, this.lastTimestamp);
      this.jitterEstimate += (Math.abs(d) - this.jitterEstimate) / 16;
    }
    this.lastArrival = arrival;
    this.lastTimestamp = timestamp;
    return true;
  }

  /** Records a Sender Report from this source: its 64-bit NTP timestamp and its arrival (timestamp units). */
  receiveSenderReport(ntpTimestamp: bigint, arrival: number): void {
    this.lastSr = { lsr: Number((ntpTimestamp >> 16n) & 0xffffffffn), arrival };
  }

  /** Packets accepted so far (duplicates included, as in A.1). */
  get packetsReceived(): number {
    return this.received;
  }

  /** Extended highest sequence number received (cycles + max_seq), not reduced mod 2^32. */
  get extendedHighestSeq(): number {
    return this.cycles + this.maxSeq;
  }

  /** A.3 expected = extended_max - base_seq + 1 (0 before the source is valid). */
  get expected(): number {
    if (this.received === 0) return 0;
    return this.extendedHighestSeq - this.baseSeq + 1;
  }

  /** A.3 lost = expected - received; negative when duplicates arrive. Not clamped. */
  get cumulativeLost(): number {
    return this.expected - this.received;
  }

  /** The current jitter estimate in timestamp units (unrounded). */
  get jitter(): number {
    return this.jitterEstimate;
  }

  /**
   * Builds the figures for a reception report (A.3) and starts a new report interval. `now` is needed for DLSR
   * and is in the same timestamp units as arrival times; DLSR is 0 when there is no SR, no `now` or no clock rate.
   */
  report(now?: number): ReceptionReport {
    const expected = this.expected;
    const expectedInterval = expected - this.expectedPrior;
    this.expectedPrior = expected;
    const receivedInterval = this.received - this.receivedPrior;
    this.receivedPrior = this.received;
    const lostInterval = expectedInterval - receivedInterval;
    const fractionLost =
      expectedInterval === 0 || lostInterval <= 0 ? 0 : Math.floor((lostInterval * 256) / expectedInterval);

    const lost = Math.max(-0x800000, Math.min(0x7fffff, expected - this.received));
    let lsr = 0;
    let dlsr = 0;
    if (this.lastSr) {
      lsr = this.lastSr.lsr;
      if (now !== undefined && this.clockRate !== undefined && this.clockRate > 0) {
        const delay = Math.floor(((now - this.lastSr.arrival) * 65536) / this.clockRate);
        dlsr = Math.max(0, Math.min(0xffffffff, delay));
      }
    }
    return {
      fractionLost: Math.min(255, fractionLost),
      cumulativeLost: lost,
      highestSeq: this.extendedHighestSeq % TS_MOD,
      jitter: Math.min(0xffffffff, Math.floor(this.jitterEstimate)),
      lsr,
      dlsr,
    };
  }
}
