import type { LegMedia } from './call-engine.js';
import type { VerbTimers } from './verbs.js';

/** Thrown inside a verb when it was cut short; the interpreter never lets it out. */
export class VerbAborted extends Error {
  constructor() {
    super('verb aborted');
    this.name = 'VerbAborted';
  }
}

/** The reason the program's controller is aborted with when the call itself ended. */
export const CALL_ENDED = Symbol('call ended');
/** Why a verb or program is cut short otherwise. Given as the reason, it spares building a DOMException per abort. */
export const CUT_SHORT = Symbol('cut short');

/**
 * One verb's lifetime: aborted when the program is (a live replace, stop, the call ending) or when a driver call
 * fails behind the verb's back (a media listener, a timer). Everything it registers is removed by dispose(), so a
 * long call does not pile listeners onto the program's signal.
 */
export class VerbRun {
  private readonly all = new AbortController();
  /**
   * Aborted by everything except the call ending: dial and record wait for the driver's result then. Made only for a
   * verb that asks (doUntilCommanded), most verbs never do.
   */
  private commandedController: AbortController | undefined;
  /** Whether the verb was cut short by something other than the call ending, before `commanded` was made. */
  private commandedFirst = false;
  private readonly disposers: Array<() => void> = [];
  fault: { error: unknown } | undefined;

  constructor(program: AbortSignal) {
    const follow = () => {
      if (program.reason !== CALL_ENDED) this.abortCommanded();
      this.all.abort(CUT_SHORT);
    };
    if (program.aborted) follow();
    else this.disposers.push(onAbort(program, follow));
  }

  get signal(): AbortSignal {
    return this.all.signal;
  }

  /** A driver failure outside any awaited call: remember the first, cut the verb short. */
  fail(error: unknown): void {
    this.fault ??= { error };
    this.abortCommanded();
    this.all.abort(CUT_SHORT);
  }

  private abortCommanded(): void {
    if (this.commandedController) this.commandedController.abort(CUT_SHORT);
    else this.commandedFirst = true;
  }

  private get commanded(): AbortController {
    if (!this.commandedController) {
      this.commandedController = new AbortController();
      if (this.commandedFirst) this.commandedController.abort(CUT_SHORT);
    }
    return this.commandedController;
  }

  onAbort(listener: () => void): void {
    this.disposers.push(onAbort(this.all.signal, listener));
  }

  /** Runs when the verb is over, however it ended. */
  onDispose(dispose: () => void): void {
    this.disposers.push(dispose);
  }

  /** Resolves when the verb is cut short, for APIs that take an "ended" promise rather than a signal. */
  aborted(): Promise<void> {
    return new Promise((resolve) => this.onAbort(resolve));
  }

  /** Starts a driver call unless the verb is already over, and stops waiting for it as soon as the verb is. */
  do<T>(call: () => Promise<T>): Promise<T> {
    return abortable(call, this.all.signal, this.all.signal);
  }

  /** Like do(), but keeps waiting when the call ended: the driver resolves dial and record then, with a result. */
  doUntilCommanded<T>(call: () => Promise<T>): Promise<T> {
    return abortable(call, this.all.signal, this.commanded.signal);
  }

  dispose(): void {
    for (const dispose of this.disposers.splice(0)) dispose();
  }

  /** The leg's media with every call guarded: a throwing stop(), play() or listener fails this verb, not the process. */
  guardMedia(media: LegMedia): LegMedia {
    const guard = (action: () => void) => {
      try {
        action();
      } catch (error) {
        this.fail(error);
      }
    };
    return {
      play: (samples) => attempt(() => media.play(samples)).catch((error: unknown) => this.fail(error)),
      stop: () => guard(() => media.stop()),
      onAudio: (listener) => media.onAudio(listener),
      onInactive: (listener) => media.onInactive(listener),
      onDigit: (listener) => {
        const off = media.onDigit((digit) => guard(() => listener(digit)));
        return () => guard(off);
      },
    };
  }

  guardTimers(timers: VerbTimers): VerbTimers {
    return {
      start: (name, ms, fire) => {
        try {
          return timers.start(name, ms, fire);
        } catch (error) {
          this.fail(error);
          return { cancel: () => undefined };
        }
      },
    };
  }
}

function onAbort(signal: AbortSignal, listener: () => void): () => void {
  signal.addEventListener('abort', listener, { once: true });
  return () => signal.removeEventListener('abort', listener);
}

/** Starts `call` unless `start` is aborted already; stops waiting for it when `wait` aborts. */
function abortable<T>(call: () => Promise<T>, start: AbortSignal, wait: AbortSignal): Promise<T> {
  if (start.aborted || wait.aborted) return Promise.reject(new VerbAborted());
  const pending = attempt(call);
  return new Promise<T>((resolve, reject) => {
    const off = onAbort(wait, () => reject(new VerbAborted()));
    // Settling twice is a no-op, so a late rejection after the abort is handled here and dropped.
    pending.then(
      (value) => {
        off();
        resolve(value);
      },
      (error: unknown) => {
        off();
        reject(error);
      },
    );
  });
}

/** Runs a driver call now, turning a synchronous throw into a rejection. */
export function attempt<T>(call: () => Promise<T>): Promise<T> {
  try {
    return Promise.resolve(call());
  } catch (error) {
    return Promise.reject(error);
  }
}
