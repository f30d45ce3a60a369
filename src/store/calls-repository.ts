import { sql } from 'kysely';
import type { Database, Db } from './database.js';
import { olderThan, type Cursor } from './cursor.js';
import { definedColumns, StatementCache } from './statement-cache.js';
import type { CallActivityRow, CallEventRow, CallRow, CallsTable, RecordingRow } from './schema.js';

export type CallEventInput = Omit<CallEventRow, 'seq'>;
export type CallActivityInput = Omit<CallActivityRow, 'seq'>;
export type CallChanges = Partial<Omit<CallRow, 'id' | 'account_id' | 'created_at'>>;

export class CallsRepository {
  private readonly db: Db;
  /** Every call writes its row, its events and its state changes: those statements are compiled once per shape. */
  private readonly statements: StatementCache;

  constructor(private readonly database: Database) {
    this.db = database.db;
    this.statements = new StatementCache(database);
  }

  /** `also` runs in the same transaction (the webhook outbox), so what it writes is stored exactly when the call is. */
  async insert<T>(call: CallRow, events: readonly CallEventInput[], also?: (trx: Db) => Promise<T>): Promise<T | undefined> {
    return this.database.write(async (trx) => {
      await this.insertRows(trx, 'calls', [call]);
      await this.insertRows(trx, 'call_events', events);
      return also?.(trx);
    });
  }

  /**
   * Moves a call to a new state only from one of `from`: the state change and its event are one write, and a stale
   * transition (a 180 arriving after the call ended) changes nothing. Returns the updated row.
   */
  async transition(
    id: string,
    from: readonly CallsTable['state'][],
    changes: CallChanges,
    event: CallEventInput,
    also?: (trx: Db, row: CallRow) => Promise<unknown>,
  ): Promise<CallRow | undefined> {
    return this.database.write(async (trx) => {
      const columns: string[] = [];
      const values: unknown[] = [];
      definedColumns(changes, columns, values);
      values.push(id);
      for (const state of from) values.push(state);
      const row = await this.statements.first(trx, this.statements.shapeKey('calls.transition', columns, from.length), values, (v) =>
        trx
          .updateTable('calls')
          .set(Object.fromEntries(columns.map((column, i) => [column, v[i]])) as CallChanges)
          .where('id', '=', v[columns.length] as string)
          .where('state', 'in', v.slice(columns.length + 1) as CallsTable['state'][])
          .returningAll(),
      );
      if (row) {
        await this.insertRows(trx, 'call_events', [event]);
        await also?.(trx, row);
      }
      return row;
    });
  }

  /** Rows of one table that have the same columns, in one statement. */
  private async insertRows(trx: Db, table: 'calls' | 'call_events', rows: readonly (CallRow | CallEventInput)[]): Promise<void> {
    if (rows.length === 0) return;
    const columns: string[] = [];
    const values: unknown[] = [];
    definedColumns(rows[0]!, columns, values);
    for (let r = 1; r < rows.length; r++) {
      const before = values.length;
      const record = rows[r] as unknown as Record<string, unknown>;
      let count = 0;
      for (const key in record) if (record[key] !== undefined) count++;
      for (const column of columns) values.push(record[column]);
      if (count !== columns.length || values.indexOf(undefined, before) !== -1) {
        // Rows with different columns: an ordinary insert (missing columns take their defaults).
        await trx.insertInto(table).values([...rows] as never).execute();
        return;
      }
    }
    await this.statements.execute(trx, this.statements.shapeKey(table === 'calls' ? 'calls.insert' : 'call_events.insert', columns, rows.length), values, (v) =>
      trx.insertInto(table).values(
        rows.map((_, r) => Object.fromEntries(columns.map((column, c) => [column, v[r * columns.length + c]]))) as never,
      ),
    );
  }

  async findById(accountId: string, id: string): Promise<CallRow | undefined> {
    return this.db
      .selectFrom('calls')
      .selectAll()
      .where('account_id', '=', accountId)
      .where('id', '=', id)
      .executeTakeFirst();
  }

  /** By id alone: for the call engine, which owns the call whatever its account. */
  async findAny(id: string): Promise<CallRow | undefined> {
    return this.db.selectFrom('calls').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async list(accountId: string, limit: number, before?: Cursor): Promise<CallRow[]> {
    let query = this.db.selectFrom('calls').selectAll().where('account_id', '=', accountId);
    if (before) query = query.where(olderThan(before));
    return query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
  }

  /** The legs placed for a call (its second leg), oldest first. */
  async children(accountId: string, parentId: string): Promise<CallRow[]> {
    return this.db
      .selectFrom('calls')
      .selectAll()
      .where('account_id', '=', accountId)
      .where('parent_call_id', '=', parentId)
      .orderBy('created_at')
      .execute();
  }

  /** Calls that are not a leg of another call. */
  async listTop(accountId: string, limit: number, before?: Cursor): Promise<CallRow[]> {
    let query = this.db.selectFrom('calls').selectAll().where('account_id', '=', accountId).where('parent_call_id', 'is', null);
    if (before) query = query.where(olderThan(before));
    return query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
  }

  async events(callId: string): Promise<CallEventRow[]> {
    return this.db.selectFrom('call_events').selectAll().where('call_id', '=', callId).orderBy('seq').execute();
  }

  /** The node owning each of `ids` that exists (null: no node owns it). */
  async ownersOf(ids: readonly string[]): Promise<Map<string, string | null>> {
    const owners = new Map<string, string | null>();
    // In slices: SQLite caps the parameters of one statement.
    for (let i = 0; i < ids.length; i += 500) {
      const rows = await this.db.selectFrom('calls').select(['id', 'owner_node']).where('id', 'in', ids.slice(i, i + 500)).execute();
      for (const row of rows) owners.set(row.id, row.owner_node);
    }
    return owners;
  }

  /** Calls not yet ended: read through the partial index calls_live, which only a literal 'ended' can use. */
  async unfinished(): Promise<CallRow[]> {
    return this.db.selectFrom('calls').selectAll().where('state', '!=', sql.lit('ended')).execute();
  }

  /** What an ended leg was charged, written with its end. */
  async setCost(trx: Db, id: string, costMinor: number): Promise<void> {
    await trx.updateTable('calls').set({ cost_minor: costMinor }).where('id', '=', id).execute();
  }

  async addActivity(activity: CallActivityInput): Promise<void> {
    await this.database.write((trx) => trx.insertInto('call_activities').values(activity).execute());
  }

  /** The activities of a call and of its legs, oldest first. */
  async activities(callIds: readonly string[]): Promise<CallActivityRow[]> {
    if (callIds.length === 0) return [];
    return this.db.selectFrom('call_activities').selectAll().where('call_id', 'in', callIds).orderBy('seq').execute();
  }

  async addRecording(recording: RecordingRow): Promise<void> {
    await this.database.write((trx) => trx.insertInto('recordings').values(recording).execute());
  }

  /** A call's recordings without their audio. */
  async recordings(accountId: string, callIds: readonly string[]): Promise<Omit<RecordingRow, 'wav'>[]> {
    if (callIds.length === 0) return [];
    return this.db
      .selectFrom('recordings')
      .select(['id', 'account_id', 'call_id', 'duration_ms', 'created_at'])
      .where('account_id', '=', accountId)
      .where('call_id', 'in', callIds)
      .orderBy('created_at')
      .execute();
  }

  async recording(accountId: string, id: string): Promise<RecordingRow | undefined> {
    return this.db.selectFrom('recordings').selectAll().where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
  }
}
