import type { Database, Db } from './database.js';
import type { ApiKeyRow, GatewayAppRow } from './schema.js';

export class AppsRepository {
  private readonly db: Db;

  constructor(private readonly database: Database) {
    this.db = database.db;
  }

  /** An app and its key are one unit: neither exists without the other. */
  async insertWithKey(app: GatewayAppRow, key: ApiKeyRow): Promise<void> {
    await this.database.write(async (trx) => {
      await trx.insertInto('gateway_apps').values(app).execute();
      await trx.insertInto('api_keys').values(key).execute();
    });
  }

  async findById(accountId: string, id: string): Promise<GatewayAppRow | undefined> {
    return this.db
      .selectFrom('gateway_apps')
      .selectAll()
      .where('account_id', '=', accountId)
      .where('id', '=', id)
      .executeTakeFirst();
  }

  async list(accountId: string): Promise<GatewayAppRow[]> {
    return this.db
      .selectFrom('gateway_apps')
      .selectAll()
      .where('account_id', '=', accountId)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
  }
}
