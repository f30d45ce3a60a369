/**
 * The SIP message model (RFC 3261 §7). Headers are kept as an ordered list of (canonical name, raw value) so that
 * a message serialises back to what was parsed; typed views of individual headers (Via, From/To, CSeq, ...) are
 * parsed on demand by the header parsers.
 *
 *   Request-Line = Method SP Request-URI SP SIP-Version CRLF
 *   Status-Line  = SIP-Version SP Status-Code SP Reason-Phrase CRLF
 *   message      = start-line *message-header CRLF [ message-body ]
 */
export interface SipHeader {
  /** Canonical long form, e.g. "Via", "Call-ID", "CSeq", "WWW-Authenticate" (compact "v", "i" are expanded). */
  readonly name: string;
  /** The value as received, folding (CRLF + whitespace) replaced by a single space, outer whitespace trimmed. */
  readonly value: string;
}

export interface SipRequest {
  readonly kind: 'request';
  readonly method: string;
  /** The Request-URI text as received. */
  readonly uri: string;
  readonly headers: readonly SipHeader[];
  readonly body: Buffer;
}

export interface SipResponse {
  readonly kind: 'response';
  readonly status: number;
  readonly reason: string;
  readonly headers: readonly SipHeader[];
  readonly body: Buffer;
}

export type SipMessage = SipRequest | SipResponse;

/** A generic parameter list (`;tag=abc;lr;transport=udp`): ordered, names lower-cased, a flag parameter has null. */
export type SipParams = ReadonlyArray<readonly [name: string, value: string | null]>;

export interface SipUri {
  readonly scheme: 'sip' | 'sips' | 'tel';
  readonly user: string | undefined;
  readonly password: string | undefined;
  /** Host name, IPv4 address, or IPv6 reference with its brackets ("[::1]"). For tel: the number. */
  readonly host: string;
  readonly port: number | undefined;
  readonly params: SipParams;
  /** URI headers after '?', in order. */
  readonly headers: ReadonlyArray<readonly [name: string, value: string]>;
}

/** name-addr / addr-spec with header parameters: From, To, Contact, Route, Record-Route, Refer-To. */
export interface NameAddr {
  readonly displayName: string | undefined;
  readonly uri: SipUri;
  readonly params: SipParams;
}

export interface Via {
  /** "UDP", "TCP", "TLS", "WS", ... (upper-cased). */
  readonly transport: string;
  readonly host: string;
  readonly port: number | undefined;
  readonly params: SipParams;
}

export interface CSeq {
  readonly seq: number;
  readonly method: string;
}

/** Why a message was refused by the parser; never thrown past a transport. */
export class SipParseError extends Error {
  constructor(
    message: string,
    /** For a request whose start line was readable: lets the server answer 400 rather than drop it. */
    readonly partial?: { readonly method?: string; readonly headers?: readonly SipHeader[] },
  ) {
    super(message);
    this.name = 'SipParseError';
  }
}

/** Size and flood limits; a transport refuses anything beyond them. */
export interface SipLimits {
  /** Whole message including body. */
  readonly maxMessageBytes: number;
  readonly maxHeaders: number;
  readonly maxHeaderLineBytes: number;
  readonly maxBodyBytes: number;
}

export const DEFAULT_SIP_LIMITS: SipLimits = Object.freeze({
  maxMessageBytes: 65_535,
  maxHeaders: 128,
  maxHeaderLineBytes: 8_192,
  maxBodyBytes: 32_768,
});
