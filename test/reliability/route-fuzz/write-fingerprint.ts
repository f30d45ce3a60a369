import { createHash } from 'node:crypto';
import Sqlite from 'better-sqlite3';
import pg from 'pg';

/**
 * What a refused request must not change: every table an API request writes before it answers, read over a
 * connection of the test's own. Columns the engine changes on its own after an answer (an account's balance as calls
 * are billed, a key's last use) are left out, and tables that grow after an answer (legs, events, deliveries,
 * captures) are counted only where a request adds their rows before it answers.
 */
const HASHED: Readonly<Record<string, readonly string[]>> = {
  accounts: ['balance_minor', 'held_minor'],
  users: [],
  api_keys: ['last_used_at'],
  gateway_apps: [],
  phone_numbers: [],
  extensions: [],
  devices: [],
  applications: [],
  webhook_endpoints: [],
  contacts: [],
  contact_phone_numbers: [],
  contact_emails: [],
  contact_addresses: [],
  prices: [],
};

const COUNTED: Readonly<Record<string, string>> = {
  credit_top_ups: `select count(*) as n from credit_entries where kind in ('topup', 'adjustment')`,
  // A live call reserves each next minute (and a leg it dials) under its own reference after its request answered.
  credit_holds: 'select count(distinct reference) as n from credit_holds',
  calls: 'select count(*) as n from calls where parent_call_id is null',
  outbound_sms: `select count(*) as n from sms_messages where direction = 'outbound'`,
  auth_tokens: 'select count(*) as n from auth_tokens',
};

export type Fingerprint = Readonly<Record<string, string>>;

export interface WriteFingerprint {
  take(): Promise<Fingerprint>;
  close(): Promise<void>;
}

/** The tables whose part of the fingerprint differs. */
export function changedTables(before: Fingerprint, after: Fingerprint): string[] {
  return Object.keys(before).filter((name) => before[name] !== after[name]);
}

function digest(rows: readonly string[]): string {
  const hash = createHash('sha256');
  for (const row of [...rows].sort()) hash.update(row).update('\n');
  return hash.digest('hex').slice(0, 16);
}

export function sqliteFingerprint(file: string): WriteFingerprint {
  const db = new Sqlite(file, { readonly: true, fileMustExist: true });
  const selects = Object.entries(HASHED).map(([table, skip]) => ({ table, skip, statement: db.prepare(`select * from ${table}`) }));
  const counts = Object.entries(COUNTED).map(([name, text]) => ({ name, statement: db.prepare(text) }));
  return {
    async take() {
      const out: Record<string, string> = {};
      for (const { table, skip, statement } of selects) {
        const rows = (statement.all() as Record<string, unknown>[]).map((row) => {
          for (const column of skip) delete row[column];
          return JSON.stringify(row);
        });
        out[table] = `${rows.length}:${digest(rows)}`;
      }
      for (const { name, statement } of counts) out[name] = String((statement.get() as { n: number }).n);
      return out;
    },
    async close() {
      db.close();
    },
  };
}

export async function postgresFingerprint(url: string, schema: string): Promise<WriteFingerprint> {
  const client = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` });
  await client.connect();
  // One statement for the whole fingerprint: the snapshot is consistent and costs one round trip.
  const parts = [
    ...Object.entries(HASHED).map(([table, skip]) => {
      const row = `(to_jsonb(t)${skip.map((column) => ` - '${column}'`).join('')})::text`;
      return `(select count(*) || ':' || md5(coalesce(string_agg(${row}, ',' order by ${row}), '')) from ${table} t) as "${table}"`;
    }),
    ...Object.entries(COUNTED).map(([name, text]) => `(${text.replace(' as n', '')})::text as "${name}"`),
  ];
  const text = `select ${parts.join(', ')}`;
  return {
    async take() {
      const result = await client.query<Record<string, string>>(text);
      return { ...result.rows[0]! };
    },
    async close() {
      await client.end();
    },
  };
}
