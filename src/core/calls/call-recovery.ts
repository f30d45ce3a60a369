import type { Services } from '../services.js';
import { isOrphaned } from '../node-lease.js';
import type { Call } from './call-service.js';
import { CALL_RESERVE_REFERENCE } from './minute-reserve.js';

export interface CallRecovery {
  /** Calls ended with crash_recovery. */
  readonly ended: readonly Call[];
  /** Credit reserves of gone nodes' calls released (what was talked before the crash is not billed). */
  readonly released: number;
}

/**
 * Ends the calls left without their node and releases their reserves, and only theirs: at start (`atStart`) also what
 * no node owns and what a previous run under this node's id left; in the periodic sweep only other nodes' leftovers.
 * A reserve whose call ended but was never settled (its node died in between) is released the same way.
 */
export async function recoverCalls(services: Services, atStart: boolean): Promise<CallRecovery> {
  const ended = atStart ? await services.calls.recoverUnfinished() : await services.calls.recoverOrphaned();
  const released = await releaseOrphanedReserves(services, atStart);
  return { ended, released };
}

async function releaseOrphanedReserves(services: Services, atStart: boolean): Promise<number> {
  // Holds first, then owners and live nodes: a node alive when the hold was read is in the later read.
  const holds = await services.store.credits.activeHoldsReferencing(CALL_RESERVE_REFERENCE);
  if (holds.length === 0) return 0;
  const callIdOf = (reference: string | null) => (reference ?? '').slice(CALL_RESERVE_REFERENCE.length);
  const ids = [...new Set(holds.map((hold) => callIdOf(hold.reference)).filter((id) => id !== ''))];
  const owners = await services.store.calls.ownersOf(ids);
  const live = await services.node.liveNodes();
  let released = 0;
  for (const hold of holds) {
    const owner = owners.get(callIdOf(hold.reference));
    // No such call (yet): the reserve of a call being placed, or of one that never got its row; not ours to judge.
    if (owner === undefined || !isOrphaned(owner, services.node.nodeId, live, atStart)) continue;
    try {
      await services.credits.release(hold.account_id, hold.id);
      released += 1;
    } catch {
      // Settled meanwhile (by another node's sweep): nothing left to release.
    }
  }
  return released;
}
