import type { LegMedia, TransferDestination, TransferResult } from './call-engine.js';
import type { DialTarget } from './program.js';
import type { VerbTimers } from './verbs.js';

export type DialResult = {
  outcome: 'completed' | 'busy' | 'no_answer' | 'failed' | 'canceled' | 'rejected';
  dialCallId?: string;
  durationS: number;
  answeredBy?: string;
};

export type RecordResult = { recordingId: string; durationS: number; reason: 'finish_key' | 'max_length' | 'hangup' };

export type ActivityKind = 'gather' | 'dial' | 'record' | 'hook_error' | 'program' | 'transfer';

/**
 * What the verb interpreter needs from a call: the controlling leg, its media, speech, dialling, recording, hooks
 * and a place for activities. The leg service implements it; tests use an in-memory one.
 */
export interface CallDriver {
  readonly callId: string;
  /** Resolves when the controlling leg has ended (caller hung up, API hangup, time limit...). */
  readonly ended: Promise<void>;
  /** Answers the controlling leg if it is not answered yet (an inbound leg); media is usable afterwards. */
  answer(): Promise<void>;
  /** The controlling leg's audio (after answer()). */
  media(): LegMedia;
  /** 8 kHz PCM of a sentence (TTS, cached). */
  speech(text: string, voice?: string): Promise<Int16Array>;
  /** 8 kHz PCM of a WAV URL (SSRF-guarded, cached) or of a stored recording. */
  audio(source: { url: string } | { recording: string }): Promise<Int16Array>;
  /**
   * Rings the targets at once; the first to answer is bridged to the controlling leg (answering it first if needed),
   * the others cancelled. Resolves when the dialled leg is over (or nobody answered). `signal` aborts when a live
   * command replaces the program: the driver then cancels or hangs up the dialled legs.
   */
  dial(
    targets: readonly DialTarget[],
    options: { callerId?: string; timeoutS: number; timeLimitS?: number; signal?: AbortSignal },
  ): Promise<DialResult>;
  /**
   * Asks the controlling leg's far end to call `destination` (SIP REFER); when its new call answers, the leg is
   * handed off and ended (the call is over). Resolves with how it came out.
   */
  transfer(destination: TransferDestination): Promise<TransferResult>;
  /** Records the controlling leg; resolves when finishOnKey, maxLength, silence end, hangup or `signal` stops it. */
  record(options: { maxLengthS: number; finishOnKey?: string; beep: boolean; signal?: AbortSignal }): Promise<RecordResult>;
  /** Ends the controlling leg (BYE, or a final refusal if it was never answered). */
  hangup(): Promise<void>;
  /**
   * POSTs the call merged with `extra` to the hook; resolves with the parsed JSON body. Rejects with a HookError
   * (timeout, status, network, refused by the SSRF guard, not JSON); its `reason` (or `code`) is reported.
   */
  hook(url: string, extra: Record<string, unknown>): Promise<unknown>;
  /** An activity of the call, stored with its events (keys collected, dial outcome, recording, hook error). */
  activity(kind: ActivityKind, data: Record<string, unknown>): void;
  /** `start` serves gather's first-key and inter-key timers (see sayAndCollect); `sleep` serves pause. */
  timers: VerbTimers & { sleep(name: 'Pause', ms: number, signal: AbortSignal): Promise<void> };
}
