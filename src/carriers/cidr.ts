/**
 * IP addresses and CIDR ranges, IPv4 and IPv6, for deciding where a SIP request may come from. Pure functions, no
 * DNS. An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, what a dual-stack socket reports for an IPv4 peer) is the
 * IPv4 address it maps, both as a source and in a range; a zone (`fe80::1%eth0`) is ignored.
 */

export interface IpAddress {
  readonly version: 4 | 6;
  /** 4 or 16 bytes, network order. */
  readonly bytes: Uint8Array;
}

export interface Cidr {
  readonly address: IpAddress;
  /** 0-32 for IPv4, 0-128 for IPv6. */
  readonly prefix: number;
}

const IPV4 = /^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$/;
const HEXTET = /^[0-9a-fA-F]{1,4}$/;

function parseIpv4(text: string): Uint8Array | undefined {
  if (!IPV4.test(text)) return undefined;
  return Uint8Array.from(text.split('.').map(Number));
}

function parseIpv6(text: string): Uint8Array | undefined {
  let head = text;
  let tail: number[] = [];
  // A dotted IPv4 address may end the text (::ffff:192.0.2.1, 64:ff9b::198.51.100.7): two hextets' worth.
  const lastColon = text.lastIndexOf(':');
  if (lastColon >= 0 && text.includes('.', lastColon)) {
    const v4 = parseIpv4(text.slice(lastColon + 1));
    if (!v4) return undefined;
    tail = [(v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!];
    head = text.slice(0, lastColon + 1);
    // "::1.2.3.4" leaves "::"; "a:b:1.2.3.4" leaves "a:b:" whose trailing colon belongs to the address.
    if (!head.endsWith('::')) head = head.slice(0, -1);
  }
  const halves = head.split('::');
  if (halves.length > 2) return undefined;
  const words = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    for (const hextet of part.split(':')) {
      if (!HEXTET.test(hextet)) return undefined;
      out.push(Number.parseInt(hextet, 16));
    }
    return out;
  };
  const left = words(halves[0] ?? '');
  const right = halves.length === 2 ? words(halves[1] ?? '') : [];
  if (!left || !right) return undefined;
  const given = left.length + right.length + tail.length;
  let all: number[];
  if (halves.length === 2) {
    // "::" stands for at least one zero hextet.
    if (given > 7) return undefined;
    all = [...left, ...new Array<number>(8 - given).fill(0), ...right, ...tail];
  } else {
    if (given !== 8) return undefined;
    all = [...left, ...tail];
  }
  const bytes = new Uint8Array(16);
  all.forEach((word, i) => {
    bytes[2 * i] = word >> 8;
    bytes[2 * i + 1] = word & 0xff;
  });
  return bytes;
}

function isMappedIpv4(bytes: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}

/**
 * An IPv4 or IPv6 address in its usual text forms (IPv6 may be bracketed, carry a zone, embed dotted IPv4); an
 * IPv4-mapped IPv6 address comes back as IPv4. Undefined for anything else (a host name, a port, a range).
 */
export function parseIp(text: string): IpAddress | undefined {
  let value = text.trim();
  if (value.startsWith('[') && value.endsWith(']')) value = value.slice(1, -1);
  const zone = value.indexOf('%');
  if (zone >= 0 && value.includes(':')) value = value.slice(0, zone);
  const v4 = parseIpv4(value);
  if (v4) return { version: 4, bytes: v4 };
  if (!value.includes(':')) return undefined;
  const v6 = parseIpv6(value);
  if (!v6) return undefined;
  if (isMappedIpv4(v6)) return { version: 4, bytes: v6.slice(12) };
  return { version: 6, bytes: v6 };
}

/**
 * `address` or `address/prefix` (IPv4 prefix 0-32, IPv6 0-128). A bare address is the range of that one address.
 * Host bits set below the prefix are allowed and ignored (`192.0.2.7/24` is `192.0.2.0/24`). An IPv4-mapped IPv6
 * range with a prefix of at least 96 is the IPv4 range it maps. Undefined when the text is none of these.
 */
export function parseCidr(text: string): Cidr | undefined {
  const value = text.trim();
  const slash = value.indexOf('/');
  const address = parseIp(slash >= 0 ? value.slice(0, slash) : value);
  if (!address) return undefined;
  const maxPrefix = address.version === 4 ? 32 : 128;
  if (slash < 0) return { address, prefix: maxPrefix };
  const prefixText = value.slice(slash + 1);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(prefixText)) return undefined;
  let prefix = Number(prefixText);
  // "::ffff:192.0.2.0/120" was parsed as IPv4 192.0.2.0: its prefix counts IPv6 bits.
  const writtenAsV6 = address.version === 4 && value.slice(0, slash).includes(':');
  if (writtenAsV6) {
    if (prefix < 96 || prefix > 128) return undefined;
    prefix -= 96;
  }
  if (prefix > maxPrefix) return undefined;
  return { address, prefix };
}

/** Whether `address` lies in `range` (never across IP versions, except through IPv4-mapped IPv6). */
export function cidrContains(range: Cidr, address: IpAddress): boolean {
  if (range.address.version !== address.version) return false;
  const whole = range.prefix >> 3;
  for (let i = 0; i < whole; i++) if (range.address.bytes[i] !== address.bytes[i]) return false;
  const rest = range.prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((range.address.bytes[whole] ?? 0) & mask) === ((address.bytes[whole] ?? 0) & mask);
}

/** Whether the address (text, as a socket reports it) lies in any of the ranges. False for text that is no address. */
export function matchesAny(ranges: readonly Cidr[], address: string): boolean {
  const parsed = parseIp(address);
  return parsed !== undefined && ranges.some((range) => cidrContains(range, parsed));
}

/** The range as text: `192.0.2.0/24`, `2001:db8::/32` (network address, host bits cleared). */
export function formatCidr(range: Cidr): string {
  const bytes = Uint8Array.from(range.address.bytes);
  for (let bit = range.prefix; bit < bytes.length * 8; bit++) bytes[bit >> 3]! &= ~(0x80 >> (bit & 7));
  if (range.address.version === 4) return `${bytes.join('.')}/${range.prefix}`;
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((bytes[i]! << 8) | bytes[i + 1]!);
  // RFC 5952: the longest run of two or more zero words becomes "::".
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (list: number[]) => list.map((w) => w.toString(16)).join(':');
  const text = bestStart < 0 ? hex(words) : `${hex(words.slice(0, bestStart))}::${hex(words.slice(bestStart + bestLength))}`;
  return `${text}/${range.prefix}`;
}
