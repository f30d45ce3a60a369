/**
 * RFC 3263 §4: where a SIP request for a host goes. A numeric address needs no DNS; a host name is resolved
 *
 *  - with a port: A/AAAA only, on that port;
 *  - with a transport but no port: SRV for that transport (`_sip._udp`, `_sip._tcp`, `_sips._tcp`), else A/AAAA on
 *    the transport's default port;
 *  - with neither: NAPTR (`SIP+D2U`, `SIP+D2T`, `SIPS+D2T`; order, then preference) naming the SRV names to ask,
 *    else SRV for each transport we support (UDP, TCP, then TLS), else A/AAAA on UDP port 5060.
 *
 * SRV records are ordered by priority, and within a priority by RFC 2782's weighted random draw. Every target of the
 * first transport that has any comes first; the next transports' targets follow as further fallbacks. TLS (SIPS+D2T,
 * `_sips._tcp`) is chosen only when the caller says it can send TLS. The caller tries the targets in order
 * (RFC 3263 §4.3: the next one after a transport error, a timeout or a 503).
 *
 * DNS answers are cached per query for `cacheTtlMs` (the answers' own TTLs are not exposed by every query type), the
 * weighted order is drawn again on every resolution. The DNS, the random source and the clock are injected: nothing
 * here opens a socket of its own.
 */
import type { NaptrRecord, SrvRecord } from 'node:dns';
import { isIP } from 'node:net';

export type ResolvedTransport = 'udp' | 'tcp' | 'tls';

/** Where to send: one entry of the ordered list a resolution gives. */
export interface SipTarget {
  readonly transport: ResolvedTransport;
  readonly address: string;
  readonly port: number;
}

/** The queries RFC 3263 needs, as node:dns/promises' Resolver answers them. */
export interface DnsResolver {
  resolveNaptr(name: string): Promise<NaptrRecord[]>;
  resolveSrv(name: string): Promise<SrvRecord[]>;
  resolve4(name: string): Promise<string[]>;
  resolve6(name: string): Promise<string[]>;
}

export interface SipResolveRequest {
  /** A host name or a numeric address (IPv6 with or without brackets). */
  readonly host: string;
  /** Set when the URI names a port. */
  readonly port?: number | undefined;
  /** Set when the URI names a transport (`;transport=`, or `sips:` for TLS). */
  readonly transport?: ResolvedTransport | undefined;
  /** Whether TLS targets may be chosen (SIPS+D2T, `_sips._tcp`). Default false. */
  readonly tls?: boolean;
}

export interface SipResolverOptions {
  readonly dns: DnsResolver;
  /**
   * The system's own name lookup (getaddrinfo: /etc/hosts and the like), asked for a name that has no A or AAAA
   * record in the DNS. Absent: no such fallback.
   */
  readonly lookup?: (host: string) => Promise<readonly string[]>;
  /** Uniform in [0, 1): RFC 2782's weighted draw. Default Math.random. */
  readonly random?: () => number;
  /** Milliseconds. Default Date.now. */
  readonly now?: () => number;
  /** How long one DNS answer (records, or none) is reused. Default 60 s; 0 caches nothing. */
  readonly cacheTtlMs?: number;
}

export const SIP_DEFAULT_PORT = 5060;
export const SIPS_DEFAULT_PORT = 5061;
const DEFAULT_CACHE_TTL_MS = 60_000;

/** NAPTR services (RFC 3263 §4.1) and SRV prefixes per transport. */
const NAPTR_SERVICE: Readonly<Record<string, ResolvedTransport>> = { 'SIP+D2U': 'udp', 'SIP+D2T': 'tcp', 'SIPS+D2T': 'tls' };
const SRV_PREFIX: Readonly<Record<ResolvedTransport, string>> = { udp: '_sip._udp.', tcp: '_sip._tcp.', tls: '_sips._tcp.' };
/** Our order of preference when the DNS has no NAPTR records. */
const TRANSPORT_PREFERENCE: readonly ResolvedTransport[] = ['udp', 'tcp', 'tls'];

/** The port a transport uses when neither the URI nor an SRV record names one. */
export function defaultPort(transport: ResolvedTransport): number {
  return transport === 'tls' ? SIPS_DEFAULT_PORT : SIP_DEFAULT_PORT;
}

/** Raised when a host resolves to no target at all. */
export class SipResolveError extends Error {
  readonly code = 'sip_unresolvable';
  constructor(readonly host: string) {
    super(`${host}: no SIP target (no NAPTR, SRV, A or AAAA record)`);
  }
}

type Query = 'naptr' | 'srv' | 'a' | 'aaaa';

export class SipResolver {
  private readonly dns: DnsResolver;
  private readonly lookup: ((host: string) => Promise<readonly string[]>) | undefined;
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly ttlMs: number;
  private readonly cache = new Map<string, { at: number; answer: Promise<readonly unknown[]> }>();

  constructor(options: SipResolverOptions) {
    this.dns = options.dns;
    this.lookup = options.lookup;
    this.random = options.random ?? Math.random;
    this.now = options.now ?? Date.now;
    this.ttlMs = options.cacheTtlMs ?? DEFAULT_CACHE_TTL_MS;
  }

  /** The ordered targets; SipResolveError when there are none. */
  async resolve(request: SipResolveRequest): Promise<SipTarget[]> {
    const host = request.host.replace(/^\[|\]$/g, '');
    const tls = request.tls === true;
    if (isIP(host)) {
      const transport = request.transport ?? 'udp';
      return [{ transport, address: host, port: request.port ?? defaultPort(transport) }];
    }
    let targets: SipTarget[];
    if (request.port !== undefined) {
      targets = await this.addressTargets(host, request.transport ?? 'udp', request.port);
    } else if (request.transport !== undefined) {
      targets = await this.srvTargets(host, [request.transport]);
      if (targets.length === 0) targets = await this.addressTargets(host, request.transport, defaultPort(request.transport));
    } else {
      const transports = await this.naptrTransports(host, tls);
      targets = transports.length > 0 ? await this.srvTargets(host, transports) : [];
      if (targets.length === 0) targets = await this.srvTargets(host, TRANSPORT_PREFERENCE.filter((t) => t !== 'tls' || tls));
      if (targets.length === 0) targets = await this.addressTargets(host, 'udp', SIP_DEFAULT_PORT);
    }
    if (targets.length === 0) throw new SipResolveError(host);
    return targets;
  }

  /** The SRV names the usable NAPTR records point at, with their transports, in NAPTR order. */
  private async naptrTransports(host: string, tls: boolean): Promise<{ transport: ResolvedTransport; name: string }[]> {
    const records = (await this.query('naptr', host)) as NaptrRecord[];
    return usableNaptr(records, tls).map((record) => ({ transport: NAPTR_SERVICE[record.service.toUpperCase()]!, name: record.replacement }));
  }

  /** SRV targets per transport, in the given order; duplicates dropped. */
  private async srvTargets(
    host: string,
    transports: readonly (ResolvedTransport | { transport: ResolvedTransport; name: string })[],
  ): Promise<SipTarget[]> {
    const out: SipTarget[] = [];
    for (const entry of transports) {
      const { transport, name } = typeof entry === 'string' ? { transport: entry, name: `${SRV_PREFIX[entry]}${host}` } : entry;
      const records = orderSrv((await this.query('srv', name)) as SrvRecord[], this.random);
      for (const record of records) {
        for (const address of await this.addresses(record.name)) out.push({ transport, address, port: record.port });
      }
    }
    return dedupe(out);
  }

  private async addressTargets(host: string, transport: ResolvedTransport, port: number): Promise<SipTarget[]> {
    return (await this.addresses(host)).map((address) => ({ transport, address, port }));
  }

  /** A then AAAA records; the system lookup when the DNS has neither. */
  private async addresses(name: string): Promise<readonly string[]> {
    const bare = name.replace(/\.$/, '');
    if (isIP(bare)) return [bare];
    const [v4, v6] = await Promise.all([this.query('a', bare), this.query('aaaa', bare)]);
    const found = [...(v4 as string[]), ...(v6 as string[])];
    if (found.length > 0 || !this.lookup) return found;
    try {
      return await this.lookup(bare);
    } catch {
      return [];
    }
  }

  /** One DNS query, cached; any failure (NXDOMAIN, no data, a server failure) is an empty answer. */
  private query(kind: Query, name: string): Promise<readonly unknown[]> {
    const key = `${kind} ${name.toLowerCase()}`;
    const cached = this.cache.get(key);
    const now = this.now();
    if (cached && now - cached.at < this.ttlMs) return cached.answer;
    const ask = (): Promise<readonly unknown[]> => {
      switch (kind) {
        case 'naptr':
          return this.dns.resolveNaptr(name);
        case 'srv':
          return this.dns.resolveSrv(name);
        case 'a':
          return this.dns.resolve4(name);
        case 'aaaa':
          return this.dns.resolve6(name);
      }
    };
    let failed = false;
    const answer = ask().catch(() => {
      failed = true;
      return [];
    });
    if (this.ttlMs > 0) {
      this.cache.set(key, { at: now, answer });
      // A failure that was not a clean "no such record" is asked again next time rather than remembered.
      void answer.then(() => {
        if (failed) this.cache.delete(key);
      });
    }
    return answer;
  }
}

/** NAPTR records RFC 3263 lets us use: flag "s", a SIP service we can send, a replacement; by order, preference. */
export function usableNaptr(records: readonly NaptrRecord[], tls: boolean): NaptrRecord[] {
  return records
    .filter((r) => {
      const transport = NAPTR_SERVICE[r.service.toUpperCase()];
      return r.flags.toLowerCase() === 's' && transport !== undefined && (transport !== 'tls' || tls) && r.replacement !== '' && r.replacement !== '.';
    })
    .sort((a, b) => a.order - b.order || a.preference - b.preference);
}

/**
 * RFC 2782's order: lowest priority first; within one priority, repeatedly draw among the records left, each with a
 * chance proportional to its weight (weight 0 only when nothing heavier remains, as the RFC's running-sum draw
 * gives). A target of "." means the service is not offered there and is left out.
 */
export function orderSrv(records: readonly SrvRecord[], random: () => number): SrvRecord[] {
  const usable = records.filter((r) => r.name !== '' && r.name !== '.');
  const priorities = [...new Set(usable.map((r) => r.priority))].sort((a, b) => a - b);
  const out: SrvRecord[] = [];
  for (const priority of priorities) {
    // Zero weights first, as the RFC arranges them, so that they are picked only by a draw of 0.
    const left = usable.filter((r) => r.priority === priority).sort((a, b) => (a.weight === 0 ? 0 : 1) - (b.weight === 0 ? 0 : 1));
    while (left.length > 0) {
      const total = left.reduce((sum, r) => sum + r.weight, 0);
      // A draw in [0, total]; with every weight 0 the first record is taken.
      const draw = Math.min(total, Math.floor(random() * (total + 1)));
      let running = 0;
      let index = left.findIndex((r) => (running += r.weight) >= draw);
      if (index < 0) index = 0;
      out.push(left[index]!);
      left.splice(index, 1);
    }
  }
  return out;
}

function dedupe(targets: readonly SipTarget[]): SipTarget[] {
  const seen = new Set<string>();
  return targets.filter((t) => {
    const key = `${t.transport} ${t.address} ${t.port}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
