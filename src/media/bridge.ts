import type { CallMedia } from './call-media.js';
import type { RtpView } from './rtp/rtp-packet.js';

/**
 * Joins two legs: every audio packet one side sends is relayed to the other at once, transcoded when the legs chose
 * different G.711 laws, under the receiving leg's own SSRC and sequence, with timestamps mapped into its timeline;
 * telephone-events cross too, on the payload type the other side negotiated. Stopping the bridge leaves both legs up.
 */
export class MediaBridge {
  private readonly stops: Array<() => void> = [];
  /** Packets relayed from the first leg to the second, and back. */
  readonly counts = { aToB: 0, bToA: 0 };

  constructor(
    a: CallMedia,
    b: CallMedia,
  ) {
    this.stops.push(this.relay(a, b, 'aToB'), this.relay(b, a, 'bToA'));
  }

  /** Packets relayed either way. */
  get relayed(): number {
    return this.counts.aToB + this.counts.bToA;
  }

  stop(): void {
    for (const stop of this.stops.splice(0)) stop();
  }

  private relay(from: CallMedia, to: CallMedia, direction: 'aToB' | 'bToA'): () => void {
    // The first packet fixes the offset between the two timelines; later ones keep their spacing.
    let offset: number | undefined;
    // The datagram is relayed as it lies (RtpSession.relay); the other listeners read the view, not its header.
    return from.rtp.listen((packet: RtpView) => {
      offset ??= (to.rtp.nextTimestamp - packet.timestamp) >>> 0;
      const timestamp = (packet.timestamp + offset) >>> 0;
      if (packet.payloadType === from.codec.payloadType) {
        to.rtp.relay(packet, to.codec.payloadType, timestamp, from.codec.name, to.codec.name);
        this.counts[direction] += 1;
      } else if (from.isTelephoneEvent(packet.payloadType) && to.telephoneEvent !== undefined) {
        // Events are not audio: they cross unchanged whatever the laws.
        to.rtp.relay(packet, to.telephoneEvent, timestamp, 'PCMU', 'PCMU');
        this.counts[direction] += 1;
      }
    });
  }
}
