import { DialplaneError } from '../errors.js';
import type { ContactRecord } from '../store/contacts-repository.js';
import type { Store } from '../store/store.js';
import type { Clock } from './clock.js';
import { newId } from './ids.js';
import { isWellFormed, paging, type ListQuery, type Page } from './query/list-query.js';

export interface ContactPhoneNumber {
  readonly id: string;
  readonly type: string | null;
  readonly phoneNumber: string | null;
}

export interface ContactEmail {
  readonly id: string;
  readonly type: string | null;
  readonly email: string | null;
}

export interface ContactAddress {
  readonly id: string;
  readonly type: string | null;
  readonly addressLine1: string | null;
  readonly addressLine2: string | null;
  readonly city: string | null;
  readonly state: string | null;
  readonly zip: string | null;
  readonly country: string | null;
}

export interface Contact {
  readonly id: string;
  readonly firstName: string;
  readonly lastName: string;
  readonly companyName: string | null;
  readonly jobTitle: string | null;
  readonly industry: string | null;
  readonly employeeCount: number | null;
  readonly type: string;
  readonly shared: boolean;
  readonly favorite: boolean;
  readonly forceSave: boolean;
  readonly phoneNumbers: readonly ContactPhoneNumber[];
  readonly emails: readonly ContactEmail[];
  readonly addresses: readonly ContactAddress[];
  readonly createdAt: string;
  readonly updatedAt: string;
}

type Item<T> = { readonly [K in keyof T]?: K extends 'id' ? string : T[K] | null };

/** What a client sends: every field optional; nested items may name the id of an item they replace. */
export interface ContactInput {
  readonly firstName?: string | null;
  readonly lastName?: string | null;
  readonly companyName?: string | null;
  readonly jobTitle?: string | null;
  readonly industry?: string | null;
  readonly employeeCount?: number | null;
  readonly type?: string | null;
  readonly shared?: boolean | null;
  readonly favorite?: boolean | null;
  readonly forceSave?: boolean | null;
  readonly phoneNumbers?: readonly Item<ContactPhoneNumber>[] | null;
  readonly emails?: readonly Item<ContactEmail>[] | null;
  readonly addresses?: readonly Item<ContactAddress>[] | null;
}

const TEXT_MAX = 255;
const ITEMS_MAX = 50;
export const DEFAULT_CONTACT_TYPE = 'EXTERNAL';

function text(value: string | null | undefined, field: string): string | null {
  if (value === undefined || value === null) return null;
  const trimmed = value.trim();
  if (trimmed.length > TEXT_MAX) throw new DialplaneError('validation_failed', `${field} is longer than ${TEXT_MAX} characters`, { field });
  if (trimmed.includes('\u0000') || !isWellFormed(trimmed)) {
    throw new DialplaneError('validation_failed', `${field} contains a NUL character or a lone surrogate`, { field });
  }
  return trimmed;
}

function items<T extends { id?: string }>(list: readonly T[] | null | undefined, field: string): readonly T[] {
  const out = list ?? [];
  if (out.length > ITEMS_MAX) throw new DialplaneError('validation_failed', `${field} has more than ${ITEMS_MAX} items`, { field });
  return out;
}

/**
 * An account's contacts: people and companies with nested phone numbers, emails and addresses. PUT replaces a
 * contact whole; PATCH changes only the fields it names, and a nested list it names is replaced as a whole (items
 * that name an existing item's id keep that id).
 */
export class ContactService {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  async create(accountId: string, input: ContactInput): Promise<Contact> {
    const now = this.clock.now();
    const record = this.build(accountId, newId('ct', now.getTime()), input, now.toISOString(), now.toISOString(), undefined);
    await this.store.contacts.insert(record);
    return toContact(record);
  }

  async get(accountId: string, id: string): Promise<Contact> {
    const record = await this.store.contacts.find(accountId, id);
    if (!record) throw new DialplaneError('not_found', 'contact not found');
    return toContact(record);
  }

  async replace(accountId: string, id: string, input: ContactInput): Promise<Contact> {
    const existing = await this.store.contacts.find(accountId, id);
    if (!existing) throw new DialplaneError('not_found', 'contact not found');
    return this.save(accountId, existing, input);
  }

  async patch(accountId: string, id: string, input: ContactInput): Promise<Contact> {
    const existing = await this.store.contacts.find(accountId, id);
    if (!existing) throw new DialplaneError('not_found', 'contact not found');
    const current = toContact(existing);
    const merged: ContactInput = { ...current, ...definedOnly(input) };
    return this.save(accountId, existing, merged);
  }

  async delete(accountId: string, id: string): Promise<void> {
    if (!(await this.store.contacts.delete(accountId, id))) throw new DialplaneError('not_found', 'contact not found');
  }

  async page(accountId: string, query: ListQuery): Promise<Page<Contact>> {
    const { rows, total } = await this.store.contacts.page(accountId, query);
    return { data: rows.map(toContact), paging: paging(query, total) };
  }

  private async save(accountId: string, existing: ContactRecord, input: ContactInput): Promise<Contact> {
    const record = this.build(accountId, existing.contact.id, input, existing.contact.created_at, this.clock.now().toISOString(), existing);
    if (!(await this.store.contacts.replace(accountId, record))) throw new DialplaneError('not_found', 'contact not found');
    return toContact(record);
  }

  private build(
    accountId: string,
    id: string,
    input: ContactInput,
    createdAt: string,
    updatedAt: string,
    existing: ContactRecord | undefined,
  ): ContactRecord {
    const firstName = text(input.firstName, 'firstName') ?? '';
    const lastName = text(input.lastName, 'lastName') ?? '';
    const companyName = text(input.companyName, 'companyName');
    if (!firstName && !lastName && !companyName) {
      throw new DialplaneError('validation_failed', 'a contact needs a firstName, a lastName or a companyName', { field: 'firstName' });
    }
    const employeeCount = input.employeeCount ?? null;
    if (employeeCount !== null && (!Number.isSafeInteger(employeeCount) || employeeCount < 0)) {
      throw new DialplaneError('validation_failed', 'employeeCount must be a whole number, 0 or more', { field: 'employeeCount' });
    }
    const nowMs = Date.parse(updatedAt);
    // An item keeps its id when it names one of this contact's items of the same list; otherwise it gets a new one.
    const keep = (given: string | undefined, known: readonly { id: string }[], prefix: 'ctph' | 'ctem' | 'ctad') =>
      given !== undefined && known.some((k) => k.id === given) ? given : newId(prefix, nowMs);
    const used = new Set<string>();
    const unique = (candidate: string, prefix: 'ctph' | 'ctem' | 'ctad') => {
      const chosen = used.has(candidate) ? newId(prefix, nowMs) : candidate;
      used.add(chosen);
      return chosen;
    };
    return {
      contact: {
        id,
        account_id: accountId,
        first_name: firstName,
        last_name: lastName,
        company_name: companyName,
        job_title: text(input.jobTitle, 'jobTitle'),
        industry: text(input.industry, 'industry'),
        employee_count: employeeCount,
        type: text(input.type, 'type') || DEFAULT_CONTACT_TYPE,
        shared: input.shared ? 1 : 0,
        favorite: input.favorite ? 1 : 0,
        force_save: input.forceSave ? 1 : 0,
        created_at: createdAt,
        updated_at: updatedAt,
      },
      phoneNumbers: items(input.phoneNumbers, 'phoneNumbers').map((item, position) => ({
        id: unique(keep(item.id, existing?.phoneNumbers ?? [], 'ctph'), 'ctph'),
        contact_id: id,
        position,
        type: text(item.type, `phoneNumbers[${position}].type`),
        phone_number: text(item.phoneNumber, `phoneNumbers[${position}].phoneNumber`),
      })),
      emails: items(input.emails, 'emails').map((item, position) => ({
        id: unique(keep(item.id, existing?.emails ?? [], 'ctem'), 'ctem'),
        contact_id: id,
        position,
        type: text(item.type, `emails[${position}].type`),
        email: text(item.email, `emails[${position}].email`),
      })),
      addresses: items(input.addresses, 'addresses').map((item, position) => ({
        id: unique(keep(item.id, existing?.addresses ?? [], 'ctad'), 'ctad'),
        contact_id: id,
        position,
        type: text(item.type, `addresses[${position}].type`),
        address_line1: text(item.addressLine1, `addresses[${position}].addressLine1`),
        address_line2: text(item.addressLine2, `addresses[${position}].addressLine2`),
        city: text(item.city, `addresses[${position}].city`),
        state: text(item.state, `addresses[${position}].state`),
        zip: text(item.zip, `addresses[${position}].zip`),
        country: text(item.country, `addresses[${position}].country`),
      })),
    };
  }
}

function definedOnly(input: ContactInput): ContactInput {
  return Object.fromEntries(Object.entries(input).filter(([, value]) => value !== undefined)) as ContactInput;
}

export function toContact(record: ContactRecord): Contact {
  const c = record.contact;
  return {
    id: c.id,
    firstName: c.first_name,
    lastName: c.last_name,
    companyName: c.company_name,
    jobTitle: c.job_title,
    industry: c.industry,
    employeeCount: c.employee_count === null ? null : Number(c.employee_count),
    type: c.type,
    shared: c.shared === 1,
    favorite: c.favorite === 1,
    forceSave: c.force_save === 1,
    phoneNumbers: record.phoneNumbers.map((p) => ({ id: p.id, type: p.type, phoneNumber: p.phone_number })),
    emails: record.emails.map((e) => ({ id: e.id, type: e.type, email: e.email })),
    addresses: record.addresses.map((a) => ({
      id: a.id,
      type: a.type,
      addressLine1: a.address_line1,
      addressLine2: a.address_line2,
      city: a.city,
      state: a.state,
      zip: a.zip,
      country: a.country,
    })),
    createdAt: c.created_at,
    updatedAt: c.updated_at,
  };
}
