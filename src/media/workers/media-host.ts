import { Worker } from 'node:worker_threads';
import { isIPv4, isIPv6 } from 'node:net';
import type { SrtpRejection } from '../srtp/srtp-context.js';
import { RtpPortsExhaustedError, type RtpPortRange } from '../rtp-ports.js';
import type { HostCommand, LegOpen, WorkerEvent } from './media-protocol.js';
import { RemoteLegMedia, type SessionMedia } from './remote-leg-media.js';

/**
 * The media workers (node:worker_threads) and the RTP ports of every leg. The main thread chooses port numbers, so
 * two workers never try the same pair, and the chosen worker binds them (a socket cannot move between threads); a
 * pair another process holds is skipped, as RtpPortPool does. A call's legs share one worker, so a bridge never
 * crosses threads: the first leg of a call goes to the worker with the fewest legs, and every leg joined to the
 * same call (its group) follows it.
 *
 * A worker that ends unasked (process.exit in it, an uncaught throw, terminate()) is replaced at once; each of its
 * legs fails once (SessionMedia.onFailed, which call control turns into the leg's end with media_failure) and its
 * ports return to the pool. The other workers' calls go on.
 */

/** A leg's RTP port pair, reserved for its SDP before it has media, in the worker its call uses. */
export interface MediaReservation {
  readonly port: number;
  readonly rtcpPort: number;
  /** Names the call the leg belongs to, so that its later legs are placed in the same worker. */
  join(group: string): void;
  /** Starts the leg's RTP on the reserved pair. */
  open(options: LegOpen): SessionMedia;
  /** Closes the leg and its sockets and returns the pair to the pool. Calling it again does nothing. */
  release(): Promise<void>;
}

/** Where legs get their ports and media (MediaHost; tests may give their own). */
export interface MediaPorts {
  /** A pair for a leg of `group` (a call), in the worker that call's legs use. */
  reserve(group?: string): Promise<MediaReservation>;
  /** Pairs held by live legs. */
  readonly inUse: number;
}

/** Two legs joined in their worker (see MediaBridge), with its counts as the worker last reported them (once a second, and once more when the bridge stops). */
export interface MediaBridgeHandle {
  /** Packets relayed from the first leg to the second, and back. */
  readonly counts: { readonly aToB: number; readonly bToA: number };
  /** Packets relayed either way. */
  readonly relayed: number;
  stop(): void;
}

export interface MediaHostOptions {
  /** How many workers (at least 1). */
  readonly workers: number;
  /** The address the RTP sockets bind to. */
  readonly host: string;
  readonly ports: RtpPortRange;
  /** A received packet of an SRTP leg was dropped. */
  readonly onSrtpRejected?: (reason: SrtpRejection) => void;
  /**
   * A worker ended unasked and was replaced: `legs` of its legs had media and were failed; `calls` are the calls
   * (groups) that had legs in it.
   */
  readonly onWorkerLost?: (worker: number, lost: { readonly legs: number; readonly calls: readonly string[] }, error: Error) => void;
}

interface Pending {
  resolve(event: WorkerEvent): void;
  reject(error: Error): void;
}

/** One worker thread and what lives in it. When the thread is lost the slot is retired and a new one takes its index. */
class Slot {
  readonly reservations = new Map<number, Reservation>();
  readonly pending = new Map<string, Pending>();
  lost = false;
  error: Error | undefined;
  /** Resolves once the worker has loaded its modules (or is lost). */
  readonly ready: Promise<void>;
  started!: () => void;

  constructor(
    readonly index: number,
    readonly worker: Worker,
  ) {
    this.ready = new Promise((resolve) => (this.started = resolve));
  }

  send(command: HostCommand, transfer?: ArrayBuffer[]): void {
    if (!this.lost) this.worker.postMessage(command, transfer);
  }

  ask(key: string, command: HostCommand): Promise<WorkerEvent> {
    if (this.lost) return Promise.reject(new Error(`media worker ${this.index} is gone`));
    return new Promise((resolve, reject) => {
      this.pending.set(key, { resolve, reject });
      this.worker.postMessage(command);
    });
  }

  answer(key: string, event: WorkerEvent): void {
    const pending = this.pending.get(key);
    this.pending.delete(key);
    pending?.resolve(event);
  }
}

class Reservation implements MediaReservation {
  readonly rtcpPort: number;
  media: RemoteLegMedia | undefined;
  group: string | undefined;
  /** Counted in MediaHost.inUse: from the reservation until its release() is called. */
  holding = true;
  private released: Promise<void> | undefined;

  constructor(
    private readonly host: MediaHost,
    readonly slot: Slot,
    readonly id: number,
    readonly port: number,
  ) {
    this.rtcpPort = port + 1;
  }

  join(group: string): void {
    this.host.join(this, group);
  }

  open(options: LegOpen): SessionMedia {
    if (this.media) return this.media;
    const { slot, id } = this;
    this.media = new RemoteLegMedia(
      {
        id,
        send: (command, transfer) => slot.send(command, transfer),
        ask: (command) => slot.ask(`${command.op}:${id}`, command),
      },
      options,
    );
    this.host.opens(this, this.media);
    if (slot.lost) this.media.fail();
    else slot.send({ op: 'open', id, ...options });
    return this.media;
  }

  release(): Promise<void> {
    this.released ??= this.host.release(this);
    return this.released;
  }
}

export class MediaHost implements MediaPorts {
  private readonly slots: Slot[] = [];
  private readonly type: 'udp4' | 'udp6';
  private readonly first: number;
  private readonly pairs: number;
  private cursor = 0;
  /** Pairs held or being bound (the main thread's record: no two workers are ever asked for the same pair). */
  private readonly taken = new Set<number>();
  private readonly groups = new Map<string, { slot: Slot; legs: number }>();
  /** Bridges until their worker reports them stopped (with their final counts). */
  private readonly bridges = new Map<number, { slot: Slot; counts: { aToB: number; bToA: number }; stopping: boolean }>();
  private readonly recordings = new Map<number, Slot>();
  /** Which reservation opened each leg's media: bridge() and record() find their worker by it. */
  private readonly opened = new WeakMap<object, Reservation>();
  private nextId = 1;
  private nextPick = 0;
  private held = 0;
  private closing = false;

  constructor(private readonly options: MediaHostOptions) {
    const { min, max } = options.ports;
    if (!Number.isInteger(min) || !Number.isInteger(max) || min < 1 || max > 65535 || min > max) {
      throw new RangeError(`RTP port range ${min}-${max} is not within 1-65535`);
    }
    if (isIPv4(options.host)) this.type = 'udp4';
    else if (isIPv6(options.host)) this.type = 'udp6';
    else throw new TypeError(`RTP host ${JSON.stringify(options.host)} is not an IP address`);
    this.first = min % 2 === 0 ? min : min + 1;
    this.pairs = this.first + 1 > max ? 0 : Math.floor((max - this.first - 1) / 2) + 1;
    if (this.pairs === 0) throw new RangeError(`RTP port range ${min}-${max} holds no even/odd port pair`);
    if (!Number.isInteger(options.workers) || options.workers < 1) throw new RangeError(`media workers must be at least 1, got ${options.workers}`);
    for (let index = 0; index < options.workers; index++) this.slots.push(this.spawn(index));
  }

  get workers(): number {
    return this.slots.length;
  }

  get inUse(): number {
    return this.held;
  }

  /**
   * Resolves once every worker has loaded its modules: a server starts taking calls only then, so that the first
   * call's port is not held up by a worker's start (a ring timer is already running by then).
   */
  async ready(): Promise<void> {
    await Promise.all(this.slots.map((slot) => slot.ready));
  }

  /** Legs (reserved pairs) per worker, by index. */
  get load(): number[] {
    return this.slots.map((slot) => slot.reservations.size);
  }

  async reserve(group?: string): Promise<MediaReservation> {
    if (this.closing) throw new Error('media host closed');
    const joined = group === undefined ? undefined : this.groups.get(group);
    const slot = joined && !joined.slot.lost ? joined.slot : this.pick();
    for (let tried = 0; tried < this.pairs; tried++) {
      const index = this.cursor;
      this.cursor = (this.cursor + 1) % this.pairs;
      const port = this.first + 2 * index;
      if (this.taken.has(port)) continue;
      // Claimed before the first await: a concurrent reserve() now skips this pair.
      this.taken.add(port);
      const id = this.nextId++;
      let answer: WorkerEvent;
      try {
        answer = await slot.ask(`reserve:${id}`, { op: 'reserve', id, host: this.options.host, port });
      } catch (error) {
        this.taken.delete(port);
        throw error;
      }
      if (answer.ev === 'reserved' && answer.ok) {
        const reservation = new Reservation(this, slot, id, port);
        slot.reservations.set(id, reservation);
        this.held += 1;
        if (group !== undefined) this.join(reservation, group);
        return reservation;
      }
      this.taken.delete(port);
      if (answer.ev === 'reserved' && !answer.busy) throw new Error(answer.message);
    }
    throw new RtpPortsExhaustedError(this.options.ports, this.held);
  }

  /** @internal Reservation.join */
  join(reservation: Reservation, group: string): void {
    if (reservation.group !== undefined || reservation.slot.lost) return;
    const current = this.groups.get(group);
    // A group whose worker was lost starts afresh with this leg's.
    if (current && current.slot === reservation.slot) current.legs += 1;
    else if (!current || current.slot.lost) this.groups.set(group, { slot: reservation.slot, legs: 1 });
    else return;
    reservation.group = group;
  }

  /** @internal Reservation.release */
  async release(reservation: Reservation): Promise<void> {
    const { slot } = reservation;
    this.unhold(reservation);
    // Let go of the leg's media at once: nothing it could still hear matters, and the ended call must not be kept.
    const media = reservation.media;
    reservation.media = undefined;
    media?.close();
    if (!slot.lost) {
      // The worker answers once the sockets are closed: only then may another leg bind the pair.
      await slot.ask(`release:${reservation.id}`, { op: 'release', id: reservation.id }).catch(() => undefined);
    }
    if (slot.reservations.delete(reservation.id)) this.forget(reservation);
  }

  /**
   * Joins two legs' audio in their worker (see MediaBridge); undefined when either is not a leg of this host, or
   * they are in different workers (which the groups prevent), or its worker is gone.
   */
  bridge(a: object, b: object): MediaBridgeHandle | undefined {
    const ra = this.opened.get(a);
    const rb = this.opened.get(b);
    if (!ra || !rb || ra.slot !== rb.slot || ra.slot.lost) return undefined;
    const bridge = this.nextId++;
    const entry = { slot: ra.slot, counts: { aToB: 0, bToA: 0 }, stopping: false };
    this.bridges.set(bridge, entry);
    ra.slot.send({ op: 'bridge', bridge, a: ra.id, b: rb.id });
    return {
      get counts() {
        return entry.counts;
      },
      get relayed() {
        return entry.counts.aToB + entry.counts.bToA;
      },
      stop: () => {
        if (entry.stopping || !this.bridges.has(bridge)) return;
        entry.stopping = true;
        entry.slot.send({ op: 'unbridge', bridge });
      },
    };
  }

  /** Records a leg, both directions mixed (see CallRecorder), in its worker; undefined when it is not a leg of this host. */
  record(leg: object): { stop(): Promise<{ wav: Buffer; durationMs: number }> } | undefined {
    const reservation = this.opened.get(leg);
    if (!reservation || reservation.slot.lost) return undefined;
    const { slot } = reservation;
    const recording = this.nextId++;
    this.recordings.set(recording, slot);
    slot.send({ op: 'record', recording, id: reservation.id });
    let stopped: Promise<{ wav: Buffer; durationMs: number }> | undefined;
    return {
      stop: () =>
        (stopped ??= slot
          .ask(`recording:${recording}`, { op: 'stopRecording', recording })
          .then((event) => {
            if (event.ev !== 'recorded') throw new Error('unexpected answer to stopRecording');
            return { wav: Buffer.from(event.wav.buffer, event.wav.byteOffset, event.wav.byteLength), durationMs: event.durationMs };
          })
          .finally(() => this.recordings.delete(recording))),
    };
  }

  /** @internal Reservation.open records the leg for bridge() and record(). */
  opens(reservation: Reservation, media: SessionMedia): void {
    this.opened.set(media, reservation);
  }

  /**
   * Ends worker `index` as a fault would (for tests of recovery): `exit` calls process.exit in it, `throw` throws
   * uncaught there, `terminate` stops it from here. Its legs fail and a new worker takes its place.
   */
  crashWorker(index: number, how: 'exit' | 'throw' | 'terminate'): void {
    const slot = this.slots[index];
    if (!slot) throw new RangeError(`no media worker ${index}`);
    if (how === 'terminate') void slot.worker.terminate();
    else slot.send({ op: 'crash', how });
  }

  /** Stops every worker; their sockets close with them. */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.slots.map((slot) => slot.worker.terminate()));
  }

  private pick(): Slot {
    // Fewest legs first; among equals, in turn, so that an idle host spreads its first calls.
    let best: Slot | undefined;
    for (let i = 0; i < this.slots.length; i++) {
      const slot = this.slots[(this.nextPick + i) % this.slots.length]!;
      if (!best || slot.reservations.size < best.reservations.size) best = slot;
    }
    this.nextPick = (this.nextPick + 1) % this.slots.length;
    return best!;
  }

  /** A released leg holds no pair any more, although its worker may still be closing the sockets. */
  private unhold(reservation: Reservation): void {
    if (!reservation.holding) return;
    reservation.holding = false;
    this.held -= 1;
  }

  private forget(reservation: Reservation): void {
    this.taken.delete(reservation.port);
    this.unhold(reservation);
    const { group } = reservation;
    if (group === undefined) return;
    const entry = this.groups.get(group);
    if (entry && entry.slot === reservation.slot && --entry.legs === 0) this.groups.delete(group);
  }

  private spawn(index: number): Slot {
    const worker = new Worker(new URL('./media-worker.js', import.meta.url), { name: `dialplane-media-${index}` });
    // Workers never keep the process alive: the server's own handles do, and close() ends them.
    worker.unref();
    const slot = new Slot(index, worker);
    worker.on('message', (event: WorkerEvent) => this.hear(slot, event));
    worker.on('error', (error) => {
      slot.error = error;
    });
    worker.on('exit', () => this.lose(slot));
    return slot;
  }

  private hear(slot: Slot, event: WorkerEvent): void {
    switch (event.ev) {
      case 'ready':
        slot.started();
        return;
      case 'reserved':
        slot.answer(`reserve:${event.id}`, event);
        return;
      case 'released':
        slot.answer(`release:${event.id}`, event);
        return;
      case 'inspected':
        slot.answer(`inspect:${event.id}`, event);
        return;
      case 'recorded':
        slot.answer(`recording:${event.recording}`, event);
        return;
      case 'srtpRejected':
        this.options.onSrtpRejected?.(event.reason);
        return;
      case 'unbridged': {
        const entry = this.bridges.get(event.bridge);
        if (entry) entry.counts = { aToB: event.aToB, bToA: event.bToA };
        this.bridges.delete(event.bridge);
        return;
      }
      case 'reports':
        for (const { id, quality } of event.legs) slot.reservations.get(id)?.media?.report(quality);
        for (const { bridge, aToB, bToA } of event.bridges) {
          const entry = this.bridges.get(bridge);
          if (entry) entry.counts = { aToB, bToA };
        }
        return;
      default:
        slot.reservations.get(event.id)?.media?.hear(event);
    }
  }

  private lose(slot: Slot): void {
    if (slot.lost) return;
    slot.lost = true;
    slot.started();
    const error = slot.error ?? new Error(`media worker ${slot.index} exited`);
    for (const pending of slot.pending.values()) pending.reject(error);
    slot.pending.clear();
    if (this.closing) return;
    // The replacement first, so that a leg ended by the failure below can be followed at once by a new call.
    this.slots[slot.index] = this.spawn(slot.index);
    const lost = [...slot.reservations.values()];
    for (const reservation of lost) {
      // The sockets closed with the thread: the pairs are free again.
      slot.reservations.delete(reservation.id);
      this.forget(reservation);
    }
    for (const [bridge, entry] of this.bridges) if (entry.slot === slot) this.bridges.delete(bridge);
    for (const [group, entry] of this.groups) if (entry.slot === slot) this.groups.delete(group);
    const calls = [...new Set(lost.flatMap((reservation) => (reservation.group === undefined ? [] : [reservation.group])))];
    try {
      this.options.onWorkerLost?.(slot.index, { legs: lost.filter((r) => r.media).length, calls }, error);
    } catch {
      // A report's failure must not keep the legs from ending.
    }
    for (const reservation of lost) reservation.media?.fail();
  }
}
