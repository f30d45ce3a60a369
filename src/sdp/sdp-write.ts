/**
 * Serialises the descriptions we send. Field order follows RFC 4566 §5:
 *
 *   v=  o=  s=  c=  t=  (session)
 *   m=  a=*             (per media; our c= is session-level)
 *
 * Lines end in CRLF, the last one included (RFC 4566 §5: "a CRLF sequence" ends each field).
 */
import { randomInt } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import { SdpError } from './sdp-error.js';
import type { SdpConnection } from './types.js';

export interface SdpMediaToWrite {
  readonly media: string;
  readonly port: number;
  readonly protocol: string;
  readonly formats: readonly string[];
  /** Attribute values without the "a=" prefix, in order. */
  readonly attributes: readonly string[];
}

export interface SdpToWrite {
  readonly sessionId: string;
  readonly sessionVersion: string;
  /** Our address: used in o= and the session-level c=. */
  readonly address: string;
  readonly timing: { readonly start: string; readonly stop: string };
  readonly media: readonly SdpMediaToWrite[];
}

export function writeSdp(description: SdpToWrite): string {
  const connection = connectionFor(description.address);
  const lines = [
    'v=0',
    `o=- ${description.sessionId} ${description.sessionVersion} IN ${connection.addressType} ${connection.address}`,
    's=-',
    `c=IN ${connection.addressType} ${connection.address}`,
    `t=${description.timing.start} ${description.timing.stop}`,
  ];
  for (const media of description.media) {
    lines.push(`m=${media.media} ${media.port} ${media.protocol} ${media.formats.join(' ')}`);
    for (const attribute of media.attributes) lines.push(`a=${attribute}`);
  }
  return `${lines.join('\r\n')}\r\n`;
}

/** 0.0.0.0 or ::, in any spelling. */
export function isUnspecifiedAddress(address: string): boolean {
  if (isIPv4(address)) return address === '0.0.0.0';
  if (!isIPv6(address) || address.includes('%')) return false;
  return /^[0:]+$/.test(address);
}

/**
 * Our own address must be a literal (a peer would have to resolve a name, and many cannot) and a real one: a
 * socket bound to 0.0.0.0 leaking into c= would read as RFC 2543 hold and silence the call.
 */
export function connectionFor(address: string): SdpConnection {
  if (isUnspecifiedAddress(address)) {
    throw new SdpError('invalid_value', `Media address ${address} is unspecified; give the address peers should send to`);
  }
  if (isIPv4(address)) return { addressType: 'IP4', address };
  // A zone id ("fe80::1%eth0") is local to this host and means nothing to the peer.
  if (isIPv6(address) && !address.includes('%')) return { addressType: 'IP6', address };
  throw new SdpError('invalid_value', `Media address ${JSON.stringify(address)} is not an IPv4 or IPv6 literal`);
}

export function checkMediaPort(port: number): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new SdpError('invalid_value', `Media port ${port} is not an integer from 1 to 65535`);
  }
  return port;
}

/** sess-id and sess-version are 1*DIGIT (RFC 4566 §9); numbers are accepted when they are exact. */
export function sessionNumber(value: string | number, what: string): string {
  const text = typeof value === 'number' ? (Number.isSafeInteger(value) && value >= 0 ? String(value) : '') : value;
  if (!/^[0-9]{1,20}$/.test(text)) {
    throw new SdpError('invalid_value', `SDP ${what} must be a non-negative integer (got ${JSON.stringify(value)})`);
  }
  return text;
}

export function newSessionId(): string {
  // Random rather than the NTP clock RFC 4566 suggests: only uniqueness matters, and tests stay clock-free.
  return String(randomInt(1, 2 ** 48));
}
