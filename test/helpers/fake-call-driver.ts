import type { LegMedia, TransferDestination, TransferResult } from '../../src/core/calls/call-engine.js';
import type { ActivityKind, CallDriver, DialResult, RecordResult } from '../../src/core/calls/call-driver.js';
import type { DialTarget } from '../../src/core/calls/program.js';
import { VirtualTimers } from '../../src/sip/transaction/timers.js';

type TimerName = 'FirstDigit' | 'InterDigit' | 'Pause';

/**
 * A leg whose prompts play until the test says so (or at once in auto mode), whose keys the test presses, and which
 * writes what happens to the driver's log.
 */
export class FakeLegMedia implements LegMedia {
  readonly played: Int16Array[] = [];
  stops = 0;
  private finishPlay: (() => void) | undefined;
  private readonly digitListeners = new Set<(digit: string) => void>();

  constructor(private readonly driver: FakeCallDriver) {}

  get playing(): boolean {
    return this.finishPlay !== undefined;
  }

  play(samples: Int16Array): Promise<void> {
    this.played.push(samples);
    this.driver.log.push(`play ${samples.length}`);
    return new Promise((resolve) => {
      this.finishPlay = () => {
        this.finishPlay = undefined;
        resolve();
      };
      if (this.driver.auto) setImmediate(() => this.finishPlay?.());
    });
  }

  stop(): void {
    this.stops += 1;
    this.finishPlay?.();
  }

  /** The prompt now playing reaches its end. */
  finish(): void {
    this.finishPlay?.();
  }

  onAudio(): () => void {
    return () => undefined;
  }

  onInactive(): () => void {
    return () => undefined;
  }

  onDigit(listener: (digit: string) => void): () => void {
    this.digitListeners.add(listener);
    return () => this.digitListeners.delete(listener);
  }

  press(keys: string): void {
    for (const key of keys) for (const listener of [...this.digitListeners]) listener(key);
  }

  get listening(): number {
    return this.digitListeners.size;
  }
}

export type HookAnswer = (url: string, extra: Record<string, unknown>) => unknown;

/**
 * An in-memory CallDriver: a virtual clock (or, in auto mode, timers and prompts that finish on the next turn of
 * the event loop), canned dial and record results, hooks answered by a function, and a log of what was asked.
 */
export class FakeCallDriver implements CallDriver {
  readonly callId = 'call_test';
  readonly ended: Promise<void>;
  readonly clock = new VirtualTimers<TimerName>();
  readonly leg = new FakeLegMedia(this);
  readonly log: string[] = [];
  readonly activities: Array<{ kind: ActivityKind; data: Record<string, unknown> }> = [];
  readonly hooks: Array<{ url: string; extra: Record<string, unknown> }> = [];
  readonly dials: Array<{ targets: readonly DialTarget[]; options: { signal?: AbortSignal; timeoutS: number } }> = [];
  answered = false;
  hangups = 0;
  hookAnswer: HookAnswer = () => [{ verb: 'hangup' }];
  dialResult: (signal?: AbortSignal) => Promise<DialResult> = async () => ({ outcome: 'completed', dialCallId: 'call_child', durationS: 12 });
  recordResult: (signal?: AbortSignal) => Promise<RecordResult> = async () => ({ recordingId: 'rec_1', durationS: 3, reason: 'finish_key' });
  private endCall!: () => void;

  constructor(readonly auto = false) {
    this.ended = new Promise((resolve) => (this.endCall = resolve));
  }

  /** The caller hangs up. */
  callerHangsUp(): void {
    this.log.push('caller hangs up');
    this.endCall();
  }

  async answer(): Promise<void> {
    if (!this.answered) this.log.push('answer');
    this.answered = true;
  }

  media(): LegMedia {
    return this.leg;
  }

  async speech(text: string): Promise<Int16Array> {
    this.log.push(`speech ${text}`);
    return new Int16Array(Math.max(1, text.length));
  }

  async audio(source: { url: string } | { recording: string }): Promise<Int16Array> {
    this.log.push(`audio ${'url' in source ? source.url : source.recording}`);
    return new Int16Array(80);
  }

  dial(targets: readonly DialTarget[], options: { timeoutS: number; signal?: AbortSignal }): Promise<DialResult> {
    this.log.push('dial');
    this.dials.push({ targets, options });
    return this.dialResult(options.signal);
  }

  transferResult: (destination: TransferDestination) => Promise<TransferResult> = async () => ({ outcome: 'completed' });
  readonly transfers: TransferDestination[] = [];

  transfer(destination: TransferDestination): Promise<TransferResult> {
    this.log.push('transfer');
    this.transfers.push(destination);
    return this.transferResult(destination);
  }

  record(options: { signal?: AbortSignal }): Promise<RecordResult> {
    this.log.push('record');
    return this.recordResult(options.signal);
  }

  async hangup(): Promise<void> {
    this.hangups += 1;
    this.log.push('hangup');
    this.endCall();
  }

  async hook(url: string, extra: Record<string, unknown>): Promise<unknown> {
    this.log.push(`hook ${url}`);
    this.hooks.push({ url, extra });
    return this.hookAnswer(url, extra);
  }

  activity(kind: ActivityKind, data: Record<string, unknown>): void {
    this.log.push(`activity ${kind}`);
    this.activities.push({ kind, data });
  }

  readonly timers: CallDriver['timers'] = {
    start: (name, ms, fire) => this.startTimer(name, ms, fire),
    sleep: (name, ms, signal) =>
      new Promise<void>((resolve, reject) => {
        const timer = this.startTimer(name, ms, resolve);
        signal.addEventListener('abort', () => {
          timer.cancel();
          reject(signal.reason);
        }, { once: true });
      }),
  };

  private startTimer(name: TimerName, ms: number, fire: () => void): { cancel(): void } {
    if (!this.auto) return this.clock.start(name, ms, fire);
    const handle = setImmediate(fire);
    return { cancel: () => clearImmediate(handle) };
  }
}

/** Lets every pending promise reaction and immediate run. */
export async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setImmediate(resolve));
}
