import type { Generated, Insertable, Selectable, Updateable } from 'kysely';

/**
 * Column conventions shared by both dialects: timestamps are ISO-8601 UTC text, booleans are 0/1 integers,
 * money is integer minor units (bigint in PostgreSQL, read back as a JS number), lists are JSON text.
 */
export interface AccountsTable {
  id: string;
  name: string;
  email: string;
  status: 'active' | 'suspended';
  balance_minor: number;
  held_minor: number;
  created_at: string;
}

export interface UsersTable {
  id: string;
  account_id: string;
  email: string;
  first_name: string;
  last_name: string;
  job_title: string;
  admin: number;
  status: 'active' | 'disabled';
  view_only: number;
  created_at: string;
}

export interface ApiKeysTable {
  id: string;
  account_id: string;
  user_id: string | null;
  app_id: string | null;
  name: string;
  key_hash: string;
  last4: string;
  permission: 'full' | 'read_only';
  enabled: number;
  expires_at: string | null;
  last_used_at: string | null;
  created_at: string;
}

export interface GatewayAppsTable {
  id: string;
  account_id: string;
  name: string;
  caller_id_allow_list: string;
  webhook_url: string | null;
  webhook_secret: string | null;
  created_at: string;
}

export interface PhoneNumbersTable {
  id: string;
  account_id: string;
  number: string;
  type: 'purchased' | 'ported' | 'outgoing_only';
  voice: number;
  sms: number;
  created_at: string;
}

export interface CreditEntriesTable {
  seq: Generated<number>;
  id: string;
  account_id: string;
  amount_minor: number;
  balance_after_minor: number;
  kind: 'topup' | 'debit' | 'capture' | 'adjustment';
  description: string;
  reference: string | null;
  hold_id: string | null;
  created_at: string;
}

export interface CreditHoldsTable {
  id: string;
  account_id: string;
  amount_minor: number;
  status: 'active' | 'captured' | 'released';
  reference: string | null;
  captured_minor: number | null;
  created_at: string;
  settled_at: string | null;
}

export interface PricesTable {
  id: string;
  account_id: string | null;
  kind: 'voice' | 'sms';
  prefix: string;
  price_minor: number;
  created_at: string;
}

export interface CallsTable {
  id: string;
  account_id: string;
  direction: 'outbound' | 'inbound';
  from_number: string;
  to_number: string;
  state: 'queued' | 'dialing' | 'ringing' | 'early_media' | 'answered' | 'ended';
  outcome: string | null;
  hangup_cause: string | null;
  hangup_cause_code: number | null;
  end_reason: string | null;
  sip_status: number | null;
  sip_reason: string | null;
  trunk: string | null;
  sip_call_id: string | null;
  ring_timeout_s: number;
  max_duration_s: number;
  metadata: string | null;
  created_at: string;
  updated_at: string;
  answered_at: string | null;
  ended_at: string | null;
}

export interface CallEventsTable {
  seq: Generated<number>;
  call_id: string;
  state: CallsTable['state'];
  at: string;
  sip_status: number | null;
  sip_reason: string | null;
  outcome: string | null;
  hangup_cause: string | null;
  hangup_cause_code: number | null;
  end_reason: string | null;
}

export interface Tables {
  accounts: AccountsTable;
  users: UsersTable;
  api_keys: ApiKeysTable;
  gateway_apps: GatewayAppsTable;
  phone_numbers: PhoneNumbersTable;
  credit_entries: CreditEntriesTable;
  credit_holds: CreditHoldsTable;
  prices: PricesTable;
  calls: CallsTable;
  call_events: CallEventsTable;
}

export type AccountRow = Selectable<AccountsTable>;
export type UserRow = Selectable<UsersTable>;
export type NewUserRow = Insertable<UsersTable>;
export type ApiKeyRow = Selectable<ApiKeysTable>;
export type ApiKeyUpdate = Updateable<ApiKeysTable>;
export type GatewayAppRow = Selectable<GatewayAppsTable>;
export type PhoneNumberRow = Selectable<PhoneNumbersTable>;
export type CreditEntryRow = Selectable<CreditEntriesTable>;
export type CreditHoldRow = Selectable<CreditHoldsTable>;
export type PriceRow = Selectable<PricesTable>;
export type CallRow = Selectable<CallsTable>;
export type CallEventRow = Selectable<CallEventsTable>;
