import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import pg from 'pg';
import pino from 'pino';
import { loadConfig, type DatabaseDialect } from '../../src/config/config.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { describeEachDialect, POSTGRES_URL } from '../helpers/databases.js';
import { testEnv } from '../helpers/processes.js';
import { errorShapeViolation, faceOf, leaksInternals, type FaceName } from './route-fuzz/error-shapes.js';
import { BUSY_NUMBER, makeFixture, OUR_NUMBER, PORTED_NUMBER, PROGRAM, USER_EMAIL, USER_PASSWORD, type Fixture } from './route-fuzz/fixture.js';
import { sendRaw, type RawRequest, type RawResponse } from './route-fuzz/raw-http.js';
import {
  bodyPlanOf,
  DIALLINK_LIST_PARAMS,
  pathSegmentOf,
  queryPlanOf,
  type BodyPlan,
  type JsonSchema,
  type Pools,
  type QueryParam,
} from './route-fuzz/request-arbitraries.js';
import { changedTables, postgresFingerprint, sqliteFingerprint, type Fingerprint, type WriteFingerprint } from './route-fuzz/write-fingerprint.js';

/**
 * Every operation of the server's own OpenAPI document, on a real server (every face, telephony on the dev carrier),
 * sent requests generated from its schema and broken on purpose: wrong types, missing and extra fields, strings up to
 * and past the body limit, lone surrogates and NUL, malformed JSON, wrong content types, duplicate and odd query
 * parameters, bad path segments; with the face's credentials, without, and with wrong ones. No answer may be a 5xx or
 * carry a stack frame or a source path, every error is in its face's documented shape, and a refused request writes
 * nothing (a fingerprint of the tables requests write, taken before and after each one).
 * To look into a finding: DIALPLANE_ROUTE_FUZZ_SEED replays a run, _MS sets the time per database, _REPORT=<file>
 * writes every finding, _LOG=<file> the server's error lines, _TRACE=1 (or 2) prints each operation (or request).
 */
const ADMIN_TOKEN = 'route-fuzz-admin-token-0123456789abcdef';
const BODY_LIMIT = 65_536;
/** Fuzzing time per database, split evenly over the operations not yet run. */
const FUZZ_MS = Number(process.env.DIALPLANE_ROUTE_FUZZ_MS ?? 14_000);
const RUNS_PER_OPERATION = 60;
const REQUEST_TIMEOUT_MS = 8_000;
const SEED = Number(process.env.DIALPLANE_ROUTE_FUZZ_SEED ?? Date.now() % 2 ** 31);

interface Operation {
  readonly method: string;
  readonly template: string;
  readonly face: FaceName;
  readonly pathParams: readonly QueryParam[];
  readonly queryParams: readonly QueryParam[];
  readonly body: JsonSchema | undefined;
  readonly secured: boolean;
  /** Removes or revokes something: run after everything else. */
  readonly destructive: boolean;
}

interface OpenApiOperation {
  readonly parameters?: ReadonlyArray<{ in: string; name: string; schema?: JsonSchema }>;
  readonly requestBody?: { content: Record<string, { schema: JsonSchema }> };
  readonly security?: readonly unknown[];
}

function operationsOf(document: { paths: Record<string, Record<string, OpenApiOperation>> }): Operation[] {
  const operations: Operation[] = [];
  for (const [template, item] of Object.entries(document.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const parameters = op.parameters ?? [];
      const upper = method.toUpperCase();
      operations.push({
        method: upper,
        template,
        face: faceOf(template),
        pathParams: parameters.filter((p) => p.in === 'path').map((p) => ({ name: p.name, schema: p.schema ?? {} })),
        queryParams: parameters.filter((p) => p.in === 'query').map((p) => ({ name: p.name, schema: p.schema ?? {} })),
        body: op.requestBody ? Object.values(op.requestBody.content)[0]?.schema : undefined,
        secured: (op.security ?? []).length > 0,
        destructive: upper === 'DELETE' || template.endsWith('/revoke') || template.endsWith('/password'),
      });
    }
  }
  // Stable order, destructive last: nothing removed is needed by a later operation.
  return operations.sort((a, b) => Number(a.destructive) - Number(b.destructive));
}

/** Real ids for a path parameter; a destructive route only ever gets the throwaway ones. */
function pathPool(op: Operation, name: string, f: Fixture): readonly string[] {
  const spare = (ids: readonly string[]) => (op.destructive ? ids.slice(1) : ids);
  switch (name) {
    case 'accountId':
      return [f.accountId];
    case 'keyId':
      return op.destructive ? f.ids.throwawayKeys : [...f.ids.keys, ...f.ids.throwawayKeys];
    case 'appId':
      return [f.appId];
    case 'extensionId':
      // Extension 309 is WebFones' caller: only the spare one is changed or removed.
      return op.method === 'GET' ? f.ids.extensions : f.ids.extensions.slice(1);
    case 'deviceId':
      return f.ids.devices;
    case 'applicationId':
      return spare(f.ids.applications);
    case 'endpointId':
      return spare(f.ids.endpoints);
    case 'deliveryId':
      return f.ids.deliveries;
    case 'callId':
      return f.ids.calls;
    case 'messageId':
      return f.ids.messages;
    case 'sessionUuid':
      return f.ids.sessions;
    case 'number':
      return [OUR_NUMBER, PORTED_NUMBER, '4155551234', '+14155550000'];
    case 'user':
      return f.ids.users;
    case 'id':
      if (op.template.includes('/contacts/')) return f.ids.contacts;
      if (op.template.includes('/api-keys/')) return f.ids.keys;
      if (op.template.includes('/calls/')) return f.ids.calls;
      if (op.template.includes('/applications/')) return spare(f.ids.applications);
      return [];
    default:
      return [];
  }
}

/** Body field values that mean something to the server, by field name. */
function bodyPools(f: Fixture): Pools {
  const phones = [OUR_NUMBER, PORTED_NUMBER, BUSY_NUMBER, '4155550486', '(415) 555-0486', '0527120486', '0721234567', '+14155550603', '+442071234567'];
  const urls = ['https://127.0.0.1:9/hook', 'http://127.0.0.1:9/x?a=1', 'ftp://127.0.0.1/', 'http://user:pw@127.0.0.1/', 'javascript:alert(1)', 'http://[::1]:9/'];
  return {
    from: phones,
    to: phones,
    number: phones,
    user_number: phones,
    target_number: phones,
    forward_to: phones,
    mobile: phones,
    phonenumber: ['15808675309', BUSY_NUMBER, '4155550486', 'abc'],
    Number: ['4252330486', BUSY_NUMBER, '020 7123 4567'],
    CountryCode: ['US', 'IL', 'GB', 'ZZ'],
    extension: ['309', '310', '999', ''],
    url: urls,
    webhook_url: urls,
    call_hook: urls,
    status_hook: urls,
    call_webhook_url: urls,
    sms_webhook_url: urls,
    email: [USER_EMAIL, 'new-user@example.com', 'not-an-email'],
    password: [USER_PASSWORD, 'wrong password'],
    refreshToken: [f.refreshToken, 'dlrt_not_a_token'],
    application_id: f.ids.applications,
    extension_id: f.ids.extensions,
    program: [PROGRAM, [{ verb: 'hangup' }], [{ verb: 'pause', length: 0.2 }, { verb: 'hangup' }]],
    amount: [1, '10.50', '0.001', 0.5],
    username: ['fuzz-device-2', 'ab', 'UPPER'],
    caller_id_allow_list: [['0721234567'], []],
  };
}

/** Bodies as the documents show them, beside the generated ones: a face whose fields are all optional gets a full one. */
const EXAMPLES: Readonly<Record<string, readonly unknown[]>> = {
  'POST /dialer/call': [{ extension: '309', phonenumber: '14155550486' }],
  'POST /dailer/call': [{ extension: '309', phonenumber: '4155550486' }],
  'POST /voice2phone/call': [{ Phone: { Number: '4155550486', CountryCode: 'US' }, Message: 'Please press one', Dtmf: { '1': 'Thank you' } }],
  'POST /api/v1/dial': [{ from: '0721234567', to: '0527120486' }],
};

/** Long waits a schema allows (the dev carrier's call-in holds the request for hold_s) are shortened. */
function fuzzedSchema(op: Operation): JsonSchema | undefined {
  if (op.template === '/admin/v1/dev/call-in' && op.body?.properties) {
    return { ...op.body, properties: { ...op.body.properties, hold_s: { type: 'number', minimum: 0, maximum: 0.2 } } };
  }
  return op.body;
}

type AuthKind = 'valid' | 'read-only' | 'none' | 'garbage' | 'foreign';

const GARBAGE_AUTH: ReadonlyArray<Record<string, string>> = [
  { authorization: 'Bearer ' },
  { authorization: 'Bearer dk_live_0000000000000000000000000000000000000000' },
  { authorization: 'Basic !!!' },
  { authorization: `Basic ${Buffer.from(':').toString('base64')}` },
  { authorization: 'Digest username="x"' },
  { authorization: `Bearer ${'x'.repeat(4_000)}` },
  { 'x-api-key': 'dk_live_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' },
  { 'x-api-key': ' ' },
  { 'x-app-id': 'app_missing', 'x-api-key': 'dk_live_x' },
  { authorization: 'dk_live_' },
];

function credentials(face: FaceName, kind: AuthKind, variant: number, f: Fixture, template: string): Record<string, string> {
  const v2p: Record<string, string> = face === 'voice2phone' ? { 'x-forwarded-proto': 'https' } : {};
  if (kind === 'none') return v2p;
  if (kind === 'garbage') return { ...v2p, ...GARBAGE_AUTH[variant % GARBAGE_AUTH.length]! };
  if (kind === 'foreign') return { ...v2p, authorization: `Bearer ${face === 'admin' ? f.key : ADMIN_TOKEN}` };
  const key = kind === 'read-only' ? f.readOnlyKey : f.key;
  const either = (a: Record<string, string>, b: Record<string, string>) => (variant % 2 === 0 ? a : b);
  switch (face) {
    case 'admin':
      return { authorization: `Bearer ${ADMIN_TOKEN}` };
    case 'dialplane':
      return either({ authorization: `Bearer ${key}` }, { 'x-api-key': key });
    case 'dialanyone':
      return { authorization: `Bearer ${key}` };
    case 'dial':
      return { 'x-app-id': f.appId, 'x-api-key': f.appKey };
    case 'webfones':
      return either({ 'x-api-key': key }, { authorization: `Bearer ${key}` });
    case 'voice2phone':
      return { ...v2p, ...either({ authorization: `Basic ${Buffer.from(`${key}:`).toString('base64')}` }, { authorization: key }) };
    case 'diallink':
      return template === '/v1/auth/tokens' ? {} : either({ 'x-api-key': key }, { authorization: `Bearer ${f.accessToken}` });
  }
}

interface Plan {
  readonly auth: AuthKind;
  readonly variant: number;
  readonly wrongMethod: string | undefined;
  readonly segments: readonly string[];
  readonly query: { query: string; label: string };
  readonly body: BodyPlan;
}

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];

function planOf(op: Operation, f: Fixture, pools: Pools): fc.Arbitrary<Plan> {
  const auth = op.secured
    ? fc.oneof(
        { arbitrary: fc.constant<AuthKind>('valid'), weight: 12 },
        { arbitrary: fc.constant<AuthKind>('read-only'), weight: 1 },
        { arbitrary: fc.constant<AuthKind>('none'), weight: 2 },
        { arbitrary: fc.constant<AuthKind>('garbage'), weight: 2 },
        { arbitrary: fc.constant<AuthKind>('foreign'), weight: 1 },
      )
    : fc.constant<AuthKind>('valid');
  const listParams = op.face === 'diallink' && op.method === 'GET' ? DIALLINK_LIST_PARAMS : [];
  return fc.record({
    auth,
    variant: fc.nat(),
    wrongMethod: fc.oneof(
      { arbitrary: fc.constant(undefined), weight: 19 },
      { arbitrary: fc.constantFrom(...METHODS.filter((m) => m !== op.method)), weight: 1 },
    ),
    segments: fc.tuple(...op.pathParams.map((p) => pathSegmentOf(p.schema, pathPool(op, p.name, f)))),
    query: queryPlanOf([...op.queryParams, ...listParams], pools),
    body: bodyPlanOf(fuzzedSchema(op), pools, BODY_LIMIT, EXAMPLES[`${op.method} ${op.template}`]),
  });
}

function pathOf(op: Operation, segments: readonly string[]): string {
  let index = 0;
  return op.template.replace(/\{[^}]+\}/g, () => segments[index++] ?? 'x');
}

interface Figures {
  requests: number;
  withoutCredentials: number;
  status2xx: number;
  status4xx: number;
  status5xx: number;
  stackTraces: number;
  shapeViolations: number;
  writesByRefusals: number;
  transportErrors: number;
  streams: number;
  labels: Map<string, number>;
  successByFace: Map<FaceName, number>;
  failures: string[];
}

function newFigures(): Figures {
  return {
    requests: 0,
    withoutCredentials: 0,
    status2xx: 0,
    status4xx: 0,
    status5xx: 0,
    stackTraces: 0,
    shapeViolations: 0,
    writesByRefusals: 0,
    transportErrors: 0,
    streams: 0,
    labels: new Map(),
    successByFace: new Map(),
    failures: [],
  };
}

function describeRequest(raw: RawRequest): string {
  const body = raw.body === undefined ? '' : ` body(${raw.body.length} B)=${JSON.stringify(raw.body.subarray(0, 160).toString('utf8'))}`;
  return `${raw.method} ${raw.path.slice(0, 160)} ${JSON.stringify(Object.keys(raw.headers))}${body}`;
}

async function runDialect(dialect: DatabaseDialect, t: import('node:test').TestContext, server: RunningServer, f: Fixture, fingerprint: WriteFingerprint) {
  const url = new URL(server.url);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const target = { host: url.hostname, port: Number(url.port), agent };
  const document = (await (await fetch(`${server.url}/openapi.json`)).json()) as Parameters<typeof operationsOf>[0];
  const operations = operationsOf(document);
  const pools = bodyPools(f);
  const figures = newFigures();
  const covered = new Set<string>();
  const coveredWithout = new Set<string>();
  let current: Fingerprint = await fingerprint.take();
  let last = 'setup';

  // fast-check stops awaiting a run when its time is up; that run's request still finishes before the next is sent,
  // so each write is seen after the request that made it.
  let inFlight: Promise<void> = Promise.resolve();
  function exchange(op: Operation, raw: RawRequest, auth: AuthKind, label: string): Promise<void> {
    inFlight = inFlight.then(() => exchangeNow(op, raw, auth, label));
    return inFlight;
  }
  const statusesByFace = new Map<FaceName, Map<number, number>>();

  async function exchangeNow(op: Operation, raw: RawRequest, auth: AuthKind, label: string): Promise<void> {
    const key = `${op.method} ${op.template}`;
    figures.requests += 1;
    covered.add(key);
    if (auth === 'none') {
      figures.withoutCredentials += 1;
      coveredWithout.add(key);
    }
    figures.labels.set(label, (figures.labels.get(label) ?? 0) + 1);
    const before = current;
    const previous = last;
    last = `${key}: ${describeRequest(raw)}`;
    if (process.env.DIALPLANE_ROUTE_FUZZ_TRACE === '2') process.stderr.write(`> ${last.slice(0, 400)}\n`);
    let response: RawResponse;
    try {
      response = await sendRaw(target, raw, REQUEST_TIMEOUT_MS);
    } catch (error) {
      figures.transportErrors += 1;
      figures.failures.push(`${key}: no answer (${(error as Error).message}) to ${describeRequest(raw)}`);
      current = await fingerprint.take();
      return;
    }
    current = await fingerprint.take();
    const where = `${key} [${label}, ${auth}] -> ${response.status}`;
    if (response.streamed) figures.streams += 1;
    const statuses = statusesByFace.get(op.face) ?? new Map<number, number>();
    statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
    statusesByFace.set(op.face, statuses);
    if (response.status >= 200 && response.status < 300) {
      figures.status2xx += 1;
      if (auth === 'valid') figures.successByFace.set(op.face, (figures.successByFace.get(op.face) ?? 0) + 1);
    }
    if (response.status >= 400 && response.status < 500) figures.status4xx += 1;
    if (response.status >= 500) {
      figures.status5xx += 1;
      figures.failures.push(`${where}: a 5xx ${response.body.slice(0, 300)} to ${describeRequest(raw)}`);
    }
    const leak = leaksInternals(response.body);
    if (leak) {
      figures.stackTraces += 1;
      figures.failures.push(`${where}: ${leak} in ${response.body.slice(0, 300)}`);
    }
    if (response.status >= 400) {
      const face = faceOf(raw.path.split('?')[0]!);
      const violation = errorShapeViolation(face, response.status, String(response.headers['content-type'] ?? ''), response.body);
      if (violation) {
        figures.shapeViolations += 1;
        figures.failures.push(`${where}: not ${face}'s error shape (${violation}): ${response.body.slice(0, 300)} to ${describeRequest(raw)}`);
      }
      const changed = changedTables(before, current);
      if (changed.length > 0) {
        figures.writesByRefusals += 1;
        figures.failures.push(`${where}: refused, yet ${changed.join(', ')} changed: ${response.body.slice(0, 200)} to ${describeRequest(raw)} (after ${previous.slice(0, 300)})`);
      }
    }
  }

  const deadline = Date.now() + FUZZ_MS;
  try {
    await fuzzAll();
  } finally {
    await inFlight.catch(() => undefined);
    agent.destroy();
  }

  async function fuzzAll(): Promise<void> {
    for (const [index, op] of operations.entries()) {
      // Once without any credentials, whatever the fuzz draws below.
      const plain = pathOf(op, op.pathParams.map((p) => encodeURIComponent(pathPool(op, p.name, f)[0] ?? 'x')));
      await exchange(
        op,
        {
          method: op.method,
          path: plain,
          headers: { ...credentials(op.face, 'none', 0, f, op.template), ...(op.body ? { 'content-type': 'application/json' } : {}) },
          ...(op.body ? { body: Buffer.from('{}') } : {}),
        },
        'none',
        'plain',
      );
      const slice = Math.max(200, (deadline - Date.now()) / (operations.length - index));
      if (process.env.DIALPLANE_ROUTE_FUZZ_TRACE) process.stderr.write(`${dialect} ${op.method} ${op.template} ${figures.requests}\n`);
      // check, not assert: the property never fails (findings are collected), and a run cut by the time limit before
      // any completed is reported as a failure by assert.
      await fc.check(
        fc.asyncProperty(planOf(op, f, pools), async (plan) => {
          const headers: Record<string, string> = { ...credentials(op.face, plan.auth, plan.variant, f, op.template) };
          if (plan.body.contentType !== undefined && plan.body.payload !== undefined) headers['content-type'] = plan.body.contentType;
          const raw: RawRequest = {
            method: plan.wrongMethod ?? op.method,
            path: pathOf(op, plan.segments) + plan.query.query,
            headers,
            ...(plan.body.payload !== undefined ? { body: plan.body.payload } : {}),
          };
          const label = plan.wrongMethod ? 'wrong method' : plan.query.label !== 'none' && plan.query.label !== 'documented' ? plan.query.label : plan.body.label;
          await exchange(op, raw, plan.auth, label);
          return true;
        }),
        { numRuns: RUNS_PER_OPERATION, interruptAfterTimeLimit: slice, seed: SEED + index },
      );
    }
  }

  const all = operations.map((op) => `${op.method} ${op.template}`);
  const secured = operations.filter((op) => op.secured).map((op) => `${op.method} ${op.template}`);
  t.diagnostic(`[${dialect}] seed ${SEED}: ${covered.size}/${all.length} operations covered (${secured.length} secured, ${coveredWithout.size} sent without credentials)`);
  t.diagnostic(
    `[${dialect}] requests ${figures.requests} (${figures.withoutCredentials} without credentials), 2xx ${figures.status2xx}, 4xx ${figures.status4xx}, ` +
      `5xx ${figures.status5xx}, stack traces ${figures.stackTraces}, shape violations ${figures.shapeViolations}, ` +
      `writes by refusals ${figures.writesByRefusals}, no answer ${figures.transportErrors}, streams cut ${figures.streams}`,
  );
  t.diagnostic(`[${dialect}] 2xx with valid credentials by face: ${JSON.stringify(Object.fromEntries(figures.successByFace))}`);
  const byFace = [...statusesByFace].map(([face, statuses]) => `${face} ${JSON.stringify(Object.fromEntries(statuses))}`);
  t.diagnostic(`[${dialect}] statuses by face: ${byFace.join('; ')}`);
  t.diagnostic(`[${dialect}] requests by kind: ${JSON.stringify(Object.fromEntries(figures.labels))}`);
  for (const failure of figures.failures.slice(0, 40)) t.diagnostic(`[${dialect}] ${failure}`);
  if (process.env.DIALPLANE_ROUTE_FUZZ_REPORT) writeFileSync(`${process.env.DIALPLANE_ROUTE_FUZZ_REPORT}.${dialect}`, figures.failures.join('\n'));

  assert.deepEqual(all.filter((key) => !covered.has(key)), [], 'every operation of the document is sent requests');
  assert.deepEqual(secured.filter((key) => !coveredWithout.has(key)), [], 'every secured operation is sent requests without credentials');
  for (const face of ['admin', 'dialplane', 'dialanyone', 'dial', 'webfones', 'voice2phone', 'diallink'] as const) {
    assert.ok((figures.successByFace.get(face) ?? 0) > 0, `${face}: some request with valid credentials succeeds (else the fuzz only sees refusals)`);
  }
  assert.deepEqual(figures.failures, [], 'no 5xx, no stack trace, every error in its shape, no write by a refusal, every request answered');
}

await describeEachDialect('every route fuzzed', (dialect) => {
  let server: RunningServer;
  let fixture: Fixture;
  let fingerprint: WriteFingerprint;
  let dataDir: string;
  let schema: string | undefined;

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'dialplane-route-fuzz-'));
    let databaseUrl = join(dataDir, 'dialplane.sqlite');
    if (dialect === 'postgres') {
      schema = `route_fuzz_${process.pid}_${Date.now().toString(36)}`;
      const admin = new pg.Client({ connectionString: POSTGRES_URL });
      await admin.connect();
      await admin.query(`create schema ${schema}`);
      await admin.end();
      databaseUrl = `${POSTGRES_URL}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
    }
    const config = loadConfig(
      testEnv({
        DIALPLANE_DATA_DIR: dataDir,
        DIALPLANE_DATABASE_URL: databaseUrl,
        DIALPLANE_HTTP_HOST: '127.0.0.1',
        DIALPLANE_HTTP_PORT: '0',
        DIALPLANE_HTTP_BODY_LIMIT: String(BODY_LIMIT),
        // Voice2Phone takes HTTPS only: the fuzz says so through a trusted proxy's X-Forwarded-Proto.
        DIALPLANE_TRUST_PROXY: 'true',
        DIALPLANE_ADMIN_TOKEN: ADMIN_TOKEN,
        DIALPLANE_BOOTSTRAP: 'false',
        DIALPLANE_RTP_PORTS: '59600-59799',
      }),
    );
    // DIALPLANE_ROUTE_FUZZ_LOG=<file>: the server's error lines (the cause of a 500) go there.
    const logFile = process.env.DIALPLANE_ROUTE_FUZZ_LOG;
    server = await startServer(config, logFile ? pino({ level: 'error' }, pino.destination(`${logFile}.${dialect}`)) : pino({ level: 'silent' }));
    fixture = await makeFixture(server.url, ADMIN_TOKEN);
    fingerprint = dialect === 'sqlite' ? sqliteFingerprint(config.database.url) : await postgresFingerprint(POSTGRES_URL, schema!);
  });

  after(async () => {
    await fingerprint?.close();
    await server?.close();
    rmSync(dataDir, { recursive: true, force: true });
    if (schema) {
      const admin = new pg.Client({ connectionString: POSTGRES_URL });
      await admin.connect();
      await admin.query(`drop schema ${schema} cascade`);
      await admin.end();
    }
  });

  test('every operation of the OpenAPI document, with and without credentials: no 5xx, no stack trace, its face\'s error shape, no write by a refusal', async (t) => {
    await runDialect(dialect, t, server, fixture, fingerprint);
  });
});
