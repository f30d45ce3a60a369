import type { Database, Db } from './database.js';
import type { PriceRow, PricesTable } from './schema.js';

export class PricesRepository {
  private readonly db: Db;

  constructor(database: Database) {
    this.db = database.db;
  }

  async insert(row: PriceRow): Promise<void> {
    await this.db.insertInto('prices').values(row).execute();
  }

  /** Candidates for a destination: every row of the kind whose prefix the destination starts with. */
  async candidates(kind: PricesTable['kind'], accountId: string, destination: string): Promise<PriceRow[]> {
    const prefixes = Array.from({ length: destination.length + 1 }, (_, i) => destination.slice(0, i));
    return this.db
      .selectFrom('prices')
      .selectAll()
      .where('kind', '=', kind)
      .where('prefix', 'in', prefixes)
      .where((eb) => eb.or([eb('account_id', '=', accountId), eb('account_id', 'is', null)]))
      .execute();
  }

  async list(accountId: string | null): Promise<PriceRow[]> {
    const query = this.db.selectFrom('prices').selectAll();
    return (accountId === null ? query.where('account_id', 'is', null) : query.where('account_id', '=', accountId))
      .orderBy('kind')
      .orderBy('prefix')
      .execute();
  }
}
