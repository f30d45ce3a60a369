import { isIPv4, isIPv6 } from 'node:net';
import { networkInterfaces } from 'node:os';

export interface AdvertiseOptions {
  /** The address the socket is bound to (DIALPLANE_SIP_HOST). */
  readonly bind: string;
  /** The address configured to advertise instead (DIALPLANE_SIP_PUBLIC_ADDRESS or DIALPLANE_RTP_PUBLIC_ADDRESS). */
  readonly publicAddress?: string | undefined;
  /** The peer the message or SDP is for, when known. */
  readonly peer?: string | undefined;
  /** The host's interfaces (tests pass their own). */
  readonly interfaces?: ReturnType<typeof networkInterfaces>;
}

/** 0.0.0.0 or ::, in any spelling. */
export function isUnspecified(address: string): boolean {
  if (isIPv4(address)) return address === '0.0.0.0';
  return isIPv6(address) && !address.includes('%') && /^[0:]+$/.test(address);
}

export function isLoopback(address: string): boolean {
  if (isIPv4(address)) return address.startsWith('127.');
  const lower = address.toLowerCase();
  return lower === '::1' || lower === '0:0:0:0:0:0:0:1' || lower.startsWith('::ffff:127.');
}

/**
 * The address that goes into Via, Contact and SDP o=/c=: the public address when one is configured; else the bound
 * address when it is a concrete one; else (bound to 0.0.0.0 or ::) 127.0.0.1 (or ::1) for a loopback peer and the
 * first non-loopback interface address of the bound family for any other, falling back to loopback when the host has
 * none. Never 0.0.0.0 or ::.
 */
export function advertisedAddress(options: AdvertiseOptions): string {
  if (options.publicAddress) return options.publicAddress;
  if (!isUnspecified(options.bind)) return options.bind;
  const v6 = isIPv6(options.bind);
  const loopback = v6 ? '::1' : '127.0.0.1';
  if (options.peer !== undefined && isLoopback(options.peer)) return loopback;
  const interfaces = options.interfaces ?? networkInterfaces();
  for (const entries of Object.values(interfaces)) {
    for (const entry of entries ?? []) {
      if (entry.internal) continue;
      if (v6 ? entry.family === 'IPv6' && !entry.address.toLowerCase().startsWith('fe80') : entry.family === 'IPv4') return entry.address;
    }
  }
  return loopback;
}
