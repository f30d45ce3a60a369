import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { after, before, test } from 'node:test';
import { CLI, ROOT, freePort, killHard, runCli, spawnServe, testEnv, waitReady, type ServerProcess } from '../helpers/processes.js';

/**
 * `dialplane call` and `dialplane dev call-in` against a real server whose trunk is the dev carrier: real SIP and
 * RTP on loopback between two stacks in the server process, driven through the admin API by the CLI process.
 */
let dataDir: string;
let env: NodeJS.ProcessEnv;
let server: ServerProcess | undefined;
const FROM = '+14155551234';

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'dialplane-cli-calls-'));
  const port = await freePort();
  env = testEnv({ DIALPLANE_DATA_DIR: dataDir, DIALPLANE_HTTP_PORT: String(port), DIALPLANE_RTP_PORTS: '33000-33999' });
  server = spawnServe(env);
  await waitReady(`http://127.0.0.1:${port}`, server);
});
after(async () => {
  await killHard(server);
  await rm(dataDir, { recursive: true, force: true });
});

type Event = { state: string; outcome?: string; hangup_cause?: string; hangup_cause_code?: number; end_reason?: string; sip_status?: number };

/** Places a call with --json; its exit status must be the one documented for the outcome it ended with. */
async function call(to: string, exitStatus: number, ...options: string[]): Promise<Event[]> {
  const result = await runCli(env, ['call', to, '--from', FROM, '--json', ...options]);
  assert.equal(result.code, exitStatus, `stdout: ${result.stdout}\nstderr: ${result.stderr}`);
  return result.stdout.trim().split('\n').map((line) => JSON.parse(line) as Event);
}

test('a call that answers and is hung up at its maximum duration', async () => {
  const events = await call('+14155550100', 0, '--max-duration', '1');
  assert.deepEqual(events.map((e) => e.state), ['queued', 'dialing', 'ringing', 'answered', 'ended']);
  const last = events.at(-1)!;
  assert.equal(last.outcome, 'completed');
  assert.equal(last.end_reason, 'time_limit');
  assert.equal(last.hangup_cause, 'NORMAL_CLEARING');
});

test('a busy number: the last line carries outcome and Q.850 cause; exit status 3', async () => {
  const last = (await call('+14155550486', 3)).at(-1)!;
  assert.equal(last.outcome, 'busy');
  assert.equal(last.hangup_cause, 'USER_BUSY');
  assert.equal(last.hangup_cause_code, 17);
  assert.equal(last.sip_status, 486);
});

test('no answer until the ring timeout; exit status 4', async () => {
  const last = (await call('+14155550480', 4, '--timeout', '1')).at(-1)!;
  assert.equal(last.outcome, 'no_answer');
  assert.equal(last.end_reason, 'ring_timeout');
});

/** Starts `dialplane call`, sends it SIGINT once `interruptWhen` shows on its stdout, and collects how it ended. */
async function interruptedCall(to: string, interruptWhen: RegExp, ...options: string[]) {
  const child = spawn(process.execPath, [CLI, 'call', to, '--from', FROM, ...options], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let interrupted = false;
  const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    if (!interrupted && interruptWhen.test(stdout)) {
      interrupted = true;
      child.kill('SIGINT');
    }
  });
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  clearTimeout(killer);
  assert.ok(interrupted, `never saw ${String(interruptWhen)}\nstdout: ${stdout}\nstderr: ${stderr}`);
  return { code, stdout, stderr };
}

test('Ctrl-C on an answered call hangs it up through the API, prints the final event and exits 130', async () => {
  const result = await interruptedCall('+14155550100', /"state":"answered"/, '--json', '--max-duration', '600');
  assert.equal(result.code, 130, `stdout: ${result.stdout}\nstderr: ${result.stderr}`);
  const events = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as Event);
  assert.deepEqual(events.map((e) => e.state), ['queued', 'dialing', 'ringing', 'answered', 'ended']);
  const last = events.at(-1)!;
  assert.equal(last.end_reason, 'api_hangup');
  assert.equal(last.outcome, 'completed');
  assert.match(result.stderr, /hanging up call call_/);
});

test('Ctrl-C while it rings cancels the call (human output)', async () => {
  const result = await interruptedCall('+14155550480', /ringing/, '--timeout', '120');
  assert.equal(result.code, 130, `stdout: ${result.stdout}\nstderr: ${result.stderr}`);
  assert.match(result.stdout.trim().split('\n').at(-1)!, /ended: canceled, NORMAL_CLEARING \(16\), api_hangup/);
});

test('a caller ID the account does not own is refused before anything is dialled', async () => {
  const result = await runCli(env, ['call', '+14155550100', '--from', '+14155550000', '--json']);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /not a voice number of this account/);
});

test('dev call-in: the simulated network calls one of our numbers, and a number we do not hold is 404', async () => {
  const answered = await runCli(env, ['dev', 'call-in', '--from', '+14155550111', '--to', FROM, '--hold', '0.5', '--json']);
  assert.equal(answered.code, 0, answered.stderr);
  assert.equal(JSON.parse(answered.stdout).answered, true);
  const refused = await runCli(env, ['dev', 'call-in', '--from', '+14155550111', '--to', '+14155559999', '--json']);
  assert.equal(JSON.parse(refused.stdout).sip_status, 404);
});

test('a call left ringing by a crash (kill -9) is ended at the next start with crash_recovery', async () => {
  const crashDir = await mkdtemp(join(tmpdir(), 'dialplane-crash-'));
  const port = await freePort();
  const crashEnv = testEnv({
    DIALPLANE_DATA_DIR: crashDir,
    DIALPLANE_HTTP_PORT: String(port),
    DIALPLANE_RTP_PORTS: '34000-34999',
    DIALPLANE_ADMIN_TOKEN: 'crash-test-admin-token-0123456789',
    // The restart is the same node: it takes back its own calls at once instead of waiting for the lease.
    DIALPLANE_NODE_ID: 'crash-test-node',
  });
  const base = `http://127.0.0.1:${port}`;
  const headers = { authorization: 'Bearer crash-test-admin-token-0123456789', 'content-type': 'application/json' };
  let first: ServerProcess | undefined = spawnServe(crashEnv);
  let second: ServerProcess | undefined;
  try {
    await waitReady(base, first);
    const { accounts } = (await (await fetch(`${base}/admin/v1/accounts`, { headers })).json()) as { accounts: Array<{ id: string }> };
    const accountId = accounts[0]!.id;
    const placed = await fetch(`${base}/admin/v1/accounts/${accountId}/calls`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ from: FROM, to: '+14155550480', ring_timeout_s: 120 }),
    });
    const callId = ((await placed.json()) as { call: { id: string } }).call.id;
    const state = async () =>
      ((await (await fetch(`${base}/admin/v1/accounts/${accountId}/calls/${callId}`, { headers })).json()) as {
        call: { state: string; end_reason: string | null; outcome: string | null };
        events: Array<{ state: string }>;
      });
    for (let i = 0; i < 100 && (await state()).call.state !== 'ringing'; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal((await state()).call.state, 'ringing');
    first.child.kill('SIGKILL');
    await first.exited;
    first = undefined;
    second = spawnServe(crashEnv);
    await waitReady(base, second);
    const after = await state();
    assert.equal(after.call.state, 'ended');
    assert.equal(after.call.end_reason, 'crash_recovery');
    assert.deepEqual(after.events.map((e) => e.state), ['queued', 'dialing', 'ringing', 'ended']);
  } finally {
    await killHard(first);
    await killHard(second);
    await rm(crashDir, { recursive: true, force: true });
  }
});
