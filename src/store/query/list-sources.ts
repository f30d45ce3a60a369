import { sql } from 'kysely';
import type { ResourceSpec } from '../../core/query/list-query.js';
import type { apiKeyResource, callResource, contactResource, recordingResource, userResource } from '../../core/query/resources.js';
import { column, type ColumnSql, type ListSql, type SourceSql } from './filter-sql.js';

/**
 * Where each allow-listed field of a DialLink list lives in the schema. Typed against the resource so that a field
 * added to the allow-list without a column here does not compile.
 */
type Columns<R extends ResourceSpec> = { readonly [K in keyof R['fields']]: ColumnSql };
type Lists<R extends ResourceSpec> = { readonly [L in keyof NonNullable<R['lists']>]: ListSql & { columns: { [F in keyof NonNullable<R['lists']>[L]]: string } } };

/** first and last name with one space between, or whichever is not empty. */
const fullName: ColumnSql = (alias) => {
  const first = sql.ref(`${alias}.first_name`);
  const last = sql.ref(`${alias}.last_name`);
  return sql`(case when ${last} = '' then ${first} when ${first} = '' then ${last} else ${first} || ' ' || ${last} end)`;
};

export const contactSource = {
  alias: 'c',
  columns: {
    id: column('id'),
    firstName: column('first_name'),
    lastName: column('last_name'),
    fullName,
    companyName: column('company_name'),
    jobTitle: column('job_title'),
    industry: column('industry'),
    employeeCount: column('employee_count'),
    type: column('type'),
    shared: column('shared'),
    favorite: column('favorite'),
    forceSave: column('force_save'),
    createdAt: column('created_at'),
    updatedAt: column('updated_at'),
  } satisfies Columns<typeof contactResource>,
  lists: {
    phoneNumbers: { table: 'contact_phone_numbers', parentKey: 'contact_id', columns: { id: 'id', type: 'type', phoneNumber: 'phone_number' } },
    emails: { table: 'contact_emails', parentKey: 'contact_id', columns: { id: 'id', type: 'type', email: 'email' } },
    addresses: {
      table: 'contact_addresses',
      parentKey: 'contact_id',
      columns: {
        id: 'id',
        type: 'type',
        addressLine1: 'address_line1',
        addressLine2: 'address_line2',
        city: 'city',
        state: 'state',
        zip: 'zip',
        country: 'country',
      },
    },
  } satisfies Lists<typeof contactResource>,
} as const satisfies SourceSql;

export const userSource = {
  alias: 'u',
  columns: {
    id: column('id'),
    email: column('email'),
    firstName: column('first_name'),
    lastName: column('last_name'),
    jobTitle: column('job_title'),
    admin: column('admin'),
    parallelCallsEnabled: column('parallel_calls_enabled'),
    createdAt: column('created_at'),
  } satisfies Columns<typeof userResource>,
} as const satisfies SourceSql;

export const apiKeySource = {
  alias: 'k',
  columns: {
    id: column('id'),
    name: column('name'),
    enabled: column('enabled'),
    expiresAt: column('expires_at'),
    createdAt: column('created_at'),
  } satisfies Columns<typeof apiKeyResource>,
} as const satisfies SourceSql;

export const callSource = {
  alias: 'cl',
  columns: {
    id: column('id'),
    direction: column('direction'),
    from: column('from_number'),
    to: column('to_number'),
    state: column('state'),
    startedAt: column('created_at'),
    answeredAt: column('answered_at'),
    endedAt: column('ended_at'),
    createdAt: column('created_at'),
  } satisfies Columns<typeof callResource>,
} as const satisfies SourceSql;

export const recordingSource = {
  alias: 'r',
  columns: { id: column('id'), callId: column('call_id'), createdAt: column('created_at') } satisfies Columns<typeof recordingResource>,
} as const satisfies SourceSql;
