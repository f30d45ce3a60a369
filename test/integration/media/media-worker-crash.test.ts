import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { CLI, ROOT, freePort, killHard, runCli, spawnServe, testEnv, waitReady, waitUntil, type ServerProcess } from '../../helpers/processes.js';

/**
 * A media worker that dies ends only its own calls: a real server with two media workers (DIALPLANE_MEDIA_WORKERS=2)
 * and the dev carrier as its trunk, four answered calls spread over the workers, then worker 0 made to exit as a crash
 * would (SIGUSR2 with DIALPLANE_MEDIA_TEST_HOOKS). The calls the server names as that worker's end with media_failure,
 * each with one final event; the others stay up, and a new call is answered and completes.
 */
let dataDir: string;
let env: NodeJS.ProcessEnv;
let server: ServerProcess | undefined;
const FROM = '+14155551234';
const children: ChildProcess[] = [];

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'dialplane-media-crash-'));
  const port = await freePort();
  env = testEnv({
    DIALPLANE_DATA_DIR: dataDir,
    DIALPLANE_HTTP_PORT: String(port),
    DIALPLANE_RTP_PORTS: '55000-55199',
    DIALPLANE_MEDIA_WORKERS: '2',
    DIALPLANE_MEDIA_TEST_HOOKS: 'true',
  });
  server = spawnServe(env);
  await waitReady(`http://127.0.0.1:${port}`, server);
});
after(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await killHard(server);
  await rm(dataDir, { recursive: true, force: true });
});

type Event = { call_id?: string; state: string; end_reason?: string | null; outcome?: string | null };

/** `dialplane call --json` left running: its events as they come, and its exit. */
function follow(to: string) {
  const child = spawn(process.execPath, [CLI, 'call', to, '--from', FROM, '--json', '--max-duration', '120'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const events: Event[] = [];
  let stderr = '';
  let buffered = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      if (line.trim()) events.push(JSON.parse(line) as Event);
    }
  });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  return { child, events, exited, stderr: () => stderr, id: () => events.find((e) => e.call_id)?.call_id };
}

/** Final events stored for a call (the server's own record, not what one stream showed). */
function finalEvents(callId: string): number {
  const database = new BetterSqlite3(join(dataDir, 'dialplane.sqlite'), { readonly: true, fileMustExist: true });
  try {
    const row = database.prepare(`select count(*) as n from call_events where call_id = ? and state = 'ended'`).get(callId) as { n: number };
    return row.n;
  } finally {
    database.close();
  }
}

test('a media worker that exits ends only its calls (media_failure, one final event each); the others go on and new calls are taken', async () => {
  // One after another: four CLI processes starting at once on a loaded machine can miss the server's first probe.
  const calls: ReturnType<typeof follow>[] = [];
  for (const to of ['+14155550101', '+14155550102', '+14155550103', '+14155550104']) {
    const call = follow(to);
    calls.push(call);
    await waitUntil(`${to} answered`, () => call.events.some((e) => e.state === 'answered'), 30_000, server).catch((error: unknown) => {
      throw new Error(`${String(error)}\n${JSON.stringify(call.events)} ${call.stderr()}`);
    });
  }
  const ids = calls.map((c) => c.id()!);
  assert.equal(new Set(ids).size, 4, `call ids: ${ids.join(', ')}`);

  const logged = server!.stdout().length;
  server!.child.kill('SIGUSR2');
  let report: { worker: number; legs: number; calls: string[] } | undefined;
  await waitUntil(
    'the server reports the lost worker',
    () => {
      const line = server!.stdout().slice(logged).split('\n').find((l) => l.includes('media worker failed'));
      if (line) report = JSON.parse(line) as typeof report;
      return report !== undefined;
    },
    10_000,
    server,
  );
  assert.equal(report!.worker, 0);
  const lost = new Set(report!.calls);
  // Four single-leg calls over two workers, each to the one with fewer legs: two in each.
  assert.equal(lost.size, 2, `calls of the lost worker: ${[...lost].join(', ')}`);
  for (const id of lost) assert.ok(ids.includes(id), `${id} is one of the test's calls`);
  const [gone, kept] = [calls.filter((c) => lost.has(c.id()!)), calls.filter((c) => !lost.has(c.id()!))];

  await Promise.all(gone.map((c) => c.exited));
  for (const c of gone) {
    const last = c.events.at(-1)!;
    assert.equal(last.state, 'ended', `${c.id()}: ${JSON.stringify(c.events)}\n${c.stderr()}`);
    assert.equal(last.end_reason, 'media_failure');
    assert.equal(last.outcome, 'completed');
  }

  // The other worker's calls are still up a while later, and a new call is answered and completes.
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  for (const c of kept) assert.ok(!c.events.some((e) => e.state === 'ended'), `${c.id()} went on: ${JSON.stringify(c.events)}`);
  const fresh = await runCli(env, ['call', '+14155550105', '--from', FROM, '--json', '--max-duration', '1']);
  assert.equal(fresh.code, 0, `stdout: ${fresh.stdout}\nstderr: ${fresh.stderr}`);
  const freshEvents = fresh.stdout.trim().split('\n').map((line) => JSON.parse(line) as Event);
  assert.deepEqual(freshEvents.map((e) => e.state), ['queued', 'dialing', 'ringing', 'answered', 'ended']);
  assert.equal(freshEvents.at(-1)!.end_reason, 'time_limit');

  // The survivors are hung up as usual.
  for (const c of kept) c.child.kill('SIGINT');
  await Promise.all(kept.map((c) => c.exited));
  for (const c of kept) assert.equal(c.events.at(-1)?.end_reason, 'api_hangup', JSON.stringify(c.events));
  for (const id of ids) assert.equal(finalEvents(id), 1, `${id}: one final event`);
});
