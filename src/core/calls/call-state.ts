import type { CallOutcome, EndReason, HangupCause } from './hangup-causes.js';

/** The life of one call leg. `ended` is final; every other state can end. */
export type CallState = 'queued' | 'dialing' | 'ringing' | 'early_media' | 'answered' | 'ended';

const next: Readonly<Record<CallState, readonly CallState[]>> = {
  // An inbound call rings at once; an outbound one dials first.
  queued: ['dialing', 'ringing', 'ended'],
  dialing: ['ringing', 'early_media', 'answered', 'ended'],
  // 180 after 183 and 183 after 180 both happen on real networks.
  ringing: ['early_media', 'answered', 'ended'],
  early_media: ['ringing', 'answered', 'ended'],
  answered: ['ended'],
  ended: [],
};

export function canTransition(from: CallState, to: CallState): boolean {
  return next[from].includes(to);
}

export function isTerminal(state: CallState): boolean {
  return state === 'ended';
}

/** One step of a call's history, as persisted and as the faces turn into their events. */
export interface CallEvent {
  readonly callId: string;
  readonly state: CallState;
  readonly at: string;
  readonly sipStatus?: number;
  readonly sipReason?: string;
  /** Only on `ended`. */
  readonly outcome?: CallOutcome;
  readonly cause?: HangupCause;
  readonly endReason?: EndReason;
}
