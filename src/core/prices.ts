import { DialplaneError } from '../errors.js';
import type { PriceRow } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { isoNow, type Clock } from './clock.js';
import { newId } from './ids.js';
import { SharedReads } from './shared-reads.js';

export type PriceKind = PriceRow['kind'];

/** The DialAnyone document's figures: 5.0 credits a minute of voice, 2.5 credits an SMS segment. */
export const DEFAULT_PRICES_MINOR: Readonly<Record<PriceKind, number>> = Object.freeze({ voice: 500, sms: 250 });

export interface Price {
  readonly kind: PriceKind;
  readonly prefix: string;
  readonly priceMinor: number;
  readonly accountId: string | null;
}

/**
 * Prices by destination prefix (E.164 digits with the plus, e.g. "+972"). The longest matching prefix wins, and at
 * equal length an account's own price beats the global one. With no row at all the defaults apply.
 */
/** How long a looked-up price is kept in memory when no price was set in this process since. */
const PRICE_TTL_MS = 5_000;
/** Distinct destinations kept at most; past it the oldest go first. */
const PRICE_CACHE_ENTRIES = 10_000;

export class PriceService {
  /** Every billed call leg looks up its price: kept per kind, account and destination until a price is set. */
  private readonly kept = new Map<string, { readonly minor: number; readonly at: number }>();
  /** Reads in flight, by the same key as `kept`. */
  private readonly reading = new SharedReads<string, number>();

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  async set(kind: PriceKind, prefix: string, priceMinor: number, accountId: string | null = null): Promise<Price> {
    if (!/^\+?\d{0,15}$/.test(prefix)) {
      throw new DialplaneError('validation_failed', 'prefix must be digits, optionally after a plus', { field: 'prefix' });
    }
    if (!Number.isSafeInteger(priceMinor) || priceMinor < 0) {
      throw new DialplaneError('validation_failed', 'price must be a non-negative amount', { field: 'price' });
    }
    const normalized = prefix === '' || prefix.startsWith('+') ? prefix : `+${prefix}`;
    const row: PriceRow = {
      id: newId('price'),
      account_id: accountId,
      kind,
      prefix: normalized,
      price_minor: priceMinor,
      created_at: isoNow(this.clock),
    };
    await this.store.prices.insert(row);
    this.kept.clear();
    this.reading.clear();
    return toPrice(row);
  }

  /** Voice: price per started minute of one leg. SMS: price per segment. */
  async lookup(kind: PriceKind, accountId: string, destination: string): Promise<number> {
    const key = `${kind}|${accountId}|${destination}`;
    const now = this.clock.now().getTime();
    const kept = this.kept.get(key);
    if (kept && now - kept.at < PRICE_TTL_MS) return kept.minor;
    // Every call started while the price is read waits for that one read. A price set meanwhile lets go of it: the
    // read answers its own callers but is not kept.
    return this.reading.get(
      key,
      () => this.find(kind, accountId, destination),
      (minor) => {
        if (this.kept.size >= PRICE_CACHE_ENTRIES) this.kept.delete(this.kept.keys().next().value!);
        this.kept.set(key, { minor, at: now });
      },
    );
  }

  private async find(kind: PriceKind, accountId: string, destination: string): Promise<number> {
    const rows = await this.store.prices.candidates(kind, accountId, destination);
    const best = rows.sort(
      (a, b) =>
        b.prefix.length - a.prefix.length ||
        Number(b.account_id !== null) - Number(a.account_id !== null) ||
        b.created_at.localeCompare(a.created_at),
    )[0];
    return best ? Number(best.price_minor) : DEFAULT_PRICES_MINOR[kind];
  }
}

function toPrice(row: PriceRow): Price {
  return { kind: row.kind, prefix: row.prefix, priceMinor: Number(row.price_minor), accountId: row.account_id };
}
