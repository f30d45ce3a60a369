import { sql } from 'kysely';
import type { ListQuery } from '../core/query/list-query.js';
import { apiKeyResource, callResource, fieldTypes, recordingResource, userResource } from '../core/query/resources.js';
import type { Database, Db } from './database.js';
import { countOf, pageSql, type PageRows } from './query/list-page.js';
import { apiKeySource, callSource, recordingSource, userSource } from './query/list-sources.js';
import type { ApiKeyRow, CallRow, RecordingRow, UserRow } from './schema.js';

const userTypes = fieldTypes(userResource);
const keyTypes = fieldTypes(apiKeyResource);
const callTypes = fieldTypes(callResource);
const recordingTypes = fieldTypes(recordingResource);

/** Pages of an account's users, API keys, calls and recordings, filtered and sorted by a checked list query. */
export class DirectoryRepository {
  private readonly db: Db;

  constructor(private readonly database: Database) {
    this.db = database.db;
  }

  async users(accountId: string, query: ListQuery): Promise<PageRows<UserRow>> {
    const { where, order, limit, offset } = pageSql(query, userSource, userTypes, this.database.dialect);
    const base = this.db.selectFrom('users as u').where('u.account_id', '=', accountId).where(where);
    const count = await base.select(sql<number>`count(*)`.as('n')).executeTakeFirst();
    let rows = base.selectAll('u');
    for (const key of order) rows = rows.orderBy(key);
    return { rows: await rows.limit(limit).offset(offset).execute(), total: countOf(count) };
  }

  /** The account's own keys (a gateway app's keys belong to the app and are not listed). */
  async apiKeys(accountId: string, query: ListQuery): Promise<PageRows<ApiKeyRow>> {
    const { where, order, limit, offset } = pageSql(query, apiKeySource, keyTypes, this.database.dialect);
    const base = this.db.selectFrom('api_keys as k').where('k.account_id', '=', accountId).where('k.app_id', 'is', null).where(where);
    const count = await base.select(sql<number>`count(*)`.as('n')).executeTakeFirst();
    let rows = base.selectAll('k');
    for (const key of order) rows = rows.orderBy(key);
    return { rows: await rows.limit(limit).offset(offset).execute(), total: countOf(count) };
  }

  /** Calls that are not a leg of another call, with the legs of each. */
  async calls(accountId: string, query: ListQuery): Promise<PageRows<{ call: CallRow; legs: CallRow[] }>> {
    const { where, order, limit, offset } = pageSql(query, callSource, callTypes, this.database.dialect);
    const base = this.db.selectFrom('calls as cl').where('cl.account_id', '=', accountId).where('cl.parent_call_id', 'is', null).where(where);
    const count = await base.select(sql<number>`count(*)`.as('n')).executeTakeFirst();
    let rows = base.selectAll('cl');
    for (const key of order) rows = rows.orderBy(key);
    const calls = await rows.limit(limit).offset(offset).execute();
    const legs =
      calls.length === 0
        ? []
        : await this.db
            .selectFrom('calls')
            .selectAll()
            .where('account_id', '=', accountId)
            .where('parent_call_id', 'in', calls.map((c) => c.id))
            .execute();
    return { rows: calls.map((call) => ({ call, legs: legs.filter((leg) => leg.parent_call_id === call.id) })), total: countOf(count) };
  }

  async recordings(accountId: string, query: ListQuery): Promise<PageRows<Omit<RecordingRow, 'wav'>>> {
    const { where, order, limit, offset } = pageSql(query, recordingSource, recordingTypes, this.database.dialect);
    const base = this.db.selectFrom('recordings as r').where('r.account_id', '=', accountId).where(where);
    const count = await base.select(sql<number>`count(*)`.as('n')).executeTakeFirst();
    let rows = base.select(['r.id', 'r.account_id', 'r.call_id', 'r.duration_ms', 'r.created_at']);
    for (const key of order) rows = rows.orderBy(key);
    return { rows: await rows.limit(limit).offset(offset).execute(), total: countOf(count) };
  }

  /** Users who may sign in with this email, in any account (an email is unique only within one account). */
  async usersByEmail(email: string): Promise<UserRow[]> {
    return this.db.selectFrom('users').selectAll().where('email', '=', email).where('password_hash', 'is not', null).execute();
  }

  async setPassword(accountId: string, userId: string, hash: string): Promise<boolean> {
    const result = await this.db
      .updateTable('users')
      .set({ password_hash: hash })
      .where('account_id', '=', accountId)
      .where('id', '=', userId)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }
}
