import { chmod, mkdir, stat, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { AdminCommandError } from './admin-client.js';
import { printResult } from './output.js';
import { selfSignedCertificate } from './self-signed-cert.js';

/** What a development certificate is for: the names a local client reaches the server by. */
export const DEV_CERT_HOSTS = ['localhost', '127.0.0.1', '::1'] as const;
export const DEV_CERT_DAYS = 365;

interface DevCertOptions {
  readonly out: string;
  readonly days: string;
  readonly host: readonly string[];
  readonly force?: boolean;
  readonly json?: boolean;
}

/** Writes `cert.pem` and `key.pem` (mode 0600) into `dir`; refuses to replace existing files unless `force`. */
export async function writeDevCert(
  dir: string,
  options: { readonly days?: number; readonly hosts?: readonly string[]; readonly force?: boolean } = {},
): Promise<{ cert: string; key: string; hosts: string[]; days: number }> {
  const days = options.days ?? DEV_CERT_DAYS;
  if (!Number.isInteger(days) || days < 1 || days > 3650) throw new AdminCommandError('--days must be a whole number from 1 to 3650', 'validation_failed');
  const hosts = [...new Set([...DEV_CERT_HOSTS, ...(options.hosts ?? [])])];
  for (const host of hosts) {
    if (isIP(host) === 0 && !/^(?=.{1,253}$)[A-Za-z0-9*]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(host)) {
      throw new AdminCommandError(`--host ${host} is neither a host name nor an IP address`, 'validation_failed');
    }
  }
  const out = resolve(dir);
  const cert = join(out, 'cert.pem');
  const key = join(out, 'key.pem');
  if (!options.force) {
    for (const file of [cert, key]) {
      if (await stat(file).then(() => true, () => false)) throw new AdminCommandError(`${file} exists: pass --force to replace it`, 'conflict');
    }
  }
  const pair = selfSignedCertificate({ commonName: 'localhost', hosts, days });
  // Often written into the data directory, where every file is its user's only (a certificate is public, but the
  // server narrows the directory's files to 0600 at its start anyway).
  await mkdir(out, { recursive: true, mode: 0o700 });
  await writeFile(cert, pair.cert, { mode: 0o600 });
  await chmod(cert, 0o600);
  await writeFile(key, pair.key, { mode: 0o600 });
  await chmod(key, 0o600);
  return { cert, key, hosts, days };
}

/** `dialplane dev-cert --out DIR`: a self-signed pair for local HTTPS, made with Node's crypto (no openssl needed). */
export function addDevCertCommand(program: Command): void {
  program
    .command('dev-cert')
    .description('write a self-signed certificate and key for local HTTPS (DIALPLANE_TLS_CERT, DIALPLANE_TLS_KEY) or SIP over TLS (DIALPLANE_SIP_TLS_CERT, DIALPLANE_SIP_TLS_KEY)')
    .requiredOption('--out <dir>', 'directory to write cert.pem and key.pem into')
    .option('--days <n>', 'days the certificate is valid', String(DEV_CERT_DAYS))
    .option('--host <name>', 'another host name or IP address it is for (repeatable)', (value: string, list: string[]) => [...list, value], [] as string[])
    .option('--force', 'replace existing files')
    .option('--json', 'machine-readable output')
    .action(async (o: DevCertOptions) => {
      const written = await writeDevCert(o.out, { days: Number(o.days), hosts: o.host, force: Boolean(o.force) });
      printResult(Boolean(o.json), written, () =>
        [
          `wrote ${written.cert} and ${written.key} (self-signed, for ${written.hosts.join(', ')}, ${written.days} days)`,
          `  DIALPLANE_TLS_CERT=${written.cert} DIALPLANE_TLS_KEY=${written.key} dialplane serve`,
          `  SIP over TLS: DIALPLANE_SIP_TLS_CERT=${written.cert} DIALPLANE_SIP_TLS_KEY=${written.key}`,
          '  clients must trust it or skip the check (curl -k)',
        ].join('\n'),
      );
    });
}
