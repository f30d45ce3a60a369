import type { Database, Db } from './database.js';
import type { AccountRow, UserRow } from './schema.js';

export class AccountsRepository {
  private readonly db: Db;

  constructor(private readonly database: Database) {
    this.db = database.db;
  }

  async insertWithUser(account: AccountRow, user: UserRow): Promise<void> {
    await this.database.write(async (trx) => {
      await trx.insertInto('accounts').values(account).execute();
      await trx.insertInto('users').values(user).execute();
    });
  }

  async insertUser(user: UserRow): Promise<void> {
    await this.db.insertInto('users').values(user).execute();
  }

  async updateUser(accountId: string, userId: string, changes: Partial<Pick<UserRow, 'status' | 'view_only' | 'admin'>>) {
    return this.db
      .updateTable('users')
      .set(changes)
      .where('account_id', '=', accountId)
      .where('id', '=', userId)
      .returningAll()
      .executeTakeFirst();
  }

  async listUsers(accountId: string): Promise<UserRow[]> {
    return this.db.selectFrom('users').selectAll().where('account_id', '=', accountId).orderBy('created_at').orderBy('id').execute();
  }

  async findById(id: string): Promise<AccountRow | undefined> {
    return this.db.selectFrom('accounts').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async list(): Promise<AccountRow[]> {
    return this.db.selectFrom('accounts').selectAll().orderBy('created_at').orderBy('id').execute();
  }

  async count(): Promise<number> {
    const row = await this.db.selectFrom('accounts').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  async findUser(accountId: string, userId: string): Promise<UserRow | undefined> {
    return this.db
      .selectFrom('users')
      .selectAll()
      .where('account_id', '=', accountId)
      .where('id', '=', userId)
      .executeTakeFirst();
  }

  /** The account's first admin: the user a key without its own user speaks for. */
  async findOwner(accountId: string): Promise<UserRow | undefined> {
    return this.db
      .selectFrom('users')
      .selectAll()
      .where('account_id', '=', accountId)
      .orderBy('admin', 'desc')
      .orderBy('created_at')
      .orderBy('id')
      .executeTakeFirst();
  }
}
