import type { ReceptionQuality } from '../../core/calls/call-engine.js';
import type { NegotiatedSrtp, SdpDirection } from '../../sdp/types.js';
import type { G711Law } from '../codecs/g711.js';
import type { SrtpRejection } from '../srtp/srtp-context.js';
import type { RtpEndpoint } from '../rtp-session.js';

/**
 * The channel between the main thread and a media worker (MediaHost and media-worker.ts). Every leg is named by its
 * reservation's id, which the main thread hands out; the worker never chooses a port or an id. Buffers crossing the
 * channel arrive as Uint8Array (structured clone) and are wrapped again on the far side.
 */

export interface LegOpen {
  readonly remote: RtpEndpoint;
  readonly codec: { readonly name: G711Law; readonly payloadType: number };
  readonly telephoneEvent: number | undefined;
  readonly direction: SdpDirection;
  readonly rtpTimeoutS: number;
  readonly srtp: NegotiatedSrtp | undefined;
}

export type HostCommand =
  /** Bind port (RTP) and port + 1 (RTCP) on `host`; answered by `reserved`. */
  | { readonly op: 'reserve'; readonly id: number; readonly host: string; readonly port: number }
  /** Close the pair (and the leg on it); answered by `released` once the kernel has let go of the ports. */
  | { readonly op: 'release'; readonly id: number }
  | ({ readonly op: 'open'; readonly id: number } & LegOpen)
  | { readonly op: 'close'; readonly id: number }
  /** G.711 in the leg's law, 20 ms frames back to back; answered by `played` with the same `play`. */
  | { readonly op: 'play'; readonly id: number; readonly play: number; readonly g711: Uint8Array }
  | { readonly op: 'stop'; readonly id: number }
  | { readonly op: 'direction'; readonly id: number; readonly direction: SdpDirection }
  | { readonly op: 'remote'; readonly id: number; readonly remote: RtpEndpoint }
  | { readonly op: 'srtp'; readonly id: number; readonly srtp: NegotiatedSrtp | undefined }
  /** A key signalled outside the media (SIP INFO). */
  | { readonly op: 'digit'; readonly id: number; readonly digit: string }
  /** Forward the far end's audio payloads (`audio` events) while on. */
  | { readonly op: 'audio'; readonly id: number; readonly on: boolean }
  /** Run the RTP inactivity watch while on (`inactive` event, once). */
  | { readonly op: 'watch'; readonly id: number; readonly on: boolean }
  | { readonly op: 'bridge'; readonly bridge: number; readonly a: number; readonly b: number }
  | { readonly op: 'unbridge'; readonly bridge: number }
  | { readonly op: 'record'; readonly recording: number; readonly id: number }
  /** Answered by `recorded`. */
  | { readonly op: 'stopRecording'; readonly recording: number }
  /** Answered by `inspected`. */
  | { readonly op: 'inspect'; readonly id: number }
  /** Fault injection for tests of the host's recovery (see MediaHost.crashWorker). */
  | { readonly op: 'crash'; readonly how: 'exit' | 'throw' };

/** A leg's RTP state in its worker, for tests and diagnostics (RemoteLegMedia.inspect). */
export interface LegInspection {
  /** Our RTP socket's address. */
  readonly local: RtpEndpoint;
  /** SRTP is in force. */
  readonly secure: boolean;
  /** The negotiated direction lets us send. */
  readonly sending: boolean;
  readonly sent: number;
  readonly received: number;
  /** Received packets SRTP dropped. */
  readonly srtpRejected: number;
  /** The SSRC and sequence number of the last packet accepted from the peer. */
  readonly lastHeard: { readonly ssrc: number; readonly sequenceNumber: number } | undefined;
}

export interface LegReport {
  readonly id: number;
  readonly quality: ReceptionQuality;
}

export type WorkerEvent =
  /** The worker's modules are loaded and it listens for commands. */
  | { readonly ev: 'ready' }
  | { readonly ev: 'reserved'; readonly id: number; readonly ok: true }
  | { readonly ev: 'reserved'; readonly id: number; readonly ok: false; readonly busy: boolean; readonly message: string }
  | { readonly ev: 'released'; readonly id: number }
  | { readonly ev: 'inspected'; readonly id: number; readonly inspection: LegInspection | undefined }
  | { readonly ev: 'digit'; readonly id: number; readonly digit: string }
  | { readonly ev: 'played'; readonly id: number; readonly play: number }
  | { readonly ev: 'inactive'; readonly id: number }
  | { readonly ev: 'audio'; readonly id: number; readonly payload: Uint8Array }
  | { readonly ev: 'srtpRejected'; readonly id: number; readonly reason: SrtpRejection }
  /** Once a second: each open leg's reception so far and each bridge's packets relayed. */
  | { readonly ev: 'reports'; readonly legs: readonly LegReport[]; readonly bridges: readonly { readonly bridge: number; readonly aToB: number; readonly bToA: number }[] }
  | { readonly ev: 'unbridged'; readonly bridge: number; readonly aToB: number; readonly bToA: number }
  | { readonly ev: 'recorded'; readonly recording: number; readonly wav: Uint8Array; readonly durationMs: number };
