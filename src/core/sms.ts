import { DialplaneError } from '../errors.js';
import type { Db } from '../store/database.js';
import type { SmsMessageRow, SmsPartRow, SmsStatus } from '../store/schema.js';
import type { SmsPartStatus } from '../store/sms-repository.js';
import type { Store } from '../store/store.js';
import { segment, SmsTooLongError, type Segmentation, type SmsEncoding } from '../sms/segmenter.js';
import { isoNow, type Clock } from './clock.js';
import type { CreditService } from './credits.js';
import { newId } from './ids.js';
import { isOrphaned, type NodeLiveness } from './node-lease.js';
import type { NumberService } from './numbers.js';
import { normalizePhoneNumber } from './phone-number.js';
import type { PriceService } from './prices.js';
import type { WebhookService } from './webhooks.js';

export interface SmsMessage {
  readonly id: string;
  readonly accountId: string;
  readonly direction: 'outbound' | 'inbound';
  readonly from: string;
  readonly to: string;
  readonly body: string;
  readonly encoding: SmsMessageRow['encoding'];
  readonly segments: number;
  readonly status: SmsStatus;
  readonly priceMinor: number;
  readonly errorCode: string | null;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly sentAt: string | null;
  readonly completedAt: string | null;
}

export interface SmsStatusEvent {
  readonly status: SmsStatus;
  readonly at: string;
  readonly errorCode: string | null;
}

/** What the SMS engine does with a message: submit every part; resolves per part as the SMSC answers. */
export interface SmsCarrierPort {
  submit(message: {
    readonly from: string;
    readonly to: string;
    readonly dataCoding: number;
    readonly parts: ReadonlyArray<{ readonly udh?: Buffer; readonly payload: Buffer }>;
    /** Called once per part when the SMSC accepted it, with its id. */
    readonly onPartAccepted?: (seq: number, smscId: string) => void;
    /** Awaited before each part's submit_sm is first written. */
    readonly beforePartWrite?: (seq: number) => Promise<void>;
  }): Promise<{ readonly smscIds: readonly string[] }>;
}

export interface SmsQuote {
  readonly encoding: SmsEncoding;
  readonly segments: number;
  readonly priceMinor: number;
  readonly perSegmentMinor: number;
}

export interface SendSmsInput {
  readonly from: string;
  readonly to: string;
  readonly body: string;
}

export interface SmsOptions {
  readonly maxSegments: number;
  readonly defaultCountry: string;
  readonly onError?: (error: unknown, context: string) => void;
  /** An expected refusal (the SMSC refused a message): one line, no stack. */
  readonly onWarning?: (message: string, details: Record<string, unknown>) => void;
}

export interface SmsReceipt {
  readonly smscId: string;
  readonly status: 'delivered' | 'undelivered' | 'failed' | 'sent';
  readonly errorCode?: string | null;
}

const MAX_BODY = 1_600;
const EARLY_RECEIPT_MS = 60_000;
const MAX_EARLY_RECEIPTS = 10_000;
/** How often a node waiting on a message another node submits reads it again. */
const HANDED_OVER_POLL_MS = 100;
/** Queued messages taken up per pass of sendQueued (the next pass takes the rest). */
const PICKUP_BATCH = 500;
const STATUS_RANK: Readonly<Record<SmsStatus, number>> = { queued: 0, sent: 1, delivered: 2, undelivered: 2, failed: 2, received: 2 };

/**
 * The status of a whole message from its parts: failed when any part failed; undelivered when any part could not
 * be delivered; delivered when all were; sent when all were accepted; otherwise still queued. A status never moves
 * back, and a final one never changes.
 */
export function aggregateSmsStatus(current: SmsStatus, parts: readonly SmsPartStatus[]): SmsStatus {
  let next: SmsStatus;
  if (parts.includes('failed')) next = 'failed';
  else if (parts.includes('undelivered')) next = 'undelivered';
  else if (parts.length > 0 && parts.every((p) => p === 'delivered')) next = 'delivered';
  else if (parts.length > 0 && parts.every((p) => p !== 'queued' && p !== 'submitting')) next = 'sent';
  else next = 'queued';
  return STATUS_RANK[next] > STATUS_RANK[current] ? next : current;
}

/**
 * SMS as the platform knows it: a message is priced per segment and charged when accepted, persisted with its
 * parts and status history, and submitted through the carrier; receipts move it to delivered or undelivered. Each
 * status change writes its webhook event (`sms.queued`, `sms.sent`, `sms.delivered`, `sms.undelivered`,
 * `sms.failed`, `sms.received`) in the same transaction.
 */
export class SmsService {
  private carrier: SmsCarrierPort | undefined;
  /** The SMSC account messages go through; the carrier is attached only while this node holds its bind. */
  private route: { readonly account: string } | undefined;
  /** Messages this node is storing and will submit itself: the pickup of queued messages leaves them alone. */
  private readonly storing = new Set<string>();
  private picking: Promise<number> | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  /** Per message being submitted: settles once the SMSC accepted or refused every part. */
  private readonly submissions = new Map<string, Promise<void>>();
  /** Receipts that arrived before their part's acceptance was stored, by SMSC id; applied once it is. */
  private readonly earlyReceipts = new Map<string, { receipt: SmsReceipt; at: number }>();

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly deps: {
      credits: CreditService;
      prices: PriceService;
      numbers: NumberService;
      webhooks: WebhookService;
      /** This node: the sender of the messages it accepts. */
      node?: NodeLiveness;
    },
    private readonly options: SmsOptions,
  ) {}

  attachCarrier(carrier: SmsCarrierPort | undefined): void {
    this.carrier = carrier;
  }

  /**
   * The SMSC account (system id, host and port) every outbound message is stored for. Several nodes send through one
   * account by handing messages over in the store: a node without the account's bind (no carrier attached) stores
   * its messages `queued`, and the node holding the bind takes them up (sendQueued).
   */
  setSmscAccount(account: string | undefined): void {
    this.route = account === undefined ? undefined : { account };
  }

  /** Encoding, segments and price of a text, or the error it would get. */
  async quote(accountId: string, to: string, body: string): Promise<SmsQuote> {
    const segmentation = this.segmentation(body);
    const perSegmentMinor = await this.deps.prices.lookup('sms', accountId, to);
    return {
      encoding: segmentation.encoding,
      segments: segmentation.segments,
      perSegmentMinor,
      priceMinor: perSegmentMinor * segmentation.segments,
    };
  }

  /**
   * Checks, charges and stores a message, then submits it without waiting for the SMSC: the returned message is
   * `queued`. `from` must be a number of the account with the SMS capability.
   */
  async send(accountId: string, input: SendSmsInput): Promise<SmsMessage> {
    const from = normalizePhoneNumber(input.from, this.options.defaultCountry, 'from');
    const to = normalizePhoneNumber(input.to, this.options.defaultCountry, 'to');
    if (typeof input.body !== 'string' || input.body.length === 0 || input.body.length > MAX_BODY) {
      throw new DialplaneError('validation_failed', `message must be 1 to ${MAX_BODY} characters`, { field: 'message' });
    }
    const owned = (await this.deps.numbers.list(accountId)).find((n) => n.number === from);
    if (!owned) throw new DialplaneError('validation_failed', `from ${from} is not a number of this account`, { field: 'from' });
    if (!owned.capabilities.includes('sms')) {
      throw new DialplaneError('validation_failed', `from ${from} cannot send SMS`, { field: 'from' });
    }
    if (!this.carrier && !this.route) throw new DialplaneError('not_ready', 'no SMS carrier is connected');
    const segmentation = this.segmentation(input.body);
    const perSegment = await this.deps.prices.lookup('sms', accountId, to);
    const priceMinor = perSegment * segmentation.segments;
    const id = newId('msg');
    // Charged first: a message the balance cannot cover is refused before anything is stored or sent.
    if (priceMinor > 0) await this.deps.credits.debit(accountId, priceMinor, `SMS to ${to} (${segmentation.segments} segment${segmentation.segments === 1 ? '' : 's'})`, id);
    const now = isoNow(this.clock);
    const row: SmsMessageRow = {
      id,
      account_id: accountId,
      direction: 'outbound',
      from_number: from,
      to_number: to,
      body: input.body,
      encoding: segmentation.encoding,
      segments: segmentation.segments,
      status: 'queued',
      price_minor: priceMinor,
      owner_node: this.deps.node?.nodeId ?? null,
      smsc: this.route?.account ?? null,
      error_code: null,
      created_at: now,
      updated_at: now,
      sent_at: null,
      completed_at: null,
    };
    const parts: SmsPartRow[] = segmentation.parts.map((_, seq) => ({
      message_id: id,
      seq,
      smsc_id: null,
      status: 'queued',
      error_code: null,
      updated_at: now,
    }));
    let queued = 0;
    this.storing.add(id);
    try {
      await this.store.sms.insert(row, parts, async (trx, message) => (queued = await this.enqueue(trx, message)));
      if (queued) this.deps.webhooks.notify();
      // Without the bind the message waits in the store for the node that holds it.
      if (this.carrier) {
        const submission = this.track(this.submit(row, segmentation));
        this.submissions.set(id, submission);
        void submission.finally(() => this.submissions.delete(id));
      }
    } finally {
      this.storing.delete(id);
    }
    return toMessage(row);
  }

  /**
   * The message once the SMSC has answered its submission (every part accepted: `sent`; refused: `failed`), or as it
   * is when `timeoutMs` runs out first. One read, however long the wait.
   */
  async whenSubmitted(accountId: string, id: string, timeoutMs: number): Promise<SmsMessage> {
    const submission = this.submissions.get(id);
    if (submission) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([submission, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
      clearTimeout(timer);
      return this.get(accountId, id);
    }
    // Another node submits it (this one does not hold the SMSC bind): its answer is seen in the store.
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const message = await this.get(accountId, id);
      if (message.status !== 'queued' || Date.now() >= deadline) return message;
      await new Promise((resolve) => setTimeout(resolve, Math.min(HANDED_OVER_POLL_MS, Math.max(1, deadline - Date.now()))));
    }
  }

  /**
   * A delivery receipt from the SMSC for one part. A receipt can overtake the write that stores its part's SMSC id;
   * it then waits (bounded in number and time) and is applied when that write lands. Ids never stored are another
   * system's messages and are forgotten.
   */
  async onReceipt(receipt: SmsReceipt): Promise<void> {
    if (receipt.status === 'sent') return;
    // Parked before it is tried: whichever of this and the acceptance write comes second applies it.
    const now = Date.now();
    for (const [id, early] of this.earlyReceipts) {
      if (now - early.at > EARLY_RECEIPT_MS || this.earlyReceipts.size >= MAX_EARLY_RECEIPTS) this.earlyReceipts.delete(id);
      else break;
    }
    this.earlyReceipts.set(receipt.smscId, { receipt, at: now });
    if (await this.applyReceipt(receipt)) this.earlyReceipts.delete(receipt.smscId);
  }

  private async applyReceipt(receipt: SmsReceipt): Promise<boolean> {
    const change = await this.store.sms.updatePart(
      { smscId: receipt.smscId },
      { status: receipt.status, errorCode: receipt.errorCode ?? null },
      isoNow(this.clock),
      aggregateSmsStatus,
      (trx, message) => this.enqueueIfMoved(trx, message),
    );
    if (change?.moved) this.deps.webhooks.notify();
    return change !== undefined;
  }

  /** A message from the network to one of our numbers; dropped (returns undefined) when no account holds `to`. */
  async onInbound(input: { from: string; to: string; text: string; encoding: SmsMessageRow['encoding']; segments: number }): Promise<SmsMessage | undefined> {
    const to = safeNormalize(input.to, this.options.defaultCountry);
    const from = safeNormalize(input.from, this.options.defaultCountry) ?? input.from;
    if (!to) return undefined;
    const number = await this.store.numbers.findByNumber(to);
    if (!number || !number.sms) return undefined;
    const now = isoNow(this.clock);
    const row: SmsMessageRow = {
      id: newId('msg'),
      account_id: number.account_id,
      direction: 'inbound',
      from_number: from,
      to_number: to,
      body: input.text,
      encoding: input.encoding,
      segments: input.segments,
      status: 'received',
      price_minor: 0,
      owner_node: null,
      smsc: null,
      error_code: null,
      created_at: now,
      updated_at: now,
      sent_at: null,
      completed_at: now,
    };
    let queued = 0;
    await this.store.sms.insert(row, [], async (trx, message) => (queued = await this.enqueue(trx, message)));
    if (queued) this.deps.webhooks.notify();
    return toMessage(row);
  }

  async get(accountId: string, id: string): Promise<SmsMessage> {
    const row = await this.store.sms.findById(accountId, id);
    if (!row) throw new DialplaneError('not_found', 'message not found');
    return toMessage(row);
  }

  async list(accountId: string, limit = 50, before?: { createdAt: string; id: string }): Promise<SmsMessage[]> {
    return (await this.store.sms.list(accountId, limit, before)).map(toMessage);
  }

  async history(accountId: string, id: string): Promise<SmsStatusEvent[]> {
    await this.get(accountId, id);
    return (await this.store.sms.events(id)).map((e) => ({ status: e.status, at: e.at, errorCode: e.error_code }));
  }

  /**
   * At start: messages left before every part was accepted have their unaccepted parts sent, when their sender is
   * gone (its lease ran out), was a previous run under this node's id, or is unknown (older rows). A live node's
   * unsent messages are its own to send.
   *
   * At most once: a part is marked `submitting` before its submit_sm is written, so a part found so was perhaps
   * taken by the SMSC and is never written again. Its message is settled `failed` with `submit_unconfirmed` instead
   * (its other unaccepted parts are not sent either); the segments never written are refunded, the others stay
   * charged.
   */
  async resumeUnsent(): Promise<number> {
    return this.resume(true);
  }

  /** The periodic sweep: unsent messages of other nodes whose lease has run out since are taken over and sent. */
  async resumeOrphaned(): Promise<number> {
    return this.resume(false);
  }

  private async resume(atStart: boolean): Promise<number> {
    const node = this.deps.node;
    if (!node && !atStart) return 0;
    // Only the node with the SMSC bind sends; messages stored for its account are taken up by sendQueued.
    if (!this.carrier) return 0;
    // Messages first, then the nodes alive: a sender alive now is in the second read whatever started in between.
    const route = this.route;
    const rows = (await this.store.sms.unsent()).filter((row) => route === undefined || row.smsc !== route.account);
    if (rows.length === 0) return 0;
    const live = node ? await node.liveNodes() : new Set<string>();
    let resumed = 0;
    for (const row of rows) {
      if (node) {
        if (!isOrphaned(row.owner_node, node.nodeId, live, atStart)) continue;
        if (this.submissions.has(row.id) || this.storing.has(row.id)) continue;
        // Taken over first, so two nodes sweeping at once never both send it.
        if (!(await this.store.sms.claim(row.id, row.owner_node, node.nodeId))) continue;
      }
      if (await this.submitUnsent(row)) resumed += 1;
    }
    return resumed;
  }

  /**
   * On the node holding the SMSC bind: submits every message stored `queued` for its SMSC account that this node is
   * not submitting already, whichever node accepted it (a node without the bind, or a holder that stopped or lost
   * the bind before every part was accepted). Parts already accepted are not sent again. One pass at a time.
   */
  sendQueued(): Promise<number> {
    this.picking ??= this.pickUp().finally(() => (this.picking = undefined));
    return this.picking;
  }

  private async pickUp(): Promise<number> {
    const route = this.route;
    if (!this.carrier || !route) return 0;
    const node = this.deps.node;
    let taken = 0;
    for (const row of await this.store.sms.queuedVia(route.account, PICKUP_BATCH)) {
      if (!this.carrier) break;
      if (this.submissions.has(row.id) || this.storing.has(row.id)) continue;
      // Made this node's first: a message is submitted by the node its row names.
      if (node && !(await this.store.sms.claim(row.id, row.owner_node, node.nodeId))) continue;
      if (this.submissions.has(row.id)) continue;
      if (await this.submitUnsent(row)) taken += 1;
    }
    return taken;
  }

  /**
   * Sends a stored message's parts not yet accepted; returns false when a part is found `submitting` (perhaps taken
   * by the SMSC before its sender stopped): such a message is settled unconfirmed and never written again.
   */
  private async submitUnsent(row: SmsMessageRow): Promise<boolean> {
    const parts = await this.store.sms.parts(row.id);
    if (parts.some((p) => p.status === 'submitting')) {
      await this.settleUnconfirmed(row);
      return false;
    }
    const segmentation = this.segmentation(row.body, parts.length);
    const submission = this.track(this.submit(row, segmentation, new Set(parts.filter((p) => p.status !== 'queued').map((p) => p.seq))));
    this.submissions.set(row.id, submission);
    void submission.finally(() => this.submissions.delete(row.id));
    return true;
  }

  private async settleUnconfirmed(row: SmsMessageRow): Promise<void> {
    const settled = await this.store.sms.settleUnconfirmed(row.id, isoNow(this.clock), (trx, message) => this.enqueue(trx, message));
    if (!settled) return;
    this.deps.webhooks.notify();
    const segments = Number(row.segments);
    const refund = segments > 0 ? Math.round((Number(row.price_minor) * settled.notSubmitted) / segments) : 0;
    if (refund > 0) {
      await this.deps.credits.refund(
        row.account_id,
        refund,
        `refund: SMS ${row.id}, ${settled.notSubmitted} segment${settled.notSubmitted === 1 ? '' : 's'} never submitted`,
        row.id,
      );
    }
    this.options.onWarning?.(`SMS ${row.id} to ${row.to_number} was being submitted when its server stopped; it is not sent again`, {
      sms: row.id,
      unconfirmed_parts: settled.unconfirmed,
      not_submitted_parts: settled.notSubmitted,
    });
  }

  /** Resolves when every submission started so far has been answered (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private segmentation(body: string, maxSegments = this.options.maxSegments): Segmentation {
    try {
      return segment(body, { maxSegments: Math.max(maxSegments, 1) });
    } catch (error) {
      if (error instanceof SmsTooLongError) {
        throw new DialplaneError('validation_failed', `message needs ${error.segments} segments; at most ${error.maxSegments} are sent`, {
          field: 'message',
          segments: error.segments,
          max_segments: error.maxSegments,
        });
      }
      throw error;
    }
  }

  private async submit(row: SmsMessageRow, segmentation: Segmentation, skip: ReadonlySet<number> = new Set()): Promise<void> {
    const carrier = this.carrier;
    if (!carrier) return;
    const seqs = segmentation.parts.map((_, seq) => seq).filter((seq) => !skip.has(seq));
    if (seqs.length === 0) return;
    const accepted: Array<Promise<void>> = [];
    try {
      await carrier.submit({
        from: row.from_number,
        to: row.to_number,
        dataCoding: segmentation.dataCoding,
        parts: seqs.map((seq) => segmentation.parts[seq]!),
        onPartAccepted: (index, smscId) => {
          accepted.push(this.partAccepted(row.id, seqs[index]!, smscId));
        },
        beforePartWrite: async (index) => {
          const seq = seqs[index]!;
          if (!(await this.store.sms.markSubmitting(row.id, seq, isoNow(this.clock)))) {
            throw new Error(`SMS ${row.id} part ${seq} is no longer queued`);
          }
        },
      });
    } catch (error) {
      await Promise.allSettled(accepted);
      // The carrier was detached meanwhile (the bind handed over to another node, or this node stopping): what it did
      // not get accepted stays queued for whichever node holds the bind next.
      if (this.carrier !== carrier) return;
      const code = String((error as { commandStatus?: unknown }).commandStatus ?? (error as { code?: unknown }).code ?? 'submit_failed');
      const failed = await this.store.sms.failUnsent(row.id, code, isoNow(this.clock), (trx, message) => this.enqueue(trx, message));
      if (failed) {
        this.deps.webhooks.notify();
        // Nothing of it reached the network: the charge is given back.
        if (Number(row.price_minor) > 0 && !skip.size && accepted.length === 0) {
          await this.deps.credits.refund(row.account_id, Number(row.price_minor), `refund: SMS ${row.id} refused by the SMSC`, row.id);
        }
      }
      const commandStatus = (error as { commandStatus?: unknown }).commandStatus;
      if (typeof commandStatus === 'number') {
        // The SMSC answered and said no (an address it will not take): an outcome of the message, not a fault here.
        this.options.onWarning?.(`SMS ${row.id} to ${row.to_number} was refused by the SMSC: ${(error as Error).message}`, {
          sms: row.id,
          command_status: commandStatus,
        });
      } else {
        this.options.onError?.(error, `SMS ${row.id} could not be submitted`);
      }
      return;
    }
    await Promise.all(accepted);
  }

  private async partAccepted(messageId: string, seq: number, smscId: string): Promise<void> {
    try {
      const change = await this.store.sms.updatePart(
        { messageId, seq },
        { status: 'sent', smscId },
        isoNow(this.clock),
        aggregateSmsStatus,
        (trx, message) => this.enqueueIfMoved(trx, message),
      );
      if (change?.moved) this.deps.webhooks.notify();
      const early = this.earlyReceipts.get(smscId);
      if (early) {
        this.earlyReceipts.delete(smscId);
        await this.applyReceipt(early.receipt);
      }
    } catch (error) {
      this.options.onError?.(error, `SMS ${messageId} part ${seq}: could not record its acceptance`);
    }
  }

  private track(work: Promise<void>): Promise<void> {
    const guarded = work.catch((error: unknown) => this.options.onError?.(error, 'SMS submission'));
    this.inFlight.add(guarded);
    void guarded.finally(() => this.inFlight.delete(guarded));
    return guarded;
  }

  private enqueueIfMoved(trx: Db, message: SmsMessageRow): Promise<number> {
    return this.enqueue(trx, message);
  }

  private enqueue(trx: Db, message: SmsMessageRow): Promise<number> {
    const webhooks = this.deps.webhooks;
    return webhooks.enqueue(trx, webhooks.event(message.account_id, `sms.${message.status}`, smsWebhookData(toMessage(message)), message.updated_at));
  }
}

export function smsWebhookData(message: SmsMessage): Record<string, unknown> {
  return {
    message_id: message.id,
    direction: message.direction,
    from: message.from,
    to: message.to,
    body: message.body,
    encoding: message.encoding,
    segments: message.segments,
    status: message.status,
    error_code: message.errorCode,
    created_at: message.createdAt,
    sent_at: message.sentAt,
    completed_at: message.completedAt,
  };
}

function safeNormalize(number: string, country: string): string | undefined {
  try {
    // SMPP carries international numbers without the plus (TON 1).
    return normalizePhoneNumber(/^\d{8,15}$/.test(number) ? `+${number}` : number, country);
  } catch {
    return undefined;
  }
}

export function toMessage(row: SmsMessageRow): SmsMessage {
  return {
    id: row.id,
    accountId: row.account_id,
    direction: row.direction,
    from: row.from_number,
    to: row.to_number,
    body: row.body,
    encoding: row.encoding,
    segments: Number(row.segments),
    status: row.status,
    priceMinor: Number(row.price_minor),
    errorCode: row.error_code,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    sentAt: row.sent_at,
    completedAt: row.completed_at,
  };
}
