import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createTestApp, seedAccount, type TestApp } from '../../helpers/app.js';
import { describeEachDialect } from '../../helpers/databases.js';
import { ROOT, waitUntil } from '../../helpers/processes.js';
import { DevSmsc, type DevSmscSubmission } from '../../../src/sms/dev-smsc.js';
import { SmppCarrier } from '../../../src/sms/smpp-carrier.js';

/**
 * DialAnyone's POST /api/v1/sms over the real app and database, with the real SMPP carrier bound to the dev SMSC
 * on loopback: the document's response shape, the price per segment (GSM-7 and UCS-2), insufficient credits, bad
 * input, keys and tenant isolation. "Nothing sent" is read from the SMSC's own counters.
 */

const FIXTURES = join(ROOT, 'test', 'fixtures', 'dialanyone');
const fixture = (name: string): unknown => JSON.parse(readFileSync(join(FIXTURES, name), 'utf8'));
const documentSmsResponse = fixture('sms-response.json') as Record<string, unknown>;
const documentInsufficientCredits = fixture('insufficient-credits-response.json') as { error: { message: string; details: object } };

interface SmsAnswer {
  message_id: string;
  status: string;
  from: string;
  to: string;
  segments: number;
  estimated_cost: number;
  created_at: string;
}

interface ErrorAnswer {
  error: { code: string; message: string; details?: { field?: string; [key: string]: unknown } };
}

await describeEachDialect('DialAnyone POST /api/v1/sms', (dialect) => {
  let t: TestApp;
  let seed: Awaited<ReturnType<typeof seedAccount>>;
  let smsc: DevSmsc;
  let carrier: SmppCarrier;
  const submissions: DevSmscSubmission[] = [];

  before(async () => {
    t = await createTestApp(dialect);
    seed = await seedAccount(t.services);
    smsc = new DevSmsc({ onSubmit: (s) => submissions.push(s) });
    await smsc.start();
    carrier = new SmppCarrier({ url: smsc.url, reconnectInitialMs: 20, unbindTimeoutMs: 300 });
    carrier.on('receipt', (r: { smscId: string; status: 'delivered' | 'undelivered' | 'failed' | 'sent'; err: string }) => {
      void t.services.sms.onReceipt({ smscId: r.smscId, status: r.status, errorCode: r.err === '' ? null : r.err });
    });
    t.services.sms.attachCarrier(carrier);
    await carrier.start();
  });
  after(async () => {
    await t.services.sms.settled();
    t.services.sms.attachCarrier(undefined);
    await carrier.stop();
    await smsc.stop();
    await t.close();
  });

  const send = (token: string, payload: unknown, headers: Record<string, string> = {}) =>
    t.app.inject({
      method: 'POST',
      url: '/api/v1/sms',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
      payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
    });
  const get = (token: string, url: string) => t.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
  const balance = async (accountId: string) => (await t.services.credits.balance(accountId)).balanceMinor;
  const documentTime = () => t.clock.now().toISOString().replace(/\.\d{3}Z$/, 'Z');

  async function sent(text: string, to = '+14155550100'): Promise<SmsAnswer> {
    const response = await send(seed.token, { from: '+14155551234', to, body: text });
    assert.equal(response.statusCode, 201, response.body);
    return response.json() as SmsAnswer;
  }

  test("answers 201 with exactly the document's fields; the SMSC gets it", async () => {
    const before = await balance(seed.account.id);
    const submitted = smsc.counters.submitReceived;
    const response = await send(seed.token, { from: '+14155551234', to: '+14155555678', body: 'Hello from DialAnyone API!' });
    assert.equal(response.statusCode, 201, response.body);
    assert.match(String(response.headers['content-type']), /application\/json/);
    const body = response.json() as SmsAnswer;
    assert.deepEqual(Object.keys(body), Object.keys(documentSmsResponse), 'the fields of the document, in its order');
    for (const [key, value] of Object.entries(documentSmsResponse)) assert.equal(typeof body[key as keyof SmsAnswer], typeof value, key);
    assert.match(body.message_id, /^msg_/);
    assert.deepEqual(
      { ...body, message_id: 'x' },
      { message_id: 'x', status: 'sent', from: '+14155551234', to: '+14155555678', segments: 1, estimated_cost: 2.5, created_at: documentTime() },
    );
    assert.match(body.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(response.headers['x-ratelimit-limit'], '1000', 'the SMS window is the tighter one');
    assert.equal(response.headers['x-ratelimit-remaining'], '999');
    assert.ok(Number(response.headers['x-ratelimit-reset']) > t.clock.nowMs() / 1000);

    assert.equal(await balance(seed.account.id), before - 250, 'one segment at 2.50 credits');
    assert.equal(smsc.counters.submitReceived, submitted + 1);
    const submission = submissions.at(-1);
    assert.equal(submission?.source, '14155551234');
    assert.equal(submission?.destination, '14155555678');

    const read = await get(seed.token, `/api/v1/sms/${body.message_id}`);
    assert.equal(read.statusCode, 200);
    const stored = read.json() as { status: string; body: string; estimated_cost: number; segments: number };
    assert.ok(['sent', 'delivered'].includes(stored.status), stored.status);
    assert.deepEqual([stored.body, stored.segments, stored.estimated_cost], ['Hello from DialAnyone API!', 1, 2.5]);
  });

  test('priced per GSM-7 segment: 160 characters is one, 161 two (5 credits), an extension character counts two', async () => {
    const one = await sent('a'.repeat(160));
    assert.deepEqual([one.segments, one.estimated_cost], [1, 2.5]);

    const before = await balance(seed.account.id);
    const submitted = smsc.counters.submitReceived;
    const two = await sent('a'.repeat(161));
    assert.deepEqual([two.segments, two.estimated_cost], [2, 5]);
    assert.equal(await balance(seed.account.id), before - 500);
    assert.equal(smsc.counters.submitReceived, submitted + 2, 'one submit_sm a segment');

    const euro = await sent(`${'a'.repeat(159)}€`);
    assert.deepEqual([euro.segments, euro.estimated_cost], [2, 5], '€ is an escape and a code: 161 septets');

    const ten = await sent('a'.repeat(1_530));
    assert.deepEqual([ten.segments, ten.estimated_cost], [10, 25], '10 parts of 153 septets');
  });

  test('UCS-2: 70 units is one segment, 71 two; one character outside GSM-7 switches the whole text', async () => {
    const hebrew = await sent('ש'.repeat(70));
    assert.deepEqual([hebrew.segments, hebrew.estimated_cost], [1, 2.5]);
    assert.equal(submissions.at(-1)?.dataCoding, 8, 'UCS-2 data coding');
    const longer = await sent('ש'.repeat(71));
    assert.deepEqual([longer.segments, longer.estimated_cost], [2, 5]);
    const mixed = await sent(`${'a'.repeat(100)}✓`);
    assert.deepEqual([mixed.segments, mixed.estimated_cost], [2, 5], '101 UCS-2 units in parts of 67');
    const emoji = await sent('😀'.repeat(35));
    assert.deepEqual([emoji.segments, emoji.estimated_cost], [1, 2.5], '35 surrogate pairs are 70 units');
    const more = await sent('😀'.repeat(36));
    assert.equal(more.segments, 2);
  });

  test('insufficient credits: 402 with the documented body; nothing is stored, sent or charged', async () => {
    const { account } = await t.services.accounts.create({ name: 'Poor', email: 'poor@example.com' });
    await t.services.credits.add(account.id, 200, 'seed');
    await t.services.numbers.add(account.id, { number: '+14155550101', type: 'purchased' });
    const { token } = await t.services.keys.create(account.id, { name: 'poor' });
    const submitted = smsc.counters.submitReceived;

    const response = await send(token, { from: '+14155550101', to: '+14155550100', body: 'hello' });
    assert.equal(response.statusCode, 402);
    const body = response.json() as ErrorAnswer;
    assert.deepEqual(body, {
      error: {
        code: 'insufficient_credits',
        message: documentInsufficientCredits.error.message,
        details: { required_credits: 2.5, current_balance: 2 },
      },
    });
    assert.deepEqual(Object.keys(body.error.details ?? {}), Object.keys(documentInsufficientCredits.error.details));

    await t.services.credits.add(account.id, 50, 'seed');
    const twoSegments = await send(token, { from: '+14155550101', to: '+14155550100', body: 'b'.repeat(161) });
    assert.equal(twoSegments.statusCode, 402);
    assert.deepEqual((twoSegments.json() as ErrorAnswer).error.details, { required_credits: 5, current_balance: 2.5 });

    assert.equal(await balance(account.id), 250, 'nothing charged');
    assert.deepEqual(await t.services.sms.list(account.id), [], 'nothing stored');
    assert.deepEqual((await get(token, '/api/v1/sms')).json(), { messages: [], has_more: false });
    assert.equal(smsc.counters.submitReceived, submitted, 'nothing sent');

    const enough = await send(token, { from: '+14155550101', to: '+14155550100', body: 'hello' });
    assert.equal(enough.statusCode, 201, 'exactly the price of one segment is enough');
    assert.equal(await balance(account.id), 0);
  });

  test('bad input is 400 in the face shape naming the field; nothing is charged, stored or sent', async () => {
    const voiceOnly = '+14155550102';
    await t.services.numbers.add(seed.account.id, { number: voiceOnly, type: 'purchased', capabilities: ['voice'] });
    const other = await t.services.accounts.create({ name: 'Other', email: 'other@example.com' });
    await t.services.numbers.add(other.account.id, { number: '+14155550103', type: 'purchased' });
    const ok = { from: '+14155551234', to: '+14155550100', body: 'hi' };
    const cases: Array<[string, unknown, string, string | undefined]> = [
      ['from missing', { to: ok.to, body: ok.body }, 'validation_failed', 'from'],
      ['to missing', { from: ok.from, body: ok.body }, 'validation_failed', 'to'],
      ['body missing', { from: ok.from, to: ok.to }, 'validation_failed', 'body'],
      ['the text under another name', { from: ok.from, to: ok.to, message: 'hi' }, 'validation_failed', 'body'],
      ['an unknown field', { ...ok, media_url: 'https://example.com/a.png' }, 'validation_failed', 'media_url'],
      ['from in national format', { ...ok, from: '4155551234' }, 'invalid_phone_number', 'from'],
      ['from with spaces', { ...ok, from: '+1 415 555 1234' }, 'invalid_phone_number', 'from'],
      ['to with punctuation', { ...ok, to: '(415) 555-0100' }, 'invalid_phone_number', 'to'],
      ['to with a trailing newline', { ...ok, to: '+14155550100\n' }, 'invalid_phone_number', 'to'],
      ['to with a leading zero', { ...ok, to: '+014155550100' }, 'invalid_phone_number', 'to'],
      ['to too long', { ...ok, to: '+1415555010012345' }, 'invalid_phone_number', 'to'],
      ['to that cannot exist', { ...ok, to: '+10000000' }, 'invalid_phone_number', 'to'],
      ['to as a JSON number', { ...ok, to: 14155550100 }, 'validation_failed', 'to'],
      ['from null', { ...ok, from: null }, 'validation_failed', 'from'],
      ['body a number', { ...ok, body: 42 }, 'validation_failed', 'body'],
      ['body an array', { ...ok, body: ['hi'] }, 'validation_failed', 'body'],
      ['body empty', { ...ok, body: '' }, 'validation_failed', 'body'],
      ['body over 1,600 characters', { ...ok, body: 'x'.repeat(1_601) }, 'validation_failed', 'body'],
      ['body over 1,600 UTF-16 units', { ...ok, body: '😀'.repeat(801) }, 'validation_failed', 'body'],
      ['body needing 11 segments', { ...ok, body: 'a'.repeat(1_531) }, 'validation_failed', 'body'],
      ['from not a number of the account', { ...ok, from: '+14155550999' }, 'validation_failed', 'from'],
      ['from without the sms capability', { ...ok, from: voiceOnly }, 'validation_failed', 'from'],
      ["from another account's number", { ...ok, from: '+14155550103' }, 'validation_failed', 'from'],
      ['a JSON array', '[]', 'validation_failed', undefined],
      ['a JSON string', '"hello"', 'validation_failed', undefined],
      ['malformed JSON', '{"from":', 'invalid_json', undefined],
      ['an empty JSON body', '', 'invalid_json', undefined],
    ];
    const before = await balance(seed.account.id);
    const stored = (await t.services.sms.list(seed.account.id, 100)).length;
    const submitted = smsc.counters.submitReceived;
    for (const [name, payload, code, field] of cases) {
      const response = await send(seed.token, payload);
      assert.equal(response.statusCode, 400, `${name}: ${response.body}`);
      const body = response.json() as ErrorAnswer;
      assert.deepEqual(Object.keys(body), ['error'], name);
      assert.equal(body.error.code, code, `${name}: ${response.body}`);
      assert.equal(body.error.details?.field, field, `${name}: ${response.body}`);
      assert.equal(typeof body.error.message, 'string');
      if (field) assert.match(body.error.message, new RegExp(field), `${name}: the message names the field`);
      assert.doesNotMatch(response.body, /at .*\.js:\d+/, 'no stack trace');
    }
    const segments = (await send(seed.token, { ...ok, body: 'a'.repeat(1_531) })).json() as ErrorAnswer;
    assert.deepEqual([segments.error.details?.segments, segments.error.details?.max_segments], [11, 10]);

    const text = await send(seed.token, 'from=+14155551234', { 'content-type': 'text/plain' });
    assert.equal(text.statusCode, 400, 'plain text is read as a string, which is not the JSON object asked for');
    assert.equal((text.json() as ErrorAnswer).error.code, 'validation_failed');
    const form = await send(seed.token, 'from=%2B14155551234&to=%2B14155550100&body=hi', { 'content-type': 'application/x-www-form-urlencoded' });
    assert.equal(form.statusCode, 415);
    assert.equal((form.json() as ErrorAnswer).error.code, 'unsupported_media_type');

    assert.equal(await balance(seed.account.id), before, 'nothing charged');
    assert.equal((await t.services.sms.list(seed.account.id, 100)).length, stored, 'nothing stored');
    assert.equal(smsc.counters.submitReceived, submitted, 'nothing sent');
  });

  test('an oversized request is 413 in the face shape, before it is read', async () => {
    const before = await balance(seed.account.id);
    const submitted = smsc.counters.submitReceived;
    const response = await send(seed.token, { from: '+14155551234', to: '+14155550100', body: 'x'.repeat(20_000) });
    assert.equal(response.statusCode, 413);
    assert.equal((response.json() as ErrorAnswer).error.code, 'payload_too_large');
    assert.equal(await balance(seed.account.id), before);
    assert.equal(smsc.counters.submitReceived, submitted);

    // Every character written as a \u escape: the longest text that fits in 10 segments is accepted, and the
    // longest text the schema allows still reaches validation (400) rather than the size limit.
    const escapeAll = (text: string) => [...text].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('');
    const payload = (text: string) => `{"from":"+14155551234","to":"+14155550100","body":"${escapeAll(text)}"}`;
    const longest = await send(seed.token, payload('a'.repeat(1_530)));
    assert.equal(longest.statusCode, 201, longest.body);
    assert.deepEqual([(longest.json() as SmsAnswer).segments, (longest.json() as SmsAnswer).estimated_cost], [10, 25]);
    const tooLong = await send(seed.token, payload('x'.repeat(1_600)));
    assert.equal(tooLong.statusCode, 400, tooLong.body);
    assert.equal((tooLong.json() as ErrorAnswer).error.details?.field, 'body');
  });

  test('the SMSC refusing the address: 201 with status failed, and the charge is given back', async () => {
    const before = await balance(seed.account.id);
    const refused = await sent('hi', '+14155550400');
    assert.equal(refused.status, 'failed');
    await waitUntil('the refund', async () => (await balance(seed.account.id)) === before, 5_000);
  });

  test("keys: none is 401, a read-only key 403; another account's key neither reads nor lists the message", async () => {
    const message = await sent('for account A only');
    const none = await t.app.inject({ method: 'POST', url: '/api/v1/sms', payload: { from: '+14155551234', to: '+14155550100', body: 'x' } });
    assert.equal(none.statusCode, 401);
    assert.equal((none.json() as ErrorAnswer).error.code, 'missing_credentials');
    const { token: readOnly } = await t.services.keys.create(seed.account.id, { name: 'ro', permission: 'read_only' });
    const refused = await send(readOnly, { from: '+14155551234', to: '+14155550100', body: 'x' });
    assert.equal(refused.statusCode, 403);
    assert.equal((refused.json() as ErrorAnswer).error.code, 'read_only_key');
    assert.equal((await get(readOnly, `/api/v1/sms/${message.message_id}`)).statusCode, 200, 'a read-only key reads');

    const b = await t.services.accounts.create({ name: 'B', email: 'b@example.com' });
    const { token: bToken } = await t.services.keys.create(b.account.id, { name: 'b' });
    const foreign = await get(bToken, `/api/v1/sms/${message.message_id}`);
    assert.equal(foreign.statusCode, 404);
    assert.equal((foreign.json() as ErrorAnswer).error.code, 'not_found');
    assert.deepEqual((await get(bToken, '/api/v1/sms')).json(), { messages: [], has_more: false });
    assert.equal((await get(bToken, `/api/v1/sms?before=${message.message_id}`)).statusCode, 404, 'not even as a cursor');
    const own = await get(seed.token, `/api/v1/sms/${message.message_id}`);
    assert.equal(own.statusCode, 200);
    assert.equal((own.json() as { body: string }).body, 'for account A only');
  });

  test('the OpenAPI document declares the request and the 201 response', async () => {
    const openapi = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
      paths: Record<string, Record<string, { requestBody: { content: Record<string, { schema: { properties: object; required: string[] } }> }; responses: Record<string, { content: Record<string, { schema: { properties: object } }> }> }>>;
    };
    const post = openapi.paths['/api/v1/sms']?.post;
    assert.ok(post, 'POST /api/v1/sms is in the document');
    const request = post.requestBody.content['application/json']?.schema;
    assert.deepEqual(Object.keys(request?.properties ?? {}), ['from', 'to', 'body']);
    assert.deepEqual(request?.required, ['from', 'to', 'body']);
    const created = post.responses['201']?.content['application/json']?.schema;
    assert.deepEqual(Object.keys(created?.properties ?? {}), Object.keys(documentSmsResponse));
    for (const status of ['400', '401', '402', '413', '429']) assert.ok(post.responses[status], `${status} is declared`);
  });
});
