import { X509Certificate } from 'node:crypto';
import type { TrunkConfig } from '../carriers/trunks.js';
import type { Config } from '../config/config.js';
import { readSipTlsFiles } from '../sip/transport/tls-files.js';
import type { DoctorCheck } from './doctor.js';

/** A certificate this close to its end is worth a warning. */
const EXPIRY_WARN_MS = 14 * 24 * 3600 * 1000;

/**
 * `dialplane doctor`'s SIP over TLS line(s): the certificate and key (readable, a pair, not expired or about to,
 * self-signed or not), DIALPLANE_SIP_TLS_CA, TLS trunks without a listener of ours, and trunks that skip
 * verification. Never prints key material.
 */
export async function checkSipTls(config: Config, trunks: readonly TrunkConfig[], now = new Date()): Promise<DoctorCheck[]> {
  const lines: DoctorCheck[] = [];
  const tlsTrunks = trunks.filter((t) => t.transport === 'tls');
  let files;
  try {
    files = await readSipTlsFiles(config.sip);
  } catch (error) {
    return [{ check: 'sip-tls', status: 'fail', message: (error as Error).message, fix: 'point DIALPLANE_SIP_TLS_CERT / _KEY (and _CA) at readable PEM files; `dialplane dev-cert --out DIR` writes a pair for local use' }];
  }
  if (files.server) {
    const cert = new X509Certificate(files.server.cert);
    const until = new Date(cert.validTo);
    const names = cert.subjectAltName ?? cert.subject;
    const where = `SIP over TLS on ${config.sip.host}:${config.sip.tlsPort === 0 ? '(a free port)' : config.sip.tlsPort}, certificate for ${names}, valid until ${until.toISOString()}`;
    if (until.getTime() <= now.getTime()) {
      lines.push({ check: 'sip-tls', status: 'fail', message: `${where}: expired`, fix: 'renew the certificate; phones and trunks refuse an expired one' });
    } else if (until.getTime() - now.getTime() < EXPIRY_WARN_MS) {
      lines.push({ check: 'sip-tls', status: 'warn', message: `${where}: expires within 14 days`, fix: 'renew the certificate before it expires' });
    } else if (cert.issuer === cert.subject && cert.verify(cert.publicKey)) {
      lines.push({ check: 'sip-tls', status: 'warn', message: `${where}: self-signed`, fix: 'phones must be told to trust it; use a certificate from a CA they trust outside development' });
    } else {
      lines.push({ check: 'sip-tls', status: 'ok', message: where });
    }
  } else if (tlsTrunks.length > 0) {
    lines.push({
      check: 'sip-tls',
      status: 'warn',
      message: `${tlsTrunks[0]!.name} uses TLS, but no SIP certificate is configured: the trunk can reach us only over the connections we open`,
      fix: 'set DIALPLANE_SIP_TLS_CERT and DIALPLANE_SIP_TLS_KEY (a certificate the carrier trusts)',
    });
  } else {
    lines.push({ check: 'sip-tls', status: 'ok', message: 'SIP over TLS is off (no DIALPLANE_SIP_TLS_CERT / _KEY); UDP and TCP only' });
  }
  for (const trunk of tlsTrunks.filter((t) => !t.verify)) {
    lines.push({ check: 'sip-tls', status: 'warn', message: `${trunk.name}: its certificate is not verified (;verify=off)`, fix: 'for labs only: trust its CA with DIALPLANE_SIP_TLS_CA and remove ;verify=off' });
  }
  return lines;
}
