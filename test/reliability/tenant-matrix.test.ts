import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePort, killHard, sleep, spawnServe, testEnv, waitReady, waitUntil, type ServerProcess } from '../helpers/processes.js';

/**
 * Two tenants on one real `dialplane serve` process (dev carrier, dev SMSC). Account A owns an object of every kind
 * the faces expose; every face's every credential scheme, holding account B's credentials, is pointed at each of
 * A's objects with each operation the face has on it (read, change, delete). The cells are generated as data and
 * each must get the face's own "not found" refusal and leave A's object exactly as it was. A read-only key (or a
 * view-only user's key, token or session) gets 403 on every write route of its face, taken from the server's own
 * route list.
 */

const ADMIN = 'tenant-matrix-admin-token-0123456789';
const A_NUMBER = '+14155551234';
const B_NUMBER = '+14155552345';
const LIVE_CALLEE = '+14155550100';
const PASSWORD = 'correct horse battery staple';

interface Reply {
  readonly status: number;
  readonly text: string;
  readonly headers: Headers;
  json(): any;
}

let server: ServerProcess;
let base: string;
let dataDir: string;

async function http(method: string, path: string, options: { headers?: Record<string, string>; body?: unknown; form?: Record<string, string> } = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...options.headers };
  let body: string | undefined;
  if (options.form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(options.form).toString();
  } else if (options.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.body);
  }
  const response = await fetch(`${base}${path}`, { method, headers, body, redirect: 'manual', signal: AbortSignal.timeout(15_000) });
  // A stream (server-sent events) answered 200 would never end: read only its start.
  const text = (response.headers.get('content-type') ?? '').includes('event-stream')
    ? await readStart(response)
    : await response.text();
  return {
    status: response.status,
    text,
    headers: response.headers,
    json: () => JSON.parse(text),
  };
}

async function readStart(response: Response): Promise<string> {
  const reader = response.body!.getReader();
  const first = await Promise.race([reader.read(), sleep(300).then(() => undefined)]);
  await reader.cancel().catch(() => undefined);
  return first?.value ? Buffer.from(first.value).toString('utf8') : '';
}

const admin = { authorization: `Bearer ${ADMIN}` };

async function adminCall(method: string, path: string, body?: unknown): Promise<any> {
  const reply = await http(method, `/admin/v1${path}`, { headers: admin, ...(body !== undefined ? { body } : {}) });
  assert.ok(reply.status < 300, `${method} ${path}: ${reply.status} ${reply.text}`);
  return reply.json();
}

/** One tenant's credentials of every scheme, and (for A) its objects. */
interface Tenant {
  accountId: string;
  ownerEmail: string;
  key: string;
  keyId: string;
  readOnlyKey: string;
  appId: string;
  appKey: string;
  userToken: string;
  viewOnlyEmail: string;
  viewOnlyToken: string;
  dashboard: Session;
  viewOnlyDashboard: Session;
}

interface Session {
  readonly cookie: string;
  readonly csrf: string;
}

async function signInDashboard(email: string): Promise<Session> {
  const form = await http('GET', '/dashboard/sign-in');
  const signInCookie = (form.headers.get('set-cookie') ?? '').split(';')[0]!;
  const token = /name="_csrf" value="([^"]+)"/.exec(form.text)?.[1];
  assert.ok(token, 'the sign-in form carries a token');
  const signedIn = await http('POST', '/dashboard/sign-in', {
    headers: { cookie: signInCookie },
    form: { _csrf: token, email, password: PASSWORD },
  });
  assert.equal(signedIn.status, 303, signedIn.text);
  const cookie = signedIn.headers
    .getSetCookie()
    .map((c) => c.split(';')[0]!)
    .find((c) => c.startsWith('dialplane_session='));
  assert.ok(cookie, `a session cookie: ${signedIn.headers.getSetCookie().join(' | ')}`);
  const page = await http('GET', '/dashboard/calls', { headers: { cookie } });
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page.text)?.[1] ?? /data-csrf="([^"]+)"/.exec(page.text)?.[1];
  assert.ok(csrf, 'a signed-in page carries the session CSRF token');
  return { cookie, csrf };
}

async function signInDialLink(email: string): Promise<string> {
  const reply = await http('POST', '/v1/auth/tokens', { body: { email, password: PASSWORD } });
  assert.equal(reply.status, 201, reply.text);
  return reply.json().accessToken as string;
}

async function makeTenant(name: string, number: string): Promise<Tenant> {
  const slug = name.toLowerCase();
  const ownerEmail = `owner-${slug}@example.com`;
  const created = await adminCall('POST', '/accounts', { name, email: ownerEmail });
  const accountId = created.account.id as string;
  await adminCall('POST', `/accounts/${accountId}/credits`, { amount: 500 });
  await adminCall('POST', `/accounts/${accountId}/numbers`, { number, type: 'purchased', capabilities: ['voice', 'sms'] });
  const full = await adminCall('POST', `/accounts/${accountId}/keys`, { name: 'full' });
  const readOnly = await adminCall('POST', `/accounts/${accountId}/keys`, { name: 'read-only', permission: 'read_only' });
  const app = await adminCall('POST', `/accounts/${accountId}/apps`, {
    name: `gateway ${slug}`,
    caller_id_allow_list: ['0721234567'],
    country: 'IL',
  });
  await adminCall('PUT', `/accounts/${accountId}/users/${encodeURIComponent(ownerEmail)}/password`, { password: PASSWORD });
  const viewOnlyEmail = `viewer-${slug}@example.com`;
  await adminCall('POST', `/accounts/${accountId}/users`, { email: viewOnlyEmail, permission: 'view-only', password: PASSWORD });
  const userToken = await signInDialLink(ownerEmail);
  const viewOnlyToken = await signInDialLink(viewOnlyEmail);
  return {
    accountId,
    ownerEmail,
    key: full.api_key,
    keyId: full.key.id,
    readOnlyKey: readOnly.api_key,
    appId: app.app.id,
    appKey: app.api_key,
    userToken,
    viewOnlyEmail,
    viewOnlyToken,
    dashboard: await signInDashboard(ownerEmail),
    viewOnlyDashboard: await signInDashboard(viewOnlyEmail),
  };
}

/** Account A's objects, one of every kind, each with the ids the faces name it by. */
interface Objects {
  calls: Record<string, string>;
  legIds: string[];
  messageId: string;
  subscriptionUrl: string;
  endpointId: string;
  extensionId: string;
  extensionNumber: string;
  deviceId: string;
  applicationId: string;
  contactId: string;
  hubKeyId: string;
  recordingId: string;
  sessionUuid: string;
  deliveryId: string;
  ownerUserId: string;
}

let a: Tenant;
let b: Tenant;
let objects: Objects;

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const https = { 'x-forwarded-proto': 'https' };

async function createObjects(): Promise<Objects> {
  const key = bearer(a.key);
  const live = [{ verb: 'pause', length: 300 }];
  const dialplaneCall = await http('POST', '/dialplane/v1/calls', { headers: key, body: { from: A_NUMBER, to: LIVE_CALLEE, program: live } });
  assert.equal(dialplaneCall.status, 201, dialplaneCall.text);
  const recorded = await http('POST', '/dialplane/v1/calls', {
    headers: key,
    body: { from: A_NUMBER, to: '+14155550101', program: [{ verb: 'record', maxLength: 1, finishOnKey: '', beep: false }, { verb: 'hangup' }] },
  });
  assert.equal(recorded.status, 201, recorded.text);
  const dialAnyone = await http('POST', '/api/v1/calls', { headers: key, body: { user_number: A_NUMBER, target_number: '+14155550102' } });
  assert.ok(dialAnyone.status < 300, dialAnyone.text);
  const voice2phone = await http('POST', '/voice2phone/call', {
    headers: { ...https, authorization: `Basic ${Buffer.from(`${a.key}:`).toString('base64')}` },
    body: { Phone: { Number: '4155550103', CountryCode: 'US' }, Message: 'Hello', Dtmf: { '1': 'Thanks' } },
  });
  assert.ok(voice2phone.status < 300, voice2phone.text);
  const session = await http('POST', '/api/v1/dial', {
    headers: { 'x-app-id': a.appId, 'x-api-key': a.appKey },
    body: { to: '0527121102', from: '0721234567' },
  });
  assert.equal(session.status, 202, session.text);
  const extension = await adminCall('POST', `/accounts/${a.accountId}/extensions`, { name: 'desk', number: '309', mobile: '+14155550104' });
  const extensionId = extension.extension.id as string;
  const device = await adminCall('POST', `/accounts/${a.accountId}/extensions/${extensionId}/devices`, {});
  const webfones = await http('POST', '/dialer/call', { headers: { 'x-api-key': a.key }, body: { extension: '309', phonenumber: '4155550105' } });
  assert.equal(webfones.status, 200, webfones.text);
  const sms = await http('POST', '/api/v1/sms', { headers: key, body: { from: A_NUMBER, to: '+14155550106', body: 'tenant A' } });
  assert.ok(sms.status < 300, sms.text);
  const subscriptionUrl = 'http://127.0.0.1:9/tenant-a-hook';
  const subscribed = await http('POST', '/api/v1/webhooks/subscribe', {
    headers: key,
    body: { webhook_url: subscriptionUrl, event_types: ['incoming_sms'] },
  });
  assert.ok(subscribed.status < 300, subscribed.text);
  const endpoint = await adminCall('POST', `/accounts/${a.accountId}/webhooks/endpoints`, { url: 'http://127.0.0.1:9/tenant-a-endpoint', event_types: ['call.ended'] });
  const application = await http('POST', '/dialplane/v1/applications', { headers: key, body: { name: 'tenant A app', program: [{ verb: 'hangup' }] } });
  assert.equal(application.status, 201, application.text);
  const contact = await http('POST', '/v1/phone-system/contacts', { headers: { 'x-api-key': a.key }, body: { firstName: 'Ada', lastName: 'A' } });
  assert.equal(contact.status, 201, contact.text);
  const hubKey = await http('POST', '/v1/account-hub/api-keys', { headers: bearer(a.userToken), body: { name: 'hub key', enabled: true } });
  assert.equal(hubKey.status, 201, hubKey.text);

  const calls: Record<string, string> = {
    dialplane: dialplaneCall.json().call_id,
    recorded: recorded.json().call_id,
    dialanyone: callIdOf(dialAnyone),
    voice2phone: callIdOf(voice2phone),
    webfones: webfones.headers.get('x-call-id')!,
  };
  // The Dial session's call, by its session id through the admin list.
  const sessionUuid = session.json().session_uuid as string;
  // Every call answered (or, for the recording, ended with its recording stored) before the matrix runs, so a
  // state that moves afterwards can only have been moved by a cell.
  let recordingId = '';
  await waitUntil('A\'s calls answered and the recording stored', async () => {
    const view = await http('GET', `/dialplane/v1/calls/${calls.recorded}`, { headers: key });
    recordingId = view.json().recordings?.[0]?.recording_id ?? view.json().recordings?.[0]?.id ?? '';
    const live = await http('GET', `/dialplane/v1/calls/${calls.dialplane}`, { headers: key });
    return recordingId !== '' && live.json().state === 'answered' && view.json().live === false;
  }, 20_000, server);
  const listed = await adminCall('GET', `/accounts/${a.accountId}/calls?limit=100`);
  const allCalls = (listed.calls ?? []) as Array<{ id?: string; call_id?: string }>;
  const legIds = allCalls.map((c) => (c.id ?? c.call_id)!).filter((id) => !Object.values(calls).includes(id));
  const deliveries = await adminCall('GET', `/webhooks/deliveries?account_id=${a.accountId}`).catch(() => ({ deliveries: [] }));
  const users = await adminCall('GET', `/accounts/${a.accountId}/users`);
  return {
    calls,
    legIds,
    messageId: sms.json().message_id ?? sms.json().id ?? sms.json().messages?.[0]?.message_id,
    subscriptionUrl,
    endpointId: endpoint.endpoint?.id ?? endpoint.id,
    extensionId,
    extensionNumber: '309',
    deviceId: device.device?.id ?? device.id,
    applicationId: application.json().application_id ?? application.json().id,
    contactId: contact.json().id,
    hubKeyId: hubKey.json().id,
    recordingId,
    sessionUuid,
    deliveryId: deliveries.deliveries?.[0]?.id ?? '',
    ownerUserId: users.users.find((u: { email: string }) => u.email === a.ownerEmail).id,
  };
}

function callIdOf(reply: Reply): string {
  const body = reply.json();
  return body.call_id ?? body.callId ?? body.CallId ?? body.id ?? body.data?.call_id;
}

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'dialplane-tenant-'));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = spawnServe(
    testEnv({
      DIALPLANE_DATA_DIR: dataDir,
      DIALPLANE_HTTP_PORT: String(port),
      DIALPLANE_ADMIN_TOKEN: ADMIN,
      DIALPLANE_BOOTSTRAP: 'false',
      DIALPLANE_TRUNK: 'dev',
      DIALPLANE_SMSC: 'dev',
      DIALPLANE_TRUNK_KEEPALIVE_S: '0',
      DIALPLANE_RTP_PORTS: '48600-48799',
      DIALPLANE_TRUST_PROXY: 'true',
    }),
  );
  await waitReady(base, server);
  a = await makeTenant('Alpha', A_NUMBER);
  b = await makeTenant('Bravo', B_NUMBER);
  objects = await createObjects();
});

after(async () => {
  if (server) await killHard(server);
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

type Op = 'read' | 'change' | 'delete';

/** One cell: a face's credential scheme holding B's credentials, one of A's objects, one operation. */
interface Cell {
  readonly face: string;
  readonly scheme: string;
  readonly resource: string;
  readonly op: Op;
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body?: unknown;
  readonly form?: Record<string, string>;
  /** The face's documented refusal for another account's object. */
  readonly refused: (reply: Reply) => boolean | Promise<boolean>;
  /** What A's object looks like, read with A's own credentials. */
  readonly probe: () => Promise<string>;
}

const notFound = (reply: Reply) => reply.status === 404;
/** WebFones names a missing extension with its own 400 body, exactly as for an unknown one. */
const invalidExtension = (reply: Reply) => reply.status === 400 && reply.text === '{"message":"invalid extension"}';

/**
 * A dashboard form is answered as the dashboard answers every refused form: 303 back to its section, whose page then
 * shows the error (not found) in its alert.
 */
const dashboardRefused = async (reply: Reply) => {
  if (reply.status !== 303) return false;
  const page = await http('GET', reply.headers.get('location')!, { headers: { cookie: b.dashboard.cookie } });
  const alert = /<p class="flash error" role="alert">([^<]*)<\/p>/.exec(page.text)?.[1] ?? '';
  dashboardAlerts.add(alert);
  return /does not exist|not found|no such/i.test(alert);
};
const dashboardAlerts = new Set<string>();

/** A's objects as A sees them through the admin API and its own keys; fields that move by themselves are dropped. */
function probes() {
  const adminGet = async (path: string) => {
    const reply = await http('GET', `/admin/v1/accounts/${a.accountId}${path}`, { headers: admin });
    return `${reply.status} ${reply.text}`;
  };
  const pick = async (path: string, list: string, id: string) => {
    const reply = await http('GET', `/admin/v1/accounts/${a.accountId}${path}`, { headers: admin });
    const found = (reply.json()[list] as Array<Record<string, unknown>>).find((item) => item.id === id);
    return JSON.stringify(found, (k, v) => (k === 'last_used_at' ? undefined : v));
  };
  return {
    call: (id: string) => async () => {
      const reply = await http('GET', `/admin/v1/accounts/${a.accountId}/calls/${id}`, { headers: admin });
      const c = reply.json();
      const legs = (c.legs ?? []).map((l: { state: string; ended_at: unknown }) => [l.state, l.ended_at]);
      return JSON.stringify([reply.status, c.state ?? c.call?.state, c.ended_at ?? c.call?.ended_at ?? null, legs, c.activities?.length]);
    },
    message: () => adminGet(`/sms/${objects.messageId}`),
    application: () => adminGet(`/applications/${objects.applicationId}`),
    extension: () => adminGet(`/extensions/${objects.extensionId}`),
    device: () => pick(`/devices?extension_id=${objects.extensionId}`, 'devices', objects.deviceId),
    endpoint: () => pick('/webhooks/endpoints', 'endpoints', objects.endpointId),
    key: (id: () => string) => () => pick('/keys', 'keys', id()),
    keyWebhooks: () => adminGet(`/keys/${a.keyId}/webhooks`),
    gatewayApp: () => pick('/apps', 'apps', a.appId),
    route: () => adminGet(`/numbers/${encodeURIComponent(A_NUMBER)}/route`),
    user: () => pick('/users', 'users', objects.ownerUserId),
    contact: async () => (await http('GET', `/v1/phone-system/contacts/${objects.contactId}`, { headers: { 'x-api-key': a.key } })).text,
    subscriptions: async () => (await http('GET', '/api/v1/webhooks/subscriptions', { headers: bearer(a.key) })).text,
    recording: async () => {
      const reply = await http('GET', `/dialplane/v1/recordings/${objects.recordingId}`, { headers: bearer(a.key) });
      return `${reply.status} ${reply.text.length}`;
    },
    session: async () => (await http('GET', `/api/v1/dial/${objects.sessionUuid}`, { headers: { 'x-app-id': a.appId, 'x-api-key': a.appKey } })).text,
    delivery: async () => (await http('GET', `/admin/v1/webhooks/deliveries/${objects.deliveryId}`, { headers: admin })).text,
  };
}

/** Every (face, scheme, resource, operation) with B's credentials on A's object. */
function cells(): Cell[] {
  const p = probes();
  const out: Cell[] = [];
  const add = (face: string, schemes: Record<string, Record<string, string>>, refused: Cell['refused'], rows: Array<Omit<Cell, 'face' | 'scheme' | 'headers' | 'refused'> & { refused?: Cell['refused'] }>) => {
    for (const [scheme, headers] of Object.entries(schemes)) {
      for (const row of rows) out.push({ face, scheme, headers, refused, ...row });
    }
  };
  const callIds = Object.entries({ ...objects.calls, dial: objects.sessionUuid });
  const allCallIds: Array<[string, string]> = [...callIds, ...objects.legIds.map((id, i): [string, string] => [`leg${i}`, id])];
  const program = { program: [{ verb: 'hangup' }] };

  add('dialanyone', { bearer: bearer(b.key) }, notFound, [
    ...allCallIds.map(([kind, id]) => ({ resource: `call:${kind}`, op: 'read' as Op, method: 'GET', path: `/api/v1/calls/${id}`, probe: p.call(id) })),
    ...allCallIds.map(([kind, id]) => ({ resource: `call:${kind}`, op: 'change' as Op, method: 'POST', path: `/api/v1/calls/${id}/hangup`, probe: p.call(id) })),
    { resource: 'message', op: 'read', method: 'GET', path: `/api/v1/sms/${objects.messageId}`, probe: p.message },
  ]);

  // B's lists answer 200 and hold none of A's ids.
  const aIds = [...allCallIds.map(([, id]) => id), objects.messageId, objects.contactId, objects.applicationId, objects.recordingId, objects.hubKeyId, a.keyId, a.ownerEmail];
  const listsNothingOfA = (reply: Reply) => reply.status === 200 && aIds.every((id) => !reply.text.includes(id));
  const listRows = (paths: string[], probe: () => Promise<string>) =>
    paths.map((path) => ({ resource: 'list', op: 'read' as Op, method: 'GET', path, probe, refused: listsNothingOfA }));
  add('dialanyone', { bearer: bearer(b.key) }, listsNothingOfA, [
    ...listRows(['/api/v1/calls', '/api/v1/sms', '/api/v1/webhooks/subscriptions', '/api/v1/me'], p.subscriptions),
    // Unsubscribing A's URL from B's key touches only B's subscriptions (none): the face's not-found.
    { resource: 'subscription', op: 'delete', method: 'DELETE', path: '/api/v1/webhooks/unsubscribe', body: { webhook_url: objects.subscriptionUrl }, probe: p.subscriptions, refused: notFound },
  ]);
  add('dialplane', { bearer: bearer(b.key) }, listsNothingOfA, listRows(['/dialplane/v1/calls', '/dialplane/v1/applications'], p.application));
  add('diallink', { 'x-api-key': { 'x-api-key': b.key }, 'user-token': bearer(b.userToken) }, listsNothingOfA,
    listRows(['/v1/account-hub/api-keys', '/v1/phone-system/users', '/v1/phone-system/contacts', '/v1/phone-system/calls', '/v1/phone-system/recordings'], p.contact));

  const dialplaneSchemes = { bearer: bearer(b.key), 'x-api-key': { 'x-api-key': b.key } };
  add('dialplane', dialplaneSchemes, notFound, [
    ...allCallIds.flatMap(([kind, id]) => [
      { resource: `call:${kind}`, op: 'read' as Op, method: 'GET', path: `/dialplane/v1/calls/${id}`, probe: p.call(id) },
      { resource: `call:${kind}`, op: 'read' as Op, method: 'GET', path: `/dialplane/v1/calls/${id}/events`, probe: p.call(id) },
      { resource: `call:${kind}`, op: 'read' as Op, method: 'GET', path: `/dialplane/v1/calls?before=${id}`, probe: p.call(id) },
      { resource: `call:${kind}`, op: 'change' as Op, method: 'POST', path: `/dialplane/v1/calls/${id}/program`, body: program, probe: p.call(id) },
      { resource: `call:${kind}`, op: 'change' as Op, method: 'POST', path: `/dialplane/v1/calls/${id}/hangup`, probe: p.call(id) },
    ]),
    { resource: 'recording', op: 'read', method: 'GET', path: `/dialplane/v1/recordings/${objects.recordingId}`, probe: p.recording },
    { resource: 'application', op: 'read', method: 'GET', path: `/dialplane/v1/applications/${objects.applicationId}`, probe: p.application },
    { resource: 'application', op: 'change', method: 'PATCH', path: `/dialplane/v1/applications/${objects.applicationId}`, body: { name: 'taken' }, probe: p.application },
    { resource: 'application', op: 'delete', method: 'DELETE', path: `/dialplane/v1/applications/${objects.applicationId}`, probe: p.application },
    // Using A's application from B's own call or number is reading it too.
    { resource: 'application', op: 'read', method: 'POST', path: '/dialplane/v1/calls', body: { from: B_NUMBER, to: LIVE_CALLEE, application_id: objects.applicationId }, probe: p.application },
    { resource: 'application', op: 'read', method: 'PUT', path: `/dialplane/v1/numbers/${encodeURIComponent(B_NUMBER)}/route`, body: { application_id: objects.applicationId }, probe: p.application },
    { resource: 'route', op: 'change', method: 'PUT', path: `/dialplane/v1/numbers/${encodeURIComponent(A_NUMBER)}/route`, body: { answer: true }, probe: p.route },
  ]);

  add('dial', { app: { 'x-app-id': b.appId, 'x-api-key': b.appKey } }, notFound, [
    { resource: 'session', op: 'read', method: 'GET', path: `/api/v1/dial/${objects.sessionUuid}`, probe: p.session },
    { resource: 'session', op: 'change', method: 'POST', path: `/api/v1/dial/${objects.sessionUuid}/hangup`, probe: p.session },
    { resource: 'session', op: 'change', method: 'POST', path: `/api/v1/dial/${objects.sessionUuid}/play`, body: { text: 'hi' }, probe: p.session },
    { resource: 'session', op: 'change', method: 'POST', path: `/api/v1/dial/${objects.sessionUuid}/gather`, body: { num_digits: 1 }, probe: p.session },
    ...allCallIds.map(([kind, id]) => ({ resource: `call:${kind}`, op: 'read' as Op, method: 'GET', path: `/api/v1/dial/${id}`, probe: p.call(id) })),
  ]);

  const basic = (key: string) => ({ ...https, authorization: `Basic ${Buffer.from(`${key}:`).toString('base64')}` });
  add('voice2phone', { basic: basic(b.key), bare: { ...https, authorization: b.key } }, notFound,
    allCallIds.map(([kind, id]) => ({ resource: `call:${kind}`, op: 'read' as Op, method: 'GET', path: `/voice2phone/call/${id}`, probe: p.call(id) })),
  );

  add('webfones', { 'x-api-key': { 'x-api-key': b.key }, bearer: bearer(b.key) }, invalidExtension,
    ['/dialer/call', '/dailer/call'].flatMap((path) => [
      { resource: 'extension', op: 'read' as Op, method: 'POST', path, body: { extension: objects.extensionId, phonenumber: '4155550107' }, probe: p.extension },
      { resource: 'extension', op: 'read' as Op, method: 'POST', path, body: { extension: objects.extensionNumber, phonenumber: '4155550107' }, probe: p.extension },
    ]),
  );

  add('diallink', { 'x-api-key': { 'x-api-key': b.key }, 'user-token': bearer(b.userToken) }, notFound, [
    { resource: 'api-key', op: 'read', method: 'GET', path: `/v1/account-hub/api-keys/${objects.hubKeyId}`, probe: p.key(() => objects.hubKeyId) },
    { resource: 'api-key', op: 'read', method: 'GET', path: `/v1/account-hub/api-keys/${a.keyId}`, probe: p.key(() => a.keyId) },
    { resource: 'contact', op: 'read', method: 'GET', path: `/v1/phone-system/contacts/${objects.contactId}`, probe: p.contact },
    { resource: 'contact', op: 'change', method: 'PUT', path: `/v1/phone-system/contacts/${objects.contactId}`, body: { firstName: 'Taken', lastName: 'B' }, probe: p.contact },
    { resource: 'contact', op: 'change', method: 'PATCH', path: `/v1/phone-system/contacts/${objects.contactId}`, body: { firstName: 'Taken' }, probe: p.contact },
    { resource: 'contact', op: 'delete', method: 'DELETE', path: `/v1/phone-system/contacts/${objects.contactId}`, probe: p.contact },
    { resource: 'recording', op: 'read', method: 'GET', path: `/v1/phone-system/recordings/${objects.recordingId}/download`, probe: p.recording },
    ...allCallIds.map(([kind, id]) => ({ resource: `call:${kind}`, op: 'read' as Op, method: 'GET', path: `/v1/phone-system/calls/${id}`, probe: p.call(id) })),
  ]);

  // The admin token is the operator's, not a tenant's; its account-scoped paths must still keep to the account named.
  const B = `/admin/v1/accounts/${b.accountId}`;
  add('admin', { 'account-path': admin }, notFound, [
    { resource: 'api-key', op: 'delete', method: 'POST', path: `${B}/keys/${a.keyId}/revoke`, probe: p.key(() => a.keyId) },
    { resource: 'api-key', op: 'read', method: 'GET', path: `${B}/keys/${a.keyId}/webhooks`, probe: p.keyWebhooks },
    { resource: 'api-key', op: 'change', method: 'PUT', path: `${B}/keys/${a.keyId}/webhooks`, body: { call_webhook_url: 'http://127.0.0.1:9/taken' }, probe: p.keyWebhooks },
    { resource: 'gateway-app', op: 'change', method: 'PATCH', path: `${B}/apps/${a.appId}`, body: { caller_id_allow_list: ['0721111111'] }, probe: p.gatewayApp },
    { resource: 'application', op: 'read', method: 'POST', path: `${B}/apps`, body: { name: 'thief', application_id: objects.applicationId }, probe: p.application },
    ...allCallIds.flatMap(([kind, id]) => [
      { resource: `call:${kind}`, op: 'read' as Op, method: 'GET', path: `${B}/calls/${id}`, probe: p.call(id) },
      { resource: `call:${kind}`, op: 'read' as Op, method: 'GET', path: `${B}/calls/${id}/events/stream`, probe: p.call(id) },
      { resource: `call:${kind}`, op: 'change' as Op, method: 'POST', path: `${B}/calls/${id}/hangup`, probe: p.call(id) },
    ]),
    { resource: 'message', op: 'read', method: 'GET', path: `${B}/sms/${objects.messageId}`, probe: p.message },
    { resource: 'extension', op: 'read', method: 'GET', path: `${B}/extensions/${objects.extensionId}`, probe: p.extension },
    { resource: 'extension', op: 'change', method: 'PATCH', path: `${B}/extensions/${objects.extensionId}`, body: { name: 'taken' }, probe: p.extension },
    { resource: 'extension', op: 'delete', method: 'DELETE', path: `${B}/extensions/${objects.extensionId}`, probe: p.extension },
    { resource: 'extension', op: 'change', method: 'POST', path: `${B}/extensions/${objects.extensionId}/devices`, body: {}, probe: p.device },
    { resource: 'extension', op: 'read', method: 'PUT', path: `${B}/numbers/${encodeURIComponent(B_NUMBER)}/route`, body: { extension_id: objects.extensionId }, probe: p.extension },
    { resource: 'device', op: 'read', method: 'GET', path: `${B}/devices?extension_id=${objects.extensionId}`, probe: p.device },
    { resource: 'device', op: 'delete', method: 'DELETE', path: `${B}/devices/${objects.deviceId}`, probe: p.device },
    { resource: 'application', op: 'read', method: 'GET', path: `${B}/applications/${objects.applicationId}`, probe: p.application },
    { resource: 'application', op: 'change', method: 'PATCH', path: `${B}/applications/${objects.applicationId}`, body: { name: 'taken' }, probe: p.application },
    { resource: 'application', op: 'delete', method: 'DELETE', path: `${B}/applications/${objects.applicationId}`, probe: p.application },
    { resource: 'endpoint', op: 'delete', method: 'DELETE', path: `${B}/webhooks/endpoints/${objects.endpointId}`, probe: p.endpoint },
    ...['enable', 'disable', 'rotate-secret'].map((action) => ({ resource: 'endpoint', op: 'change' as Op, method: 'POST', path: `${B}/webhooks/endpoints/${objects.endpointId}/${action}`, body: {}, probe: p.endpoint })),
    { resource: 'route', op: 'read', method: 'GET', path: `${B}/numbers/${encodeURIComponent(A_NUMBER)}/route`, probe: p.route },
    { resource: 'route', op: 'change', method: 'PUT', path: `${B}/numbers/${encodeURIComponent(A_NUMBER)}/route`, body: { answer: true }, probe: p.route },
    { resource: 'user', op: 'change', method: 'PUT', path: `${B}/users/${objects.ownerUserId}/password`, body: { password: 'taken over 12345' }, probe: p.user },
    { resource: 'user', op: 'change', method: 'PUT', path: `${B}/users/${encodeURIComponent(a.ownerEmail)}/password`, body: { password: 'taken over 12345' }, probe: p.user },
  ]);

  const session = { cookie: b.dashboard.cookie };
  const csrf = { _csrf: b.dashboard.csrf };
  add('dashboard', { session }, notFound, [
    ...allCallIds.flatMap(([kind, id]) => [
      { resource: `call:${kind}`, op: 'read' as Op, method: 'GET', path: `/dashboard/calls/${id}`, probe: p.call(id) },
      { resource: `call:${kind}`, op: 'read' as Op, method: 'GET', path: `/dashboard/calls/${id}/stream`, probe: p.call(id) },
      { resource: `call:${kind}`, op: 'change' as Op, refused: dashboardRefused, method: 'POST', path: `/dashboard/calls/${id}/hangup`, form: csrf, probe: p.call(id) },
    ]),
    { resource: 'recording', op: 'read', method: 'GET', path: `/dashboard/recordings/${objects.recordingId}`, probe: p.recording },
    { resource: 'message', op: 'read', method: 'GET', path: `/dashboard/messages/${objects.messageId}`, probe: p.message },
    { resource: 'application', op: 'read', method: 'GET', path: `/dashboard/applications/${objects.applicationId}/edit`, probe: p.application },
    { resource: 'application', op: 'change', refused: dashboardRefused, method: 'POST', path: `/dashboard/applications/${objects.applicationId}/edit`, form: { ...csrf, name: 'taken', kind: 'program', program: '[{"verb":"hangup"}]' }, probe: p.application },
    { resource: 'application', op: 'delete', refused: dashboardRefused, method: 'POST', path: `/dashboard/applications/${objects.applicationId}/delete`, form: csrf, probe: p.application },
    { resource: 'api-key', op: 'delete', refused: dashboardRefused, method: 'POST', path: `/dashboard/keys/${a.keyId}/revoke`, form: csrf, probe: p.key(() => a.keyId) },
    { resource: 'route', op: 'change', refused: dashboardRefused, method: 'POST', path: `/dashboard/numbers/${encodeURIComponent(A_NUMBER)}/route`, form: { ...csrf, route: 'none' }, probe: p.route },
    { resource: 'extension', op: 'change', refused: dashboardRefused, method: 'POST', path: `/dashboard/extensions/${objects.extensionId}/devices`, form: csrf, probe: p.device },
    { resource: 'device', op: 'delete', refused: dashboardRefused, method: 'POST', path: `/dashboard/devices/${objects.deviceId}/delete`, form: csrf, probe: p.device },
    ...['enable', 'disable', 'delete'].map((action) => ({ resource: 'endpoint', op: (action === 'delete' ? 'delete' : 'change') as Op, refused: dashboardRefused, method: 'POST', path: `/dashboard/webhooks/endpoints/${objects.endpointId}/${action}`, form: csrf, probe: p.endpoint })),
    { resource: 'delivery', op: 'read', method: 'GET', path: `/dashboard/webhooks/deliveries/${objects.deliveryId}`, probe: p.delivery },
    { resource: 'delivery', op: 'change', refused: dashboardRefused, method: 'POST', path: `/dashboard/webhooks/deliveries/${objects.deliveryId}/resend`, form: csrf, probe: p.delivery },
  ]);
  return out;
}

describe('tenant matrix', () => {
  test('account B\'s credentials on every face get the face\'s not-found for each of A\'s objects, which stay as they were', async (t) => {
    const table = cells();
    const failures: string[] = [];
    let serverErrors = 0;
    for (const cell of table) {
      const before = await cell.probe();
      const reply = await http(cell.method, cell.path, {
        headers: cell.headers,
        ...(cell.body !== undefined ? { body: cell.body } : {}),
        ...(cell.form ? { form: cell.form } : {}),
      });
      if (reply.status >= 500) serverErrors += 1;
      const after = await cell.probe();
      const name = `${cell.face}/${cell.scheme} ${cell.op} ${cell.resource}: ${cell.method} ${cell.path}`;
      if (!(await cell.refused(reply))) failures.push(`${name} -> ${reply.status} ${reply.text.slice(0, 200)}`);
      if (before !== after) failures.push(`${name} changed A's object:\n  before ${before.slice(0, 300)}\n  after  ${after.slice(0, 300)}`);
    }
    const faces = new Set(table.map((c) => `${c.face}/${c.scheme}`));
    t.diagnostic(`cells checked: ${table.length} over ${faces.size} face/scheme pairs (${[...faces].join(', ')})`);
    t.diagnostic(`failures: ${failures.length}, 5xx: ${serverErrors}; dashboard alerts seen: ${[...dashboardAlerts].join(' | ')}`);
    assert.deepEqual(failures, []);
    assert.equal(serverErrors, 0);
  });
});

describe('regressions', () => {
  test('a refused device removal on the dashboard goes back to the extensions page with its error (it went to /dashboard/devices, which does not exist)', async () => {
    const before = await probes().device();
    const reply = await http('POST', `/dashboard/devices/${objects.deviceId}/delete`, {
      headers: { cookie: b.dashboard.cookie },
      form: { _csrf: b.dashboard.csrf },
    });
    assert.equal(reply.status, 303);
    assert.equal(reply.headers.get('location'), '/dashboard/extensions');
    const page = await http('GET', reply.headers.get('location')!, { headers: { cookie: b.dashboard.cookie } });
    assert.equal(page.status, 200);
    assert.match(page.text, /<p class="flash error" role="alert">device not found/);
    assert.equal(await probes().device(), before, "A's device is still there");
  });
});

describe('read-only credentials', () => {
  test('a read-only key, a view-only user\'s token and a view-only session get 403 on every write route of their face', async (t) => {
    const doc = (await http('GET', '/openapi.json')).json() as { paths: Record<string, Record<string, { security?: Array<Record<string, unknown>> }>> };
    const writes: Array<{ method: string; path: string; schemes: string[] }> = [];
    for (const [path, operations] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        const schemes = (operation.security ?? []).flatMap((s) => Object.keys(s));
        if (['get', 'head', 'options'].includes(method) || schemes.length === 0 || schemes.includes('adminToken')) continue;
        writes.push({ method: method.toUpperCase(), path, schemes });
      }
    }
    // Path parameters get A's own objects, so a refusal can only come from the permission, never from a lookup.
    const fill = (path: string) =>
      path
        .replace('{number}', encodeURIComponent(A_NUMBER))
        .replace('{sessionUuid}', objects.sessionUuid)
        .replace(/\/contacts\/\{id\}/, `/contacts/${objects.contactId}`)
        .replace(/\/applications\/\{id\}/, `/applications/${objects.applicationId}`)
        .replace(/\/calls\/\{[a-zA-Z]+\}/, `/calls/${objects.calls.dialplane}`)
        .replace(/\{[a-zA-Z]+\}/g, 'x');
    const basicOf = (key: string) => `Basic ${Buffer.from(`${key}:`).toString('base64')}`;
    const failures: string[] = [];
    let checked = 0;
    const seenFaces = new Set<string>();
    for (const route of writes) {
      const credentials: Array<[string, Record<string, string>, string]> = [];
      const diallink = route.path.startsWith('/v1/') || route.path.startsWith('/users/');
      if (diallink) {
        credentials.push(['diallink view-only token', bearer(a.viewOnlyToken), 'view_only_user']);
        credentials.push(['diallink read-only key', { 'x-api-key': a.readOnlyKey }, 'read_only_key']);
      } else if (route.schemes.includes('appId')) {
        continue; // gateway app keys have no read-only kind
      } else if (route.path.startsWith('/voice2phone')) {
        credentials.push(['voice2phone read-only key', { ...https, authorization: basicOf(a.readOnlyKey) }, 'read_only_key']);
      } else {
        if (route.schemes.includes('bearer')) credentials.push([`${route.path.split('/')[1]} read-only key (bearer)`, bearer(a.readOnlyKey), 'read_only_key']);
        if (route.schemes.includes('apiKeyHeader')) credentials.push([`${route.path.split('/')[1]} read-only key (x-api-key)`, { 'x-api-key': a.readOnlyKey }, 'read_only_key']);
      }
      for (const [who, headers, code] of credentials) {
        const path = fill(route.path);
        const reply = await http(route.method, path, { headers, body: {} });
        checked += 1;
        seenFaces.add(who);
        const forbidden = reply.status === 403;
        // Each face's own shape: the code appears in it (DialAnyone, Dialplane, DialLink, Voice2Phone) or, for
        // WebFones, the document's 403 body.
        const shaped = reply.text.includes(code) || reply.text.includes('read-only') || reply.text.includes('not change');
        if (!forbidden || !shaped) failures.push(`${who}: ${route.method} ${path} -> ${reply.status} ${reply.text.slice(0, 160)}`);
      }
    }
    // The dashboard's forms, as a view-only user signs in: every form the owner's pages carry.
    const forms = new Set<string>();
    for (const section of ['calls', 'keys', 'numbers', 'extensions', 'applications', 'webhooks', `calls/${objects.calls.dialplane}`, `applications/${objects.applicationId}/edit`]) {
      const page = await http('GET', `/dashboard/${section}`, { headers: { cookie: a.dashboard.cookie } });
      for (const match of page.text.matchAll(/<form method="post" action="([^"]+)"/g)) forms.add(match[1]!);
    }
    forms.delete('/dashboard/sign-out');
    for (const action of forms) {
      const reply = await http('POST', action, { headers: { cookie: a.viewOnlyDashboard.cookie }, form: { _csrf: a.viewOnlyDashboard.csrf } });
      checked += 1;
      if (reply.status !== 403) failures.push(`dashboard view-only session: POST ${action} -> ${reply.status}`);
    }
    t.diagnostic(`write routes from /openapi.json: ${writes.length}; dashboard forms: ${forms.size}; requests checked: ${checked}; credentials: ${[...seenFaces].join(', ')}`);
    t.diagnostic(`failures: ${failures.length}`);
    assert.ok(forms.size >= 10, `the owner's pages carry their forms (${forms.size})`);
    assert.deepEqual(failures, []);
  });
});
