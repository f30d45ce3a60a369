import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { buildApp } from '../../../src/api/app.js';
import { MemoryRateLimitStore } from '../../../src/api/rate-limit/memory-store.js';
import { RateLimiter } from '../../../src/api/rate-limit/rate-limiter.js';
import type { Services } from '../../../src/core/services.js';
import { ADMIN_TOKEN } from '../../helpers/app.js';
import { CALLER_NUMBER, createCallingAccount, startTestTelephony, type TestTelephony } from '../../helpers/telephony.js';

/**
 * /dialplane/v1 calls over real HTTP, with real telephony on the dev carrier (real SIP and RTP on loopback): a
 * program that collects keys, a live program command, hanging up an inbound call, the SSE stream, bad input.
 */
let app: FastifyInstance;
let services: Services;
let telephony: TestTelephony;
let base: string;
let accountId: string;
let token: string;
let otherToken: string;
let otherAccountId: string;
let closeDb: () => Promise<void>;
const rateStore = new MemoryRateLimitStore();
const HEARTBEAT_MS = 150;

before(async () => {
  const account = await createCallingAccount('Dialplane calls');
  services = account.services;
  accountId = account.accountId;
  closeDb = () => account.db.close();
  token = (await services.keys.create(accountId, { name: 'calls' })).token;
  // Another account with a voice number and no credits at all.
  otherAccountId = (await services.accounts.create({ name: 'Other', email: 'other-dp-calls@example.com' })).account.id;
  await services.numbers.add(otherAccountId, { number: '+14155559999', type: 'purchased' });
  otherToken = (await services.keys.create(otherAccountId, { name: 'other' })).token;
  telephony = await startTestTelephony(services, { rtpPorts: '50000-50999', trunk: 'dev' });
  app = await buildApp({
    services,
    http: { bodyLimit: 65_536, trustProxy: false },
    rateLimiter: new RateLimiter(rateStore),
    logger: false,
    metrics: new Registry(),
    adminToken: ADMIN_TOKEN,
    ready: async () => undefined,
    calls: telephony.control,
    eventStreamHeartbeatMs: HEARTBEAT_MS,
    devCallIn: (input) => telephony.devCarrier!.callIn(telephony.sipEndpoint, input),
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/dialplane/v1`;
});
after(async () => {
  await app.close();
  await telephony.close();
  rateStore.close();
  await closeDb();
});

async function api(method: string, path: string, body?: unknown, key = token) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined, text };
}

/** Polls GET until the call is over (every leg ended and settled). */
async function whenOver(callId: string, timeoutMs = 20_000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const { body } = await api('GET', `/calls/${callId}`);
    if (body.live === false) return body;
    if (Date.now() > until) throw new Error(`call ${callId} still live: ${JSON.stringify(body)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

type Activity = { kind: string; at: string; data: Record<string, unknown> };

test('an inline say + gather + hangup program to a key-pressing number: the keys, the completed call and its cost', async () => {
  const started = await api('POST', '/calls', {
    from: CALLER_NUMBER,
    to: '+14155557123',
    program: [{ verb: 'say', text: 'Press one, two, three.' }, { verb: 'gather', numDigits: 3, timeout: 10 }, { verb: 'hangup' }],
  });
  assert.equal(started.status, 201, started.text);
  assert.match(started.body.call_id, /^call_/);
  assert.equal(started.body.direction, 'outbound');
  assert.equal(started.body.to, '+14155557123');
  assert.equal(started.body.cost, null, 'no cost while live');
  const call = await whenOver(started.body.call_id);
  assert.equal(call.state, 'ended');
  assert.equal(call.outcome, 'completed');
  const gathers = (call.activities as Activity[]).filter((a) => a.kind === 'gather');
  assert.equal(gathers.length, 1, JSON.stringify(call.activities));
  assert.equal(gathers[0]!.data['digits'], '123');
  assert.equal(call.legs.length, 1);
  const [leg] = call.legs;
  assert.equal(leg.leg_id, call.call_id);
  assert.equal(leg.outcome, 'completed');
  assert.equal(leg.hangup_cause, 'NORMAL_CLEARING');
  assert.equal(typeof leg.price_per_minute, 'number');
  assert.equal(leg.cost, leg.price_per_minute, 'one started minute');
  assert.equal(call.cost, leg.cost);
});

test('a live program command replaces what the call is doing', async () => {
  const started = await api('POST', '/calls', { from: CALLER_NUMBER, to: '+14155550100', program: [{ verb: 'pause', length: 60 }] });
  assert.equal(started.status, 201, started.text);
  const id = started.body.call_id as string;
  await telephony.answered((call) => call.id === id);
  const t0 = Date.now();
  const replaced = await api('POST', `/calls/${id}/program`, { program: [{ verb: 'say', text: 'Goodbye.' }, { verb: 'hangup' }] });
  assert.equal(replaced.status, 200, replaced.text);
  const call = await whenOver(id);
  assert.ok(Date.now() - t0 < 15_000, 'ended well before the pause');
  assert.equal(call.outcome, 'completed');
  assert.equal(call.end_reason, 'local_hangup');
  const programs = (call.activities as Activity[]).filter((a) => a.kind === 'program');
  assert.deepEqual(
    programs.map((a) => a.data),
    [{ source: 'live', verbs: 2 }],
    'one program activity for one live command',
  );
  const again = await api('POST', `/calls/${id}/program`, { program: [{ verb: 'hangup' }] });
  assert.equal(again.status, 404, 'not live any more');
  assert.equal(again.body.error.code, 'not_found');
});

test('hangup ends an inbound call: api_hangup, and the caller gets a BYE', async () => {
  const answered = telephony.answered((call) => call.direction === 'inbound' && call.to === CALLER_NUMBER);
  const callIn = telephony.devCarrier!.callIn(telephony.sipEndpoint, { from: '+14155550111', to: CALLER_NUMBER, holdMs: 30_000 });
  await answered;
  const list = await api('GET', '/calls?limit=5');
  assert.equal(list.status, 200);
  const inbound = list.body.calls.find((c: { direction: string; live: boolean }) => c.direction === 'inbound' && c.live);
  assert.ok(inbound, JSON.stringify(list.body));
  assert.equal(inbound.from, '+14155550111');
  const hungUp = await api('POST', `/calls/${inbound.call_id}/hangup`);
  assert.equal(hungUp.status, 200, hungUp.text);
  assert.equal(hungUp.body.state, 'ended');
  assert.equal(hungUp.body.live, false);
  assert.equal(hungUp.body.end_reason, 'api_hangup');
  const result = await callIn;
  assert.equal(result.answered, true);
  assert.equal(result.endedBy, 'remote', 'the caller received our BYE');
  assert.ok(result.durationMs < 20_000);
});

/** Reads an SSE body until its end, as blocks (events and comments). */
async function readSse(url: string, key = token) {
  const response = await fetch(url, { headers: { authorization: `Bearer ${key}` } });
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
  const text = await response.text();
  const blocks = text.split('\n\n').filter(Boolean);
  const events = blocks
    .filter((block) => !block.startsWith(':'))
    .map((block) => {
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      return { event, data: data ? JSON.parse(data) : undefined };
    });
  return { blocks, events, heartbeats: blocks.filter((block) => block.startsWith(': heartbeat ')) };
}

test('the events stream: stored and live states in order ending with ended, activities, heartbeats, then end', async () => {
  const started = await api('POST', '/calls', {
    from: CALLER_NUMBER,
    to: '+14155550100',
    program: [{ verb: 'pause', length: 1 }, { verb: 'hangup' }],
  });
  assert.equal(started.status, 201, started.text);
  const id = started.body.call_id as string;
  const { events, heartbeats } = await readSse(`${base}/calls/${id}/events`);
  const states = events.filter((e) => e.event === 'state').map((e) => e.data.state);
  assert.deepEqual(states, ['queued', 'dialing', 'ringing', 'answered', 'ended']);
  assert.ok(events.filter((e) => e.event === 'state').every((e) => e.data.call_id === id && e.data.leg_id === id));
  const ended = events.find((e) => e.data?.state === 'ended' && e.event === 'state')!;
  assert.equal(ended.data.outcome, 'completed');
  assert.equal(events.at(-1)!.event, 'end');
  assert.equal(events.at(-1)!.data.call_id, id);
  assert.ok(heartbeats.length >= 1, 'a heartbeat comment while the call was quiet');
  // An ended call's stream replays what is stored and ends at once.
  const replay = await readSse(`${base}/calls/${id}/events`);
  assert.deepEqual(
    replay.events.filter((e) => e.event === 'state').map((e) => e.data.state),
    ['queued', 'dialing', 'ringing', 'answered', 'ended'],
  );
  assert.equal(replay.events.at(-1)!.event, 'end');
  const other = await fetch(`${base}/calls/${id}/events`, { headers: { authorization: `Bearer ${otherToken}` } });
  assert.equal(other.status, 404);
});

test('the events stream follows the legs a dial rings as they appear, and the dial activity', async () => {
  const started = await api('POST', '/calls', {
    from: CALLER_NUMBER,
    to: '+14155550100',
    program: [{ verb: 'dial', target: [{ type: 'phone', number: '+14155550101' }], timeLimit: 1 }, { verb: 'hangup' }],
  });
  assert.equal(started.status, 201, started.text);
  const id = started.body.call_id as string;
  const { events } = await readSse(`${base}/calls/${id}/events`);
  const legStates = events.filter((e) => e.event === 'state' && e.data.leg_id !== id);
  assert.ok(legStates.length > 0, JSON.stringify(events));
  const legId = legStates[0]!.data.leg_id as string;
  assert.deepEqual(
    legStates.map((e) => e.data.state),
    ['queued', 'dialing', 'ringing', 'answered', 'ended'],
  );
  assert.ok(legStates.every((e) => e.data.call_id === id && e.data.leg_id === legId));
  const dial = events.find((e) => e.event === 'activity' && e.data.kind === 'dial');
  assert.equal(dial?.data.data.outcome, 'completed');
  assert.equal(dial?.data.data.dial_call_id, legId);
  assert.equal(events.at(-1)!.event, 'end');
  const call = await whenOver(id);
  assert.deepEqual(call.legs.map((leg: { leg_id: string }) => leg.leg_id), [id, legId]);
  assert.ok(call.legs.every((leg: { cost: number | null }) => leg.cost !== null));
  assert.equal(call.cost, call.legs[0].cost + call.legs[1].cost);
});

test('a recorded call lists its recording, whose WAV only its account can fetch', async () => {
  const started = await api('POST', '/calls', {
    from: CALLER_NUMBER,
    to: '+14155550100',
    program: [{ verb: 'record', maxLength: 1, beep: false }, { verb: 'hangup' }],
  });
  assert.equal(started.status, 201, started.text);
  const call = await whenOver(started.body.call_id);
  assert.equal(call.recordings.length, 1, JSON.stringify(call));
  const [recording] = call.recordings;
  assert.ok(recording.duration_s > 0.5);
  const wav = await fetch(`${base}/recordings/${recording.recording_id}`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(wav.status, 200);
  assert.equal(wav.headers.get('content-type'), 'audio/wav');
  assert.equal(Buffer.from(await wav.arrayBuffer()).subarray(0, 4).toString('latin1'), 'RIFF');
  const notYours = await fetch(`${base}/recordings/${recording.recording_id}`, { headers: { authorization: `Bearer ${otherToken}` } });
  assert.equal(notYours.status, 404);
});

test("bad input: 400 naming the field, 402 without credits, 404 for another account's call; nothing written", async () => {
  const snapshot = async () => ({
    balance: await services.credits.balance(accountId),
    calls: (await services.calls.list(accountId, 500)).length,
    otherCalls: (await services.calls.list(otherAccountId, 500)).length,
  });
  const before = await snapshot();
  const program = [{ verb: 'hangup' }];
  const cases: Array<[unknown, number, string, string | undefined]> = [
    [{ to: '+14155550100', program }, 400, 'validation_failed', 'from'],
    [{ from: CALLER_NUMBER, program }, 400, 'validation_failed', 'to'],
    [{ from: CALLER_NUMBER, to: '+14155550100' }, 400, 'validation_failed', 'application_id'],
    [{ from: CALLER_NUMBER, to: '+14155550100', application_id: 'app_x', program }, 400, 'validation_failed', 'program'],
    [{ from: CALLER_NUMBER, to: '+14155550100', program, ring_timeout: 0 }, 400, 'validation_failed', 'ring_timeout'],
    [{ from: CALLER_NUMBER, to: '+14155550100', program, ring_timeout: 301 }, 400, 'validation_failed', 'ring_timeout'],
    [{ from: CALLER_NUMBER, to: '+14155550100', program, time_limit: 14_401 }, 400, 'validation_failed', 'time_limit'],
    [{ from: CALLER_NUMBER, to: '+14155550100', program, colour: 'red' }, 400, 'validation_failed', 'colour'],
    [{ from: '+14155550000', to: '+14155550100', program }, 400, 'validation_failed', 'from'],
    [{ from: CALLER_NUMBER, to: 'not a number', program }, 400, 'invalid_phone_number', 'to'],
    [{ from: CALLER_NUMBER, to: '+14155550100', application_id: 'app_nope' }, 404, 'not_found', 'application_id'],
  ];
  for (const [body, status, code, field] of cases) {
    const response = await api('POST', '/calls', body);
    assert.equal(response.status, status, `${JSON.stringify(body)} → ${response.text}`);
    assert.equal(response.body.error.code, code, response.text);
    assert.equal(response.body.error.details?.field, field, response.text);
  }
  const invalid = await api('POST', '/calls', {
    from: CALLER_NUMBER,
    to: '+14155550100',
    program: [{ verb: 'say', text: 'hi' }, { verb: 'gather', numDigits: 0 }],
  });
  assert.equal(invalid.status, 400);
  assert.equal(invalid.body.error.code, 'invalid_program');
  assert.deepEqual(invalid.body.error.details, { index: 1, field: 'numDigits' });
  assert.match(invalid.body.error.message, /verb 1/);
  const poor = await api('POST', '/calls', { from: '+14155559999', to: '+14155550100', program }, otherToken);
  assert.equal(poor.status, 402, poor.text);
  assert.equal(poor.body.error.code, 'insufficient_credits');
  assert.deepEqual(await snapshot(), before, 'no call rows, balance unchanged');

  const mine = (await services.calls.listTop(accountId, 1))[0]!;
  for (const [method, path, body] of [
    ['GET', `/calls/${mine.id}`, undefined],
    ['POST', `/calls/${mine.id}/hangup`, undefined],
    ['POST', `/calls/${mine.id}/program`, { program }],
  ] as const) {
    const response = await api(method, path, body, otherToken);
    assert.equal(response.status, 404, `${method} ${path}: ${response.text}`);
    assert.equal(response.body.error.code, 'not_found');
  }
  assert.equal((await api('GET', '/calls/call_nope')).status, 404);
  const badProgram = await api('POST', `/calls/${mine.id}/program`, { program: [{ verb: 'dance' }] });
  assert.equal(badProgram.status, 400);
  assert.equal(badProgram.body.error.code, 'invalid_program');
  assert.equal((await api('GET', '/calls', undefined, 'dk_live_nope')).status, 401);
  assert.deepEqual(await snapshot(), before);
});

test('the calls routes are in the OpenAPI document, API-key secured', async () => {
  const openapi = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
  for (const [path, method] of [
    ['/dialplane/v1/calls', 'post'],
    ['/dialplane/v1/calls', 'get'],
    ['/dialplane/v1/calls/{id}', 'get'],
    ['/dialplane/v1/calls/{id}/events', 'get'],
    ['/dialplane/v1/calls/{id}/program', 'post'],
    ['/dialplane/v1/calls/{id}/hangup', 'post'],
    ['/dialplane/v1/recordings/{id}', 'get'],
  ] as const) {
    const operation = openapi.paths[path]?.[method];
    assert.ok(operation, `${method} ${path}`);
    assert.deepEqual(operation.security, [{ bearer: [] }, { apiKeyHeader: [] }]);
  }
  assert.ok(openapi.paths['/dialplane/v1/calls'].post.requestBody);
});
