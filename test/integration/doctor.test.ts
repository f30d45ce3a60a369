import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePort, killHard, runCli, spawnServe, testEnv, waitReady, type CliResult, type ServerProcess } from '../helpers/processes.js';
import { freeUdpPort, parseSippMessages, requireSipp, startSipp } from '../helpers/sipp.js';

/** `dialplane doctor` as a user runs it: each situation is reported as the right line, and the exit status follows. */
interface Check {
  check: string;
  status: 'ok' | 'warn' | 'fail';
  message: string;
  fix?: string;
}

function checksOf(result: CliResult): { ok: boolean; checks: Check[] } {
  try {
    return JSON.parse(result.stdout) as { ok: boolean; checks: Check[] };
  } catch {
    throw new Error(`not JSON (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
  }
}

function line(checks: Check[], name: string, status: Check['status'], message: RegExp): Check {
  const found = checks.find((c) => c.check === name && c.status === status && message.test(c.message));
  assert.ok(found, `no ${status} line for ${name} matching ${String(message)} in:\n${JSON.stringify(checks, null, 2)}`);
  return found;
}

let dataDir: string;
before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'dialplane-doctor-'));
});
after(async () => rm(dataDir, { recursive: true, force: true }));

describe('a healthy server', () => {
  let server: ServerProcess | undefined;
  let env: NodeJS.ProcessEnv;
  before(async () => {
    const port = await freePort();
    env = testEnv({ DIALPLANE_DATA_DIR: join(dataDir, 'healthy'), DIALPLANE_HTTP_PORT: String(port), DIALPLANE_RTP_PORTS: '36000-36999' });
    server = spawnServe(env);
    await waitReady(`http://127.0.0.1:${port}`, server);
  });
  after(async () => killHard(server));

  test('every line ok: the database and its migrations, the ports bound, the dev trunk and SMSC, speech, the clock', async () => {
    const result = await runCli(env, ['doctor', '--json']);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const { ok, checks } = checksOf(result);
    assert.equal(ok, true);
    assert.deepEqual(checks.filter((c) => c.status !== 'ok'), []);
    for (const name of ['config', 'database', 'migrations', 'http', 'sip', 'rtp', 'trunk', 'smsc', 'tts', 'address', 'clock']) line(checks, name, 'ok', /./);
    line(checks, 'sip', 'ok', /bound by the server/);
    line(checks, 'smsc', 'ok', /dev SMSC is bound/);
    line(checks, 'tts', 'ok', /spoke a test sentence/);
  });

  test('the human output: one line per check, marked ok', async () => {
    const result = await runCli(env, ['doctor']);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /^ok\s+database\s+SQLite answers at /m);
    assert.doesNotMatch(result.stdout, /^(warn|fail)/m);
  });
});

test('a stopped PostgreSQL: the database line fails and says what to do; exit 1', async () => {
  // A port nobody listens on is what a stopped server looks like to a client.
  const closed = await freePort();
  const env = testEnv({
    DIALPLANE_DATA_DIR: join(dataDir, 'pg'),
    DIALPLANE_HTTP_PORT: String(await freePort()),
    DIALPLANE_DATABASE_URL: `postgres://postgres@127.0.0.1:${closed}/test`,
  });
  const result = await runCli(env, ['doctor', '--json']);
  assert.equal(result.code, 1, result.stdout + result.stderr);
  const found = line(checksOf(result).checks, 'database', 'fail', new RegExp(`cannot reach the database at postgres://postgres@127\\.0\\.0\\.1:${closed}/test \\(ECONNREFUSED\\)`));
  assert.match(found.fix ?? '', /start PostgreSQL/);
});

describe('trunks', () => {
  test('a trunk that does not answer OPTIONS (SIPp takes it and stays silent) fails; one that answers is ok', async (t) => {
    if (!(await requireSipp(t))) return;
    const silent = await startSipp({ scenario: 'uas-options-silent.xml', t, timeoutSeconds: 10 });
    const answering = await startSipp({ scenario: 'uas-options.xml', t, timeoutSeconds: 10 });
    const env = testEnv({
      DIALPLANE_DATA_DIR: join(dataDir, 'trunks'),
      DIALPLANE_HTTP_PORT: String(await freePort()),
      DIALPLANE_TRUNK: `sip:${answering.address};transport=udp,sip:${silent.address};transport=udp`,
    });
    const result = await runCli(env, ['doctor', '--json', '--timeout', '1.5']);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    const { checks } = checksOf(result);
    line(checks, 'trunk', 'ok', new RegExp(`sip:${answering.address.replace(/\./g, '\\.')};transport=udp answered OPTIONS: 200 OK`));
    const failed = line(checks, 'trunk', 'fail', new RegExp(`sip:${silent.address.replace(/\./g, '\\.')};transport=udp did not answer OPTIONS within 1\\.5 s`));
    assert.match(failed.fix ?? '', /firewall/);
    const heard = await silent.stop();
    assert.ok(parseSippMessages(heard.messages).some((m) => m.direction === 'received' && m.startLine.startsWith('OPTIONS ')), 'the silent trunk did receive the OPTIONS');
  });
});

describe('a port already taken', () => {
  test('the HTTP port and the SIP port held by another program fail with what to do', async () => {
    const http = createServer();
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const httpPort = (http.address() as { port: number }).port;
    const sipPort = await freeUdpPort();
    const sip = createSocket('udp4');
    await new Promise<void>((resolve) => sip.bind(sipPort, '127.0.0.1', resolve));
    try {
      const env = testEnv({
        DIALPLANE_DATA_DIR: join(dataDir, 'ports'),
        DIALPLANE_HTTP_PORT: String(httpPort),
        DIALPLANE_SIP_PORT: String(sipPort),
      });
      const result = await runCli(env, ['doctor', '--json']);
      assert.equal(result.code, 1, result.stdout + result.stderr);
      const { checks } = checksOf(result);
      const httpLine = line(checks, 'http', 'fail', new RegExp(`HTTP port 127\\.0\\.0\\.1:${httpPort} is already in use by another program`));
      assert.match(httpLine.fix ?? '', /DIALPLANE_HTTP_PORT/);
      const sipLine = line(checks, 'sip', 'fail', new RegExp(`SIP port 127\\.0\\.0\\.1:${sipPort} is already in use by another program`));
      assert.match(sipLine.fix ?? '', /DIALPLANE_SIP_PORT/);
    } finally {
      http.close();
      sip.close();
    }
  });
});
