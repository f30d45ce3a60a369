import { DialplaneError } from '../errors.js';
import type { CreditEntryRow, CreditHoldRow } from '../store/schema.js';
import type { Db } from '../store/database.js';
import type { Store } from '../store/store.js';
import type { AccountChanges } from './account-changes.js';
import { isoNow, type Clock } from './clock.js';
import { newId } from './ids.js';
import { minorToCredits } from './money.js';

export interface CreditBalance {
  readonly balanceMinor: number;
  readonly heldMinor: number;
  /** What new debits and holds may use: balance minus active holds. */
  readonly availableMinor: number;
}

export interface CreditEntry {
  readonly id: string;
  readonly amountMinor: number;
  readonly balanceAfterMinor: number;
  readonly kind: CreditEntryRow['kind'];
  readonly description: string;
  readonly reference: string | null;
  readonly holdId: string | null;
  readonly createdAt: string;
}

export interface CreditHold {
  readonly id: string;
  readonly accountId: string;
  readonly amountMinor: number;
  readonly status: CreditHoldRow['status'];
  readonly reference: string | null;
  readonly capturedMinor: number | null;
}

const MAX_AMOUNT_MINOR = 1e13;

/**
 * The credit ledger. Balance is the sum of entries (kept materialised on the account row in the same transaction);
 * holds reserve part of it for work whose final price is known only later (a call), and are captured or released.
 * Nothing here can take the available balance below zero, however many requests race.
 */
export class CreditService {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly changes: AccountChanges,
  ) {}

  async balance(accountId: string): Promise<CreditBalance> {
    const balance = await this.store.credits.balance(accountId);
    if (!balance) throw new DialplaneError('not_found', 'account not found');
    return { ...balance, availableMinor: balance.balanceMinor - balance.heldMinor };
  }

  async add(accountId: string, amountMinor: number, description = 'top-up', reference: string | null = null): Promise<CreditEntry> {
    assertAmount(amountMinor);
    return this.apply(accountId, amountMinor, 'topup', description, reference);
  }

  /** Gives back credits charged for something that was not delivered (an SMS the SMSC refused); `reference` names it. */
  async refund(accountId: string, amountMinor: number, description: string, reference: string | null = null): Promise<CreditEntry> {
    assertAmount(amountMinor);
    return this.apply(accountId, amountMinor, 'refund', description, reference);
  }

  /** Throws insufficient_credits (with the document's required_credits/current_balance details) when refused. */
  async debit(accountId: string, amountMinor: number, description: string, reference: string | null = null): Promise<CreditEntry> {
    assertAmount(amountMinor);
    return this.apply(accountId, -amountMinor, 'debit', description, reference);
  }

  async hold(accountId: string, amountMinor: number, reference: string | null = null): Promise<CreditHold> {
    assertAmount(amountMinor);
    const row = this.holdRow(accountId, amountMinor, reference);
    if (!(await this.store.credits.placeHold(row))) throw await this.insufficient(accountId, amountMinor);
    this.changes.notify(accountId);
    return toHold(row);
  }

  /**
   * A hold written inside a caller's transaction, so that it is stored exactly when what it pays for is (a call
   * leg and its first minute). Refused with insufficient_credits, which rolls the caller's transaction back.
   */
  async holdIn(trx: Db, accountId: string, amountMinor: number, reference: string | null = null): Promise<CreditHold> {
    assertAmount(amountMinor);
    const row = this.holdRow(accountId, amountMinor, reference);
    if (!(await this.store.credits.placeHoldIn(trx, row))) throw await this.insufficient(accountId, amountMinor, trx);
    this.changes.notify(accountId);
    return toHold(row);
  }

  /** Debits part or all of a hold and frees the rest. A hold settles once; settling again is not_found. */
  async capture(accountId: string, holdId: string, amountMinor: number, description: string): Promise<CreditHold> {
    if (!Number.isSafeInteger(amountMinor) || amountMinor < 0) {
      throw new DialplaneError('validation_failed', 'capture amount must be a non-negative integer', { field: 'amount' });
    }
    const now = isoNow(this.clock);
    const entry = { id: newId('txn'), kind: 'capture' as const, description, createdAt: now };
    const settled = await this.store.credits.settleHold(accountId, holdId, amountMinor, entry, now);
    if (!settled) {
      // Refused: read the hold only now, to say why (every call's charge is captured, so the common case reads nothing).
      const hold = await this.store.credits.findHold(accountId, holdId);
      if (hold && hold.status === 'active' && amountMinor > Number(hold.amount_minor)) {
        throw new DialplaneError('validation_failed', 'capture amount exceeds the hold', {
          field: 'amount',
          hold_minor: Number(hold.amount_minor),
        });
      }
      throw new DialplaneError('not_found', 'no active hold with that id');
    }
    this.changes.notify(accountId);
    return toHold(settled);
  }

  /**
   * Captures `amountMinor` of a hold (0: releases it) inside a caller's transaction: a call's charge is written with
   * the end of its last leg. Undefined when the hold is not active or smaller than the amount.
   */
  async settleIn(trx: Db, accountId: string, holdId: string, amountMinor: number, description: string): Promise<CreditHold | undefined> {
    const now = isoNow(this.clock);
    const entry = amountMinor > 0 ? { id: newId('txn'), kind: 'capture' as const, description, createdAt: now } : null;
    const settled = await this.store.credits.settleHoldIn(trx, accountId, holdId, amountMinor, entry, now);
    if (settled) this.changes.notify(accountId);
    return settled && toHold(settled);
  }

  async release(accountId: string, holdId: string): Promise<CreditHold> {
    const settled = await this.store.credits.settleHold(accountId, holdId, 0, null, isoNow(this.clock));
    if (!settled) throw new DialplaneError('not_found', 'no active hold with that id');
    this.changes.notify(accountId);
    return toHold(settled);
  }

  async entries(accountId: string, limit = 100): Promise<CreditEntry[]> {
    return (await this.store.credits.entries(accountId, limit)).map(toEntry);
  }

  private async apply(
    accountId: string,
    amountMinor: number,
    kind: CreditEntryRow['kind'],
    description: string,
    reference: string | null,
  ): Promise<CreditEntry> {
    const createdAt = isoNow(this.clock);
    const id = newId('txn');
    const balanceAfter = await this.store.credits.applyEntry({
      id,
      accountId,
      amountMinor,
      kind,
      description,
      reference,
      holdId: null,
      createdAt,
    });
    if (balanceAfter === undefined) throw await this.insufficient(accountId, -amountMinor);
    this.changes.notify(accountId);
    return { id, amountMinor, balanceAfterMinor: balanceAfter, kind, description, reference, holdId: null, createdAt };
  }

  private holdRow(accountId: string, amountMinor: number, reference: string | null): CreditHoldRow {
    return {
      id: newId('hold'),
      account_id: accountId,
      amount_minor: amountMinor,
      status: 'active',
      reference,
      captured_minor: null,
      created_at: isoNow(this.clock),
      settled_at: null,
    };
  }

  private async insufficient(accountId: string, requiredMinor: number, trx?: Db): Promise<DialplaneError> {
    const found = trx ? await this.store.credits.balance(accountId, trx) : undefined;
    const available = found ? found.balanceMinor - found.heldMinor : (await this.balance(accountId)).availableMinor;
    return new DialplaneError('insufficient_credits', undefined, {
      required_credits: minorToCredits(requiredMinor),
      current_balance: minorToCredits(available),
    });
  }
}

function assertAmount(amountMinor: number): void {
  if (!Number.isSafeInteger(amountMinor) || amountMinor <= 0 || amountMinor > MAX_AMOUNT_MINOR) {
    throw new DialplaneError('validation_failed', 'amount must be a positive number of credits', { field: 'amount' });
  }
}

function toEntry(row: CreditEntryRow): CreditEntry {
  return {
    id: row.id,
    amountMinor: Number(row.amount_minor),
    balanceAfterMinor: Number(row.balance_after_minor),
    kind: row.kind,
    description: row.description,
    reference: row.reference,
    holdId: row.hold_id,
    createdAt: row.created_at,
  };
}

function toHold(row: CreditHoldRow): CreditHold {
  return {
    id: row.id,
    accountId: row.account_id,
    amountMinor: Number(row.amount_minor),
    status: row.status,
    reference: row.reference,
    capturedMinor: row.captured_minor === null ? null : Number(row.captured_minor),
  };
}
