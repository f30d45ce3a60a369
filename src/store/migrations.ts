import { randomBytes } from 'node:crypto';
import { sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import type { DatabaseDialect } from '../config/config.js';

/**
 * Migrations are code, kept in order by their names. Each receives the dialect for the few types that differ
 * (an auto-increment key, 64-bit money). Never edit a shipped migration; add the next one.
 */
type DialectMigration = (db: Kysely<unknown>, dialect: DatabaseDialect) => Promise<void>;

export const migrations: Record<string, DialectMigration> = {
  '0001_core': async (db, dialect) => {
    const money = dialect === 'postgres' ? 'bigint' : 'integer';
    await db.schema
      .createTable('accounts')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('email', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('balance_minor', money, (c) => c.notNull().defaultTo(0))
      .addColumn('held_minor', money, (c) => c.notNull().defaultTo(0))
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addCheckConstraint('accounts_held_not_negative', sql`held_minor >= 0`)
      .addCheckConstraint('accounts_not_overdrawn', sql`balance_minor - held_minor >= 0`)
      .execute();

    await db.schema
      .createTable('users')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id'))
      .addColumn('email', 'text', (c) => c.notNull())
      .addColumn('first_name', 'text', (c) => c.notNull())
      .addColumn('last_name', 'text', (c) => c.notNull())
      .addColumn('job_title', 'text', (c) => c.notNull())
      .addColumn('admin', 'integer', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('view_only', 'integer', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('users_account_email').unique().on('users').columns(['account_id', 'email']).execute();

    await db.schema
      .createTable('gateway_apps')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('caller_id_allow_list', 'text', (c) => c.notNull())
      .addColumn('webhook_url', 'text')
      .addColumn('webhook_secret', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('gateway_apps_account').on('gateway_apps').column('account_id').execute();

    await db.schema
      .createTable('api_keys')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id'))
      .addColumn('user_id', 'text', (c) => c.references('users.id'))
      .addColumn('app_id', 'text', (c) => c.references('gateway_apps.id'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('key_hash', 'text', (c) => c.notNull().unique())
      .addColumn('last4', 'text', (c) => c.notNull())
      .addColumn('permission', 'text', (c) => c.notNull())
      .addColumn('enabled', 'integer', (c) => c.notNull())
      .addColumn('expires_at', 'text')
      .addColumn('last_used_at', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('api_keys_account').on('api_keys').column('account_id').execute();

    await db.schema
      .createTable('phone_numbers')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id'))
      .addColumn('number', 'text', (c) => c.notNull().unique())
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('voice', 'integer', (c) => c.notNull())
      .addColumn('sms', 'integer', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('phone_numbers_account').on('phone_numbers').column('account_id').execute();

    await db.schema
      .createTable('credit_holds')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id'))
      .addColumn('amount_minor', money, (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('reference', 'text')
      .addColumn('captured_minor', money)
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('settled_at', 'text')
      .addCheckConstraint('credit_holds_positive', sql`amount_minor > 0`)
      .execute();
    await db.schema.createIndex('credit_holds_account').on('credit_holds').column('account_id').execute();

    await db.schema
      .createTable('credit_entries')
      .addColumn('seq', dialect === 'postgres' ? 'bigserial' : 'integer', (c) =>
        dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement(),
      )
      .addColumn('id', 'text', (c) => c.notNull().unique())
      .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id'))
      .addColumn('amount_minor', money, (c) => c.notNull())
      .addColumn('balance_after_minor', money, (c) => c.notNull())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('description', 'text', (c) => c.notNull())
      .addColumn('reference', 'text')
      .addColumn('hold_id', 'text', (c) => c.references('credit_holds.id'))
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('credit_entries_account').on('credit_entries').columns(['account_id', 'seq']).execute();

    await db.schema
      .createTable('prices')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('account_id', 'text', (c) => c.references('accounts.id'))
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('prefix', 'text', (c) => c.notNull())
      .addColumn('price_minor', money, (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('prices_lookup').on('prices').columns(['kind', 'account_id', 'prefix']).execute();
  },

  '0002_calls': async (db, dialect) => {
    await db.schema
      .createTable('calls')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id'))
      .addColumn('direction', 'text', (c) => c.notNull())
      .addColumn('from_number', 'text', (c) => c.notNull())
      .addColumn('to_number', 'text', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('outcome', 'text')
      .addColumn('hangup_cause', 'text')
      .addColumn('hangup_cause_code', 'integer')
      .addColumn('end_reason', 'text')
      .addColumn('sip_status', 'integer')
      .addColumn('sip_reason', 'text')
      .addColumn('trunk', 'text')
      .addColumn('sip_call_id', 'text')
      .addColumn('ring_timeout_s', 'integer', (c) => c.notNull())
      .addColumn('max_duration_s', 'integer', (c) => c.notNull())
      .addColumn('metadata', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addColumn('answered_at', 'text')
      .addColumn('ended_at', 'text')
      .execute();
    await db.schema.createIndex('calls_account_created').on('calls').columns(['account_id', 'created_at']).execute();
    await db.schema.createIndex('calls_state').on('calls').column('state').execute();

    await db.schema
      .createTable('call_events')
      .addColumn('seq', dialect === 'postgres' ? 'bigserial' : 'integer', (c) =>
        dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement(),
      )
      .addColumn('call_id', 'text', (c) => c.notNull().references('calls.id'))
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('at', 'text', (c) => c.notNull())
      .addColumn('sip_status', 'integer')
      .addColumn('sip_reason', 'text')
      .addColumn('outcome', 'text')
      .addColumn('hangup_cause', 'text')
      .addColumn('hangup_cause_code', 'integer')
      .addColumn('end_reason', 'text')
      .execute();
    await db.schema.createIndex('call_events_call').on('call_events').columns(['call_id', 'seq']).execute();
  },

  '0003_webhooks': async (db, dialect) => {
    const millis = dialect === 'postgres' ? 'bigint' : 'integer';
    await db.schema
      .createTable('webhook_endpoints')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id'))
      .addColumn('url', 'text', (c) => c.notNull())
      .addColumn('description', 'text', (c) => c.notNull())
      .addColumn('event_types', 'text', (c) => c.notNull())
      .addColumn('format', 'text', (c) => c.notNull())
      .addColumn('signature_header', 'text')
      .addColumn('secret', 'text', (c) => c.notNull())
      .addColumn('previous_secret', 'text')
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('disabled_reason', 'text')
      .addColumn('owner', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('webhook_endpoints_account').on('webhook_endpoints').columns(['account_id', 'status']).execute();

    await db.schema
      .createTable('webhook_deliveries')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('event_id', 'text', (c) => c.notNull())
      .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id'))
      .addColumn('endpoint_id', 'text', (c) => c.references('webhook_endpoints.id'))
      .addColumn('target_key', 'text', (c) => c.notNull())
      .addColumn('url', 'text', (c) => c.notNull())
      .addColumn('event_type', 'text', (c) => c.notNull())
      .addColumn('payload', 'text', (c) => c.notNull())
      .addColumn('signature_header', 'text')
      .addColumn('secret', 'text')
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('attempts', 'integer', (c) => c.notNull())
      .addColumn('next_attempt_at', millis, (c) => c.notNull())
      .addColumn('lease_until', millis)
      .addColumn('first_attempt_at', millis)
      .addColumn('last_status_code', 'integer')
      .addColumn('last_error', 'text')
      .addColumn('final_reason', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('completed_at', 'text')
      .execute();
    await db.schema
      .createIndex('webhook_deliveries_due')
      .on('webhook_deliveries')
      .columns(['status', 'next_attempt_at'])
      .execute();
    await db.schema
      .createIndex('webhook_deliveries_account')
      .on('webhook_deliveries')
      .columns(['account_id', 'created_at'])
      .execute();
    await db.schema.createIndex('webhook_deliveries_event').on('webhook_deliveries').column('event_id').execute();
    await db.schema
      .createIndex('webhook_deliveries_endpoint')
      .on('webhook_deliveries')
      .columns(['endpoint_id', 'status'])
      .execute();

    await db.schema
      .createTable('webhook_attempts')
      .addColumn('seq', dialect === 'postgres' ? 'bigserial' : 'integer', (c) =>
        dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement(),
      )
      .addColumn('delivery_id', 'text', (c) => c.notNull().references('webhook_deliveries.id'))
      .addColumn('attempt', 'integer', (c) => c.notNull())
      .addColumn('started_at', 'text', (c) => c.notNull())
      .addColumn('latency_ms', 'integer', (c) => c.notNull())
      .addColumn('status_code', 'integer')
      .addColumn('error', 'text')
      .addColumn('result', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('webhook_attempts_delivery').on('webhook_attempts').columns(['delivery_id', 'seq']).execute();
  },

  '0004_sms': async (db, dialect) => {
    const money = dialect === 'postgres' ? 'bigint' : 'integer';
    await db.schema
      .createTable('sms_messages')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id'))
      .addColumn('direction', 'text', (c) => c.notNull())
      .addColumn('from_number', 'text', (c) => c.notNull())
      .addColumn('to_number', 'text', (c) => c.notNull())
      .addColumn('body', 'text', (c) => c.notNull())
      .addColumn('encoding', 'text', (c) => c.notNull())
      .addColumn('segments', 'integer', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('price_minor', money, (c) => c.notNull())
      .addColumn('error_code', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addColumn('sent_at', 'text')
      .addColumn('completed_at', 'text')
      .execute();
    await db.schema.createIndex('sms_messages_account_created').on('sms_messages').columns(['account_id', 'created_at']).execute();
    await db.schema.createIndex('sms_messages_status').on('sms_messages').column('status').execute();

    await db.schema
      .createTable('sms_parts')
      .addColumn('message_id', 'text', (c) => c.notNull().references('sms_messages.id'))
      .addColumn('seq', 'integer', (c) => c.notNull())
      .addColumn('smsc_id', 'text')
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('error_code', 'text')
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('sms_parts_pk', ['message_id', 'seq'])
      .execute();
    await db.schema.createIndex('sms_parts_smsc_id').on('sms_parts').column('smsc_id').execute();

    await db.schema
      .createTable('sms_events')
      .addColumn('seq', dialect === 'postgres' ? 'bigserial' : 'integer', (c) =>
        dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement(),
      )
      .addColumn('message_id', 'text', (c) => c.notNull().references('sms_messages.id'))
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('at', 'text', (c) => c.notNull())
      .addColumn('error_code', 'text')
      .execute();
    await db.schema.createIndex('sms_events_message').on('sms_events').columns(['message_id', 'seq']).execute();
  },

  '0005_call_legs': async (db) => {
    await db.schema.alterTable('calls').addColumn('parent_call_id', 'text').execute();
    await db.schema.createIndex('calls_parent').on('calls').column('parent_call_id').execute();
  },

  '0006_extensions': async (db) => {
    await db.schema
      .createTable('extensions')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('extensions_account').on('extensions').columns(['account_id', 'created_at']).execute();

    await db.schema
      .createTable('devices')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id'))
      .addColumn('extension_id', 'text', (c) => c.notNull().references('extensions.id'))
      .addColumn('username', 'text', (c) => c.notNull().unique())
      .addColumn('ha1', 'text', (c) => c.notNull())
      .addColumn('realm', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('devices_account').on('devices').columns(['account_id', 'created_at']).execute();
    await db.schema.createIndex('devices_extension').on('devices').column('extension_id').execute();

    // Nullable with no default: SQLite accepts a REFERENCES clause on an added column only then.
    await db.schema
      .alterTable('phone_numbers')
      .addColumn('extension_id', 'text', (c) => c.references('extensions.id'))
      .execute();
    await db.schema.alterTable('phone_numbers').addColumn('forward_to', 'text').execute();
    await db.schema.createIndex('phone_numbers_extension').on('phone_numbers').column('extension_id').execute();
  },

  '0007_answer_here': async (db) => {
    await db.schema.alterTable('phone_numbers').addColumn('answer_here', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  },

  '0009_node_leases': async (db) => {
    await db.schema
      .createTable('nodes')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('started_at', 'text', (c) => c.notNull())
      .addColumn('heartbeat_at', 'text', (c) => c.notNull())
      .addColumn('lease_until', 'text', (c) => c.notNull())
      .execute();
    // Null on rows written before nodes had leases: no node owns them, so the next start recovers them.
    await db.schema.alterTable('calls').addColumn('owner_node', 'text').execute();
    await db.schema.createIndex('calls_state_owner').on('calls').columns(['state', 'owner_node']).execute();
    await db.schema.alterTable('sms_messages').addColumn('owner_node', 'text').execute();
    await db.schema.createIndex('sms_messages_status_owner').on('sms_messages').columns(['status', 'owner_node']).execute();
    // A recovered call's reserves are found by their exact reference.
    await db.schema.createIndex('credit_holds_reference').on('credit_holds').columns(['reference', 'status']).execute();
  },

  '0010_applications': async (db) => {
    await db.schema
      .createTable('applications')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('call_hook', 'text')
      .addColumn('status_hook', 'text')
      .addColumn('program', 'text')
      .addColumn('hook_secret', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('applications_account').on('applications').columns(['account_id', 'created_at']).execute();
    // Nullable with no default, as 0006's extension_id: SQLite accepts a REFERENCES clause on an added column only then.
    // The reference is what makes deleting a routed application fail even when a route is set concurrently.
    await db.schema
      .alterTable('phone_numbers')
      .addColumn('application_id', 'text', (c) => c.references('applications.id'))
      .execute();
    await db.schema.createIndex('phone_numbers_application').on('phone_numbers').column('application_id').execute();
  },

  '0011_call_control': async (db, dialect) => {
    const money = dialect === 'postgres' ? 'bigint' : 'integer';
    // What a leg costs a minute (null: not billed, a device leg) and what it was charged when it ended.
    await db.schema.alterTable('calls').addColumn('price_minor', money).execute();
    await db.schema.alterTable('calls').addColumn('cost_minor', money).execute();
    await db.schema.alterTable('calls').addColumn('application_id', 'text').execute();
    await db.schema
      .createTable('call_activities')
      .addColumn('seq', dialect === 'postgres' ? 'bigserial' : 'integer', (c) =>
        dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement(),
      )
      .addColumn('call_id', 'text', (c) => c.notNull().references('calls.id'))
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('data', 'text', (c) => c.notNull())
      .addColumn('at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('call_activities_call').on('call_activities').columns(['call_id', 'seq']).execute();
    await db.schema
      .createTable('recordings')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id'))
      .addColumn('call_id', 'text', (c) => c.notNull().references('calls.id'))
      .addColumn('duration_ms', 'integer', (c) => c.notNull())
      .addColumn('wav', dialect === 'postgres' ? 'bytea' : 'blob', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('recordings_call').on('recordings').column('call_id').execute();
  },

  '0012_calls_live_index': async (db) => {
    // A call's state changes four times in its life; each index holding the state is rewritten each time. Only the
    // calls not yet ended are ever looked up by state (what a node left behind), so one partial index of those
    // replaces both: a call enters it when stored and leaves it when it ends.
    await db.schema.dropIndex('calls_state').execute();
    await db.schema.dropIndex('calls_state_owner').execute();
    await sql`create index calls_live on calls (owner_node) where state != 'ended'`.execute(db);
  },

  '0013_gateway_sessions': async (db) => {
    // The call-control application whose hook or program decides what an answered gateway session does. Nullable
    // with no default, as 0006's extension_id: SQLite accepts a REFERENCES clause on an added column only then.
    await db.schema
      .alterTable('gateway_apps')
      .addColumn('application_id', 'text', (c) => c.references('applications.id'))
      .execute();
    // Ordered deliveries (a gateway session's events) wait for the earlier ones of their target.
    await db.schema.createIndex('webhook_deliveries_target').on('webhook_deliveries').columns(['target_key', 'status']).execute();
    // Apps made before their webhook URL was an endpoint of the outbox get theirs now.
    const apps = await sql<{ id: string; account_id: string; webhook_url: string; webhook_secret: string | null; created_at: string }>`
      select id, account_id, webhook_url, webhook_secret, created_at from gateway_apps where webhook_url is not null
    `.execute(db);
    for (const app of apps.rows) {
      const id = `whe_${randomBytes(10).toString('hex')}`;
      const types = JSON.stringify(['call.*', 'session.*']);
      await sql`
        insert into webhook_endpoints (id, account_id, url, description, event_types, format, signature_header, secret,
          previous_secret, status, disabled_reason, owner, created_at, updated_at)
        values (${id}, ${app.account_id}, ${app.webhook_url}, ${`session webhooks of gateway app ${app.id}`}, ${types},
          'gateway.session', null, ${app.webhook_secret ?? ''}, null, 'enabled', null, ${`gateway_app:${app.id}`},
          ${app.created_at}, ${app.created_at})
      `.execute(db);
    }
  },

  '0014_extension_numbers_and_registrations': async (db) => {
    // The short number an extension is dialled by (309), unique in its account, and a mobile rung with its devices.
    // Both nullable: extensions made before had neither. Several NULLs never collide in a unique index.
    await db.schema.alterTable('extensions').addColumn('number', 'text').execute();
    await db.schema.alterTable('extensions').addColumn('mobile', 'text').execute();
    await db.schema.createIndex('extensions_account_number').unique().on('extensions').columns(['account_id', 'number']).execute();

    // The registrar's bindings, so a restart keeps every device reachable until its registration expires.
    await db.schema
      .createTable('sip_registrations')
      .addColumn('device_id', 'text', (c) => c.notNull())
      .addColumn('binding_key', 'text', (c) => c.notNull())
      .addColumn('account_id', 'text', (c) => c.notNull())
      .addColumn('extension_id', 'text', (c) => c.notNull())
      .addColumn('uri', 'text', (c) => c.notNull())
      .addColumn('instance', 'text')
      .addColumn('transport', 'text', (c) => c.notNull())
      .addColumn('address', 'text', (c) => c.notNull())
      .addColumn('port', 'integer', (c) => c.notNull())
      .addColumn('call_id', 'text', (c) => c.notNull())
      .addColumn('cseq', 'integer', (c) => c.notNull())
      .addColumn('expires_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('sip_registrations_pk', ['device_id', 'binding_key'])
      .execute();
    await db.schema.createIndex('sip_registrations_expires').on('sip_registrations').column('expires_at').execute();
  },

  '0015_diallink': async (db, dialect) => {
    const bigint = dialect === 'postgres' ? 'bigint' : 'integer';
    // A user who may sign in has a password (scrypt, see core/passwords.ts); users made before have none.
    await db.schema.alterTable('users').addColumn('password_hash', 'text').execute();
    await db.schema
      .alterTable('users')
      .addColumn('parallel_calls_enabled', 'integer', (c) => c.notNull().defaultTo(1))
      .execute();

    // A sign-in starts a family of tokens; each refresh spends one refresh token and issues the next pair in the
    // same family. Spending a refresh token twice revokes the family (the token was stolen or replayed).
    await db.schema
      .createTable('auth_token_families')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id'))
      .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('revoked_at', 'text')
      .addColumn('revoked_reason', 'text')
      .execute();
    await db.schema
      .createTable('auth_tokens')
      .addColumn('hash', 'text', (c) => c.primaryKey())
      .addColumn('family_id', 'text', (c) => c.notNull().references('auth_token_families.id'))
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'text', (c) => c.notNull())
      .addColumn('spent_at', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('auth_tokens_family').on('auth_tokens').column('family_id').execute();

    await db.schema
      .createTable('contacts')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id'))
      .addColumn('first_name', 'text', (c) => c.notNull())
      .addColumn('last_name', 'text', (c) => c.notNull())
      .addColumn('company_name', 'text')
      .addColumn('job_title', 'text')
      .addColumn('industry', 'text')
      .addColumn('employee_count', bigint)
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('shared', 'integer', (c) => c.notNull())
      .addColumn('favorite', 'integer', (c) => c.notNull())
      .addColumn('force_save', 'integer', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('contacts_account_created').on('contacts').columns(['account_id', 'created_at']).execute();
    await db.schema
      .createTable('contact_phone_numbers')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('contact_id', 'text', (c) => c.notNull().references('contacts.id'))
      .addColumn('position', 'integer', (c) => c.notNull())
      .addColumn('type', 'text')
      .addColumn('phone_number', 'text')
      .execute();
    await db.schema.createIndex('contact_phone_numbers_contact').on('contact_phone_numbers').column('contact_id').execute();
    await db.schema
      .createTable('contact_emails')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('contact_id', 'text', (c) => c.notNull().references('contacts.id'))
      .addColumn('position', 'integer', (c) => c.notNull())
      .addColumn('type', 'text')
      .addColumn('email', 'text')
      .execute();
    await db.schema.createIndex('contact_emails_contact').on('contact_emails').column('contact_id').execute();
    await db.schema
      .createTable('contact_addresses')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('contact_id', 'text', (c) => c.notNull().references('contacts.id'))
      .addColumn('position', 'integer', (c) => c.notNull())
      .addColumn('type', 'text')
      .addColumn('address_line1', 'text')
      .addColumn('address_line2', 'text')
      .addColumn('city', 'text')
      .addColumn('state', 'text')
      .addColumn('zip', 'text')
      .addColumn('country', 'text')
      .execute();
    await db.schema.createIndex('contact_addresses_contact').on('contact_addresses').column('contact_id').execute();
  },

  // Refunds got a ledger kind of their own; earlier ones were written as top-ups with a "refund: …" description.
  '0016_first_hour': async (db) => {
    await sql`update credit_entries set kind = 'refund' where kind = 'topup' and description like 'refund: %'`.execute(db);
  },

  // SRTP (SDES) policy of an extension's devices: off, offer or require. Existing extensions keep plain RTP.
  '0017_extension_srtp': async (db) => {
    await db.schema.alterTable('extensions').addColumn('srtp', 'text', (c) => c.notNull().defaultTo('off')).execute();
  },

  // Work one node does for all: a named claim (the SMPP bind of an SMSC account, a trunk's registration) held by one
  // node until its lease runs out; the node that claimed a webhook delivery; the SMSC account a message goes through.
  '0018_work_claims': async (db) => {
    await db.schema
      .createTable('work_claims')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('holder', 'text', (c) => c.notNull())
      .addColumn('acquired_at', 'text', (c) => c.notNull())
      .addColumn('lease_until', 'text', (c) => c.notNull())
      .execute();
    await db.schema.alterTable('webhook_deliveries').addColumn('claimed_by', 'text').execute();
    // Null for inbound messages and rows from before: those are resumed as 0009 described.
    await db.schema.alterTable('sms_messages').addColumn('smsc', 'text').execute();
    await sql`create index sms_messages_unsent on sms_messages (smsc) where status = 'queued'`.execute(db);
  },
};

export function migrationProvider(dialect: DatabaseDialect): MigrationProvider {
  return {
    async getMigrations(): Promise<Record<string, Migration>> {
      const out: Record<string, Migration> = {};
      for (const [name, up] of Object.entries(migrations)) out[name] = { up: (db) => up(db, dialect) };
      return out;
    },
  };
}
