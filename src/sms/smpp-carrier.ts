/**
 * The ESME side of SMPP v3.4: one bind_transceiver to an SMSC that carries outbound messages (submit_sm), delivery
 * receipts and inbound messages (deliver_sm) over the same connection.
 *
 * Sending: every part of a message is one submit_sm. At most `windowSize` submit_sm wait for their response at a
 * time; more parts queue, and so do parts submitted while the carrier is not bound. A part whose submit_sm was
 * sent but not answered when the connection dropped was not acknowledged by the SMSC: it is sent again after the
 * reconnection (the SMSC may then see it twice; SMPP offers nothing better). A part answered ESME_ROK is never sent
 * again. A message may ask to be told before each of its parts is first written (`beforePartWrite`): the part waits
 * (counted in the window) until that promise resolves, so the sender can record durably that the submit_sm may reach
 * the SMSC; a rejected promise rejects the submit. ESME_RTHROTTLED and ESME_RMSGQFUL pause sending for
 * `throttleRetryMs` and the part is sent again; any other non-zero command_status rejects the whole submit with an
 * SmppSubmitError (parts of that message not yet sent are dropped).
 *
 * The link: connect, bind_transceiver, enquire_link every `enquireLinkMs` while bound. A link whose enquire_link is
 * still unanswered at the next tick, or whose oldest submit_sm has waited `responseTimeoutMs`, is taken as dead and
 * closed. After any loss, and after a refused bind, the carrier reconnects with exponential backoff
 * (`reconnectInitialMs` doubling up to `reconnectMaxMs`; reset once bound) until stop().
 *
 * Receiving: a deliver_sm whose esm_class marks an SMSC delivery receipt (bit 0x04) or an intermediate notification
 * (0x20) becomes a `receipt` event, read from the receipted_message_id / message_state TLVs when present and from the
 * receipt text otherwise. Receipts are emitted from setImmediate, after the continuations of the submit() they
 * follow have run; a consumer that records ids asynchronously must still expect a receipt for an id it does not know
 * yet. Any other deliver_sm is an inbound message: decoded by data_coding (0 GSM-7 unpacked, 8 UCS-2, 1 and 3
 * Latin-1), its concatenation UDH (esm_class 0x40) honoured: parts are kept by sender, recipient and reference until
 * all have arrived, in any order, and one `inbound` event carries the whole text; a set still incomplete after
 * `reassemblyTimeoutMs` is dropped with a `reassembly_expired` event.
 *
 * Acknowledging: the deliver_sm_resp tells the SMSC it may forget the message, so with a `receiver` it is sent only
 * once the receiver has kept what the deliver_sm carried: ESME_ROK when its promise resolves, ESME_RX_T_APPN (a
 * temporary error: the SMSC delivers it again later) when it rejects or has not settled within `receiverTimeoutMs`.
 * A part of a concatenated message is answered ESME_ROK as it is kept here, except the part that completes the set,
 * whose answer waits for the receiver; if that fails the parts stay (until the SMSC sends the last one again, or
 * `reassemblyTimeoutMs` later) so the resent part completes the set again. A part that completes a set again while
 * that set's store is still pending waits for that same store rather than starting another. A receiver that answers
 * after its timeout may see the message again (SMPP delivers at least once), so it must take a receipt twice
 * harmlessly; a concatenated message stored that late is forgotten here, and its resent last part then expires
 * alone with `reassembly_expired`. Events are emitted for every deliver_sm read, redeliveries included. Without a receiver, and for a
 * deliver_sm that carries nothing to keep (an unreadable PDU or receipt), the answer is ESME_ROK at once.
 *
 * PDUs are encoded and decoded with the `smpp` package; framing is done here (SmppConnection) so that the raw
 * bytes of short_message are available: the package decodes them into text by its own rules.
 *
 * Time comes from the named timers in `timers` ('smpp.reconnect', 'smpp.enquireLink', 'smpp.throttleRetry',
 * 'smpp.reassembly', 'smpp.bindTimeout', 'smpp.unbind', 'smpp.receiverTimeout'), injected so tests can shorten or
 * drive them.
 */
import { EventEmitter } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import smpp, { type PDU, type PduFields } from 'smpp';
import { messageStateToStat, mapReceiptStat, readReceiptFields, type ReceiptStatus } from './receipt.js';
import { decodeGsm7, decodeUcs2, parseConcatUdh, splitUdh } from './segmenter.js';

/** Command status values this module acts on (SMPP v3.4 §5.1.3). */
export const SMPP_STATUS = Object.freeze({
  ESME_ROK: 0x00,
  ESME_RINVMSGLEN: 0x01,
  ESME_RINVCMDLEN: 0x02,
  ESME_RINVCMDID: 0x03,
  ESME_RINVBNDSTS: 0x04,
  ESME_RALYBND: 0x05,
  ESME_RSYSERR: 0x08,
  ESME_RINVSRCADR: 0x0a,
  ESME_RINVDSTADR: 0x0b,
  ESME_RBINDFAIL: 0x0d,
  ESME_RINVPASWD: 0x0e,
  ESME_RINVSYSID: 0x0f,
  ESME_RMSGQFUL: 0x14,
  ESME_RTHROTTLED: 0x58,
  ESME_RX_T_APPN: 0x64,
});

const STATUS_NAMES: ReadonlyMap<number, string> = (() => {
  const names = new Map<number, string>();
  for (const [name, value] of Object.entries(smpp.errors)) if (!names.has(value)) names.set(value, name);
  for (const [name, value] of Object.entries(SMPP_STATUS)) names.set(value, name);
  return names;
})();

/** The name of a command_status (ESME_RTHROTTLED, ...), or its hex value when it has none. */
export function smppStatusName(status: number): string {
  return STATUS_NAMES.get(status) ?? `0x${status.toString(16).padStart(8, '0')}`;
}

/** What a submit_sm_resp command_status asks of the sender. */
export type SubmitStatusClass = 'accepted' | 'retry' | 'rejected';

/** ESME_ROK: accepted; ESME_RTHROTTLED and ESME_RMSGQFUL: send again later; anything else: rejected for good. */
export function classifySubmitStatus(status: number): SubmitStatusClass {
  if (status === SMPP_STATUS.ESME_ROK) return 'accepted';
  if (status === SMPP_STATUS.ESME_RTHROTTLED || status === SMPP_STATUS.ESME_RMSGQFUL) return 'retry';
  return 'rejected';
}

/**
 * Delay before the next connection attempt after `failures` consecutive attempts that did not bind: `initialMs`
 * after the first (and after a bound link dropped, failures 0), doubling with each further failure up to `maxMs`.
 */
export function reconnectDelayMs(failures: number, initialMs: number, maxMs: number): number {
  const exponent = Math.min(Math.max(0, failures - 1), 30);
  return Math.min(maxMs, initialMs * 2 ** exponent);
}

/** SMPP address for a number: '+digits' international (TON 1, NPI 1) without the '+', digits TON 0 NPI 1, else alphanumeric (TON 5, NPI 0). */
export function smppAddress(address: string): { ton: number; npi: number; addr: string } {
  if (/^\+\d+$/.test(address)) return { ton: 1, npi: 1, addr: address.slice(1) };
  if (/^\d+$/.test(address)) return { ton: 0, npi: 1, addr: address };
  return { ton: 5, npi: 0, addr: address };
}

/** The number an SMPP address names: international ones (TON 1) get their '+'. */
export function addressFromSmpp(addr: string, ton: number): string {
  return ton === 1 && /^\d+$/.test(addr) ? `+${addr}` : addr;
}

/** Text encodings of inbound short messages. 'binary' is decoded as Latin-1 so no octet is lost. */
export type InboundEncoding = 'GSM-7' | 'UCS-2' | 'LATIN-1' | 'binary';

/**
 * The encoding of a short message by its data_coding: 0 GSM-7 (unpacked septets), 1 (IA5) and 3 Latin-1, 8 UCS-2;
 * 0xF0..0xFF and 0x10..0x3F by their GSM 03.38 alphabet bits; everything else binary.
 */
export function inboundEncoding(dataCoding: number): InboundEncoding {
  if (dataCoding === 0) return 'GSM-7';
  if (dataCoding === 8) return 'UCS-2';
  if (dataCoding === 1 || dataCoding === 3) return 'LATIN-1';
  if ((dataCoding & 0xf0) === 0xf0) return dataCoding & 0x04 ? 'binary' : 'GSM-7';
  if (dataCoding >= 0x10 && dataCoding <= 0x3f) {
    const alphabet = (dataCoding >> 2) & 0x03;
    return alphabet === 0 ? 'GSM-7' : alphabet === 2 ? 'UCS-2' : 'binary';
  }
  return 'binary';
}

export function decodeShortMessage(bytes: Uint8Array, encoding: InboundEncoding): string {
  switch (encoding) {
    case 'GSM-7':
      return decodeGsm7(bytes);
    case 'UCS-2':
      return decodeUcs2(bytes);
    default:
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Framing

/** The fields of a submit_sm or deliver_sm (same layout), read from the raw PDU. */
export interface ShortMessagePdu {
  serviceType: string;
  sourceTon: number;
  sourceNpi: number;
  source: string;
  destTon: number;
  destNpi: number;
  destination: string;
  esmClass: number;
  protocolId: number;
  priority: number;
  registeredDelivery: number;
  dataCoding: number;
  /** The short_message octets as sent, UDH included. */
  shortMessage: Buffer;
  /** TLVs by tag, value octets as sent. */
  tlvs: Map<number, Buffer>;
}

/** TLV tags read here. */
export const SMPP_TLV = Object.freeze({
  receipted_message_id: 0x001e,
  network_error_code: 0x0423,
  message_payload: 0x0424,
  message_state: 0x0427,
});

/** Reads a whole submit_sm or deliver_sm PDU (header included); undefined when it is malformed. */
export function readShortMessagePdu(raw: Buffer): ShortMessagePdu | undefined {
  const end = Math.min(raw.length, raw.length >= 4 ? raw.readUInt32BE(0) : 0);
  let p = 16;
  const cstring = (): string | undefined => {
    const zero = raw.indexOf(0, p);
    if (zero < 0 || zero >= end) return undefined;
    const s = raw.toString('latin1', p, zero);
    p = zero + 1;
    return s;
  };
  const octet = (): number | undefined => (p < end ? raw[p++] : undefined);
  const serviceType = cstring();
  const sourceTon = octet();
  const sourceNpi = octet();
  const source = cstring();
  const destTon = octet();
  const destNpi = octet();
  const destination = cstring();
  const esmClass = octet();
  const protocolId = octet();
  const priority = octet();
  const schedule = cstring();
  const validity = cstring();
  const registeredDelivery = octet();
  const replaceIfPresent = octet();
  const dataCoding = octet();
  const defaultMsgId = octet();
  const smLength = octet();
  if (
    serviceType === undefined || sourceTon === undefined || sourceNpi === undefined || source === undefined ||
    destTon === undefined || destNpi === undefined || destination === undefined || esmClass === undefined ||
    protocolId === undefined || priority === undefined || schedule === undefined || validity === undefined ||
    registeredDelivery === undefined || replaceIfPresent === undefined || dataCoding === undefined ||
    defaultMsgId === undefined || smLength === undefined || p + smLength > end
  ) {
    return undefined;
  }
  const shortMessage = raw.subarray(p, p + smLength);
  p += smLength;
  const tlvs = new Map<number, Buffer>();
  while (p + 4 <= end) {
    const tag = raw.readUInt16BE(p);
    const length = raw.readUInt16BE(p + 2);
    if (p + 4 + length > end) return undefined;
    tlvs.set(tag, raw.subarray(p + 4, p + 4 + length));
    p += 4 + length;
  }
  return {
    serviceType, sourceTon, sourceNpi, source, destTon, destNpi, destination, esmClass, protocolId, priority,
    registeredDelivery, dataCoding, shortMessage, tlvs,
  };
}

/** Largest PDU accepted (the `smpp` package's limit). */
const MAX_PDU_LENGTH = smpp.PDU.maxLength;

export interface SmppConnectionEvents {
  /** One decoded PDU and its raw octets (header included). */
  pdu: [pdu: PDU, raw: Buffer];
  /** The socket closed; `error` is the socket or protocol error that closed it, if any. */
  close: [error: Error | undefined];
}

/**
 * One SMPP connection over a TCP socket: frames PDUs, decodes them with the `smpp` package (keeping the raw
 * octets), numbers requests and writes PDUs. Used by both sides (SmppCarrier, DevSmsc).
 */
export class SmppConnection extends EventEmitter<SmppConnectionEvents> {
  private pending: Buffer | undefined;
  private sequence = 0;
  private error: Error | undefined;
  private isClosed = false;
  readonly closed: Promise<void>;

  constructor(readonly socket: Socket) {
    super();
    socket.setNoDelay(true);
    let resolveClosed!: () => void;
    this.closed = new Promise((resolve) => (resolveClosed = resolve));
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (error) => {
      this.error ??= error;
    });
    socket.on('close', () => {
      this.isClosed = true;
      resolveClosed();
      this.emit('close', this.error);
    });
  }

  get writable(): boolean {
    return !this.isClosed && !this.socket.destroyed && this.socket.writable;
  }

  /** Sends a request with the next sequence_number; returns it, or undefined when the socket cannot be written. */
  request(command: string, fields: PduFields = {}): number | undefined {
    if (!this.writable) return undefined;
    this.sequence = this.sequence >= 0x7fffffff ? 1 : this.sequence + 1;
    const pdu = new smpp.PDU(command, { ...fields, sequence_number: this.sequence });
    this.socket.write(pdu.toBuffer());
    return this.sequence;
  }

  /**
   * Answers a request: its _resp with `fields` and `status`, generic_nack for an unknown command. Requests that
   * have no response in the specification are not answered.
   */
  respond(request: PDU, fields: PduFields = {}, status = 0): void {
    if (!this.writable) return;
    if (request.command !== 'unknown' && !smpp.commands[`${request.command}_resp`]) return;
    const response = request.response(status === 0 ? { ...fields } : { ...fields, command_status: status });
    this.socket.write(response.toBuffer());
  }

  /** Ends the connection after what was written is flushed. */
  end(): void {
    this.socket.end();
  }

  destroy(error?: Error): void {
    if (error) this.error ??= error;
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    const buffer = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    let offset = 0;
    // A handler may destroy the socket (a refused bind, a dead link): PDUs after that are not delivered.
    while (buffer.length - offset >= 4 && !this.isClosed && !this.socket.destroyed) {
      const length = buffer.readUInt32BE(offset);
      if (length < 16 || length > MAX_PDU_LENGTH) {
        this.destroy(new Error(`SMPP: invalid command_length ${length}`));
        return;
      }
      if (buffer.length - offset < length) break;
      const raw = buffer.subarray(offset, offset + length);
      offset += length;
      let pdu: PDU;
      try {
        pdu = new smpp.PDU(raw);
      } catch (error) {
        const commandId = raw.readUInt32BE(4);
        if ((commandId & 0x80000000) === 0) {
          // A request we cannot decode: refuse it and carry on.
          const nack = new smpp.PDU('generic_nack', {
            command_status: SMPP_STATUS.ESME_RINVCMDLEN,
            sequence_number: raw.readUInt32BE(12),
          });
          this.socket.write(nack.toBuffer());
          continue;
        }
        this.destroy(new Error(`SMPP: undecodable response: ${error instanceof Error ? error.message : String(error)}`));
        return;
      }
      this.emit('pdu', pdu, raw);
    }
    this.pending = offset < buffer.length ? buffer.subarray(offset) : undefined;
  }
}

/** Sends the response to one deliver_sm. */
type Answer = (status: number) => void;

/** The deliver_sm_resp to `request`, written at most once (on the connection it came on, if still open). */
function answerOnce(connection: SmppConnection, request: PDU): Answer {
  let answered = false;
  return (status) => {
    if (answered) return;
    answered = true;
    connection.respond(request, { message_id: '' }, status);
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The carrier

export type SmppCarrierState = 'idle' | 'connecting' | 'bound' | 'disconnected' | 'bind_failed' | 'stopped';

export interface SmppStateDetail {
  /** Why the link is not bound: the socket error, the refused bind (SmppBindError), a timeout. */
  readonly error?: Error;
  /** The bind_transceiver_resp command_status, for bind_failed. */
  readonly commandStatus?: number;
  /** When the next connection attempt is due (ms from now), for disconnected and bind_failed. */
  readonly retryInMs?: number;
}

export type SmppTimerName =
  | 'smpp.reconnect'
  | 'smpp.enquireLink'
  | 'smpp.throttleRetry'
  | 'smpp.reassembly'
  | 'smpp.bindTimeout'
  | 'smpp.unbind'
  | 'smpp.receiverTimeout';

export interface SmppTimers {
  start(name: SmppTimerName, ms: number, fire: () => void): { cancel(): void };
}

export const realSmppTimers: SmppTimers = {
  start(_name, ms, fire) {
    const handle = setTimeout(fire, ms);
    handle.unref();
    return { cancel: () => clearTimeout(handle) };
  },
};

export interface SmppCarrierOptions {
  /** smpp://system_id:password@host:port (port 2775 when omitted). Fields given separately take precedence. */
  readonly url?: string;
  readonly host?: string;
  readonly port?: number;
  readonly systemId?: string;
  readonly password?: string;
  readonly systemType?: string;
  /** Most submit_sm awaiting their response. Default 10. */
  readonly windowSize?: number;
  /** enquire_link period while bound. Default 30 000 ms. */
  readonly enquireLinkMs?: number;
  /** A submit_sm unanswered this long marks the link dead (checked at each enquire_link tick). Default 60 000 ms. */
  readonly responseTimeoutMs?: number;
  /** Longest time from connecting to bind_transceiver_resp. Default 10 000 ms. */
  readonly bindTimeoutMs?: number;
  /** First reconnection delay, doubled after each failed attempt. Default 500 ms. */
  readonly reconnectInitialMs?: number;
  /** Longest reconnection delay. Default 30 000 ms. */
  readonly reconnectMaxMs?: number;
  /** Pause after ESME_RTHROTTLED / ESME_RMSGQFUL before sending again. Default 1 000 ms. */
  readonly throttleRetryMs?: number;
  /** How long the parts of a concatenated inbound message are kept waiting for the rest. Default 60 000 ms. */
  readonly reassemblyTimeoutMs?: number;
  /** Most incomplete concatenated messages kept; the oldest expires first. Default 1 000. */
  readonly maxPendingReassemblies?: number;
  /** stop(): longest wait for unbind_resp, then for the socket to close. Default 1 000 ms. */
  readonly unbindTimeoutMs?: number;
  /** Keeps receipts and inbound messages; their deliver_sm_resp waits for it. None: every deliver_sm is answered at once. */
  readonly receiver?: SmppReceiver;
  /** Longest wait for the receiver before answering ESME_RX_T_APPN. Default 10 000 ms. */
  readonly receiverTimeoutMs?: number;
  readonly timers?: SmppTimers;
  readonly now?: () => number;
  /** An event listener threw (the carrier itself carries on). */
  readonly onError?: (error: unknown) => void;
}

export interface SmppSubmitMessage {
  readonly from: string;
  readonly to: string;
  /** One submit_sm each: short_message = udh + payload, esm_class 0x40 when udh is present. */
  readonly parts: ReadonlyArray<{ readonly udh?: Buffer; readonly payload: Buffer }>;
  readonly dataCoding: number;
  /** registered_delivery 1 (final receipt) unless false. */
  readonly registeredDelivery?: boolean;
  /** Called as each part is accepted (ESME_ROK), with its index and the SMSC's id, before receipts can name it. */
  readonly onPartAccepted?: (index: number, smscId: string) => void;
  /** Awaited before a part's submit_sm is first written (not before a resend after a connection loss). */
  readonly beforePartWrite?: (index: number) => Promise<void>;
}

export interface SmppSubmitResult {
  /** The SMSC's message_id for each part, in part order. */
  readonly smscIds: string[];
}

export interface SmppReceipt {
  /** The SMSC message id the receipt is about (a submit_sm_resp message_id). */
  readonly smscId: string;
  /** The stat word (DELIVRD, UNDELIV, ...). */
  readonly stat: string;
  /** The err field ('' when absent); from network_error_code when the text has none. */
  readonly err: string;
  readonly status: ReceiptStatus;
  readonly doneDate?: Date;
  readonly submitDate?: Date;
  /** The receipt's source (the original recipient) and destination (the original sender). */
  readonly from: string;
  readonly to: string;
  /** The receipt text as received. */
  readonly receiptText: string;
}

export interface SmppInboundMessage {
  readonly from: string;
  readonly to: string;
  readonly text: string;
  readonly encoding: InboundEncoding;
  readonly dataCoding: number;
  /** Number of deliver_sm the message came in. */
  readonly parts: number;
}

export interface SmppReassemblyExpired {
  readonly from: string;
  readonly to: string;
  readonly reference: number;
  readonly total: number;
  /** Sequence numbers of the parts that did arrive. */
  readonly received: number[];
  /** Their text, joined in sequence order. */
  readonly partialText: string;
}

/**
 * What keeps (stores) receipts and inbound messages. A resolved promise answers the deliver_sm ESME_ROK; a rejected
 * one ESME_RX_T_APPN, so the SMSC delivers it again later.
 */
export interface SmppReceiver {
  receipt(receipt: SmppReceipt): Promise<void>;
  inbound(message: SmppInboundMessage): Promise<void>;
}

export type SmppCarrierEvents = {
  state: [state: SmppCarrierState, detail: SmppStateDetail];
  receipt: [receipt: SmppReceipt];
  inbound: [message: SmppInboundMessage];
  reassembly_expired: [info: SmppReassemblyExpired];
};

/** The SMSC refused bind_transceiver. */
export class SmppBindError extends Error {
  readonly commandStatus: number;
  readonly statusName: string;
  constructor(commandStatus: number) {
    const statusName = smppStatusName(commandStatus);
    super(`SMPP bind_transceiver refused: ${statusName} (0x${commandStatus.toString(16)})`);
    this.name = 'SmppBindError';
    this.commandStatus = commandStatus;
    this.statusName = statusName;
  }
}

/** The SMSC rejected a part for good. */
export class SmppSubmitError extends Error {
  readonly commandStatus: number;
  readonly statusName: string;
  /** 0-based index of the part that was rejected. */
  readonly partIndex: number;
  constructor(commandStatus: number, partIndex: number) {
    const statusName = smppStatusName(commandStatus);
    super(`SMPP submit_sm rejected: ${statusName} (0x${commandStatus.toString(16)}) for part ${partIndex + 1}`);
    this.name = 'SmppSubmitError';
    this.commandStatus = commandStatus;
    this.statusName = statusName;
    this.partIndex = partIndex;
  }
}

/** The carrier could not connect or lost the connection before binding. */
export class SmppConnectionError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SmppConnectionError';
  }
}

/** The carrier was stopped before the operation finished. */
export class SmppStoppedError extends Error {
  constructor() {
    super('SMPP carrier stopped');
    this.name = 'SmppStoppedError';
  }
}

/** Counters since construction. */
export interface SmppCarrierCounters {
  /** submit_sm written, resends included. */
  submitSent: number;
  submitAccepted: number;
  submitRetried: number;
  submitRejected: number;
  /** Parts sent again after a connection loss. */
  resentAfterLoss: number;
  binds: number;
  bindFailures: number;
  receipts: number;
  /** deliver_sm marked as receipts that named no message id or state. */
  unreadableReceipts: number;
  inbound: number;
  /** deliver_sm answered ESME_RX_T_APPN because the receiver's promise rejected. */
  receiverFailures: number;
  /** deliver_sm answered ESME_RX_T_APPN because the receiver had not settled within receiverTimeoutMs. */
  receiverTimeouts: number;
}

interface SubmitJob {
  readonly smscIds: string[];
  readonly onPartAccepted?: ((index: number, smscId: string) => void) | undefined;
  readonly beforePartWrite?: ((index: number) => Promise<void>) | undefined;
  remaining: number;
  settled: boolean;
  readonly resolve: (result: SmppSubmitResult) => void;
  readonly reject: (error: Error) => void;
}

interface PartTask {
  readonly job: SubmitJob;
  readonly index: number;
  /** Submission order: the queue is kept sorted by it, so resent parts go out before later ones. */
  readonly order: number;
  readonly fields: PduFields;
  sentAt: number;
  /** beforePartWrite has resolved (or there is none): the part may be written. */
  prepared: boolean;
}

interface Link {
  readonly connection: SmppConnection;
  bound: boolean;
  bindRefused: boolean;
  bindSeq: number | undefined;
  readonly outstanding: Map<number, PartTask>;
  bindTimer: { cancel(): void } | undefined;
  enquireTimer: { cancel(): void } | undefined;
  enquirePending: number | undefined;
  unbindSeq: number | undefined;
  unbindAnswered: (() => void) | undefined;
  failure: Error | undefined;
}

interface Reassembly {
  readonly from: string;
  readonly to: string;
  readonly reference: number;
  readonly total: number;
  readonly dataCoding: number;
  readonly parts: Map<number, Buffer>;
  timer: { cancel(): void };
  /** The receiver's store of the completed set, while it is pending. */
  storing: Promise<void> | undefined;
}

const DEFAULTS = {
  port: 2775,
  windowSize: 10,
  enquireLinkMs: 30_000,
  responseTimeoutMs: 60_000,
  bindTimeoutMs: 10_000,
  reconnectInitialMs: 500,
  reconnectMaxMs: 30_000,
  throttleRetryMs: 1_000,
  reassemblyTimeoutMs: 60_000,
  maxPendingReassemblies: 1_000,
  unbindTimeoutMs: 1_000,
  receiverTimeoutMs: 10_000,
} as const;

/** Largest short_message: its length is one octet. */
const MAX_SHORT_MESSAGE = 254;

export class SmppCarrier extends EventEmitter<SmppCarrierEvents> {
  readonly host: string;
  readonly port: number;
  readonly systemId: string;
  private readonly password: string;
  private readonly systemType: string;
  readonly windowSize: number;
  private readonly settings: Omit<Required<SmppCarrierOptions>, 'url' | 'host' | 'port' | 'systemId' | 'password' | 'systemType' | 'windowSize' | 'onError' | 'receiver'>;
  private readonly onError: ((error: unknown) => void) | undefined;
  private readonly receiver: SmppReceiver | undefined;
  /** Timers of deliver_sm waiting for the receiver, cancelled by stop(). */
  private readonly receiverWaits = new Set<{ cancel(): void }>();

  private currentState: SmppCarrierState = 'idle';
  private link: Link | undefined;
  private readonly queue: PartTask[] = [];
  /** Parts whose beforePartWrite is pending: they hold a place in the window. */
  private preparing = 0;
  private nextOrder = 0;
  private failures = 0;
  private reconnectTimer: { cancel(): void } | undefined;
  private throttleTimer: { cancel(): void } | undefined;
  private stopped = false;
  private startPromise: Promise<void> | undefined;
  private stopPromise: Promise<void> | undefined;
  private startWaiter: { resolve: () => void; reject: (error: Error) => void } | undefined;
  private readonly reassemblies = new Map<string, Reassembly>();
  readonly counters: SmppCarrierCounters = {
    submitSent: 0,
    submitAccepted: 0,
    submitRetried: 0,
    submitRejected: 0,
    resentAfterLoss: 0,
    binds: 0,
    bindFailures: 0,
    receipts: 0,
    unreadableReceipts: 0,
    inbound: 0,
    receiverFailures: 0,
    receiverTimeouts: 0,
  };

  constructor(options: SmppCarrierOptions) {
    super();
    const url = options.url !== undefined ? parseSmppUrl(options.url) : undefined;
    const host = options.host ?? url?.host;
    if (!host) throw new RangeError('SMPP carrier: a url or a host is required');
    this.host = host;
    this.port = options.port ?? url?.port ?? DEFAULTS.port;
    this.systemId = options.systemId ?? url?.systemId ?? '';
    this.password = options.password ?? url?.password ?? '';
    this.systemType = options.systemType ?? '';
    this.windowSize = options.windowSize ?? DEFAULTS.windowSize;
    if (!Number.isInteger(this.windowSize) || this.windowSize < 1) throw new RangeError('SMPP carrier: windowSize must be an integer >= 1');
    if (!Number.isInteger(this.port) || this.port < 1 || this.port > 65535) throw new RangeError(`SMPP carrier: invalid port ${this.port}`);
    this.settings = {
      enquireLinkMs: options.enquireLinkMs ?? DEFAULTS.enquireLinkMs,
      responseTimeoutMs: options.responseTimeoutMs ?? DEFAULTS.responseTimeoutMs,
      bindTimeoutMs: options.bindTimeoutMs ?? DEFAULTS.bindTimeoutMs,
      reconnectInitialMs: options.reconnectInitialMs ?? DEFAULTS.reconnectInitialMs,
      reconnectMaxMs: options.reconnectMaxMs ?? DEFAULTS.reconnectMaxMs,
      throttleRetryMs: options.throttleRetryMs ?? DEFAULTS.throttleRetryMs,
      reassemblyTimeoutMs: options.reassemblyTimeoutMs ?? DEFAULTS.reassemblyTimeoutMs,
      maxPendingReassemblies: options.maxPendingReassemblies ?? DEFAULTS.maxPendingReassemblies,
      unbindTimeoutMs: options.unbindTimeoutMs ?? DEFAULTS.unbindTimeoutMs,
      receiverTimeoutMs: options.receiverTimeoutMs ?? DEFAULTS.receiverTimeoutMs,
      timers: options.timers ?? realSmppTimers,
      now: options.now ?? Date.now,
    };
    this.onError = options.onError;
    this.receiver = options.receiver;
  }

  get state(): SmppCarrierState {
    return this.currentState;
  }

  /** submit_sm awaiting their response now. */
  get inFlight(): number {
    return this.link?.outstanding.size ?? 0;
  }

  /** Parts waiting to be sent (window full, throttled or not bound). */
  get queued(): number {
    return this.queue.length + this.preparing;
  }

  /**
   * Connects and binds. Resolves at the first successful bind. Rejects with SmppBindError when the first bind is
   * refused, or SmppConnectionError when the first attempt fails to connect; either way the carrier keeps
   * reconnecting with backoff in the background until stop() (messages submitted meanwhile wait). Calling it
   * again returns the same promise.
   */
  start(): Promise<void> {
    if (this.startPromise) return this.startPromise;
    if (this.stopped) return Promise.reject(new SmppStoppedError());
    this.startPromise = new Promise<void>((resolve, reject) => {
      this.startWaiter = { resolve, reject };
    });
    this.connect();
    return this.startPromise;
  }

  /**
   * Sends a message, one submit_sm per part; resolves with the SMSC ids once every part is accepted. Rejects with
   * SmppSubmitError when a part is refused for good, SmppStoppedError when the carrier stops first, RangeError for
   * a message that cannot be sent.
   */
  submit(message: SmppSubmitMessage): Promise<SmppSubmitResult> {
    if (this.stopped) return Promise.reject(new SmppStoppedError());
    if (message.parts.length === 0) return Promise.reject(new RangeError('SMPP submit: a message needs at least one part'));
    if (!Number.isInteger(message.dataCoding) || message.dataCoding < 0 || message.dataCoding > 255) {
      return Promise.reject(new RangeError(`SMPP submit: invalid data_coding ${message.dataCoding}`));
    }
    const source = smppAddress(message.from);
    const dest = smppAddress(message.to);
    const registeredDelivery = message.registeredDelivery === false ? 0 : 1;
    const fieldsList: PduFields[] = [];
    for (const part of message.parts) {
      const shortMessage = part.udh && part.udh.length > 0 ? Buffer.concat([part.udh, part.payload]) : part.payload;
      if (shortMessage.length > MAX_SHORT_MESSAGE) {
        return Promise.reject(new RangeError(`SMPP submit: short_message of ${shortMessage.length} octets exceeds ${MAX_SHORT_MESSAGE}`));
      }
      fieldsList.push({
        source_addr_ton: source.ton,
        source_addr_npi: source.npi,
        source_addr: source.addr,
        dest_addr_ton: dest.ton,
        dest_addr_npi: dest.npi,
        destination_addr: dest.addr,
        esm_class: part.udh && part.udh.length > 0 ? 0x40 : 0x00,
        registered_delivery: registeredDelivery,
        data_coding: message.dataCoding,
        short_message: shortMessage,
      });
    }
    return new Promise<SmppSubmitResult>((resolve, reject) => {
      const job: SubmitJob = {
        smscIds: new Array<string>(fieldsList.length).fill(''),
        onPartAccepted: message.onPartAccepted,
        beforePartWrite: message.beforePartWrite,
        remaining: fieldsList.length,
        settled: false,
        resolve,
        reject,
      };
      fieldsList.forEach((fields, index) => {
        this.queue.push({ job, index, order: this.nextOrder++, fields, sentAt: 0, prepared: message.beforePartWrite === undefined });
      });
      this.pump();
    });
  }

  /**
   * Stops for good: sends unbind and waits (bounded) for unbind_resp, closes the connection, cancels every timer
   * and rejects submits not yet fully accepted with SmppStoppedError. Calling it again returns the same promise.
   */
  stop(): Promise<void> {
    this.stopPromise ??= this.shutdown();
    return this.stopPromise;
  }

  private async shutdown(): Promise<void> {
    this.stopped = true;
    this.reconnectTimer?.cancel();
    this.reconnectTimer = undefined;
    this.throttleTimer?.cancel();
    this.throttleTimer = undefined;
    for (const r of this.reassemblies.values()) r.timer.cancel();
    this.reassemblies.clear();
    // Unanswered deliver_sm are the SMSC's to deliver again.
    for (const wait of this.receiverWaits) wait.cancel();
    this.receiverWaits.clear();
    this.startWaiter?.reject(new SmppStoppedError());
    this.startWaiter = undefined;

    const link = this.link;
    if (link) {
      const { timers } = this.settings;
      if (link.bound && link.connection.writable) {
        await new Promise<void>((resolve) => {
          const timer = timers.start('smpp.unbind', this.settings.unbindTimeoutMs, resolve);
          link.unbindAnswered = () => {
            timer.cancel();
            resolve();
          };
          link.unbindSeq = link.connection.request('unbind');
          if (link.unbindSeq === undefined) link.unbindAnswered();
        });
      }
      link.connection.end();
      await new Promise<void>((resolve) => {
        const timer = timers.start('smpp.unbind', this.settings.unbindTimeoutMs, () => {
          link.connection.destroy();
          resolve();
        });
        void link.connection.closed.then(() => {
          timer.cancel();
          resolve();
        });
      });
      this.dropLink(link);
    }

    const jobs = new Set(this.queue.map((t) => t.job));
    this.queue.length = 0;
    for (const job of jobs) this.settle(job, new SmppStoppedError());
    this.setState('stopped', {});
  }

  // -- connection --------------------------------------------------------------------------------------------

  private connect(): void {
    this.reconnectTimer = undefined;
    if (this.stopped) return;
    this.setState('connecting', {});
    const socket = netConnect({ host: this.host, port: this.port });
    const connection = new SmppConnection(socket);
    const link: Link = {
      connection,
      bound: false,
      bindRefused: false,
      bindSeq: undefined,
      outstanding: new Map(),
      bindTimer: undefined,
      enquireTimer: undefined,
      enquirePending: undefined,
      unbindSeq: undefined,
      unbindAnswered: undefined,
      failure: undefined,
    };
    this.link = link;
    link.bindTimer = this.settings.timers.start('smpp.bindTimeout', this.settings.bindTimeoutMs, () => {
      link.bindTimer = undefined;
      link.failure ??= new SmppConnectionError(`SMPP: no bind_transceiver_resp within ${this.settings.bindTimeoutMs} ms`);
      connection.destroy();
    });
    socket.once('connect', () => {
      link.bindSeq = connection.request('bind_transceiver', {
        system_id: this.systemId,
        password: this.password,
        system_type: this.systemType,
        interface_version: 0x34,
      });
    });
    connection.on('pdu', (pdu, raw) => {
      try {
        this.onPdu(link, pdu, raw);
      } catch (error) {
        this.reportError(error);
      }
    });
    connection.on('close', (error) => this.onClose(link, error));
  }

  private onClose(link: Link, error: Error | undefined): void {
    if (this.link !== link) return;
    this.dropLink(link);
    if (this.stopped) return;
    const failure =
      link.failure ?? (error ? new SmppConnectionError(`SMPP connection to ${this.host}:${this.port} failed: ${error.message}`, { cause: error }) : new SmppConnectionError(`SMPP connection to ${this.host}:${this.port} closed`));
    if (!link.bound) {
      this.failures += 1;
      if (!link.bindRefused) {
        this.startWaiter?.reject(failure);
        this.startWaiter = undefined;
      }
    }
    const retryInMs = reconnectDelayMs(this.failures, this.settings.reconnectInitialMs, this.settings.reconnectMaxMs);
    // After a refused bind the state stays bind_failed until the next attempt starts.
    if (!link.bindRefused) this.setState('disconnected', { error: failure, retryInMs });
    this.reconnectTimer = this.settings.timers.start('smpp.reconnect', retryInMs, () => this.connect());
  }

  /** Forgets a link: timers cancelled, unanswered submits back in the queue. */
  private dropLink(link: Link): void {
    if (this.link === link) this.link = undefined;
    link.bindTimer?.cancel();
    link.bindTimer = undefined;
    link.enquireTimer?.cancel();
    link.enquireTimer = undefined;
    link.unbindAnswered?.();
    link.unbindAnswered = undefined;
    if (link.outstanding.size > 0) {
      for (const task of link.outstanding.values()) {
        if (task.job.settled) continue;
        this.counters.resentAfterLoss += 1;
        this.requeue(task);
      }
      link.outstanding.clear();
    }
  }

  private onBound(link: Link): void {
    link.bound = true;
    link.bindTimer?.cancel();
    link.bindTimer = undefined;
    this.failures = 0;
    this.counters.binds += 1;
    this.setState('bound', {});
    this.startWaiter?.resolve();
    this.startWaiter = undefined;
    this.armEnquireLink(link);
    this.pump();
  }

  private onBindRefused(link: Link, status: number): void {
    link.bindRefused = true;
    link.bindTimer?.cancel();
    link.bindTimer = undefined;
    this.counters.bindFailures += 1;
    const error = new SmppBindError(status);
    link.failure = error;
    const retryInMs = reconnectDelayMs(this.failures + 1, this.settings.reconnectInitialMs, this.settings.reconnectMaxMs);
    this.setState('bind_failed', { error, commandStatus: status, retryInMs });
    this.startWaiter?.reject(error);
    this.startWaiter = undefined;
    link.connection.destroy();
  }

  private armEnquireLink(link: Link): void {
    link.enquireTimer = this.settings.timers.start('smpp.enquireLink', this.settings.enquireLinkMs, () => {
      link.enquireTimer = undefined;
      if (this.link !== link || this.stopped) return;
      if (link.enquirePending !== undefined) {
        link.failure = new SmppConnectionError('SMPP: enquire_link unanswered; link taken as dead');
        link.connection.destroy();
        return;
      }
      const now = this.settings.now();
      for (const task of link.outstanding.values()) {
        if (now - task.sentAt >= this.settings.responseTimeoutMs) {
          link.failure = new SmppConnectionError(`SMPP: submit_sm unanswered for ${this.settings.responseTimeoutMs} ms; link taken as dead`);
          link.connection.destroy();
          return;
        }
      }
      link.enquirePending = link.connection.request('enquire_link');
      this.armEnquireLink(link);
    });
  }

  // -- PDUs --------------------------------------------------------------------------------------------------

  private onPdu(link: Link, pdu: PDU, raw: Buffer): void {
    if (this.link !== link) return;
    const seq = pdu.sequence_number;
    switch (pdu.command) {
      case 'bind_transceiver_resp':
        if (!link.bound && seq === link.bindSeq) {
          if (pdu.command_status === 0) this.onBound(link);
          else this.onBindRefused(link, pdu.command_status);
        }
        return;
      case 'submit_sm_resp':
        this.onSubmitResponse(link, seq, pdu.command_status, typeof pdu.message_id === 'string' ? pdu.message_id : '');
        return;
      case 'generic_nack':
        if (!link.bound && seq === link.bindSeq) this.onBindRefused(link, pdu.command_status || SMPP_STATUS.ESME_RBINDFAIL);
        else if (seq === link.enquirePending) link.enquirePending = undefined;
        else if (link.outstanding.has(seq)) this.onSubmitResponse(link, seq, pdu.command_status || SMPP_STATUS.ESME_RSYSERR, '');
        return;
      case 'enquire_link_resp':
        if (seq === link.enquirePending) link.enquirePending = undefined;
        return;
      case 'enquire_link':
        link.connection.respond(pdu);
        return;
      case 'unbind_resp':
        if (seq === link.unbindSeq) link.unbindAnswered?.();
        return;
      case 'unbind':
        link.connection.respond(pdu);
        link.failure = new SmppConnectionError('SMPP: the SMSC unbound');
        link.connection.end();
        return;
      case 'deliver_sm':
        this.onDeliver(raw, answerOnce(link.connection, pdu));
        return;
      default:
        if (!pdu.isResponse()) link.connection.respond(pdu, {}, SMPP_STATUS.ESME_RINVCMDID);
    }
  }

  private onSubmitResponse(link: Link, seq: number, status: number, messageId: string): void {
    const task = link.outstanding.get(seq);
    if (!task) return;
    link.outstanding.delete(seq);
    const { job } = task;
    switch (classifySubmitStatus(status)) {
      case 'accepted':
        this.counters.submitAccepted += 1;
        if (!job.settled) {
          job.smscIds[task.index] = messageId;
          job.onPartAccepted?.(task.index, messageId);
          job.remaining -= 1;
          if (job.remaining === 0) {
            job.settled = true;
            job.resolve({ smscIds: job.smscIds });
          }
        }
        break;
      case 'retry':
        this.counters.submitRetried += 1;
        if (!job.settled) this.requeue(task);
        if (!this.throttleTimer && !this.stopped) {
          this.throttleTimer = this.settings.timers.start('smpp.throttleRetry', this.settings.throttleRetryMs, () => {
            this.throttleTimer = undefined;
            this.pump();
          });
        }
        break;
      case 'rejected':
        this.counters.submitRejected += 1;
        this.settle(job, new SmppSubmitError(status, task.index));
        break;
    }
    this.pump();
  }

  private onDeliver(raw: Buffer, answer: Answer): void {
    const sm = readShortMessagePdu(raw);
    if (!sm) {
      answer(SMPP_STATUS.ESME_ROK);
      return;
    }
    const from = addressFromSmpp(sm.source, sm.sourceTon);
    const to = addressFromSmpp(sm.destination, sm.destTon);
    const udhi = (sm.esmClass & 0x40) !== 0;
    const userData = sm.shortMessage.length === 0 ? (sm.tlvs.get(SMPP_TLV.message_payload) ?? sm.shortMessage) : sm.shortMessage;
    const isReceipt = (sm.esmClass & 0x04) !== 0 || (sm.esmClass & 0x3c) === 0x20;
    if (isReceipt) {
      const body = udhi ? (splitUdh(userData)?.payload ?? userData) : userData;
      this.onReceipt(sm, from, to, sm.dataCoding === 8 ? decodeUcs2(body) : body.toString('latin1'), answer);
      return;
    }
    const encoding = inboundEncoding(sm.dataCoding);
    if (udhi) {
      const split = splitUdh(userData);
      const concat = parseConcatUdh(userData);
      if (split && concat && concat.total > 1) {
        this.addPart(from, to, concat.reference, concat.referenceBits, concat.total, concat.seq, sm.dataCoding, split.payload, answer);
        return;
      }
      const text = decodeShortMessage(split?.payload ?? userData, encoding);
      this.answerAfter(this.emitInbound({ from, to, text, encoding, dataCoding: sm.dataCoding, parts: 1 }), answer);
      return;
    }
    const text = decodeShortMessage(userData, encoding);
    this.answerAfter(this.emitInbound({ from, to, text, encoding, dataCoding: sm.dataCoding, parts: 1 }), answer);
  }

  private onReceipt(sm: ShortMessagePdu, from: string, to: string, text: string, answer: Answer): void {
    const fields = readReceiptFields(text);
    const tlvId = sm.tlvs.get(SMPP_TLV.receipted_message_id);
    const tlvIdText = tlvId ? tlvId.toString('latin1').replace(/\0.*$/s, '') : '';
    const tlvState = sm.tlvs.get(SMPP_TLV.message_state);
    const tlvStat = tlvState && tlvState.length >= 1 ? messageStateToStat(tlvState[0] ?? -1) : undefined;
    const smscId = tlvIdText || fields.id;
    const stat = tlvStat ?? fields.stat;
    if (!smscId || !stat) {
      // Delivered again it would be as unreadable: nothing is gained by refusing it.
      this.counters.unreadableReceipts += 1;
      answer(SMPP_STATUS.ESME_ROK);
      return;
    }
    let err = fields.err;
    if (err === undefined) {
      const nec = sm.tlvs.get(SMPP_TLV.network_error_code);
      err = nec && nec.length >= 3 ? String(nec.readUInt16BE(1)).padStart(3, '0') : '';
    }
    this.counters.receipts += 1;
    const receipt: SmppReceipt = {
      smscId,
      stat,
      err,
      status: mapReceiptStat(stat),
      ...(fields.doneDate ? { doneDate: fields.doneDate } : {}),
      ...(fields.submitDate ? { submitDate: fields.submitDate } : {}),
      from,
      to,
      receiptText: text,
    };
    if (!this.receiver) answer(SMPP_STATUS.ESME_ROK);
    // After the promise continuations already queued: a receipt that arrives in the same read as its
    // submit_sm_resp is seen after the submit() that it is about has resolved.
    setImmediate(() => {
      this.safeEmit('receipt', receipt);
      this.answerAfter(this.keep((receiver) => receiver.receipt(receipt)), answer);
    });
  }

  private addPart(
    from: string, to: string, reference: number, bits: number, total: number, seq: number, dataCoding: number, payload: Buffer, answer: Answer,
  ): void {
    const key = `${from}\u0000${to}\u0000${bits}:${reference}\u0000${total}`;
    let entry = this.reassemblies.get(key);
    if (!entry) {
      if (this.reassemblies.size >= this.settings.maxPendingReassemblies) {
        const oldest = this.reassemblies.keys().next().value;
        if (oldest !== undefined) this.expire(oldest);
      }
      entry = { from, to, reference, total, dataCoding, parts: new Map(), timer: this.armReassembly(key), storing: undefined };
      this.reassemblies.set(key, entry);
    }
    entry.parts.set(seq, Buffer.from(payload));
    if (entry.parts.size < total) {
      answer(SMPP_STATUS.ESME_ROK);
      return;
    }
    if (entry.storing) {
      // The SMSC sent the last part again before the store of the first one settled (it timed out here).
      this.answerAfter(entry.storing, answer);
      return;
    }
    entry.timer.cancel();
    const joined = Buffer.concat([...entry.parts.entries()].sort((a, b) => a[0] - b[0]).map(([, p]) => p));
    const encoding = inboundEncoding(entry.dataCoding);
    const store = this.emitInbound({ from, to, text: decodeShortMessage(joined, encoding), encoding, dataCoding: entry.dataCoding, parts: total });
    const completed = entry;
    const forget = (): void => {
      if (this.reassemblies.get(key) === completed) this.reassemblies.delete(key);
    };
    if (!store) {
      forget();
    } else {
      completed.storing = store;
      // Kept until stored: if the store fails the SMSC sends the last part again, and the others must still be here.
      store.then(forget, () => {
        completed.storing = undefined;
        if (this.reassemblies.get(key) === completed && !this.stopped) completed.timer = this.armReassembly(key);
      });
    }
    this.answerAfter(store, answer);
  }

  private armReassembly(key: string): { cancel(): void } {
    return this.settings.timers.start('smpp.reassembly', this.settings.reassemblyTimeoutMs, () => this.expire(key));
  }

  private expire(key: string): void {
    const entry = this.reassemblies.get(key);
    // A set whose store is pending is complete: it is forgotten when stored, or expires later if the store fails.
    if (!entry || entry.storing) return;
    entry.timer.cancel();
    this.reassemblies.delete(key);
    const sorted = [...entry.parts.entries()].sort((a, b) => a[0] - b[0]);
    this.safeEmit('reassembly_expired', {
      from: entry.from,
      to: entry.to,
      reference: entry.reference,
      total: entry.total,
      received: sorted.map(([seq]) => seq),
      partialText: decodeShortMessage(Buffer.concat(sorted.map(([, p]) => p)), inboundEncoding(entry.dataCoding)),
    });
  }

  /** Emits `inbound` and hands the message to the receiver; returns its store, undefined without a receiver. */
  private emitInbound(message: SmppInboundMessage): Promise<void> | undefined {
    this.counters.inbound += 1;
    this.safeEmit('inbound', message);
    return this.keep((receiver) => receiver.inbound(message));
  }

  /** The receiver's store of one delivery; one that throws is a failed store. Undefined without a receiver. */
  private keep(store: (receiver: SmppReceiver) => Promise<void>): Promise<void> | undefined {
    const receiver = this.receiver;
    if (!receiver) return undefined;
    try {
      return Promise.resolve(store(receiver));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Answers a deliver_sm once `store` settles: ESME_ROK when it resolves (or there is nothing to wait for),
   * ESME_RX_T_APPN when it rejects or is still pending after receiverTimeoutMs.
   */
  private answerAfter(store: Promise<void> | undefined, answer: Answer): void {
    if (!store) {
      answer(SMPP_STATUS.ESME_ROK);
      return;
    }
    let settled = false;
    const timer = this.settings.timers.start('smpp.receiverTimeout', this.settings.receiverTimeoutMs, () => {
      this.receiverWaits.delete(timer);
      if (settled) return;
      settled = true;
      this.counters.receiverTimeouts += 1;
      answer(SMPP_STATUS.ESME_RX_T_APPN);
    });
    this.receiverWaits.add(timer);
    const done = (status: number): void => {
      timer.cancel();
      this.receiverWaits.delete(timer);
      if (settled) return;
      settled = true;
      if (status !== SMPP_STATUS.ESME_ROK) this.counters.receiverFailures += 1;
      answer(status);
    };
    store.then(
      () => done(SMPP_STATUS.ESME_ROK),
      () => done(SMPP_STATUS.ESME_RX_T_APPN),
    );
  }

  // -- sending -----------------------------------------------------------------------------------------------

  private pump(): void {
    const link = this.link;
    if (!link || !link.bound || this.throttleTimer || this.stopped) return;
    while (link.outstanding.size + this.preparing < this.windowSize && this.queue.length > 0) {
      const task = this.queue.shift() as PartTask;
      if (task.job.settled) continue;
      if (!task.prepared) {
        this.prepare(task);
        continue;
      }
      const seq = link.connection.request('submit_sm', task.fields);
      if (seq === undefined) {
        // The socket is closing; its close event requeues what is outstanding and reconnects.
        this.queue.unshift(task);
        return;
      }
      task.sentAt = this.settings.now();
      link.outstanding.set(seq, task);
      this.counters.submitSent += 1;
    }
  }

  /** Runs a part's beforePartWrite, then puts it back in the queue to be written (or rejects its submit). */
  private prepare(task: PartTask): void {
    this.preparing += 1;
    let hook: Promise<void>;
    try {
      hook = Promise.resolve((task.job.beforePartWrite as (index: number) => Promise<void>)(task.index));
    } catch (error) {
      hook = Promise.reject(error);
    }
    void hook
      .then(
        () => {
          task.prepared = true;
          if (this.stopped) this.settle(task.job, new SmppStoppedError());
          else this.requeue(task);
        },
        (error: unknown) => this.settle(task.job, error instanceof Error ? error : new Error(String(error))),
      )
      .finally(() => {
        this.preparing -= 1;
        this.pump();
      });
  }

  /** Puts a part back in the queue at its submission position. */
  private requeue(task: PartTask): void {
    const q = this.queue;
    let lo = 0;
    let hi = q.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((q[mid] as PartTask).order < task.order) lo = mid + 1;
      else hi = mid;
    }
    q.splice(lo, 0, task);
  }

  private settle(job: SubmitJob, error: Error): void {
    if (job.settled) return;
    job.settled = true;
    job.reject(error);
  }

  private setState(state: SmppCarrierState, detail: SmppStateDetail): void {
    this.currentState = state;
    this.safeEmit('state', state, detail);
  }

  private safeEmit<K extends keyof SmppCarrierEvents>(event: K, ...args: SmppCarrierEvents[K]): void {
    try {
      (this.emit as (event: K, ...args: SmppCarrierEvents[K]) => boolean)(event, ...args);
    } catch (error) {
      this.reportError(error);
    }
  }

  private reportError(error: unknown): void {
    if (this.onError) this.onError(error);
    else queueMicrotask(() => {
      throw error;
    });
  }
}

/** Parses smpp://system_id:password@host:port (ssmpp:// is refused: TLS is not supported here). */
export function parseSmppUrl(url: string): { host: string; port: number; systemId: string; password: string } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new RangeError(`invalid SMPP url ${JSON.stringify(url)}`);
  }
  if (parsed.protocol !== 'smpp:') throw new RangeError(`SMPP url must use smpp://, got ${parsed.protocol}//`);
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) throw new RangeError(`SMPP url has no host: ${JSON.stringify(url)}`);
  return {
    host,
    port: parsed.port ? Number(parsed.port) : DEFAULTS.port,
    systemId: decodeURIComponent(parsed.username),
    password: decodeURIComponent(parsed.password),
  };
}
