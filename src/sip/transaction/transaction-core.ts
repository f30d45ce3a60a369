import type { SipMessage } from '../message/types.js';
import { timerDurations, type SipTimerBase, type TimerHandle, type TransactionTimerName, type TimerScheduler } from './timers.js';

export interface TransactionCoreOptions<Outgoing extends SipMessage> {
  readonly reliable: boolean;
  readonly timers: TimerScheduler;
  readonly base: SipTimerBase;
  readonly send: (message: Outgoing) => void;
  readonly onTerminated?: () => void;
  readonly onTransportError?: (error: Error) => void;
}

/**
 * What every transaction shares: its named timers (all cancelled when it ends), an idempotent terminate, and a
 * transmit that turns a transport failure into the end of the transaction.
 */
export abstract class TransactionCore<Outgoing extends SipMessage> {
  protected readonly durations: ReturnType<typeof timerDurations>;
  private readonly handles = new Map<TransactionTimerName, TimerHandle>();
  abstract state: string;

  constructor(private readonly core: TransactionCoreOptions<Outgoing>) {
    this.durations = timerDurations(core.base, core.reliable);
  }

  /** Ends the transaction at once (the layer drops it); idempotent. */
  terminate(): void {
    if (this.state === 'terminated') return;
    this.state = 'terminated';
    for (const handle of this.handles.values()) handle.cancel();
    this.handles.clear();
    this.core.onTerminated?.();
  }

  protected transmit(message: Outgoing): boolean {
    try {
      this.core.send(message);
      return true;
    } catch (error) {
      this.terminate();
      this.core.onTransportError?.(error instanceof Error ? error : new Error(String(error)));
      return false;
    }
  }

  protected timer(name: TransactionTimerName, ms: number, fire: () => void): void {
    this.handles.get(name)?.cancel();
    this.handles.set(
      name,
      this.core.timers.start(name, ms, () => {
        this.handles.delete(name);
        fire();
      }),
    );
  }

  protected stop(name: TransactionTimerName): void {
    this.handles.get(name)?.cancel();
    this.handles.delete(name);
  }
}
