export type SdpErrorCode =
  /** The text is not a well-formed session description. */
  | 'malformed'
  /** A line we must have (v=, o=, c= for an active stream) is absent. */
  | 'missing_field'
  /** Something we can parse but not use (a nettype other than IN, ...), or a bad argument from our own code. */
  | 'invalid_value'
  /** An answer that does not fit the offer it answers (RFC 3264 §6). */
  | 'mismatched_answer'
  /** Nothing in the offer or answer is acceptable. */
  | 'not_acceptable';

export class SdpError extends Error {
  readonly code: SdpErrorCode;
  /** 1-based line of the description the error is about, when there is one. */
  readonly line: number | undefined;

  constructor(code: SdpErrorCode, message: string, line?: number) {
    super(line === undefined ? message : `${message} (line ${line})`);
    this.name = 'SdpError';
    this.code = code;
    this.line = line;
  }
}

/**
 * No stream could be agreed. The SIP layer answers an INVITE carrying such an offer with
 * 488 Not Acceptable Here (RFC 3261 §13.3.1.1), and ends a call whose answer is such with BYE / ACK+BYE.
 */
export class SdpNegotiationError extends SdpError {
  readonly sipStatus = 488;

  constructor(message: string) {
    super('not_acceptable', message);
    this.name = 'SdpNegotiationError';
  }
}
