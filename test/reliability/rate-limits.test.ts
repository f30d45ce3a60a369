import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, test, type TestContext } from 'node:test';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { Registry } from 'prom-client';
import { buildApp } from '../../src/api/app.js';
import { registerFaceFormats } from '../../src/api/faces.js';
import { allFaces } from '../../src/api/faces/all-faces.js';
import { dialplaneWindows } from '../../src/api/dialplane/policy.js';
import { windows as dialWindows } from '../../src/api/faces/dial/policy.js';
import { windows as dialAnyoneWindows } from '../../src/api/faces/dialanyone/policy.js';
import { voice2PhoneWindows } from '../../src/api/faces/voice2phone/policy.js';
import { WEBFONES_WINDOW } from '../../src/api/faces/webfones/policy.js';
import { MemoryRateLimitStore } from '../../src/api/rate-limit/memory-store.js';
import { RateLimiter } from '../../src/api/rate-limit/rate-limiter.js';
import { loadConfig } from '../../src/config/config.js';
import { systemClock } from '../../src/core/clock.js';
import { createServices, type Services } from '../../src/core/services.js';
import { errorRegistry } from '../../src/errors.js';
import { startMessaging, type Messaging } from '../../src/messaging.js';
import { parseSecretKey, SecretBox } from '../../src/store/secret-box.js';
import { createStore } from '../../src/store/store.js';
import { ADMIN_TOKEN, ManualClock, seedAccount, TEST_SECRETS_KEY } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { makeTestCertificate, type TestCertificate } from '../helpers/tls-cert.js';
import { NO_TRUNK, startTestTelephony, type TestTelephony } from '../helpers/telephony.js';

/**
 * Every rate limit the faces enforce, hammered over real keep-alive connections: 8 clients, each on its own socket,
 * start together and send more requests than the limit allows within one window. The limiter's clock is the test's
 * (RateLimiter and MemoryRateLimitStore take one), so a window lasts exactly as long as the test wants and passing to
 * the next one is a clock step, not a minute's wait; everything else (services, call control) runs on the system
 * clock. The limiter keeps its counters in this process's memory, so SQLite is enough.
 */

const CLIENTS = 8;
/** Where in its window each hammer starts: Retry-After must count down from here, not from the window's start. */
const INTO_WINDOW_MS = 7_250;
const RTP_PORTS = '55600-55699';
const MINUTE = 60_000;
const BROKE_NUMBER = '+14155550101';

interface Answer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
  readonly localPort: number;
}

interface Request {
  readonly method: string;
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  /** Over TLS (the port serves both): Voice2Phone answers nothing else. */
  readonly tls?: boolean;
  /** What the route answers a request the limiter let through. */
  readonly accepted: number;
}

interface Limit {
  /** How the face names it, for the printed figures. */
  readonly name: string;
  readonly limit: number;
  readonly windowMs: number;
  /** The requests client `c` sends, in turn; several routes of a face draw on a face-wide window. */
  readonly requests: (client: number) => readonly Request[];
  /** The face's documented refusal, checked on every 429 (status, headers and Retry-After are checked for all). */
  readonly refusal: (answer: Answer, retryAfter: number) => void;
}

let db: TestDatabase;
let services: Services;
let telephony: TestTelephony;
let messaging: Messaging;
let app: FastifyInstance;
let rateStore: MemoryRateLimitStore;
const limiterClock = new ManualClock();
let port: number;
let cert: TestCertificate;
/** An account with credits and numbers, and one with neither: the latter's calls are refused before anything rings. */
let richAccount: string;
let brokeAccount: string;

before(async () => {
  cert = await makeTestCertificate(undefined);
  db = await createTestDatabase('sqlite');
  const secrets = new SecretBox(parseSecretKey(TEST_SECRETS_KEY)!);
  services = createServices(createStore(db.database, { secrets }), { clock: systemClock, defaultCountry: 'US', keyCacheTtlMs: 60_000 });
  registerFaceFormats(services.webhooks, allFaces);
  telephony = await startTestTelephony(services, { rtpPorts: RTP_PORTS, trunk: NO_TRUNK });
  // SMS through the real SMPP carrier to the dev SMSC on loopback.
  messaging = await startMessaging(loadConfig({ DIALPLANE_DATA_DIR: '/nonexistent-unused', DIALPLANE_SMSC: 'dev' }).sms, services, pino({ level: 'silent' }));
  rateStore = new MemoryRateLimitStore({ clock: () => limiterClock.nowMs() });
  app = await buildApp({
    services,
    http: { bodyLimit: 1_048_576, trustProxy: false },
    tls: { cert: Buffer.from(cert.cert), key: Buffer.from(cert.key) },
    rateLimiter: new RateLimiter(rateStore, () => limiterClock.nowMs()),
    logger: false,
    metrics: new Registry(),
    adminToken: ADMIN_TOKEN,
    ready: () => db.database.ping(),
    calls: telephony.control,
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  port = (app.server.address() as AddressInfo).port;
  richAccount = (await seedAccount(services)).account.id;
  brokeAccount = (await services.accounts.create({ name: 'Broke', email: 'broke@example.com' })).account.id;
  await services.numbers.add(brokeAccount, { number: BROKE_NUMBER, type: 'purchased' });
});

after(async () => {
  await app?.close();
  rateStore?.close();
  await messaging?.close();
  await telephony?.close();
  await db?.close();
});

/** One client: a plain and a TLS agent, each holding at most one keep-alive socket (a client uses one or the other). */
interface Client {
  readonly plain: http.Agent;
  readonly secure: https.Agent;
}

function newClient(): Client {
  return {
    plain: new http.Agent({ keepAlive: true, maxSockets: 1 }),
    secure: new https.Agent({ keepAlive: true, maxSockets: 1, ca: cert.cert }),
  };
}

function send(client: Client, request: Request): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...request.headers };
    if (request.body !== undefined) headers['content-length'] = String(Buffer.byteLength(request.body));
    const options = { host: '127.0.0.1', port, method: request.method, path: request.path, headers };
    const onResponse = (res: http.IncomingMessage) => {
      const localPort = res.socket.localPort ?? 0;
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), localPort }),
      );
      res.on('error', reject);
    };
    const req = request.tls
      ? https.request({ ...options, agent: client.secure, servername: 'localhost' }, onResponse)
      : http.request({ ...options, agent: client.plain }, onResponse);
    req.on('error', reject);
    req.end(request.body);
  });
}

interface Sent {
  readonly request: Request;
  readonly answer: Answer;
}

/** Each client on its own keep-alive socket, all started in the same tick, each sending its requests one after another. */
async function clients(
  count: number,
  requestsOf: (client: number) => readonly Request[],
  onAnswer: (answered: number) => void = () => undefined,
): Promise<{ sent: Sent[]; sockets: number }> {
  let answered = 0;
  const agents = Array.from({ length: CLIENTS }, newClient);
  const ports = new Set<number>();
  try {
    const perClient = await Promise.all(
      agents.map(async (agent, client) => {
        const requests = requestsOf(client);
        const out: Sent[] = [];
        for (let i = 0; i < count; i++) {
          const request = requests[i % requests.length]!;
          const answer = await send(agent, request);
          ports.add(answer.localPort);
          out.push({ request, answer });
          onAnswer(++answered);
        }
        return out;
      }),
    );
    return { sent: perClient.flat(), sockets: ports.size };
  } finally {
    for (const agent of agents) {
      agent.plain.destroy();
      agent.secure.destroy();
    }
  }
}

/** Moves the limiter's clock to `INTO_WINDOW_MS` into a window that no earlier request has touched. */
function freshWindow(windowMs: number): number {
  limiterClock.advance(windowMs - (limiterClock.nowMs() % windowMs) + INTO_WINDOW_MS);
  return limiterClock.nowMs() - INTO_WINDOW_MS + windowMs;
}

function remainingValues(sent: readonly Sent[]): number[] {
  return sent.map((s) => Number(s.answer.headers['x-ratelimit-remaining'])).sort((a, b) => a - b);
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

async function hammer(t: TestContext, limit: Limit): Promise<void> {
  const windowEnd = freshWindow(limit.windowMs);
  const retryAfter = Math.ceil((limit.windowMs - INTO_WINDOW_MS) / 1000);
  // Enough past the limit that an overshoot of 1 % could show, and every client is still sending at the boundary.
  const perClient = Math.ceil((limit.limit + Math.max(3 * CLIENTS, Math.ceil(limit.limit * 0.1))) / CLIENTS);
  const started = performance.now();
  const { sent, sockets } = await clients(perClient, limit.requests);
  const ms = performance.now() - started;

  const accepted = sent.filter((s) => s.answer.status !== 429);
  const refused = sent.filter((s) => s.answer.status === 429);
  const errors = sent.filter((s) => s.answer.status >= 500);
  const overshoot = (accepted.length - limit.limit) / limit.limit;
  t.diagnostic(
    `${limit.name}: limit ${limit.limit}, sent ${sent.length} on ${sockets} connections in ${ms.toFixed(0)} ms, accepted ${accepted.length}, ` +
      `refused ${refused.length}, overshoot ${(overshoot * 100).toFixed(2)} %, 5xx ${errors.length}`,
  );
  assert.equal(sockets, CLIENTS, 'every client kept its one connection');
  assert.equal(errors.length, 0, `no 5xx: ${errors[0]?.answer.body}`);
  assert.ok(overshoot < 0.01, `overshoot ${(overshoot * 100).toFixed(2)} % (${accepted.length} accepted of ${limit.limit})`);
  assert.equal(accepted.length, limit.limit, 'within one window, a refused request consumes nothing: exactly the limit is accepted');
  for (const { request, answer } of accepted) {
    assert.equal(answer.status, request.accepted, `${request.method} ${request.path}: ${answer.body}`);
    assert.equal(answer.headers['x-ratelimit-limit'], String(limit.limit));
    assert.equal(answer.headers['x-ratelimit-reset'], String(windowEnd / 1000));
  }
  assert.deepEqual(remainingValues(accepted), range(0, limit.limit - 1), 'each accepted request saw its own count: no two shared one');
  for (const { answer } of refused) {
    assert.equal(answer.headers['retry-after'], String(retryAfter), 'Retry-After counts down to the end of the window');
    assert.equal(answer.headers['x-ratelimit-limit'], String(limit.limit));
    assert.equal(answer.headers['x-ratelimit-remaining'], '0');
    assert.equal(answer.headers['x-ratelimit-reset'], String(windowEnd / 1000));
    limit.refusal(answer, retryAfter);
  }

  // The next window: every client is let through again, each counted once.
  limiterClock.advance(windowEnd - limiterClock.nowMs());
  const next = await clients(1, limit.requests);
  const refusedAgain = next.sent.filter((s) => s.answer.status === 429).length;
  t.diagnostic(`${limit.name}: next window, ${next.sent.length - refusedAgain} of ${next.sent.length} accepted`);
  for (const { request, answer } of next.sent) assert.equal(answer.status, request.accepted, answer.body);
  assert.deepEqual(remainingValues(next.sent), range(limit.limit - CLIENTS, limit.limit - 1));
}


const RATE_LIMITED = errorRegistry.rate_limited.message;
const json = { 'content-type': 'application/json' };

/** A fresh key of an account, so each limit starts from an empty count. */
async function bearer(accountId: string): Promise<string> {
  return (await services.keys.create(accountId, { name: `hammer-${Math.random().toString(36).slice(2)}` })).token;
}

function standardRefusal(answer: Answer, retryAfter: number): void {
  assert.match(String(answer.headers['content-type']), /^application\/json/);
  assert.deepEqual(JSON.parse(answer.body), { error: { code: 'rate_limited', message: RATE_LIMITED, details: { retry_after_seconds: retryAfter } } });
}

function dialRefusal(answer: Answer, retryAfter: number): void {
  assert.deepEqual(JSON.parse(answer.body), { error: 'rate_limited', message: RATE_LIMITED, retry_after: retryAfter });
}

function dialLinkRefusal(answer: Answer, retryAfter: number): void {
  assert.deepEqual(JSON.parse(answer.body), { status: 429, code: 'rate_limited', description: RATE_LIMITED, details: { retry_after_seconds: retryAfter } });
}

async function dialApp(): Promise<Record<string, string>> {
  const created = await services.apps.create(richAccount, { name: `hammer-${Math.random().toString(36).slice(2)}`, callerIdAllowList: ['0721234567'], country: 'IL' });
  return { 'x-app-id': created.app.id, 'x-api-key': created.token };
}

const UNKNOWN = 'xxxxx-00000000-0000-4000-8000-000000000000';

test('Dial: 60 POST /api/v1/dial a minute per app key', async (t) => {
  const headers = { ...(await dialApp()), ...json };
  // A caller ID off the app's allow-list: refused by the gateway service (403 cid_not_allowed) after the limiter counted it.
  const dial: Request = { method: 'POST', path: '/api/v1/dial', headers, body: JSON.stringify({ to: '0527121102', from: '0731111111' }), accepted: 403 };
  await hammer(t, { ...dialWindows.dial, name: 'Dial dials', requests: () => [dial], refusal: dialRefusal });
});

test('Dial: 600 requests a minute per app key, over every route of the face', async (t) => {
  const headers = await dialApp();
  const status: Request = { method: 'GET', path: `/api/v1/dial/${UNKNOWN}`, headers, accepted: 404 };
  const hangup: Request = { method: 'POST', path: `/api/v1/dial/${UNKNOWN}/hangup`, headers, accepted: 404 };
  await hammer(t, { ...dialWindows.total, name: 'Dial total', requests: (c) => (c % 2 ? [status, hangup] : [hangup, status]), refusal: dialRefusal });
});

test('DialAnyone: 100 call requests a minute per key', async (t) => {
  const headers = { authorization: `Bearer ${await bearer(brokeAccount)}`, ...json };
  // The account cannot cover the first minute: 402 before anything rings, after the limiter counted the request.
  const call: Request = { method: 'POST', path: '/api/v1/calls', headers, body: JSON.stringify({ user_number: BROKE_NUMBER, target_number: '+14155550102' }), accepted: 402 };
  await hammer(t, { ...dialAnyoneWindows.calls, name: 'DialAnyone calls', requests: () => [call], refusal: standardRefusal });
});

test('DialAnyone: 1,000 SMS requests a minute per key', async (t) => {
  const headers = { authorization: `Bearer ${await bearer(brokeAccount)}`, ...json };
  // The account cannot pay for the SMS: 402, charged and sent nothing, after the limiter counted the request.
  const sms: Request = { method: 'POST', path: '/api/v1/sms', headers, body: JSON.stringify({ from: BROKE_NUMBER, to: '+14155550102', body: 'hi' }), accepted: 402 };
  await hammer(t, { ...dialAnyoneWindows.sms, name: 'DialAnyone SMS', requests: () => [sms], refusal: standardRefusal });
});

test('DialAnyone: 10,000 requests an hour per key, over every route of the face', async (t) => {
  const headers = { authorization: `Bearer ${await bearer(richAccount)}` };
  const me: Request = { method: 'GET', path: '/api/v1/me', headers, accepted: 200 };
  const call: Request = { method: 'GET', path: '/api/v1/calls/unknown', headers, accepted: 404 };
  await hammer(t, { ...dialAnyoneWindows.total, name: 'DialAnyone total', requests: (c) => (c % 2 ? [me, call] : [call, me]), refusal: standardRefusal });
});

test('Voice2Phone: 100 POST /call a minute per key', async (t) => {
  const headers = { authorization: `Basic ${Buffer.from(`${await bearer(brokeAccount)}:`).toString('base64')}`, ...json };
  const body = JSON.stringify({ Phone: { CountryCode: 'US', Number: '4155550102' }, Message: 'hello' });
  const call: Request = { method: 'POST', path: '/voice2phone/call', headers, body, tls: true, accepted: 402 };
  await hammer(t, { ...voice2PhoneWindows.calls, name: 'Voice2Phone calls', requests: () => [call], refusal: standardRefusal });
});

test('Voice2Phone: 1,000 requests a minute per key', async (t) => {
  const headers = { authorization: await bearer(richAccount) };
  const status: Request = { method: 'GET', path: '/voice2phone/call/unknown', headers, tls: true, accepted: 404 };
  await hammer(t, { ...voice2PhoneWindows.total, name: 'Voice2Phone total', requests: () => [status], refusal: standardRefusal });
});

test('DialLink: 1,000 requests a minute per key, over all four prefixes of the face', async (t) => {
  const headers = { 'x-api-key': await bearer(richAccount) };
  const requests: Request[] = [
    { method: 'GET', path: '/v1/phone-system/contacts/unknown', headers, accepted: 404 },
    { method: 'GET', path: '/v1/account-hub/api-keys/unknown', headers, accepted: 404 },
    { method: 'GET', path: '/users/me', headers, accepted: 200 },
  ];
  await hammer(t, { name: 'DialLink total', limit: 1_000, windowMs: MINUTE, requests: (c) => requests.slice(c % 3).concat(requests.slice(0, c % 3)), refusal: dialLinkRefusal });
});

test('DialLink: 30 sign-in attempts a minute per client address', async (t) => {
  // A wrong password costs a full scrypt (~0.1-0.3 s here): one client sends real attempts, the others sign-ins
  // without a password, refused by the schema once the limiter has counted them.
  const attempt: Request = { method: 'POST', path: '/v1/auth/tokens', headers: json, body: JSON.stringify({ email: 'nobody@example.com', password: 'wrong' }), accepted: 401 };
  const malformed: Request = { method: 'POST', path: '/v1/auth/tokens', headers: json, body: JSON.stringify({ email: 'nobody@example.com' }), accepted: 400 };
  await hammer(t, { name: 'DialLink sign-in', limit: 30, windowMs: MINUTE, requests: (c) => (c === 0 ? [attempt] : [malformed]), refusal: dialLinkRefusal });
});

test('WebFones: 1,000 requests in 15 minutes per IP address, shared by /dialer and /dailer, counted before the key', async (t) => {
  const body = JSON.stringify({ extension: '100', phonenumber: '0527121102' });
  // Each client claims another address in X-Forwarded-For: no proxy is trusted, so they are all one address.
  const headers = (c: number) => ({ ...json, 'x-forwarded-for': `198.51.100.${c + 1}` });
  const dialer = (c: number): Request => ({ method: 'POST', path: '/dialer/call', headers: headers(c), body, accepted: 401 });
  const dailer = (c: number): Request => ({ method: 'POST', path: '/dailer/call', headers: headers(c), body, accepted: 401 });
  await hammer(t, {
    ...WEBFONES_WINDOW,
    name: 'WebFones',
    requests: (c) => (c % 2 ? [dialer(c), dailer(c)] : [dailer(c), dialer(c)]),
    refusal: (answer) => assert.equal(answer.body, '{"error":"Too many requests from this IP, please try again later."}'),
  });
});

test("Dialplane API: 1,200 requests a minute per key", async (t) => {
  const headers = { authorization: `Bearer ${await bearer(richAccount)}` };
  const list: Request = { method: 'GET', path: '/dialplane/v1/applications', headers, accepted: 200 };
  await hammer(t, { ...dialplaneWindows.requests, name: 'Dialplane API', requests: () => [list], refusal: standardRefusal });
});

test('Dashboard: 20 sign-in attempts a minute per client address', async (t) => {
  const headers = { 'content-type': 'application/x-www-form-urlencoded' };
  const attempt: Request = { method: 'POST', path: '/dashboard/sign-in', headers, body: 'email=nobody%40example.com&password=wrong&_csrf=x', accepted: 403 };
  await hammer(t, {
    name: 'Dashboard sign-in',
    limit: 20,
    windowMs: MINUTE,
    requests: () => [attempt],
    refusal: (answer) => {
      assert.match(String(answer.headers['content-type']), /^text\/html/);
      assert.match(answer.body, new RegExp(RATE_LIMITED));
    },
  });
});


test("regression: a read-only key's refused writes were not counted, so it could send them without limit", async (t) => {
  const { token } = await services.keys.create(richAccount, { name: 'read-only hammer', permission: 'read_only' });
  const headers = { authorization: `Bearer ${token}`, ...json };
  const body = JSON.stringify({ name: 'never made', call_hook: 'https://hooks.example.com/call' });
  const write: Request = { method: 'POST', path: '/dialplane/v1/applications', headers, body, accepted: 403 };
  await hammer(t, { ...dialplaneWindows.requests, name: 'Dialplane API, read-only key writing', requests: () => [write], refusal: standardRefusal });
});

test('a window that ends while the clients hammer: the old one stays full, the new one counts from zero', async (t) => {
  const headers = { ...(await dialApp()), ...json };
  const dial: Request = { method: 'POST', path: '/api/v1/dial', headers, body: JSON.stringify({ to: '0527121102', from: '0731111111' }), accepted: 403 };
  const { limit, windowMs } = dialWindows.dial;
  const firstEnd = freshWindow(windowMs);
  const perClient = Math.ceil((2 * limit - CLIENTS) / CLIENTS);
  const stepAfter = limit + 3 * CLIENTS;
  // Mid-flight: requests already counted in the old window may be answered after the step.
  const { sent } = await clients(perClient, () => [dial], (answered) => {
    if (answered === stepAfter) limiterClock.advance(firstEnd - limiterClock.nowMs());
  });
  const inWindow = (endMs: number) => sent.filter((s) => s.answer.headers['x-ratelimit-reset'] === String(endMs / 1000));
  const first = inWindow(firstEnd);
  const second = inWindow(firstEnd + windowMs);
  const firstAccepted = first.filter((s) => s.answer.status !== 429);
  const secondAccepted = second.filter((s) => s.answer.status !== 429);
  t.diagnostic(
    `Dial dials across a window's end: limit ${limit}, sent ${sent.length}, clock stepped after ${stepAfter} answers; ` +
      `old window ${firstAccepted.length} accepted, ${first.length - firstAccepted.length} refused; new window ${secondAccepted.length} accepted, ${second.length - secondAccepted.length} refused`,
  );
  assert.equal(first.length + second.length, sent.length, 'every answer belongs to one of the two windows');
  assert.equal(firstAccepted.length, limit, 'the old window let exactly its limit through');
  assert.deepEqual(remainingValues(firstAccepted), range(0, limit - 1));
  assert.ok(second.length < limit, 'the new window had room for every request sent into it');
  assert.equal(secondAccepted.length, second.length, 'the new window refused nothing');
  assert.deepEqual(remainingValues(secondAccepted), range(limit - second.length, limit - 1), 'counted from zero, each request once');
});
