import { sql } from 'kysely';
import type { ListQuery } from '../core/query/list-query.js';
import { contactResource, fieldTypes } from '../core/query/resources.js';
import type { Database, Db } from './database.js';
import { countOf, pageSql, type PageRows } from './query/list-page.js';
import { contactSource } from './query/list-sources.js';
import type { ContactAddressRow, ContactEmailRow, ContactPhoneNumberRow, ContactRow } from './schema.js';

/** A contact row with its nested lists, each in the order given. */
export interface ContactRecord {
  readonly contact: ContactRow;
  readonly phoneNumbers: readonly ContactPhoneNumberRow[];
  readonly emails: readonly ContactEmailRow[];
  readonly addresses: readonly ContactAddressRow[];
}

const types = fieldTypes(contactResource);

export class ContactsRepository {
  private readonly db: Db;

  constructor(private readonly database: Database) {
    this.db = database.db;
  }

  async insert(record: ContactRecord): Promise<void> {
    await this.database.write(async (trx) => {
      await trx.insertInto('contacts').values(record.contact).execute();
      await insertChildren(trx, record);
    });
  }

  /** Replaces the contact's row and its nested lists in one write; undefined when it is not the account's. */
  async replace(accountId: string, record: ContactRecord): Promise<boolean> {
    return this.database.write(async (trx) => {
      const { id, account_id: _account, created_at: _created, ...changes } = record.contact;
      const updated = await trx
        .updateTable('contacts')
        .set(changes)
        .where('account_id', '=', accountId)
        .where('id', '=', id)
        .executeTakeFirst();
      if (Number(updated.numUpdatedRows) === 0) return false;
      await deleteChildren(trx, [id]);
      await insertChildren(trx, record);
      return true;
    });
  }

  async delete(accountId: string, id: string): Promise<boolean> {
    return this.database.write(async (trx) => {
      const found = await trx.selectFrom('contacts').select('id').where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
      if (!found) return false;
      await deleteChildren(trx, [id]);
      await trx.deleteFrom('contacts').where('id', '=', id).execute();
      return true;
    });
  }

  async find(accountId: string, id: string): Promise<ContactRecord | undefined> {
    const contact = await this.db.selectFrom('contacts').selectAll().where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
    if (!contact) return undefined;
    return (await this.withChildren([contact]))[0];
  }

  /** One page of the account's contacts that match the query, and how many match in all. */
  async page(accountId: string, query: ListQuery): Promise<PageRows<ContactRecord>> {
    const { where, order, limit, offset } = pageSql(query, contactSource, types, this.database.dialect);
    const base = this.db.selectFrom('contacts as c').where('c.account_id', '=', accountId).where(where);
    const count = await base.select(sql<number>`count(*)`.as('n')).executeTakeFirst();
    let rows = base.selectAll('c');
    for (const key of order) rows = rows.orderBy(key);
    const contacts = await rows.limit(limit).offset(offset).execute();
    return { rows: await this.withChildren(contacts), total: countOf(count) };
  }

  private async withChildren(contacts: readonly ContactRow[]): Promise<ContactRecord[]> {
    if (contacts.length === 0) return [];
    const ids = contacts.map((c) => c.id);
    const [phones, emails, addresses] = await Promise.all([
      this.db.selectFrom('contact_phone_numbers').selectAll().where('contact_id', 'in', ids).orderBy('position').execute(),
      this.db.selectFrom('contact_emails').selectAll().where('contact_id', 'in', ids).orderBy('position').execute(),
      this.db.selectFrom('contact_addresses').selectAll().where('contact_id', 'in', ids).orderBy('position').execute(),
    ]);
    const of = <T extends { contact_id: string }>(rows: T[], id: string) => rows.filter((row) => row.contact_id === id);
    return contacts.map((contact) => ({
      contact,
      phoneNumbers: of(phones, contact.id),
      emails: of(emails, contact.id),
      addresses: of(addresses, contact.id),
    }));
  }
}

async function insertChildren(trx: Db, record: ContactRecord): Promise<void> {
  if (record.phoneNumbers.length > 0) await trx.insertInto('contact_phone_numbers').values([...record.phoneNumbers]).execute();
  if (record.emails.length > 0) await trx.insertInto('contact_emails').values([...record.emails]).execute();
  if (record.addresses.length > 0) await trx.insertInto('contact_addresses').values([...record.addresses]).execute();
}

async function deleteChildren(trx: Db, ids: readonly string[]): Promise<void> {
  await trx.deleteFrom('contact_phone_numbers').where('contact_id', 'in', ids).execute();
  await trx.deleteFrom('contact_emails').where('contact_id', 'in', ids).execute();
  await trx.deleteFrom('contact_addresses').where('contact_id', 'in', ids).execute();
}
