import { sql } from 'kysely';
import type { Database } from './database.js';
import { SEALED_COLUMNS, SEALED_PREFIX, SecretBoxError, type SealedColumn, type SealedTable, type SecretBox } from './secret-box.js';

/** What the start-up pass found: values resealed from a previous key, and plaintext left by an earlier version. */
export interface ResealResult {
  readonly resealed: number;
  readonly upgraded: number;
}

/** Why a start stops: values that open with none of the configured keys, or that are neither sealed nor plaintext. */
export class SecretsKeyError extends Error {
  constructor(
    message: string,
    readonly problems: readonly string[],
  ) {
    super(message);
    this.name = 'SecretsKeyError';
  }
}

/** Plaintext an earlier version left: an HA1 is 32 hex digits; any text is a webhook secret. */
const UPGRADEABLE: Partial<Record<SealedColumn, RegExp>> = { 'devices.ha1': /^[0-9a-fA-F]{32}$/ };

interface Change {
  readonly table: SealedTable;
  readonly column: string;
  readonly id: string;
  readonly from: string;
  readonly to: string;
}

/**
 * Run at every start, after the migrations: every secret value not sealed with the current key (sealed with a
 * previous one, or plaintext from before values were sealed) is resealed with it, in one transaction. Nothing is
 * written unless every value opens: a wrong key stops the start instead of leaving the database half resealed.
 * Afterwards the previous keys are no longer needed, and no plaintext is left.
 */
export async function resealSecrets(database: Database, box: SecretBox): Promise<ResealResult> {
  const prefix = `${SEALED_PREFIX}${box.currentKeyId}.`;
  const changes: Change[] = [];
  const problems: string[] = [];
  let unknownKey = false;
  let upgraded = 0;
  for (const table of Object.keys(SEALED_COLUMNS) as SealedTable[]) {
    for (const column of SEALED_COLUMNS[table]) {
      const name = `${table}.${column}` as SealedColumn;
      // Only values not already under the current key are read: the pass costs nothing once a database is resealed.
      const { rows } = await sql<{ id: string; value: string }>`
        select id, ${sql.ref(column)} as value from ${sql.table(table)}
        where ${sql.ref(column)} is not null and substr(${sql.ref(column)}, 1, ${sql.lit(prefix.length)}) <> ${prefix}`.execute(database.db);
      for (const { id, value } of rows) {
        let plaintext: string;
        if (value.startsWith(SEALED_PREFIX)) {
          try {
            plaintext = box.open(name, value);
          } catch (error) {
            if (!(error instanceof SecretBoxError)) throw error;
            if (error.code === 'unknown_key') unknownKey = true;
            problems.push(`${name} of ${id}: ${error.message}`);
            continue;
          }
        } else {
          const shape = UPGRADEABLE[name];
          if (shape && !shape.test(value)) {
            problems.push(`${name} of ${id}: neither sealed nor a plaintext value this version can seal`);
            continue;
          }
          plaintext = value;
          upgraded++;
        }
        changes.push({ table, column, id, from: value, to: box.seal(name, plaintext) });
      }
    }
  }
  if (problems.length > 0) {
    const shown = problems.slice(0, 3).join('; ') + (problems.length > 3 ? `; and ${problems.length - 3} more` : '');
    throw new SecretsKeyError(
      unknownKey
        ? `${problems.length} secret value(s) in the database do not open with DIALPLANE_SECRETS_KEY (or <data dir>/secrets.key while it is unset) nor with DIALPLANE_SECRETS_KEY_PREVIOUS: set the key they were sealed with (${shown})`
        : `${problems.length} secret value(s) in the database cannot be opened with DIALPLANE_SECRETS_KEY: ${shown}`,
      problems,
    );
  }
  if (changes.length > 0) {
    await database.write(async (trx) => {
      for (const change of changes) {
        // Only if unchanged since it was read: another node starting at the same time may have resealed it already.
        await sql`update ${sql.table(change.table)} set ${sql.ref(change.column)} = ${change.to}
          where id = ${change.id} and ${sql.ref(change.column)} = ${change.from}`.execute(trx);
      }
    });
  }
  return { resealed: changes.length - upgraded, upgraded };
}
