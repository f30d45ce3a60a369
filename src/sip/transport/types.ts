import type { SipMessage } from '../message/types.js';

export type TransportProtocol = 'udp' | 'tcp' | 'tls';

/** TCP and TLS: one connection carries a stream of messages, delivery is reliable (no retransmissions, §17). */
export function isStreamTransport(transport: TransportProtocol): boolean {
  return transport !== 'udp';
}

/** The transport a URI asks for: `sips:` or `;transport=tls` is TLS (RFC 3261 §26.2.2, RFC 5630), else as named. */
export function uriTransport(scheme: string, transportParam: string | null | undefined): TransportProtocol | undefined {
  if (scheme.toLowerCase() === 'sips') return 'tls';
  const param = transportParam?.toLowerCase();
  return param === 'tls' || param === 'tcp' || param === 'udp' ? param : undefined;
}

/** The port a URI without one means (§19.1.2): 5061 for TLS, 5060 otherwise. */
export function defaultPort(transport: TransportProtocol): number {
  return transport === 'tls' ? 5061 : 5060;
}

/** How an outbound TLS connection checks its peer. */
export interface TlsPeer {
  /** The host name the certificate must name (and SNI); undefined: the address itself (an IP SAN). */
  readonly serverName?: string | undefined;
  /** false only where a trunk URI says `;verify=off` (labs): the certificate is not checked at all. */
  readonly verify: boolean;
}

/** Where a message goes, or came from. */
export interface SipEndpoint {
  readonly transport: TransportProtocol;
  readonly address: string;
  readonly port: number;
  /** For a TLS connection we open: the name to verify. Absent: the address, verified. */
  readonly tls?: TlsPeer | undefined;
}

export interface InboundMessage {
  readonly message: SipMessage;
  readonly source: SipEndpoint;
  /** The local address and port it arrived on (for Via/Contact of responses and in-dialog requests). */
  readonly local: SipEndpoint;
}

export type SendErrorHandler = (error: Error) => void;
