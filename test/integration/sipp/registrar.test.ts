import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createServices, type Services } from '../../../src/core/services.js';
import { Registrar } from '../../../src/sip/registrar.js';
import { buildRequest } from '../../../src/sip/ua/build.js';
import { newCallId, newTag } from '../../../src/sip/ua/ids.js';
import { SipStack } from '../../../src/sip/ua/sip-stack.js';
import { SipUserAgent } from '../../../src/sip/ua/user-agent.js';
import { createStore } from '../../../src/store/store.js';
import { ManualClock } from '../../helpers/app.js';
import { describeWithBaresip, startBaresip } from '../../helpers/baresip.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/databases.js';
import { describeSippResult, describeWithSipp, parseSippMessages, sipHeader, sippFlow, startSipp } from '../../helpers/sipp.js';

/**
 * Real SIP clients register with the registrar on a real SipStack, against devices created through ExtensionService
 * on SQLite: SIPp (its [authentication] answers the 401 with -au / -ap) and baresip (an account line with auth_pass).
 */
let db: TestDatabase;
let services: Services;
let stack: SipStack;
let registrar: Registrar;
let sipPort: number;
let accountId: string;
let extensionId: string;

before(async () => {
  db = await createTestDatabase('sqlite');
  services = createServices(createStore(db.database), { clock: new ManualClock(), defaultCountry: 'US', keyCacheTtlMs: 0 });
  accountId = (await services.accounts.create({ name: 'Reg', email: 'reg@example.com' })).account.id;
  extensionId = (await services.extensions.create(accountId, { name: 'Desk' })).id;
  registrar = new Registrar({ lookup: (username) => services.extensions.credentialsFor(username) });
  stack = new SipStack({ host: '127.0.0.1', port: 0 });
  new SipUserAgent(stack, {
    onInvite: (incoming) => void incoming.respond(480, 'Temporarily Unavailable'),
    onRegister: (incoming) => void registrar.handle(incoming),
  });
  sipPort = await stack.start();
});
after(async () => {
  registrar.close();
  await stack.stop();
  await db.close();
});

async function newDevice(username?: string) {
  return services.extensions.addDevice(accountId, extensionId, username === undefined ? {} : { username });
}

async function waitFor<T>(read: () => T, done: (value: T) => boolean, ms = 5_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

await describeWithSipp('SIPp registers with Dialplane', () => {
  for (const transport of ['udp', 'tcp'] as const) {
    test(`[${transport}] REGISTER, 401, REGISTER with credentials, 200; the binding keeps the flow; Contact: * removes it`, async (t) => {
      const { device, password } = await newDevice();
      const uac = await startSipp({
        scenario: 'uac-register-auth.xml',
        transport,
        remote: `127.0.0.1:${sipPort}`,
        authUser: device.username,
        authPassword: password,
        keys: { user: device.username, expires: 120, hold_ms: 1_500 },
        t,
      });
      const bound = await waitFor(() => registrar.contactsFor([device.id]), (c) => c.length > 0);
      assert.equal(bound.length, 1, 'SIPp registered');
      const [contact] = bound;
      assert.equal(contact?.transport, transport);
      assert.equal(contact?.address, '127.0.0.1');
      assert.equal(contact?.accountId, accountId);
      assert.deepEqual(registrar.contactsForExtension(extensionId).map((c) => c.deviceId), [device.id]);
      if (transport === 'udp') {
        assert.equal(contact?.port, uac.port, 'the flow is where the REGISTER came from');
        assert.equal(contact?.uri, `sip:${device.username}@127.0.0.1:${uac.port};transport=UDP`);
      }

      const result = await uac.done;
      assert.equal(result.code, 0, describeSippResult(result));
      assert.deepEqual(
        sippFlow(result).filter((line) => !line.includes(' 100 ')),
        [
          `> REGISTER sip:127.0.0.1:${sipPort} SIP/2.0`,
          '< SIP/2.0 401 Unauthorized',
          `> REGISTER sip:127.0.0.1:${sipPort} SIP/2.0`,
          '< SIP/2.0 200 OK',
          `> REGISTER sip:127.0.0.1:${sipPort} SIP/2.0`,
          '< SIP/2.0 401 Unauthorized',
          `> REGISTER sip:127.0.0.1:${sipPort} SIP/2.0`,
          '< SIP/2.0 200 OK',
        ],
        describeSippResult(result),
      );
      const received = parseSippMessages(result.messages).filter((m) => m.direction === 'received');
      const challenge = sipHeader(received[0]?.text ?? '', 'WWW-Authenticate') ?? '';
      assert.match(challenge, /^Digest realm="dialplane", nonce="[A-Za-z0-9_-]{43}", algorithm=MD5, qop="auth"$/);
      assert.match(sipHeader(received[1]?.text ?? '', 'Contact') ?? '', /;expires=(120|119)$/);
      assert.equal(sipHeader(received[3]?.text ?? '', 'Contact'), undefined, 'the last 200 lists no binding');
      assert.deepEqual(registrar.contactsFor([device.id]), []);
    });
  }

  test('[udp] a wrong password is 403 after the challenge, and binds nothing', async (t) => {
    const { device } = await newDevice();
    const uac = await startSipp({
      scenario: 'uac-register-auth.xml',
      remote: `127.0.0.1:${sipPort}`,
      authUser: device.username,
      authPassword: 'not-the-password',
      keys: { user: device.username, expires: 120, hold_ms: 0 },
      t,
    });
    const result = await uac.done;
    assert.equal(result.code, 0, describeSippResult(result));
    assert.deepEqual(sippFlow(result).slice(-2), [`> REGISTER sip:127.0.0.1:${sipPort} SIP/2.0`, '< SIP/2.0 403 Forbidden']);
    assert.deepEqual(registrar.contactsFor([device.id]), []);
  });

  test('[udp] an unknown username is 403 after the challenge', async (t) => {
    const uac = await startSipp({
      scenario: 'uac-register-auth.xml',
      remote: `127.0.0.1:${sipPort}`,
      authUser: 'nobody-at-all',
      authPassword: 'whatever-password',
      keys: { user: 'nobody-at-all', expires: 120, hold_ms: 0 },
      t,
    });
    const result = await uac.done;
    assert.equal(result.code, 0, describeSippResult(result));
    assert.deepEqual(sippFlow(result).filter((l) => !l.includes(' 100 ')).slice(-3), [
      '< SIP/2.0 401 Unauthorized',
      `> REGISTER sip:127.0.0.1:${sipPort} SIP/2.0`,
      '< SIP/2.0 403 Forbidden',
    ]);
  });

  test('[udp] Expires below 60 s is refused with 423 and Min-Expires: 60', async (t) => {
    const { device, password } = await newDevice();
    const uac = await startSipp({
      scenario: 'uac-register-auth.xml',
      remote: `127.0.0.1:${sipPort}`,
      authUser: device.username,
      authPassword: password,
      keys: { user: device.username, expires: 30, hold_ms: 0 },
      timeoutSeconds: 3,
      t,
    });
    const result = await uac.done;
    assert.notEqual(result.code, 0, 'the scenario expects 200 or 403, and gets 423');
    const refused = parseSippMessages(result.messages).find((m) => m.startLine.startsWith('SIP/2.0 423'));
    assert.ok(refused, describeSippResult(result));
    assert.equal(sipHeader(refused.text, 'Min-Expires'), '60');
    assert.deepEqual(registrar.contactsFor([device.id]), []);
  });
});

await describeWithBaresip('baresip registers with Dialplane', () => {
  test('an account line with auth_pass registers; the binding reaches the phone; baresip unregisters when it stops', async (t) => {
    const { device, password } = await newDevice();
    const phone = await startBaresip({ user: 'unregistered', t, maxSeconds: 30 });
    const created = await phone.command(
      'uanew',
      `<sip:${device.username}@127.0.0.1:${sipPort};transport=udp>;auth_pass=${password};regint=60`,
    );
    assert.ok(created.ok, `uanew: ${created.data}\n${phone.output().slice(-2000)}`);
    await phone.waitRegistered();
    const [contact, ...more] = registrar.contactsFor([device.id]);
    assert.ok(contact, phone.output().slice(-2000));
    assert.deepEqual(more, []);
    assert.deepEqual([contact.transport, contact.address, contact.port], ['udp', '127.0.0.1', phone.port]);
    assert.ok(contact.expiresAt - Date.now() > 55_000, 'granted about 60 s');

    // What a forked INVITE will do: a request to the Contact URI, sent over the registered flow, reaches the phone.
    const options = buildRequest({
      method: 'OPTIONS',
      uri: contact.uri,
      from: { displayName: undefined, uri: { scheme: 'sip', user: 'dialplane', password: undefined, host: '127.0.0.1', port: sipPort, params: [], headers: [] }, params: [['tag', newTag()]] },
      to: { displayName: undefined, uri: { scheme: 'sip', user: device.username, password: undefined, host: '127.0.0.1', port: undefined, params: [], headers: [] }, params: [] },
      callId: newCallId('127.0.0.1'),
      cseq: 1,
      via: stack.transports.local('udp'),
    });
    const status = await new Promise<number>((resolve) => {
      stack.request(options, { transport: contact.transport, address: contact.address, port: contact.port }, {
        onResponse: (response) => {
          if (response.status >= 200) resolve(response.status);
        },
        onTimeout: () => resolve(408),
        onTransportError: () => resolve(503),
      });
    });
    assert.equal(status, 200);

    await phone.stop();
    const left = await waitFor(() => registrar.contactsFor([device.id]), (c) => c.length === 0, 3_000);
    assert.deepEqual(left, [], 'baresip sent its REGISTER with expires 0 on the way out');
  });
});
