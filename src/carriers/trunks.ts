import { isIP } from 'node:net';
import { parseUri } from '../sip/message/headers.js';
import { parseCidr, type Cidr } from './cidr.js';
import type { Config } from '../config/config.js';
import type { SipResolveRequest } from '../sip/transport/sip-resolver.js';
import { defaultPort, uriTransport, type SipEndpoint, type TransportProtocol } from '../sip/transport/types.js';
import type { SrtpPolicy } from '../sdp/types.js';

export interface TrunkConfig {
  /** As configured, without its `inbound` parameter: shown in call records. */
  readonly name: string;
  readonly transport: TransportProtocol;
  /** `sips` when the URI was written sips: (TLS, and sips Request-URIs and Contacts, RFC 5630). */
  readonly scheme: 'sip' | 'sips';
  /**
   * Over TLS: whether the trunk's certificate is checked (against its host name, with Node's CAs and
   * DIALPLANE_SIP_TLS_CA). Only `;verify=off` in the URI turns this off, for labs.
   */
  readonly verify: boolean;
  /** Host as written (name or address); resolved when dialling (RFC 3263: see sip-resolver.ts). */
  readonly host: string;
  /** As written, else 5060. */
  readonly port: number;
  /** Whether the URI names the port: a host name with a port is resolved with A/AAAA only, without with SRV. */
  readonly portGiven: boolean;
  /** Whether the URI names the transport: without one a host name's NAPTR records choose it. */
  readonly transportGiven: boolean;
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly register: boolean;
  readonly callerIdFormat: 'e164' | 'national';
  readonly prefix: string | undefined;
  /**
   * Where INVITEs from this trunk may come from (URI parameter `inbound`); undefined: the addresses its host resolves
   * to. Ports are never compared.
   */
  readonly inbound: readonly Cidr[] | undefined;
  /** SRTP by SDES on this trunk's calls (URI parameter `srtp`): off (default), offer, or require. */
  readonly srtp: SrtpPolicy;
}

/** The trunk part of the configuration (keepalives are the upkeep's business, not a trunk's). */
export type TrunkSettings = Omit<Config['trunk'], 'keepaliveS'>;

/**
 * `sip:[user[:password]@]host[:port][;transport=udp|tcp|tls][;inbound=<range>+<range>...][;srtp=off|offer|require]`
 * or `sips:...` (TLS), comma-separated, in failover order. Over TLS the port defaults to 5061 and `;verify=off` skips
 * the certificate check (labs only). Credentials written in a trunk's URI are that trunk's own; the others use DIALPLANE_TRUNK_USERNAME /
 * _PASSWORD. `inbound` lists the addresses and CIDR ranges (IPv4 or IPv6) the trunk's INVITEs may come from,
 * joined by `+`, in place of its host's own addresses.
 */
export function parseTrunks(settings: TrunkSettings): TrunkConfig[] {
  return settings.uri
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((written) => {
      const uri = parseUri(written);
      // Call records, logs and errors name the trunk without its allow list (it can be long) and never with a password.
      const unlisted = written.replace(/;inbound=[^;?]*/gi, '');
      const name =
        uri.password === undefined
          ? unlisted
          : unlisted.replace(`:${encodeURIComponent(uri.password)}@`, ':********@').replace(`:${uri.password}@`, ':********@');
      const param = uri.params.find(([key]) => key === 'transport')?.[1]?.toLowerCase();
      const transport = uriTransport(uri.scheme, param);
      if (param !== undefined && (transport === undefined || (uri.scheme === 'sips' && param !== 'tls' && param !== 'tcp'))) {
        throw new Error(`trunk ${name}: transport must be udp, tcp or tls${uri.scheme === 'sips' ? ' (tls for sips:)' : ''}`);
      }
      const verifyParam = uri.params.find(([key]) => key === 'verify');
      if (verifyParam !== undefined && verifyParam[1]?.toLowerCase() !== 'off' && verifyParam[1]?.toLowerCase() !== 'on') {
        throw new Error(`trunk ${name}: verify must be on or off`);
      }
      const inbound = parseInbound(uri.params.find(([key]) => key === 'inbound'), name);
      const srtp = (uri.params.find(([key]) => key === 'srtp')?.[1] ?? 'off').toLowerCase();
      if (srtp !== 'off' && srtp !== 'offer' && srtp !== 'require') throw new Error(`trunk ${name}: srtp must be off, offer or require`);
      const chosen = transport ?? 'udp';
      return {
        name,
        transport: chosen,
        scheme: uri.scheme === 'sips' ? 'sips' : 'sip',
        verify: verifyParam?.[1]?.toLowerCase() !== 'off',
        host: uri.host.replace(/^\[|\]$/g, ''),
        port: uri.port ?? defaultPort(chosen),
        portGiven: uri.port !== undefined,
        transportGiven: param !== undefined || uri.scheme === 'sips',
        username: uri.user ?? settings.username,
        password: uri.user !== undefined ? uri.password : settings.password,
        register: settings.register,
        callerIdFormat: settings.callerIdFormat,
        prefix: settings.prefix,
        inbound,
        srtp,
      };
    });
}

/** Where to send to a trunk at one of its addresses; over TLS its certificate is checked against its host name. */
export function trunkEndpoint(trunk: TrunkConfig, address: string): SipEndpoint {
  const base = { transport: trunk.transport, address, port: trunk.port };
  return trunk.transport === 'tls' ? { ...base, tls: { serverName: trunk.host, verify: trunk.verify } } : base;
}

/** What RFC 3263 resolution is asked for a trunk: its host, and its port and transport only where the URI names them. */
export function trunkResolveRequest(trunk: TrunkConfig): SipResolveRequest {
  return {
    host: trunk.host,
    ...(trunk.portGiven ? { port: trunk.port } : {}),
    ...(trunk.transportGiven ? { transport: trunk.transport } : {}),
  };
}

/**
 * A URI at the trunk as it was written: `sip:[user@]host[:port][;transport=tcp|tls]` or `sips:[user@]host[:port]`. The port appears only when the URI
 * names one or the host is an address, so that a trunk's proxy resolves a host name as we did (RFC 3263).
 */
export function trunkUri(trunk: TrunkConfig, user?: string): string {
  const host = trunk.host.includes(':') ? `[${trunk.host}]` : trunk.host;
  const port = trunk.portGiven || isIP(trunk.host) ? `:${trunk.port}` : '';
  // A sips: URI says TLS by itself (RFC 5630); a sip: one over TLS names it.
  const transport = trunk.transport === 'tcp' ? ';transport=tcp' : trunk.transport === 'tls' && trunk.scheme !== 'sips' ? ';transport=tls' : '';
  return `${trunk.scheme}:${user !== undefined ? `${user}@` : ''}${host}${port}${transport}`;
}

/**
 * The `inbound` parameter of a trunk URI: addresses and CIDR ranges joined by `+`
 * (`;inbound=203.0.113.0/24+198.51.100.7+2001:db8:5::/48`); undefined when the parameter is absent.
 */
function parseInbound(param: readonly [string, string | null] | undefined, trunk: string): Cidr[] | undefined {
  if (param === undefined) return undefined;
  const problem = inboundProblem(param[1] ?? '');
  if (problem !== undefined) throw new Error(`trunk ${trunk}: ${problem}`);
  return (param[1] ?? '').split('+').map((part) => parseCidr(part)!);
}

/** Why an `inbound` value is unusable, or undefined when every entry is an address or a CIDR range. */
export function inboundProblem(value: string): string | undefined {
  if (value.trim() === '') return 'inbound must list at least one address or CIDR range';
  const bad = value.split('+').find((part) => parseCidr(part) === undefined);
  return bad === undefined ? undefined : `inbound: ${JSON.stringify(bad)} is not an IP address or CIDR range`;
}
