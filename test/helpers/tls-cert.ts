import { readFile, rm } from 'node:fs/promises';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { writeDevCert } from '../../src/cli/dev-cert-command.js';

export interface TestCertificate {
  /** Paths of cert.pem and key.pem (for DIALPLANE_SIP_TLS_CERT / _KEY, or a peer's CA file). */
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: string;
  readonly key: string;
}

/**
 * A fresh self-signed certificate for localhost, 127.0.0.1 and ::1 (plus `hosts`), made by `dialplane dev-cert`'s
 * own code in a temporary folder that the test context removes. No key is kept in the repository.
 */
export async function makeTestCertificate(
  t: TestContext | undefined,
  options: { readonly hosts?: readonly string[]; readonly days?: number } = {},
): Promise<TestCertificate> {
  const dir = await mkdtemp(join(tmpdir(), 'dialplane-tls-'));
  const written = await writeDevCert(dir, { hosts: options.hosts ?? [], days: options.days ?? 30 });
  const remove = () => rm(dir, { recursive: true, force: true });
  if (t) t.after(remove);
  else process.once('exit', () => void remove());
  return {
    certFile: written.cert,
    keyFile: written.key,
    cert: await readFile(written.cert, 'utf8'),
    key: await readFile(written.key, 'utf8'),
  };
}
