import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ACCESS_TOKEN_TTL_MS, REFRESH_TOKEN_TTL_MS } from '../../../src/core/sign-in.js';
import { escapeValue, CONDITION_OPERATORS, ARITY } from '../../../src/core/query/filter-parser.js';
import type { Contact } from '../../../src/core/contacts.js';
import { evaluateFilter, type EvaluableRecord } from '../../../src/core/query/filter-evaluate.js';
import { fieldNames, parseListQuery } from '../../../src/core/query/list-query.js';
import { contactResource } from '../../../src/core/query/resources.js';
import type { CallRow } from '../../../src/store/schema.js';
import { createTestApp, seedAccount, type TestApp } from '../../helpers/app.js';
import { describeEachDialect } from '../../helpers/databases.js';

const PASSWORD = 'correct horse battery';

function evaluable(c: Contact): EvaluableRecord {
  const fullName = c.lastName === '' ? c.firstName : c.firstName === '' ? c.lastName : `${c.firstName} ${c.lastName}`;
  const { phoneNumbers, emails, addresses, ...scalars } = c;
  return { ...scalars, fullName, phoneNumbers: phoneNumbers.map((p) => ({ ...p })), emails: emails.map((e) => ({ ...e })), addresses: addresses.map((a) => ({ ...a })) };
}

const INJECTIONS = [
  "'; DROP TABLE contacts; --",
  "' OR '1'='1",
  '1 OR 1=1',
  "') or ('1'='1",
  '1); DELETE FROM contacts; --',
  '" or ""="',
  '%',
  '_',
  '%%',
  '\\',
  "Sophia' --",
  '1; UPDATE contacts SET first_name = \'x\'',
  '$1',
  '?',
  '\u0000',
  '*/ or 1=1 /*',
];

function callRow(id: string, accountId: string, now: string): CallRow {
  return {
    id,
    account_id: accountId,
    direction: 'outbound',
    from_number: '+14155551234',
    to_number: '+14155550100',
    state: 'ended',
    outcome: 'completed',
    hangup_cause: 'normal_clearing',
    hangup_cause_code: 16,
    end_reason: 'remote_hangup',
    sip_status: 200,
    sip_reason: 'OK',
    trunk: null,
    sip_call_id: null,
    ring_timeout_s: 30,
    max_duration_s: 60,
    metadata: null,
    parent_call_id: null,
    owner_node: null,
    created_at: now,
    updated_at: now,
    answered_at: now,
    ended_at: new Date(Date.parse(now) + 42_000).toISOString(),
    price_minor: 10,
    cost_minor: 10,
    application_id: null,
  };
}

await describeEachDialect('DialLink: security', (dialect) => {
  let t: TestApp;
  let key: string;
  let accountId: string;
  let viewOnlyKey: string;
  let otherKey: string;
  let otherContactId: string;
  let contactId: string;
  before(async () => {
    t = await createTestApp(dialect);
    const seeded = await seedAccount(t.services);
    key = seeded.token;
    accountId = seeded.account.id;
    await t.services.signIn.setPassword(accountId, seeded.owner.id, PASSWORD);
    const viewer = await t.services.accounts.addUser(accountId, { email: 'viewer@example.com', viewOnly: true });
    await t.services.signIn.setPassword(accountId, viewer.id, PASSWORD);
    viewOnlyKey = (await t.services.keys.create(accountId, { name: 'viewer', userId: viewer.id })).token;
    contactId = (await t.services.contacts.create(accountId, { firstName: 'Sophia', lastName: 'Brooks', phoneNumbers: [{ type: 'WORK', phoneNumber: '+17175501675' }] })).id;

    const other = { account: (await t.services.accounts.create({ name: 'Other', email: 'other@example.org' })).account };
    otherKey = (await t.services.keys.create(other.account.id, { name: 'other' })).token;
    otherContactId = (await t.services.contacts.create(other.account.id, { firstName: 'Other' })).id;
    const now = t.clock.now().toISOString();
    await t.services.store.calls.insert(callRow('call_otheraccount00000001', other.account.id, now), [
      {
        call_id: 'call_otheraccount00000001',
        state: 'ended',
        at: now,
        sip_status: 200,
        sip_reason: 'OK',
        outcome: 'completed',
        hangup_cause: 'normal_clearing',
        hangup_cause_code: 16,
        end_reason: 'remote_hangup',
      },
    ]);
    await t.services.store.calls.addRecording({
      id: 'rec_otheraccount000000001',
      account_id: other.account.id,
      call_id: 'call_otheraccount00000001',
      duration_ms: 1500,
      wav: Buffer.from('RIFF....WAVE'),
      created_at: now,
    });
  });
  after(() => t.close());

  const as = (credential: string, method: string, url: string, payload?: unknown) =>
    t.app.inject({
      method: method as 'GET',
      url,
      headers: credential.startsWith('dlat_') ? { authorization: `Bearer ${credential}` } : { 'x-api-key': credential },
      ...(payload !== undefined ? { payload: payload as Record<string, unknown> } : {}),
    });

  async function snapshot(): Promise<string> {
    const db = t.services.store.database.db;
    const contacts = await db.selectFrom('contacts').selectAll().orderBy('id').execute();
    const phones = await db.selectFrom('contact_phone_numbers').selectAll().orderBy('id').execute();
    return JSON.stringify([contacts, phones]);
  }

  test('SQL injection through every operator and every field: a 400 or an empty result, and nothing changes', async () => {
    const before = await snapshot();
    let requests = 0;
    const all = (await t.services.contacts.page(accountId, { filter: undefined, sort: [], pageNumber: 1, pageSize: 100 })).data;
    // Every field with every operator (the attacks taken in turn), and every attack with every operator on a text field
    // and on a nested list's field.
    const cases: Array<[string, (typeof CONDITION_OPERATORS)[number], string]> = [];
    let turn = 0;
    for (const field of fieldNames(contactResource)) for (const op of CONDITION_OPERATORS) cases.push([field, op, INJECTIONS[turn++ % INJECTIONS.length]!]);
    for (const attack of INJECTIONS) {
      for (const op of CONDITION_OPERATORS) for (const field of ['firstName', 'phoneNumbers.phoneNumber']) cases.push([field, op, attack]);
    }
    for (const [field, op, attack] of cases) {
      const [least] = ARITY[op];
      const values = Array.from({ length: least === 0 ? 0 : least }, () => escapeValue(attack));
      const filter = `${op}(${[field, ...values].join(',')})`;
      const urls = [
        `/v1/phone-system/contacts?filter=${encodeURIComponent(filter)}`,
        `/v1/phone-system/contacts?filter=${encodeURIComponent(`AND(eq(firstName,Sophia),${filter})`)}`,
        `/v1/phone-system/contacts?${encodeURIComponent(field)}=${encodeURIComponent(`${op}::${[attack, attack].slice(0, Math.max(least, 1)).join(',')}`)}`,
      ];
      for (const url of urls) {
        // The per-key limit (1,000 a minute) would answer 429: time moves on instead.
        if (++requests % 500 === 0) t.clock.advance(60_000);
        const response = await as(key, 'GET', url);
        assert.ok(response.statusCode === 200 || response.statusCode === 400, `${response.statusCode} for ${url}: ${response.body}`);
        if (response.statusCode === 200) {
          // The attack text was a value like any other: what matched is what the filter means over the stored
          // contacts (an ordering can match: 'Sophia' > "'"; ids contain a literal '_'), and nothing equals or
          // contains the SQL.
          const ids = response.json().data.map((c: { id: string }) => c.id);
          const query = parseListQuery(contactResource, Object.fromEntries(new URL(url, 'http://x').searchParams));
          const expected = all.filter((c) => evaluateFilter(query.filter!, evaluable(c))).map((c) => c.id);
          assert.deepEqual(ids, expected, url);
          if (['eq', 'in', 'like'].includes(op) && /['";=]/.test(attack)) assert.deepEqual(ids, [], `${url} matched`);
        }
      }
    }
    // Through the field name, the sort and the paging parameters.
    for (const attack of INJECTIONS) {
      for (const url of [
        `/v1/phone-system/contacts?filter=${encodeURIComponent(`eq(${attack},x)`)}`,
        `/v1/phone-system/contacts?filter=${encodeURIComponent(attack)}`,
        `/v1/phone-system/contacts?sort=${encodeURIComponent(attack)}`,
        `/v1/phone-system/contacts?sort=-${encodeURIComponent(attack)}`,
        `/v1/phone-system/contacts?pageSize=${encodeURIComponent(attack)}`,
        `/v1/phone-system/contacts?${encodeURIComponent(attack)}=1`,
      ]) {
        const response = await as(key, 'GET', url);
        assert.equal(response.statusCode, 400, `${url}: ${response.body}`);
      }
    }
    assert.ok(requests > 1000);
    assert.equal(await snapshot(), before);
  });

  test('access tokens last a minute, refresh tokens ten; a refresh rotates both', async () => {
    const signIn = await t.app.inject({ method: 'POST', url: '/v1/auth/tokens', payload: { email: 'user@example.com', password: PASSWORD } });
    assert.equal(signIn.statusCode, 201, signIn.body);
    const first = signIn.json();
    assert.equal(first.expiresAt, t.clock.nowMs() + ACCESS_TOKEN_TTL_MS);
    assert.equal(first.refreshExpiresAt, t.clock.nowMs() + REFRESH_TOKEN_TTL_MS);
    assert.equal((await as(first.accessToken, 'GET', '/v1/phone-system/contacts')).statusCode, 200);
    t.clock.advance(ACCESS_TOKEN_TTL_MS - 1);
    assert.equal((await as(first.accessToken, 'GET', '/users/me')).statusCode, 200);
    t.clock.advance(1);
    const expired = await as(first.accessToken, 'GET', '/users/me');
    assert.equal(expired.statusCode, 401);
    assert.equal(expired.json().code, 'invalid_credentials');

    const refreshed = await t.app.inject({ method: 'POST', url: '/v1/auth/tokens/', payload: { refreshToken: first.refreshToken } });
    assert.equal(refreshed.statusCode, 201, refreshed.body);
    const second = refreshed.json();
    assert.notEqual(second.accessToken, first.accessToken);
    assert.notEqual(second.refreshToken, first.refreshToken);
    assert.equal((await as(second.accessToken, 'GET', '/users/me')).statusCode, 200);

    // A refresh token unused for ten minutes is gone.
    t.clock.advance(REFRESH_TOKEN_TTL_MS);
    const late = await t.app.inject({ method: 'POST', url: '/v1/auth/tokens', payload: { refreshToken: second.refreshToken } });
    assert.equal(late.statusCode, 401);
    assert.equal(late.json().code, 'invalid_refresh_token');

    const wrong = await t.app.inject({ method: 'POST', url: '/v1/auth/tokens', payload: { email: 'user@example.com', password: 'not the password' } });
    assert.equal(wrong.statusCode, 401);
    assert.equal(wrong.json().code, 'invalid_login');
    const nobody = await t.app.inject({ method: 'POST', url: '/v1/auth/tokens', payload: { email: 'nobody@example.com', password: PASSWORD } });
    assert.equal(nobody.statusCode, 401);
  });

  test('reusing a spent refresh token revokes the whole family', async () => {
    const first = (await t.app.inject({ method: 'POST', url: '/v1/auth/tokens', payload: { email: 'user@example.com', password: PASSWORD } })).json();
    const other = (await t.app.inject({ method: 'POST', url: '/v1/auth/tokens', payload: { email: 'user@example.com', password: PASSWORD } })).json();
    t.clock.advance(10_000);
    const second = (await t.app.inject({ method: 'POST', url: '/v1/auth/tokens', payload: { refreshToken: first.refreshToken } })).json();
    assert.equal((await as(second.accessToken, 'GET', '/users/me')).statusCode, 200);

    const reuse = await t.app.inject({ method: 'POST', url: '/v1/auth/tokens', payload: { refreshToken: first.refreshToken } });
    assert.equal(reuse.statusCode, 401);
    assert.equal(reuse.json().code, 'invalid_refresh_token');
    // Everything of that sign-in is revoked: the current access token and the current refresh token.
    assert.equal((await as(second.accessToken, 'GET', '/users/me')).statusCode, 401);
    assert.equal((await t.app.inject({ method: 'POST', url: '/v1/auth/tokens', payload: { refreshToken: second.refreshToken } })).statusCode, 401);
    // Another sign-in of the same user is untouched.
    assert.equal((await as(other.accessToken, 'GET', '/users/me')).statusCode, 200);
  });

  test("a view-only user's key and token get 403 on every write route and read as usual", async () => {
    const token = (await t.app.inject({ method: 'POST', url: '/v1/auth/tokens', payload: { email: 'viewer@example.com', password: PASSWORD } })).json()
      .accessToken as string;
    const writes: Array<[string, string, unknown]> = [
      ['POST', '/v1/account-hub/api-keys', { name: 'k', enabled: true }],
      ['POST', '/v1/phone-system/contacts', { firstName: 'X' }],
      ['PUT', `/v1/phone-system/contacts/${contactId}`, { firstName: 'X' }],
      ['PATCH', `/v1/phone-system/contacts/${contactId}`, { firstName: 'X' }],
      ['DELETE', `/v1/phone-system/contacts/${contactId}`, undefined],
    ];
    for (const credential of [viewOnlyKey, token]) {
      for (const [method, url, body] of writes) {
        const response = await as(credential, method, url, body);
        assert.equal(response.statusCode, 403, `${method} ${url}: ${response.body}`);
        assert.equal(response.json().code, credential === token ? 'view_only_user' : 'read_only_key');
        assert.ok(response.json().description);
      }
      for (const url of ['/v1/phone-system/contacts', '/v1/phone-system/users', '/v1/account-hub/api-keys', '/v1/phone-system/calls', '/v1/phone-system/recordings']) {
        assert.equal((await as(credential, 'GET', url)).statusCode, 200, url);
      }
      const me = (await as(credential, 'GET', '/users/me')).json();
      assert.equal(me.permission, 'view-only');
      assert.equal(me.permissions.write, false);
    }
    assert.equal((await t.services.contacts.get(accountId, contactId)).firstName, 'Sophia');
  });

  test("another account's contact, call and recording are 404", async () => {
    for (const [method, url, body] of [
      ['GET', `/v1/phone-system/contacts/${otherContactId}`, undefined],
      ['PUT', `/v1/phone-system/contacts/${otherContactId}`, { firstName: 'Mine' }],
      ['PATCH', `/v1/phone-system/contacts/${otherContactId}`, { firstName: 'Mine' }],
      ['DELETE', `/v1/phone-system/contacts/${otherContactId}`, undefined],
      ['GET', '/v1/phone-system/calls/call_otheraccount00000001', undefined],
      ['GET', '/v1/phone-system/recordings/rec_otheraccount000000001/download', undefined],
    ] as const) {
      const response = await as(key, method, url, body);
      assert.equal(response.statusCode, 404, `${method} ${url}: ${response.body}`);
      assert.equal(response.json().code, 'not_found');
    }
    assert.deepEqual((await as(key, 'GET', '/v1/phone-system/calls')).json().data, []);
    assert.deepEqual((await as(key, 'GET', '/v1/phone-system/recordings')).json().data, []);
    // Its owner sees them, and the download link needs the same authentication.
    const calls = (await as(otherKey, 'GET', '/v1/phone-system/calls?direction=outbound')).json();
    assert.equal(calls.data.length, 1);
    assert.deepEqual(Object.keys(calls.data[0]), ['id', 'direction', 'from', 'to', 'state', 'outcome', 'startedAt', 'answeredAt', 'endedAt', 'duration', 'cost']);
    assert.equal(calls.data[0].duration, 42);
    assert.equal(calls.data[0].cost, 0.1);
    assert.deepEqual((await as(otherKey, 'GET', '/v1/phone-system/calls?direction=inbound')).json().data, []);
    const recordings = (await as(otherKey, 'GET', '/v1/phone-system/recordings')).json();
    const link = new URL(recordings.data[0].downloadUrl);
    assert.equal((await t.app.inject({ method: 'GET', url: link.pathname })).statusCode, 401);
    const audio = await as(otherKey, 'GET', link.pathname);
    assert.equal(audio.statusCode, 200);
    assert.equal(audio.headers['content-type'], 'audio/wav');
    assert.equal(audio.body, 'RIFF....WAVE');
    assert.equal((await as(otherKey, 'GET', '/v1/phone-system/calls/call_otheraccount00000001')).statusCode, 200);
  });

  test('API keys: the full key only at creation, a year of life, the creator\'s permission', async () => {
    const created = await as(key, 'POST', '/v1/account-hub/api-keys', { name: 'API key for integration', enabled: true });
    assert.equal(created.statusCode, 201, created.body);
    const body = created.json();
    assert.deepEqual(Object.keys(body), ['id', 'name', 'enabled', 'key', 'expiresAt']);
    assert.equal(body.expiresAt, t.clock.nowMs() + 365 * 24 * 3600 * 1000);
    assert.equal((await as(body.key, 'GET', '/v1/phone-system/contacts')).statusCode, 200);
    const read = (await as(key, 'GET', `/v1/account-hub/api-keys/${body.id}`)).json();
    assert.equal(read.key, `****${body.key.slice(-4)}`);
    const list = (await as(key, 'GET', '/v1/account-hub/api-keys?name=API key for integration')).json();
    assert.deepEqual(list.data.map((k: { id: string }) => k.id), [body.id]);
    assert.ok(!JSON.stringify((await as(key, 'GET', '/v1/account-hub/api-keys')).json()).includes(body.key));
    const disabled = (await as(key, 'POST', '/v1/account-hub/api-keys', { name: 'off', enabled: false })).json();
    assert.equal(disabled.enabled, false);
    assert.equal((await as(disabled.key, 'GET', '/users/me')).statusCode, 401);
    assert.equal((await as(otherKey, 'GET', `/v1/account-hub/api-keys/${body.id}`)).statusCode, 404);
    const missing = await t.app.inject({ method: 'GET', url: '/v1/account-hub/api-keys' });
    assert.equal(missing.statusCode, 401);
    assert.equal(missing.json().code, 'missing_credentials');
  });
});
