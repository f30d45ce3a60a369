import type { Database, Db } from './database.js';
import type { ApiKeyRow } from './schema.js';

export class ApiKeysRepository {
  private readonly db: Db;

  constructor(private readonly database: Database) {
    this.db = database.db;
  }

  async insert(row: ApiKeyRow): Promise<void> {
    await this.db.insertInto('api_keys').values(row).execute();
  }

  async findByHash(hash: string): Promise<ApiKeyRow | undefined> {
    return this.db.selectFrom('api_keys').selectAll().where('key_hash', '=', hash).executeTakeFirst();
  }

  async findById(accountId: string, id: string): Promise<ApiKeyRow | undefined> {
    return this.db
      .selectFrom('api_keys')
      .selectAll()
      .where('account_id', '=', accountId)
      .where('id', '=', id)
      .executeTakeFirst();
  }

  async list(accountId: string): Promise<ApiKeyRow[]> {
    return this.db
      .selectFrom('api_keys')
      .selectAll()
      .where('account_id', '=', accountId)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
  }

  async setEnabled(accountId: string, id: string, enabled: boolean): Promise<ApiKeyRow | undefined> {
    return this.db
      .updateTable('api_keys')
      .set({ enabled: enabled ? 1 : 0 })
      .where('account_id', '=', accountId)
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
  }

  async touch(usage: ReadonlyMap<string, string>): Promise<void> {
    if (usage.size === 0) return;
    await this.database.write(async (trx) => {
      for (const [id, at] of usage) {
        await trx.updateTable('api_keys').set({ last_used_at: at }).where('id', '=', id).execute();
      }
    });
  }
}
