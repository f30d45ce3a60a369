import type { Database, Db } from './database.js';
import { olderThan, type Cursor } from './cursor.js';
import type { SmsEventRow, SmsMessageRow, SmsPartRow, SmsStatus } from './schema.js';

export type SmsPartStatus = SmsPartRow['status'];

/** The error code of a message (and part) whose submit_sm may have reached the SMSC before a crash. */
export const UNCONFIRMED = 'submit_unconfirmed';

/**
 * Takes the message's row lock (a write that changes nothing) before its parts are changed, so the transactions on one
 * message's parts run one after another: on PostgreSQL two parts settled at once would otherwise each read the other
 * as it was before, and neither would see the whole message done. Messages are always locked before their parts.
 */
async function lockMessage(trx: Db, messageId: string): Promise<void> {
  await trx
    .updateTable('sms_messages')
    .set((eb) => ({ updated_at: eb.ref('updated_at') }))
    .where('id', '=', messageId)
    .execute();
}

/** What a change did to the whole message: its row after the change, when its status moved. */
export interface SmsChange {
  readonly message: SmsMessageRow;
  readonly moved: boolean;
}

/**
 * Messages, their parts (one per submit_sm, matched to receipts by the SMSC's id) and their status history. Every
 * status change of a message and its event are one write, with whatever `also` writes (the webhook outbox).
 */
export class SmsRepository {
  private readonly db: Db;

  constructor(private readonly database: Database) {
    this.db = database.db;
  }

  async insert(
    message: SmsMessageRow,
    parts: readonly SmsPartRow[],
    also?: (trx: Db, message: SmsMessageRow) => Promise<unknown>,
  ): Promise<void> {
    await this.database.write(async (trx) => {
      await trx.insertInto('sms_messages').values(message).execute();
      if (parts.length > 0) await trx.insertInto('sms_parts').values([...parts]).execute();
      await trx.insertInto('sms_events').values({ message_id: message.id, status: message.status, at: message.created_at, error_code: null }).execute();
      await also?.(trx, message);
    });
  }

  /**
   * Updates one part, then the message's status from all its parts with `aggregate`; a status that moved is
   * stored with its event (and `also`) in the same write.
   */
  async updatePart(
    where: { messageId: string; seq: number } | { smscId: string },
    changes: { status: SmsPartStatus; smscId?: string; errorCode?: string | null },
    now: string,
    aggregate: (current: SmsStatus, parts: readonly SmsPartStatus[]) => SmsStatus,
    also?: (trx: Db, message: SmsMessageRow) => Promise<unknown>,
  ): Promise<SmsChange | undefined> {
    return this.database.write(async (trx) => {
      const messageId =
        'smscId' in where
          ? (await trx.selectFrom('sms_parts').select('message_id').where('smsc_id', '=', where.smscId).executeTakeFirst())?.message_id
          : where.messageId;
      if (messageId === undefined) return undefined;
      await lockMessage(trx, messageId);
      let query = trx
        .updateTable('sms_parts')
        .set({
          status: changes.status,
          updated_at: now,
          ...(changes.smscId !== undefined ? { smsc_id: changes.smscId } : {}),
          ...(changes.errorCode !== undefined ? { error_code: changes.errorCode } : {}),
        })
        .where('message_id', '=', messageId);
      query = 'smscId' in where ? query.where('smsc_id', '=', where.smscId) : query.where('seq', '=', where.seq);
      const part = await query.returning(['message_id']).executeTakeFirst();
      if (!part) return undefined;
      const message = await trx.selectFrom('sms_messages').selectAll().where('id', '=', part.message_id).executeTakeFirstOrThrow();
      const statuses = (await trx.selectFrom('sms_parts').select('status').where('message_id', '=', message.id).orderBy('seq').execute()).map(
        (row) => row.status,
      );
      const next = aggregate(message.status, statuses);
      if (next === message.status) return { message, moved: false };
      const final = next === 'delivered' || next === 'undelivered' || next === 'failed';
      const updated = await trx
        .updateTable('sms_messages')
        .set({
          status: next,
          updated_at: now,
          ...(next === 'sent' || (final && message.sent_at === null && next !== 'failed') ? { sent_at: now } : {}),
          ...(final ? { completed_at: now } : {}),
          ...(changes.errorCode ? { error_code: changes.errorCode } : {}),
        })
        .where('id', '=', message.id)
        .returningAll()
        .executeTakeFirstOrThrow();
      await trx.insertInto('sms_events').values({ message_id: message.id, status: next, at: now, error_code: changes.errorCode ?? null }).execute();
      await also?.(trx, updated);
      return { message: updated, moved: true };
    });
  }

  /** Records, before a part's submit_sm is written, that it may reach the SMSC. False when the part was not queued. */
  async markSubmitting(messageId: string, seq: number, now: string): Promise<boolean> {
    return this.database.write(async (trx) => {
      const result = await trx
        .updateTable('sms_parts')
        .set({ status: 'submitting', updated_at: now })
        .where('message_id', '=', messageId)
        .where('seq', '=', seq)
        .where('status', '=', 'queued')
        .executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    });
  }

  /**
   * Settles a message a crash left with parts whose submit_sm may have been written (`submitting`): those parts fail
   * with `submit_unconfirmed`, the parts never written with `not_submitted`, and the message fails with
   * `submit_unconfirmed`, in one write with its event (and `also`). Undefined when it was no longer queued.
   */
  async settleUnconfirmed(
    messageId: string,
    now: string,
    also?: (trx: Db, message: SmsMessageRow) => Promise<unknown>,
  ): Promise<{ message: SmsMessageRow; unconfirmed: number; notSubmitted: number } | undefined> {
    return this.database.write(async (trx) => {
      const updated = await trx
        .updateTable('sms_messages')
        .set({ status: 'failed', error_code: UNCONFIRMED, updated_at: now, completed_at: now })
        .where('id', '=', messageId)
        .where('status', '=', 'queued')
        .returningAll()
        .executeTakeFirst();
      if (!updated) return undefined;
      const unconfirmed = await trx
        .updateTable('sms_parts')
        .set({ status: 'failed', error_code: UNCONFIRMED, updated_at: now })
        .where('message_id', '=', messageId)
        .where('status', '=', 'submitting')
        .executeTakeFirst();
      const notSubmitted = await trx
        .updateTable('sms_parts')
        .set({ status: 'failed', error_code: 'not_submitted', updated_at: now })
        .where('message_id', '=', messageId)
        .where('status', '=', 'queued')
        .executeTakeFirst();
      await trx.insertInto('sms_events').values({ message_id: messageId, status: 'failed', at: now, error_code: UNCONFIRMED }).execute();
      await also?.(trx, updated);
      return { message: updated, unconfirmed: Number(unconfirmed.numUpdatedRows), notSubmitted: Number(notSubmitted.numUpdatedRows) };
    });
  }

  /** Fails every part not yet accepted, and the message with them. */
  async failUnsent(
    messageId: string,
    errorCode: string,
    now: string,
    also?: (trx: Db, message: SmsMessageRow) => Promise<unknown>,
  ): Promise<SmsMessageRow | undefined> {
    return this.database.write(async (trx) => {
      await lockMessage(trx, messageId);
      await trx
        .updateTable('sms_parts')
        .set({ status: 'failed', error_code: errorCode, updated_at: now })
        .where('message_id', '=', messageId)
        .where('status', 'in', ['queued', 'submitting'])
        .execute();
      const updated = await trx
        .updateTable('sms_messages')
        .set({ status: 'failed', error_code: errorCode, updated_at: now, completed_at: now })
        .where('id', '=', messageId)
        .where('status', 'in', ['queued', 'sent'])
        .returningAll()
        .executeTakeFirst();
      if (!updated) return undefined;
      await trx.insertInto('sms_events').values({ message_id: messageId, status: 'failed', at: now, error_code: errorCode }).execute();
      await also?.(trx, updated);
      return updated;
    });
  }

  async findById(accountId: string, id: string): Promise<SmsMessageRow | undefined> {
    return this.db.selectFrom('sms_messages').selectAll().where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
  }

  async list(accountId: string, limit: number, before?: Cursor): Promise<SmsMessageRow[]> {
    let query = this.db.selectFrom('sms_messages').selectAll().where('account_id', '=', accountId);
    if (before) query = query.where(olderThan(before));
    return query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
  }

  async events(messageId: string): Promise<SmsEventRow[]> {
    return this.db.selectFrom('sms_events').selectAll().where('message_id', '=', messageId).orderBy('seq').execute();
  }

  async parts(messageId: string): Promise<SmsPartRow[]> {
    return this.db.selectFrom('sms_parts').selectAll().where('message_id', '=', messageId).orderBy('seq').execute();
  }

  /**
   * Makes this node the sender of an unsent message, only if its owner is still `from` (another node's sweep may have
   * taken it first). True when taken.
   */
  async claim(messageId: string, from: string | null, to: string): Promise<boolean> {
    let query = this.db.updateTable('sms_messages').set({ owner_node: to }).where('id', '=', messageId).where('status', '=', 'queued');
    query = from === null ? query.where('owner_node', 'is', null) : query.where('owner_node', '=', from);
    const result = await query.executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /** Outbound messages not yet accepted by the SMSC that are to go through this SMSC account, oldest first. */
  async queuedVia(smsc: string, limit: number): Promise<SmsMessageRow[]> {
    return this.db
      .selectFrom('sms_messages')
      .selectAll()
      .where('status', '=', 'queued')
      .where('smsc', '=', smsc)
      .where('direction', '=', 'outbound')
      .orderBy('created_at')
      .orderBy('id')
      .limit(limit)
      .execute();
  }

  /** Outbound messages a crash left before every part was accepted: they are sent again (their unsent parts). */
  async unsent(): Promise<SmsMessageRow[]> {
    return this.db.selectFrom('sms_messages').selectAll().where('status', '=', 'queued').where('direction', '=', 'outbound').execute();
  }
}
