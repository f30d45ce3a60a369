import { DialplaneError } from '../errors.js';
import { isUniqueViolation } from '../store/database.js';
import type { PhoneNumberRow } from '../store/schema.js';
import type { Store } from '../store/store.js';
import type { AccountChanges } from './account-changes.js';
import { isoNow, type Clock } from './clock.js';
import { newId } from './ids.js';
import { normalizePhoneNumber } from './phone-number.js';
import { SharedReads } from './shared-reads.js';

export type NumberType = PhoneNumberRow['type'];
export type Capability = 'voice' | 'sms';
export const NUMBER_TYPES: readonly NumberType[] = ['purchased', 'ported', 'outgoing_only'];

export interface PhoneNumber {
  readonly id: string;
  readonly accountId: string;
  readonly number: string;
  readonly type: NumberType;
  readonly capabilities: readonly Capability[];
  readonly createdAt: string;
}

export interface AddNumberInput {
  readonly number: string;
  readonly type: NumberType;
  readonly capabilities?: readonly Capability[];
}

/** How long an account's voice numbers are kept in memory when no change to them was seen in this process. */
const VOICE_NUMBERS_TTL_MS = 5_000;

export class NumberService {
  /** Every outbound call checks its caller ID: an account's voice numbers are kept until they change. */
  private readonly voice = new Map<string, { readonly numbers: ReadonlySet<string>; readonly at: number }>();
  /** Reads of an account's voice numbers in flight. */
  private readonly reading = new SharedReads<string, ReadonlySet<string>>();

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly defaultCountry: string,
    private readonly changes: AccountChanges,
  ) {}

  /** Whether `number` (E.164) is a voice number of the account. */
  async isVoiceNumberOf(accountId: string, number: string): Promise<boolean> {
    const now = this.clock.now().getTime();
    const kept = this.voice.get(accountId);
    if (kept && now - kept.at < VOICE_NUMBERS_TTL_MS) return kept.numbers.has(number);
    // One read for every call started while it runs; a number added meanwhile lets go of it.
    const numbers = await this.reading.get(
      accountId,
      async () => new Set((await this.list(accountId)).filter((n) => n.capabilities.includes('voice')).map((n) => n.number)),
      (read) => this.voice.set(accountId, { numbers: read, at: now }),
    );
    return numbers.has(number);
  }

  /**
   * The caller ID of a call placed by an API whose document names none: the account's oldest voice number (the one
   * it has had longest, so adding a number does not change it). Refused with no_caller_id when it has none.
   */
  async defaultCallerId(accountId: string): Promise<string> {
    const first = (await this.list(accountId)).find((n) => n.capabilities.includes('voice'));
    if (!first) throw new DialplaneError('no_caller_id');
    return first.number;
  }

  /** A number belongs to one account only; adding one another account holds is a conflict, not a transfer. */
  async add(accountId: string, input: AddNumberInput): Promise<PhoneNumber> {
    const number = normalizePhoneNumber(input.number, this.defaultCountry, 'number');
    if (!NUMBER_TYPES.includes(input.type)) {
      throw new DialplaneError('validation_failed', `type must be one of ${NUMBER_TYPES.join(', ')}`, { field: 'type' });
    }
    const capabilities = new Set(input.capabilities ?? ['voice', 'sms']);
    const row: PhoneNumberRow = {
      id: newId('pn'),
      account_id: accountId,
      number,
      type: input.type,
      voice: capabilities.has('voice') ? 1 : 0,
      sms: capabilities.has('sms') ? 1 : 0,
      created_at: isoNow(this.clock),
    };
    try {
      await this.store.numbers.insert(row);
    } catch (error) {
      if (isUniqueViolation(error)) throw new DialplaneError('conflict', `${number} is already in use`, { field: 'number' });
      throw error;
    }
    this.voice.delete(accountId);
    this.reading.forget(accountId);
    this.changes.notify(accountId);
    return toPhoneNumber(row);
  }

  async list(accountId: string): Promise<PhoneNumber[]> {
    return (await this.store.numbers.list(accountId)).map(toPhoneNumber);
  }

  /** The account holding `number` for voice, whichever account that is (an inbound call's destination). */
  async findVoiceNumber(number: string): Promise<PhoneNumber | undefined> {
    const row = await this.store.numbers.findByNumber(number);
    return row && row.voice === 1 ? toPhoneNumber(row) : undefined;
  }
}

export function toPhoneNumber(row: PhoneNumberRow): PhoneNumber {
  const capabilities: Capability[] = [];
  if (row.voice) capabilities.push('voice');
  if (row.sms) capabilities.push('sms');
  return {
    id: row.id,
    accountId: row.account_id,
    number: row.number,
    type: row.type,
    capabilities,
    createdAt: row.created_at,
  };
}
