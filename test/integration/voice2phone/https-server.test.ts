import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import { freePort, killHard, ok, runCli, runProgram, spawnServe, testEnv, waitReady, type ServerProcess } from '../../helpers/processes.js';

/**
 * The document's request over HTTPS, as a client runs it: `dialplane dev-cert` writes the pair, `dialplane serve`
 * (dev carrier) serves it, and /usr/bin/curl -k sends the document's body verbatim (unquoted keys and all) with the
 * key as Basic user name. The number is the document's own, 4252337837: the dev carrier answers it and presses 8, 3,
 * 7 (a number ending in 7 and three keys), none of them in Dtmf, so the message is said again and the call ends.
 * curl is mandatory under CI=true and skipped with a visible message otherwise.
 */
const CURL = '/usr/bin/curl';
const CI = process.env.CI === 'true';
const DOCUMENT_BODY = `{
    Phone:
    {
        "Number":"4252337837",
        "CountryCode":"US"
    },
    Message: "Please press one",
    
    Dtmf:
    {
        "1"     : "Thank you"
    }
}`;

let dataDir: string;
let server: ServerProcess | undefined;
let port: number;
let key: string;
let cert: string;

function curlReady(t: TestContext): boolean {
  if (existsSync(CURL)) return true;
  if (CI) throw new Error(`${CURL} is required (CI=true): install the Debian package curl`);
  process.stderr.write(`[skip] ${t.name}: ${CURL} is not installed (Debian package curl)\n`);
  t.skip(`${CURL} is not installed (Debian package curl)`);
  return false;
}

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'dialplane-v2p-https-'));
  port = await freePort();
  const env = testEnv({
    DIALPLANE_DATA_DIR: dataDir,
    DIALPLANE_HTTP_HOST: '127.0.0.1',
    DIALPLANE_HTTP_PORT: String(port),
    DIALPLANE_RTP_PORTS: '49000-49499',
  });
  const written = ok<{ cert: string; key: string }>(await runCli(env, ['dev-cert', '--out', join(dataDir, 'tls'), '--json']));
  cert = written.cert;
  server = spawnServe({ ...env, DIALPLANE_TLS_CERT: written.cert, DIALPLANE_TLS_KEY: written.key });
  await waitReady(`http://127.0.0.1:${port}`, server);
  key = (JSON.parse(await readFile(join(dataDir, 'bootstrap.json'), 'utf8')) as { apiKey: string }).apiKey;
  await writeFile(join(dataDir, 'body.txt'), DOCUMENT_BODY);
});
after(async () => {
  await killHard(server);
  await rm(dataDir, { recursive: true, force: true });
});

async function curl(...args: string[]): Promise<{ status: number; body: Record<string, unknown> }> {
  const result = await runProgram(CURL, ['--silent', '--show-error', '--write-out', '\n%{http_code}', ...args], { timeoutMs: 10_000 });
  assert.equal(result.code, 0, `curl exited ${result.code}: ${result.stderr}`);
  const cut = result.stdout.lastIndexOf('\n');
  return { status: Number(result.stdout.slice(cut + 1)), body: JSON.parse(result.stdout.slice(0, cut)) as Record<string, unknown> };
}

test("the document's request with curl -k over HTTPS: 200 and a CallId; GET follows the call to its end", async (t) => {
  if (!curlReady(t)) return;
  const base = `https://127.0.0.1:${port}/voice2phone`;
  const created = await curl('-k', '-u', `${key}:`, '-X', 'POST', `${base}/call`, '-H', 'Content-Type: application/json', '--data-binary', `@${join(dataDir, 'body.txt')}`);
  assert.equal(created.status, 200, JSON.stringify(created.body));
  const callId = String(created.body.CallId);
  assert.match(callId, /^call_/);
  const deadline = Date.now() + 30_000;
  let status: Record<string, unknown>;
  for (;;) {
    const read = await curl('-k', '-u', `${key}:`, `${base}/call/${callId}`);
    assert.equal(read.status, 200);
    status = read.body;
    if (status.Status === 3 || Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  assert.equal(status.Status, 3, JSON.stringify(status));
  assert.match(String(status.Dtmf), /^[837]$/, 'a key the dev carrier pressed');
  assert.match(String(status.CreatedDateUtc), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}$/);
});

test('plain HTTP on the same port is refused with a JSON error; the certificate verifies for localhost without -k', async (t) => {
  if (!curlReady(t)) return;
  const plain = await curl('-u', `${key}:`, '-X', 'POST', `http://127.0.0.1:${port}/voice2phone/call`, '-H', 'Content-Type: application/json', '--data-binary', `@${join(dataDir, 'body.txt')}`);
  assert.equal(plain.status, 403);
  assert.equal((plain.body.error as { code: string }).code, 'https_required');
  const verified = await curl('--cacert', cert, '-u', `${key}:`, `https://localhost:${port}/voice2phone/call/call_unknown`);
  assert.equal(verified.status, 404);
  // Another face still answers plain HTTP on that port.
  const me = await curl('-H', `Authorization: Bearer ${key}`, `http://127.0.0.1:${port}/api/v1/me`);
  assert.equal(me.status, 200);
});
