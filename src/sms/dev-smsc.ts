/**
 * A development SMSC: an SMPP v3.4 server on 127.0.0.1 for local runs, tests and benchmarks. It accepts
 * bind_transceiver with its configured system_id and password (anything else is refused with ESME_RBINDFAIL),
 * answers submit_sm with a message_id of its own and, when registered_delivery asks for it, sends a delivery
 * receipt deliver_sm `receiptDelayMs` later: esm_class 0x04, Appendix B receipt text (data_coding 1, IA5), and the
 * receipted_message_id and message_state TLVs. Nothing leaves the machine: messages are counted, not delivered.
 *
 * Test numbers (by how the destination ends; DEV_SMSC_TEST_NUMBERS):
 *   ...0404  accepted, then receipt stat:UNDELIV err:001  (the handset never took it)
 *   ...0500  accepted, then receipt stat:REJECTD err:002  (the network refused it)
 *   ...0400  refused at once: submit_sm_resp ESME_RINVDSTADR (0x0B), no receipt
 * Every other destination: accepted, then receipt stat:DELIVRD err:000.
 *
 * Receipts go to the session that submitted the message, or to another bound session when that one has gone, or
 * are kept until a session binds; one answered ESME_RX_T_APPN (the ESME could not keep it yet) is sent again
 * `redeliverMs` later, as an SMSC retries. injectInbound() sends a mobile-originated message to a bound session,
 * split and encoded by segment() (concatenated with a UDH when long); it leaves retrying to its caller, who may send
 * a single part again.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { PDU, PduFields } from 'smpp';
import { formatReceipt, statToMessageState } from './receipt.js';
import { segment, splitUdh } from './segmenter.js';
import {
  SMPP_STATUS,
  SmppConnection,
  decodeShortMessage,
  inboundEncoding,
  readShortMessagePdu,
  smppAddress,
} from './smpp-carrier.js';

export interface DevSmscTestNumber {
  /** The destination ends with these digits. */
  readonly suffix: string;
  readonly description: string;
  /** Receipt stat for an accepted message. */
  readonly stat?: string;
  readonly err?: string;
  /** submit_sm_resp command_status for a refused message. */
  readonly commandStatus?: number;
}

export const DEV_SMSC_TEST_NUMBERS: readonly DevSmscTestNumber[] = Object.freeze([
  Object.freeze({ suffix: '0404', stat: 'UNDELIV', err: '001', description: 'accepted, then receipt UNDELIV err:001' }),
  Object.freeze({ suffix: '0500', stat: 'REJECTD', err: '002', description: 'accepted, then receipt REJECTD err:002' }),
  Object.freeze({ suffix: '0400', commandStatus: SMPP_STATUS.ESME_RINVDSTADR, description: 'refused: submit_sm_resp ESME_RINVDSTADR' }),
]);

/** What DevSmsc does with a message to `destination`. */
export function devSmscOutcome(destination: string): { accept: true; stat: string; err: string } | { accept: false; commandStatus: number } {
  const rule = DEV_SMSC_TEST_NUMBERS.find((n) => destination.endsWith(n.suffix));
  if (rule?.commandStatus !== undefined) return { accept: false, commandStatus: rule.commandStatus };
  return { accept: true, stat: rule?.stat ?? 'DELIVRD', err: rule?.err ?? '000' };
}

export interface DevSmscOptions {
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 0: a free port, read from `.port` after start(). */
  readonly port?: number;
  /** Default 'dialplane'. */
  readonly systemId?: string;
  /** Default 'dialplane'. */
  readonly password?: string;
  /** Delay between submit_sm_resp and the receipt. Default 50 ms. */
  readonly receiptDelayMs?: number;
  /** injectInbound(): longest wait for each deliver_sm_resp. Default 5 000 ms. */
  readonly deliverTimeoutMs?: number;
  /** Delay before a receipt answered ESME_RX_T_APPN is sent again. Default 1 000 ms. */
  readonly redeliverMs?: number;
  /** Called for every accepted submit_sm. */
  readonly onSubmit?: (submission: DevSmscSubmission) => void;
}

export interface DevSmscSubmission {
  readonly messageId: string;
  readonly source: string;
  readonly destination: string;
  readonly esmClass: number;
  readonly dataCoding: number;
  readonly registeredDelivery: number;
  /** short_message octets as received (UDH included). */
  readonly shortMessage: Buffer;
}

export interface DevSmscCounters {
  connections: number;
  binds: number;
  bindsRefused: number;
  /** submit_sm received (from bound sessions). */
  submitReceived: number;
  submitAccepted: number;
  submitRefused: number;
  /** deliver_sm carrying receipts, redeliveries included. */
  receiptsSent: number;
  /** Receipts answered ESME_ROK. */
  receiptsAcknowledged: number;
  /** Receipts answered ESME_RX_T_APPN, to be sent again. */
  receiptsRedelivered: number;
  /** deliver_sm sent by injectInbound (one per part). */
  inboundSent: number;
  inboundAcknowledged: number;
}

interface Session {
  readonly connection: SmppConnection;
  bound: boolean;
  readonly waiting: Map<number, { resolve: (status: number) => void; reject: (error: Error) => void }>;
}

interface PendingReceipt {
  readonly origin: Session;
  readonly fields: PduFields;
}

const MAX_KEPT_RECEIPTS = 10_000;

export class DevSmsc {
  readonly host: string;
  readonly systemId: string;
  readonly password: string;
  private readonly requestedPort: number;
  private readonly receiptDelayMs: number;
  private readonly deliverTimeoutMs: number;
  private readonly redeliverMs: number;
  private readonly onSubmit: ((submission: DevSmscSubmission) => void) | undefined;
  private server: Server | undefined;
  private listeningPort = 0;
  private readonly sessions = new Set<Session>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly kept: PendingReceipt[] = [];
  private readonly idPrefix = randomBytes(2).toString('hex');
  private nextId = 0;
  readonly counters: DevSmscCounters = {
    connections: 0,
    binds: 0,
    bindsRefused: 0,
    submitReceived: 0,
    submitAccepted: 0,
    submitRefused: 0,
    receiptsSent: 0,
    receiptsAcknowledged: 0,
    receiptsRedelivered: 0,
    inboundSent: 0,
    inboundAcknowledged: 0,
  };

  constructor(options: DevSmscOptions = {}) {
    this.host = options.host ?? '127.0.0.1';
    this.requestedPort = options.port ?? 0;
    this.systemId = options.systemId ?? 'dialplane';
    this.password = options.password ?? 'dialplane';
    this.receiptDelayMs = options.receiptDelayMs ?? 50;
    this.deliverTimeoutMs = options.deliverTimeoutMs ?? 5_000;
    this.redeliverMs = options.redeliverMs ?? 1_000;
    this.onSubmit = options.onSubmit;
  }

  /** The listening port (after start()). */
  get port(): number {
    return this.listeningPort;
  }

  /** smpp://system_id:password@host:port, for SmppCarrier. */
  get url(): string {
    const host = this.host.includes(':') ? `[${this.host}]` : this.host;
    return `smpp://${encodeURIComponent(this.systemId)}:${encodeURIComponent(this.password)}@${host}:${this.listeningPort}`;
  }

  /** Sessions bound now. */
  get boundSessions(): number {
    let n = 0;
    for (const s of this.sessions) if (s.bound) n += 1;
    return n;
  }

  async start(): Promise<void> {
    if (this.server) return;
    const server = createServer((socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.requestedPort, this.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.listeningPort = (server.address() as AddressInfo).port;
  }

  /** Closes every session and the listening socket; pending receipts are dropped. */
  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.kept.length = 0;
    for (const session of this.sessions) session.connection.destroy();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /**
   * Sends a mobile-originated message to a bound session: one deliver_sm per part (UDH and esm_class 0x40 when
   * long). Resolves once every deliver_sm_resp has arrived, with their command_status values; rejects when no
   * session is bound, or a response does not come within `deliverTimeoutMs`. `reference` fixes the concatenation
   * reference and `onlyParts` (0-based) sends just those parts, so a part refused with a temporary error can be sent
   * again as the SMSC would; `parts` counts the message's parts, `statuses` the ones sent.
   */
  async injectInbound(
    message: { from: string; to: string; text: string },
    options: { reference?: number; onlyParts?: readonly number[] } = {},
  ): Promise<{ parts: number; statuses: number[] }> {
    const session = this.anyBound();
    if (!session) throw new Error('DevSmsc: no bound session to deliver to');
    const seg = segment(message.text, { maxSegments: 255, ...(options.reference !== undefined ? { reference: options.reference } : {}) });
    const source = smppAddress(message.from);
    const dest = smppAddress(message.to);
    const sent = options.onlyParts ? seg.parts.filter((_, i) => options.onlyParts?.includes(i)) : seg.parts;
    const waits = sent.map((part) =>
      this.request(session, {
        source_addr_ton: source.ton,
        source_addr_npi: source.npi,
        source_addr: source.addr,
        dest_addr_ton: dest.ton,
        dest_addr_npi: dest.npi,
        destination_addr: dest.addr,
        esm_class: part.udh ? 0x40 : 0x00,
        data_coding: seg.dataCoding,
        short_message: part.udh ? Buffer.concat([part.udh, part.payload]) : part.payload,
      }),
    );
    this.counters.inboundSent += sent.length;
    const statuses = await Promise.all(waits);
    this.counters.inboundAcknowledged += statuses.length;
    return { parts: seg.parts.length, statuses };
  }

  private anyBound(preferred?: Session): Session | undefined {
    if (preferred && preferred.bound && preferred.connection.writable) return preferred;
    for (const s of this.sessions) if (s.bound && s.connection.writable) return s;
    return undefined;
  }

  /** Sends a deliver_sm; resolves with the deliver_sm_resp command_status. */
  private request(session: Session, fields: PduFields): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const seq = session.connection.request('deliver_sm', fields);
      if (seq === undefined) {
        reject(new Error('DevSmsc: session closed'));
        return;
      }
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        session.waiting.delete(seq);
        reject(new Error(`DevSmsc: no deliver_sm_resp within ${this.deliverTimeoutMs} ms`));
      }, this.deliverTimeoutMs);
      this.timers.add(timer);
      session.waiting.set(seq, {
        resolve: (status) => {
          clearTimeout(timer);
          this.timers.delete(timer);
          resolve(status);
        },
        reject: (error) => {
          clearTimeout(timer);
          this.timers.delete(timer);
          reject(error);
        },
      });
    });
  }

  private accept(socket: Socket): void {
    this.counters.connections += 1;
    const session: Session = { connection: new SmppConnection(socket), bound: false, waiting: new Map() };
    this.sessions.add(session);
    session.connection.on('pdu', (pdu, raw) => {
      try {
        this.onPdu(session, pdu, raw);
      } catch {
        // A request this SMSC cannot handle is refused rather than taking the process down.
        if (!pdu.isResponse()) session.connection.respond(pdu, {}, SMPP_STATUS.ESME_RSYSERR);
      }
    });
    session.connection.on('close', () => {
      this.sessions.delete(session);
      session.bound = false;
      for (const w of session.waiting.values()) w.reject(new Error('DevSmsc: session closed'));
      session.waiting.clear();
    });
  }

  private onPdu(session: Session, pdu: PDU, raw: Buffer): void {
    const { connection } = session;
    switch (pdu.command) {
      case 'bind_transceiver': {
        if (session.bound) {
          connection.respond(pdu, {}, SMPP_STATUS.ESME_RALYBND);
          return;
        }
        if (pdu.system_id !== this.systemId || pdu.password !== this.password) {
          this.counters.bindsRefused += 1;
          connection.respond(pdu, {}, SMPP_STATUS.ESME_RBINDFAIL);
          connection.end();
          return;
        }
        session.bound = true;
        this.counters.binds += 1;
        connection.respond(pdu, { system_id: 'DevSmsc' });
        this.flushKept();
        return;
      }
      case 'bind_transmitter':
      case 'bind_receiver':
        // Only transceiver binds are offered.
        connection.respond(pdu, {}, SMPP_STATUS.ESME_RBINDFAIL);
        connection.end();
        return;
      case 'submit_sm':
        this.onSubmitSm(session, pdu, raw);
        return;
      case 'deliver_sm_resp': {
        const waiter = session.waiting.get(pdu.sequence_number);
        if (waiter) {
          session.waiting.delete(pdu.sequence_number);
          waiter.resolve(pdu.command_status);
        }
        return;
      }
      case 'enquire_link':
        connection.respond(pdu);
        return;
      case 'unbind':
        connection.respond(pdu);
        session.bound = false;
        connection.end();
        return;
      default:
        if (!pdu.isResponse()) connection.respond(pdu, {}, SMPP_STATUS.ESME_RINVCMDID);
    }
  }

  private onSubmitSm(session: Session, pdu: PDU, raw: Buffer): void {
    const { connection } = session;
    if (!session.bound) {
      connection.respond(pdu, {}, SMPP_STATUS.ESME_RINVBNDSTS);
      return;
    }
    this.counters.submitReceived += 1;
    const sm = readShortMessagePdu(raw);
    if (!sm) {
      this.counters.submitRefused += 1;
      connection.respond(pdu, {}, SMPP_STATUS.ESME_RINVMSGLEN);
      return;
    }
    const outcome = devSmscOutcome(sm.destination);
    if (!outcome.accept) {
      this.counters.submitRefused += 1;
      connection.respond(pdu, {}, outcome.commandStatus);
      return;
    }
    const messageId = `${this.idPrefix}${(this.nextId++).toString(16).padStart(8, '0')}`;
    this.counters.submitAccepted += 1;
    connection.respond(pdu, { message_id: messageId });
    const submittedAt = new Date();
    this.onSubmit?.({
      messageId,
      source: sm.source,
      destination: sm.destination,
      esmClass: sm.esmClass,
      dataCoding: sm.dataCoding,
      registeredDelivery: sm.registeredDelivery,
      shortMessage: Buffer.from(sm.shortMessage),
    });

    const wanted = sm.registeredDelivery & 0x03;
    if (wanted !== 1 && !(wanted === 2 && outcome.stat !== 'DELIVRD')) return;
    const body = (sm.esmClass & 0x40) !== 0 ? (splitUdh(sm.shortMessage)?.payload ?? sm.shortMessage) : sm.shortMessage;
    const text = decodeShortMessage(body, inboundEncoding(sm.dataCoding)).replace(/[^\x20-\x7e]/g, '?');
    const fields: PduFields = {
      source_addr_ton: sm.destTon,
      source_addr_npi: sm.destNpi,
      source_addr: sm.destination,
      dest_addr_ton: sm.sourceTon,
      dest_addr_npi: sm.sourceNpi,
      destination_addr: sm.source,
      esm_class: 0x04,
      data_coding: 0x01,
      receipted_message_id: messageId,
      message_state: statToMessageState(outcome.stat) ?? 7,
    };
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      const receipt = formatReceipt({ id: messageId, stat: outcome.stat, err: outcome.err, submitDate: submittedAt, doneDate: new Date(), text });
      this.sendReceipt({ origin: session, fields: { ...fields, short_message: Buffer.from(receipt, 'latin1') } });
    }, this.receiptDelayMs);
    this.timers.add(timer);
  }

  private sendReceipt(receipt: PendingReceipt): void {
    const session = this.anyBound(receipt.origin);
    if (!session) {
      if (this.kept.length < MAX_KEPT_RECEIPTS) this.kept.push(receipt);
      return;
    }
    this.counters.receiptsSent += 1;
    this.request(session, receipt.fields).then(
      (status) => {
        if (status === SMPP_STATUS.ESME_ROK) {
          this.counters.receiptsAcknowledged += 1;
          return;
        }
        if (status !== SMPP_STATUS.ESME_RX_T_APPN || !this.server) return;
        this.counters.receiptsRedelivered += 1;
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          this.sendReceipt(receipt);
        }, this.redeliverMs);
        this.timers.add(timer);
      },
      () => {
        // The session went away before answering: keep the receipt for the next bound session.
        if (this.server && this.kept.length < MAX_KEPT_RECEIPTS) this.kept.push(receipt);
      },
    );
  }

  private flushKept(): void {
    for (const receipt of this.kept.splice(0)) this.sendReceipt(receipt);
  }
}
