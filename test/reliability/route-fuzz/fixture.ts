/**
 * The objects the fuzz aims at, made through the server's own APIs as a client would: an account with numbers,
 * credits and keys, a gateway app, extensions, a device, applications, webhook endpoints, users who can sign in, a
 * contact, a call, a message. Throwaway copies of everything a destructive route can remove or revoke.
 */
export interface Fixture {
  readonly accountId: string;
  readonly key: string;
  readonly readOnlyKey: string;
  readonly appId: string;
  readonly appKey: string;
  readonly accessToken: string;
  /** Of a sign-in of its own, so the fuzz spending it leaves `accessToken`'s sign-in alone. */
  readonly refreshToken: string;
  readonly ids: {
    readonly keys: readonly string[];
    readonly throwawayKeys: readonly string[];
    readonly extensions: readonly string[];
    readonly devices: readonly string[];
    readonly applications: readonly string[];
    readonly endpoints: readonly string[];
    readonly users: readonly string[];
    readonly contacts: readonly string[];
    readonly calls: readonly string[];
    readonly messages: readonly string[];
    readonly sessions: readonly string[];
    readonly deliveries: readonly string[];
  };
}

export const OUR_NUMBER = '+14155551234';
export const PORTED_NUMBER = '+14155555678';
export const USER_EMAIL = 'sophia@example.com';
export const USER_PASSWORD = 'correct horse battery staple';
const THROWAWAY_EMAIL = 'throwaway@example.com';
/** Ends in 0486: the dev carrier answers busy, so a call placed by the fuzz is over at once. */
export const BUSY_NUMBER = '+14155550486';
export const PROGRAM = [{ verb: 'say', text: 'Hello' }, { verb: 'hangup' }];

type Json = Record<string, unknown>;

export async function makeFixture(base: string, adminToken: string): Promise<Fixture> {
  async function call(method: string, path: string, headers: Record<string, string>, body?: unknown, optional = false): Promise<Json> {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { ...headers, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await response.text();
    if (response.status >= 300) {
      if (optional) return {};
      throw new Error(`setup ${method} ${path}: ${response.status} ${text}`);
    }
    return text === '' ? {} : (JSON.parse(text) as Json);
  }
  const admin = { authorization: `Bearer ${adminToken}` };
  const a = (method: string, path: string, body?: unknown) => call(method, `/admin/v1${path}`, admin, body);

  const created = await a('POST', '/accounts', { name: 'Fuzz', email: 'fuzz@example.com' });
  const accountId = (created.account as Json).id as string;
  const acc = `/accounts/${accountId}`;
  await a('POST', `${acc}/credits`, { amount: 100_000 });
  await a('POST', `${acc}/numbers`, { number: OUR_NUMBER, type: 'purchased' });
  await a('POST', `${acc}/numbers`, { number: PORTED_NUMBER, type: 'ported' });
  await a('PUT', `${acc}/numbers/${encodeURIComponent(OUR_NUMBER)}/route`, { answer: true });
  const newKey = async (body: Json) => {
    const made = await a('POST', `${acc}/keys`, body);
    return { id: (made.key as Json).id as string, token: made.api_key as string };
  };
  const key = await newKey({ name: 'fuzz' });
  const readOnly = await newKey({ name: 'read only', permission: 'read_only' });
  const throwawayKeys = [await newKey({ name: 'throwaway 1' }), await newKey({ name: 'throwaway 2' })];
  const app = await a('POST', `${acc}/apps`, { name: 'gateway', caller_id_allow_list: ['0721234567'], country: 'IL' });
  const idOf = (made: Json, field: string) => ((made[field] as Json | undefined)?.id ?? made.id) as string;
  const extension = idOf(await a('POST', `${acc}/extensions`, { number: '309', mobile: BUSY_NUMBER }), 'extension');
  const spareExtension = idOf(await a('POST', `${acc}/extensions`, { number: '310' }), 'extension');
  const device = idOf(await a('POST', `${acc}/extensions/${spareExtension}/devices`, { username: 'fuzz-device' }), 'device');
  const applications = [
    idOf(await a('POST', `${acc}/applications`, { name: 'fuzz', program: PROGRAM }), 'application'),
    idOf(await a('POST', `${acc}/applications`, { name: 'throwaway', call_hook: 'https://127.0.0.1:9/hook' }), 'application'),
  ];
  const endpoints = [
    idOf(await a('POST', `${acc}/webhooks/endpoints`, { url: 'https://127.0.0.1:9/events' }), 'endpoint'),
    idOf(await a('POST', `${acc}/webhooks/endpoints`, { url: 'https://127.0.0.1:9/throwaway' }), 'endpoint'),
  ];
  await a('POST', `${acc}/users`, { email: USER_EMAIL, password: USER_PASSWORD, permission: 'admin' });
  const throwawayUser = idOf(await a('POST', `${acc}/users`, { email: THROWAWAY_EMAIL, password: USER_PASSWORD }), 'user');
  const signIn = () => call('POST', '/v1/auth/tokens', {}, { email: USER_EMAIL, password: USER_PASSWORD });
  const tokens = await signIn();
  const spare = await signIn();

  const bearer = { authorization: `Bearer ${key.token}` };
  const contact = await call('POST', '/v1/phone-system/contacts', { 'x-api-key': key.token }, {
    firstName: 'Ada',
    phoneNumbers: [{ type: 'MOBILE', phoneNumber: '+14155550100' }],
  });
  const placed = await call('POST', '/dialplane/v1/calls', bearer, { from: OUR_NUMBER, to: BUSY_NUMBER, program: PROGRAM });
  const sms = await call('POST', '/api/v1/sms', bearer, { from: OUR_NUMBER, to: '+14155550100', body: 'hello' });
  const session = await call('POST', '/api/v1/dial', { 'x-app-id': app.app_id as string, 'x-api-key': app.api_key as string }, {
    from: '0721234567',
    to: '0527120486',
  }, true);
  const deliveries = await a('GET', '/webhooks/deliveries');
  return {
    accountId,
    key: key.token,
    readOnlyKey: readOnly.token,
    appId: app.app_id as string,
    appKey: app.api_key as string,
    accessToken: tokens.accessToken as string,
    refreshToken: spare.refreshToken as string,
    ids: {
      keys: [key.id, readOnly.id],
      throwawayKeys: throwawayKeys.map((k) => k.id),
      extensions: [extension, spareExtension],
      devices: [device],
      applications,
      endpoints,
      users: [throwawayUser, THROWAWAY_EMAIL],
      contacts: [String(contact.id)],
      calls: [String(placed.call_id ?? placed.id)],
      messages: [String(sms.message_id ?? sms.id)],
      sessions: typeof session.session_uuid === 'string' ? [session.session_uuid] : [],
      deliveries: ((deliveries.deliveries as Json[] | undefined) ?? []).map((d) => String(d.id)).slice(0, 3),
    },
  };
}
