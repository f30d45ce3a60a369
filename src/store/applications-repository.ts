import type { Database, Db } from './database.js';
import { SecretBox } from './secret-box.js';
import type { ApplicationRow, ApplicationsTable } from './schema.js';

/** What an update may change; the id, account and creation time never change. */
export type ApplicationChanges = Partial<Pick<ApplicationsTable, 'name' | 'call_hook' | 'status_hook' | 'program' | 'hook_secret'>>;

/** Voice applications. Every lookup is scoped to an account; writes that must go with others take the caller's transaction. */
export class ApplicationsRepository {
  private readonly db: Db;

  /** hook_secret is sealed in the database (see SecretBox). */
  constructor(
    private readonly database: Database,
    private readonly secrets: SecretBox = SecretBox.ephemeral(),
  ) {
    this.db = database.db;
  }

  async insert(trx: Db, row: ApplicationRow): Promise<void> {
    await trx.insertInto('applications').values(this.secrets.sealRow('applications', row)).execute();
  }

  async find(accountId: string, id: string): Promise<ApplicationRow | undefined> {
    const row = await this.db
      .selectFrom('applications')
      .selectAll()
      .where('account_id', '=', accountId)
      .where('id', '=', id)
      .executeTakeFirst();
    return row && this.secrets.openRow('applications', row);
  }

  async list(accountId: string): Promise<ApplicationRow[]> {
    const rows = await this.db
      .selectFrom('applications')
      .selectAll()
      .where('account_id', '=', accountId)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map((row) => this.secrets.openRow('applications', row));
  }

  /**
   * Changes an application of the account, running `alongside` (given the changed row) in the same transaction.
   * Undefined when it is not the account's, and then nothing is written.
   */
  async update(
    accountId: string,
    id: string,
    changes: ApplicationChanges,
    alongside: (trx: Db, row: ApplicationRow) => Promise<void>,
  ): Promise<ApplicationRow | undefined> {
    return this.database.write(async (trx) => {
      const sealed =
        Object.keys(changes).length === 0
          ? await trx.selectFrom('applications').selectAll().where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst()
          : await trx
              .updateTable('applications')
              .set(this.secrets.sealRow('applications', changes))
              .where('account_id', '=', accountId)
              .where('id', '=', id)
              .returningAll()
              .executeTakeFirst();
      if (!sealed) return undefined;
      const row = this.secrets.openRow('applications', sealed);
      await alongside(trx, row);
      return row;
    });
  }

  /**
   * Deletes an application no number routes to, running `alongside` in the same transaction. Undefined when it is
   * not the account's; `{ routedNumbers }` (not empty, nothing deleted) when numbers still route to it.
   */
  async deleteUnrouted(
    accountId: string,
    id: string,
    alongside: (trx: Db) => Promise<void>,
  ): Promise<{ routedNumbers: string[] } | undefined> {
    return this.database.write(async (trx) => {
      const found = await trx
        .selectFrom('applications')
        .select('id')
        .where('account_id', '=', accountId)
        .where('id', '=', id)
        .executeTakeFirst();
      if (!found) return undefined;
      const routed = await trx
        .selectFrom('phone_numbers')
        .select('number')
        .where('application_id', '=', id)
        .orderBy('number')
        .execute();
      if (routed.length > 0) return { routedNumbers: routed.map((r) => r.number) };
      await alongside(trx);
      await trx.deleteFrom('applications').where('account_id', '=', accountId).where('id', '=', id).execute();
      return { routedNumbers: [] };
    });
  }
}

/** A foreign-key violation: a row still refers to the one being deleted (each driver spells it its own way). */
export function isForeignKeyViolation(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const code = (error as { code?: unknown }).code;
  return code === '23503' || code === 'SQLITE_CONSTRAINT_FOREIGNKEY';
}
