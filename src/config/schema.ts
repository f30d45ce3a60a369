import path from 'node:path';
import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import { isUnspecified } from '../sip/transport/advertised-address.js';
import { inboundProblem } from '../carriers/trunks.js';
import { parseSecretKey } from './secret-key.js';

/**
 * The configuration schema: one table that parsing, masking, the file-key check and the docs test all read, so a
 * variable cannot be added in one place and forgotten in another. The table is typed against `Config`, so an entry
 * whose path or value type does not match the interface fails to compile.
 */

export type DatabaseDialect = 'sqlite' | 'postgres';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type DeploymentEnv = 'development' | 'production';

export interface Config {
  /** production: refuses the embedded dev setup (see productionProblems). */
  readonly deployment: { readonly env: DeploymentEnv };
  readonly http: {
    readonly host: string;
    readonly port: number;
    readonly bodyLimit: number;
    readonly trustProxy: boolean;
    /** Absolute paths of a PEM certificate (chain) and its private key; with both set the port serves HTTPS too. */
    readonly tlsCert: string | undefined;
    readonly tlsKey: string | undefined;
  };
  /** Absolute path. */
  readonly dataDir: string;
  /** sqlite: absolute file path or ':memory:'; postgres: the postgres:// or postgresql:// URL as given. */
  readonly database: { readonly url: string; readonly dialect: DatabaseDialect };
  readonly log: { readonly level: LogLevel };
  /** Secret. */
  readonly admin: { readonly token: string | undefined };
  /** Secret: the keys the secret columns are sealed with (see loadSecretBox). */
  readonly secrets: {
    /** 32 bytes as base64 or hex; undefined: <data dir>/secrets.key, made at the first start. */
    readonly key: string | undefined;
    /** Comma-separated earlier keys, still opened until the start-up pass reseals their values. */
    readonly previousKeys: string | undefined;
  };
  /** ISO 3166 alpha-2, upper-case. */
  readonly phone: { readonly defaultCountry: string };
  readonly bootstrap: { readonly enabled: boolean };
  readonly auth: { readonly keyCacheTtlMs: number };
  readonly sip: {
    readonly host: string;
    /** Advertised in Via and Contact instead of host; undefined: host, or a concrete address when host is 0.0.0.0/::. */
    readonly publicAddress: string | undefined;
    /** Advertised in SDP o= and c= instead of host; undefined: as for SIP. */
    readonly rtpPublicAddress: string | undefined;
    readonly port: number;
    /** SIP over TLS: its port (0 picks a free one); it listens only with tlsCert and tlsKey set. */
    readonly tlsPort: number;
    /** Absolute paths of the PEM certificate (chain) and key SIP over TLS listens with; no TLS listener without them. */
    readonly tlsCert: string | undefined;
    readonly tlsKey: string | undefined;
    /** Absolute path of a PEM file of CA certificates trusted for outbound TLS besides Node's own. */
    readonly tlsCa: string | undefined;
    /** "min-max", both within 1024-65535, min < max. */
    readonly rtpPorts: string;
    readonly maxCalls: number;
    /** Seconds without RTP from the peer before an answered leg is ended; 0 disables. */
    readonly rtpTimeoutS: number;
    /** Worker threads that carry the calls' RTP (every leg of a call in one of them). */
    readonly mediaWorkers: number;
    /** SIGUSR2 ends media worker 0 as a crash would: for tests of the recovery only. */
    readonly mediaTestHooks: boolean;
    /** SIP requests per second each source IP may send on average; 0 disables the limit. */
    readonly sourceRate: number;
    /** How many requests a source may send at once above the rate (the bucket size). */
    readonly sourceBurst: number;
    /** Wrong REGISTER passwords within registerWindowS that lock a device out; 0 disables. */
    readonly registerFailures: number;
    readonly registerWindowS: number;
    readonly registerLockoutS: number;
  };
  readonly node: {
    /** This process among the nodes sharing the database; undefined: one is generated at each start. */
    readonly id: string | undefined;
    readonly leaseS: number;
  };
  /** State several nodes share; undefined URL: each process keeps its own, as a single node does. */
  readonly sharedState: {
    /** redis:// or rediss:// URL, with the password if the server wants one. */
    readonly redisUrl: string | undefined;
    /** How long a command sent to the node driving a call waits for that node's reply. */
    readonly nodeCommandTimeoutMs: number;
  };
  readonly trunk: {
    /** "dev", or one or more SIP URIs separated by commas, tried in order. */
    readonly uri: string;
    readonly username: string | undefined;
    /** Secret. */
    readonly password: string | undefined;
    readonly register: boolean;
    readonly callerIdFormat: 'e164' | 'national';
    readonly prefix: string | undefined;
    readonly keepaliveS: number;
  };
  readonly webhooks: {
    /** Deliver to loopback and private addresses (never to metadata or unspecified ones). */
    readonly allowPrivate: boolean;
    readonly maxAttempts: number;
    readonly horizonS: number;
    readonly retryBaseMs: number;
    readonly retryMaxDelayMs: number;
    readonly connectTimeoutMs: number;
    readonly timeoutMs: number;
    readonly concurrency: number;
    readonly endpointConcurrency: number;
    /** Whole-request budget of a hook an application's call waits on. */
    readonly hookTimeoutMs: number;
  };
  readonly sms: {
    /** "dev", or smpp://system_id:password@host:port. */
    readonly smsc: string;
    readonly maxSegments: number;
    readonly window: number;
  };
}

/** Names the file holding optional JSON configuration. Not a schema entry: it says where settings come from. */
export const CONFIG_FILE_VARIABLE = 'DIALPLANE_CONFIG';
export const ENV_PREFIX = 'DIALPLANE_';

type LeafPaths<T, Prefix extends string = ''> = {
  [K in keyof T & string]: T[K] extends object ? LeafPaths<T[K], `${Prefix}${K}.`> : `${Prefix}${K}`;
}[keyof T & string];

export type ConfigPath = LeafPaths<Config>;

export type ValueAt<P extends string, T = Config> = P extends `${infer Head}.${infer Rest}`
  ? Head extends keyof T
    ? ValueAt<Rest, T[Head]>
    : never
  : P extends keyof T
    ? T[P]
    : never;

/** The dialect is derived from the normalised URL rather than configured, so that the two can never disagree. */
export type SettablePath = Exclude<ConfigPath, 'database.dialect'>;

/** What a resolver may look at: earlier entries in the table are already resolved when a later one runs. */
export interface ResolveContext {
  readonly cwd: string;
  resolved<P extends SettablePath>(path: P): ValueAt<P>;
}

/** Thrown by kinds and resolvers; the loader adds the variable name and the offending value. */
export class InvalidValue extends Error {
  constructor(readonly expected: string) {
    super(`expected ${expected}`);
    this.name = 'InvalidValue';
  }
}

export interface StringKind {
  readonly kind: 'string';
  /** Completes "expected …" in error messages. */
  readonly expected: string;
  /** Defaults to "not blank". */
  readonly valid?: (value: string) => boolean;
  readonly normalize?: (value: string, context: ResolveContext) => string;
  /** Partial masking for values that are not wholly secret but may embed one (a password inside a URL). */
  readonly redact?: (value: string) => string;
}
export interface EnumKind<V extends string> {
  readonly kind: 'enum';
  readonly values: readonly V[];
}
export interface IntegerKind {
  readonly kind: 'integer';
  readonly min: number;
  readonly max: number;
}
export interface PortKind {
  readonly kind: 'port';
}
export interface BooleanKind {
  readonly kind: 'boolean';
}
export interface ByteSizeKind {
  readonly kind: 'bytes';
  readonly min: number;
  readonly max: number;
}
export type Kind = StringKind | EnumKind<string> | IntegerKind | PortKind | BooleanKind | ByteSizeKind;

type KindFor<V> = [V] extends [number]
  ? IntegerKind | PortKind | ByteSizeKind
  : [V] extends [boolean]
    ? BooleanKind
    : [V] extends [string]
      ? string extends V
        ? StringKind
        : EnumKind<V>
      : never;

/** Defaults are written as a file would write them and go through the same parser, so they are validated too. */
export type RawValue = string | number | boolean;
type DefaultFor<V> = RawValue | ((context: ResolveContext) => RawValue) | (undefined extends V ? undefined : never);

interface EntryFor<P extends SettablePath> {
  readonly variable: `${typeof ENV_PREFIX}${Uppercase<string>}`;
  readonly path: P;
  readonly type: KindFor<NonNullable<ValueAt<P>>>;
  readonly default: DefaultFor<ValueAt<P>>;
  readonly secret: boolean;
  readonly description: string;
}

export type ConfigEntry = { [P in SettablePath]: EntryFor<P> }[SettablePath];

export const SECRET_MASK = '********';
const MIB = 1024 * 1024;
/** The largest delay setTimeout honours; a TTL above it would fire at once if a module ever uses it as a timer. */
const MAX_TIMER_MS = 2_147_483_647;
const DATABASE_URL_EXPECTED =
  'a postgres:// or postgresql:// URL, sqlite:<path>, sqlite::memory:, :memory: or a file path';

export const configSchema: readonly ConfigEntry[] = [
  {
    variable: 'DIALPLANE_ENV',
    path: 'deployment.env',
    type: { kind: 'enum', values: ['development', 'production'] },
    default: 'development',
    secret: false,
    description:
      'production: refuse to start with the dev carrier, the dev SMSC, the bootstrap account, webhooks to private addresses allowed, or no TLS for HTTPS (each named in the error); the bootstrap account is then off by default.',
  },
  {
    variable: 'DIALPLANE_HTTP_HOST',
    path: 'http.host',
    type: { kind: 'string', expected: 'a host name or IP address', valid: (value) => /^\S+$/.test(value) },
    default: '127.0.0.1',
    secret: false,
    description: 'Address the HTTP server listens on; use 0.0.0.0 to accept connections from other machines.',
  },
  {
    variable: 'DIALPLANE_HTTP_PORT',
    path: 'http.port',
    type: { kind: 'port' },
    default: 8080,
    secret: false,
    description: 'TCP port the HTTP server listens on; 0 picks a free port.',
  },
  {
    variable: 'DIALPLANE_HTTP_BODY_LIMIT',
    path: 'http.bodyLimit',
    type: { kind: 'bytes', min: 1024, max: Number.MAX_SAFE_INTEGER },
    default: MIB,
    secret: false,
    description: 'Largest accepted request body, in bytes (k, m and g suffixes allowed).',
  },
  {
    variable: 'DIALPLANE_TRUST_PROXY',
    path: 'http.trustProxy',
    type: { kind: 'boolean' },
    default: false,
    secret: false,
    description: 'Trust X-Forwarded-* headers; enable only behind a reverse proxy you control.',
  },
  {
    variable: 'DIALPLANE_TLS_CERT',
    path: 'http.tlsCert',
    type: { kind: 'string', expected: 'a file path', normalize: (value, context) => path.resolve(context.cwd, value) },
    default: undefined,
    secret: false,
    description: 'PEM certificate (with its chain) for HTTPS on the HTTP port; set together with DIALPLANE_TLS_KEY.',
  },
  {
    variable: 'DIALPLANE_TLS_KEY',
    path: 'http.tlsKey',
    type: { kind: 'string', expected: 'a file path', normalize: (value, context) => path.resolve(context.cwd, value) },
    default: undefined,
    secret: false,
    description: 'PEM private key of DIALPLANE_TLS_CERT.',
  },
  {
    // Must precede DIALPLANE_DATABASE_URL, whose default is derived from it.
    variable: 'DIALPLANE_DATA_DIR',
    path: 'dataDir',
    type: {
      kind: 'string',
      expected: 'a non-empty directory path',
      normalize: (value, context) => path.resolve(context.cwd, value),
    },
    default: './data',
    secret: false,
    description: 'Directory for local state; relative paths are resolved against the working directory.',
  },
  {
    variable: 'DIALPLANE_DATABASE_URL',
    path: 'database.url',
    type: {
      kind: 'string',
      expected: DATABASE_URL_EXPECTED,
      normalize: (value, context) => normalizeDatabaseUrl(value, context.cwd),
      redact: redactUrlPassword,
    },
    default: (context) => path.join(context.resolved('dataDir'), 'dialplane.sqlite'),
    secret: false,
    description: 'postgres:// or postgresql:// URL, or a SQLite file (path, sqlite:<path>, :memory:).',
  },
  {
    variable: 'DIALPLANE_LOG_LEVEL',
    path: 'log.level',
    type: { kind: 'enum', values: LOG_LEVELS },
    default: 'info',
    secret: false,
    description: 'Minimum level written to the log.',
  },
  {
    variable: 'DIALPLANE_ADMIN_TOKEN',
    path: 'admin.token',
    type: {
      kind: 'string',
      expected: 'a token of at least 24 characters',
      valid: (value) => value.length >= 24,
    },
    default: undefined,
    secret: true,
    description: 'Bearer token for the admin API; while unset the server makes one per start in <data dir>/admin.token.',
  },
  {
    variable: 'DIALPLANE_SECRETS_KEY',
    path: 'secrets.key',
    type: {
      kind: 'string',
      expected: 'a 32-byte key as base64 (openssl rand -base64 32) or 64 hex digits',
      valid: (value) => parseSecretKey(value) !== undefined,
      normalize: (value) => value.trim(),
    },
    default: undefined,
    secret: true,
    description:
      'Key that seals webhook secrets and device HA1s in the database (AES-256-GCM); while unset, one is made at the first start in <data dir>/secrets.key. Every server on one database needs the same key.',
  },
  {
    variable: 'DIALPLANE_SECRETS_KEY_PREVIOUS',
    path: 'secrets.previousKeys',
    type: {
      kind: 'string',
      expected: '32-byte keys (base64 or 64 hex digits) separated by commas',
      valid: (value) => value.split(',').every((key) => parseSecretKey(key) !== undefined),
      normalize: (value) => value.split(',').map((key) => key.trim()).join(','),
    },
    default: undefined,
    secret: true,
    description:
      'Earlier secrets keys, separated by commas: values sealed with them still open, and the start reseals them with DIALPLANE_SECRETS_KEY. Drop it after one start.',
  },
  {
    variable: 'DIALPLANE_DEFAULT_COUNTRY',
    path: 'phone.defaultCountry',
    type: {
      kind: 'string',
      expected: 'a two-letter ISO 3166 country code such as US',
      valid: (value) => /^[A-Za-z]{2}$/.test(value),
      normalize: (value) => value.toUpperCase(),
    },
    default: 'US',
    secret: false,
    description: 'Country assumed for phone numbers written without a + country code.',
  },
  {
    variable: 'DIALPLANE_BOOTSTRAP',
    path: 'bootstrap.enabled',
    type: { kind: 'boolean' },
    default: (context) => context.resolved('deployment.env') !== 'production',
    secret: false,
    description: 'Create the first account and API key on startup when the database is empty.',
  },
  {
    variable: 'DIALPLANE_KEY_CACHE_TTL_MS',
    path: 'auth.keyCacheTtlMs',
    type: { kind: 'integer', min: 0, max: MAX_TIMER_MS },
    default: 60_000,
    secret: false,
    description: 'How long a verified API key is cached, in milliseconds; 0 disables the cache.',
  },
  {
    variable: 'DIALPLANE_SIP_HOST',
    path: 'sip.host',
    type: { kind: 'string', expected: 'an IP address to bind SIP and RTP to', valid: (value) => /^[0-9a-fA-F.:]+$/.test(value) },
    default: '127.0.0.1',
    secret: false,
    description: 'Address SIP (UDP and TCP) and RTP bind to; advertised in Via, Contact and SDP unless a public address is set.',
  },
  {
    variable: 'DIALPLANE_SIP_PUBLIC_ADDRESS',
    path: 'sip.publicAddress',
    type: { kind: 'string', expected: 'an IP address', valid: isConcreteIp },
    default: undefined,
    secret: false,
    description: 'Address put in Via and Contact instead of DIALPLANE_SIP_HOST (behind NAT: the public one).',
  },
  {
    variable: 'DIALPLANE_RTP_PUBLIC_ADDRESS',
    path: 'sip.rtpPublicAddress',
    type: { kind: 'string', expected: 'an IP address', valid: isConcreteIp },
    default: undefined,
    secret: false,
    description: 'Address put in SDP o= and c= instead of DIALPLANE_SIP_HOST.',
  },
  {
    variable: 'DIALPLANE_SIP_PORT',
    path: 'sip.port',
    type: { kind: 'port' },
    default: 5060,
    secret: false,
    description: 'SIP port, the same number for UDP and TCP; 0 picks a free one.',
  },
  {
    variable: 'DIALPLANE_SIP_TLS_PORT',
    path: 'sip.tlsPort',
    type: { kind: 'port' },
    default: 5061,
    secret: false,
    description: 'SIP over TLS port (listening only while DIALPLANE_SIP_TLS_CERT and DIALPLANE_SIP_TLS_KEY are set); 0 picks a free one.',
  },
  {
    variable: 'DIALPLANE_SIP_TLS_CERT',
    path: 'sip.tlsCert',
    type: { kind: 'string', expected: 'a file path', normalize: (value, context) => path.resolve(context.cwd, value) },
    default: undefined,
    secret: false,
    description: 'PEM certificate (with its chain) SIP over TLS listens with; set together with DIALPLANE_SIP_TLS_KEY. Not taken from DIALPLANE_TLS_CERT.',
  },
  {
    variable: 'DIALPLANE_SIP_TLS_KEY',
    path: 'sip.tlsKey',
    type: { kind: 'string', expected: 'a file path', normalize: (value, context) => path.resolve(context.cwd, value) },
    default: undefined,
    secret: false,
    description: 'PEM private key of DIALPLANE_SIP_TLS_CERT.',
  },
  {
    variable: 'DIALPLANE_SIP_TLS_CA',
    path: 'sip.tlsCa',
    type: { kind: 'string', expected: 'a file path', normalize: (value, context) => path.resolve(context.cwd, value) },
    default: undefined,
    secret: false,
    description: 'PEM file of CA certificates trusted for TLS trunks besides the system ones (a private CA).',
  },
  {
    variable: 'DIALPLANE_RTP_PORTS',
    path: 'sip.rtpPorts',
    type: { kind: 'string', expected: 'a port range such as 20000-29999 within 1024-65535', valid: isPortRange },
    default: '20000-29999',
    secret: false,
    description: 'UDP ports for RTP (even) and RTCP (odd); each call leg takes one pair.',
  },
  {
    variable: 'DIALPLANE_MAX_CALLS',
    path: 'sip.maxCalls',
    type: { kind: 'integer', min: 1, max: 100_000 },
    default: 200,
    secret: false,
    description: 'Most simultaneous call legs, inbound and outbound (a bridged call holds two); beyond it new calls are refused (503 in every API).',
  },
  {
    variable: 'DIALPLANE_RTP_TIMEOUT_S',
    path: 'sip.rtpTimeoutS',
    type: { kind: 'integer', min: 0, max: 3_600 },
    default: 60,
    secret: false,
    description:
      'Seconds an answered call leg may receive no RTP before it is ended (rtp_timeout), so a dead call is not billed to its limit; 0 never ends one. Not counted while the SDP says the peer sends nothing.',
  },
  {
    variable: 'DIALPLANE_MEDIA_WORKERS',
    path: 'sip.mediaWorkers',
    type: { kind: 'integer', min: 1, max: 64 },
    default: () => availableParallelism(),
    secret: false,
    description:
      'Worker threads that carry RTP (relaying, prompts, recording, keys), every leg of a call in the same one; default the number of cores. A worker that fails ends only its own calls (media_failure) and is replaced.',
  },
  {
    variable: 'DIALPLANE_MEDIA_TEST_HOOKS',
    path: 'sip.mediaTestHooks',
    type: { kind: 'boolean' },
    default: false,
    secret: false,
    description: 'For tests of media failure only: SIGUSR2 makes media worker 0 exit as a crash would. Never set it in production.',
  },
  {
    variable: 'DIALPLANE_SIP_SOURCE_RATE',
    path: 'sip.sourceRate',
    type: { kind: 'integer', min: 0, max: 1_000_000 },
    default: 200,
    secret: false,
    description: 'SIP requests per second one source IP may send on average; beyond it INVITE and REGISTER get 503 and other requests are dropped. 0: no limit.',
  },
  {
    variable: 'DIALPLANE_SIP_SOURCE_BURST',
    path: 'sip.sourceBurst',
    type: { kind: 'integer', min: 1, max: 1_000_000 },
    default: 1_000,
    secret: false,
    description: 'SIP requests one source IP may send at once before DIALPLANE_SIP_SOURCE_RATE applies.',
  },
  {
    variable: 'DIALPLANE_SIP_REGISTER_FAILURES',
    path: 'sip.registerFailures',
    type: { kind: 'integer', min: 0, max: 1_000_000 },
    default: 20,
    secret: false,
    description: 'Wrong REGISTER passwords for one device within DIALPLANE_SIP_REGISTER_WINDOW_S that lock it out. 0: never.',
  },
  {
    variable: 'DIALPLANE_SIP_REGISTER_WINDOW_S',
    path: 'sip.registerWindowS',
    type: { kind: 'integer', min: 1, max: 86_400 },
    default: 600,
    secret: false,
    description: 'Seconds over which wrong REGISTER passwords are counted.',
  },
  {
    variable: 'DIALPLANE_SIP_REGISTER_LOCKOUT_S',
    path: 'sip.registerLockoutS',
    type: { kind: 'integer', min: 1, max: 86_400 },
    default: 900,
    secret: false,
    description: 'Seconds a locked-out device\'s REGISTERs are answered 403 without checking the password.',
  },
  {
    variable: 'DIALPLANE_NODE_ID',
    path: 'node.id',
    type: {
      kind: 'string',
      expected: '1 to 64 letters, digits, dots, dashes, underscores or colons',
      valid: (value) => /^[A-Za-z0-9_.:-]{1,64}$/.test(value),
    },
    default: undefined,
    secret: false,
    description:
      'Name of this server among those sharing the database; unique per running process. While unset each start makes a new one.',
  },
  {
    variable: 'DIALPLANE_NODE_LEASE_S',
    path: 'node.leaseS',
    type: { kind: 'integer', min: 1, max: 3_600 },
    default: 15,
    secret: false,
    description: 'Seconds a node stays alive without renewing its lease; after that other nodes end its calls and send its SMS.',
  },
  {
    variable: 'DIALPLANE_REDIS_URL',
    path: 'sharedState.redisUrl',
    type: {
      kind: 'string',
      expected: 'a redis:// or rediss:// URL',
      valid: (value) => /^rediss?:\/\/[^\s]+$/i.test(value) && URL.canParse(value),
      redact: redactRedisPassword,
    },
    default: undefined,
    secret: false,
    description: 'Redis shared by the nodes: API rate-limit windows count across every node. Unset: each process counts its own.',
  },
  {
    variable: 'DIALPLANE_NODE_COMMAND_TIMEOUT_MS',
    path: 'sharedState.nodeCommandTimeoutMs',
    type: { kind: 'integer', min: 100, max: 600_000 },
    default: 10_000,
    secret: false,
    description:
      'Milliseconds a live command (hang-up, new program) sent over Redis to the node driving the call waits for its answer; then 503 call_owner_unreachable.',
  },
  {
    variable: 'DIALPLANE_TRUNK',
    path: 'trunk.uri',
    type: {
      kind: 'string',
      expected: 'dev, or SIP URIs such as sip:127.0.0.1:5090;transport=udp or sips:carrier.example.com, comma-separated',
      valid: isTrunkList,
      normalize: (value) => {
        // A trunk's `inbound` allow list is checked here so that a typo stops the start, not the first call.
        for (const match of value.matchAll(/;inbound=([^;,]*)/gi)) {
          if (inboundProblem(match[1] ?? '') !== undefined) {
            throw new InvalidValue('every ;inbound= entry of a trunk to be an IP address or a CIDR range, joined by +');
          }
        }
        for (const match of value.matchAll(/;srtp=([^;,]*)/gi)) {
          if (!/^(?:off|offer|require)$/i.test(match[1] ?? '')) throw new InvalidValue('a trunk\'s ;srtp= to be off, offer or require');
        }
        return value;
      },
      redact: (value) => value.replace(/(sips?:[^:@,;\s]+:)[^@,;\s]+@/gi, '$1********@'),
    },
    default: 'dev',
    secret: false,
    description:
      'Where outbound calls go: the built-in dev carrier, or SIP trunks tried in order on 5xx or no answer; a trunk URI may carry its own user:password@, ;transport=udp|tcp|tls (sips: is TLS; TLS defaults to port 5061 and checks the certificate unless ;verify=off), ;inbound= the addresses or CIDR ranges (joined by +) its INVITEs come from, and ;srtp=off|offer|require its SRTP (SDES) policy.',
  },
  {
    variable: 'DIALPLANE_TRUNK_USERNAME',
    path: 'trunk.username',
    type: { kind: 'string', expected: 'a user name' },
    default: undefined,
    secret: false,
    description: 'Digest user name for the trunk (401 and 407 challenges, REGISTER).',
  },
  {
    variable: 'DIALPLANE_TRUNK_PASSWORD',
    path: 'trunk.password',
    type: { kind: 'string', expected: 'a password' },
    default: undefined,
    secret: true,
    description: 'Digest password for the trunk.',
  },
  {
    variable: 'DIALPLANE_TRUNK_REGISTER',
    path: 'trunk.register',
    type: { kind: 'boolean' },
    default: false,
    secret: false,
    description: 'Register with the trunk (refreshed before expiry) so it routes inbound calls here.',
  },
  {
    variable: 'DIALPLANE_TRUNK_CALLER_ID_FORMAT',
    path: 'trunk.callerIdFormat',
    type: { kind: 'enum', values: ['e164', 'national'] },
    default: 'e164',
    secret: false,
    description: 'How the caller ID and the dialled number are written toward the trunk.',
  },
  {
    variable: 'DIALPLANE_TRUNK_PREFIX',
    path: 'trunk.prefix',
    type: { kind: 'string', expected: 'digits, * or #', valid: (value) => /^[0-9*#]+$/.test(value) },
    default: undefined,
    secret: false,
    description: 'Tech prefix put before every dialled number (some carriers route by it).',
  },
  {
    variable: 'DIALPLANE_TRUNK_KEEPALIVE_S',
    path: 'trunk.keepaliveS',
    type: { kind: 'integer', min: 0, max: 3_600 },
    default: 30,
    secret: false,
    description: 'Seconds between OPTIONS keepalives to each trunk; 0 sends none.',
  },
  {
    variable: 'DIALPLANE_WEBHOOK_ALLOW_PRIVATE',
    path: 'webhooks.allowPrivate',
    type: { kind: 'boolean' },
    // The embedded setup (the dev carrier) posts to receivers on this machine; with a real trunk the guard is on.
    default: (context) => context.resolved('trunk.uri') === 'dev',
    secret: false,
    description:
      'Deliver webhooks to loopback and private addresses (RFC 1918, ULA, link-local). On by default only with DIALPLANE_TRUNK=dev; metadata and unspecified addresses are always refused.',
  },
  {
    variable: 'DIALPLANE_WEBHOOK_MAX_ATTEMPTS',
    path: 'webhooks.maxAttempts',
    type: { kind: 'integer', min: 1, max: 100 },
    default: 10,
    secret: false,
    description: 'Attempts per webhook delivery, the first included, before it is marked failed.',
  },
  {
    variable: 'DIALPLANE_WEBHOOK_HORIZON_S',
    path: 'webhooks.horizonS',
    type: { kind: 'integer', min: 1, max: 30 * 86_400 },
    default: 86_400,
    secret: false,
    description: 'No webhook retry is scheduled later than this many seconds after the first attempt.',
  },
  {
    variable: 'DIALPLANE_WEBHOOK_RETRY_BASE_MS',
    path: 'webhooks.retryBaseMs',
    type: { kind: 'integer', min: 1, max: 86_400_000 },
    default: 30_000,
    secret: false,
    description: 'Delay before the first webhook retry; each later one waits 2.9 times longer, with jitter.',
  },
  {
    variable: 'DIALPLANE_WEBHOOK_RETRY_MAX_DELAY_MS',
    path: 'webhooks.retryMaxDelayMs',
    type: { kind: 'integer', min: 1, max: MAX_TIMER_MS },
    default: 7 * 3_600_000,
    secret: false,
    description: 'Longest wait between two webhook attempts (a Retry-After header may ask for longer).',
  },
  {
    variable: 'DIALPLANE_WEBHOOK_CONNECT_TIMEOUT_MS',
    path: 'webhooks.connectTimeoutMs',
    type: { kind: 'integer', min: 10, max: 120_000 },
    default: 5_000,
    secret: false,
    description: 'Time allowed to resolve and connect to a webhook receiver (TLS handshake included).',
  },
  {
    variable: 'DIALPLANE_WEBHOOK_TIMEOUT_MS',
    path: 'webhooks.timeoutMs',
    type: { kind: 'integer', min: 10, max: 300_000 },
    default: 10_000,
    secret: false,
    description: 'Time allowed for a whole webhook request, until the response has been read.',
  },
  {
    variable: 'DIALPLANE_WEBHOOK_CONCURRENCY',
    path: 'webhooks.concurrency',
    type: { kind: 'integer', min: 1, max: 10_000 },
    default: 128,
    secret: false,
    description: 'Webhook requests in flight at once, over all receivers.',
  },
  {
    variable: 'DIALPLANE_WEBHOOK_ENDPOINT_CONCURRENCY',
    path: 'webhooks.endpointConcurrency',
    type: { kind: 'integer', min: 1, max: 10_000 },
    default: 32,
    secret: false,
    description: 'Webhook requests in flight at once to one endpoint, so a slow receiver cannot hold up the others.',
  },
  {
    variable: 'DIALPLANE_HOOK_TIMEOUT_MS',
    path: 'webhooks.hookTimeoutMs',
    type: { kind: 'integer', min: 100, max: 60_000 },
    default: 5_000,
    secret: false,
    description: "Time allowed for a whole request to an application's call hook or action hook, until its answer has been read.",
  },
  {
    variable: 'DIALPLANE_SMSC',
    path: 'sms.smsc',
    type: {
      kind: 'string',
      expected: 'dev, or smpp://system_id:password@host:port',
      valid: (value) => value === 'dev' || /^smpp:\/\/[^\s:@/]+:[^\s@/]*@[^\s:/]+:\d{1,5}\/?$/i.test(value),
      redact: (value) => value.replace(/^(smpp:\/\/[^:@/]+:)[^@/]*@/i, '$1********@'),
    },
    default: 'dev',
    secret: false,
    description: 'Where SMS go: the built-in dev SMSC on loopback, or an SMSC over SMPP v3.4 (the password is masked in dialplane config).',
  },
  {
    variable: 'DIALPLANE_SMS_MAX_SEGMENTS',
    path: 'sms.maxSegments',
    type: { kind: 'integer', min: 1, max: 255 },
    default: 10,
    secret: false,
    description: 'Most segments one SMS may take; a longer message is refused.',
  },
  {
    variable: 'DIALPLANE_SMPP_WINDOW',
    path: 'sms.window',
    type: { kind: 'integer', min: 1, max: 1_000 },
    default: 10,
    secret: false,
    description: 'submit_sm requests outstanding at once toward the SMSC.',
  },
];

/** An IPv4 or IPv6 literal other than 0.0.0.0 and ::. */
function isConcreteIp(value: string): boolean {
  return isIP(value) !== 0 && !isUnspecified(value);
}

/** "20000-29999": an even number of ports is not required, but at least one RTP/RTCP pair must fit. */
function isPortRange(value: string): boolean {
  const match = /^(\d{4,5})-(\d{4,5})$/.exec(value);
  if (!match) return false;
  const [min, max] = [Number(match[1]), Number(match[2])];
  return min >= 1024 && max <= 65535 && max - min >= 1;
}

function isTrunkList(value: string): boolean {
  return value === 'dev' || value.split(',').every((part) => /^sips?:[^\s,]+$/i.test(part.trim()));
}

/** The key for an entry in the JSON config file: the variable name without the prefix, in lower case. */
export function fileKeyOf(variable: string): string {
  return variable.slice(ENV_PREFIX.length).toLowerCase();
}

const POSTGRES_URL = /^postgres(?:ql)?:\/\//i;
const ANY_SCHEME_URL = /^[a-z][a-z0-9+.-]*:\/\//i;
const SQLITE_PREFIX = 'sqlite:';
const MEMORY = ':memory:';

/** Returns a postgres URL unchanged, ':memory:', or an absolute SQLite file path. */
export function normalizeDatabaseUrl(value: string, cwd: string): string {
  if (POSTGRES_URL.test(value)) {
    if (!URL.canParse(value)) throw new InvalidValue(DATABASE_URL_EXPECTED);
    return value;
  }
  // sqlite:// is rejected with the other schemes: "sqlite://x" is ambiguous between a relative and an absolute path.
  if (ANY_SCHEME_URL.test(value)) throw new InvalidValue(DATABASE_URL_EXPECTED);
  const file = value.toLowerCase().startsWith(SQLITE_PREFIX) ? value.slice(SQLITE_PREFIX.length) : value;
  if (file === MEMORY) return MEMORY;
  if (file === '') throw new InvalidValue(DATABASE_URL_EXPECTED);
  return path.resolve(cwd, file);
}

export function dialectOf(normalizedUrl: string): DatabaseDialect {
  return POSTGRES_URL.test(normalizedUrl) ? 'postgres' : 'sqlite';
}

/** Masks the password in a URL's user info and in a `password` query parameter, which libpq also honours. */
/** A redis:// or rediss:// URL with its password (if any) masked. */
export function redactRedisPassword(value: string): string {
  if (!URL.canParse(value)) return value;
  const url = new URL(value);
  if (url.password === '') return value;
  url.password = SECRET_MASK;
  return url.toString();
}

export function redactUrlPassword(value: string): string {
  if (!POSTGRES_URL.test(value) || !URL.canParse(value)) return value;
  const url = new URL(value);
  const inQuery = url.searchParams.has('password');
  if (url.password === '' && !inQuery) return value;
  if (url.password !== '') url.password = SECRET_MASK;
  if (inQuery) url.searchParams.set('password', SECRET_MASK);
  return url.toString();
}
