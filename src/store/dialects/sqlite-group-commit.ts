import type { Db } from '../database.js';
import type { SqliteControlStatement } from './sqlite.js';

interface Pending {
  readonly fn: (trx: Db) => Promise<unknown>;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

/** Most writes folded into one SQLite transaction. */
const MAX_BATCH = 256;

/**
 * Group commit for the single SQLite connection: write transactions requested while one is being committed are run
 * together in the next one, each inside its own SAVEPOINT so that one failing rolls back only itself. Every caller
 * still resolves only after the COMMIT that contains its write, so nothing is acknowledged before it is durable; what
 * changes is that a burst of small writes (call events) costs one commit instead of hundreds.
 */
export class SqliteGroupCommit {
  private queue: Pending[] = [];
  private running = false;

  constructor(
    private readonly db: Db,
    private readonly control: (statement: SqliteControlStatement) => void,
  ) {}

  write<T>(fn: (trx: Db) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, resolve: resolve as (value: unknown) => void, reject });
      if (!this.running) {
        this.running = true;
        // Let writes issued in the same turn of the event loop join this batch.
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, MAX_BATCH);
      await this.commit(batch);
    }
    this.running = false;
  }

  private async commit(batch: readonly Pending[]): Promise<void> {
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
    try {
      // Holding the connection keeps every other query out while the control statements run beside kysely's.
      await this.db.connection().execute(async (connection) => {
        this.control('begin immediate');
        try {
          for (const pending of batch) {
            this.control('savepoint w');
            try {
              const value = await pending.fn(connection);
              this.control('release w');
              outcomes.push({ ok: true, value });
            } catch (error) {
              this.control('rollback to w');
              this.control('release w');
              outcomes.push({ ok: false, error });
            }
          }
          this.control('commit');
        } catch (error) {
          try {
            this.control('rollback');
          } catch {
            // No transaction left to roll back.
          }
          throw error;
        }
      });
    } catch (error) {
      // The transaction itself failed (disk full, database locked past the busy timeout): nothing was written.
      for (const pending of batch) pending.reject(error);
      return;
    }
    batch.forEach((pending, index) => {
      const outcome = outcomes[index]!;
      if (outcome.ok) pending.resolve(outcome.value);
      else pending.reject(outcome.error);
    });
  }
}
