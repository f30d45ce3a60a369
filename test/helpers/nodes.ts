import assert from 'node:assert/strict';
import { NodeLease, type LeaseTimerName, type LeaseTimers } from '../../src/core/node-lease.js';
import { createServices, type Services } from '../../src/core/services.js';
import type { Store } from '../../src/store/store.js';
import type { ManualClock } from './app.js';

export const LEASE_MS = 15_000;

/** Named timers the test fires by hand. */
export class FakeLeaseTimers implements LeaseTimers {
  readonly armed = new Map<LeaseTimerName, { ms: number; fire: () => void }>();
  every(name: LeaseTimerName, ms: number, fire: () => void): { cancel(): void } {
    this.armed.set(name, { ms, fire });
    return { cancel: () => this.armed.delete(name) };
  }
  fire(name: LeaseTimerName): void {
    const timer = this.armed.get(name);
    assert.ok(timer, `${name} is armed`);
    timer.fire();
  }
}

export interface TestNode {
  readonly lease: NodeLease;
  readonly timers: FakeLeaseTimers;
  readonly services: Services;
  readonly errors: string[];
}

/** A node as a server makes one: its own lease and services, over the shared database and clock. */
export function makeNode(store: Store, clock: ManualClock, nodeId: string): TestNode {
  const timers = new FakeLeaseTimers();
  const errors: string[] = [];
  const lease = new NodeLease(store.nodes, clock, { nodeId, leaseMs: LEASE_MS, timers, onError: (_e, context) => errors.push(context) });
  const services = createServices(store, { clock, defaultCountry: 'US', keyCacheTtlMs: 0, node: lease });
  return { lease, timers, services, errors };
}

