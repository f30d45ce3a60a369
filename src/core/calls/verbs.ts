import type { LegMedia } from './call-engine.js';

export interface CollectOptions {
  /** Stop after this many digits. */
  readonly maxDigits: number;
  /** A key that ends collection without being part of the result (e.g. '#'). */
  readonly finishKey?: string;
  /** How long to wait for the first key (counted from the end of the prompt when there is one). */
  readonly firstDigitTimeoutMs: number;
  /** How long to wait between keys. */
  readonly interDigitTimeoutMs: number;
}

export interface Collected {
  readonly digits: string;
  readonly reason: 'max_digits' | 'finish_key' | 'timeout' | 'hangup';
}

export interface VerbTimers {
  start(name: 'FirstDigit' | 'InterDigit', ms: number, fire: () => void): { cancel(): void };
}

export const realVerbTimers: VerbTimers = {
  start(_name, ms, fire) {
    const handle = setTimeout(fire, ms);
    handle.unref();
    return { cancel: () => clearTimeout(handle) };
  },
};

/**
 * Says a prompt (optional) and collects keys: with barge-in, the first key stops the prompt at once. The first-key
 * timer starts when the prompt has finished (or at once without one), the inter-key timer after every key.
 * `ended` resolves when the call ends, which ends collection with what was gathered.
 */
export function sayAndCollect(
  media: LegMedia,
  options: CollectOptions & {
    readonly prompt?: Int16Array;
    readonly bargeIn?: boolean;
    /** Keys pressed before collection began (type-ahead), taken first as if pressed now. */
    readonly typeAhead?: string;
    readonly ended?: Promise<void>;
  },
  timers: VerbTimers = realVerbTimers,
): Promise<Collected> {
  return new Promise((resolve) => {
    let digits = '';
    let done = false;
    let timer: { cancel(): void } | undefined;
    let promptDone = options.prompt === undefined;
    const finish = (reason: Collected['reason']) => {
      if (done) return;
      done = true;
      timer?.cancel();
      unsubscribe();
      if (!promptDone) media.stop();
      resolve({ digits, reason });
    };
    const arm = (name: 'FirstDigit' | 'InterDigit', ms: number) => {
      timer?.cancel();
      timer = timers.start(name, ms, () => finish('timeout'));
    };
    const onKey = (digit: string) => {
      if (done) return;
      if (!promptDone && options.bargeIn !== false) {
        promptDone = true;
        media.stop();
      }
      if (options.finishKey !== undefined && digit === options.finishKey) {
        finish('finish_key');
        return;
      }
      digits += digit;
      if (digits.length >= options.maxDigits) finish('max_digits');
      else arm('InterDigit', options.interDigitTimeoutMs);
    };
    const unsubscribe = media.onDigit(onKey);
    void options.ended?.then(() => finish('hangup'));
    // Keys typed ahead count as pressed now: with barge-in the prompt is not played at all.
    const typeAhead = options.typeAhead ?? '';
    if (typeAhead.length > 0 && options.bargeIn !== false) promptDone = true;
    for (const digit of typeAhead) onKey(digit);
    if (done) return;
    if (options.prompt && !promptDone) {
      void media.play(options.prompt).then(() => {
        promptDone = true;
        if (!done && digits.length === 0) arm('FirstDigit', options.firstDigitTimeoutMs);
      });
    } else if (digits.length === 0) {
      arm('FirstDigit', options.firstDigitTimeoutMs);
    }
  });
}
