import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import type { DatabaseDialect } from '../../src/config/config.js';
import { baresipAccountLine, requireBaresip, startBaresip } from '../helpers/baresip.js';
import { describeEachDialect, POSTGRES_URL } from '../helpers/databases.js';
import { freePort, killHard, sleep, spawnServe, testEnv, waitReady, waitUntil, within, type ServerProcess } from '../helpers/processes.js';
import { describeSippResult, requireSipp, startSipp } from '../helpers/sipp.js';
import { startReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';
import { dataDirSources, postgresSources, Recorder, requestSources, type Reply, type RequestOptions } from './secrets-scan/recorder.js';
import { lineAt, pressedKeysInLog, SecretBook, type Source } from './secrets-scan/scanner.js';

/**
 * Every kind of secret planted in one real `dialplane serve` (dev carrier, log level trace; on SQLite, then on
 * PostgreSQL) through its public interfaces — the admin token, API keys used on every face and auth scheme (and in a
 * query string), a gateway app's key and webhook secret, webhook endpoint and subscription secrets with deliveries
 * made to a local receiver, an application's hook secret, a DialLink user's password and tokens, a dashboard
 * session, the trunk, SMSC and Redis passwords, a SIP device's password (baresip registers with it and calls in with
 * SDES SRTP) and the keys pressed into calls — then every log line, every HTTP answer the test received, every request
 * the server sent and the data directory (every file while running and after a clean stop; on PostgreSQL every row
 * too) searched for each of them, in the clear and encoded (hex, base64 at any alignment, URL, form, JSON).
 *
 * A last server registers with a SIPp registrar whose digest challenge its trunk password answers (verified by SIPp).
 *
 * A secret may be only where it is documented to be: the answer that creates it (shown once), the bootstrap banner
 * and bootstrap.json, secrets.key (the key itself), DialAnyone's subscription listing (whole secrets for the key's
 * holder, docs/dialanyone.md), and for pressed keys the action hook, the account's own call views (Dialplane's API and
 * the dashboard's call page) and the database (docs/dialplane-api.md: stored with the call's activities, never logged). Anywhere else it is a leak.
 */

const hex = (bytes: number) => randomBytes(bytes).toString('hex');
const NUMBER = '+14155551234';
/** The dev carrier's callee for this number answers and presses 9, 5, 3 (README, "The dev carrier"). */
const KEY_PRESSER = '+14155557953';
const PIN = '4071835291';
/**
 * SIP, RTP and the dev carrier on their own loopback address: a device calling from 127.0.0.1 is then not taken for
 * the dev carrier (a trunk's address) and must answer the digest challenge as the registered device.
 */
const SIP_HOST = '127.0.0.3';

test('the scan finds a secret at any offset in each encoding it searches', () => {
  const book = new SecretBook();
  const secret = book.plant('probe', `probe/${hex(9)}+ x`);
  const wrapped = (text: string) => Buffer.from(`{"noise":"${hex(3)}","value":"${text}","more":1}`);
  const sources: Source[] = [];
  for (const pad of ['', 'a', 'ab']) {
    const bytes = Buffer.from(`${pad}${secret}${pad}`);
    for (const [name, text] of [
      ['raw', secret],
      ['hex', bytes.toString('hex')],
      ['base64', bytes.toString('base64')],
      ['base64url', bytes.toString('base64url')],
      ['url', encodeURIComponent(secret)],
      ['form', new URLSearchParams({ v: secret }).toString()],
    ] as const) {
      sources.push({ kind: 'log', label: `${name} after ${pad.length}`, bytes: wrapped(text) });
    }
  }
  const { findings } = book.scan(sources);
  const found = new Set(findings.map((f) => f.source));
  assert.deepEqual(sources.filter((s) => !found.has(`log ${s.label}`)).map((s) => s.label), [], 'every encoding at every offset is found');
  assert.deepEqual(book.scan([{ kind: 'log', label: 'clean', bytes: Buffer.from(`${secret.slice(0, -1)}…`) }]).findings, [], 'a masked one is not');
});

await describeEachDialect('secrets scan (a real server)', (dialect: DatabaseDialect) => {
  const book = new SecretBook();
  const canary = `canary${hex(8)}`;
  const adminToken = book.plant('admin token', `admin-${hex(20)}`);
  const trunkPassword = book.plant('trunk password', `trunk-${hex(12)}`);
  const smscPassword = book.plant('SMSC password', `sm${hex(4)}`);
  const redisPassword = dialect === 'sqlite' ? book.plant('Redis password', `redis-${hex(8)}`) : '';
  // Spaces and URL-significant characters: the form and URL encodings differ from the text.
  const userPassword = book.plant('user password', `correct horse ${hex(6)} staple/+&=%`);
  const stored: Source[] = [];
  let server: ServerProcess;
  let recorder: Recorder;
  let receiver: WebhookReceiver;
  let dataDir = '';
  let schema: string | undefined;
  let accountId = '';
  let key = '';
  let srtpKeys = 0;
  let dashboardCookie = '';

  const http = (method: string, path: string, options?: RequestOptions) => recorder.http(method, path, options);
  const admin = () => ({ authorization: `Bearer ${adminToken}` });
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  const only = (reply: Reply) => (source: Source) => source === reply.source;
  const received = (path: string) => receiver.requests.filter((r) => r.path.split('?')[0] === path);
  const hookUrl = (path: string) => `http://127.0.0.1:${receiver.port}${path}`;
  async function ok(reply: Promise<Reply>, what: string): Promise<Reply> {
    const r = await reply;
    assert.ok(r.status >= 200 && r.status < 300, `${what}: ${r.status} ${r.text.slice(0, 300)}`);
    return r;
  }
  async function snapshot(when: string): Promise<void> {
    stored.push(...dataDirSources(dataDir, when));
    if (schema) stored.push(...(await postgresSources(POSTGRES_URL, schema, when)));
  }

  before(async () => {
    receiver = await startReceiver((_index, request) => {
      const json = (body: unknown) => ({ status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      if (request.path === '/call') {
        return json([{ verb: 'gather', numDigits: PIN.length, finishOnKey: '', timeout: 15, interDigitTimeout: 5, actionHook: hookUrl('/action') }, { verb: 'hangup' }]);
      }
      if (request.path === '/action' || request.path === '/dev-action') return json([{ verb: 'hangup' }]);
      return { status: 200 };
    });
    dataDir = await mkdtemp(join(tmpdir(), 'dialplane-secrets-scan-'));
    let databaseUrl = join(dataDir, 'dialplane.sqlite');
    if (dialect === 'postgres') {
      schema = `secrets_scan_${process.pid}_${Date.now().toString(36)}`;
      const client = new pg.Client({ connectionString: POSTGRES_URL });
      await client.connect();
      await client.query(`create schema ${schema}`);
      await client.end();
      databaseUrl = `${POSTGRES_URL}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
    }
    const port = await freePort();
    recorder = new Recorder(`http://127.0.0.1:${port}`);
    server = spawnServe(
      testEnv({
        DIALPLANE_DATA_DIR: dataDir,
        DIALPLANE_DATABASE_URL: databaseUrl,
        DIALPLANE_HTTP_HOST: '127.0.0.1',
        DIALPLANE_HTTP_PORT: String(port),
        DIALPLANE_LOG_LEVEL: 'trace',
        DIALPLANE_ADMIN_TOKEN: adminToken,
        DIALPLANE_TRUNK: 'dev',
        DIALPLANE_TRUNK_USERNAME: 'scan-trunk-user',
        DIALPLANE_TRUNK_PASSWORD: trunkPassword,
        DIALPLANE_SIP_HOST: SIP_HOST,
        // Nothing listens there: the link retries and logs its failures, which must not carry the password.
        DIALPLANE_SMSC: `smpp://scanuser:${smscPassword}@127.0.0.1:9`,
        // A user the local Redis does not have: refused (WRONGPASS, or nothing listening), logged, never with it. Once
        // is enough: the start waits for Redis (2 s) before going on without it.
        ...(dialect === 'sqlite' ? { DIALPLANE_REDIS_URL: `redis://scan:${redisPassword}@127.0.0.1:6379/0` } : {}),
        DIALPLANE_TRUNK_KEEPALIVE_S: '0',
        DIALPLANE_RTP_PORTS: dialect === 'sqlite' ? '47600-47799' : '47800-47999',
        // Voice2Phone takes HTTPS only: the test says so through a trusted proxy's X-Forwarded-Proto.
        DIALPLANE_TRUST_PROXY: 'true',
      }),
    );
    // Generous: the start waits up to 2 s for Redis, and the machine may be busy.
    await waitReady(`http://127.0.0.1:${port}`, server, 30_000);
  });

  after(async () => {
    if (server) await killHard(server);
    await receiver?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    if (schema) {
      const client = new pg.Client({ connectionString: POSTGRES_URL });
      await client.connect();
      await client.query(`drop schema ${schema} cascade`);
      await client.end();
    }
  });

  test('the bootstrap key, the secrets key, the admin token', async () => {
    await waitUntil('the bootstrap banner', () => /API key:\s+dk_live_\S+/.test(server.stdout()), 5_000, server);
    const bootstrapKey = /API key:\s+(dk_live_\S+)/.exec(server.stdout())![1]!;
    book.plant('bootstrap API key', bootstrapKey, {
      exception: 'the first start prints it once and writes bootstrap.json (README, configuration.md)',
      allowed: (source, at) =>
        (source.kind === 'log' && source.label === 'stdout' && /^\s*(API key:|curl -H "Authorization: Bearer)/.test(lineAt(source.bytes, at))) ||
        (source.kind === 'file' && source.label.startsWith('bootstrap.json ')),
    });
    const secretsKey = readFileSync(join(dataDir, 'secrets.key'), 'utf8').trim();
    book.plant('secrets key', secretsKey, {
      exception: 'secrets.key is the key itself (configuration.md, "Secrets at rest")',
      allowed: (source) => source.kind === 'file' && source.label.startsWith('secrets.key '),
      extra: { 'key bytes (hex)': Buffer.from(secretsKey, 'base64').toString('hex') },
    });
    await ok(http('GET', '/api/v1/me', { headers: bearer(bootstrapKey) }), 'the bootstrap key');
    accountId = (await ok(http('GET', '/admin/v1/accounts', { headers: admin() }), 'accounts')).json().accounts[0].id;
    assert.match(accountId, /^acct_/);
    // A canary (no secret) where each kind of source surely shows it: a logged URL, an answer, a request the server
    // sends, the stored data. The scan must find it in each, or it could not find a leak there either.
    await http('GET', `/healthz?canary=${canary}`);
  });

  test('API keys on every face and auth scheme, and in a query string', async () => {
    const created = await ok(http('POST', `/admin/v1/accounts/${accountId}/keys`, { headers: admin(), body: { name: 'scan' } }), 'a key');
    key = book.plant('API key', created.json().api_key, { allowed: only(created), extra: { 'Basic credentials': Buffer.from(`${created.json().api_key}:`).toString('base64') } });
    await ok(http('GET', '/api/v1/me', { headers: bearer(key) }), 'DialAnyone, Bearer');
    await ok(http('GET', '/dialplane/v1/calls', { headers: bearer(key) }), 'Dialplane, Bearer');
    await ok(http('GET', '/dialplane/v1/applications', { headers: { 'x-api-key': key } }), 'Dialplane, X-API-Key');
    await ok(http('GET', '/v1/phone-system/contacts', { headers: { 'x-api-key': key } }), 'DialLink, X-API-Key');
    const webfones = await http('POST', '/dialer/call', { headers: { 'x-api-key': key }, body: { extension: '999', phonenumber: '4155550100' } });
    assert.equal(webfones.status, 400, `WebFones, X-API-Key: let in, then the unknown extension: ${webfones.text}`);
    const voice2phone = await http('GET', '/voice2phone/call/00000000-0000-0000-0000-000000000000', {
      headers: { 'x-forwarded-proto': 'https', authorization: `Basic ${Buffer.from(`${key}:`).toString('base64')}` },
    });
    assert.equal(voice2phone.status, 404, `Voice2Phone, Basic: let in, then not found: ${voice2phone.text}`);
    for (const name of ['api_key', 'token', 'key', 'x-api-key', 'authorization', 'q']) {
      const reply = await http('GET', `/api/v1/me?${name}=${encodeURIComponent(key)}`);
      assert.equal(reply.status, 401, 'a key in a query string is not taken');
    }
    assert.equal((await http('GET', `/api/v1/calls/${key}`)).status, 401, 'nor one in a path');
    const readOnly = await ok(http('POST', `/admin/v1/accounts/${accountId}/keys`, { headers: admin(), body: { name: 'ro', permission: 'read_only' } }), 'a read-only key');
    await ok(http('GET', '/api/v1/me', { headers: bearer(book.plant('read-only API key', readOnly.json().api_key, { allowed: only(readOnly) })) }), 'the read-only key');
    await ok(http('GET', `/admin/v1/accounts/${accountId}/keys`, { headers: admin() }), 'the key listing');
  });

  test('a gateway app: its key and webhook secret, a session whose events are signed and delivered', async () => {
    const gatewaySecret = `gw_${hex(16)}`;
    const app = await ok(
      http('POST', `/admin/v1/accounts/${accountId}/apps`, {
        headers: admin(),
        body: { name: 'scan gateway', caller_id_allow_list: ['0721234567'], country: 'IL', webhook_url: hookUrl('/gateway'), webhook_secret: gatewaySecret },
      }),
      'a gateway app',
    );
    book.plant('gateway app webhook secret', gatewaySecret, { allowed: only(app) });
    const credentials = { 'x-app-id': app.json().app_id, 'x-api-key': book.plant('gateway app API key', app.json().api_key, { allowed: only(app) }) };
    const session = await ok(http('POST', '/api/v1/dial', { headers: credentials, body: { to: '0527121102', from: '0721234567' } }), 'a Dial session');
    await ok(http('GET', `/api/v1/dial/${session.json().session_uuid}`, { headers: credentials }), 'the session');
    await ok(http('GET', `/admin/v1/accounts/${accountId}/apps`, { headers: admin() }), 'the app listing');
    await ok(http('PATCH', `/admin/v1/accounts/${accountId}/apps/${app.json().app_id}`, { headers: admin(), body: { caller_id_allow_list: ['0721234567'], country: 'IL' } }), 'an app update');
    await waitUntil('a signed gateway event', () => received('/gateway').length > 0, 15_000, server);
  });

  test('webhook secrets: an endpoint and a DialAnyone subscription, each delivered to a local receiver', async () => {
    const endpointSecret = `whsec_${hex(16)}`;
    const endpoint = await ok(
      http('POST', `/admin/v1/accounts/${accountId}/webhooks/endpoints`, { headers: admin(), body: { url: hookUrl(`/endpoint?canary=${canary}`), secret: endpointSecret } }),
      'an endpoint',
    );
    book.plant('webhook endpoint secret', endpointSecret, { allowed: only(endpoint) });
    const rotatedSecret = `whsec_${hex(16)}`;
    const endpointPath = `/admin/v1/accounts/${accountId}/webhooks/endpoints/${endpoint.json().endpoint.id}`;
    const rotated = await ok(http('POST', `${endpointPath}/rotate-secret`, { headers: admin(), body: { secret: rotatedSecret } }), 'a rotation');
    book.plant('rotated webhook endpoint secret', rotatedSecret, { allowed: only(rotated) });
    await ok(http('GET', `/admin/v1/accounts/${accountId}/webhooks/endpoints`, { headers: admin() }), 'the endpoint listing while rotating');
    await ok(http('POST', `${endpointPath}/rotate-secret`, { headers: admin(), body: { finish: true } }), 'the rotation finished');
    await ok(http('GET', `/admin/v1/accounts/${accountId}/webhooks/endpoints`, { headers: admin() }), 'the endpoint listing');
    await ok(http('POST', `/admin/v1/accounts/${accountId}/webhooks/test`, { headers: admin(), body: { url: hookUrl('/endpoint-test'), secret: endpointSecret } }), 'a test delivery');

    const keys = (await http('GET', `/admin/v1/accounts/${accountId}/keys`, { headers: admin() })).json().keys as Array<{ id: string; last4: string }>;
    const keyWebhooks = `/admin/v1/accounts/${accountId}/keys/${keys.find((k) => key.endsWith(k.last4))!.id}/webhooks`;
    const keySecret = `keyhook_${hex(16)}`;
    await ok(http('PUT', keyWebhooks, { headers: admin(), body: { call_webhook_url: hookUrl('/key-call'), call_webhook_secret: keySecret } }), "the key's call webhook");
    await ok(http('GET', keyWebhooks, { headers: admin() }), "the key's webhooks");
    const subscriptionSecret = `sub_${hex(16)}`;
    const subscribed = await ok(
      http('POST', '/api/v1/webhooks/subscribe', { headers: bearer(key), body: { webhook_url: hookUrl('/subscription'), event_types: ['incoming_call'], webhook_secret: subscriptionSecret } }),
      'a subscription',
    );
    const listing = await ok(http('GET', '/api/v1/webhooks/subscriptions', { headers: bearer(key) }), 'the subscriptions');
    book.plant('DialAnyone subscription secret', subscriptionSecret, {
      exception: "the key's holder reads whole secrets in its subscription listing (docs/dialanyone.md)",
      allowed: (source) => source === subscribed.source || source === listing.source,
    });
    book.plant("API key's call webhook secret", keySecret, {
      exception: 'whole in the same listing, masked in the admin API (docs/dialanyone.md)',
      allowed: (source) => source === listing.source,
    });
    await waitUntil('the subscription test delivery', () => received('/subscription').length > 0, 10_000, server);
    await waitUntil('the endpoint test delivery', () => received('/endpoint-test').length > 0, 10_000, server);
  });

  test('a DialLink user: password, tokens, an account-hub key; a dashboard session', async () => {
    const email = (await http('GET', '/api/v1/me', { headers: bearer(key) })).json().email as string;
    await ok(http('PUT', `/admin/v1/accounts/${accountId}/users/${encodeURIComponent(email)}/password`, { headers: admin(), body: { password: userPassword } }), 'a password');
    // Refused ones first: a wrong password, and the right one in a body that is not JSON. Neither answer nor log
    // may repeat what was sent.
    assert.equal((await http('POST', '/v1/auth/tokens', { body: { email, password: `${userPassword}!` } })).status, 401);
    const malformed = await recorder.http('POST', '/v1/auth/tokens', { headers: { 'content-type': 'application/json' }, raw: `{"email":"${email}","password":"${userPassword}",}` });
    assert.equal(malformed.status, 400, malformed.text);
    const tokens = await ok(http('POST', '/v1/auth/tokens', { body: { email, password: userPassword } }), 'sign-in');
    const access = book.plant('DialLink access token', tokens.json().accessToken, { allowed: only(tokens) });
    book.plant('DialLink refresh token', tokens.json().refreshToken, { allowed: only(tokens) });
    const hub = await ok(http('POST', '/v1/account-hub/api-keys', { headers: bearer(access), body: { name: 'hub', enabled: true } }), 'a hub key');
    const hubKey = book.plant('account-hub API key', hub.json().key, { allowed: only(hub) });
    await ok(http('GET', '/v1/account-hub/api-keys', { headers: bearer(access) }), 'the hub keys');
    await ok(http('GET', '/v1/phone-system/users', { headers: { 'x-api-key': hubKey } }), 'the hub key in use');

    const form = await http('GET', '/dashboard/sign-in');
    const signInCookie = (form.headers.get('set-cookie') ?? '').split(';')[0]!;
    const csrf = /name="_csrf" value="([^"]+)"/.exec(form.text)?.[1];
    assert.ok(csrf, 'the sign-in form carries a token');
    const signedIn = await http('POST', '/dashboard/sign-in', { headers: { cookie: signInCookie }, form: { _csrf: csrf, email, password: userPassword } });
    assert.equal(signedIn.status, 303, signedIn.text);
    const cookie = signedIn.headers.getSetCookie().map((c) => c.split(';')[0]!).find((c) => c.startsWith('dialplane_session='));
    assert.ok(cookie, 'a session cookie');
    book.plant('dashboard session', decodeURIComponent(cookie.slice('dialplane_session='.length)), { allowed: only(signedIn) });
    dashboardCookie = cookie;
    for (const page of ['calls', 'keys', 'webhooks', 'applications', 'extensions']) await ok(http('GET', `/dashboard/${page}`, { headers: { cookie } }), `dashboard ${page}`);
  });

  test('pressed keys: the dev carrier presses 9, 5, 3 into a gather', async () => {
    const program = [{ verb: 'gather', numDigits: 3, timeout: 10, actionHook: hookUrl('/dev-action') }, { verb: 'hangup' }];
    const call = await ok(http('POST', '/dialplane/v1/calls', { headers: bearer(key), body: { from: NUMBER, to: KEY_PRESSER, program } }), 'a call');
    await waitUntil('the action hook', () => received('/dev-action').length > 0, 20_000, server);
    assert.equal(JSON.parse(received('/dev-action')[0]!.body.toString()).digits, '953', 'the keys reached the action hook');
    await ok(http('GET', `/dialplane/v1/calls/${call.json().call_id}`, { headers: bearer(key) }), 'the call');
  });

  test('a SIP device registers with its password and calls in with SDES SRTP, pressing a PIN into its application', async (t) => {
    if (!(await requireBaresip(t))) return;
    const sipPort = Number(/"sipPort":(\d+)/.exec(server.stdout())?.[1]);
    assert.ok(sipPort > 0, 'the SIP port is in the log');
    const extension = await ok(http('POST', `/admin/v1/accounts/${accountId}/extensions`, { headers: admin(), body: { name: 'scan desk', number: '301', srtp: 'require' } }), 'an extension');
    const added = await ok(http('POST', `/admin/v1/accounts/${accountId}/extensions/${extension.json().extension.id}/devices`, { headers: admin(), body: {} }), 'a device');
    const { username, password, realm } = added.json() as { username: string; password: string; realm: string };
    book.plant('SIP device password', password, { allowed: only(added) });
    book.plant('SIP device HA1', createHash('md5').update(`${username}:${realm}:${password}`).digest('hex'));
    await ok(http('GET', `/admin/v1/accounts/${accountId}/devices`, { headers: admin() }), 'the devices');

    const application = await ok(
      http('POST', '/dialplane/v1/applications', { headers: bearer(key), body: { name: 'scan pin', call_hook: hookUrl('/call'), status_hook: hookUrl('/status') } }),
      'an application',
    );
    book.plant('application hook secret', application.json().hook_secret, { allowed: only(application) });
    const applicationId = application.json().id as string;
    await ok(http('GET', `/dialplane/v1/applications/${applicationId}`, { headers: bearer(key) }), 'the application');
    await ok(http('PUT', `/admin/v1/accounts/${accountId}/numbers/${encodeURIComponent(NUMBER)}/route`, { headers: admin(), body: { application_id: applicationId } }), 'the route');

    const phone = await startBaresip({
      user: username,
      account: baresipAccountLine({ user: username, password, host: SIP_HOST, port: sipPort, transport: 'udp', params: ['mediaenc=srtp-mand'] }),
      modules: ['srtp'],
      sipTrace: true,
      maxSeconds: 40,
      t,
    });
    await waitUntil('the registration', () => /200 OK .*\[\d+ bindings?\]/.test(phone.output()), 10_000, server);
    const dial = await phone.command('dial', `sip:${NUMBER}@${SIP_HOST}:${sipPort}`);
    assert.ok(dial.ok, `dial: ${dial.data}`);
    await phone.waitEvent('CALL_ESTABLISHED', 10_000);
    await waitUntil('the call hook', () => received('/call').length > 0, 10_000, server);
    await sleep(300);
    for (const digit of PIN) {
      const sent = await phone.command('sndcode', digit);
      assert.ok(sent.ok, `sndcode ${digit}: ${sent.data}`);
      await sleep(250);
    }
    await waitUntil('the PIN at the action hook', () => received('/action').length > 0, 15_000, server);
    assert.equal(JSON.parse(received('/action')[0]!.body.toString()).digits, PIN, `the PIN reached the action hook\n${phone.output().slice(-2000)}`);
    book.plant('pressed PIN', PIN, {
      exception:
        "pressed keys go to the action hook, are stored with the call's activities and shown to the account's own key " +
        "(docs/dialplane-api.md) and on the dashboard's call page (README, the dashboard's pages)",
      allowed: (source) =>
        (source.kind === 'request-sent' && source.label.endsWith(' /action')) ||
        (source.kind === 'response' && /^GET \/(dialplane\/v1|dashboard)\/calls(\/[^/ ]+)? /.test(source.label)) ||
        (source.kind === 'file' && source.label.startsWith('dialplane.sqlite')) ||
        source.kind === 'database',
    });
    const keys = [...new Set([...phone.output().matchAll(/a=crypto:\d+ \S+ inline:([A-Za-z0-9+/=]+)/g)].map((m) => m[1]!))];
    assert.ok(keys.length >= 2, `baresip's offer and Dialplane's answer carry SDES keys (${keys.length} in baresip's trace)`);
    for (const [i, inline] of keys.entries()) {
      book.plant(`SRTP SDES key ${i + 1}`, inline, { extra: { 'key bytes (hex)': Buffer.from(inline, 'base64').toString('hex') } });
    }
    srtpKeys = keys.length;
    // The call as every view shows it: each face's, the dashboard's, the operator's.
    const calls = await ok(http('GET', '/dialplane/v1/calls?limit=5', { headers: bearer(key) }), 'the calls');
    for (const { call_id: id } of calls.json().calls as Array<{ call_id: string }>) {
      await http('GET', `/dialplane/v1/calls/${id}`, { headers: bearer(key) });
      await http('GET', `/api/v1/calls/${id}`, { headers: bearer(key) });
      await http('GET', `/v1/phone-system/calls/${id}`, { headers: { 'x-api-key': key } });
      await http('GET', `/dashboard/calls/${id}`, { headers: { cookie: dashboardCookie } });
      await http('GET', `/admin/v1/accounts/${accountId}/calls/${id}`, { headers: admin() });
    }
    await ok(http('GET', `/admin/v1/accounts/${accountId}/calls`, { headers: admin() }), 'the calls (admin)');
    await ok(http('GET', '/api/v1/calls', { headers: bearer(key) }), 'the calls (DialAnyone)');
    await ok(http('GET', '/v1/phone-system/calls', { headers: { 'x-api-key': key } }), 'the calls (DialLink)');
    await phone.stop();
  });

  test('nothing planted is anywhere it was not documented to be: logs, answers, requests sent, stored data', async (t) => {
    // The deliveries of the calls above (call.ended to the endpoint) have been made.
    await waitUntil('a delivery to the endpoint', () => received('/endpoint').length > 0, 15_000, server);
    // The delivery log, with each delivery's stored payload and attempts.
    const deliveries = await ok(http('GET', `/admin/v1/webhooks/deliveries?account_id=${accountId}&limit=100`, { headers: admin() }), 'the deliveries');
    for (const { id } of deliveries.json().deliveries as Array<{ id: string }>) await ok(http('GET', `/admin/v1/webhooks/deliveries/${id}`, { headers: admin() }), 'a delivery');
    await ok(http('GET', '/dashboard/webhooks', { headers: { cookie: dashboardCookie } }), 'the dashboard webhooks');
    await snapshot('running');
    server.child.kill('SIGTERM');
    assert.equal(await within(server.exited, 10_000), 0, server.stderr());
    await snapshot('stopped');

    const logs: Source[] = [
      { kind: 'log', label: 'stdout', bytes: Buffer.from(server.stdout()) },
      { kind: 'log', label: 'stderr', bytes: Buffer.from(server.stderr()) },
    ];
    const logLines = `${server.stdout()}\n${server.stderr()}`.split('\n').filter((l) => l !== '');
    const sent = requestSources(receiver.requests);
    const { responses } = recorder;
    const sources = [...logs, ...responses, ...sent, ...stored];
    const { findings, allowedHits } = book.scan(sources);
    const pressed = pressedKeysInLog(logLines);
    const probe = new SecretBook();
    probe.plant('canary', canary);
    const canaryKinds = [...new Set(probe.scan(sources).findings.map((f) => f.source.split(' ')[0]!))].sort();

    const bytes = (list: readonly Source[]) => list.reduce((n, s) => n + s.bytes.length, 0);
    const forms = book.planted.map((s) => s.forms.size);
    t.diagnostic(`[${dialect}] secrets planted: ${book.planted.length} (${book.planted.map((s) => s.name).join(', ')}); SDES keys taken from baresip's SDP: ${srtpKeys}`);
    t.diagnostic(`[${dialect}] forms searched per secret: ${Math.min(...forms)} to ${Math.max(...forms)} (raw, hex, base64 and base64url at 3 alignments, URL, form, JSON)`);
    t.diagnostic(
      `[${dialect}] scanned: ${logLines.length} log lines (${bytes(logs)} bytes), ${responses.length} HTTP answers (${bytes(responses)} bytes), ` +
        `${sent.length} requests the server sent (${bytes(sent)} bytes), ${stored.length} files and tables (${bytes(stored)} bytes)`,
    );
    t.diagnostic(`[${dialect}] documented sightings: ${allowedHits} (${book.planted.filter((s) => s.exception).map((s) => `${s.name}: ${s.exception}`).join('; ')})`);
    t.diagnostic(`[${dialect}] canary found in: ${canaryKinds.join(', ')}`);
    t.diagnostic(`[${dialect}] leaks found: ${findings.length}; pressed keys in log records: ${pressed.length}`);
    for (const f of findings.slice(0, 30)) t.diagnostic(`LEAK ${f.secret} (${f.encoding}) in ${f.source}: ${f.context}`);
    for (const p of pressed.slice(0, 10)) t.diagnostic(`PRESSED KEYS IN LOG ${p}`);

    const storedKind = dialect === 'sqlite' ? 'file' : 'database';
    assert.deepEqual(canaryKinds, [storedKind, 'log', 'request-sent', 'response'].sort(), 'the canary is found in every kind of source');
    assert.ok(logLines.some((l) => /"level":(10|20),/.test(l)), 'the log ran at debug and trace level');
    assert.ok(logLines.length > 50 && responses.length > 30 && sent.length >= 4, 'the scan had real material');
    assert.deepEqual(findings, []);
    assert.deepEqual(pressed, []);
  });
});

test('a trunk password answering a real digest challenge (SIPp as the registrar) is in no log line and no file', async (t) => {
  if (!(await requireSipp(t))) return;
  const book = new SecretBook();
  const password = book.plant('trunk password', `trunk-${hex(12)}`);
  const registrar = await startSipp({ scenario: 'uas-register.xml', keys: { user: 'scan-trunk', password, expires: 2 }, t });
  const dataDir = await mkdtemp(join(tmpdir(), 'dialplane-secrets-scan-trunk-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const port = await freePort();
  const server = spawnServe(
    testEnv({
      DIALPLANE_DATA_DIR: dataDir,
      DIALPLANE_HTTP_HOST: '127.0.0.1',
      DIALPLANE_HTTP_PORT: String(port),
      DIALPLANE_LOG_LEVEL: 'trace',
      DIALPLANE_BOOTSTRAP: 'false',
      DIALPLANE_TRUNK: `sip:${registrar.address}`,
      DIALPLANE_TRUNK_USERNAME: 'scan-trunk',
      DIALPLANE_TRUNK_PASSWORD: password,
      DIALPLANE_TRUNK_REGISTER: 'true',
      DIALPLANE_TRUNK_KEEPALIVE_S: '0',
      DIALPLANE_RTP_PORTS: '48000-48099',
    }),
  );
  t.after(() => killHard(server));
  await waitReady(`http://127.0.0.1:${port}`, server);
  // Two challenged REGISTERs (the first and its refresh), each verified against the password by SIPp.
  const result = await registrar.done;
  assert.equal(result.code, 0, describeSippResult(result));
  server.child.kill('SIGTERM');
  assert.equal(await within(server.exited, 10_000), 0, server.stderr());
  const sources: Source[] = [
    { kind: 'log', label: 'stdout', bytes: Buffer.from(server.stdout()) },
    { kind: 'log', label: 'stderr', bytes: Buffer.from(server.stderr()) },
    ...dataDirSources(dataDir, 'stopped'),
  ];
  const { findings } = book.scan(sources);
  t.diagnostic(`trunk: ${(result.messages.match(/^REGISTER /gm) ?? []).length} REGISTERs seen by SIPp; scanned ${server.stdout().split('\n').length} log lines and ${sources.length - 2} files; leaks found: ${findings.length}`);
  for (const f of findings) t.diagnostic(`LEAK ${f.secret} (${f.encoding}) in ${f.source}: ${f.context}`);
  assert.deepEqual(findings, []);
});
