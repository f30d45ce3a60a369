import type { DialResult } from './call-driver.js';
import type { Call } from './call-service.js';
import type { EndReason } from './hangup-causes.js';
import type { LegPlan } from './call-targets.js';
import type { TransferRequest } from './call-engine.js';

/** Two answered legs joined by a dial: the controlling leg and the leg dialled for it. */
export interface ActiveBridge {
  readonly control: string;
  readonly other: string;
  readonly callerId: string;
  readonly unbridge: (() => void) | undefined;
  /** Resolves when a transfer replaced this bridge with another. */
  readonly replaced: Promise<void>;
  readonly markReplaced: () => void;
}

/** How long a leg that transferred its call away may stay after the final NOTIFY before we end it ourselves. */
export const TRANSFER_HANGUP_WAIT_MS = 4_000;

/** What a call's session lends the transfers its legs ask for. */
export interface TransferSession {
  readonly isOver: boolean;
  readonly controllingLeg: string | undefined;
  /** The bridge a dial made, while it lasts. */
  readonly activeBridge: ActiveBridge | undefined;
  /** The caller ID of legs the call places when no bridge names one. */
  readonly callerId: string;
  isLive(legId: string): boolean;
  /** The legs the request's target rings (throws when the target may not be reached). */
  plan(request: TransferRequest): Promise<LegPlan[]>;
  /** Rings the legs as legs of the call (its ring group: the same billing as any leg). */
  ring(plans: readonly LegPlan[], callerId: string): { placed: Promise<void>; answered: Promise<{ winner: Call | undefined; outcome: DialResult['outcome'] }> };
  hangupLeg(legId: string): void;
  endLeg(legId: string, reason: EndReason): void;
  /** The bridge's `peer` is joined to `target` and keeps (or takes) control; the old bridge is replaced. */
  rejoin(bridge: ActiveBridge, peer: string, target: string): void;
  /** No bridge: `target` becomes the controlling leg and the program goes on with it. */
  handOver(target: string): void;
  onError(error: unknown, context: string): void;
}

/**
 * The transfers the far ends of one call's legs ask for (REFER), one at a time. Bridged, the referring leg's peer is
 * joined to the target once it answers; running a program, the target takes the leg's place as the controlling leg.
 * Either way the referring leg leaves (it hangs up after the final NOTIFY; if not, we end it). The target is placed
 * as any leg of the call; if it fails, nothing changes and the referrer hears why.
 */
export class CallTransfers {
  private busy = false;

  constructor(private readonly session: TransferSession) {}

  async requested(legId: string, request: TransferRequest): Promise<void> {
    const { session } = this;
    const bridge = session.activeBridge;
    const peer = bridge?.control === legId ? bridge.other : bridge?.other === legId ? bridge.control : undefined;
    if (session.isOver) return request.refuse(481, 'Call/Transaction Does Not Exist');
    if (request.method !== 'INVITE') return request.refuse(603, 'Decline (only a call can be transferred)');
    if (request.attended) return request.refuse(501, 'Not Implemented (attended transfer)');
    if (peer === undefined && legId !== session.controllingLeg) return request.refuse(603, 'Decline');
    if (this.busy) return request.refuse(491, 'Request Pending');
    this.busy = true;
    try {
      let plans: LegPlan[];
      try {
        plans = await session.plan(request);
      } catch {
        request.refuse(403, 'Forbidden');
        return;
      }
      request.accept();
      if (plans.length === 0) {
        request.report(480, 'Temporarily Unavailable');
        return;
      }
      const group = session.ring(plans, bridge?.callerId ?? session.callerId);
      let result: Awaited<typeof group.answered>;
      try {
        await group.placed;
        result = await group.answered;
      } catch {
        request.report(503, 'Service Unavailable');
        return;
      }
      const winner = result.winner;
      if (!winner) {
        request.report(...transferFailure(result.outcome));
        return;
      }
      const stays = peer === undefined ? legId === session.controllingLeg : session.activeBridge === bridge && session.isLive(peer);
      if (session.isOver || !stays || !session.isLive(legId)) {
        session.hangupLeg(winner.id);
        request.report(487, 'Request Terminated');
        return;
      }
      if (bridge && peer !== undefined) session.rejoin(bridge, peer, winner.id);
      else session.handOver(winner.id);
      request.report(200, 'OK');
      const wait = setTimeout(() => {
        if (session.isLive(legId)) session.endLeg(legId, 'transferred');
      }, TRANSFER_HANGUP_WAIT_MS);
      wait.unref();
    } catch (error) {
      session.onError(error, 'transfer');
    } finally {
      this.busy = false;
    }
  }
}

/** The sipfrag status a transfer's NOTIFY reports when its target did not answer. */
export function transferFailure(outcome: DialResult['outcome']): [number, string] {
  switch (outcome) {
    case 'busy':
      return [486, 'Busy Here'];
    case 'no_answer':
      return [480, 'Temporarily Unavailable'];
    case 'rejected':
      return [603, 'Decline'];
    case 'canceled':
      return [487, 'Request Terminated'];
    default:
      return [503, 'Service Unavailable'];
  }
}
