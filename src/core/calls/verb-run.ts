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
 * A one-shot abort: a flag, its reason and the listeners told once when it is set. What an AbortController gives the
 * call layer, without the EventTarget, its listener map and the Event dispatched per abort: every call's program,
 * verbs and session each have one, and most are never aborted or never heard by anything but this layer. A real
 * AbortSignal is made from it only for a driver call that takes one (see VerbRun.signal).
 */
export class Cut {
  aborted = false;
  reason: unknown = undefined;
  private listeners: Array<() => void> | undefined;

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const listeners = this.listeners;
    if (!listeners) return;
    for (const listener of listeners.slice()) {
      // One removed by an earlier listener is not told (as with an AbortSignal).
      if (!listeners.includes(listener)) continue;
      try {
        listener();
      } catch (error) {
        // As an AbortSignal's listener: the others are still told, and the error surfaces as uncaught.
        process.nextTick(() => {
          throw error;
        });
      }
    }
    this.listeners = undefined;
  }

  /** Calls `listener` once when aborted (never if already aborted); the returned function removes it. */
  onAbort(listener: () => void): () => void {
    if (this.aborted) return noop;
    (this.listeners ??= []).push(listener);
    const listeners = this.listeners;
    return () => {
      const index = listeners.indexOf(listener);
      if (index !== -1) listeners.splice(index, 1);
    };
  }
}

const noop = (): void => undefined;

/**
 * One verb's lifetime: aborted when the program is (a live replace, stop, the call ending) or when a driver call
 * fails behind the verb's back (a media listener, a timer). Everything it registers is removed by dispose(), so a
 * long call does not pile listeners onto the program's cut.
 */
export class VerbRun {
  private readonly all = new Cut();
  /** An AbortSignal following `all`, made only for a driver call that takes one (pause, dial, record). */
  private allSignal: AbortSignal | undefined;
  /**
   * Aborted by everything except the call ending: dial and record wait for the driver's result then. Made only for a
   * verb that asks (doUntilCommanded), most verbs never do.
   */
  private commandedCut: Cut | undefined;
  /** Whether the verb was cut short by something other than the call ending, before `commanded` was made. */
  private commandedFirst = false;
  private readonly disposers: Array<() => void> = [];
  fault: { error: unknown } | undefined;

  constructor(program: Cut) {
    const follow = () => {
      if (program.reason !== CALL_ENDED) this.abortCommanded();
      this.all.abort(CUT_SHORT);
    };
    if (program.aborted) follow();
    else this.disposers.push(program.onAbort(follow));
  }

  /** Whether the verb was cut short. */
  get cutShort(): boolean {
    return this.all.aborted;
  }

  /** The verb's lifetime as an AbortSignal, for driver calls that take one. */
  get signal(): AbortSignal {
    if (!this.allSignal) {
      const controller = new AbortController();
      this.allSignal = controller.signal;
      if (this.all.aborted) controller.abort(CUT_SHORT);
      else this.disposers.push(this.all.onAbort(() => controller.abort(CUT_SHORT)));
    }
    return this.allSignal;
  }

  /** A driver failure outside any awaited call: remember the first, cut the verb short. */
  fail(error: unknown): void {
    this.fault ??= { error };
    this.abortCommanded();
    this.all.abort(CUT_SHORT);
  }

  private abortCommanded(): void {
    if (this.commandedCut) this.commandedCut.abort(CUT_SHORT);
    else this.commandedFirst = true;
  }

  private get commanded(): Cut {
    if (!this.commandedCut) {
      this.commandedCut = new Cut();
      if (this.commandedFirst) this.commandedCut.abort(CUT_SHORT);
    }
    return this.commandedCut;
  }

  onAbort(listener: () => void): void {
    this.disposers.push(this.all.onAbort(listener));
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
    return abortable(call, this.all, this.all);
  }

  /** Like do(), but keeps waiting when the call ended: the driver resolves dial and record then, with a result. */
  doUntilCommanded<T>(call: () => Promise<T>): Promise<T> {
    return abortable(call, this.all, this.commanded);
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

/** Starts `call` unless `start` is aborted already; stops waiting for it when `wait` aborts. */
function abortable<T>(call: () => Promise<T>, start: Cut, wait: Cut): Promise<T> {
  if (start.aborted || wait.aborted) return Promise.reject(new VerbAborted());
  const pending = attempt(call);
  return new Promise<T>((resolve, reject) => {
    const off = wait.onAbort(() => reject(new VerbAborted()));
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
