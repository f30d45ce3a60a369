import { sql } from 'kysely';
import type { Database, Db } from './database.js';
import { definedColumns, StatementCache } from './statement-cache.js';
import type { CreditEntriesTable, CreditEntryRow, CreditHoldRow } from './schema.js';

export interface Balance {
  readonly balanceMinor: number;
  readonly heldMinor: number;
}

export interface EntryInput {
  readonly id: string;
  readonly accountId: string;
  readonly amountMinor: number;
  readonly kind: CreditEntriesTable['kind'];
  readonly description: string;
  readonly reference: string | null;
  readonly holdId: string | null;
  readonly createdAt: string;
}

/**
 * Every balance change is one conditional UPDATE of the account row plus one ledger entry, in one transaction.
 * The condition (`balance - held >= amount`) is evaluated on the latest row version by both SQLite (single writer)
 * and PostgreSQL (a concurrent UPDATE waits for the row lock and re-checks), so no interleaving can overdraw.
 * A CHECK constraint on accounts backs the same rule up.
 */
export class CreditsRepository {
  private readonly db: Db;
  /** A call leg's hold and its settlement run with every call: compiled once. */
  private readonly statements: StatementCache;

  constructor(private readonly database: Database) {
    this.db = database.db;
    this.statements = new StatementCache(database);
  }

  /** The balance, read through `trx` when given (inside a write, where a read of its own would wait for it). */
  async balance(accountId: string, trx: Db = this.db): Promise<Balance | undefined> {
    const row = await trx
      .selectFrom('accounts')
      .select(['balance_minor', 'held_minor'])
      .where('id', '=', accountId)
      .executeTakeFirst();
    return row && { balanceMinor: Number(row.balance_minor), heldMinor: Number(row.held_minor) };
  }

  /** Adds a signed amount; a negative one only if the available balance covers it. Undefined when refused. */
  async applyEntry(entry: EntryInput): Promise<number | undefined> {
    return this.database.write(async (trx) => {
      const required = entry.amountMinor < 0 ? -entry.amountMinor : 0;
      const updated = await trx
        .updateTable('accounts')
        .set({ balance_minor: sql`balance_minor + ${entry.amountMinor}` })
        .where('id', '=', entry.accountId)
        .where(sql<boolean>`balance_minor - held_minor >= ${required}`)
        .returning('balance_minor')
        .executeTakeFirst();
      if (!updated) return undefined;
      await trx.insertInto('credit_entries').values(toRow(entry, Number(updated.balance_minor))).execute();
      return Number(updated.balance_minor);
    });
  }

  async placeHold(hold: CreditHoldRow): Promise<boolean> {
    return this.database.write((trx) => this.placeHoldIn(trx, hold));
  }

  /** placeHold inside a caller's transaction (a call leg's first minute, written with the leg). */
  async placeHoldIn(trx: Db, hold: CreditHoldRow): Promise<boolean> {
    const updated = await this.statements.execute(trx, 'accounts.hold', [hold.amount_minor, hold.account_id], ([amount, id]) =>
      trx
        .updateTable('accounts')
        .set({ held_minor: sql`held_minor + ${amount}` })
        .where('id', '=', id as string)
        .where(sql<boolean>`balance_minor - held_minor >= ${amount}`),
    );
    if (Number(updated.numAffectedRows ?? 0) === 0) return false;
    const columns: string[] = [];
    const values: unknown[] = [];
    definedColumns(hold, columns, values);
    await this.statements.execute(trx, this.statements.shapeKey('credit_holds.insert', columns), values, (v) =>
      trx.insertInto('credit_holds').values(Object.fromEntries(columns.map((column, i) => [column, v[i]])) as never),
    );
    return true;
  }

  /**
   * Settles an active hold: the held amount leaves `held_minor` and `capturedMinor` (0 for a release) is debited.
   * The status flip is conditional, so settling twice does nothing the second time.
   */
  async settleHold(
    accountId: string,
    holdId: string,
    capturedMinor: number,
    entry: Omit<EntryInput, 'amountMinor' | 'accountId' | 'holdId' | 'reference'> | null,
    settledAt: string,
  ): Promise<CreditHoldRow | undefined> {
    return this.database.write((trx) => this.settleHoldIn(trx, accountId, holdId, capturedMinor, entry, settledAt));
  }

  /** settleHold inside a caller's transaction (a call's charge, captured with the end of its last leg). */
  async settleHoldIn(
    trx: Db,
    accountId: string,
    holdId: string,
    capturedMinor: number,
    entry: Omit<EntryInput, 'amountMinor' | 'accountId' | 'holdId' | 'reference'> | null,
    settledAt: string,
  ): Promise<CreditHoldRow | undefined> {
    const status = capturedMinor > 0 ? 'captured' : 'released';
    const hold = await this.statements.first(
      trx,
      'credit_holds.settle',
      [status, capturedMinor, settledAt, holdId, accountId],
      ([newStatus, captured, at, id, account]) =>
        trx
          .updateTable('credit_holds')
          .set({ status: newStatus as typeof status, captured_minor: captured as number, settled_at: at as string })
          .where('id', '=', id as string)
          .where('account_id', '=', account as string)
          .where('status', '=', 'active')
          .where('amount_minor', '>=', captured as number)
          .returningAll(),
    );
    if (!hold) return undefined;
    const account = await this.statements.first(
      trx,
      'accounts.settle',
      [hold.amount_minor, capturedMinor, accountId],
      ([held, captured, id]) =>
        trx
          .updateTable('accounts')
          .set({ held_minor: sql`held_minor - ${held}`, balance_minor: sql`balance_minor - ${captured}` })
          .where('id', '=', id as string)
          .returning('balance_minor'),
    );
    if (!account) throw new Error(`account ${accountId} of hold ${holdId} is missing`);
    if (entry && capturedMinor > 0) {
      const row = toRow({ ...entry, reference: hold.reference, accountId, holdId, amountMinor: -capturedMinor }, Number(account.balance_minor));
      const columns: string[] = [];
      const values: unknown[] = [];
      definedColumns(row, columns, values);
      await this.statements.execute(trx, this.statements.shapeKey('credit_entries.insert', columns), values, (v) =>
        trx.insertInto('credit_entries').values(Object.fromEntries(columns.map((column, i) => [column, v[i]])) as never),
      );
    }
    return hold;
  }

  /** Active holds whose reference starts with `prefix`, whatever their account. */
  async activeHoldsReferencing(prefix: string): Promise<CreditHoldRow[]> {
    return this.db
      .selectFrom('credit_holds')
      .selectAll()
      .where('status', '=', 'active')
      .where(sql<string>`substr(reference, 1, ${prefix.length})`, '=', prefix)
      .execute();
  }

  async findHold(accountId: string, holdId: string): Promise<CreditHoldRow | undefined> {
    return this.db
      .selectFrom('credit_holds')
      .selectAll()
      .where('account_id', '=', accountId)
      .where('id', '=', holdId)
      .executeTakeFirst();
  }

  async entries(accountId: string, limit: number): Promise<CreditEntryRow[]> {
    return this.db
      .selectFrom('credit_entries')
      .selectAll()
      .where('account_id', '=', accountId)
      .orderBy('seq', 'desc')
      .limit(limit)
      .execute();
  }

  /** Sum of the ledger, for audits: it must always equal the account's balance. */
  async ledgerSum(accountId: string): Promise<number> {
    const row = await this.db
      .selectFrom('credit_entries')
      .select((eb) => eb.fn.coalesce(eb.fn.sum<number>('amount_minor'), sql<number>`0`).as('total'))
      .where('account_id', '=', accountId)
      .executeTakeFirst();
    return Number(row?.total ?? 0);
  }
}

function toRow(entry: EntryInput, balanceAfter: number) {
  return {
    id: entry.id,
    account_id: entry.accountId,
    amount_minor: entry.amountMinor,
    balance_after_minor: balanceAfter,
    kind: entry.kind,
    description: entry.description,
    reference: entry.reference,
    hold_id: entry.holdId,
    created_at: entry.createdAt,
  };
}
