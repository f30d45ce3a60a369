import type { CallEvent } from '../core/calls/call-state.js';

/** One state event of a call leg as every API shows it: the end carries its outcome and Q.850 cause. */
export function eventView(event: CallEvent) {
  return {
    call_id: event.callId,
    state: event.state,
    at: event.at,
    sip_status: event.sipStatus ?? null,
    sip_reason: event.sipReason ?? null,
    ...(event.state === 'ended'
      ? {
          outcome: event.outcome ?? null,
          hangup_cause: event.cause?.name ?? null,
          hangup_cause_code: event.cause?.code ?? null,
          end_reason: event.endReason ?? null,
        }
      : {}),
  };
}
