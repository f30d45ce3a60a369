import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { parseSecretKey } from '../config/secret-key.js';

export { parseSecretKey };

/**
 * The columns kept sealed, by table. Webhook signing secrets sign what a receiver trusts; a device's HA1 is all a
 * REGISTER needs (digest never needs the password itself), so either read from a copy of the database would be
 * enough to impersonate Dialplane or a phone. Only the repositories see these columns; core always sees plaintext.
 */
export const SEALED_COLUMNS = {
  webhook_endpoints: ['secret', 'previous_secret'],
  webhook_deliveries: ['secret'],
  applications: ['hook_secret'],
  gateway_apps: ['webhook_secret'],
  devices: ['ha1'],
} as const;

export type SealedTable = keyof typeof SEALED_COLUMNS;
export type SealedColumn = { [T in SealedTable]: `${T}.${(typeof SEALED_COLUMNS)[T][number]}` }[SealedTable];

/** `dpsec1.<key id>.<base64url(iv || ciphertext || tag)>`: the format version, the key that sealed it, the box. */
export const SEALED_PREFIX = 'dpsec1.';
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const SEALED = /^dpsec1\.([A-Za-z0-9_-]{8})\.([A-Za-z0-9_-]+)$/;

export type SecretBoxErrorCode = 'unknown_key' | 'not_sealed' | 'does_not_open';

export class SecretBoxError extends Error {
  constructor(
    readonly code: SecretBoxErrorCode,
    readonly column: SealedColumn,
    message: string,
  ) {
    super(message);
    this.name = 'SecretBoxError';
  }
}

/** Names a key without revealing it: 6 bytes of a hash of it, in base64url. */
export function keyIdOf(key: Buffer): string {
  return createHash('sha256').update('dialplane secrets key id\0').update(key).digest().subarray(0, 6).toString('base64url');
}

/**
 * AES-256-GCM with a random 12-byte IV per value and the column's name as additional authenticated data, so a
 * value moved to another column does not open there. New values are sealed with the current key; values sealed with
 * a previous key still open (until the start-up pass reseals them, see resealSecrets).
 */
export class SecretBox {
  readonly currentKeyId: string;
  private readonly current: Buffer;
  private readonly keys: ReadonlyMap<string, Buffer>;

  constructor(current: Buffer, previous: readonly Buffer[] = []) {
    if (current.length !== KEY_BYTES) throw new Error(`a secrets key is ${KEY_BYTES} bytes, not ${current.length}`);
    this.current = Buffer.from(current);
    this.currentKeyId = keyIdOf(current);
    const keys = new Map<string, Buffer>();
    for (const key of previous) {
      if (key.length !== KEY_BYTES) throw new Error(`a secrets key is ${KEY_BYTES} bytes, not ${key.length}`);
      keys.set(keyIdOf(key), Buffer.from(key));
    }
    keys.set(this.currentKeyId, this.current);
    this.keys = keys;
  }

  private static processKey: SecretBox | undefined;

  /**
   * One random key per process, for a store opened without a configured key (tests, tools): what it seals opens
   * again in the same process only. The server and the command line always pass the configured key.
   */
  static ephemeral(): SecretBox {
    SecretBox.processKey ??= new SecretBox(randomBytes(KEY_BYTES));
    return SecretBox.processKey;
  }

  seal(column: SealedColumn, plaintext: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.current, iv);
    cipher.setAAD(Buffer.from(column, 'utf8'));
    const body = Buffer.concat([iv, cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return `${SEALED_PREFIX}${this.currentKeyId}.${body.toString('base64url')}`;
  }

  open(column: SealedColumn, sealed: string): string {
    const match = SEALED.exec(sealed);
    if (!match) throw new SecretBoxError('not_sealed', column, `${column} holds a value that is not sealed`);
    const key = this.keys.get(match[1]!);
    if (!key) throw new SecretBoxError('unknown_key', column, `${column} was sealed with a key that is not configured (key id ${match[1]})`);
    const body = Buffer.from(match[2]!, 'base64url');
    if (body.length < IV_BYTES + TAG_BYTES) throw new SecretBoxError('does_not_open', column, `${column} holds a sealed value that does not open`);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, body.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(column, 'utf8'));
      decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
      return Buffer.concat([decipher.update(body.subarray(IV_BYTES, body.length - TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      throw new SecretBoxError('does_not_open', column, `${column} holds a sealed value that does not open (altered, or sealed for another column)`);
    }
  }

  /** Whether a stored value is sealed with the current key (nothing for the start-up pass to do). */
  sealedWithCurrentKey(value: string): boolean {
    return value.startsWith(`${SEALED_PREFIX}${this.currentKeyId}.`);
  }

  /** A copy of a row (or a change set) with its sealed columns sealed; null and absent values stay as they are. */
  sealRow<R extends object>(table: SealedTable, row: R): R {
    return this.mapRow(table, row, (column, value) => this.seal(column, value));
  }

  /** A copy of a row read from the database with its sealed columns opened. */
  openRow<R extends object>(table: SealedTable, row: R): R {
    return this.mapRow(table, row, (column, value) => this.open(column, value));
  }

  private mapRow<R extends object>(table: SealedTable, row: R, map: (column: SealedColumn, value: string) => string): R {
    let copy: Record<string, unknown> | undefined;
    for (const name of SEALED_COLUMNS[table]) {
      const value = (row as Record<string, unknown>)[name];
      if (typeof value !== 'string') continue;
      const target: Record<string, unknown> = (copy ??= { ...(row as Record<string, unknown>) });
      target[name] = map(`${table}.${name}` as SealedColumn, value);
    }
    return (copy ?? row) as R;
  }
}
