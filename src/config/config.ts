import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  CONFIG_FILE_VARIABLE,
  ENV_PREFIX,
  InvalidValue,
  SECRET_MASK,
  configSchema,
  dialectOf,
  fileKeyOf,
} from './schema.js';
import type {
  ByteSizeKind,
  Config,
  ConfigEntry,
  EnumKind,
  IntegerKind,
  Kind,
  ResolveContext,
  SettablePath,
  StringKind,
  ValueAt,
} from './schema.js';

export type { Config, ConfigEntry, DatabaseDialect, LogLevel } from './schema.js';
export { CONFIG_FILE_VARIABLE, LOG_LEVELS, SECRET_MASK, configSchema, fileKeyOf } from './schema.js';

export type ConfigSource = 'default' | 'file' | 'env';

/** One printable, masked line of the effective configuration. */
export interface ConfigRow {
  readonly variable: string;
  readonly value: string;
  /** Absent when the Config was not produced by loadConfig (for example one built by hand in a test). */
  readonly source?: ConfigSource;
}

/** Shown for optional settings that have no value. */
export const UNSET_DISPLAY = '(unset)';

export class ConfigError extends Error {
  /** The variable to fix: a schema variable, or DIALPLANE_CONFIG for problems with the config file itself. */
  readonly variable: string;

  constructor(variable: string, detail: string) {
    super(`${variable}: ${detail}`);
    this.name = 'ConfigError';
    this.variable = variable;
  }
}

type Env = Readonly<Record<string, string | undefined>>;

interface ConfigFile {
  readonly path: string;
  readonly values: ReadonlyMap<string, unknown>;
}

interface Input {
  readonly source: ConfigSource;
  readonly value: unknown;
  /** Appended to error messages so the user knows which of several places to fix. */
  readonly origin: string;
}

// Kept beside the Config rather than on it so the object stays exactly the documented shape.
const sourcesByConfig = new WeakMap<object, ReadonlyMap<string, ConfigSource>>();

/**
 * Reads the configuration once: built-in defaults, overridden by the JSON file named in DIALPLANE_CONFIG, overridden
 * by DIALPLANE_* environment variables. Throws ConfigError on the first invalid value. The result is deeply frozen.
 */
export function loadConfig(env: Env = process.env, options: { cwd?: string } = {}): Config {
  const cwd = options.cwd ?? process.cwd();
  const file = readConfigFile(env, cwd);
  const resolved = new Map<SettablePath, unknown>();
  const context: ResolveContext = {
    cwd,
    resolved<P extends SettablePath>(key: P): ValueAt<P> {
      if (!resolved.has(key)) throw new Error(`config schema order: ${key} is read before it is resolved`);
      // Sound because the value was produced by the entry for this path, whose kind is typed against Config.
      return resolved.get(key) as ValueAt<P>;
    },
  };
  const sources = new Map<string, ConfigSource>();
  const tree: Record<string, unknown> = {};
  for (const entry of configSchema) {
    const input = pickInput(entry, env, file, context);
    const value = input === undefined ? undefined : parseEntry(entry, input, context);
    resolved.set(entry.path, value);
    sources.set(entry.variable, input?.source ?? 'default');
    setAt(tree, entry.path, value);
  }
  setAt(tree, 'database.dialect', dialectOf(context.resolved('database.url')));
  // The schema's paths and kinds are type-checked against Config, so the assembled tree has its shape.
  const config = deepFreeze(tree) as unknown as Config;
  const problems = productionProblems(config);
  if (problems.length > 0) {
    const detail = problems.map((problem) => `${problem.variable}: ${problem.detail}`).join('; ');
    throw new ConfigError(problems[0]!.variable, `DIALPLANE_ENV=production refuses this configuration: ${detail}`);
  }
  sourcesByConfig.set(config, sources);
  return config;
}

export interface ProductionProblem {
  readonly variable: string;
  readonly detail: string;
}

/**
 * What DIALPLANE_ENV=production refuses: the embedded setup that makes `npm start` work anywhere (simulated carrier
 * and SMSC, a bootstrap account whose key is printed, webhooks to this machine's network) and HTTP without TLS for
 * the faces that require HTTPS. Empty in development, whatever is configured.
 */
export function productionProblems(config: Config): ProductionProblem[] {
  if (config.deployment.env !== 'production') return [];
  const problems: ProductionProblem[] = [];
  if (config.trunk.uri === 'dev') {
    problems.push({ variable: 'DIALPLANE_TRUNK', detail: 'the dev carrier is simulated; set the SIP URI of your trunk' });
  }
  if (config.sms.smsc === 'dev') {
    problems.push({ variable: 'DIALPLANE_SMSC', detail: 'the dev SMSC is simulated; set smpp://system_id:password@host:port' });
  }
  if (config.bootstrap.enabled) {
    problems.push({
      variable: 'DIALPLANE_BOOTSTRAP',
      detail: 'a bootstrap account prints its API key to the log; leave it unset and create accounts with `dialplane account create`',
    });
  }
  if (config.webhooks.allowPrivate) {
    problems.push({
      variable: 'DIALPLANE_WEBHOOK_ALLOW_PRIVATE',
      detail: 'webhooks to loopback and private addresses let an account reach this network; leave it unset',
    });
  }
  if ((config.http.tlsCert === undefined || config.http.tlsKey === undefined) && !config.http.trustProxy) {
    problems.push({
      variable: 'DIALPLANE_TLS_CERT',
      detail:
        'HTTPS is required (API keys travel in every request); set DIALPLANE_TLS_CERT and DIALPLANE_TLS_KEY, or DIALPLANE_TRUST_PROXY=true behind a proxy that terminates TLS',
    });
  }
  return problems;
}

/** A masked, printable view of every schema variable, in schema order. */
export function describeConfig(config: Config): ConfigRow[] {
  const sources = sourcesByConfig.get(config);
  return configSchema.map((entry) => {
    const value = displayValue(entry, getAt(config, entry.path));
    const source = sources?.get(entry.variable);
    return source === undefined ? { variable: entry.variable, value } : { variable: entry.variable, value, source };
  });
}

function displayValue(entry: ConfigEntry, value: unknown): string {
  if (value === undefined) return UNSET_DISPLAY;
  if (entry.secret) return SECRET_MASK;
  if (entry.type.kind === 'string' && entry.type.redact !== undefined && typeof value === 'string') {
    return entry.type.redact(value);
  }
  return String(value);
}

function readConfigFile(env: Env, cwd: string): ConfigFile | undefined {
  const given = env[CONFIG_FILE_VARIABLE];
  if (given === undefined || given === '') return undefined;
  const file = path.resolve(cwd, given);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    const what = error instanceof SyntaxError ? 'is not valid JSON' : 'cannot be read';
    throw new ConfigError(CONFIG_FILE_VARIABLE, `config file ${file} ${what}: ${messageOf(error)}`);
  }
  if (!isRecord(parsed) || Array.isArray(parsed)) {
    throw new ConfigError(CONFIG_FILE_VARIABLE, `config file ${file} must contain a JSON object`);
  }
  const known = new Set(configSchema.map((entry) => fileKeyOf(entry.variable)));
  for (const key of Object.keys(parsed)) {
    if (known.has(key)) continue;
    // A typo'd key silently ignored would leave the default in force, which is worse than refusing to start.
    const likely = fileKeyOf(ENV_PREFIX + key.replace(/^dialplane_/i, ''));
    const hint = known.has(likely) ? `; did you mean "${likely}"?` : '';
    throw new ConfigError(CONFIG_FILE_VARIABLE, `unknown key "${key}" in config file ${file}${hint}`);
  }
  return { path: file, values: new Map(Object.entries(parsed)) };
}

function pickInput(
  entry: ConfigEntry,
  env: Env,
  file: ConfigFile | undefined,
  context: ResolveContext,
): Input | undefined {
  const fromEnv = env[entry.variable];
  // Empty counts as unset because orchestrators (compose, systemd) often pass declared-but-blank variables.
  if (fromEnv !== undefined && fromEnv !== '') return { source: 'env', value: fromEnv, origin: '' };
  const key = fileKeyOf(entry.variable);
  if (file !== undefined && file.values.has(key)) {
    return { source: 'file', value: file.values.get(key), origin: ` (from "${key}" in ${file.path})` };
  }
  const fallback = typeof entry.default === 'function' ? entry.default(context) : entry.default;
  return fallback === undefined ? undefined : { source: 'default', value: fallback, origin: ' (built-in default)' };
}

function parseEntry(entry: ConfigEntry, input: Input, context: ResolveContext): unknown {
  try {
    return parseKind(entry.type, input.value, context);
  } catch (error) {
    if (!(error instanceof InvalidValue)) throw error;
    const got = describeInput(input.value, entry.secret);
    throw new ConfigError(entry.variable, `expected ${error.expected}, got ${got}${input.origin}`);
  }
}

function describeInput(value: unknown, secret: boolean): string {
  // Echoing a rejected secret would put it in logs; its length is enough to spot a truncated token.
  if (secret) return typeof value === 'string' ? `a value of ${value.length} characters` : `a JSON ${typeof value}`;
  const shown = JSON.stringify(value) ?? String(value);
  return shown.length > 80 ? `${shown.slice(0, 77)}...` : shown;
}

function parseKind(kind: Kind, value: unknown, context: ResolveContext): unknown {
  switch (kind.kind) {
    case 'string':
      return parseString(kind, value, context);
    case 'enum':
      return parseEnum(kind, value);
    case 'integer':
      return parseInteger(value, kind.min, kind.max, integerExpected(kind));
    case 'port':
      return parseInteger(value, 0, 65535, 'an integer port 0-65535');
    case 'boolean':
      return parseBoolean(value);
    case 'bytes':
      return parseByteSize(kind, value);
  }
}

function parseString(kind: StringKind, value: unknown, context: ResolveContext): string {
  const valid = kind.valid ?? ((text: string) => text.trim() !== '');
  if (typeof value !== 'string' || !valid(value)) throw new InvalidValue(kind.expected);
  return kind.normalize === undefined ? value : kind.normalize(value, context);
}

function parseEnum(kind: EnumKind<string>, value: unknown): string {
  const wanted = typeof value === 'string' ? value.trim().toLowerCase() : undefined;
  const match = kind.values.find((candidate) => candidate === wanted);
  if (match === undefined) throw new InvalidValue(`one of ${kind.values.join(', ')}`);
  return match;
}

function integerExpected(kind: IntegerKind): string {
  return kind.max >= Number.MAX_SAFE_INTEGER ? `an integer >= ${kind.min}` : `an integer ${kind.min}-${kind.max}`;
}

function parseInteger(value: unknown, min: number, max: number, expected: string): number {
  const text = scalarText(value);
  const number = text !== undefined && /^[+-]?\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(number) || number < min || number > max) throw new InvalidValue(expected);
  return number;
}

const BOOLEAN_WORDS: Readonly<Record<string, boolean>> = {
  true: true,
  false: false,
  yes: true,
  no: false,
  1: true,
  0: false,
};

function parseBoolean(value: unknown): boolean {
  const word = scalarText(value)?.toLowerCase();
  const parsed = word === undefined ? undefined : BOOLEAN_WORDS[word];
  if (parsed === undefined) throw new InvalidValue('a boolean (true/false, yes/no, 1/0)');
  return parsed;
}

const BYTE_SIZE = /^(\d+)\s*(?:([kmg])(?:i?b)?|b)?$/i;
const BYTE_MULTIPLIERS: Readonly<Record<string, number>> = { k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

function parseByteSize(kind: ByteSizeKind, value: unknown): number {
  const range = kind.max >= Number.MAX_SAFE_INTEGER ? `>= ${kind.min}` : `${kind.min}-${kind.max}`;
  const expected = `a size in bytes ${range} (an integer, optionally with a k, m or g suffix)`;
  const match = BYTE_SIZE.exec(scalarText(value) ?? '');
  const unit = match?.[2]?.toLowerCase();
  const multiplier = unit === undefined ? 1 : BYTE_MULTIPLIERS[unit];
  const bytes = match?.[1] === undefined || multiplier === undefined ? Number.NaN : Number(match[1]) * multiplier;
  if (!Number.isSafeInteger(bytes) || bytes < kind.min || bytes > kind.max) throw new InvalidValue(expected);
  return bytes;
}

/** Env values are strings while file values may be JSON numbers or booleans; numeric kinds accept either. */
function scalarText(value: unknown): string | undefined {
  if (typeof value === 'string') return value.trim();
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function setAt(root: Record<string, unknown>, dotted: string, value: unknown): void {
  const keys = dotted.split('.');
  const leaf = keys.pop();
  let node = root;
  for (const key of keys) {
    const child = node[key];
    const next: Record<string, unknown> = isRecord(child) ? child : {};
    node[key] = next;
    node = next;
  }
  if (leaf !== undefined) node[leaf] = value;
}

function getAt(root: unknown, dotted: string): unknown {
  return dotted.split('.').reduce<unknown>((node, key) => (isRecord(node) ? node[key] : undefined), root);
}

function deepFreeze<T>(value: T): T {
  if (isRecord(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
