import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { freePort, killHard, spawnServe, testEnv, waitReady, type ServerProcess } from '../helpers/processes.js';
import { startReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

/**
 * Call hooks that fail, against a real `dialplane serve` on the dev carrier and a real HTTP app on loopback: a hook
 * that never answers (DIALPLANE_HOOK_TIMEOUT_MS), one that answers 500, one that answers JSON that is no program.
 * Each call gets its hook_error and is hung up; the server stays healthy and places the next call.
 */
const HOOK_TIMEOUT_MS = 700;
let dataDir: string;
let base: string;
let key: string;
let server: ServerProcess | undefined;
let app: WebhookReceiver;
const FROM = '+14155551234';

before(async () => {
  app = await startReceiver((_index, request) => {
    if (request.path.startsWith('/silent')) return 'hold';
    if (request.path.startsWith('/broken')) return { status: 500, body: 'oops' };
    return { status: 200, headers: { 'content-type': 'application/json' }, body: '{"not":"a program"}' };
  });
  dataDir = await mkdtemp(join(tmpdir(), 'dialplane-call-hooks-'));
  const port = await freePort();
  const env = testEnv({
    DIALPLANE_DATA_DIR: dataDir,
    DIALPLANE_HTTP_PORT: String(port),
    DIALPLANE_RTP_PORTS: '51000-51999',
    DIALPLANE_HOOK_TIMEOUT_MS: String(HOOK_TIMEOUT_MS),
    DIALPLANE_WEBHOOK_ALLOW_PRIVATE: 'true',
  });
  server = spawnServe(env);
  await waitReady(`http://127.0.0.1:${port}`, server);
  base = `http://127.0.0.1:${port}`;
  key = (JSON.parse(await readFile(join(dataDir, 'bootstrap.json'), 'utf8')) as { apiKey: string }).apiKey;
});
after(async () => {
  app.release(200);
  await killHard(server);
  await app.close();
  await rm(dataDir, { recursive: true, force: true });
});

async function api(method: string, path: string, body?: unknown) {
  const response = await fetch(`${base}/dialplane/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined, text };
}

async function whenOver(callId: string, timeoutMs = 20_000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const { body } = await api('GET', `/calls/${callId}`);
    if (body.live === false) return body;
    if (Date.now() > until) throw new Error(`call ${callId} still live: ${JSON.stringify(body)}; stderr: ${server?.stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function callWithHook(path: string) {
  const application = await api('POST', '/applications', { name: `hook ${path}`, call_hook: `http://127.0.0.1:${app.port}${path}` });
  assert.equal(application.status, 201, application.text);
  const started = await api('POST', '/calls', { from: FROM, to: '+14155550100', application_id: application.body.id });
  assert.equal(started.status, 201, started.text);
  assert.equal(started.body.application_id, application.body.id);
  return whenOver(started.body.call_id);
}

type Activity = { kind: string; at: string; data: Record<string, unknown> };

for (const [path, reason] of [
  ['/silent', 'timeout'],
  ['/broken', 'status'],
  ['/not-a-program', 'invalid_program'],
] as const) {
  test(`a call hook at ${path}: a hook_error (${reason}), the call hung up`, async () => {
    const seen = app.requests.length;
    const call = await callWithHook(path);
    const request = app.requests.slice(seen).find((r) => r.path === path);
    assert.ok(request, 'the hook was asked');
    assert.match(String(request.headers['x-dialplane-signature']), /^t=\d+,v1=[0-9a-f]{64}$/);
    assert.equal(JSON.parse(request.body.toString('utf8')).call_id, call.call_id);
    const errors = (call.activities as Activity[]).filter((a) => a.kind === 'hook_error');
    assert.equal(errors.length, 1, JSON.stringify(call.activities));
    assert.equal(errors[0]!.data['reason'], reason);
    assert.equal(errors[0]!.data['url'], `http://127.0.0.1:${app.port}${path}`);
    assert.equal(call.state, 'ended');
    assert.equal(call.outcome, 'completed', 'answered, then hung up by us');
    assert.equal(call.end_reason, 'local_hangup');
    assert.ok(!(call.activities as Activity[]).some((a) => a.kind === 'program'), 'no program ran');
    if (reason === 'timeout') {
      const waited = Date.parse(errors[0]!.at) - Date.parse(call.answered_at);
      assert.ok(waited >= HOOK_TIMEOUT_MS - 50 && waited < HOOK_TIMEOUT_MS + 1_500, `given up after ${waited} ms`);
    }
  });
}

test('the server is healthy afterwards and places the next call', async () => {
  const health = await fetch(`${base}/healthz`);
  assert.equal(health.status, 200);
  const started = await api('POST', '/calls', {
    from: FROM,
    to: '+14155550100',
    program: [{ verb: 'say', text: 'Still here.' }, { verb: 'hangup' }],
  });
  assert.equal(started.status, 201, started.text);
  const call = await whenOver(started.body.call_id);
  assert.equal(call.outcome, 'completed');
  assert.equal(call.end_reason, 'local_hangup');
  assert.ok(!server!.hasExited());
});

test('a changed application: the call already running keeps its program, the next call runs the new one', async () => {
  // The dev carrier's +14155557123 answers and presses 1, 2, 3.
  const created = await api('POST', '/applications', { name: 'Changing', program: [{ verb: 'gather', numDigits: 3, timeout: 5 }] });
  assert.equal(created.status, 201, created.text);
  const first = await api('POST', '/calls', { from: FROM, to: '+14155557123', application_id: created.body.id });
  assert.equal(first.status, 201, first.text);
  const changed = await api('PATCH', `/applications/${created.body.id}`, { program: [{ verb: 'gather', numDigits: 1, timeout: 5 }] });
  assert.equal(changed.status, 200, changed.text);
  const digitsOf = (call: { activities: Activity[] }) => call.activities.filter((a) => a.kind === 'gather').map((a) => a.data['digits']);
  assert.deepEqual(digitsOf(await whenOver(first.body.call_id)), ['123'], 'the running call kept the three-digit gather');
  const second = await api('POST', '/calls', { from: FROM, to: '+14155557123', application_id: created.body.id });
  assert.equal(second.status, 201, second.text);
  assert.deepEqual(digitsOf(await whenOver(second.body.call_id)), ['1'], 'the next call ran the new program');
});
