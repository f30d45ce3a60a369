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

describe('tenant matrix', () => {
  test('setup', () => {
    console.log(JSON.stringify(objects, null, 2));
  });
});
