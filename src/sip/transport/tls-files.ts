import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import type { Config } from '../../config/config.js';
import type { SipTlsServerOptions } from './sip-transports.js';

export interface SipTlsFiles {
  /** The TLS listener's certificate, key and port; undefined when no SIP certificate is configured. */
  readonly server: SipTlsServerOptions | undefined;
  /** DIALPLANE_SIP_TLS_CA's PEM text (one or more certificates), trusted for outbound TLS besides Node's own CAs. */
  readonly ca: readonly string[];
}

/**
 * Reads SIP's TLS files. A certificate without its key (or the reverse), a file that cannot be read, or a key that
 * does not belong to the certificate stops the start with the variable named, never with the key's contents.
 */
export async function readSipTlsFiles(sip: Config['sip']): Promise<SipTlsFiles> {
  if ((sip.tlsCert === undefined) !== (sip.tlsKey === undefined)) {
    throw new Error('DIALPLANE_SIP_TLS_CERT and DIALPLANE_SIP_TLS_KEY are set together or not at all (dialplane dev-cert --out DIR writes a pair)');
  }
  let server: SipTlsServerOptions | undefined;
  if (sip.tlsCert !== undefined && sip.tlsKey !== undefined) {
    const [cert, key] = await Promise.all([read(sip.tlsCert, 'DIALPLANE_SIP_TLS_CERT'), read(sip.tlsKey, 'DIALPLANE_SIP_TLS_KEY')]);
    try {
      createSecureContext({ cert, key });
    } catch (error) {
      throw new Error(`DIALPLANE_SIP_TLS_CERT / DIALPLANE_SIP_TLS_KEY: not a usable certificate and key pair (${reason(error)})`);
    }
    server = { cert, key, port: sip.tlsPort };
  }
  const ca: string[] = [];
  if (sip.tlsCa !== undefined) {
    const pem = (await read(sip.tlsCa, 'DIALPLANE_SIP_TLS_CA')).toString('utf8');
    try {
      createSecureContext({ ca: pem });
    } catch (error) {
      throw new Error(`DIALPLANE_SIP_TLS_CA: not PEM CA certificates (${reason(error)})`);
    }
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new Error('DIALPLANE_SIP_TLS_CA: no PEM certificate in the file');
    ca.push(pem);
  }
  return { server, ca };
}

function read(path: string, variable: string): Promise<Buffer> {
  return readFile(path).catch((error: unknown) => {
    throw new Error(`${variable}: cannot read ${path}: ${reason(error)}`);
  });
}

function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
