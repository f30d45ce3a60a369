import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';

/**
 * A self-signed X.509 v3 certificate for local HTTPS, built with Node's crypto alone (Node has no API that makes
 * certificates, and no openssl binary is needed): an ECDSA P-256 key, signed with SHA-256, valid from an hour ago for
 * `days`, for the given host names and IP addresses (subjectAltName), usable by a TLS server only (not a CA).
 *
 *   Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }   (RFC 5280 4.1)
 */
export interface SelfSignedOptions {
  readonly commonName: string;
  /** DNS names and IP addresses (v4 or v6) the certificate is for. */
  readonly hosts: readonly string[];
  readonly days: number;
  readonly now?: Date;
}

export interface SelfSignedPair {
  /** PEM, `-----BEGIN CERTIFICATE-----`. */
  readonly cert: string;
  /** PEM PKCS#8, `-----BEGIN PRIVATE KEY-----`. */
  readonly key: string;
}

const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
} as const;

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

export function selfSignedCertificate(options: SelfSignedOptions): SelfSignedPair {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const now = options.now ?? new Date();
  const name = seq(set(seq(oid(OID.commonName), utf8(options.commonName))), set(seq(oid(OID.organization), utf8('Dialplane'))));
  const algorithm = seq(oid(OID.ecdsaWithSha256));
  // A positive 16-byte serial: the top bit cleared so the INTEGER needs no sign byte, and never zero.
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x01;
  const tbs = seq(
    explicit(0, integer(Buffer.from([2]))),
    integer(serial),
    algorithm,
    name,
    seq(time(new Date(now.getTime() - HOUR_MS)), time(new Date(now.getTime() + options.days * DAY_MS))),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
    explicit(
      3,
      seq(
        extension(OID.basicConstraints, true, seq()),
        // digitalSignature (bit 0): what an ECDHE handshake signs with.
        extension(OID.keyUsage, true, tlv(0x03, Buffer.from([0x07, 0x80]))),
        extension(OID.extKeyUsage, false, seq(oid(OID.serverAuth))),
        extension(OID.subjectAltName, false, seq(...options.hosts.map(altName))),
      ),
    ),
  );
  const signature = sign('sha256', tbs, privateKey);
  const der = seq(tbs, algorithm, tlv(0x03, Buffer.concat([Buffer.from([0]), signature])));
  return {
    cert: pem('CERTIFICATE', der),
    key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

function altName(host: string): Buffer {
  // GeneralName: [2] dNSName IA5String, [7] iPAddress OCTET STRING (4 or 16 bytes), both implicit.
  if (isIPv4(host)) return tlv(0x87, Buffer.from(host.split('.').map(Number)));
  if (isIPv6(host)) return tlv(0x87, ipv6Bytes(host));
  return tlv(0x82, Buffer.from(host, 'ascii'));
}

function ipv6Bytes(address: string): Buffer {
  const [head = '', tail] = address.split('::');
  const groups = (part: string) => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const all = [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
  const out = Buffer.alloc(16);
  all.forEach((group, i) => out.writeUInt16BE(group, i * 2));
  return out;
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return seq(oid(id), ...(critical ? [tlv(0x01, Buffer.from([0xff]))] : []), tlv(0x04, value));
}

/** UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 4.1.2.5). */
function time(date: Date): Buffer {
  const iso = date.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return date.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(`${iso.slice(2)}Z`)) : tlv(0x18, Buffer.from(`${iso}Z`));
}

function explicit(tag: number, content: Buffer): Buffer {
  return tlv(0xa0 | tag, content);
}

function seq(...items: Buffer[]): Buffer {
  return tlv(0x30, Buffer.concat(items));
}

function set(...items: Buffer[]): Buffer {
  return tlv(0x31, Buffer.concat(items));
}

function integer(bytes: Buffer): Buffer {
  return tlv(0x02, bytes);
}

function utf8(text: string): Buffer {
  return tlv(0x0c, Buffer.from(text, 'utf8'));
}

function oid(dotted: string): Buffer {
  const [first = 0, second = 0, ...rest] = dotted.split('.').map(Number);
  const bytes = [first * 40 + second];
  for (const arc of rest) {
    const base128 = [arc & 0x7f];
    for (let value = arc >>> 7; value > 0; value >>>= 7) base128.unshift((value & 0x7f) | 0x80);
    bytes.push(...base128);
  }
  return tlv(0x06, Buffer.from(bytes));
}

/** One DER element: tag, definite length (short form below 128), content. */
function tlv(tag: number, content: Buffer): Buffer {
  const length = content.length;
  let header: number[];
  if (length < 0x80) header = [tag, length];
  else if (length < 0x100) header = [tag, 0x81, length];
  else header = [tag, 0x82, length >> 8, length & 0xff];
  return Buffer.concat([Buffer.from(header), content]);
}

function pem(label: string, der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
