import type { Config } from '../config/config.js';
import { secureDataDir } from '../config/data-files.js';
import { openDatabase, type Database } from './database.js';
import { resealSecrets, type ResealResult } from './reseal-secrets.js';
import { loadSecretBox, type LoadedSecretBox } from './secret-keys.js';
import { createStore, type Store } from './store.js';

export interface OpenedStore {
  readonly database: Database;
  readonly store: Store;
  readonly secrets: LoadedSecretBox;
  readonly resealed: ResealResult;
}

export interface OpenStoreHooks {
  readonly warn?: (message: string, details: Record<string, unknown>) => void;
  readonly info?: (message: string, details: Record<string, unknown>) => void;
}

/**
 * The database as the server and the command line open it: the data directory narrowed to its user, the secrets
 * key loaded (or made), the migrations run, then every secret value resealed with the current key.
 */
export async function openConfiguredStore(config: Config, hooks: OpenStoreHooks = {}): Promise<OpenedStore> {
  await secureDataDir(config.dataDir);
  const secrets = await loadSecretBox({ dataDir: config.dataDir, key: config.secrets.key, previousKeys: config.secrets.previousKeys });
  const database = await openDatabase({ url: config.database.url, dialect: config.database.dialect });
  let resealed: ResealResult;
  try {
    resealed = await resealSecrets(database, secrets.box);
  } catch (error) {
    await database.close();
    throw error;
  }
  if (config.database.dialect === 'postgres' && secrets.source === 'file') {
    hooks.warn?.(
      'the secrets key comes from a file in this data directory: every server on this PostgreSQL database needs the same key, so set DIALPLANE_SECRETS_KEY on each (see docs/configuration.md, Several servers on one database)',
      { file: secrets.file },
    );
  }
  if (secrets.generated) hooks.info?.('made a secrets key for the database', { file: secrets.file });
  if (resealed.resealed + resealed.upgraded > 0) {
    hooks.info?.('secret values resealed with the current secrets key', { ...resealed });
  }
  return { database, store: createStore(database, { secrets: secrets.box }), secrets, resealed };
}
