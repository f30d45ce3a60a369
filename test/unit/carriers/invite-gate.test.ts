import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { InviteGate, type InviteRefusal } from '../../../src/carriers/invite-gate.js';
import { parseTrunks } from '../../../src/carriers/trunks.js';
import { DigestSession, formatDigestCredentials } from '../../../src/sip/auth/digest.js';
import { getHeader, parseAuthChallenge } from '../../../src/sip/message/headers.js';
import type { SipHeader, SipRequest, SipResponse } from '../../../src/sip/message/types.js';
import { Registrar, type RegistrarCredentials, type RegistrarTimerName } from '../../../src/sip/registrar.js';
import { VirtualTimers } from '../../../src/sip/transaction/timers.js';
import type { SipEndpoint } from '../../../src/sip/transport/types.js';
import { buildResponse } from '../../../src/sip/ua/build.js';
import type { IncomingRequest } from '../../../src/sip/ua/sip-stack.js';

const md5 = (s: string): string => createHash('md5').update(s).digest('hex');
const INVITE_URI = 'sip:+14155550161@198.51.100.1:5060';

const ALICE = { username: 'alice', password: 'alice-password-0123456789' };
const BOB = { username: 'bob', password: 'bob-password-0123456789ab' };
const directory = new Map<string, RegistrarCredentials>([
  ['alice', { deviceId: 'dev_alice', accountId: 'acct_a', extensionId: 'ext_a', ha1: md5(`alice:dialplane:${ALICE.password}`), realm: 'dialplane' }],
  ['bob', { deviceId: 'dev_bob', accountId: 'acct_b', extensionId: 'ext_b', ha1: md5(`bob:dialplane:${BOB.password}`), realm: 'dialplane' }],
]);

const PHONE: SipEndpoint = { transport: 'udp', address: '192.0.2.10', port: 5062 };
const STRANGER: SipEndpoint = { transport: 'udp', address: '192.0.2.66', port: 5060 };

let counter = 0;

function request(method: 'INVITE' | 'REGISTER', user: string, extra: readonly SipHeader[] = [], uri = INVITE_URI): SipRequest {
  counter++;
  const headers: SipHeader[] = [
    { name: 'Via', value: `SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK${counter}g` },
    { name: 'Max-Forwards', value: '70' },
    { name: 'From', value: `<sip:${user}@198.51.100.1>;tag=f${counter}` },
    { name: 'To', value: method === 'REGISTER' ? `<sip:${user}@198.51.100.1>` : `<${uri}>` },
    { name: 'Call-ID', value: `call-${counter}` },
    { name: 'CSeq', value: `${counter} ${method}` },
    ...(method === 'REGISTER' ? [{ name: 'Contact', value: `<sip:${user}@192.0.2.10:5062>` }, { name: 'Expires', value: '600' }] : []),
    ...extra,
    { name: 'Content-Length', value: '0' },
  ];
  return { kind: 'request', method, uri: method === 'REGISTER' ? 'sip:198.51.100.1' : uri, headers, body: Buffer.alloc(0) };
}

function incomingOf(req: SipRequest, source: SipEndpoint, responses: SipResponse[]): IncomingRequest {
  return {
    request: req,
    source,
    local: { transport: source.transport, address: '198.51.100.1', port: 5060 },
    respond: (status, reason, spec) => {
      const response = buildResponse(req, status, reason, spec);
      responses.push(response);
      return response;
    },
    sendRaw: () => assert.fail('the gate answers through respond only'),
  };
}

/** A registrar with alice registered from PHONE, a gate over it with one trunk, and what the gate reported. */
async function setup(trunkUri = 'sip:203.0.113.5:5060', options: { resolve?: (host: string) => Promise<readonly string[]> } = {}) {
  const timers = new VirtualTimers<RegistrarTimerName>();
  const registrar = new Registrar({ lookup: async (u) => directory.get(u), timers, now: () => timers.now });
  const registered: SipResponse[] = [];
  const first = request('REGISTER', 'alice');
  await registrar.handle(incomingOf(first, PHONE, registered));
  const session = new DigestSession(ALICE);
  const credentials = session.respond(parseAuthChallenge(getHeader(registered[0]!, 'WWW-Authenticate') ?? ''), 'REGISTER', 'sip:198.51.100.1');
  await registrar.handle(incomingOf(request('REGISTER', 'alice', [{ name: 'Authorization', value: formatDigestCredentials(credentials) }]), PHONE, registered));
  assert.equal(registered[1]?.status, 200, 'alice registered');

  const refused: InviteRefusal[] = [];
  const gate = new InviteGate({
    registrar,
    lookup: async (u) => directory.get(u),
    onRefused: (reason) => refused.push(reason),
    now: () => timers.now,
    ...(options.resolve ? { resolve: options.resolve } : {}),
  });
  gate.useTrunks(parseTrunks({ uri: trunkUri, username: undefined, password: undefined, register: false, callerIdFormat: 'e164', prefix: undefined }));
  const invite = async (source: SipEndpoint, extra: readonly SipHeader[] = []) => {
    const responses: SipResponse[] = [];
    const decision = await gate.admit(incomingOf(request('INVITE', 'caller', extra), source, responses));
    assert.ok(responses.length <= 1, 'at most one answer');
    return { decision, response: responses[0] };
  };
  /** An INVITE from `source`, challenged, then sent again with `who`'s digest (optionally as Proxy-Authorization). */
  const inviteAs = async (source: SipEndpoint, who: { username: string; password: string }, header = 'Authorization') => {
    const first = await invite(source);
    assert.equal(first.response?.status, 401);
    assert.deepEqual(first.decision, { kind: 'refused', reason: 'challenge' });
    const challenge = parseAuthChallenge(getHeader(first.response!, 'WWW-Authenticate') ?? '');
    const digest = new DigestSession(who).respond(challenge, 'INVITE', INVITE_URI);
    return invite(source, [{ name: header, value: formatDigestCredentials(digest) }]);
  };
  return { gate, registrar, timers, refused, invite, inviteAs };
}

describe('InviteGate: trunks', () => {
  test("an INVITE from the trunk's host is the trunk's, whatever the source port; nothing is answered", async () => {
    const { invite, refused } = await setup('sip:203.0.113.5:5070');
    for (const port of [5060, 5070, 41234]) {
      const { decision, response } = await invite({ transport: 'udp', address: '203.0.113.5', port });
      assert.deepEqual(decision, { kind: 'trunk', trunk: 'sip:203.0.113.5:5070' });
      assert.equal(response, undefined);
    }
    assert.deepEqual(refused, []);
  });

  test('inbound= ranges replace the host; IPv4 and IPv6 ranges, IPv4-mapped sources', async () => {
    const { invite, refused } = await setup('sip:203.0.113.5;inbound=198.51.100.0/24+2001:db8:5::/48, sip:127.0.0.1:5090');
    const from = async (address: string) => (await invite({ transport: 'udp', address, port: 5060 })).decision;
    assert.deepEqual(await from('198.51.100.77'), { kind: 'trunk', trunk: 'sip:203.0.113.5' });
    assert.equal((await from('::ffff:198.51.100.77')).kind, 'trunk');
    assert.equal((await from('2001:db8:5:ffff::1')).kind, 'trunk');
    assert.deepEqual(await from('127.0.0.1'), { kind: 'trunk', trunk: 'sip:127.0.0.1:5090' }, 'the second trunk by its host');
    assert.deepEqual(await from('203.0.113.5'), { kind: 'refused', reason: 'not_allowed' }, 'the host itself is no longer in');
    assert.deepEqual(await from('2001:db8:6::1'), { kind: 'refused', reason: 'not_allowed' });
    assert.deepEqual(refused, ['not_allowed', 'not_allowed']);
  });

  test("a trunk named by host name: the addresses it resolves to, looked up again after a minute", async () => {
    let addresses = ['203.0.113.5', '2001:db8::5'];
    let lookups = 0;
    const { invite, timers } = await setup('sip:carrier.example', {
      resolve: async (host) => {
        assert.equal(host, 'carrier.example');
        lookups++;
        return addresses;
      },
    });
    const from = async (address: string) => (await invite({ transport: 'udp', address, port: 5060 })).decision.kind;
    assert.equal(await from('2001:db8::5'), 'trunk');
    assert.equal(await from('203.0.113.5'), 'trunk');
    assert.equal(lookups, 1, 'cached');
    addresses = ['203.0.113.6'];
    timers.advance(60_000);
    assert.equal(await from('203.0.113.5'), 'refused');
    assert.equal(await from('203.0.113.6'), 'trunk');
    assert.equal(lookups, 2);
  });

  test('a failing lookup keeps the addresses known before', async () => {
    let fail = false;
    const { invite, timers } = await setup('sip:carrier.example', {
      resolve: async () => {
        if (fail) throw new Error('SERVFAIL');
        return ['203.0.113.5'];
      },
    });
    const from = async (address: string) => (await invite({ transport: 'udp', address, port: 5060 })).decision.kind;
    assert.equal(await from('203.0.113.5'), 'trunk');
    fail = true;
    timers.advance(61_000);
    assert.equal(await from('203.0.113.5'), 'trunk');
  });

  test('before the trunks are known an INVITE is answered 503 and not counted', async () => {
    const timers = new VirtualTimers<RegistrarTimerName>();
    const registrar = new Registrar({ lookup: async () => undefined, timers, now: () => timers.now });
    const refused: InviteRefusal[] = [];
    const gate = new InviteGate({ registrar, lookup: async () => undefined, onRefused: (r) => refused.push(r) });
    const responses: SipResponse[] = [];
    const decision = await gate.admit(incomingOf(request('INVITE', 'x'), STRANGER, responses));
    assert.deepEqual(decision, { kind: 'refused', reason: 'starting' });
    assert.equal(responses[0]?.status, 503);
    assert.deepEqual(refused, []);
  });
});

describe('InviteGate: strangers and devices', () => {
  test('a source that is no trunk and has no registration: 403 at once (no challenge), counted not_allowed', async () => {
    const { invite, refused } = await setup();
    const { decision, response } = await invite(STRANGER);
    assert.deepEqual(decision, { kind: 'refused', reason: 'not_allowed' });
    assert.equal(response?.status, 403);
    assert.equal(getHeader(response!, 'WWW-Authenticate'), undefined);
    assert.match(getHeader(response!, 'To') ?? '', /;tag=/);
    assert.deepEqual(refused, ['not_allowed']);
  });

  test("a stranger with a registered device's valid-looking credentials is still refused: it is not registered there", async () => {
    const { invite, refused } = await setup();
    // Credentials computed against a challenge the phone's address was given.
    const challenged = await invite(PHONE);
    const digest = new DigestSession(ALICE).respond(parseAuthChallenge(getHeader(challenged.response!, 'WWW-Authenticate') ?? ''), 'INVITE', INVITE_URI);
    const { decision, response } = await invite(STRANGER, [{ name: 'Authorization', value: formatDigestCredentials(digest) }]);
    assert.equal(response?.status, 403);
    assert.deepEqual(decision, { kind: 'refused', reason: 'not_allowed' });
    assert.deepEqual(refused, ['not_allowed']);
  });

  test('a registered device is challenged (401, realm dialplane, qop auth) and admitted with its credentials', async () => {
    const { inviteAs, refused } = await setup();
    const { decision, response } = await inviteAs(PHONE, ALICE);
    assert.deepEqual(decision, { kind: 'device', deviceId: 'dev_alice', accountId: 'acct_a', extensionId: 'ext_a' });
    assert.equal(response, undefined, 'the admitted INVITE is left to the call handler');
    assert.deepEqual(refused, []);
  });

  test('the same credentials in Proxy-Authorization are accepted too', async () => {
    const { inviteAs } = await setup();
    assert.equal((await inviteAs(PHONE, ALICE, 'Proxy-Authorization')).decision.kind, 'device');
  });

  test('the registration counts from another port of the same address (a phone that sends from another socket)', async () => {
    const { inviteAs } = await setup();
    assert.equal((await inviteAs({ ...PHONE, port: 40_001 }, ALICE)).decision.kind, 'device');
  });

  test('a wrong password: 403 auth_failed', async () => {
    const { inviteAs, refused } = await setup();
    const { decision, response } = await inviteAs(PHONE, { ...ALICE, password: 'not-the-password' });
    assert.equal(response?.status, 403);
    assert.deepEqual(decision, { kind: 'refused', reason: 'auth_failed' });
    assert.deepEqual(refused, ['auth_failed']);
  });

  test('an unknown username: 403 auth_failed', async () => {
    const { inviteAs, refused } = await setup();
    assert.equal((await inviteAs(PHONE, { username: 'mallory', password: 'x' })).response?.status, 403);
    assert.deepEqual(refused, ['auth_failed']);
  });

  test("another device's right credentials from an address that device did not register from: 403 auth_failed", async () => {
    const { inviteAs, refused } = await setup();
    const { decision } = await inviteAs(PHONE, BOB);
    assert.deepEqual(decision, { kind: 'refused', reason: 'auth_failed' });
    assert.deepEqual(refused, ['auth_failed']);
  });

  test('a forged nonce is challenged again; an expired one with stale=true', async () => {
    const { invite, timers, refused } = await setup();
    const forged = new DigestSession(ALICE).respond(
      { scheme: 'Digest', params: { realm: 'dialplane', nonce: 'A'.repeat(43), qop: 'auth', algorithm: 'MD5' } },
      'INVITE',
      INVITE_URI,
    );
    const again = await invite(PHONE, [{ name: 'Authorization', value: formatDigestCredentials(forged) }]);
    assert.equal(again.response?.status, 401);

    const first = await invite(PHONE);
    const digest = new DigestSession(ALICE).respond(parseAuthChallenge(getHeader(first.response!, 'WWW-Authenticate') ?? ''), 'INVITE', INVITE_URI);
    timers.advance(5 * 60_000 + 1);
    const stale = await invite(PHONE, [{ name: 'Authorization', value: formatDigestCredentials(digest) }]);
    assert.equal(stale.response?.status, 401);
    assert.equal(parseAuthChallenge(getHeader(stale.response!, 'WWW-Authenticate') ?? '').params.stale, 'true');
    assert.deepEqual(refused, []);
  });

  test('once the registration expires the address is a stranger again', async () => {
    const { invite, timers, refused } = await setup();
    timers.advance(600_000);
    assert.equal((await invite(PHONE)).response?.status, 403);
    assert.deepEqual(refused, ['not_allowed']);
  });

  test('guard() runs the handler only for admitted INVITEs; a failing lookup is answered 500', async () => {
    const { gate } = await setup();
    const handled: string[] = [];
    const handler = gate.guard((incoming) => handled.push(incoming.source.address));
    const responses: SipResponse[] = [];
    handler(incomingOf(request('INVITE', 'x'), { transport: 'udp', address: '203.0.113.5', port: 5060 }, responses));
    handler(incomingOf(request('INVITE', 'x'), STRANGER, responses));
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(handled, ['203.0.113.5']);
    assert.deepEqual(responses.map((r) => r.status), [403]);

    const timers = new VirtualTimers<RegistrarTimerName>();
    const broken = new InviteGate({
      registrar: { realm: 'dialplane', digest: new Registrar({ lookup: async () => undefined, timers }).digest, contactsFrom: () => [{} as never] },
      lookup: async () => {
        throw new Error('database down');
      },
    });
    broken.useTrunks([]);
    const failed: SipResponse[] = [];
    const challenge = await broken.admit(incomingOf(request('INVITE', 'x'), PHONE, failed));
    assert.equal(challenge.kind, 'refused');
    const auth = new DigestSession(ALICE).respond(parseAuthChallenge(getHeader(failed[0]!, 'WWW-Authenticate') ?? ''), 'INVITE', INVITE_URI);
    broken.guard(() => assert.fail('not admitted'))(
      incomingOf(request('INVITE', 'x', [{ name: 'Authorization', value: formatDigestCredentials(auth) }]), PHONE, failed),
    );
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.deepEqual(failed.map((r) => r.status), [401, 500]);
  });
});
