export { SrtpContext, estimateRoc, rtpHeaderLength } from './srtp-context.js';
export type { SrtpRejection, Unprotected } from './srtp-context.js';
export { deriveKey, deriveSessionKeys, SRTP_LABELS } from './srtp-kdf.js';
export { AesCounterMode } from './aes-cm.js';
export { ReplayWindow, REPLAY_WINDOW } from './replay-window.js';
export { SRTP_SUITES, SRTP_SUITE_NAMES, srtpSuite } from './srtp-suites.js';
export type { SrtpMasterKey, SrtpSuite, SrtpSuiteName } from './srtp-suites.js';
