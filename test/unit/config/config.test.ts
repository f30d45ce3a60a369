import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CONFIG_FILE_VARIABLE,
  ConfigError,
  configSchema,
  describeConfig,
  fileKeyOf,
  loadConfig,
} from '../../../src/config/config.js';
import type { Config, ConfigRow } from '../../../src/config/config.js';

const CWD = path.resolve('/srv/dialplane');
const TOKEN = 'a-very-long-admin-token-0123456789';

const scratch = mkdtempSync(path.join(tmpdir(), 'dialplane-config-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

let fileCount = 0;
function writeConfigFile(content: unknown): string {
  fileCount += 1;
  const file = path.join(scratch, `config-${fileCount}.json`);
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

function load(env: Record<string, string | undefined> = {}): Config {
  return loadConfig(env, { cwd: CWD });
}

function assertConfigError(run: () => unknown, variable: string, ...fragments: string[]): ConfigError {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    assert.equal(error.variable, variable);
    assert.ok(error.message.startsWith(`${variable}: `), error.message);
    for (const fragment of fragments) {
      assert.ok(error.message.includes(fragment), `"${error.message}" lacks "${fragment}"`);
    }
    return error;
  }
  assert.fail(`expected a ConfigError for ${variable}`);
}

function rowsByVariable(config: Config): Map<string, ConfigRow> {
  return new Map(describeConfig(config).map((row) => [row.variable, row]));
}

function findRepoRoot(): string {
  // Compiled tests live four levels below the root and sources three; walking up works for both.
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) return process.cwd();
    dir = parent;
  }
  return dir;
}

describe('loadConfig defaults', () => {
  test('an empty environment gives the documented defaults', () => {
    assert.deepEqual(load(), {
      deployment: { env: 'development' },
      http: { host: '127.0.0.1', port: 8080, bodyLimit: 1_048_576, trustProxy: false, tlsCert: undefined, tlsKey: undefined },
      dataDir: path.join(CWD, 'data'),
      database: { url: path.join(CWD, 'data', 'dialplane.sqlite'), dialect: 'sqlite' },
      log: { level: 'info' },
      admin: { token: undefined },
      secrets: { key: undefined, previousKeys: undefined },
      phone: { defaultCountry: 'US' },
      bootstrap: { enabled: true },
      auth: { keyCacheTtlMs: 60_000 },
      sip: { host: '127.0.0.1', publicAddress: undefined, rtpPublicAddress: undefined, port: 5060, tlsPort: 5061, tlsCert: undefined, tlsKey: undefined, tlsCa: undefined, rtpPorts: '20000-29999', maxCalls: 200, rtpTimeoutS: 60, mediaWorkers: availableParallelism(), mediaTestHooks: false, sourceRate: 200, sourceBurst: 1000, registerFailures: 20, registerWindowS: 600, registerLockoutS: 900 },
      node: { id: undefined, leaseS: 15 },
      sharedState: { redisUrl: undefined, nodeCommandTimeoutMs: 10_000 },
      trunk: { uri: 'dev', username: undefined, password: undefined, register: false, callerIdFormat: 'e164', prefix: undefined, keepaliveS: 30 },
      webhooks: {
        allowPrivate: true,
        maxAttempts: 10,
        horizonS: 86_400,
        retryBaseMs: 30_000,
        retryMaxDelayMs: 25_200_000,
        connectTimeoutMs: 5_000,
        timeoutMs: 10_000,
        concurrency: 128,
        endpointConcurrency: 32,
        hookTimeoutMs: 5_000,
      },
      sms: { smsc: 'dev', maxSegments: 10, window: 10 },
    });
  });

  test('TLS files are paths resolved against the working directory', () => {
    const http = load({ DIALPLANE_TLS_CERT: 'tls/cert.pem', DIALPLANE_TLS_KEY: '/etc/dialplane/key.pem' }).http;
    assert.equal(http.tlsCert, path.join(CWD, 'tls', 'cert.pem'));
    assert.equal(http.tlsKey, '/etc/dialplane/key.pem');
  });

  test('a node id is checked and the lease is whole seconds', () => {
    assert.deepEqual(load({ DIALPLANE_NODE_ID: 'eu-1.a', DIALPLANE_NODE_LEASE_S: '2' }).node, { id: 'eu-1.a', leaseS: 2 });
    assert.throws(() => load({ DIALPLANE_NODE_ID: 'two words' }), /DIALPLANE_NODE_ID/);
    assert.throws(() => load({ DIALPLANE_NODE_LEASE_S: '0' }), /DIALPLANE_NODE_LEASE_S/);
  });

  test('an SMSC URL is checked and its password masked', () => {
    const config = load({ DIALPLANE_SMSC: 'smpp://esme:s3cret@127.0.0.1:2775' });
    assert.equal(config.sms.smsc, 'smpp://esme:s3cret@127.0.0.1:2775');
    const row = describeConfig(config).find((r) => r.variable === 'DIALPLANE_SMSC');
    assert.equal(row?.value, 'smpp://esme:********@127.0.0.1:2775');
    assert.throws(() => load({ DIALPLANE_SMSC: 'http://127.0.0.1:2775' }), /DIALPLANE_SMSC/);
  });

  test('a Redis URL is checked and its password masked', () => {
    const config = load({ DIALPLANE_REDIS_URL: 'redis://:p4ss@127.0.0.1:6379/2' });
    assert.equal(config.sharedState.redisUrl, 'redis://:p4ss@127.0.0.1:6379/2');
    const row = describeConfig(config).find((r) => r.variable === 'DIALPLANE_REDIS_URL');
    assert.ok(row && !row.value.includes('p4ss'), row?.value);
    assert.equal(load({ DIALPLANE_REDIS_URL: 'rediss://cache.example:6380' }).sharedState.redisUrl, 'rediss://cache.example:6380');
    assert.throws(() => load({ DIALPLANE_REDIS_URL: 'http://127.0.0.1:6379' }), /DIALPLANE_REDIS_URL/);
    assert.throws(() => load({ DIALPLANE_REDIS_URL: 'redis://' }), /DIALPLANE_REDIS_URL/);
  });

  test("a trunk's ;srtp= policy is checked when the configuration loads", () => {
    assert.equal(load({ DIALPLANE_TRUNK: 'sip:127.0.0.1:5090;srtp=require' }).trunk.uri, 'sip:127.0.0.1:5090;srtp=require');
    assert.throws(() => load({ DIALPLANE_TRUNK: 'sip:127.0.0.1:5090;srtp=yes' }), /DIALPLANE_TRUNK.*srtp= to be off, offer or require/);
  });

  test('private webhook targets are allowed only in the embedded setup (the dev carrier), unless set', () => {
    assert.equal(load().webhooks.allowPrivate, true);
    assert.equal(load({ DIALPLANE_TRUNK: 'sip:127.0.0.1:5090' }).webhooks.allowPrivate, false);
    assert.equal(load({ DIALPLANE_TRUNK: 'sip:127.0.0.1:5090', DIALPLANE_WEBHOOK_ALLOW_PRIVATE: 'true' }).webhooks.allowPrivate, true);
    assert.equal(load({ DIALPLANE_WEBHOOK_ALLOW_PRIVATE: 'no' }).webhooks.allowPrivate, false);
  });

  test('every row is reported as coming from the default', () => {
    for (const row of describeConfig(load())) assert.equal(row.source, 'default', row.variable);
  });

  test('the default database follows the data directory', () => {
    const config = load({ DIALPLANE_DATA_DIR: 'state' });
    assert.equal(config.dataDir, path.join(CWD, 'state'));
    assert.equal(config.database.url, path.join(CWD, 'state', 'dialplane.sqlite'));
  });

  test('an absolute data directory is kept', () => {
    const absolute = path.resolve('/var/lib/dialplane');
    assert.equal(load({ DIALPLANE_DATA_DIR: absolute }).dataDir, absolute);
  });

  test('unknown DIALPLANE_ variables and empty values are ignored', () => {
    const config = load({ DIALPLANE_NOT_YET_INVENTED: 'x', DIALPLANE_HTTP_PORT: '' });
    assert.equal(config.http.port, 8080);
  });
});

describe('config file', () => {
  test('values come from the file and environment variables override them', () => {
    const file = writeConfigFile({ http_port: 8081, log_level: 'debug', trust_proxy: true, http_body_limit: '2mb' });
    const config = load({ [CONFIG_FILE_VARIABLE]: file, DIALPLANE_HTTP_PORT: '9090' });
    assert.equal(config.http.port, 9090);
    assert.equal(config.log.level, 'debug');
    assert.equal(config.http.trustProxy, true);
    assert.equal(config.http.bodyLimit, 2 * 1024 * 1024);
    const rows = rowsByVariable(config);
    assert.equal(rows.get('DIALPLANE_HTTP_PORT')?.source, 'env');
    assert.equal(rows.get('DIALPLANE_LOG_LEVEL')?.source, 'file');
    assert.equal(rows.get('DIALPLANE_HTTP_HOST')?.source, 'default');
  });

  test('a relative config path is resolved against cwd', () => {
    writeConfigFile({ default_country: 'gb' });
    const config = loadConfig({ [CONFIG_FILE_VARIABLE]: `config-${fileCount}.json` }, { cwd: scratch });
    assert.equal(config.phone.defaultCountry, 'GB');
  });

  test('an unknown key is an error naming the key', () => {
    const file = writeConfigFile({ http_port: 8081, htp_host: '0.0.0.0' });
    assertConfigError(() => load({ [CONFIG_FILE_VARIABLE]: file }), CONFIG_FILE_VARIABLE, '"htp_host"', file);
  });

  test('a key written as the variable name suggests the file key', () => {
    const file = writeConfigFile({ DIALPLANE_HTTP_PORT: 8081 });
    assertConfigError(() => load({ [CONFIG_FILE_VARIABLE]: file }), CONFIG_FILE_VARIABLE, 'did you mean "http_port"');
  });

  test('the file cannot name another config file', () => {
    const file = writeConfigFile({ config: '/elsewhere.json' });
    assertConfigError(() => load({ [CONFIG_FILE_VARIABLE]: file }), CONFIG_FILE_VARIABLE, '"config"');
  });

  test('a missing file, invalid JSON and a non-object are errors', () => {
    const missing = path.join(scratch, 'missing.json');
    assertConfigError(() => load({ [CONFIG_FILE_VARIABLE]: missing }), CONFIG_FILE_VARIABLE, 'cannot be read');
    const broken = writeConfigFile('{"http_port": ');
    assertConfigError(() => load({ [CONFIG_FILE_VARIABLE]: broken }), CONFIG_FILE_VARIABLE, 'not valid JSON');
    const array = writeConfigFile([1, 2]);
    assertConfigError(() => load({ [CONFIG_FILE_VARIABLE]: array }), CONFIG_FILE_VARIABLE, 'JSON object');
  });

  test('an invalid value in the file names the variable and where it came from', () => {
    const file = writeConfigFile({ http_port: 1.5 });
    const run = (): Config => load({ [CONFIG_FILE_VARIABLE]: file });
    assertConfigError(run, 'DIALPLANE_HTTP_PORT', 'got 1.5', '"http_port"', file);
  });

  test('string settings do not accept JSON numbers', () => {
    const file = writeConfigFile({ http_host: 80 });
    assertConfigError(() => load({ [CONFIG_FILE_VARIABLE]: file }), 'DIALPLANE_HTTP_HOST', 'got 80');
  });
});

describe('invalid values name the variable', () => {
  const cases: Array<[kind: string, variable: string, value: string, fragment: string]> = [
    ['port, not a number', 'DIALPLANE_HTTP_PORT', 'abc', 'expected an integer port 0-65535, got "abc"'],
    ['port, out of range', 'DIALPLANE_HTTP_PORT', '65536', 'expected an integer port 0-65535'],
    ['integer, below min', 'DIALPLANE_KEY_CACHE_TTL_MS', '-1', 'expected an integer 0-'],
    ['integer, fractional', 'DIALPLANE_KEY_CACHE_TTL_MS', '1.5', 'got "1.5"'],
    ['media workers, none', 'DIALPLANE_MEDIA_WORKERS', '0', 'expected an integer 1-64'],
    ['byte size, below min', 'DIALPLANE_HTTP_BODY_LIMIT', '1023', 'expected a size in bytes >= 1024'],
    ['byte size, bad unit', 'DIALPLANE_HTTP_BODY_LIMIT', '5tb', 'got "5tb"'],
    ['boolean', 'DIALPLANE_TRUST_PROXY', 'maybe', 'expected a boolean'],
    ['enum', 'DIALPLANE_LOG_LEVEL', 'loud', 'expected one of fatal, error, warn, info, debug, trace, silent'],
    ['string, country', 'DIALPLANE_DEFAULT_COUNTRY', 'USA', 'two-letter ISO 3166'],
    ['string, whitespace host', 'DIALPLANE_HTTP_HOST', ' ', 'got " "'],
    ['string, short token', 'DIALPLANE_ADMIN_TOKEN', 'short', 'at least 24 characters'],
    ['database url scheme', 'DIALPLANE_DATABASE_URL', 'mysql://db/x', 'postgres:// or postgresql://'],
    ['database url sqlite://', 'DIALPLANE_DATABASE_URL', 'sqlite:///var/db.sqlite', 'sqlite:<path>'],
    ['database url empty sqlite path', 'DIALPLANE_DATABASE_URL', 'sqlite:', 'got "sqlite:"'],
  ];
  for (const [kind, variable, value, fragment] of cases) {
    test(`${kind}: ${variable}=${JSON.stringify(value)}`, () => {
      assertConfigError(() => load({ [variable]: value }), variable, fragment);
    });
  }

  test('a rejected secret is not echoed', () => {
    const error = assertConfigError(() => load({ DIALPLANE_ADMIN_TOKEN: 'hunter2' }), 'DIALPLANE_ADMIN_TOKEN');
    assert.ok(!error.message.includes('hunter2'), error.message);
    assert.ok(error.message.includes('7 characters'), error.message);
  });
});

describe('accepted value forms', () => {
  test('booleans accept true/false, yes/no and 1/0 in any case', () => {
    const forms: Array<[string, boolean]> = [
      ['true', true], ['TRUE', true], ['Yes', true], ['1', true],
      ['false', false], ['No', false], ['0', false], [' false ', false],
    ];
    for (const [value, expected] of forms) {
      assert.equal(load({ DIALPLANE_BOOTSTRAP: value }).bootstrap.enabled, expected, value);
    }
  });

  test('byte sizes accept plain integers and binary suffixes', () => {
    const forms: Array<[string, number]> = [
      ['2048', 2048],
      ['512k', 524_288],
      ['2MB', 2_097_152],
      ['1 GiB', 1024 ** 3],
    ];
    for (const [value, expected] of forms) {
      assert.equal(load({ DIALPLANE_HTTP_BODY_LIMIT: value }).http.bodyLimit, expected, value);
    }
  });

  test('ports include 0 and 65535, log levels are case-insensitive, countries are upper-cased', () => {
    assert.equal(load({ DIALPLANE_HTTP_PORT: '0' }).http.port, 0);
    assert.equal(load({ DIALPLANE_HTTP_PORT: '65535' }).http.port, 65535);
    assert.equal(load({ DIALPLANE_LOG_LEVEL: 'WARN' }).log.level, 'warn');
    assert.equal(load({ DIALPLANE_DEFAULT_COUNTRY: 'de' }).phone.defaultCountry, 'DE');
  });

  test('a long enough admin token is kept verbatim', () => {
    assert.equal(load({ DIALPLANE_ADMIN_TOKEN: TOKEN }).admin.token, TOKEN);
  });
});

describe('database URL', () => {
  const sqliteForms: Array<[string, string]> = [
    ['sqlite:db/app.sqlite', path.join(CWD, 'db', 'app.sqlite')],
    ['sqlite:/var/lib/app.sqlite', path.resolve('/var/lib/app.sqlite')],
    ['db/app.sqlite', path.join(CWD, 'db', 'app.sqlite')],
    ['/var/lib/app.sqlite', path.resolve('/var/lib/app.sqlite')],
    ['sqlite::memory:', ':memory:'],
    [':memory:', ':memory:'],
  ];
  for (const [value, expected] of sqliteForms) {
    test(`${value} is sqlite at ${expected}`, () => {
      const { database } = load({ DIALPLANE_DATABASE_URL: value });
      assert.deepEqual(database, { url: expected, dialect: 'sqlite' });
    });
  }

  for (const url of ['postgres://u:p@db:5432/app', 'postgresql://db/app', 'postgres:///app?host=/run/postgresql']) {
    test(`${url} is postgres, kept unchanged`, () => {
      assert.deepEqual(load({ DIALPLANE_DATABASE_URL: url }).database, { url, dialect: 'postgres' });
    });
  }
});

describe('frozen result', () => {
  test('the config and every nested object are frozen', () => {
    const config = load();
    assert.ok(Object.isFrozen(config));
    for (const value of Object.values(config)) if (typeof value === 'object') assert.ok(Object.isFrozen(value));
  });

  test('assignment throws in strict mode', () => {
    const config = load();
    assert.throws(() => {
      (config.http as { port: number }).port = 1;
    }, TypeError);
    assert.throws(() => {
      (config as { dataDir: string }).dataDir = '/tmp';
    }, TypeError);
    assert.equal(config.http.port, 8080);
  });
});

describe('describeConfig', () => {
  test('lists every schema variable in schema order', () => {
    assert.deepEqual(
      describeConfig(load()).map((row) => row.variable),
      configSchema.map((entry) => entry.variable),
    );
  });

  test('masks a set admin token and shows an unset one as unset', () => {
    const withToken = rowsByVariable(load({ DIALPLANE_ADMIN_TOKEN: TOKEN }));
    assert.equal(withToken.get('DIALPLANE_ADMIN_TOKEN')?.value, '********');
    assert.equal(rowsByVariable(load()).get('DIALPLANE_ADMIN_TOKEN')?.value, '(unset)');
    const printed = JSON.stringify(describeConfig(load({ DIALPLANE_ADMIN_TOKEN: TOKEN })));
    assert.ok(!printed.includes(TOKEN));
  });

  test('masks the password inside a postgres URL', () => {
    const config = load({ DIALPLANE_DATABASE_URL: 'postgres://user:s3cret@host/db' });
    assert.equal(rowsByVariable(config).get('DIALPLANE_DATABASE_URL')?.value, 'postgres://user:********@host/db');
    assert.equal(config.database.url, 'postgres://user:s3cret@host/db');
  });

  test('masks a password query parameter and leaves a password-less URL alone', () => {
    const withQuery = load({ DIALPLANE_DATABASE_URL: 'postgresql://user@host/db?password=s3cret' });
    const masked = rowsByVariable(withQuery).get('DIALPLANE_DATABASE_URL')?.value;
    assert.equal(masked, 'postgresql://user@host/db?password=********');
    const plain = load({ DIALPLANE_DATABASE_URL: 'postgres://user@host:5432/db' });
    assert.equal(rowsByVariable(plain).get('DIALPLANE_DATABASE_URL')?.value, 'postgres://user@host:5432/db');
  });

  test('prints numbers and booleans as text', () => {
    const rows = rowsByVariable(load());
    assert.equal(rows.get('DIALPLANE_HTTP_PORT')?.value, '8080');
    assert.equal(rows.get('DIALPLANE_BOOTSTRAP')?.value, 'true');
  });

  test('omits the source for a config not built by loadConfig', () => {
    const handMade: Config = { ...load(), admin: { token: TOKEN } };
    const rows = describeConfig(handMade);
    assert.ok(rows.every((row) => row.source === undefined));
    assert.equal(rows.find((row) => row.variable === 'DIALPLANE_ADMIN_TOKEN')?.value, '********');
  });
});

describe('schema', () => {
  test('variables, paths and file keys are unique and prefixed', () => {
    const variables = configSchema.map((entry) => entry.variable);
    assert.equal(new Set(variables).size, variables.length);
    assert.equal(new Set(configSchema.map((entry) => entry.path)).size, configSchema.length);
    assert.equal(new Set(variables.map(fileKeyOf)).size, variables.length);
    for (const variable of variables) assert.match(variable, /^DIALPLANE_[A-Z0-9_]+$/);
    assert.ok(!variables.includes(CONFIG_FILE_VARIABLE));
  });

  test('every entry has a one-line description', () => {
    for (const entry of configSchema) assert.match(entry.description, /^[^\n]{10,}$/, entry.variable);
  });

  test('docs/configuration.md lists exactly the schema variables', () => {
    const doc = readFileSync(path.join(findRepoRoot(), 'docs', 'configuration.md'), 'utf8');
    const documented = new Set(doc.match(/DIALPLANE_[A-Z0-9_]+/g) ?? []);
    const expected = new Set([...configSchema.map((entry) => entry.variable), CONFIG_FILE_VARIABLE]);
    const missing = [...expected].filter((variable) => !documented.has(variable));
    const unknown = [...documented].filter((variable) => !expected.has(variable));
    assert.deepEqual(missing, [], 'variables missing from docs/configuration.md');
    assert.deepEqual(unknown, [], 'variables in docs/configuration.md that the schema lacks');
    for (const variable of expected) {
      assert.match(doc, new RegExp(`^\\| \`${variable}\` \\|`, 'm'), `${variable} has a table row`);
    }
  });
});

describe('DIALPLANE_ENV=production', () => {
  const PRODUCTION_READY = {
    DIALPLANE_ENV: 'production',
    DIALPLANE_TRUNK: 'sip:trunk.example.net;transport=tcp',
    DIALPLANE_SMSC: 'smpp://dialplane:secret@smsc.example.net:2775',
    DIALPLANE_TLS_CERT: '/etc/dialplane/cert.pem',
    DIALPLANE_TLS_KEY: '/etc/dialplane/key.pem',
  };

  test('a production configuration starts, with the bootstrap account and private webhooks off by default', () => {
    const config = load(PRODUCTION_READY);
    assert.equal(config.deployment.env, 'production');
    assert.equal(config.bootstrap.enabled, false);
    assert.equal(config.webhooks.allowPrivate, false);
    assert.equal(load({ ...PRODUCTION_READY, DIALPLANE_TLS_CERT: undefined, DIALPLANE_TLS_KEY: undefined, DIALPLANE_TRUST_PROXY: 'true' }).http.trustProxy, true);
  });

  test('the embedded defaults are refused, every setting named in one error', () => {
    const error = assertConfigError(
      () => load({ DIALPLANE_ENV: 'production' }),
      'DIALPLANE_TRUNK',
      'DIALPLANE_TRUNK: the dev carrier',
      'DIALPLANE_SMSC: the dev SMSC',
      'DIALPLANE_TLS_CERT: HTTPS is required',
    );
    assert.ok(!error.message.includes('DIALPLANE_BOOTSTRAP'), 'bootstrap is off by default in production');
  });

  const cases: [string, Record<string, string | undefined>, string][] = [
    ['DIALPLANE_TRUNK', { DIALPLANE_TRUNK: 'dev' }, 'dev carrier'],
    ['DIALPLANE_SMSC', { DIALPLANE_SMSC: 'dev' }, 'dev SMSC'],
    ['DIALPLANE_BOOTSTRAP', { DIALPLANE_BOOTSTRAP: 'true' }, 'prints its API key'],
    ['DIALPLANE_WEBHOOK_ALLOW_PRIVATE', { DIALPLANE_WEBHOOK_ALLOW_PRIVATE: 'true' }, 'private addresses'],
    ['DIALPLANE_TLS_CERT', { DIALPLANE_TLS_KEY: undefined }, 'DIALPLANE_TRUST_PROXY=true'],
  ];
  for (const [variable, change, fragment] of cases) {
    test(`${variable} is refused alone, by name`, () => {
      assertConfigError(() => load({ ...PRODUCTION_READY, ...change }), variable, fragment);
    });
  }

  test('development refuses none of it', () => {
    const config = load({ DIALPLANE_BOOTSTRAP: 'true', DIALPLANE_WEBHOOK_ALLOW_PRIVATE: 'true' });
    assert.equal(config.deployment.env, 'development');
    assert.equal(config.trunk.uri, 'dev');
  });
});
