import type { FieldSpec, ResourceSpec } from './list-query.js';

/** The fields each DialLink list can be filtered and sorted by: the allow-lists. Anything else is refused by name. */

const text: FieldSpec = { type: 'string', sortable: true };
const time: FieldSpec = { type: 'timestamp', sortable: true };
const flag: FieldSpec = { type: 'boolean', sortable: true };
const whole: FieldSpec = { type: 'integer', sortable: true };
const nested = (type: FieldSpec['type']): FieldSpec => ({ type });

export const contactResource = {
  name: 'contacts',
  fields: {
    id: text,
    firstName: text,
    lastName: text,
    fullName: text,
    companyName: text,
    jobTitle: text,
    industry: text,
    employeeCount: whole,
    type: text,
    shared: flag,
    favorite: flag,
    forceSave: flag,
    createdAt: time,
    updatedAt: time,
  },
  lists: {
    phoneNumbers: { id: nested('string'), type: nested('string'), phoneNumber: nested('string') },
    emails: { id: nested('string'), type: nested('string'), email: nested('string') },
    addresses: {
      id: nested('string'),
      type: nested('string'),
      addressLine1: nested('string'),
      addressLine2: nested('string'),
      city: nested('string'),
      state: nested('string'),
      zip: nested('string'),
      country: nested('string'),
    },
  },
} as const satisfies ResourceSpec;

export const userResource = {
  name: 'users',
  fields: {
    id: text,
    email: text,
    firstName: text,
    lastName: text,
    jobTitle: text,
    admin: flag,
    parallelCallsEnabled: flag,
    createdAt: time,
  },
} as const satisfies ResourceSpec;

export const apiKeyResource = {
  name: 'api-keys',
  fields: { id: text, name: text, enabled: flag, expiresAt: time, createdAt: time },
} as const satisfies ResourceSpec;

export const callResource = {
  name: 'calls',
  fields: {
    id: text,
    direction: text,
    from: text,
    to: text,
    state: text,
    startedAt: time,
    answeredAt: time,
    endedAt: time,
    createdAt: time,
  },
} as const satisfies ResourceSpec;

export const recordingResource = {
  name: 'recordings',
  fields: { id: text, callId: text, createdAt: time },
} as const satisfies ResourceSpec;

/** Field name to type, as the store's ORDER BY needs it. */
export function fieldTypes(spec: ResourceSpec): Record<string, FieldSpec['type']> {
  return Object.fromEntries(Object.entries(spec.fields).map(([name, field]) => [name, field.type]));
}
