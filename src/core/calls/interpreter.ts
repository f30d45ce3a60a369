import type { LegMedia } from './call-engine.js';
import type { ActivityKind, CallDriver } from './call-driver.js';
import { DEFAULT_FINISH_ON_KEY, GATHER_MAX_DIGITS, validateProgram } from './program.js';
import type { DialVerb, GatherVerb, PlayVerb, Program, RecordVerb, TransferVerb, Verb } from './program.js';
import { CALL_ENDED, CUT_SHORT, Cut, VerbAborted, VerbRun, attempt } from './verb-run.js';
import { sayAndCollect } from './verbs.js';

export interface InterpreterOptions {
  /** Driver or listener failures; the call is hung up after each. Never receives pressed keys. */
  onError?(err: unknown): void;
}

/** Defaults of the verbs' optional fields (docs/call-control-verbs.md). */
export const VERB_DEFAULTS = Object.freeze({
  gatherTimeoutS: 5,
  finishOnKey: DEFAULT_FINISH_ON_KEY,
  dialTimeoutS: 30,
  recordMaxLengthS: 3600,
  beep: true,
});

/** The verbs during which pressed keys are kept for the next gather. */
const TYPE_AHEAD_VERBS: ReadonlySet<Verb['verb']> = new Set(['say', 'play', 'pause']);

/** Redirects in a row, with no other verb between them, before the chain counts as a failing hook. */
export const MAX_CONSECUTIVE_REDIRECTS = 10;

type Outcome =
  | { kind: 'next' }
  | { kind: 'program'; program: Program }
  | { kind: 'end' };

const NEXT: Outcome = Object.freeze({ kind: 'next' });
const END: Outcome = Object.freeze({ kind: 'end' });

/**
 * Runs verb programs against one call. Verbs run in order; an action hook's answer replaces the rest of the
 * program; a program that runs out hangs up. replace() (a live command) cuts the running verb short and runs the
 * new program; stop() ends the program where it is and leaves the call to whoever stopped it. Nothing a driver or
 * hook does can make run() reject: failures are reported through onError and the call is hung up.
 */
export class Interpreter {
  /** Aborted when the running program must stop: replace(), stop(), or the call ending (reason CALL_ENDED). */
  private program = new Cut();
  private queued: Program | undefined;
  /** Why the queued program takes over: a live command, or a transfer that handed the call to another leg. */
  private queuedSource: 'live' | 'transfer' = 'live';
  /** The verb running now, in its program: a hand-over starts it again. */
  private position: { readonly verbs: Program; readonly index: number } | undefined;
  private phase: 'idle' | 'running' | 'done' = 'idle';
  private stopped = false;
  private ended = false;
  private hungUp = false;
  private answered = false;
  private redirects = 0;
  /**
   * Keys pressed while say, play or pause ran since the last gather (type-ahead): the next gather takes them as its
   * first keys. Any other verb, and a live replacement, clears them.
   */
  private typeAhead = '';

  constructor(
    private readonly driver: CallDriver,
    private readonly options: InterpreterOptions = {},
  ) {}

  /** Resolves when the program is over and the call has been hung up or has ended (or stop() was called). */
  async run(program: Program): Promise<void> {
    if (this.phase !== 'idle') throw new Error('an Interpreter runs once; use replace() to change its program');
    this.phase = 'running';
    try {
      const onEnded = () => this.onCallEnded();
      attempt(() => this.driver.ended).then(onEnded, onEnded);
      let next: Program | undefined = program;
      while (next) next = await this.runProgram(next);
    } catch (error) {
      this.report(error);
    }
    if (!this.stopped && !this.ended) await this.hangUp();
    this.phase = 'done';
  }

  /** Replaces the running program; false when there is none to replace (not started, over, stopped, hung up). */
  replace(program: Program, source: 'live' | 'transfer' = 'live'): boolean {
    if (this.phase !== 'running' || this.stopped || this.ended || this.hungUp) return false;
    this.queued = program;
    this.queuedSource = source;
    this.program.abort(CUT_SHORT);
    return true;
  }

  /**
   * The controlling leg was handed to a transfer's target: the verb that was running (its audio went to the leg that
   * left) starts again for the new leg, followed by the rest of its program. False when nothing is running.
   */
  handOver(): boolean {
    const at = this.position;
    if (!at) return false;
    return this.replace(at.verbs.slice(at.index), 'transfer');
  }

  stop(): void {
    this.stopped = true;
    this.queued = undefined;
    this.program.abort(CUT_SHORT);
  }

  private onCallEnded(): void {
    this.ended = true;
    this.queued = undefined;
    this.program.abort(CALL_ENDED);
  }

  /** Runs one program; returns the program that takes over from it, or undefined when the call should end. */
  private async runProgram(verbs: Program): Promise<Program | undefined> {
    for (const [index, verb] of verbs.entries()) {
      if (this.program.aborted) break;
      this.position = { verbs, index };
      const outcome = await this.runVerb(verb);
      if (this.program.aborted) break;
      if (outcome.kind === 'program') return outcome.program;
      if (outcome.kind === 'end') return undefined;
    }
    return this.program.aborted ? this.takeReplacement() : undefined;
  }

  private takeReplacement(): Program | undefined {
    const next = this.queued;
    this.queued = undefined;
    if (!next || this.stopped || this.ended || this.hungUp) return undefined;
    this.program = new Cut();
    this.redirects = 0;
    this.typeAhead = '';
    this.activity('program', { source: this.queuedSource, verbs: next.length });
    return next;
  }

  private async runVerb(verb: Verb): Promise<Outcome> {
    if (verb.verb !== 'redirect') this.redirects = 0;
    if (!TYPE_AHEAD_VERBS.has(verb.verb) && verb.verb !== 'gather') this.typeAhead = '';
    const run = new VerbRun(this.program);
    try {
      const outcome = await this.execute(verb, run);
      if (run.fault) throw run.fault.error;
      return outcome;
    } catch (error) {
      const cause = run.fault ? run.fault.error : error;
      // An error while the program was being aborted is most likely the abort's own echo (a cancelled dial).
      if (!(cause instanceof VerbAborted) && (run.fault || !this.program.aborted)) this.report(cause);
      return END;
    } finally {
      run.dispose();
    }
  }

  private async execute(verb: Verb, run: VerbRun): Promise<Outcome> {
    switch (verb.verb) {
      case 'say': {
        const media = await this.media(run, true);
        const samples = await run.do(() => this.driver.speech(verb.text, verb.voice));
        for (let i = 0; i < (verb.loop ?? 1); i++) await run.do(() => media.play(samples));
        return NEXT;
      }
      case 'play': {
        const media = await this.media(run, true);
        const samples = await run.do(() => this.driver.audio(audioSource(verb)));
        for (let i = 0; i < (verb.loop ?? 1); i++) await run.do(() => media.play(samples));
        return NEXT;
      }
      case 'pause':
        await this.media(run, true);
        await run.do(() => this.driver.timers.sleep('Pause', verb.length * 1000, run.signal));
        return NEXT;
      case 'gather':
        return this.gather(verb, run);
      case 'dial':
        return this.dial(verb, run);
      case 'record':
        return this.record(verb, run);
      case 'hangup':
        await this.hangUp();
        return END;
      case 'transfer':
        return this.transfer(verb, run);
      case 'redirect':
        if (++this.redirects > MAX_CONSECUTIVE_REDIRECTS) {
          return this.hookFailed(verb.actionHook, 'redirect_loop', `more than ${MAX_CONSECUTIVE_REDIRECTS} redirects in a row`);
        }
        return this.fetchProgram(verb.actionHook, {}, run, 'redirect');
    }
  }

  /**
   * Answers the call (once) and hands out its media, stopped at once if the verb is cut short. With `typeAhead`,
   * keys pressed while the verb runs are kept for the next gather.
   */
  private async media(run: VerbRun, typeAhead = false): Promise<LegMedia> {
    if (!this.answered) {
      await run.do(() => this.driver.answer());
      this.answered = true;
    }
    const media = run.guardMedia(this.driver.media());
    run.onAbort(() => media.stop());
    if (typeAhead) run.onDispose(this.keepTypeAhead(media));
    return media;
  }

  /** Keeps the keys pressed from now on (up to a gather's most) until the returned function is called. */
  private keepTypeAhead(media: LegMedia): () => void {
    return media.onDigit((digit) => {
      if (this.typeAhead.length < GATHER_MAX_DIGITS) this.typeAhead += digit;
    });
  }

  private async gather(verb: GatherVerb, run: VerbRun): Promise<Outcome> {
    const media = await this.media(run);
    // Keys pressed while the prompt is made ready are type-ahead too; from sayAndCollect on, it hears them itself.
    const stopKeeping = this.keepTypeAhead(media);
    let prompt: Int16Array | undefined;
    try {
      prompt = await this.prompt(verb, run);
    } finally {
      stopKeeping();
    }
    const typeAhead = this.typeAhead;
    this.typeAhead = '';
    const timeoutS = verb.timeout ?? VERB_DEFAULTS.gatherTimeoutS;
    const finishKey = verb.finishOnKey ?? VERB_DEFAULTS.finishOnKey;
    // sayAndCollect ends on its `ended` promise with what was gathered: we want the digits when the caller hangs up.
    const { digits, reason } = await sayAndCollect(
      media,
      {
        maxDigits: verb.numDigits ?? GATHER_MAX_DIGITS,
        finishKey: finishKey === '' ? undefined : finishKey,
        firstDigitTimeoutMs: timeoutS * 1000,
        interDigitTimeoutMs: (verb.interDigitTimeout ?? timeoutS) * 1000,
        prompt,
        bargeIn: true,
        typeAhead,
        ended: run.aborted(),
      },
      run.guardTimers(this.driver.timers),
    );
    if (run.cutShort && !this.ended) throw new VerbAborted();
    this.activity('gather', { digits, reason: this.ended ? 'hangup' : reason });
    if (this.ended) return NEXT;
    const branch = verb.onDigits && Object.hasOwn(verb.onDigits, digits) ? verb.onDigits[digits] : undefined;
    if (branch) {
      this.activity('program', { source: 'digits', verbs: branch.length });
      return { kind: 'program', program: branch };
    }
    if (!verb.actionHook) return NEXT;
    return this.fetchProgram(verb.actionHook, { digits, reason }, run, 'hook');
  }

  /** The gather prompt, its loops laid end to end so barge-in and the first-key timer see one prompt. */
  private async prompt(verb: GatherVerb, run: VerbRun): Promise<Int16Array | undefined> {
    const { say, play } = verb;
    if (!say && !play) return undefined;
    const samples = await run.do(() => (say ? this.driver.speech(say.text, say.voice) : this.driver.audio(audioSource(play!))));
    const loop = (say ?? play)?.loop ?? 1;
    if (loop === 1) return samples;
    const out = new Int16Array(samples.length * loop);
    for (let i = 0; i < loop; i++) out.set(samples, i * samples.length);
    return out;
  }

  private async dial(verb: DialVerb, run: VerbRun): Promise<Outcome> {
    const result = await run.doUntilCommanded(() =>
      this.driver.dial(verb.target, {
        callerId: verb.callerId,
        timeoutS: verb.timeout ?? VERB_DEFAULTS.dialTimeoutS,
        timeLimitS: verb.timeLimit,
        signal: run.signal,
      }),
    );
    const dialCallId = result.dialCallId ?? null;
    this.activity('dial', { outcome: result.outcome, dial_call_id: dialCallId, duration_s: result.durationS });
    if (!verb.actionHook || this.ended) return NEXT;
    const extra = { dial_call_status: result.outcome, dial_call_id: dialCallId, dial_duration: result.durationS };
    return this.fetchProgram(verb.actionHook, extra, run, 'hook');
  }

  /**
   * Hands the call to another party through the far end (REFER): answered, the leg is ended and the program is over;
   * refused or failed, the outcome goes to the actionHook, else the next verb runs.
   */
  private async transfer(verb: TransferVerb, run: VerbRun): Promise<Outcome> {
    await this.media(run);
    const destination = verb.to.startsWith('sip:') ? { uri: verb.to } : { number: verb.to };
    const result = await run.doUntilCommanded(() => this.driver.transfer(destination));
    const sipStatus = 'status' in result ? result.status : null;
    this.activity('transfer', { to: verb.to, outcome: result.outcome, sip_status: sipStatus });
    if (result.outcome === 'completed') return END;
    if (!verb.actionHook || this.ended) return NEXT;
    return this.fetchProgram(verb.actionHook, { transfer_status: result.outcome, transfer_sip_status: sipStatus }, run, 'hook');
  }

  private async record(verb: RecordVerb, run: VerbRun): Promise<Outcome> {
    await this.media(run);
    const finishKey = verb.finishOnKey ?? VERB_DEFAULTS.finishOnKey;
    const result = await run.doUntilCommanded(() =>
      this.driver.record({
        maxLengthS: verb.maxLength ?? VERB_DEFAULTS.recordMaxLengthS,
        finishOnKey: finishKey === '' ? undefined : finishKey,
        beep: verb.beep ?? VERB_DEFAULTS.beep,
        signal: run.signal,
      }),
    );
    this.activity('record', { recording_id: result.recordingId, duration_s: result.durationS, reason: result.reason });
    if (!verb.actionHook || this.ended) return NEXT;
    const extra = { recording_id: result.recordingId, recording_duration: result.durationS, reason: result.reason };
    return this.fetchProgram(verb.actionHook, extra, run, 'hook');
  }

  /** POSTs to a hook and takes its answer as the next program; any failure is a hook_error and ends the call. */
  private async fetchProgram(
    url: string,
    extra: Record<string, unknown>,
    run: VerbRun,
    source: 'hook' | 'redirect',
  ): Promise<Outcome> {
    let body: unknown;
    try {
      body = await run.do(() => this.driver.hook(url, extra));
    } catch (error) {
      if (error instanceof VerbAborted) throw error;
      return this.hookFailed(url, failureReason(error), failureMessage(error));
    }
    let program: Program;
    try {
      program = validateProgram(body);
    } catch (error) {
      return this.hookFailed(url, 'invalid_program', failureMessage(error));
    }
    this.activity('program', { source, verbs: program.length });
    return { kind: 'program', program };
  }

  private hookFailed(url: string, reason: string, message: string): Outcome {
    this.activity('hook_error', { url, reason, message });
    return END;
  }

  private activity(kind: ActivityKind, data: Record<string, unknown>): void {
    this.driver.activity(kind, data);
  }

  private async hangUp(): Promise<void> {
    if (this.hungUp) return;
    this.hungUp = true;
    try {
      await attempt(() => this.driver.hangup());
    } catch (error) {
      this.report(error);
    }
  }

  private report(error: unknown): void {
    try {
      this.options.onError?.(error);
    } catch {
      // An error handler that throws must not take the call (or the process) down with it.
    }
  }
}

function audioSource(verb: Omit<PlayVerb, 'verb'>): { url: string } | { recording: string } {
  return verb.url !== undefined ? { url: verb.url } : { recording: verb.recording ?? '' };
}

/** A HookError's reason ('timeout', 'status', ...), or its code; never the body, which may echo pressed keys. */
function failureReason(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const { reason, code } = error as { reason?: unknown; code?: unknown };
    if (typeof reason === 'string') return reason;
    if (typeof code === 'string') return code;
  }
  return 'error';
}

function failureMessage(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).slice(0, 500);
}
