import type { Database, Db } from './database.js';
import type { PhoneNumberRow } from './schema.js';

export class NumbersRepository {
  private readonly db: Db;

  constructor(database: Database) {
    this.db = database.db;
  }

  async insert(row: PhoneNumberRow): Promise<void> {
    await this.db.insertInto('phone_numbers').values(row).execute();
  }

  async list(accountId: string): Promise<PhoneNumberRow[]> {
    return this.db
      .selectFrom('phone_numbers')
      .selectAll()
      .where('account_id', '=', accountId)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
  }

  async findByNumber(number: string): Promise<PhoneNumberRow | undefined> {
    return this.db.selectFrom('phone_numbers').selectAll().where('number', '=', number).executeTakeFirst();
  }
}
