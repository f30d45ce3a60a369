import type { NodeBus } from '../../shared-state/node-bus.js';
import type { CallUpdate } from './call-service.js';

/** A call's update as it crosses the node bus. */
interface RelayedUpdate {
  readonly kind: 'call';
  readonly callId: string;
  readonly update: CallUpdate;
}

/**
 * The relay of call updates between the nodes of one deployment: an update written on this node is broadcast on the
 * node bus, and one another node wrote is handed to this node's watchers as if it had been written here. One
 * process alone (a bus that is not shared) relays nothing.
 */
export class CallUpdatesRelay {
  constructor(
    private readonly bus: NodeBus,
    /** Hands an update to this node's watchers of the call. */
    private readonly deliver: (callId: string, update: CallUpdate) => void,
  ) {
    if (bus.shared) bus.onEvent((event) => this.receive(event));
  }

  /** An update written here, for the other nodes' watchers. */
  publish(callId: string, update: CallUpdate): void {
    if (this.bus.shared) this.bus.broadcast({ kind: 'call', callId, update } satisfies RelayedUpdate);
  }

  /** An update another node wrote; anything else on the bus (or a malformed one) is ignored. */
  private receive(event: unknown): void {
    if (typeof event !== 'object' || event === null) return;
    const { kind, callId, update } = event as Partial<RelayedUpdate>;
    if (kind !== 'call' || typeof callId !== 'string' || typeof update !== 'object' || update === null) return;
    if (update.type === 'event' && typeof update.event === 'object' && typeof update.call === 'object') this.deliver(callId, update);
    else if (update.type === 'activity' && typeof update.activity === 'object') this.deliver(callId, update);
  }
}
