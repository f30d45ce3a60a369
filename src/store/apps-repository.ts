import type { Database, Db } from './database.js';
import { SecretBox } from './secret-box.js';
import type { ApiKeyRow, GatewayAppRow } from './schema.js';

export class AppsRepository {
  private readonly db: Db;

  /** webhook_secret is sealed in the database (see SecretBox). */
  constructor(
    private readonly database: Database,
    private readonly secrets: SecretBox = SecretBox.ephemeral(),
  ) {
    this.db = database.db;
  }

  /** An app and its key are one unit: neither exists without the other (nor without what `also` writes). */
  async insertWithKey(app: GatewayAppRow, key: ApiKeyRow, also?: (trx: Db) => Promise<void>): Promise<void> {
    await this.database.write(async (trx) => {
      await trx.insertInto('gateway_apps').values(this.secrets.sealRow('gateway_apps', app)).execute();
      await trx.insertInto('api_keys').values(key).execute();
      await also?.(trx);
    });
  }

  /** Changes an app's columns and, in the same write, whatever `also` writes (its webhook endpoint). */
  async update(accountId: string, id: string, changes: Partial<GatewayAppRow>, also?: (trx: Db) => Promise<void>): Promise<void> {
    await this.database.write(async (trx) => {
      const { id: _id, account_id: _account, ...columns } = changes;
      if (Object.keys(columns).length > 0) {
        await trx.updateTable('gateway_apps').set(this.secrets.sealRow('gateway_apps', columns)).where('account_id', '=', accountId).where('id', '=', id).execute();
      }
      await also?.(trx);
    });
  }

  async findById(accountId: string, id: string): Promise<GatewayAppRow | undefined> {
    const row = await this.db
      .selectFrom('gateway_apps')
      .selectAll()
      .where('account_id', '=', accountId)
      .where('id', '=', id)
      .executeTakeFirst();
    return row && this.secrets.openRow('gateway_apps', row);
  }

  async list(accountId: string): Promise<GatewayAppRow[]> {
    const rows = await this.db
      .selectFrom('gateway_apps')
      .selectAll()
      .where('account_id', '=', accountId)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map((row) => this.secrets.openRow('gateway_apps', row));
  }
}
