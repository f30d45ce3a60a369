import { chmod, lstat, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** Files the server keeps in its data directory, named once for the server and the command line. */
export const ADMIN_TOKEN_FILE = 'admin.token';
/** The key the secret columns are sealed with while DIALPLANE_SECRETS_KEY is unset. */
export const SECRETS_KEY_FILE = 'secrets.key';

/**
 * The data directory holds the database, its key and tokens: readable by the server's user only. Made 0700, and
 * narrowed to 0700 (its files to 0600) at every start where an earlier version or a hand left them wider.
 * Symbolic links and subdirectories are left as they are.
 */
export async function secureDataDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const info = await lstat(dir);
  if (info.isDirectory() && (info.mode & 0o077) !== 0) await chmod(dir, 0o700);
  for (const name of await readdir(dir)) {
    const file = join(dir, name);
    const stat = await lstat(file).catch(() => undefined);
    if (stat?.isFile() && (stat.mode & 0o177) !== 0) await chmod(file, 0o600);
  }
}
