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
  /** scrypt (core/passwords.ts); null: the user cannot sign in with a password (migration 0013). */
  password_hash: Generated<string | null>;
  parallel_calls_enabled: Generated<number>;
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
  /** The call-control application an answered session runs (migration 0012). */
  application_id: string | null;
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

/**
 * Where an inbound call to a number goes (migration 0006): the devices of one extension, a forward number, or
 * neither (both null). Kept apart from PhoneNumbersTable so rows written without them stay valid.
 */
export interface PhoneNumberRoutingColumns {
  extension_id: string | null;
  /** E.164. */
  forward_to: string | null;
  /** 1: Dialplane answers calls to the number itself (the API's programmable calls). */
  answer_here: Generated<number>;
  /** The application whose hook or program takes the number's calls (migration 0010). */
  application_id: string | null;
}

/** A group of devices rung together (DialAnyone's "extension"). */
export interface ExtensionsTable {
  id: string;
  account_id: string;
  name: string;
  created_at: string;
  /** The short number it is dialled by (e.g. 309), unique in the account; null when it has none. */
  number: string | null;
  /** E.164: a mobile rung together with the extension's devices, through the trunk. */
  mobile: string | null;
  /** SRTP policy of its devices' calls: 'off', 'offer' or 'require' (migration 0017). */
  srtp: Generated<string>;
}

/** A registrar binding: where one Contact of a device is reached, until expires_at (ISO). */
export interface SipRegistrationsTable {
  device_id: string;
  /** What tells the device's Contacts apart (scheme, user, host, port, transport). */
  binding_key: string;
  account_id: string;
  extension_id: string;
  uri: string;
  /** The Contact's +sip.instance, when it gave one. */
  instance: string | null;
  transport: string;
  /** Where the REGISTER came from: the device is reached there (behind NAT, its Contact's address is private). */
  address: string;
  port: number;
  call_id: string;
  cseq: number;
  expires_at: string;
}

/** A SIP phone of an extension; it registers as `username` with the digest password only its HA1 remembers. */
export interface DevicesTable {
  id: string;
  account_id: string;
  extension_id: string;
  /** Unique across every account: the SIP digest username. */
  username: string;
  /** MD5(username ":" realm ":" password) as lower-case hex: the only form the password is kept in. */
  ha1: string;
  realm: string;
  created_at: string;
}

/**
 * A running Dialplane process and its lease (migration 0009): it renews `lease_until` while it lives; once that has
 * passed, the node is gone and any other node may end its calls and resume its messages.
 */
export interface NodesTable {
  id: string;
  started_at: string;
  heartbeat_at: string;
  lease_until: string;
}

/**
 * Work one node does for all (migration 0018), by name: `smpp:<account>` (the bind to an SMSC account),
 * `trunk-register:<trunk>`. The holder renews `lease_until`; once it has passed, any node may take the claim.
 */
export interface WorkClaimsTable {
  name: string;
  holder: string;
  acquired_at: string;
  lease_until: string;
}

/**
 * An account's voice application: a call hook (asked for the verbs to run) with an optional status hook, or a
 * stored program. Exactly one of call_hook and program is set.
 */
export interface ApplicationsTable {
  id: string;
  account_id: string;
  name: string;
  call_hook: string | null;
  status_hook: string | null;
  /** JSON text of a validated program. */
  program: string | null;
  /** Signs every hook request and status event, as webhook endpoints keep theirs (whsec_…, shown once). */
  hook_secret: string;
  created_at: string;
}

export interface CreditEntriesTable {
  seq: Generated<number>;
  id: string;
  account_id: string;
  amount_minor: number;
  balance_after_minor: number;
  kind: 'topup' | 'debit' | 'capture' | 'refund' | 'adjustment';
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
  /** The call this leg belongs to (the second leg of a two-leg call), or null. */
  parent_call_id: string | null;
  /** The node (process) that drives the call (migration 0009); null on calls stored before nodes had leases. */
  owner_node: string | null;
  created_at: string;
  updated_at: string;
  answered_at: string | null;
  ended_at: string | null;
  /** Per started minute, in minor units; null for a leg that is not billed (a registered device). */
  price_minor: number | null;
  /** What the leg was charged once it ended. */
  cost_minor: number | null;
  /** The application whose program the call runs, if any. */
  application_id: string | null;
}

/** What a call's program did: keys collected, dial outcomes, recordings, hook errors, programs started. */
export interface CallActivitiesTable {
  seq: Generated<number>;
  call_id: string;
  kind: string;
  /** JSON. */
  data: string;
  at: string;
}

export interface RecordingsTable {
  id: string;
  account_id: string;
  call_id: string;
  duration_ms: number;
  wav: Buffer;
  created_at: string;
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

export type WebhookEndpointStatus = 'enabled' | 'disabled';

export interface WebhookEndpointsTable {
  id: string;
  account_id: string;
  url: string;
  description: string;
  /** JSON array of event types; ["*"] is every event. */
  event_types: string;
  /** Name of the payload format a face registered (`dialplane` is the platform's own). */
  format: string;
  /** Header carrying the plain HMAC of the body, for faces that promise one; null sends only X-Dialplane-Signature. */
  signature_header: string | null;
  /** Secret. Empty text: deliveries are not signed. */
  secret: string;
  /** The secret before the last rotation, still signed with until it is dropped. */
  previous_secret: string | null;
  status: WebhookEndpointStatus;
  disabled_reason: string | null;
  /** Bookkeeping for the face that created the endpoint (a DialAnyone subscription, a key's call URL). */
  owner: string | null;
  created_at: string;
  updated_at: string;
}

export type WebhookDeliveryStatus = 'pending' | 'delivering' | 'delivered' | 'failed' | 'cancelled';

export interface WebhookDeliveriesTable {
  id: string;
  /** Shared by every delivery of one event, and kept by re-sends: the receiver's de-duplication key. */
  event_id: string;
  account_id: string;
  endpoint_id: string | null;
  /** What the per-target concurrency cap counts: the endpoint, or the URL of a one-off delivery. */
  target_key: string;
  url: string;
  event_type: string;
  /** The exact bytes sent, fixed when the event is written so every attempt signs the same body. */
  payload: string;
  signature_header: string | null;
  /** Secret of a one-off delivery (a test); deliveries to an endpoint use the endpoint's current secrets. */
  secret: string | null;
  status: WebhookDeliveryStatus;
  attempts: number;
  /** Epoch milliseconds. */
  next_attempt_at: number;
  lease_until: number | null;
  /** The node whose attempt holds the lease (migration 0018); null while pending. */
  claimed_by: string | null;
  first_attempt_at: number | null;
  last_status_code: number | null;
  last_error: string | null;
  final_reason: string | null;
  created_at: string;
  completed_at: string | null;
}

export interface WebhookAttemptsTable {
  seq: Generated<number>;
  delivery_id: string;
  attempt: number;
  started_at: string;
  latency_ms: number;
  status_code: number | null;
  error: string | null;
  /** delivered, retry, failed or disabled (the endpoint answered 410). */
  result: string;
}

export type SmsStatus = 'queued' | 'sent' | 'delivered' | 'undelivered' | 'failed' | 'received';

export interface SmsMessagesTable {
  id: string;
  account_id: string;
  direction: 'outbound' | 'inbound';
  from_number: string;
  to_number: string;
  body: string;
  /** Outbound: GSM-7 or UCS-2. Inbound: as the SMSC's data_coding said (LATIN-1, binary too). */
  encoding: 'GSM-7' | 'UCS-2' | 'LATIN-1' | 'binary';
  segments: number;
  status: SmsStatus;
  /** Per-segment price times segments, charged when the message was accepted. */
  price_minor: number;
  error_code: string | null;
  /** The node that submits an outbound message (migration 0009); null for inbound ones and older rows. */
  owner_node: string | null;
  /**
   * The SMSC account an outbound message is submitted through (migration 0018): whichever node holds that account's
   * bind sends it. Null for inbound messages and older rows.
   */
  smsc: string | null;
  created_at: string;
  updated_at: string;
  sent_at: string | null;
  completed_at: string | null;
}

export interface SmsPartsTable {
  message_id: string;
  seq: number;
  /** The SMSC's message id from submit_sm_resp; receipts name it. */
  smsc_id: string | null;
  /**
   * `submitting`: its submit_sm may have been written and no answer is recorded. After a crash such a part is never
   * written again (at most once): it is settled `failed` with `submit_unconfirmed`.
   */
  status: 'queued' | 'submitting' | 'sent' | 'delivered' | 'undelivered' | 'failed';
  error_code: string | null;
  updated_at: string;
}

export interface SmsEventsTable {
  seq: Generated<number>;
  message_id: string;
  status: SmsStatus;
  at: string;
  error_code: string | null;
}

/** One sign-in: the tokens issued by it and by each refresh after it (migration 0013). */
export interface AuthTokenFamiliesTable {
  id: string;
  account_id: string;
  user_id: string;
  created_at: string;
  revoked_at: string | null;
  revoked_reason: string | null;
}

/** An access or refresh token, kept only as the SHA-256 of its text. */
export interface AuthTokensTable {
  hash: string;
  family_id: string;
  kind: 'access' | 'refresh';
  expires_at: string;
  /** A refresh token is spent by the refresh that used it; a second use revokes its family. */
  spent_at: string | null;
  created_at: string;
}

/** An account's address-book entry (DialLink's contacts), with its numbers, emails and addresses in child tables. */
export interface ContactsTable {
  id: string;
  account_id: string;
  first_name: string;
  last_name: string;
  company_name: string | null;
  job_title: string | null;
  industry: string | null;
  employee_count: number | null;
  type: string;
  shared: number;
  favorite: number;
  force_save: number;
  created_at: string;
  updated_at: string;
}

export interface ContactPhoneNumbersTable {
  id: string;
  contact_id: string;
  /** Order within the contact, as given. */
  position: number;
  type: string | null;
  phone_number: string | null;
}

export interface ContactEmailsTable {
  id: string;
  contact_id: string;
  position: number;
  type: string | null;
  email: string | null;
}

export interface ContactAddressesTable {
  id: string;
  contact_id: string;
  position: number;
  type: string | null;
  address_line1: string | null;
  address_line2: string | null;
  city: string | null;
  state: string | null;
  zip: string | null;
  country: string | null;
}

export interface Tables {
  accounts: AccountsTable;
  users: UsersTable;
  api_keys: ApiKeysTable;
  gateway_apps: GatewayAppsTable;
  phone_numbers: PhoneNumbersTable & PhoneNumberRoutingColumns;
  credit_entries: CreditEntriesTable;
  credit_holds: CreditHoldsTable;
  prices: PricesTable;
  calls: CallsTable;
  call_events: CallEventsTable;
  call_activities: CallActivitiesTable;
  recordings: RecordingsTable;
  webhook_endpoints: WebhookEndpointsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
  sms_messages: SmsMessagesTable;
  sms_parts: SmsPartsTable;
  sms_events: SmsEventsTable;
  extensions: ExtensionsTable;
  devices: DevicesTable;
  sip_registrations: SipRegistrationsTable;
  nodes: NodesTable;
  work_claims: WorkClaimsTable;
  applications: ApplicationsTable;
  auth_token_families: AuthTokenFamiliesTable;
  auth_tokens: AuthTokensTable;
  contacts: ContactsTable;
  contact_phone_numbers: ContactPhoneNumbersTable;
  contact_emails: ContactEmailsTable;
  contact_addresses: ContactAddressesTable;
}

export type AccountRow = Selectable<AccountsTable>;
export type UserRow = Selectable<UsersTable>;
export type NewUserRow = Insertable<UsersTable>;
export type ApiKeyRow = Selectable<ApiKeysTable>;
export type ApiKeyUpdate = Updateable<ApiKeysTable>;
export type GatewayAppRow = Selectable<GatewayAppsTable>;
export type PhoneNumberRow = Selectable<PhoneNumbersTable>;
export type RoutedPhoneNumberRow = Selectable<PhoneNumbersTable & PhoneNumberRoutingColumns>;
export type CreditEntryRow = Selectable<CreditEntriesTable>;
export type CreditHoldRow = Selectable<CreditHoldsTable>;
export type PriceRow = Selectable<PricesTable>;
export type CallRow = Selectable<CallsTable>;
export type CallEventRow = Selectable<CallEventsTable>;
export type CallActivityRow = Selectable<CallActivitiesTable>;
export type RecordingRow = Selectable<RecordingsTable>;
export type WebhookEndpointRow = Selectable<WebhookEndpointsTable>;
export type WebhookDeliveryRow = Selectable<WebhookDeliveriesTable>;
export type WebhookAttemptRow = Selectable<WebhookAttemptsTable>;
export type SmsMessageRow = Selectable<SmsMessagesTable>;
export type SmsPartRow = Selectable<SmsPartsTable>;
export type SmsEventRow = Selectable<SmsEventsTable>;
export type ExtensionRow = Selectable<ExtensionsTable>;
export type DeviceRow = Selectable<DevicesTable>;
export type SipRegistrationRow = Selectable<SipRegistrationsTable>;
export type NodeRow = Selectable<NodesTable>;
export type WorkClaimRow = Selectable<WorkClaimsTable>;
export type ApplicationRow = Selectable<ApplicationsTable>;
export type AuthTokenFamilyRow = Selectable<AuthTokenFamiliesTable>;
export type AuthTokenRow = Selectable<AuthTokensTable>;
export type ContactRow = Selectable<ContactsTable>;
export type ContactPhoneNumberRow = Selectable<ContactPhoneNumbersTable>;
export type ContactEmailRow = Selectable<ContactEmailsTable>;
export type ContactAddressRow = Selectable<ContactAddressesTable>;
