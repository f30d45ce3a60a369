/**
 * SSRF guard for webhook delivery: classifies the addresses a resolver returned (not user text) and decides whether a
 * webhook may be delivered to them. Works on the numeric form of IPv4 and IPv6, so IPv4-mapped, IPv4-compatible,
 * SIIT, NAT64 and 6to4 spellings of an internal IPv4 address are classified like the IPv4 address itself.
 */
import { isIP } from 'node:net';

export type AddressClass =
  | 'public'
  | 'loopback'
  | 'private'
  | 'link_local'
  | 'metadata'
  | 'unspecified'
  | 'multicast'
  | 'reserved'
  | 'ula'
  | 'cgnat'
  | 'documentation';

export type SsrfErrorCode =
  /** The URL does not parse or has no host. */
  | 'invalid_url'
  /** Only http: and https: are delivered to. */
  | 'unsupported_protocol'
  /** user:password@ in a webhook URL is refused. */
  | 'credentials_in_url'
  /** The resolver returned something that is not an IP address. */
  | 'invalid_address'
  /** A resolved (or literal) address is not an allowed target. */
  | 'disallowed_address'
  /** The resolver returned no address. */
  | 'no_addresses'
  /** The connected socket's remote address is not the checked address. */
  | 'address_mismatch';

export interface SsrfErrorDetails {
  readonly host?: string;
  readonly address?: string;
  readonly addressClass?: AddressClass;
}

/** A webhook target refused by the guard. Permanent: retrying the same URL gives the same answer. */
export class SsrfError extends Error {
  readonly code: SsrfErrorCode;
  readonly details: SsrfErrorDetails;

  constructor(code: SsrfErrorCode, message: string, details: SsrfErrorDetails = {}) {
    super(message);
    this.name = 'SsrfError';
    this.code = code;
    this.details = details;
  }
}

export function isSsrfError(value: unknown): value is SsrfError {
  return value instanceof SsrfError;
}

// ---------------------------------------------------------------------------------------------------------------
// Parsing

/** Strict dotted-quad IPv4 (as node:net isIP accepts it) to an unsigned 32-bit number, or null. */
function parseIPv4(s: string): number | null {
  if (isIP(s) !== 4) return null;
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  let n = 0;
  for (const part of parts) {
    const octet = Number(part);
    if (!Number.isInteger(octet) || octet < 0 || octet > 255) return null;
    n = n * 256 + octet;
  }
  return n;
}

const HEXTET = /^[0-9a-fA-F]{1,4}$/;

/** IPv6 (zone id already removed) to a 128-bit bigint, or null. Handles `::` and a dotted IPv4 tail. */
function parseIPv6(input: string): bigint | null {
  if (isIP(input) !== 6) return null;
  let s = input;
  const lastColon = s.lastIndexOf(':');
  const tail = s.slice(lastColon + 1);
  if (tail.includes('.')) {
    const v4 = parseIPv4(tail);
    if (v4 === null) return null;
    s = `${s.slice(0, lastColon + 1)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  let groups: string[];
  const gap = s.indexOf('::');
  if (gap >= 0) {
    const left = s.slice(0, gap);
    const right = s.slice(gap + 2);
    const l = left === '' ? [] : left.split(':');
    const r = right === '' ? [] : right.split(':');
    const fill = 8 - l.length - r.length;
    if (fill < 1) return null;
    groups = [...l, ...Array.from({ length: fill }, () => '0'), ...r];
  } else {
    groups = s.split(':');
  }
  if (groups.length !== 8) return null;
  let n = 0n;
  for (const g of groups) {
    if (!HEXTET.test(g)) return null;
    n = (n << 16n) | BigInt(parseInt(g, 16));
  }
  return n;
}

type Parsed = { readonly family: 4; readonly value: number } | { readonly family: 6; readonly value: bigint };

function stripDecoration(ip: string): string {
  let s = ip.trim();
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  return s;
}

function parseAddress(ip: string): Parsed | null {
  const s = stripDecoration(ip);
  const v4 = parseIPv4(s);
  if (v4 !== null) return { family: 4, value: v4 };
  const v6 = parseIPv6(s);
  if (v6 !== null) return { family: 6, value: v6 };
  return null;
}

// ---------------------------------------------------------------------------------------------------------------
// Range tables

interface V4Range {
  readonly base: number;
  readonly mask: number;
  readonly cls: AddressClass;
}

function v4(cidr: string, cls: AddressClass): V4Range {
  const [addr, bits] = cidr.split('/');
  const base = parseIPv4(addr ?? '');
  const prefix = Number(bits ?? '32');
  if (base === null || !Number.isInteger(prefix) || prefix < 0 || prefix > 32) throw new Error(`bad cidr ${cidr}`);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return { base: (base & mask) >>> 0, mask, cls };
}

/** First match wins, so the more specific ranges come first. */
const V4_TABLE: readonly V4Range[] = [
  v4('0.0.0.0/8', 'unspecified'), // "this network"; 0.0.0.0 reaches the local host on Linux
  v4('127.0.0.0/8', 'loopback'),
  v4('169.254.169.254/32', 'metadata'), // AWS, GCP, Azure, OCI, DigitalOcean, OpenStack
  v4('169.254.170.2/32', 'metadata'), // AWS ECS task metadata
  v4('169.254.170.23/32', 'metadata'), // AWS EKS pod identity agent
  v4('100.100.100.200/32', 'metadata'), // Alibaba Cloud
  v4('10.0.0.0/8', 'private'),
  v4('172.16.0.0/12', 'private'),
  v4('192.168.0.0/16', 'private'),
  v4('169.254.0.0/16', 'link_local'),
  v4('100.64.0.0/10', 'cgnat'),
  v4('192.0.2.0/24', 'documentation'),
  v4('198.51.100.0/24', 'documentation'),
  v4('203.0.113.0/24', 'documentation'),
  v4('224.0.0.0/4', 'multicast'),
  v4('240.0.0.0/4', 'reserved'), // includes 255.255.255.255
  v4('192.0.0.0/24', 'reserved'), // IETF protocol assignments
  v4('192.88.99.0/24', 'reserved'), // deprecated 6to4 relay anycast
  v4('198.18.0.0/15', 'reserved'), // benchmarking
];

function classifyV4(n: number): AddressClass {
  for (const r of V4_TABLE) {
    if (((n & r.mask) >>> 0) === r.base) return r.cls;
  }
  return 'public';
}

interface V6Range {
  readonly base: bigint;
  readonly mask: bigint;
}

const ALL128 = (1n << 128n) - 1n;

function v6(cidr: string): V6Range {
  const [addr, bits] = cidr.split('/');
  const base = parseIPv6(addr ?? '');
  const prefix = Number(bits ?? '128');
  if (base === null || !Number.isInteger(prefix) || prefix < 0 || prefix > 128) throw new Error(`bad cidr ${cidr}`);
  const mask = prefix === 0 ? 0n : (ALL128 << BigInt(128 - prefix)) & ALL128;
  return { base: base & mask, mask };
}

function inV6(n: bigint, r: V6Range): boolean {
  return (n & r.mask) === r.base;
}

const V6 = {
  mapped: v6('::ffff:0:0/96'),
  translated: v6('::ffff:0:0:0/96'), // SIIT
  compatible: v6('::/96'), // deprecated IPv4-compatible
  nat64: v6('64:ff9b::/96'),
  nat64Local: v6('64:ff9b:1::/48'),
  awsMetadata: v6('fd00:ec2::/32'), // fd00:ec2::254 metadata, ::253 DNS, ::123 NTP
  sixToFour: v6('2002::/16'),
  discard: v6('100::/64'),
  ietf: v6('2001::/23'), // includes Teredo 2001::/32, benchmarking, ORCHID
  documentation: v6('2001:db8::/32'),
  documentation2: v6('3fff::/20'),
  ula: v6('fc00::/7'),
  linkLocal: v6('fe80::/10'),
  siteLocal: v6('fec0::/10'), // deprecated, treated as private
  multicast: v6('ff00::/8'),
  globalUnicast: v6('2000::/3'),
} as const;

const LOW32 = 0xffffffffn;

/** Classification of an IPv4 address embedded in a transition prefix we cannot fully vouch for. */
function embeddedConservative(v4value: number): AddressClass {
  const cls = classifyV4(v4value);
  return cls === 'public' ? 'reserved' : cls;
}

function classifyV6(n: bigint): AddressClass {
  if (n === 0n) return 'unspecified';
  if (n === 1n) return 'loopback';
  if (inV6(n, V6.mapped) || inV6(n, V6.translated) || inV6(n, V6.nat64)) return classifyV4(Number(n & LOW32));
  if (inV6(n, V6.compatible)) return embeddedConservative(Number(n & LOW32));
  if (inV6(n, V6.nat64Local)) return embeddedConservative(Number(n & LOW32));
  if (inV6(n, V6.awsMetadata)) return 'metadata';
  if (inV6(n, V6.sixToFour)) return classifyV4(Number((n >> 80n) & LOW32));
  if (inV6(n, V6.discard)) return 'reserved';
  if (inV6(n, V6.documentation) || inV6(n, V6.documentation2)) return 'documentation';
  if (inV6(n, V6.ietf)) return 'reserved';
  if (inV6(n, V6.ula)) return 'ula';
  if (inV6(n, V6.linkLocal)) return 'link_local';
  if (inV6(n, V6.siteLocal)) return 'private';
  if (inV6(n, V6.multicast)) return 'multicast';
  if (inV6(n, V6.globalUnicast)) return 'public';
  return 'reserved';
}

// ---------------------------------------------------------------------------------------------------------------
// Public API

/**
 * Classify a numeric IPv4 or IPv6 address (brackets and a zone id are tolerated). Throws SsrfError('invalid_address')
 * for anything that is not an IP address.
 */
export function classifyAddress(ip: string): AddressClass {
  const parsed = parseAddress(ip);
  if (parsed === null) throw new SsrfError('invalid_address', `not an IP address: ${JSON.stringify(ip)}`);
  return parsed.family === 4 ? classifyV4(parsed.value) : classifyV6(parsed.value);
}

/** Classes permitted when the operator opts into private targets (self-hosted receivers on the LAN). */
const PRIVATE_CLASSES: ReadonlySet<AddressClass> = new Set<AddressClass>(['loopback', 'private', 'ula', 'link_local']);

export interface TargetPolicy {
  /** Permit loopback, private, ULA and link-local targets. Never permits metadata or unspecified addresses. */
  readonly allowPrivate: boolean;
}

/** Whether a webhook may be delivered to this address. Invalid input is never allowed. */
export function isAllowedTarget(ip: string, policy: TargetPolicy): boolean {
  let cls: AddressClass;
  try {
    cls = classifyAddress(ip);
  } catch {
    return false;
  }
  if (cls === 'public') return true;
  return policy.allowPrivate && PRIVATE_CLASSES.has(cls);
}

/** Throw SsrfError unless the address is an allowed target; returns its class. */
export function assertAllowedTarget(ip: string, policy: TargetPolicy, host?: string): AddressClass {
  const cls = classifyAddress(ip);
  if (!isAllowedTarget(ip, policy)) {
    throw new SsrfError(
      'disallowed_address',
      `webhook target ${host !== undefined ? `${host} ` : ''}resolves to a disallowed ${cls} address ${ip}`,
      { ...(host !== undefined ? { host } : {}), address: ip, addressClass: cls },
    );
  }
  return cls;
}

/**
 * Canonical text for comparing addresses: dotted IPv4 (also for IPv4-mapped IPv6), otherwise eight lowercase
 * unpadded hextets; brackets and zone id removed. Throws SsrfError('invalid_address') for non-addresses.
 */
export function normalizeAddress(ip: string): string {
  const parsed = parseAddress(ip);
  if (parsed === null) throw new SsrfError('invalid_address', `not an IP address: ${JSON.stringify(ip)}`);
  const dotted = (n: number): string => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
  if (parsed.family === 4) return dotted(parsed.value);
  if (inV6(parsed.value, V6.mapped)) return dotted(Number(parsed.value & LOW32));
  const groups: string[] = [];
  for (let i = 7; i >= 0; i--) groups.push(((parsed.value >> BigInt(i * 16)) & 0xffffn).toString(16));
  return groups.join(':');
}

/** Whether two address strings denote the same address (see normalizeAddress). False if either is invalid. */
export function sameAddress(a: string, b: string): boolean {
  try {
    return normalizeAddress(a) === normalizeAddress(b);
  } catch {
    return false;
  }
}
