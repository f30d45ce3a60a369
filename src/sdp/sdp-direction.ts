/** RFC 3264 §5.1 / §6.1 stream directions. */
import { isUnspecifiedAddress } from './sdp-write.js';
import type { SdpDirection } from './types.js';

export const SDP_DIRECTIONS: readonly SdpDirection[] = ['sendrecv', 'sendonly', 'recvonly', 'inactive'];

export function isSdpDirection(name: string): name is SdpDirection {
  return (SDP_DIRECTIONS as readonly string[]).includes(name);
}

/** RFC 3264 §6.1: the answer's direction mirrors the offer's (sendonly <-> recvonly). */
export function reverseDirection(direction: SdpDirection): SdpDirection {
  switch (direction) {
    case 'sendonly':
      return 'recvonly';
    case 'recvonly':
      return 'sendonly';
    default:
      return direction;
  }
}

/**
 * Our direction given the peer's: mirrored, and never sending towards c=0.0.0.0, RFC 2543's way of putting a call
 * on hold that RFC 3264 §8.4 still asks us to understand.
 */
export function localDirection(peerDirection: SdpDirection, peerAddress: string): SdpDirection {
  const mirrored = reverseDirection(peerDirection);
  if (!isUnspecifiedAddress(peerAddress)) return mirrored;
  if (mirrored === 'sendrecv') return 'recvonly';
  if (mirrored === 'sendonly') return 'inactive';
  return mirrored;
}
