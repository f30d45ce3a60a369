export { createOffer } from './sdp-offer.js';
export type { CreateOfferOptions } from './sdp-offer.js';
export { parseSdp } from './sdp-parse.js';
export { negotiateAnswer } from './sdp-negotiate.js';
export type { AnswerOptions, NegotiatedAnswer } from './sdp-negotiate.js';
export { applyAnswer } from './sdp-apply.js';
export { cryptoAttribute, newMasterKey, parseCrypto, usableKey, writeCrypto } from './sdp-crypto.js';
export type { SdpCrypto, SdpCryptoKey } from './sdp-crypto.js';
export { SdpError, SdpNegotiationError } from './sdp-error.js';
export type { SdpErrorCode } from './sdp-error.js';
export type {
  AudioCodecName,
  NegotiatedAudio,
  NegotiatedSrtp,
  ParsedSdp,
  SdpConnection,
  SdpDirection,
  SdpMedia,
  SdpOrigin,
  SdpPayloadType,
  SrtpPolicy,
} from './types.js';
