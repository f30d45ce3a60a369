import type { NodeRow } from '../store/schema.js';
import type { NodesRepository } from '../store/nodes-repository.js';
import { isoNow, type Clock } from './clock.js';
import { randomBase62 } from './ids.js';

/** LeaseRenewal extends this node's lease; LeaseSweep looks for the leftovers of nodes whose lease ran out. */
export type LeaseTimerName = 'LeaseRenewal' | 'LeaseSweep';

export interface LeaseTimers {
  every(name: LeaseTimerName, ms: number, fire: () => void): { cancel(): void };
}

export const intervalLeaseTimers: LeaseTimers = {
  every(_name, ms, fire) {
    const handle = setInterval(fire, ms);
    handle.unref();
    return { cancel: () => clearInterval(handle) };
  },
};

export const DEFAULT_LEASE_MS = 15_000;
/** Rows of nodes gone longer than this are deleted; a call still naming one counts as owned by a gone node. */
const FORGET_AFTER_MS = 24 * 60 * 60 * 1000;

/** A node id for one run: `node_` and 12 random base62 characters. */
export function generateNodeId(): string {
  return `node_${randomBase62(12)}`;
}

/** What the call and SMS services need to know about nodes: who they are, and who is alive. */
export interface NodeLiveness {
  readonly nodeId: string;
  /** Ids of the nodes whose lease has not run out. */
  liveNodes(): Promise<ReadonlySet<string>>;
}

/**
 * Whether work stored with `owner` is left without the node that drove it. At start a node also takes back what
 * a previous run under its own id left, and what no node owns (rows from before nodes had leases); later sweeps
 * only take what another node, now gone, owned.
 */
export function isOrphaned(owner: string | null, self: string, live: ReadonlySet<string>, atStart: boolean): boolean {
  if (owner === null || owner === self) return atStart;
  return !live.has(owner);
}

export interface NodeLeaseOptions {
  readonly nodeId: string;
  readonly leaseMs: number;
  readonly timers?: LeaseTimers;
  /** A renewal or sweep that failed (the database away for a moment): reported, and tried again at the next tick. */
  readonly onError?: (error: unknown, context: string) => void;
}

export type SweepTask = () => Promise<unknown>;

/**
 * This process as a node among others on one database. It registers at start, renews its lease every third of the
 * lease period, and on a clean stop ends the lease at once so other nodes need not wait for it to run out. Every lease
 * period it runs the sweep tasks (ending the calls and resuming the messages of nodes whose lease has run out), so a
 * node killed with SIGKILL is cleaned up after by whichever nodes remain.
 */
export class NodeLease implements NodeLiveness {
  readonly nodeId: string;
  readonly leaseMs: number;
  private readonly timers: LeaseTimers;
  private readonly sweeps = new Set<SweepTask>();
  private renewalTimer: { cancel(): void } | undefined;
  private sweepTimer: { cancel(): void } | undefined;
  private renewing: Promise<void> | undefined;
  private sweeping: Promise<void> | undefined;
  /** The end of the lease as last written, to notice a renewal that came too late. */
  private leaseUntilMs = 0;
  private state: 'new' | 'running' | 'stopped' = 'new';

  constructor(
    private readonly nodes: NodesRepository,
    private readonly clock: Clock,
    private readonly options: NodeLeaseOptions,
  ) {
    this.nodeId = options.nodeId;
    this.leaseMs = options.leaseMs;
    this.timers = options.timers ?? intervalLeaseTimers;
  }

  get running(): boolean {
    return this.state === 'running';
  }

  /**
   * Registers the node and starts renewing. Returns the row a previous run under the same id left, if any: a lease
   * still running there means either that run crashed a moment ago or another process uses the same id.
   */
  async start(): Promise<NodeRow | undefined> {
    if (this.state !== 'new') throw new Error(`node ${this.nodeId} was already started`);
    const now = this.clock.now();
    const until = new Date(now.getTime() + this.leaseMs);
    const previous = await this.nodes.register({
      id: this.nodeId,
      started_at: now.toISOString(),
      heartbeat_at: now.toISOString(),
      lease_until: until.toISOString(),
    });
    this.leaseUntilMs = until.getTime();
    this.state = 'running';
    this.renewalTimer = this.timers.every('LeaseRenewal', Math.max(1, Math.floor(this.leaseMs / 3)), () => void this.renew());
    this.sweepTimer = this.timers.every('LeaseSweep', this.leaseMs, () => void this.sweep());
    return previous;
  }

  /** Extends the lease by a whole period from now. One renewal at a time; a tick during one is skipped. */
  renew(): Promise<void> {
    if (this.state !== 'running') return Promise.resolve();
    this.renewing ??= this.writeRenewal().finally(() => (this.renewing = undefined));
    return this.renewing;
  }

  /** Runs every sweep task once, in order; a tick while one runs is skipped. */
  sweep(): Promise<void> {
    if (this.state !== 'running') return Promise.resolve();
    this.sweeping ??= this.runSweep().finally(() => (this.sweeping = undefined));
    return this.sweeping;
  }

  /** Adds work to every sweep; returns its removal. */
  onSweep(task: SweepTask): () => void {
    this.sweeps.add(task);
    return () => this.sweeps.delete(task);
  }

  async isAlive(nodeId: string): Promise<boolean> {
    const row = await this.nodes.find(nodeId);
    return row !== undefined && row.lease_until > isoNow(this.clock);
  }

  async liveNodes(): Promise<ReadonlySet<string>> {
    return new Set(await this.nodes.live(isoNow(this.clock)));
  }

  /** Nodes still on record whose lease has run out. */
  async expiredNodes(): Promise<string[]> {
    return this.nodes.expired(isoNow(this.clock));
  }

  /** Stops renewing and sweeping, and ends the lease now. Idempotent. */
  async stop(): Promise<void> {
    if (this.state !== 'running') {
      this.state = 'stopped';
      return;
    }
    this.state = 'stopped';
    this.renewalTimer?.cancel();
    this.sweepTimer?.cancel();
    await Promise.allSettled([this.renewing, this.sweeping]);
    await this.nodes.expire(this.nodeId, isoNow(this.clock));
  }

  private async writeRenewal(): Promise<void> {
    const now = this.clock.now();
    const until = new Date(now.getTime() + this.leaseMs);
    try {
      if (now.getTime() >= this.leaseUntilMs) {
        // Other nodes may have taken this node's calls and messages meanwhile; the writes that follow are all
        // conditional, so what they ended stays ended.
        this.options.onError?.(
          new Error(`node ${this.nodeId}: the lease ran out ${now.getTime() - this.leaseUntilMs} ms before it was renewed`),
          'node lease lapsed',
        );
      }
      const renewed = await this.nodes.renew(this.nodeId, now.toISOString(), until.toISOString());
      if (!renewed) {
        await this.nodes.register({ id: this.nodeId, started_at: now.toISOString(), heartbeat_at: now.toISOString(), lease_until: until.toISOString() });
      }
      this.leaseUntilMs = until.getTime();
    } catch (error) {
      this.options.onError?.(error, 'could not renew the node lease');
    }
  }

  private async runSweep(): Promise<void> {
    for (const task of [...this.sweeps]) {
      try {
        await task();
      } catch (error) {
        this.options.onError?.(error, 'node sweep failed');
      }
    }
    try {
      await this.nodes.prune(new Date(this.clock.now().getTime() - FORGET_AFTER_MS).toISOString());
    } catch (error) {
      this.options.onError?.(error, 'could not forget old nodes');
    }
  }
}
