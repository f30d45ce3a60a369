import type { SipRequest, SipResponse } from '../message/types.js';
import type { SipTimerBase, TimerScheduler } from './timers.js';
import { TransactionCore } from './transaction-core.js';

/** What a client transaction tells its user (the UAC core / dialog layer). */
export interface ClientTransactionUser {
  onResponse(response: SipResponse): void;
  /** Timer B or F: no final response in time. */
  onTimeout(): void;
  onTransportError(error: Error): void;
  onTerminated?(): void;
}

export interface ClientTransactionOptions {
  readonly request: SipRequest;
  readonly reliable: boolean;
  readonly timers: TimerScheduler;
  readonly base: SipTimerBase;
  /** Hands a message to the transport toward this transaction's destination; throws on a transport failure. */
  readonly send: (message: SipRequest) => void;
  readonly user: ClientTransactionUser;
}

abstract class ClientTransactionBase<S extends string> extends TransactionCore<SipRequest> {
  abstract override state: S | 'terminated';

  constructor(protected readonly options: ClientTransactionOptions) {
    super({
      reliable: options.reliable,
      timers: options.timers,
      base: options.base,
      send: options.send,
      onTerminated: () => options.user.onTerminated?.(),
      onTransportError: (error) => options.user.onTransportError(error),
    });
  }

  get request(): SipRequest {
    return this.options.request;
  }
}

/**
 * INVITE client transaction, RFC 3261 §17.1.1 with RFC 6026's Accepted state.
 *
 *   Calling --1xx--> Proceeding --2xx--> Accepted --Timer M--> Terminated
 *      |                  |
 *      +---300-699 / ACK--+--> Completed --Timer D--> Terminated
 *   Calling --Timer B--> Terminated (timeout)
 */
export class InviteClientTransaction extends ClientTransactionBase<'calling' | 'proceeding' | 'completed' | 'accepted'> {
  state: 'calling' | 'proceeding' | 'completed' | 'accepted' | 'terminated' = 'calling';
  private ack: SipRequest | undefined;

  constructor(
    options: ClientTransactionOptions,
    /** Builds the ACK for a non-2xx final response (§17.1.1.3); the 2xx ACK belongs to the dialog. */
    private readonly buildAck: (request: SipRequest, response: SipResponse) => SipRequest,
  ) {
    super(options);
  }

  start(): void {
    if (!this.transmit(this.request)) return;
    if (!this.options.reliable) this.retransmitAfter(this.durations.A);
    this.timer('B', this.durations.B, () => {
      if (this.state !== 'calling') return;
      this.terminate();
      this.options.user.onTimeout();
    });
  }

  receive(response: SipResponse): void {
    const status = response.status;
    switch (this.state) {
      case 'calling':
      case 'proceeding':
        if (status < 200) {
          this.state = 'proceeding';
          this.stop('A');
          this.stop('B');
          this.options.user.onResponse(response);
        } else if (status < 300) {
          this.state = 'accepted';
          this.stop('A');
          this.stop('B');
          this.timer('M', this.durations.M, () => this.terminate());
          this.options.user.onResponse(response);
        } else {
          this.state = 'completed';
          this.stop('A');
          this.stop('B');
          this.ack = this.buildAck(this.request, response);
          if (!this.transmit(this.ack)) return;
          this.options.user.onResponse(response);
          if (this.durations.D === 0) this.terminate();
          else this.timer('D', this.durations.D, () => this.terminate());
        }
        return;
      case 'completed':
        // A retransmitted final response means our ACK was lost: send it again, tell nobody.
        if (status >= 300 && this.ack) this.transmit(this.ack);
        return;
      case 'accepted':
        // Retransmitted 2xx (or a 2xx from another fork) go to the dialog layer, which ACKs each.
        if (status >= 200 && status < 300) this.options.user.onResponse(response);
        return;
      case 'terminated':
        return;
    }
  }

  private retransmitAfter(interval: number): void {
    this.timer('A', interval, () => {
      if (this.state !== 'calling') return;
      if (this.transmit(this.request)) this.retransmitAfter(interval * 2);
    });
  }
}

/**
 * Non-INVITE client transaction, RFC 3261 §17.1.2.
 *
 *   Trying --1xx--> Proceeding --200-699--> Completed --Timer K--> Terminated
 *   Trying/Proceeding --Timer F--> Terminated (timeout)
 */
export class NonInviteClientTransaction extends ClientTransactionBase<'trying' | 'proceeding' | 'completed'> {
  state: 'trying' | 'proceeding' | 'completed' | 'terminated' = 'trying';

  start(): void {
    if (!this.transmit(this.request)) return;
    if (!this.options.reliable) this.retransmitAfter(this.durations.E);
    this.timer('F', this.durations.F, () => {
      if (this.state !== 'trying' && this.state !== 'proceeding') return;
      this.terminate();
      this.options.user.onTimeout();
    });
  }

  receive(response: SipResponse): void {
    if (this.state !== 'trying' && this.state !== 'proceeding') return;
    if (response.status < 200) {
      this.state = 'proceeding';
      this.options.user.onResponse(response);
      return;
    }
    this.state = 'completed';
    this.stop('E');
    this.stop('F');
    this.options.user.onResponse(response);
    if (this.durations.K === 0) this.terminate();
    else this.timer('K', this.durations.K, () => this.terminate());
  }

  private retransmitAfter(interval: number): void {
    this.timer('E', interval, () => {
      if (this.state !== 'trying' && this.state !== 'proceeding') return;
      if (!this.transmit(this.request)) return;
      // In Proceeding the interval is T2 from then on (§17.1.2.2).
      const next = this.state === 'proceeding' ? this.options.base.T2 : Math.min(interval * 2, this.options.base.T2);
      this.retransmitAfter(next);
    });
  }
}
