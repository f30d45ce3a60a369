import { DialplaneError, errorRegistry, isDialplaneError, type ErrorCode } from '../../errors.js';
import { NodeUnreachable, type NodeCommand, type NodeReply } from '../../shared-state/node-bus.js';
import type { CallService, CallUpdate } from './call-service.js';

/**
 * Calls another node drives, as seen from this one over the node bus: a live command sent to the driving node, and
 * waiting for the end of a call whose updates are relayed.
 */

/** Retry-After on a command the driving node did not answer: by then it is back, or its calls are being ended. */
const OWNER_UNREACHABLE_RETRY_AFTER_S = 5;
/** A live stream of a call another node drives re-reads whether it is over this often (a relayed event may be lost). */
const REMOTE_OVER_POLL_MS = 2_000;

/**
 * For a live command: false when this node drives the call (or it is over); true once the node that drives it
 * carried the command out. Without a shared bus such a call is refused (409 call_owned_elsewhere); with one, the
 * command goes to that node, whose refusal is this one's, and no answer in time is 503 call_owner_unreachable.
 */
export async function sendToOwner(calls: CallService, accountId: string, callId: string, command: NodeCommand): Promise<boolean> {
  try {
    await calls.assertOwnedHere(accountId, callId);
    return false;
  } catch (error) {
    if (!calls.bus.shared || !isDialplaneError(error) || error.code !== 'call_owned_elsewhere') throw error;
    const owner = String(error.details?.owner_node);
    let reply: NodeReply;
    try {
      reply = await calls.bus.request(owner, command);
    } catch (failure) {
      if (!(failure instanceof NodeUnreachable)) throw failure;
      throw new DialplaneError(
        'call_owner_unreachable',
        `call ${callId} is driven by node ${owner}, which did not take the command (${failure.message}); if that node is gone, its calls are ended once its lease runs out`,
        { owner_node: owner, reason: failure.reason },
        { 'retry-after': String(OWNER_UNREACHABLE_RETRY_AFTER_S) },
      );
    }
    if (!reply.ok) {
      const code = reply.error.code in errorRegistry ? (reply.error.code as ErrorCode) : 'internal_error';
      throw new DialplaneError(code, reply.error.message, reply.error.details);
    }
    return true;
  }
}

/**
 * Resolves once a call another node drives and all its legs have ended (heard from the relayed updates, and re-read
 * every REMOTE_OVER_POLL_MS), or when `signal` aborts.
 */
export function whenOverElsewhere(calls: CallService, callId: string, onError: (error: unknown) => void, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    let done = false;
    const stops: Array<() => void> = [];
    const finish = (): void => {
      if (done) return;
      done = true;
      for (const stop of stops) stop();
      resolve();
    };
    const check = (): void => {
      void calls.isOver(callId).then((over) => over && finish(), onError);
    };
    const onUpdate = (update: CallUpdate): void => {
      if (update.type === 'event' && update.event.state === 'ended') check();
    };
    stops.push(calls.watch(callId, onUpdate), calls.watchLegs(callId, onUpdate));
    const poll = setInterval(check, REMOTE_OVER_POLL_MS);
    // A reader waiting must not keep a stopping process alive.
    poll.unref();
    stops.push(() => clearInterval(poll));
    if (signal) {
      const onAbort = (): void => finish();
      signal.addEventListener('abort', onAbort, { once: true });
      stops.push(() => signal.removeEventListener('abort', onAbort));
      if (signal.aborted) finish();
    }
    check();
  });
}
