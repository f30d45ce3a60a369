import type { SipMessage } from '../message/types.js';

export type TransportProtocol = 'udp' | 'tcp';

/** Where a message goes, or came from. */
export interface SipEndpoint {
  readonly transport: TransportProtocol;
  readonly address: string;
  readonly port: number;
}

export interface InboundMessage {
  readonly message: SipMessage;
  readonly source: SipEndpoint;
  /** The local address and port it arrived on (for Via/Contact of responses and in-dialog requests). */
  readonly local: SipEndpoint;
}

export type SendErrorHandler = (error: Error) => void;
