import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { freePort, killHard, ok, ROOT, runCli, runProgram, spawnServe, testEnv, waitReady, type CliResult, type ServerProcess } from '../../helpers/processes.js';

/**
 * The DialAnyone document's own code examples, run against a real `dialplane serve` (dev carrier, dev SMSC) with
 * nothing changed but the base URL and the key: its three cURL commands (through /usr/bin/curl, with the document's
 * arguments exactly), its Python DialAnyoneClient and usage lines (Debian's /usr/bin/python3 with requests), and its
 * Node.js axios functions. The texts are kept verbatim in test/fixtures/dialanyone/; the substitution is done here.
 *
 * curl and python3-requests are mandatory under CI=true (.ci/run installs them) and skipped with a visible message
 * otherwise. The examples that place a call are skipped, with a message, only while POST /api/v1/calls answers 404.
 */

const FIXTURES = join(ROOT, 'test', 'fixtures', 'dialanyone');
const DOCUMENT_BASE_URL = 'https://dialanyone.com/api/v1';
const DOCUMENT_KEY = 'dk_live_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx';
const CURL = '/usr/bin/curl';
const PYTHON = '/usr/bin/python3';
const CI = process.env.CI === 'true';

const text = (name: string) => readFileSync(join(FIXTURES, name), 'utf8');
const json = (name: string) => JSON.parse(text(name)) as unknown;

/**
 * Asserts `actual` has the documented example's shape: the same keys in the same order, the same JSON types, arrays
 * whose every item has the shape of the example's first item (an empty example array accepts any array).
 */
function assertDocumentShape(actual: unknown, documented: unknown, path = '$'): void {
  if (Array.isArray(documented)) {
    assert.ok(Array.isArray(actual), `${path} is an array`);
    if (documented.length > 0) actual.forEach((item, i) => assertDocumentShape(item, documented[0], `${path}[${i}]`));
    return;
  }
  if (documented !== null && typeof documented === 'object') {
    assert.ok(actual !== null && typeof actual === 'object' && !Array.isArray(actual), `${path} is an object`);
    assert.deepEqual(Object.keys(actual), Object.keys(documented), `${path}: the document's fields`);
    for (const [key, value] of Object.entries(documented)) assertDocumentShape((actual as Record<string, unknown>)[key], value, `${path}.${key}`);
    return;
  }
  assert.equal(typeof actual, typeof documented, `${path} is a ${typeof documented}`);
}

/**
 * Splits the document's shell text into commands and words the way a POSIX shell does for what it uses: comments,
 * backslash-newline continuations, single and double quotes. Anything else a shell would interpret (variables,
 * pipes, globs) is refused, so the words are exactly what the document's commands pass to curl.
 */
function shellCommands(script: string): Array<{ comment: string | undefined; words: string[] }> {
  const commands: Array<{ comment: string | undefined; words: string[] }> = [];
  let words: string[] = [];
  let word = '';
  let inWord = false;
  let comment: string | undefined;
  const endWord = () => {
    if (inWord) words.push(word);
    word = '';
    inWord = false;
  };
  const endCommand = () => {
    endWord();
    if (words.length > 0) commands.push({ comment, words });
    if (words.length > 0) comment = undefined;
    words = [];
  };
  for (let i = 0; i < script.length; i++) {
    const c = script[i]!;
    if (c === '\\') {
      if (script[i + 1] === '\n') {
        i++;
        continue;
      }
      throw new Error(`unsupported escape at ${i}`);
    }
    if (c === '\n') endCommand();
    else if (c === ' ' || c === '\t') endWord();
    else if (c === '#' && !inWord) {
      const end = script.indexOf('\n', i);
      const line = script.slice(i + 1, end === -1 ? script.length : end).trim();
      if (words.length === 0) comment = line;
      i = (end === -1 ? script.length : end) - 1;
    } else if (c === "'") {
      const end = script.indexOf("'", i + 1);
      if (end === -1) throw new Error('unterminated single quote');
      word += script.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (c === '"') {
      inWord = true;
      for (i++; script[i] !== '"'; i++) {
        if (i >= script.length) throw new Error('unterminated double quote');
        const d = script[i]!;
        if (d === '$' || d === '`') throw new Error(`unsupported ${d} in double quotes`);
        if (d === '\\' && '"\\$`\n'.includes(script[i + 1] ?? '')) word += script[++i];
        else word += d;
      }
    } else if ('$`;|&<>(){}*?[]~'.includes(c)) {
      throw new Error(`unsupported shell syntax ${c} at ${i}`);
    } else {
      word += c;
      inWord = true;
    }
  }
  endCommand();
  return commands;
}

type Run = CliResult;

/** Runs a program to completion (killed after 30 s), with no proxy between it and the loopback server. */
async function run(command: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const clean: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!/_proxy$/i.test(name)) clean[name] = value;
  return runProgram(command, args, {
    env: { ...clean, NO_PROXY: '127.0.0.1,localhost', no_proxy: '127.0.0.1,localhost', ...env },
    cwd: process.cwd(),
    timeoutMs: 30_000,
  });
}

function curlProblem(): string | undefined {
  return existsSync(CURL) ? undefined : `${CURL} is not installed (Debian package curl)`;
}

function pythonProblem(): string | undefined {
  if (!existsSync(PYTHON)) return `${PYTHON} is not installed`;
  const probe = spawnSync(PYTHON, ['-c', 'import requests'], { encoding: 'utf8' });
  return probe.status === 0 ? undefined : `${PYTHON} cannot import requests (Debian package python3-requests): ${probe.stderr.trim()}`;
}

/** False (and the test skipped with a visible message) when a tool is missing on a plain run; a failure under CI. */
function toolReady(t: TestContext, problem: string | undefined): boolean {
  if (!problem) return true;
  if (CI) assert.fail(`required under CI=true: ${problem}`);
  process.stderr.write(`[skip] ${t.name}: ${problem}\n`);
  t.skip(problem);
  return false;
}

describe("the DialAnyone document's examples against dialplane serve", () => {
  let dataDir: string;
  let work: string;
  let base: string;
  let apiUrl: string;
  let apiKey: string;
  let server: ServerProcess | undefined;
  /** Why the examples that place a call cannot run yet, or undefined once POST /api/v1/calls is there. */
  let callsMissing: string | undefined;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'dialplane-doc-examples-'));
    work = await mkdtemp(join(tmpdir(), 'dialplane-doc-clients-'));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    apiUrl = `${base}/api/v1`;
    const env = testEnv({ DIALPLANE_DATA_DIR: dataDir, DIALPLANE_HTTP_PORT: String(port), DIALPLANE_TRUNK_KEEPALIVE_S: '0' });
    server = spawnServe(env);
    await waitReady(base, server);
    apiKey = (JSON.parse(await readFile(join(dataDir, 'bootstrap.json'), 'utf8')) as { apiKey: string }).apiKey;
    // Room for several calls in progress at once, whatever each holds, so no example depends on another's credits.
    ok(await runCli(env, ['credits', 'add', '100000', '--json']));
    const probe = await fetch(`${apiUrl}/calls`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: '{}',
    });
    const answer = (await probe.json()) as { error?: { code?: string } };
    if (probe.status === 404) callsMissing = `POST /api/v1/calls answers 404 (${answer.error?.code ?? 'no code'}): the calls route is not there yet`;
    // The curl examples run with their own arguments only; this configuration file, read by curl itself, adds the
    // status code after the body and silences the progress meter.
    await writeFile(join(work, '.curlrc'), 'silent\nshow-error\nwrite-out = "\\n%{http_code}"\n');
  });
  after(async () => {
    await killHard(server);
    await rm(dataDir, { recursive: true, force: true });
    await rm(work, { recursive: true, force: true });
  });

  /** The document's text with only its base URL and key replaced by this server's. */
  function localized(name: string): string {
    const original = text(name);
    assert.ok(original.includes(DOCUMENT_BASE_URL), `${name} names the document's base URL`);
    const result = original.replaceAll(DOCUMENT_BASE_URL, apiUrl).replaceAll(DOCUMENT_KEY, apiKey);
    assert.doesNotMatch(result, /dialanyone\.com|dk_live_x{32}/, `${name}: every URL and key was replaced`);
    return result;
  }

  function callsReady(t: TestContext): boolean {
    if (!callsMissing) return true;
    process.stderr.write(`[skip] ${t.name}: ${callsMissing}\n`);
    t.skip(callsMissing);
    return false;
  }

  async function balance(): Promise<number> {
    const response = await fetch(`${apiUrl}/me`, { headers: { authorization: `Bearer ${apiKey}` } });
    return ((await response.json()) as { user: { credits_balance: number } }).user.credits_balance;
  }

  async function readMessage(id: string): Promise<{ status: number; body: { from?: string; to?: string; body?: string } }> {
    const response = await fetch(`${apiUrl}/sms/${id}`, { headers: { authorization: `Bearer ${apiKey}` } });
    return { status: response.status, body: (await response.json()) as { from?: string; to?: string; body?: string } };
  }

  async function curl(comment: string): Promise<{ status: number; body: unknown }> {
    const commands = shellCommands(localized('curl-examples.sh'));
    assert.deepEqual(
      commands.map((c) => c.comment),
      ['Get user information', 'Make a call', 'Send SMS'],
    );
    const command = commands.find((c) => c.comment === comment);
    assert.ok(command, comment);
    assert.equal(command.words[0], 'curl');
    const result = await run(CURL, command.words.slice(1), { CURL_HOME: work });
    assert.equal(result.code, 0, `curl exited ${result.code}: ${result.stderr}`);
    const newline = result.stdout.lastIndexOf('\n');
    return { status: Number(result.stdout.slice(newline + 1)), body: JSON.parse(result.stdout.slice(0, newline)) as unknown };
  }

  test('the fixtures hold what the document shows', () => {
    const commands = shellCommands(text('curl-examples.sh'));
    assert.deepEqual(
      commands.map((c) => [c.words[0], c.words[1], c.words[2], c.words[3]]),
      [
        ['curl', '-X', 'GET', `${DOCUMENT_BASE_URL}/me`],
        ['curl', '-X', 'POST', `${DOCUMENT_BASE_URL}/calls`],
        ['curl', '-X', 'POST', `${DOCUMENT_BASE_URL}/sms`],
      ],
    );
    assert.deepEqual(JSON.parse(commands[1]!.words.at(-1)!), json('calls-request.json'));
    assert.deepEqual(JSON.parse(commands[2]!.words.at(-1)!), json('sms-request.json'));
    assert.match(text('python-example.py'), /^import requests\n\nclass DialAnyoneClient:[^]*\nprint\(f"Call ID: \{call\['call_id'\]\}"\)\n$/);
    assert.match(text('node-example.js'), /^const axios = require\('axios'\);[^]*\nasync function sendSMS\(from, to, body\) \{[^]*\n\}\n$/);
  });

  describe('cURL', () => {
    test('GET /me answers 200 in the documented shape', async (t) => {
      if (!toolReady(t, curlProblem())) return;
      const { status, body } = await curl('Get user information');
      assert.equal(status, 200, JSON.stringify(body));
      assertDocumentShape(body, json('me-response.json'));
      const me = body as { email: string; phone_numbers: { purchased: Array<{ number: string }>; ported: Array<{ number: string }> } };
      assert.equal(me.email, 'owner@dialplane.local');
      assert.deepEqual(me.phone_numbers.purchased.map((n) => n.number), ['+14155551234']);
      assert.deepEqual(me.phone_numbers.ported.map((n) => n.number), ['+14155555678']);
    });

    test('POST /sms answers 201 in the documented shape, and the message is sent', async (t) => {
      if (!toolReady(t, curlProblem())) return;
      const before = await balance();
      const { status, body } = await curl('Send SMS');
      assert.equal(status, 201, JSON.stringify(body));
      assertDocumentShape(body, json('sms-response.json'));
      const sms = body as { message_id: string; status: string; from: string; to: string; segments: number; estimated_cost: number };
      assert.deepEqual(
        [sms.status, sms.from, sms.to, sms.segments, sms.estimated_cost],
        ['sent', '+14155551234', '+14155555678', 1, 2.5],
      );
      assert.equal(await balance(), before - 2.5);
      const read = await readMessage(sms.message_id);
      assert.equal(read.status, 200);
      assert.equal(read.body.body, 'Hello from DialAnyone API!');
    });

    test('POST /calls answers 201 in the documented shape', async (t) => {
      if (!toolReady(t, curlProblem()) || !callsReady(t)) return;
      const { status, body } = await curl('Make a call');
      assert.equal(status, 201, JSON.stringify(body));
      assertDocumentShape(body, json('calls-response.json'));
      const call = body as { call_id: string; user_number: string; target_number: string };
      assert.match(call.call_id, /^call_/);
      assert.deepEqual([call.user_number, call.target_number], ['+14155551234', '+14155555678']);
    });
  });

  describe('Python (requests)', () => {
    /** The document's class and usage lines before its "# Make a call" step. */
    function withoutTheCall(script: string): string {
      const at = script.indexOf('\n# Make a call\n');
      assert.ok(at > 0, 'the usage lines have a "# Make a call" step');
      return script.slice(0, at + 1);
    }

    async function python(name: string, script: string): Promise<Run> {
      const file = join(work, name);
      await writeFile(file, script);
      const result = await run(PYTHON, [file], { PYTHONDONTWRITEBYTECODE: '1' });
      assert.equal(result.code, 0, `python exited ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
      return result;
    }

    test('DialAnyoneClient: get_user_info as the usage lines print it, then send_sms', async (t) => {
      if (!toolReady(t, pythonProblem())) return;
      const script =
        withoutTheCall(localized('python-example.py')) +
        "\n# Send SMS\nimport json\nsms = client.send_sms('+14155551234', '+14155555678', 'Hello from DialAnyone API!')\nprint(json.dumps(sms))\n";
      const before = await balance();
      const { stdout } = await python('client_sms.py', script);
      const lines = stdout.trim().split('\n');
      assert.equal(lines.length, 2, stdout);
      // Python prints the JSON number as parsed: an integer balance without a fraction, like JavaScript. The balance
      // read before the script (calls of other examples may move it meanwhile) or the one it left.
      const printed = [before, (await balance()) + 2.5].map((credits) => `Credit balance: ${credits}`);
      assert.ok(printed.includes(lines[0]!), `${lines[0]} is one of ${printed.join(', ')}`);
      const sms = JSON.parse(lines[1]!) as { message_id: string; status: string; segments: number; estimated_cost: number };
      assertDocumentShape(sms, json('sms-response.json'));
      assert.deepEqual([sms.status, sms.segments, sms.estimated_cost], ['sent', 1, 2.5]);
      assert.equal((await readMessage(sms.message_id)).status, 200);
    });

    test('the class and its usage lines verbatim, make_call included', async (t) => {
      if (!toolReady(t, pythonProblem()) || !callsReady(t)) return;
      const { stdout } = await python('client_verbatim.py', localized('python-example.py'));
      const lines = stdout.trim().split('\n');
      assert.equal(lines.length, 2, stdout);
      assert.match(lines[0]!, /^Credit balance: \d+(\.\d+)?$/);
      assert.match(lines[1]!, /^Call ID: call_\S+$/);
    });
  });

  describe('Node.js (axios)', () => {
    async function node(name: string, script: string): Promise<Run> {
      const file = join(work, name);
      await writeFile(file, script);
      // The example requires axios by name: it resolves from the repository's node_modules (a devDependency).
      const result = await run(process.execPath, [file], { NODE_PATH: join(ROOT, 'node_modules') });
      assert.equal(result.code, 0, `node exited ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
      assert.doesNotMatch(result.stderr, /Error:/, result.stderr);
      return result;
    }

    test('getUserInfo and sendSMS', async (t) => {
      const script =
        localized('node-example.js') +
        "\ngetUserInfo().then(() => sendSMS('+14155551234', '+14155555678', 'Hello from DialAnyone API!'));\n";
      const before = await balance();
      const { stdout } = await node('client-sms.cjs', script);
      assert.match(stdout, /^User info: \{\n {2}email: 'owner@dialplane\.local',\n {2}user: \{/);
      const printed = [before, (await balance()) + 2.5].map((credits) => `\nCredit balance: ${credits}\n`);
      assert.ok(printed.some((line) => stdout.includes(line)), stdout);
      assert.match(stdout, /\nPhone numbers: \{\n {2}purchased: \[/);
      assert.match(stdout, /number: '\+14155551234'/);
      const id = /\nSMS sent: (msg_\S+)\n$/.exec(stdout)?.[1];
      assert.ok(id, stdout);
      const read = await readMessage(id);
      assert.equal(read.status, 200);
      assert.deepEqual([read.body.from, read.body.to, read.body.body], ['+14155551234', '+14155555678', 'Hello from DialAnyone API!']);
      t.diagnostic(`SMS ${id} sent by the document's sendSMS`);
    });

    test('makeCall', async (t) => {
      if (!callsReady(t)) return;
      const script = localized('node-example.js') + "\nmakeCall('+14155551234', '+14155555678');\n";
      const { stdout } = await node('client-call.cjs', script);
      assert.match(stdout, /^Call initiated: call_\S+\n$/);
    });
  });
});
