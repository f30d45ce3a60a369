import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createHookRequester, HookError, isHookError } from '../../../src/webhooks/hook-request.js';
import { verifyTimestamped } from '../../../src/webhooks/signer.js';
import { startReceiver, type Answer, type WebhookReceiver } from '../../helpers/webhook-receiver.js';

const SECRET = 'whsec_test_hook_secret';
const PROGRAM = [{ verb: 'say', text: 'Hello' }];

/** Asserts that `promise` rejects with a HookError of this reason (and status), and returns it. */
async function hookFailure(promise: Promise<unknown>, reason: HookError['reason'], status?: number): Promise<HookError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(isHookError(error), `expected a HookError, got ${String(error)}`);
    assert.equal(error.reason, reason, error.message);
    assert.equal(error.status, status);
    assert.ok(error.message.length > 0);
    return error;
  }
  assert.fail('the hook request did not fail');
}

describe('hook requests against a real HTTP receiver', () => {
  let receiver: WebhookReceiver;
  /** What the receiver answers next, per request path. */
  const answers = new Map<string, Answer>();

  before(async () => {
    receiver = await startReceiver((_index, request) => answers.get(request.path) ?? { status: 404 });
  });
  after(async () => receiver.close());

  const url = (path: string) => `http://127.0.0.1:${receiver.port}${path}`;
  const requester = createHookRequester({ allowPrivate: true, timeoutMs: 2_000 });

  test('POSTs the JSON body signed with the secret and answers the parsed 2xx JSON', async () => {
    answers.set('/call', { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(PROGRAM) });
    const sent = { call_id: 'call_1', direction: 'inbound', from: '+14155550111', to: '+14155551234', state: 'ringing' };
    const answer = await requester(url('/call'), sent, SECRET);
    assert.deepEqual(answer, { status: 200, body: PROGRAM });

    const request = receiver.requests.at(-1)!;
    assert.equal(request.method, 'POST');
    assert.equal(request.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(request.body.toString('utf8')), sent);
    const header = request.headers['x-dialplane-signature'] as string;
    assert.match(header, /^t=\d+,v1=[0-9a-f]{64}$/);
    const nowSeconds = Math.floor(Date.now() / 1000);
    assert.deepEqual(verifyTimestamped(request.body, header, [SECRET], { nowSeconds }), { ok: true });
    assert.deepEqual(verifyTimestamped(request.body, header, ['whsec_other'], { nowSeconds }), { ok: false, reason: 'mismatch' });
  });

  test('any 2xx with a JSON body is an answer, whatever its content type says', async () => {
    answers.set('/created', { status: 201, body: '{"ok":true}' });
    assert.deepEqual(await requester(url('/created'), {}, SECRET), { status: 201, body: { ok: true } });
  });

  test('a hook slower than the timeout fails with timeout', async () => {
    answers.set('/slow', 'hold');
    const slow = createHookRequester({ allowPrivate: true, timeoutMs: 200 });
    const started = Date.now();
    await hookFailure(slow(url('/slow'), {}, SECRET), 'timeout');
    assert.ok(Date.now() - started < 1_500, 'the whole request is bounded by the timeout');
    receiver.release(200);
  });

  test('a non-2xx answer fails with status, carrying the status', async () => {
    answers.set('/broken', { status: 500, body: '{"error":"boom"}' });
    await hookFailure(requester(url('/broken'), {}, SECRET), 'status', 500);
    answers.set('/moved', { status: 302, headers: { location: 'http://127.0.0.1:1/' } });
    await hookFailure(requester(url('/moved'), {}, SECRET), 'status', 302);
  });

  test('a 2xx whose body is not JSON (or is empty) fails with not_json', async () => {
    answers.set('/html', { status: 200, headers: { 'content-type': 'text/html' }, body: '<html>hi</html>' });
    await hookFailure(requester(url('/html'), {}, SECRET), 'not_json', 200);
    answers.set('/empty', { status: 204, body: '' });
    await hookFailure(requester(url('/empty'), {}, SECRET), 'not_json', 204);
  });

  test('private targets are refused, before any connection, unless allowed', async () => {
    answers.set('/guarded', { status: 200, body: '[]' });
    const count = receiver.requests.length;
    const guarded = createHookRequester({ allowPrivate: false, timeoutMs: 2_000 });
    await hookFailure(guarded(url('/guarded'), {}, SECRET), 'refused');
    await hookFailure(guarded('http://169.254.169.254/latest', {}, SECRET), 'refused');
    assert.equal(receiver.requests.length, count, 'the receiver saw nothing');
    // The metadata address stays refused even when private targets are allowed.
    await hookFailure(requester('http://169.254.169.254/latest', {}, SECRET), 'refused');
    await hookFailure(requester('ftp://127.0.0.1/x', {}, SECRET), 'refused');
  });

  test('nothing listening fails with network', async () => {
    const closed = await startReceiver();
    const port = closed.port;
    await closed.close();
    await hookFailure(requester(`http://127.0.0.1:${port}/hook`, {}, SECRET), 'network');
  });
});
