import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { digestHa1 } from '../../../src/core/extensions.js';
import { createServices, type Services } from '../../../src/core/services.js';
import { expectedDigestResponse } from '../../../src/sip/auth/digest-server.js';
import { formatDigestCredentials } from '../../../src/sip/auth/digest.js';
import { parseAuthChallenge } from '../../../src/sip/message/auth.js';
import { getHeader } from '../../../src/sip/message/headers.js';
import type { SipResponse, SipUri } from '../../../src/sip/message/types.js';
import { Registrar } from '../../../src/sip/registrar.js';
import { buildRequest } from '../../../src/sip/ua/build.js';
import { newCallId, newTag } from '../../../src/sip/ua/ids.js';
import { SipStack } from '../../../src/sip/ua/sip-stack.js';
import { SipUserAgent } from '../../../src/sip/ua/user-agent.js';
import { createStore } from '../../../src/store/store.js';
import { ManualClock } from '../../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/databases.js';

/**
 * Digest needs only HA1, never the password: whoever read HA1 from a copy of the database could register the device.
 * Stored sealed, the column's value registers nothing. A REGISTER over real UDP on loopback to the registrar, with
 * the digest computed from the raw stored value, is refused; the same exchange with the true HA1 (the control) binds.
 */
let db: TestDatabase;
let services: Services;
let registrar: Registrar;
let server: SipStack;
let client: SipStack;
let sipPort: number;

before(async () => {
  db = await createTestDatabase('sqlite');
  services = createServices(createStore(db.database), { clock: new ManualClock(), defaultCountry: 'US', keyCacheTtlMs: 0 });
  registrar = new Registrar({ lookup: (username) => services.extensions.credentialsFor(username) });
  server = new SipStack({ host: '127.0.0.1', port: 0 });
  new SipUserAgent(server, {
    onInvite: (incoming) => void incoming.respond(480, 'Temporarily Unavailable'),
    onRegister: (incoming) => void registrar.handle(incoming),
  });
  sipPort = await server.start();
  client = new SipStack({ host: '127.0.0.1', port: 0 });
  await client.start();
});
after(async () => {
  registrar.close();
  await client.stop();
  await server.stop();
  await db.close();
});

function send(username: string, cseq: number, callId: string, authorization?: string): Promise<SipResponse> {
  const uri = (user: string | undefined, port: number | undefined): SipUri => ({
    scheme: 'sip',
    user,
    password: undefined,
    host: '127.0.0.1',
    port,
    params: [],
    headers: [],
  });
  const via = client.transports.local('udp');
  const request = buildRequest({
    method: 'REGISTER',
    uri: `sip:127.0.0.1:${sipPort}`,
    from: { displayName: undefined, uri: uri(username, undefined), params: [['tag', newTag()]] },
    to: { displayName: undefined, uri: uri(username, undefined), params: [] },
    callId,
    cseq,
    via,
    contact: uri(username, via.port),
    headers: [{ name: 'Expires', value: '60' }, ...(authorization ? [{ name: 'Authorization', value: authorization }] : [])],
  });
  return new Promise((resolve, reject) => {
    client.request(request, { transport: 'udp', address: '127.0.0.1', port: sipPort }, {
      onResponse: (response) => {
        if (response.status >= 200) resolve(response);
      },
      onTimeout: () => reject(new Error('REGISTER timed out')),
      onTransportError: (error) => reject(error),
    });
  });
}

/** REGISTER, the 401 challenge, and the REGISTER answering it with a digest computed from `ha1`: the final status. */
async function registerWith(username: string, ha1: string): Promise<number> {
  const callId = newCallId('127.0.0.1');
  const challenged = await send(username, 1, callId);
  assert.equal(challenged.status, 401);
  const challenge = parseAuthChallenge(getHeader(challenged, 'WWW-Authenticate') ?? '');
  const uri = `sip:127.0.0.1:${sipPort}`;
  const cnonce = randomBytes(8).toString('hex');
  const nonce = challenge.params.nonce!;
  const response = expectedDigestResponse({ ha1, nonce, method: 'REGISTER', uri, qop: 'auth', nc: '00000001', cnonce });
  const authorization = formatDigestCredentials({
    username,
    realm: challenge.params.realm!,
    nonce,
    uri,
    response,
    algorithm: 'MD5',
    qop: 'auth',
    nc: '00000001',
    cnonce,
    ...(challenge.params.opaque !== undefined ? { opaque: challenge.params.opaque } : {}),
  });
  return (await send(username, 2, callId, authorization)).status;
}

test('a digest computed from the HA1 column as stored is refused; the true HA1 registers', async () => {
  const accountId = (await services.accounts.create({ name: 'Reg', email: 'reg@example.com' })).account.id;
  const extensionId = (await services.extensions.create(accountId, { name: 'Desk' })).id;
  const { device, password } = await services.extensions.addDevice(accountId, extensionId);
  const stored = await db.database.db.selectFrom('devices').select('ha1').where('id', '=', device.id).executeTakeFirstOrThrow();

  assert.equal(await registerWith(device.username, stored.ha1), 403, 'the value read from the database does not register');
  assert.deepEqual(registrar.contactsFor([device.id]), []);

  assert.equal(await registerWith(device.username, digestHa1(device.username, device.realm, password)), 200, 'the control: the true HA1 does');
  assert.equal(registrar.contactsFor([device.id]).length, 1);
});
