import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import type { Services } from '../../../src/core/services.js';
import type { TestDatabase } from '../../helpers/databases.js';
import { ROOT, runProgram, waitUntil, type CliResult } from '../../helpers/processes.js';
import { describeWithSipp, startSipp, type SippHandle } from '../../helpers/sipp.js';
import { createCallingAccount, startTestTelephony, type TestTelephony } from '../../helpers/telephony.js';
import { startFaceServer } from '../../helpers/webfones.js';

/**
 * The WebFones document's curl command, Python `dial` and JavaScript `dial`, kept verbatim in test/fixtures/webfones/,
 * run against a local server with the base URL and key replaced. The document's text was rendered from markdown, which
 * changed it in ways no client ever saw; exactly those are put back (docs/webfones.md lists them): typographic quotes
 * ‘ ’ become ASCII quotes, the backticks of two JavaScript template literals are restored, and in Python the function
 * body's indentation and the `# Usage` comment (rendered "- Usage") come back.
 *
 * Extension 309 has only a mobile, which the SIPp carrier answers busy: each example's call is placed (200 Success)
 * and ends at once. curl and python3-requests are mandatory under CI=true and skipped with a message otherwise.
 */
const FIXTURES = join(ROOT, 'test', 'fixtures', 'webfones');
const DOCUMENT_BASE_URL = 'https://api.webfones.com:2343';
const DOCUMENT_KEY = 'YOUR_API_KEY';
const CURL = '/usr/bin/curl';
const PYTHON = '/usr/bin/python3';
const CI = process.env.CI === 'true';
const SUCCESS = '{"status":"200","message":"Success"}';

const fixture = (name: string) => readFileSync(join(FIXTURES, name), 'utf8');

/** The typographic quotes of the document's text, as the examples' authors typed them. */
const asciiQuotes = (text: string) => text.replaceAll('‘', "'").replaceAll('’', "'");

function toolReady(t: TestContext, problem: string | undefined): boolean {
  if (!problem) return true;
  if (CI) assert.fail(`required under CI=true: ${problem}`);
  process.stderr.write(`[skip] ${t.name}: ${problem}\n`);
  t.skip(problem);
  return false;
}

function pythonProblem(): string | undefined {
  if (!existsSync(PYTHON)) return `${PYTHON} is not installed`;
  const probe = spawnSync(PYTHON, ['-c', 'import requests'], { encoding: 'utf8' });
  return probe.status === 0 ? undefined : `${PYTHON} cannot import requests (Debian package python3-requests)`;
}

/** Runs a program with no proxy between it and the loopback server. */
function run(command: string, args: readonly string[], cwd: string): Promise<CliResult> {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!/_proxy$/i.test(name)) env[name] = value;
  return runProgram(command, args, { env: { ...env, NO_PROXY: '127.0.0.1', no_proxy: '127.0.0.1' }, cwd, timeoutMs: 30_000 });
}

let db: TestDatabase;
let services: Services;
let accountId: string;
let apiKey: string;
let carrier: SippHandle;
let telephony: TestTelephony;
let server: Awaited<ReturnType<typeof startFaceServer>>;
let work: string;

before(async () => {
  ({ db, services, accountId } = await createCallingAccount('WebFones examples'));
  apiKey = (await services.keys.create(accountId, { name: 'crm' })).token;
  await services.extensions.create(accountId, { number: '309', mobile: '+14155550486' });
  work = await mkdtemp(join(tmpdir(), 'dialplane-webfones-examples-'));
});
after(async () => {
  await server?.close();
  await telephony?.close();
  await carrier?.stop();
  await rm(work, { recursive: true, force: true });
  await db.close();
});

/** The calls the examples placed so far, each ended (its busy mobile). */
async function placedCalls(count: number) {
  await waitUntil(`${count} calls placed and ended`, async () => {
    const calls = (await services.calls.list(accountId, 50)).filter((c) => c.metadata?.webfones !== undefined);
    return calls.length === count && calls.every((c) => c.state === 'ended');
  }, 10_000);
  return (await services.calls.list(accountId, 50)).filter((c) => c.metadata?.webfones !== undefined);
}

await describeWithSipp("the WebFones document's examples against a local server", () => {
  before(async () => {
    carrier = await startSipp({ scenario: 'uas-two-leg.xml', calls: 3, timeoutSeconds: 60 });
    telephony = await startTestTelephony(services, { rtpPorts: '42000-42499', trunk: `sip:${carrier.address}` });
    server = await startFaceServer(services, telephony);
  });

  test('curl: the command as written, answered 200 with the document\'s body byte for byte', async (t) => {
    if (!toolReady(t, existsSync(CURL) ? undefined : `${CURL} is not installed (Debian package curl)`)) return;
    const script = fixture('curl.sh').replace(DOCUMENT_BASE_URL, server.base).replace(DOCUMENT_KEY, apiKey);
    const result = await run('/bin/sh', ['-c', script], work);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, SUCCESS);
    const [call] = await placedCalls(1);
    assert.deepEqual(call?.metadata?.webfones, { extension: '309', phonenumber: '15808675309', dialed: '+15808675309' });
    assert.equal(call?.outcome, 'busy', 'the mobile was rung through the trunk');
  });

  test('JavaScript: dial(‘309’, ‘15808675309’) resolves (an HTTP error would throw)', async () => {
    const source = asciiQuotes(fixture('dial.js'))
      .replace('fetch($baseUrl/dailer/call,', 'fetch(`${baseUrl}/dailer/call`,')
      .replace('new Error(HTTP error! status: ${response.status})', 'new Error(`HTTP error! status: ${response.status}`)')
      .replace(DOCUMENT_BASE_URL, server.base)
      .replace(DOCUMENT_KEY, apiKey);
    const file = join(work, 'dial.mjs');
    // The document's usage line is kept; the result is printed after it so the test can read it.
    await writeFile(file, `${source}console.log(JSON.stringify(result));\n`);
    const result = await run(process.execPath, [file], work);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trim(), SUCCESS);
    await placedCalls(2);
  });

  test('Python: dial(\'309\', \'15808675309\') returns the document\'s body; a wrong key raises HTTP 403', async (t) => {
    if (!toolReady(t, pythonProblem())) return;
    const lines = asciiQuotes(fixture('dial.py')).replace(DOCUMENT_BASE_URL, server.base).replace(DOCUMENT_KEY, apiKey).split('\n');
    const def = lines.findIndex((line) => line.startsWith('def dial('));
    const usage = lines.indexOf('- Usage');
    const source = [...lines.slice(0, def + 1), ...lines.slice(def + 1, usage).map((line) => `    ${line}`), '# Usage', ...lines.slice(usage + 1)].join('\n');
    const file = join(work, 'dial.py');
    await writeFile(file, source);
    const call = `exec(open(${JSON.stringify(file)}).read()); print(json.dumps(dial('309', '15808675309'), separators=(',', ':')))`;
    const result = await run(PYTHON, ['-c', call], work);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trim(), SUCCESS);
    await placedCalls(3);

    const wrongKey = `exec(open(${JSON.stringify(file)}).read().replace(${JSON.stringify(apiKey)}, 'dk_live_revoked_0000000000000000000000')); dial('309', '15808675309')`;
    const refused = await run(PYTHON, ['-c', wrongKey], work);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /403 Client Error/);
  });
});
