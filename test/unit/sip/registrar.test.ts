import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { DigestSession, formatDigestCredentials } from '../../../src/sip/auth/digest.js';
import { getHeader, getHeaders, parseAuthChallenge, parseNameAddr } from '../../../src/sip/message/headers.js';
import { serializeMessage } from '../../../src/sip/message/serializer.js';
import type { SipHeader, SipRequest, SipResponse } from '../../../src/sip/message/types.js';
import { VirtualTimers } from '../../../src/sip/transaction/timers.js';
import type { SipEndpoint } from '../../../src/sip/transport/types.js';
import { Registrar, type RegisterLockout, type RegistrarBindingStore, type RegistrarCredentials, type RegistrarTimerName, type StoredBinding } from '../../../src/sip/registrar.js';
import { buildResponse } from '../../../src/sip/ua/build.js';
import type { IncomingRequest, SipStack, SipStackHandlers } from '../../../src/sip/ua/sip-stack.js';
import { SipUserAgent } from '../../../src/sip/ua/user-agent.js';

const md5 = (s: string): string => createHash('md5').update(s).digest('hex');
const REGISTRAR_URI = 'sip:127.0.0.1:5060';

interface Device {
  readonly username: string;
  readonly password: string;
  readonly credentials: RegistrarCredentials;
}

function device(username: string, password: string, deviceId: string, extensionId = 'ext_a', accountId = 'acct_a'): Device {
  return { username, password, credentials: { deviceId, accountId, extensionId, ha1: md5(`${username}:dialplane:${password}`), realm: 'dialplane' } };
}

const ALICE = device('alice', 'alice-password-0123456789', 'dev_alice');
const ALICE_DESK = device('alice.desk', 'desk-password-0123456789', 'dev_desk');
const BOB = device('bob', 'bob-password-0123456789ab', 'dev_bob', 'ext_b', 'acct_b');

/** A registrar on virtual time, with a directory of the devices above. */
function setup(
  options: {
    lookup?: (username: string) => Promise<RegistrarCredentials | undefined>;
    onError?: (e: unknown) => void;
    bindings?: RegistrarBindingStore;
    timers?: VirtualTimers<RegistrarTimerName>;
    lockout?: RegisterLockout;
  } = {},
) {
  const timers = options.timers ?? new VirtualTimers<RegistrarTimerName>();
  const directory = new Map([ALICE, ALICE_DESK, BOB].map((d) => [d.username, d.credentials]));
  const registrar = new Registrar({
    lookup: options.lookup ?? (async (username) => directory.get(username)),
    timers,
    now: () => timers.now,
    ...(options.onError ? { onError: options.onError } : {}),
    ...(options.bindings ? { bindings: options.bindings } : {}),
    ...(options.lockout ? { lockout: options.lockout } : {}),
  });
  return { registrar, timers };
}

let cseqCounter = 0;

interface RegisterSpec {
  readonly user: string;
  readonly contacts?: readonly string[];
  readonly expires?: number | string;
  readonly authorization?: string;
  readonly callId?: string;
  readonly cseq?: number;
  readonly source?: SipEndpoint;
  readonly uri?: string;
  readonly to?: string;
  readonly extraHeaders?: readonly SipHeader[];
}

const SOURCE: SipEndpoint = { transport: 'udp', address: '127.0.0.1', port: 40_000 };

function registerRequest(spec: RegisterSpec): SipRequest {
  const headers: SipHeader[] = [
    { name: 'Via', value: `SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK${++cseqCounter}x;rport` },
    { name: 'Max-Forwards', value: '70' },
    { name: 'From', value: `<sip:${spec.user}@127.0.0.1>;tag=f${cseqCounter}` },
    { name: 'To', value: spec.to ?? `<sip:${spec.user}@127.0.0.1>` },
    { name: 'Call-ID', value: spec.callId ?? `call-${spec.user}` },
    { name: 'CSeq', value: `${spec.cseq ?? cseqCounter} REGISTER` },
    ...(spec.contacts ?? []).map((value) => ({ name: 'Contact', value })),
    ...(spec.expires !== undefined ? [{ name: 'Expires', value: String(spec.expires) }] : []),
    ...(spec.authorization !== undefined ? [{ name: 'Authorization', value: spec.authorization }] : []),
    ...(spec.extraHeaders ?? []),
    { name: 'Content-Length', value: '0' },
  ];
  return { kind: 'request', method: 'REGISTER', uri: spec.uri ?? REGISTRAR_URI, headers, body: Buffer.alloc(0) };
}

/** Hands one request to the registrar; resolves with its one final response. */
async function send(registrar: Registrar, request: SipRequest, source: SipEndpoint = SOURCE): Promise<SipResponse> {
  const responses: SipResponse[] = [];
  const incoming: IncomingRequest = {
    request,
    source,
    local: { transport: source.transport, address: '127.0.0.1', port: 5060 },
    respond: (status, reason, spec) => {
      const response = buildResponse(request, status, reason, spec);
      responses.push(response);
      return response;
    },
    sendRaw: () => assert.fail('the registrar sends through respond only'),
  };
  await registrar.handle(incoming);
  assert.equal(responses.length, 1, 'exactly one final response');
  return responses[0]!;
}

/** A device's REGISTER as a UA sends it: once without credentials, then answering the 401. */
async function register(
  registrar: Registrar,
  who: Device,
  spec: Omit<RegisterSpec, 'user' | 'authorization'> & { password?: string; session?: DigestSession } = {},
): Promise<SipResponse> {
  const first = await send(registrar, registerRequest({ ...spec, user: who.username }), spec.source);
  assert.equal(first.status, 401);
  const session = spec.session ?? new DigestSession({ username: who.username, password: spec.password ?? who.password });
  const challenge = parseAuthChallenge(getHeader(first, 'WWW-Authenticate') ?? '');
  const credentials = session.respond(challenge, 'REGISTER', spec.uri ?? REGISTRAR_URI);
  return send(registrar, registerRequest({ ...spec, user: who.username, authorization: formatDigestCredentials(credentials) }), spec.source);
}

/** The Contacts of a 200 and their expires. */
function granted(response: SipResponse): Array<{ uri: string; expires: string | null | undefined }> {
  return getHeaders(response, 'Contact').map((value) => {
    const contact = parseNameAddr(value);
    return { uri: value.slice(1, value.indexOf('>')), expires: contact.params.find(([n]) => n === 'expires')?.[1] };
  });
}

describe('registrar: challenge and verification', () => {
  test('a REGISTER without credentials is challenged: 401, MD5, qop="auth", realm dialplane, a To tag', async () => {
    const { registrar } = setup();
    const response = await send(registrar, registerRequest({ user: 'alice', contacts: ['<sip:alice@192.168.1.20:5060>'] }));
    assert.equal(response.status, 401);
    const challenge = parseAuthChallenge(getHeader(response, 'WWW-Authenticate') ?? '');
    assert.equal(challenge.scheme, 'Digest');
    assert.equal(challenge.params.realm, 'dialplane');
    assert.equal(challenge.params.algorithm, 'MD5');
    assert.equal(challenge.params.qop, 'auth');
    assert.match(getHeader(response, 'To') ?? '', /;tag=/);
    assert.equal(registrar.size, 0);
  });

  test('the right password registers: 200 lists the Contact with its expires; the binding keeps the source flow', async () => {
    const { registrar } = setup();
    const response = await register(registrar, ALICE, { contacts: ['<sip:alice@192.168.1.20:5060>'], expires: 600 });
    assert.equal(response.status, 200, response.reason);
    assert.deepEqual(granted(response), [{ uri: 'sip:alice@192.168.1.20:5060', expires: '600' }]);
    assert.ok(getHeader(response, 'Date'));
    assert.deepEqual(registrar.contactsFor(['dev_alice']), [
      {
        deviceId: 'dev_alice',
        accountId: 'acct_a',
        extensionId: 'ext_a',
        uri: 'sip:alice@192.168.1.20:5060',
        transport: 'udp',
        address: '127.0.0.1',
        port: 40_000,
        expiresAt: 600_000,
      },
    ]);
  });

  test('a wrong password after the challenge is 403, and so is an unknown user; nothing is bound', async () => {
    const { registrar } = setup();
    const wrong = await register(registrar, ALICE, { contacts: ['<sip:alice@192.168.1.20>'], password: 'guess' });
    assert.equal(wrong.status, 403);
    const stranger = device('mallory', 'whatever-password-000000', 'dev_x');
    const unknown = await register(registrar, stranger, { contacts: ['<sip:mallory@192.168.1.66>'] });
    assert.equal(unknown.status, 403);
    assert.equal(registrar.size, 0);
  });

  test('an expired nonce with the right password gets 401 stale=true, and the fresh nonce registers', async () => {
    const { registrar, timers } = setup();
    const first = await send(registrar, registerRequest({ user: 'alice', contacts: ['<sip:alice@192.168.1.20>'] }));
    const session = new DigestSession({ username: 'alice', password: ALICE.password });
    const old = session.respond(parseAuthChallenge(getHeader(first, 'WWW-Authenticate') ?? ''), 'REGISTER', REGISTRAR_URI);
    timers.advance(5 * 60_000 + 1);
    const stale = await send(registrar, registerRequest({ user: 'alice', contacts: ['<sip:alice@192.168.1.20>'], authorization: formatDigestCredentials(old) }));
    assert.equal(stale.status, 401);
    const challenge = parseAuthChallenge(getHeader(stale, 'WWW-Authenticate') ?? '');
    assert.equal(challenge.params.stale, 'true');
    const fresh = session.respond(challenge, 'REGISTER', REGISTRAR_URI);
    const ok = await send(registrar, registerRequest({ user: 'alice', contacts: ['<sip:alice@192.168.1.20>'], authorization: formatDigestCredentials(fresh) }));
    assert.equal(ok.status, 200);
  });

  test('a replayed Authorization (same nonce and nc) is challenged again, never accepted twice', async () => {
    const { registrar } = setup();
    const first = await send(registrar, registerRequest({ user: 'alice', contacts: ['<sip:alice@192.168.1.20>'] }));
    const session = new DigestSession({ username: 'alice', password: ALICE.password });
    const header = formatDigestCredentials(session.respond(parseAuthChallenge(getHeader(first, 'WWW-Authenticate') ?? ''), 'REGISTER', REGISTRAR_URI));
    const spec = { user: 'alice', contacts: ['<sip:alice@192.168.1.20>'], authorization: header, callId: 'replay' };
    assert.equal((await send(registrar, registerRequest({ ...spec, cseq: 10 }))).status, 200);
    const replayed = await send(registrar, registerRequest({ ...spec, cseq: 11 }));
    assert.equal(replayed.status, 401);
    // Preemptive credentials with the next nc (what a refreshing UA sends) are fine.
    const next = session.authorize('dialplane', 'REGISTER', REGISTRAR_URI);
    assert.ok(next);
    assert.equal((await send(registrar, registerRequest({ ...spec, authorization: formatDigestCredentials(next), cseq: 12 }))).status, 200);
  });

  test('credentials are refused for another address-of-record, a malformed header, or another Request-URI', async () => {
    const { registrar } = setup();
    const other = await register(registrar, ALICE, { contacts: ['<sip:alice@192.168.1.20>'], to: '<sip:bob@127.0.0.1>' });
    assert.equal(other.status, 403);
    const malformed = await send(registrar, registerRequest({ user: 'alice', authorization: 'Digest username="alice", nonce=' }));
    assert.equal(malformed.status, 400);
    const first = await send(registrar, registerRequest({ user: 'alice' }));
    const creds = new DigestSession({ username: 'alice', password: ALICE.password }).respond(
      parseAuthChallenge(getHeader(first, 'WWW-Authenticate') ?? ''),
      'REGISTER',
      'sip:127.0.0.1:5099',
    );
    const elsewhere = await send(registrar, registerRequest({ user: 'alice', authorization: formatDigestCredentials(creds) }));
    assert.equal(elsewhere.status, 400);
    assert.equal(registrar.size, 0);
  });

  test('a To header that does not parse is 400, answered without a tag', async () => {
    const { registrar } = setup();
    const response = await send(registrar, registerRequest({ user: 'alice', to: '<sip:alice@127.0.0.1' }));
    assert.equal(response.status, 400);
  });

  test('Basic credentials are ignored (challenged), credentials for another realm are challenged', async () => {
    const { registrar } = setup();
    const basic = await send(registrar, registerRequest({ user: 'alice', authorization: 'Basic YWxpY2U6c2VjcmV0' }));
    assert.equal(basic.status, 401);
    const otherRealm = await send(
      registrar,
      registerRequest({
        user: 'alice',
        authorization:
          'Digest username="alice", realm="elsewhere", nonce="n", uri="sip:127.0.0.1:5060", response="00000000000000000000000000000000", qop=auth, nc=00000001, cnonce="c"',
      }),
    );
    assert.equal(otherRealm.status, 401);
  });

  test('a failing directory answers 500 and is reported; nothing secret is in any response', async () => {
    const errors: unknown[] = [];
    const { registrar } = setup({ lookup: async () => Promise.reject(new Error('database down')), onError: (e) => errors.push(e) });
    const response = await register(registrar, ALICE, { contacts: ['<sip:alice@192.168.1.20>'] }).catch(() => undefined);
    assert.equal(response?.status, 500);
    assert.equal(errors.length, 1);

    const ok = setup();
    const granted200 = await register(ok.registrar, ALICE, { contacts: ['<sip:alice@192.168.1.20>'] });
    const text = serializeMessage(granted200).toString('latin1');
    assert.ok(!text.includes(ALICE.credentials.ha1) && !text.includes(ALICE.password));
  });
});

describe('registrar: bindings on virtual time', () => {
  test('a binding expires by its timer; a refresh before then pushes the expiry out', async () => {
    const { registrar, timers } = setup();
    await register(registrar, ALICE, { contacts: ['<sip:alice@192.168.1.20:5060>'], expires: 120 });
    assert.deepEqual(timers.active(), ['registrar.expiry']);
    timers.advance(100_000);
    const refreshed = await register(registrar, ALICE, { contacts: ['<sip:alice@192.168.1.20:5060>'], expires: 120 });
    assert.deepEqual(granted(refreshed), [{ uri: 'sip:alice@192.168.1.20:5060', expires: '120' }]);
    assert.deepEqual(timers.active(), ['registrar.expiry'], 'the old timer was cancelled');
    timers.advance(119_000);
    assert.equal(registrar.contactsFor(['dev_alice']).length, 1, 'still bound 219 s after the first REGISTER');
    timers.advance(1_000);
    assert.deepEqual(registrar.contactsFor(['dev_alice']), []);
    assert.equal(registrar.size, 0);
    assert.deepEqual(timers.active(), []);
  });

  test('expires: the Contact parameter beats the Expires header, the default is 3600, more is cut to 3600', async () => {
    const { registrar } = setup();
    const response = await register(registrar, ALICE, {
      contacts: ['<sip:alice@192.168.1.20:5060>;expires=300', '<sip:alice@192.168.1.20:5062>'],
      expires: 900,
    });
    assert.deepEqual(granted(response), [
      { uri: 'sip:alice@192.168.1.20:5060', expires: '300' },
      { uri: 'sip:alice@192.168.1.20:5062', expires: '900' },
    ]);
    const defaults = await register(registrar, ALICE_DESK, { contacts: ['<sip:desk@192.168.1.30>'] });
    assert.deepEqual(granted(defaults), [{ uri: 'sip:desk@192.168.1.30', expires: '3600' }]);
    const capped = await register(registrar, BOB, { contacts: ['<sip:bob@192.168.1.40>;expires=86400'] });
    assert.deepEqual(granted(capped), [{ uri: 'sip:bob@192.168.1.40', expires: '3600' }]);
  });

  test('below 60 s (not 0) is 423 with Min-Expires: 60, and binds nothing', async () => {
    const { registrar } = setup();
    const brief = await register(registrar, ALICE, { contacts: ['<sip:alice@192.168.1.20>'], expires: 30 });
    assert.equal(brief.status, 423);
    assert.equal(getHeader(brief, 'Min-Expires'), '60');
    assert.equal(registrar.size, 0);
    const param = await register(registrar, ALICE, { contacts: ['<sip:alice@192.168.1.20>;expires=59'] });
    assert.equal(param.status, 423);
  });

  test('expires 0 removes that Contact only; the 200 lists what remains', async () => {
    const { registrar } = setup();
    await register(registrar, ALICE, { contacts: ['<sip:alice@192.168.1.20:5060>', '<sip:alice@192.168.1.20:5062>'], expires: 600 });
    assert.equal(registrar.contactsFor(['dev_alice']).length, 2);
    const removed = await register(registrar, ALICE, { contacts: ['<sip:alice@192.168.1.20:5060>;expires=0'] });
    assert.deepEqual(granted(removed).map((c) => c.uri), ['sip:alice@192.168.1.20:5062']);
    assert.deepEqual(registrar.contactsFor(['dev_alice']).map((c) => c.uri), ['sip:alice@192.168.1.20:5062']);
  });

  test('Contact: * with Expires: 0 removes every binding; without Expires: 0, or with other Contacts, it is 400', async () => {
    const { registrar, timers } = setup();
    await register(registrar, ALICE, { contacts: ['<sip:alice@192.168.1.20:5060>', '<sip:alice@192.168.1.20:5062>'] });
    await register(registrar, ALICE_DESK, { contacts: ['<sip:desk@192.168.1.30>'] });
    assert.equal((await register(registrar, ALICE, { contacts: ['*'] })).status, 400);
    assert.equal((await register(registrar, ALICE, { contacts: ['*'], expires: 60 })).status, 400);
    assert.equal((await register(registrar, ALICE, { contacts: ['*', '<sip:alice@192.168.1.20>'], expires: 0 })).status, 400);
    const all = await register(registrar, ALICE, { contacts: ['*'], expires: 0 });
    assert.equal(all.status, 200);
    assert.deepEqual(granted(all), []);
    assert.deepEqual(registrar.contactsFor(['dev_alice']), []);
    assert.equal(registrar.contactsFor(['dev_desk']).length, 1, "another device's bindings stay");
    assert.deepEqual(timers.active(), ['registrar.expiry']);
  });

  test('a REGISTER without Contact is a query: 200 with the current bindings and what they have left', async () => {
    const { registrar, timers } = setup();
    await register(registrar, ALICE, { contacts: ['<sip:alice@192.168.1.20>'], expires: 600 });
    timers.advance(100_000);
    const query = await register(registrar, ALICE);
    assert.deepEqual(granted(query), [{ uri: 'sip:alice@192.168.1.20', expires: '500' }]);
  });

  test('an older REGISTER of the same Call-ID (CSeq not higher) changes nothing: 500', async () => {
    const { registrar } = setup();
    assert.equal((await register(registrar, ALICE, { contacts: ['<sip:alice@192.168.1.20>'], callId: 'c1', cseq: 50 })).status, 200);
    const late = await register(registrar, ALICE, { contacts: ['<sip:alice@192.168.1.20>;expires=0'], callId: 'c1', cseq: 50 });
    assert.equal(late.status, 500);
    assert.equal(registrar.contactsFor(['dev_alice']).length, 1);
    const otherCall = await register(registrar, ALICE, { contacts: ['<sip:alice@192.168.1.20>;expires=0'], callId: 'c2', cseq: 1 });
    assert.equal(otherCall.status, 200, 'a new Call-ID (the phone restarted) is not out of order');
    assert.equal(registrar.size, 0);
  });

  test('contactsForExtension and contactsFor find every device of an extension, each over its own flow', async () => {
    const { registrar } = setup();
    const tcp: SipEndpoint = { transport: 'tcp', address: '127.0.0.1', port: 41_000 };
    await register(registrar, ALICE, { contacts: ['<sip:alice@192.168.1.20:5060>'] });
    await register(registrar, ALICE_DESK, { contacts: ['<sip:desk@192.168.1.30:5060;transport=tcp>'], source: tcp });
    await register(registrar, BOB, { contacts: ['<sip:bob@192.168.1.40>'] });
    const ringing = registrar.contactsForExtension('ext_a');
    assert.deepEqual(
      ringing.map((c) => [c.deviceId, c.uri, c.transport, c.port]),
      [
        ['dev_alice', 'sip:alice@192.168.1.20:5060', 'udp', 40_000],
        ['dev_desk', 'sip:desk@192.168.1.30:5060;transport=tcp', 'tcp', 41_000],
      ],
    );
    assert.deepEqual(registrar.contactsFor(['dev_desk', 'dev_bob', 'dev_none']).map((c) => c.deviceId), ['dev_desk', 'dev_bob']);
    assert.deepEqual(registrar.contactsForExtension('ext_b').map((c) => c.accountId), ['acct_b']);
    registrar.forgetDevice('dev_alice');
    assert.deepEqual(registrar.contactsForExtension('ext_a').map((c) => c.deviceId), ['dev_desk']);
  });

  test('the same +sip.instance on a new Contact replaces the old one; beyond 10 Contacts the soonest to expire goes', async () => {
    const { registrar } = setup();
    const instance = '"<urn:uuid:00000000-0000-0000-0000-000000000001>"';
    await register(registrar, ALICE, { contacts: [`<sip:alice@192.168.1.20:5060>;+sip.instance=${instance}`] });
    await register(registrar, ALICE, { contacts: [`<sip:alice@192.168.1.20:6000>;+sip.instance=${instance}`], callId: 'rebooted' });
    assert.deepEqual(registrar.contactsFor(['dev_alice']).map((c) => c.uri), ['sip:alice@192.168.1.20:6000']);

    const many = Array.from({ length: 11 }, (_, i) => `<sip:desk@192.168.1.30:${7000 + i}>;expires=${100 + i}`);
    const response = await register(registrar, ALICE_DESK, { contacts: many });
    assert.equal(response.status, 200);
    const ports = registrar.contactsFor(['dev_desk']).map((c) => c.uri.split(':').pop());
    assert.equal(ports.length, 10);
    assert.ok(!ports.includes('7000'), 'the binding closest to expiry made room');
  });

  test('close() cancels every timer and refuses later REGISTERs with 503', async () => {
    const { registrar, timers } = setup();
    await register(registrar, ALICE, { contacts: ['<sip:alice@192.168.1.20>'] });
    registrar.close();
    assert.deepEqual(timers.active(), []);
    assert.equal(registrar.size, 0);
    assert.equal((await send(registrar, registerRequest({ user: 'alice' }))).status, 503);
  });
});

/** A binding store in memory, as the database keeps it: by device and key; `log` lists the writes in order. */
class MemoryBindings implements RegistrarBindingStore {
  readonly rows = new Map<string, StoredBinding>();
  readonly log: string[] = [];
  fail = false;
  async load(now: number): Promise<StoredBinding[]> {
    return [...this.rows.values()].filter((b) => b.expiresAt > now);
  }
  async put(binding: StoredBinding): Promise<void> {
    if (this.fail) throw new Error('database down');
    this.log.push(`put ${binding.deviceId} ${binding.uri}`);
    this.rows.set(`${binding.deviceId}|${binding.key}`, binding);
  }
  async remove(deviceId: string, key: string): Promise<void> {
    this.log.push(`remove ${deviceId}`);
    this.rows.delete(`${deviceId}|${key}`);
  }
  async removeDevice(deviceId: string): Promise<void> {
    this.log.push(`removeDevice ${deviceId}`);
    for (const [id, b] of this.rows) if (b.deviceId === deviceId) this.rows.delete(id);
  }
}

describe('registrar: bindings kept across a restart', () => {
  test('a binding is stored before the 200; a new registrar restores it with the time it has left, over the same flow', async () => {
    const store = new MemoryBindings();
    const timers = new VirtualTimers<RegistrarTimerName>();
    const first = setup({ bindings: store, timers }).registrar;
    const source: SipEndpoint = { transport: 'tcp', address: '203.0.113.7', port: 51_000 };
    const ok = await register(first, ALICE, { contacts: ['<sip:alice@192.168.1.20:5060>', '<sip:alice@192.168.1.20:5062>'], expires: 300, source });
    assert.equal(ok.status, 200);
    assert.equal(store.rows.size, 2, 'both Contacts were stored when the 200 went out');
    first.close();
    assert.equal(store.rows.size, 2, 'closing (a shutdown) keeps what is stored');

    timers.advance(100_000);
    const { registrar } = setup({ bindings: store, timers });
    assert.equal(await registrar.restore(), 2);
    const contacts = registrar.contactsFor(['dev_alice']);
    assert.deepEqual(
      contacts.map((c) => [c.uri, c.transport, c.address, c.port, c.expiresAt]),
      [
        ['sip:alice@192.168.1.20:5060', 'tcp', '203.0.113.7', 51_000, 300_000],
        ['sip:alice@192.168.1.20:5062', 'tcp', '203.0.113.7', 51_000, 300_000],
      ],
    );
    assert.deepEqual(registrar.contactsFrom('203.0.113.7').length, 2, 'the INVITE gate knows the address again');
    timers.advance(200_000);
    assert.deepEqual(registrar.contactsFor(['dev_alice']), [], 'a restored binding still expires on time');
    await registrar.flushed();
    assert.equal(store.rows.size, 0, 'and is then removed from the store');
  });

  test('an expired binding is not restored; expires 0 and Contact: * remove stored bindings', async () => {
    const store = new MemoryBindings();
    const timers = new VirtualTimers<RegistrarTimerName>();
    const { registrar } = setup({ bindings: store, timers });
    await register(registrar, ALICE, { contacts: ['<sip:alice@192.168.1.20:5060>', '<sip:alice@192.168.1.20:5062>'], expires: 120 });
    await register(registrar, ALICE, { contacts: ['<sip:alice@192.168.1.20:5062>'], expires: 0 });
    assert.deepEqual([...store.rows.values()].map((b) => b.uri), ['sip:alice@192.168.1.20:5060']);
    await register(registrar, ALICE_DESK, { contacts: ['<sip:alice.desk@192.168.1.21>'], expires: 120 });
    const star = await register(registrar, ALICE_DESK, { contacts: ['*'], expires: 0 });
    assert.equal(star.status, 200);
    assert.deepEqual([...store.rows.values()].map((b) => b.deviceId), ['dev_alice']);
    registrar.close();

    timers.advance(121_000);
    const later = setup({ bindings: store, timers }).registrar;
    assert.equal(await later.restore(), 0, 'what expired while the server was down is not restored');
  });

  test('a failing store is reported and the device is still registered in memory', async () => {
    const store = new MemoryBindings();
    store.fail = true;
    const errors: unknown[] = [];
    const { registrar } = setup({ bindings: store, onError: (e) => errors.push(e) });
    const ok = await register(registrar, ALICE, { contacts: ['<sip:alice@192.168.1.20>'] });
    assert.equal(ok.status, 200);
    assert.equal(registrar.contactsFor(['dev_alice']).length, 1);
    assert.match(String(errors[0]), /database down/);
  });
});

describe('registrar: bindings another node made (adopt)', () => {
  test("takes the device's UDP bindings from the shared store, leaves TCP ones to their node, and writes nothing back", async () => {
    const shared = new MemoryBindings();
    const timers = new VirtualTimers<RegistrarTimerName>();
    const nodeA = setup({ bindings: shared, timers }).registrar;
    const tcp: SipEndpoint = { transport: 'tcp', address: '203.0.113.8', port: 52_000 };
    await register(nodeA, ALICE, { contacts: ['<sip:alice@192.168.1.20:5060>'], expires: 300 });
    await register(nodeA, ALICE_DESK, { contacts: ['<sip:desk@192.168.1.21:5060;transport=tcp>'], expires: 300, source: tcp });
    await nodeA.flushed();
    const writes = shared.log.length;

    const nodeB = setup({ bindings: new MemoryBindings(), timers }).registrar;
    nodeB.adopt('dev_alice', await shared.load(timers.now));
    nodeB.adopt('dev_desk', await shared.load(timers.now));
    assert.deepEqual(nodeB.contactsFor(['dev_alice']).map((c) => [c.uri, c.transport, c.address, c.port]), [['sip:alice@192.168.1.20:5060', 'udp', '127.0.0.1', 40_000]]);
    assert.deepEqual(nodeB.contactsFor(['dev_desk']), [], "a TCP flow is node A's connection: node B cannot send over it");

    // Alice unregisters through A: B adopts the store's (empty) set.
    await register(nodeA, ALICE, { contacts: ['<sip:alice@192.168.1.20:5060>'], expires: 0 });
    await nodeA.flushed();
    nodeB.adopt('dev_alice', await shared.load(timers.now));
    assert.deepEqual(nodeB.contactsFor(['dev_alice']), []);

    // An adopted binding expires on B without touching the store, where A's refreshed row lives on.
    await register(nodeA, ALICE, { contacts: ['<sip:alice@192.168.1.20:5060>'], expires: 60 });
    await nodeA.flushed();
    nodeB.adopt('dev_alice', await shared.load(timers.now));
    await register(nodeA, ALICE, { contacts: ['<sip:alice@192.168.1.20:5060>'], expires: 3_600 });
    await nodeA.flushed();
    const logBefore = shared.log.length;
    timers.advance(61_000);
    assert.deepEqual(nodeB.contactsFor(['dev_alice']), [], 'B, which missed the refresh, forgets the binding at its old expiry');
    assert.equal(shared.log.length, logBefore, 'and writes nothing');
    assert.equal(nodeA.contactsFor(['dev_alice']).length, 1);
    assert.ok(writes > 0);
  });

  test("a node's own binding is kept (and still written) when the store holds the same one", async () => {
    const store = new MemoryBindings();
    const timers = new VirtualTimers<RegistrarTimerName>();
    const { registrar } = setup({ bindings: store, timers });
    await register(registrar, ALICE, { contacts: ['<sip:alice@192.168.1.20:5060>'], expires: 60 });
    await registrar.flushed();
    registrar.adopt('dev_alice', await store.load(timers.now));
    timers.advance(61_000);
    await registrar.flushed();
    assert.equal(store.rows.size, 0, 'its expiry removes the row, as for any binding this node made');
  });
});

describe('user agent: REGISTER goes to onRegister', () => {
  function capture(onRegister?: (incoming: IncomingRequest) => void) {
    let handlers: SipStackHandlers | undefined;
    const stack = { setHandlers: (h: SipStackHandlers) => (handlers = h) } as unknown as SipStack;
    new SipUserAgent(stack, { onInvite: () => assert.fail('not an INVITE'), ...(onRegister ? { onRegister } : {}) });
    return (incoming: IncomingRequest) => handlers?.onRequest(incoming);
  }

  function incomingOf(request: SipRequest, out: SipResponse[]): IncomingRequest {
    return {
      request,
      source: SOURCE,
      local: SOURCE,
      respond: (status, reason, spec) => {
        const response = buildResponse(request, status, reason, spec);
        out.push(response);
        return response;
      },
      sendRaw: () => undefined,
    };
  }

  test('with onRegister, the REGISTER is handed over; without, it is 405 with Allow', () => {
    const seen: IncomingRequest[] = [];
    const out: SipResponse[] = [];
    capture((incoming) => seen.push(incoming))(incomingOf(registerRequest({ user: 'alice' }), out));
    assert.equal(seen.length, 1);
    assert.equal(out.length, 0);
    capture()(incomingOf(registerRequest({ user: 'alice' }), out));
    assert.equal(out[0]?.status, 405);
    assert.equal(getHeader(out[0]!, 'Allow'), 'INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO, PRACK, REFER, NOTIFY');
  });
});

describe('registrar: password guessing is locked out per device', () => {
  function lockoutSetup() {
    const events: string[] = [];
    const timers = new VirtualTimers<RegistrarTimerName>();
    const lockout: RegisterLockout = {
      failures: 20,
      windowMs: 60_000,
      lockoutMs: 300_000,
      onLockedOut: (username, source) => events.push(`locked ${username} ${source.address}`),
      onRefusedLocked: (username) => events.push(`refused ${username}`),
    };
    return { ...setup({ timers, lockout }), events };
  }
  const CONTACT = { contacts: ['<sip:alice@192.168.1.20:5060>'] };

  test('20 wrong passwords lock the device out: the right one is 403 until the lockout ends, then 200', async () => {
    const { registrar, timers, events } = lockoutSetup();
    for (let i = 0; i < 19; i++) assert.equal((await register(registrar, ALICE, { ...CONTACT, password: `guess-${i}` })).status, 403);
    assert.equal(registrar.isLockedOut('alice'), false);
    assert.deepEqual(events, []);
    assert.equal((await register(registrar, ALICE, { ...CONTACT, password: 'guess-19' })).status, 403);
    assert.equal(registrar.isLockedOut('alice'), true);
    assert.deepEqual(events, ['locked alice 127.0.0.1']);
    assert.equal((await register(registrar, ALICE, CONTACT)).status, 403, 'the right password is refused while locked out');
    assert.equal(registrar.size, 0);
    // Another device is not affected.
    assert.equal((await register(registrar, BOB, { contacts: ['<sip:bob@192.168.1.30:5060>'] })).status, 200);
    timers.advance(300_000);
    assert.equal(registrar.isLockedOut('alice'), false);
    assert.equal((await register(registrar, ALICE, CONTACT)).status, 200);
    assert.deepEqual(events, ['locked alice 127.0.0.1', 'refused alice']);
  });

  test('failures older than the window do not count, and a success clears them', async () => {
    const { registrar, timers } = lockoutSetup();
    for (let i = 0; i < 15; i++) await register(registrar, ALICE, { ...CONTACT, password: `guess-${i}` });
    timers.advance(60_001);
    for (let i = 0; i < 15; i++) await register(registrar, ALICE, { ...CONTACT, password: `guess-${i}` });
    assert.equal(registrar.isLockedOut('alice'), false);
    assert.equal((await register(registrar, ALICE, CONTACT)).status, 200);
    for (let i = 0; i < 19; i++) await register(registrar, ALICE, { ...CONTACT, password: `guess-${i}` });
    assert.equal(registrar.isLockedOut('alice'), false, 'the success reset the count');
  });

  test('without the option nothing is locked out', async () => {
    const { registrar } = setup();
    for (let i = 0; i < 25; i++) await register(registrar, ALICE, { ...CONTACT, password: `guess-${i}` });
    assert.equal((await register(registrar, ALICE, CONTACT)).status, 200);
  });
});
