/**
 * The RTP payload vocabulary: RFC 3551 §6 tables 4 and 5 (the static payload types, usable in m= without an
 * a=rtpmap; 1, 2, 19-24, 27, 29, 30 and 35-95 are reserved or unassigned, 96-127 are dynamic and need an a=rtpmap),
 * and the codecs, telephone-event and packet time Dialplane's media engine speaks.
 */
import type { AudioCodecName } from './types.js';

export interface StaticPayloadType {
  readonly encodingName: string;
  readonly clockRate: number;
  readonly channels: number | undefined;
}

const STATIC: ReadonlyMap<number, StaticPayloadType> = new Map<number, StaticPayloadType>([
  [0, { encodingName: 'PCMU', clockRate: 8000, channels: 1 }],
  [3, { encodingName: 'GSM', clockRate: 8000, channels: 1 }],
  [4, { encodingName: 'G723', clockRate: 8000, channels: 1 }],
  [5, { encodingName: 'DVI4', clockRate: 8000, channels: 1 }],
  [6, { encodingName: 'DVI4', clockRate: 16000, channels: 1 }],
  [7, { encodingName: 'LPC', clockRate: 8000, channels: 1 }],
  [8, { encodingName: 'PCMA', clockRate: 8000, channels: 1 }],
  // G.722 is 16 kHz audio but registered as 8000 (RFC 3551 §4.5.2's historical error), hence not 16000 here.
  [9, { encodingName: 'G722', clockRate: 8000, channels: 1 }],
  [10, { encodingName: 'L16', clockRate: 44100, channels: 2 }],
  [11, { encodingName: 'L16', clockRate: 44100, channels: 1 }],
  [12, { encodingName: 'QCELP', clockRate: 8000, channels: 1 }],
  [13, { encodingName: 'CN', clockRate: 8000, channels: 1 }],
  [14, { encodingName: 'MPA', clockRate: 90000, channels: undefined }],
  [15, { encodingName: 'G728', clockRate: 8000, channels: 1 }],
  [16, { encodingName: 'DVI4', clockRate: 11025, channels: 1 }],
  [17, { encodingName: 'DVI4', clockRate: 22050, channels: 1 }],
  [18, { encodingName: 'G729', clockRate: 8000, channels: 1 }],
  [25, { encodingName: 'CelB', clockRate: 90000, channels: undefined }],
  [26, { encodingName: 'JPEG', clockRate: 90000, channels: undefined }],
  [28, { encodingName: 'nv', clockRate: 90000, channels: undefined }],
  [31, { encodingName: 'H261', clockRate: 90000, channels: undefined }],
  [32, { encodingName: 'MPV', clockRate: 90000, channels: undefined }],
  [33, { encodingName: 'MP2T', clockRate: 90000, channels: undefined }],
  [34, { encodingName: 'H263', clockRate: 90000, channels: undefined }],
]);

export function staticPayloadType(payloadType: number): StaticPayloadType | undefined {
  return STATIC.get(payloadType);
}

/** Our codecs' static payload types: what we put in an offer. */
export const AUDIO_CODEC_PAYLOAD_TYPES: Readonly<Record<AudioCodecName, number>> = { PCMU: 0, PCMA: 8 };

export const AUDIO_CODEC_NAMES: readonly AudioCodecName[] = ['PCMU', 'PCMA'];

/** The usual dynamic payload type for telephone-event, and the events we handle: DTMF 0-9 * # A-D and flash. */
export const DEFAULT_TELEPHONE_EVENT_PT = 101;
export const TELEPHONE_EVENT_FMTP = '0-16';

/** Our media runs at 20 ms packets (160 samples at 8 kHz). */
export const PTIME_MS = 20;

/** Maps an encoding to one of our codecs, or undefined. Only 8 kHz mono G.711 qualifies. */
export function audioCodecOf(encodingName: string, clockRate: number, channels: number | undefined): AudioCodecName | undefined {
  if (clockRate !== 8000 || (channels !== undefined && channels !== 1)) return undefined;
  const upper = encodingName.toUpperCase();
  return upper === 'PCMU' || upper === 'PCMA' ? upper : undefined;
}
