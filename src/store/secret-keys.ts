import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SECRETS_KEY_FILE } from '../config/data-files.js';
import { parseSecretKey, SecretBox } from './secret-box.js';

export interface SecretKeySettings {
  readonly dataDir: string;
  /** DIALPLANE_SECRETS_KEY. */
  readonly key: string | undefined;
  /** DIALPLANE_SECRETS_KEY_PREVIOUS: comma-separated. */
  readonly previousKeys: string | undefined;
}

export interface LoadedSecretBox {
  readonly box: SecretBox;
  /** Where the current key came from: the environment (or config file), or the key file in the data directory. */
  readonly source: 'configured' | 'file';
  /** The key file, when the key came from it. */
  readonly file?: string;
  /** Whether the key file was made by this call. */
  readonly generated: boolean;
}

/**
 * The key the secret columns are sealed with, kept outside the database: DIALPLANE_SECRETS_KEY, or else
 * <data dir>/secrets.key, made (0600) at the first start and read at later ones. The server and the command line
 * both come here, so they open the same database with the same key.
 */
export async function loadSecretBox(settings: SecretKeySettings): Promise<LoadedSecretBox> {
  const previous = (settings.previousKeys ?? '')
    .split(',')
    .map((text) => text.trim())
    .filter((text) => text !== '')
    .map((text) => {
      const key = parseSecretKey(text);
      if (!key) throw new Error('DIALPLANE_SECRETS_KEY_PREVIOUS: expected 32-byte keys (base64 or 64 hex digits) separated by commas');
      return key;
    });
  if (settings.key !== undefined) {
    const key = parseSecretKey(settings.key);
    if (!key) throw new Error('DIALPLANE_SECRETS_KEY: expected a 32-byte key, as base64 or 64 hex digits');
    return { box: new SecretBox(key, previous), source: 'configured', generated: false };
  }
  const file = join(settings.dataDir, SECRETS_KEY_FILE);
  let generated = false;
  let text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (text === undefined) {
    try {
      // 'wx': a file another process made meanwhile is read, never replaced (that would lose its key).
      await writeFile(file, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
      generated = true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    text = await readFile(file, 'utf8');
  }
  const key = parseSecretKey(text);
  if (!key) throw new Error(`${file} does not hold a 32-byte key (base64 or 64 hex digits); DIALPLANE_SECRETS_KEY is unset`);
  return { box: new SecretBox(key, previous), source: 'file', file, generated };
}
