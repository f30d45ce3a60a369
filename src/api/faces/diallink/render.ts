import type { User } from '../../../core/accounts.js';
import type { ApiKeyInfo, Principal } from '../../../core/api-keys.js';
import type { Contact } from '../../../core/contacts.js';
import { permissionOf, type CallSummary, type RecordingSummary } from '../../../core/directory.js';
import { minorToCredits } from '../../../core/money.js';
import type { Page } from '../../../core/query/list-query.js';
import { epochMs } from './policy.js';

/** The document's shapes; fields it shows come first, in its order, then what Dialplane adds. */

export function page<T, R>(result: Page<T>, render: (item: T) => R): { data: R[]; paging: Page<T>['paging'] } {
  return { data: result.data.map(render), paging: result.paging };
}

export function userBody(user: User) {
  return {
    id: user.id,
    // Presence is not tracked by this face; a disabled user cannot come online at all.
    status: { status: user.status === 'active' ? 'OFFLINE' : 'DISABLED' },
    email: user.email,
    firstName: user.firstName,
    lastName: user.lastName,
    jobTitle: user.jobTitle,
    admin: user.admin,
    parallelCallsEnabled: user.parallelCallsEnabled,
  };
}

export function meBody(user: User, principal: Principal) {
  const permission = permissionOf(user);
  return {
    ...userBody(user),
    permission,
    permissions: { read: true, write: principal.permission === 'full', admin: permission === 'admin' && principal.permission === 'full' },
  };
}

/** After creation only the last four characters of a key are known: the rest is masked. */
export function apiKeyBody(key: ApiKeyInfo, token?: string) {
  return {
    id: key.id,
    name: key.name,
    enabled: key.enabled,
    key: token ?? `****${key.last4}`,
    expiresAt: epochMs(key.expiresAt),
  };
}

export function contactBody(contact: Contact) {
  return {
    firstName: contact.firstName,
    lastName: contact.lastName,
    companyName: contact.companyName,
    shared: contact.shared,
    addresses: contact.addresses.map((a) => ({
      type: a.type,
      id: a.id,
      addressLine1: a.addressLine1,
      addressLine2: a.addressLine2,
      city: a.city,
      state: a.state,
      zip: a.zip,
      country: a.country,
    })),
    phoneNumbers: contact.phoneNumbers.map((p) => ({ type: p.type, id: p.id, phoneNumber: p.phoneNumber })),
    emails: contact.emails.map((e) => ({ type: e.type, id: e.id, email: e.email })),
    favorite: contact.favorite,
    forceSave: contact.forceSave,
    id: contact.id,
    type: contact.type,
    jobTitle: contact.jobTitle,
    industry: contact.industry,
    employeeCount: contact.employeeCount,
    createdAt: contact.createdAt,
    updatedAt: contact.updatedAt,
  };
}

export function callBody(call: CallSummary) {
  return {
    id: call.id,
    direction: call.direction,
    from: call.from,
    to: call.to,
    state: call.state,
    outcome: call.outcome,
    startedAt: call.startedAt,
    answeredAt: call.answeredAt,
    endedAt: call.endedAt,
    duration: call.durationS,
    cost: call.costMinor === null ? null : minorToCredits(call.costMinor),
  };
}

export function recordingBody(recording: RecordingSummary, baseUrl: string) {
  return {
    id: recording.id,
    callId: recording.callId,
    duration: recording.durationMs / 1000,
    createdAt: recording.createdAt,
    downloadUrl: `${baseUrl}/v1/phone-system/recordings/${encodeURIComponent(recording.id)}/download`,
  };
}
