import type { SipRequest, SipResponse } from '../message/types.js';
import type { SipTimerBase, TimerScheduler } from './timers.js';
import { TransactionCore } from './transaction-core.js';

export interface ServerTransactionUser {
  /** Timer H: our non-2xx final response to an INVITE was never ACKed. */
  onTimeout?(): void;
  onTransportError?(error: Error): void;
  onTerminated?(): void;
}

export interface ServerTransactionOptions {
  readonly request: SipRequest;
  readonly reliable: boolean;
  readonly timers: TimerScheduler;
  readonly base: SipTimerBase;
  readonly send: (message: SipResponse) => void;
  readonly user: ServerTransactionUser;
  /** Builds "100 Trying" for the request (an INVITE the TU has not answered within 200 ms). */
  readonly trying?: (request: SipRequest) => SipResponse;
}

abstract class ServerTransactionBase extends TransactionCore<SipResponse> {
  protected lastResponse: SipResponse | undefined;

  constructor(protected readonly options: ServerTransactionOptions) {
    super({
      reliable: options.reliable,
      timers: options.timers,
      base: options.base,
      send: options.send,
      onTerminated: () => options.user.onTerminated?.(),
      onTransportError: (error) => options.user.onTransportError?.(error),
    });
  }

  get request(): SipRequest {
    return this.options.request;
  }

  protected lingerThenTerminate(name: 'I' | 'J' | 'L', ms: number): void {
    if (ms === 0) this.terminate();
    else this.timer(name, ms, () => this.terminate());
  }
}

/**
 * INVITE server transaction, RFC 3261 §17.2.1 with RFC 6026's Accepted state.
 *
 *   Proceeding --2xx from TU--> Accepted --Timer L--> Terminated
 *   Proceeding --300-699 from TU--> Completed --ACK--> Confirmed --Timer I--> Terminated
 *                                   Completed --Timer H--> Terminated (no ACK)
 */
export class InviteServerTransaction extends ServerTransactionBase {
  state: 'proceeding' | 'completed' | 'confirmed' | 'accepted' | 'terminated' = 'proceeding';

  start(): void {
    if (this.options.trying) {
      const trying = this.options.trying;
      this.timer('ProvisionalDelay', this.durations.ProvisionalDelay, () => {
        if (this.state === 'proceeding' && !this.lastResponse) this.respond(trying(this.request));
      });
    }
  }

  /** The TU's response. 2xx are retransmitted by the TU (UAS core, §13.3.1.4), not here. */
  respond(response: SipResponse): void {
    if (this.state !== 'proceeding') return;
    this.stop('ProvisionalDelay');
    this.lastResponse = response;
    if (!this.transmit(response)) return;
    if (response.status < 200) return;
    if (response.status < 300) {
      this.state = 'accepted';
      this.timer('L', this.durations.L, () => this.terminate());
      return;
    }
    this.state = 'completed';
    if (!this.options.reliable) this.retransmitAfter(this.durations.G);
    this.timer('H', this.durations.H, () => {
      if (this.state !== 'completed') return;
      this.terminate();
      this.options.user.onTimeout?.();
    });
  }

  /** A retransmission of the INVITE: answer it with the last response again. */
  receiveRetransmission(): void {
    if ((this.state === 'proceeding' || this.state === 'completed') && this.lastResponse) this.transmit(this.lastResponse);
  }

  /** The ACK for our non-2xx final response. */
  receiveAck(): void {
    if (this.state !== 'completed') return;
    this.state = 'confirmed';
    this.stop('G');
    this.stop('H');
    this.lingerThenTerminate('I', this.durations.I);
  }

  private retransmitAfter(interval: number): void {
    this.timer('G', interval, () => {
      if (this.state !== 'completed' || !this.lastResponse) return;
      if (this.transmit(this.lastResponse)) this.retransmitAfter(Math.min(interval * 2, this.options.base.T2));
    });
  }
}

/**
 * Non-INVITE server transaction, RFC 3261 §17.2.2.
 *
 *   Trying --1xx--> Proceeding --200-699--> Completed --Timer J--> Terminated
 */
export class NonInviteServerTransaction extends ServerTransactionBase {
  state: 'trying' | 'proceeding' | 'completed' | 'terminated' = 'trying';

  respond(response: SipResponse): void {
    if (this.state !== 'trying' && this.state !== 'proceeding') return;
    this.lastResponse = response;
    if (!this.transmit(response)) return;
    if (response.status < 200) {
      this.state = 'proceeding';
      return;
    }
    this.state = 'completed';
    this.lingerThenTerminate('J', this.durations.J);
  }

  receiveRetransmission(): void {
    if ((this.state === 'proceeding' || this.state === 'completed') && this.lastResponse) this.transmit(this.lastResponse);
  }
}
