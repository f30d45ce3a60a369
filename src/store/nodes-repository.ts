import type { Database, Db } from './database.js';
import type { NodeRow } from './schema.js';

/**
 * The nodes (server processes) sharing the database and their leases. Times are ISO-8601 UTC text of one fixed
 * width, so comparing them as text orders them in time on both dialects.
 */
export class NodesRepository {
  private readonly db: Db;

  constructor(database: Database) {
    this.db = database.db;
  }

  /** Writes the node's row; a node id used before (a restart with a configured id) starts a new lease. */
  async register(row: NodeRow): Promise<NodeRow | undefined> {
    const previous = await this.find(row.id);
    await this.db
      .insertInto('nodes')
      .values(row)
      .onConflict((oc) =>
        oc.column('id').doUpdateSet({ started_at: row.started_at, heartbeat_at: row.heartbeat_at, lease_until: row.lease_until }),
      )
      .execute();
    return previous;
  }

  /** Extends the lease; false when the row is gone (pruned after a long silence), so the caller registers again. */
  async renew(id: string, heartbeatAt: string, leaseUntil: string): Promise<boolean> {
    const result = await this.db
      .updateTable('nodes')
      .set({ heartbeat_at: heartbeatAt, lease_until: leaseUntil })
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /** Ends the lease now (a clean shutdown): the node's leftovers are anyone's from this moment. */
  async expire(id: string, at: string): Promise<void> {
    await this.db.updateTable('nodes').set({ lease_until: at }).where('id', '=', id).execute();
  }

  async find(id: string): Promise<NodeRow | undefined> {
    return this.db.selectFrom('nodes').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** Nodes whose lease runs past `now`. */
  async live(now: string): Promise<string[]> {
    return (await this.db.selectFrom('nodes').select('id').where('lease_until', '>', now).orderBy('id').execute()).map((r) => r.id);
  }

  /** Nodes whose lease has run out by `now`. */
  async expired(now: string): Promise<string[]> {
    return (await this.db.selectFrom('nodes').select('id').where('lease_until', '<=', now).orderBy('id').execute()).map((r) => r.id);
  }

  /** Forgets nodes whose lease ended before `before`; a call still naming one counts as owned by a gone node. */
  async prune(before: string): Promise<number> {
    const result = await this.db.deleteFrom('nodes').where('lease_until', '<', before).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
