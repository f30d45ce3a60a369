/**
 * One table from how a call leg ended to what the APIs report: an outcome, and a hangup cause with its ITU-T Q.850
 * number and name (the names FreeSWITCH, jambonz and carriers' CDRs use). SIP status mapping follows RFC 3398 §8.2.6
 * where it is specific, with the simplifications the project documents (every 5xx is a temporary failure).
 */
export type CallOutcome =
  | 'completed'
  | 'busy'
  | 'no_answer'
  | 'rejected'
  | 'unallocated'
  | 'invalid_number'
  | 'canceled'
  | 'failed';

export interface HangupCause {
  readonly code: number;
  readonly name: string;
}

export const Q850 = {
  UNALLOCATED_NUMBER: { code: 1, name: 'UNALLOCATED_NUMBER' },
  NORMAL_CLEARING: { code: 16, name: 'NORMAL_CLEARING' },
  USER_BUSY: { code: 17, name: 'USER_BUSY' },
  NO_USER_RESPONSE: { code: 18, name: 'NO_USER_RESPONSE' },
  NO_ANSWER: { code: 19, name: 'NO_ANSWER' },
  CALL_REJECTED: { code: 21, name: 'CALL_REJECTED' },
  NUMBER_CHANGED: { code: 22, name: 'NUMBER_CHANGED' },
  DESTINATION_OUT_OF_ORDER: { code: 27, name: 'DESTINATION_OUT_OF_ORDER' },
  INVALID_NUMBER_FORMAT: { code: 28, name: 'INVALID_NUMBER_FORMAT' },
  NORMAL_UNSPECIFIED: { code: 31, name: 'NORMAL_UNSPECIFIED' },
  NORMAL_CIRCUIT_CONGESTION: { code: 34, name: 'NORMAL_CIRCUIT_CONGESTION' },
  NETWORK_OUT_OF_ORDER: { code: 38, name: 'NETWORK_OUT_OF_ORDER' },
  NORMAL_TEMPORARY_FAILURE: { code: 41, name: 'NORMAL_TEMPORARY_FAILURE' },
  INCOMPATIBLE_DESTINATION: { code: 88, name: 'INCOMPATIBLE_DESTINATION' },
  RECOVERY_ON_TIMER_EXPIRE: { code: 102, name: 'RECOVERY_ON_TIMER_EXPIRE' },
  INTERWORKING: { code: 127, name: 'INTERWORKING' },
} as const satisfies Record<string, HangupCause>;

export interface CallResult {
  readonly outcome: CallOutcome;
  readonly cause: HangupCause;
}

const specific: Readonly<Record<number, CallResult>> = {
  403: { outcome: 'rejected', cause: Q850.CALL_REJECTED },
  404: { outcome: 'unallocated', cause: Q850.UNALLOCATED_NUMBER },
  408: { outcome: 'no_answer', cause: Q850.NO_ANSWER },
  410: { outcome: 'unallocated', cause: Q850.NUMBER_CHANGED },
  480: { outcome: 'no_answer', cause: Q850.NO_ANSWER },
  484: { outcome: 'invalid_number', cause: Q850.INVALID_NUMBER_FORMAT },
  486: { outcome: 'busy', cause: Q850.USER_BUSY },
  488: { outcome: 'failed', cause: Q850.INCOMPATIBLE_DESTINATION },
  600: { outcome: 'busy', cause: Q850.USER_BUSY },
  603: { outcome: 'rejected', cause: Q850.CALL_REJECTED },
  604: { outcome: 'unallocated', cause: Q850.UNALLOCATED_NUMBER },
  606: { outcome: 'failed', cause: Q850.INCOMPATIBLE_DESTINATION },
};

/** A final failure response to an INVITE (300-699). */
export function resultForSipStatus(status: number): CallResult {
  const exact = specific[status];
  if (exact) return exact;
  if (status >= 500 && status < 600) return { outcome: 'failed', cause: Q850.NORMAL_TEMPORARY_FAILURE };
  if (status >= 600) return { outcome: 'rejected', cause: Q850.CALL_REJECTED };
  if (status >= 300 && status < 400) return { outcome: 'failed', cause: Q850.INTERWORKING };
  return { outcome: 'failed', cause: Q850.NORMAL_UNSPECIFIED };
}

/** Why a call ended on our side or without a SIP final response. */
export type EndReason =
  | 'remote_hangup'
  | 'local_hangup'
  | 'api_hangup'
  | 'time_limit'
  | 'ring_timeout'
  | 'sip_failure'
  | 'timeout'
  | 'transport_error'
  | 'capacity'
  | 'shutdown'
  | 'crash_recovery'
  | 'credits_exhausted'
  /** No RTP from the far end for DIALPLANE_RTP_TIMEOUT_S: the media path is dead, whatever SIP says. */
  | 'rtp_timeout'
  /** The leg's media worker failed: its audio is gone, whatever SIP says. */
  | 'media_failure'
  /** The leg was handed off to another party (a transfer: REFER sent or received) and then ended. */
  | 'transferred';

/** Results that do not come from a SIP status: timers, our own hang-ups, and recovery after a crash. */
export function resultForEnd(reason: EndReason, answered: boolean): CallResult {
  if (answered) {
    // An answered call that lost its media was still a call (completed, billed for what it lasted), but not a
    // normal clearing. FreeSWITCH's MEDIA_TIMEOUT is its own number (604), outside Q.850; the standard cause for
    // "a procedure started by the expiry of a timer" is 102, which Timer B below uses too.
    if (reason === 'rtp_timeout') return { outcome: 'completed', cause: Q850.RECOVERY_ON_TIMER_EXPIRE };
    if (reason === 'media_failure') return { outcome: 'completed', cause: Q850.NORMAL_TEMPORARY_FAILURE };
    return reason === 'transport_error' || reason === 'crash_recovery' || reason === 'shutdown'
      ? { outcome: 'completed', cause: Q850.NORMAL_UNSPECIFIED }
      : { outcome: 'completed', cause: Q850.NORMAL_CLEARING };
  }
  switch (reason) {
    case 'ring_timeout':
      return { outcome: 'no_answer', cause: Q850.NO_ANSWER };
    case 'api_hangup':
    case 'local_hangup':
      return { outcome: 'canceled', cause: Q850.NORMAL_CLEARING };
    case 'timeout':
    case 'rtp_timeout':
      return { outcome: 'failed', cause: Q850.RECOVERY_ON_TIMER_EXPIRE };
    case 'transport_error':
      return { outcome: 'failed', cause: Q850.NETWORK_OUT_OF_ORDER };
    case 'capacity':
      return { outcome: 'failed', cause: Q850.NORMAL_CIRCUIT_CONGESTION };
    default:
      return { outcome: 'failed', cause: Q850.NORMAL_TEMPORARY_FAILURE };
  }
}

/** Trunk failover: try the next trunk on a 5xx or no response at all, never on the callee's own answer (4xx/6xx). */
export function shouldFailOver(status: number | undefined): boolean {
  return status === undefined || (status >= 500 && status < 600);
}

/**
 * RFC 3263 §4.3: the next target a trunk's host resolved to is tried after a transport error or a timeout (no
 * status) or a 503; any other answer came from the trunk itself and stands for all of its targets.
 */
export function shouldTryNextTarget(status: number | undefined): boolean {
  return status === undefined || status === 503;
}
