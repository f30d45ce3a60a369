/**
 * RTP/RTCP port pairs from the configured media range. RTP takes an even port and RTCP the odd one above it
 * (RFC 3550 §11; RFC 3264 §5.1 has the SDP port be the RTP one and RTCP port + 1 unless a=rtcp says otherwise).
 *
 * A pair is only handed out once both UDP sockets are bound, so it is really ours: ports another process (or
 * another pool) holds are skipped. The search rotates through the range instead of restarting at the bottom, so a
 * pair released a moment ago is reused as late as possible and late packets from the previous call are not
 * mistaken for the new one's.
 */
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { isIPv4, isIPv6 } from 'node:net';

export interface RtpPortRange {
  readonly min: number;
  readonly max: number;
}

export interface RtpPortReservation {
  readonly port: number;
  readonly rtcpPort: number;
  /** Bound to host:port. The holder adds its own 'error' and 'message' listeners. */
  readonly rtp: Socket;
  /** Bound to host:port+1. */
  readonly rtcp: Socket;
  /** Closes both sockets and returns the pair to the pool. Calling it again does nothing. */
  release(): Promise<void>;
}

export class RtpPortsExhaustedError extends Error {
  readonly range: RtpPortRange;

  constructor(range: RtpPortRange, inUse: number) {
    super(`No free RTP port pair in ${range.min}-${range.max} (${inUse} held by this pool)`);
    this.name = 'RtpPortsExhaustedError';
    this.range = range;
  }
}

/** Errors that mean "someone else has this port": try the next pair. Anything else (bad host...) is fatal. */
const BUSY_CODES = new Set(['EADDRINUSE', 'EACCES']);

function errorCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string') return error.code;
  return undefined;
}

function bindSocket(type: 'udp4' | 'udp6', host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket({ type, reuseAddr: false });
    const onError = (error: Error): void => {
      socket.off('listening', onListening);
      // Closing frees the failed socket's handle; if node already tore it down there is nothing to free.
      try {
        socket.close();
      } catch {
        // ERR_SOCKET_DGRAM_NOT_RUNNING
      }
      reject(error);
    };
    const onListening = (): void => {
      socket.off('error', onError);
      resolve(socket);
    };
    socket.once('error', onError);
    socket.once('listening', onListening);
    // exclusive: under cluster, a worker's bind must not be shared through the primary.
    socket.bind({ port, address: host, exclusive: true });
  });
}

export function closeSocket(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      // Already closed by its holder (ERR_SOCKET_DGRAM_NOT_RUNNING): nothing left to release.
      resolve();
    }
  });
}

/** Binds RTP on `port` then RTCP on `port + 1`; undefined when either is busy. Other bind errors propagate. */
export async function bindPortPair(host: string, port: number, type: 'udp4' | 'udp6' = isIPv6(host) ? 'udp6' : 'udp4'): Promise<[Socket, Socket] | undefined> {
  let rtp: Socket;
  try {
    rtp = await bindSocket(type, host, port);
  } catch (error) {
    if (BUSY_CODES.has(errorCode(error) ?? '')) return undefined;
    throw error;
  }
  try {
    return [rtp, await bindSocket(type, host, port + 1)];
  } catch (error) {
    await closeSocket(rtp);
    if (BUSY_CODES.has(errorCode(error) ?? '')) return undefined;
    throw error;
  }
}

export class RtpPortPool {
  readonly #range: RtpPortRange;
  readonly #host: string;
  readonly #type: 'udp4' | 'udp6';
  /** RTP ports of the pairs, lowest first. */
  readonly #first: number;
  readonly #pairs: number;
  /** Index of the next pair to try. */
  #cursor = 0;
  /** Pairs handed out, plus pairs being bound right now (so concurrent reserve() calls never try the same one). */
  readonly #taken = new Set<number>();
  #inUse = 0;

  constructor(range: RtpPortRange, host: string) {
    const { min, max } = range;
    if (!Number.isInteger(min) || !Number.isInteger(max) || min < 1 || max > 65535 || min > max) {
      throw new RangeError(`RTP port range ${min}-${max} is not within 1-65535`);
    }
    if (isIPv4(host)) this.#type = 'udp4';
    else if (isIPv6(host)) this.#type = 'udp6';
    else throw new TypeError(`RTP host ${JSON.stringify(host)} is not an IP address`);
    this.#first = min % 2 === 0 ? min : min + 1;
    // A pair needs its odd RTCP port inside the range too.
    this.#pairs = this.#first + 1 > max ? 0 : Math.floor((max - this.#first - 1) / 2) + 1;
    if (this.#pairs === 0) throw new RangeError(`RTP port range ${min}-${max} holds no even/odd port pair`);
    this.#range = { min, max };
    this.#host = host;
  }

  /** How many port pairs the range holds. */
  get size(): number {
    return this.#pairs;
  }

  /** How many pairs this pool has handed out and not yet had released. */
  get inUse(): number {
    return this.#inUse;
  }

  async reserve(): Promise<RtpPortReservation> {
    for (let tried = 0; tried < this.#pairs; tried++) {
      const index = this.#cursor;
      this.#cursor = (this.#cursor + 1) % this.#pairs;
      const port = this.#first + 2 * index;
      if (this.#taken.has(port)) continue;
      // Claimed before the first await: a concurrent reserve() now skips this pair.
      this.#taken.add(port);
      let pair: [Socket, Socket] | undefined;
      try {
        pair = await this.#bindPair(port);
      } finally {
        if (pair === undefined) this.#taken.delete(port);
      }
      if (pair !== undefined) return this.#hand(port, pair[0], pair[1]);
    }
    throw new RtpPortsExhaustedError(this.#range, this.#inUse);
  }

  #bindPair(port: number): Promise<[Socket, Socket] | undefined> {
    return bindPortPair(this.#host, port, this.#type);
  }

  #hand(port: number, rtp: Socket, rtcp: Socket): RtpPortReservation {
    this.#inUse += 1;
    let released: Promise<void> | undefined;
    const release = (): Promise<void> => {
      released ??= (async () => {
        await Promise.all([closeSocket(rtp), closeSocket(rtcp)]);
        // Only now may another reserve() bind the pair: the kernel has let go of it.
        this.#taken.delete(port);
        this.#inUse -= 1;
      })();
      return released;
    };
    return { port, rtcpPort: port + 1, rtp, rtcp, release };
  }
}
