import type { Database, Db } from './database.js';
import type { WorkClaimRow } from './schema.js';

/**
 * Named claims on work one node does for all the nodes sharing the database. A claim is taken by writing it when no
 * row exists, when its lease has run out, or when the writer already holds it (a renewal); one conditional upsert,
 * so two nodes trying at once cannot both succeed. Times are ISO-8601 UTC text of one fixed width, as the nodes'.
 */
export class ClaimsRepository {
  private readonly db: Db;
  /**
   * SQLite serves one server: a claim another id holds there was left by an earlier run of it (a crash), and is taken
   * at once rather than after its lease, so a restart binds and registers without waiting.
   */
  private readonly oneServer: boolean;

  constructor(database: Database) {
    this.db = database.db;
    this.oneServer = database.dialect === 'sqlite';
  }

  /** Takes or renews `name` for `holder` until `until`; true when `holder` holds it now. */
  async acquire(name: string, holder: string, now: string, until: string): Promise<boolean> {
    const row = await this.db
      .insertInto('work_claims')
      .values({ name, holder, acquired_at: now, lease_until: until })
      .onConflict((oc) =>
        oc
          .column('name')
          .doUpdateSet((eb) => ({
            holder,
            lease_until: until,
            // A renewal keeps the time the holder first took it.
            acquired_at: eb.case().when('work_claims.holder', '=', holder).then(eb.ref('work_claims.acquired_at')).else(now).end(),
          }))
          .where((eb) =>
            this.oneServer ? eb.lit(true) : eb.or([eb('work_claims.holder', '=', holder), eb('work_claims.lease_until', '<=', now)]),
          ),
      )
      .returning('holder')
      .executeTakeFirst();
    return row?.holder === holder;
  }

  /** Gives the claim up now if `holder` still holds it (a clean stop): another node may take it at once. */
  async release(name: string, holder: string, at: string): Promise<void> {
    await this.db.updateTable('work_claims').set({ lease_until: at }).where('name', '=', name).where('holder', '=', holder).execute();
  }

  async find(name: string): Promise<WorkClaimRow | undefined> {
    return this.db.selectFrom('work_claims').selectAll().where('name', '=', name).executeTakeFirst();
  }
}
