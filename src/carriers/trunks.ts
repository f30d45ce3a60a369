import { parseUri } from '../sip/message/headers.js';
import type { Config } from '../config/config.js';
import type { SipEndpoint } from '../sip/transport/types.js';

export interface TrunkConfig {
  /** As configured: shown in call records. */
  readonly name: string;
  readonly transport: 'udp' | 'tcp';
  /** Host as written (name or address); resolved when dialling. */
  readonly host: string;
  readonly port: number;
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly register: boolean;
  readonly callerIdFormat: 'e164' | 'national';
  readonly prefix: string | undefined;
}

/** The trunk part of the configuration (keepalives are the upkeep's business, not a trunk's). */
export type TrunkSettings = Omit<Config['trunk'], 'keepaliveS'>;

/**
 * `sip:[user[:password]@]host[:port][;transport=udp|tcp]`, comma-separated, in failover order. Credentials written in
 * a trunk's URI are that trunk's own; the others use DIALPLANE_TRUNK_USERNAME / _PASSWORD.
 */
export function parseTrunks(settings: TrunkSettings): TrunkConfig[] {
  return settings.uri
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((name) => {
      const uri = parseUri(name);
      const transport = uri.params.find(([key]) => key === 'transport')?.[1]?.toLowerCase();
      if (transport !== undefined && transport !== 'udp' && transport !== 'tcp') {
        throw new Error(`trunk ${name}: transport must be udp or tcp`);
      }
      return {
        // The name shows in call records and logs: never with a password in it.
        name: uri.password === undefined ? name : name.replace(`:${encodeURIComponent(uri.password)}@`, ':********@').replace(`:${uri.password}@`, ':********@'),
        transport: transport === 'tcp' ? 'tcp' : 'udp',
        host: uri.host.replace(/^\[|\]$/g, ''),
        port: uri.port ?? 5060,
        username: uri.user ?? settings.username,
        password: uri.user !== undefined ? uri.password : settings.password,
        register: settings.register,
        callerIdFormat: settings.callerIdFormat,
        prefix: settings.prefix,
      };
    });
}

export function trunkEndpoint(trunk: TrunkConfig, address: string): SipEndpoint {
  return { transport: trunk.transport, address, port: trunk.port };
}
