import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DialplaneError, errorRegistry, isDialplaneError } from '../../src/errors.js';
import type { ErrorCode } from '../../src/errors.js';

/** The repository root: the first directory above this (compiled) file that holds package.json. */
function findRepoRoot(): string {
  let dir = path.dirname(fileURLToPath(new URL(import.meta.url)));
  for (;;) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${fileURLToPath(new URL(import.meta.url))}`);
    dir = parent;
  }
}

interface DocRow {
  readonly line: number;
  readonly code: string;
  readonly status: string;
  readonly message: string;
  readonly when: string;
}

function splitRow(line: string): string[] {
  const trimmed = line.trim();
  return trimmed
    .slice(1, trimmed.endsWith('|') ? -1 : undefined)
    .split('|')
    .map((cell) => cell.trim());
}

/** Parses the Markdown table whose header starts with "Code"; fails loudly if there is not exactly one. */
function parseErrorTable(markdown: string): { header: string[]; rows: DocRow[] } {
  const lines = markdown.split(/\r?\n/);
  const headerIndexes = lines
    .map((line, index) => ({ line, index }))
    .filter(({ line }) => /^\s*\|\s*Code\s*\|/i.test(line))
    .map(({ index }) => index);
  assert.equal(headerIndexes.length, 1, 'docs/errors.md must have exactly one table whose first column is "Code"');
  const start = headerIndexes[0]!;
  const header = splitRow(lines[start]!);
  assert.match(lines[start + 1] ?? '', /^\s*\|(\s*:?-{3,}:?\s*\|)+\s*$/, 'the header row must be followed by a separator row');
  const rows: DocRow[] = [];
  for (let index = start + 2; index < lines.length; index++) {
    const line = lines[index]!;
    if (!line.trim().startsWith('|')) break;
    const cells = splitRow(line);
    assert.equal(cells.length, header.length, `docs/errors.md line ${index + 1} has ${cells.length} cells: ${line}`);
    const [code = '', status = '', message = '', when = ''] = cells;
    rows.push({ line: index + 1, code: code.replace(/^`(.*)`$/, '$1'), status, message, when });
  }
  return { header, rows };
}

const root = findRepoRoot();
const docsPath = path.join(root, 'docs', 'errors.md');
const registryCodes = Object.keys(errorRegistry) as ErrorCode[];

describe('docs/errors.md and the error registry', () => {
  const markdown = readFileSync(docsPath, 'utf8');
  const { header, rows } = parseErrorTable(markdown);

  test('the repository root was found and holds the registry source', () => {
    assert.ok(existsSync(path.join(root, 'src', 'errors.ts')), `${root} does not look like the repository root`);
  });

  test('the table has the columns code, HTTP status, default message, when it happens', () => {
    assert.deepEqual(
      header.map((cell) => cell.toLowerCase()),
      ['code', 'http status', 'default message', 'when it happens'],
    );
  });

  test('the table lists exactly the registry codes, each once', () => {
    const documented = rows.map((row) => row.code);
    const duplicates = documented.filter((code, index) => documented.indexOf(code) !== index);
    assert.deepEqual(duplicates, [], 'codes documented twice');
    const missing = registryCodes.filter((code) => !documented.includes(code));
    const extra = documented.filter((code) => !(registryCodes as string[]).includes(code));
    assert.deepEqual(missing, [], 'codes in src/errors.ts missing from docs/errors.md');
    assert.deepEqual(extra, [], 'codes in docs/errors.md that src/errors.ts does not define');
    assert.equal(rows.length, registryCodes.length);
  });

  test('each row has the registry status and default message', () => {
    for (const row of rows) {
      const entry = (errorRegistry as Record<string, { status: number; message: string }>)[row.code];
      assert.ok(entry, `line ${row.line}: unknown code ${row.code}`);
      assert.equal(row.status, String(entry.status), `line ${row.line}: status of ${row.code}`);
      assert.equal(row.message, entry.message, `line ${row.line}: message of ${row.code}`);
    }
  });

  test('each row says when the error happens', () => {
    for (const row of rows) assert.ok(row.when.length >= 10, `line ${row.line}: ${row.code} needs a description`);
  });

  test('codes are written in backticks', () => {
    for (const line of markdown.split(/\r?\n/)) {
      for (const code of registryCodes) {
        if (line.trim().startsWith(`| ${code} `)) assert.fail(`write \`${code}\` in backticks: ${line}`);
      }
    }
  });

  test('the intro describes the DialAnyone error body', () => {
    assert.match(markdown, /DialAnyone/);
    assert.match(markdown, /"error"/);
    for (const key of ['"code"', '"message"', '"details"']) assert.ok(markdown.includes(key), `intro should show ${key}`);
  });
});

describe('errorRegistry', () => {
  test('codes are snake_case', () => {
    for (const code of registryCodes) assert.match(code, /^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$/, code);
  });

  test('every status is a 4xx or 5xx HTTP status', () => {
    for (const code of registryCodes) {
      const { status } = errorRegistry[code];
      assert.ok(Number.isInteger(status) && status >= 400 && status <= 599, `${code}: ${status}`);
    }
  });

  test('every default message is non-empty, trimmed and free of table-breaking pipes', () => {
    for (const code of registryCodes) {
      const { message } = errorRegistry[code];
      assert.ok(message.trim().length > 0 && message === message.trim(), `${code}: ${JSON.stringify(message)}`);
      assert.ok(!message.includes('|'), `${code}: a pipe would break the Markdown table`);
    }
  });

  test('includes the codes the API relies on', () => {
    for (const code of ['validation_failed', 'invalid_phone_number', 'not_found', 'internal_error', 'rate_limited']) {
      assert.ok(code in errorRegistry, code);
    }
    assert.equal(errorRegistry.internal_error.status, 500);
    assert.equal(errorRegistry.not_found.status, 404);
    assert.equal(errorRegistry.rate_limited.status, 429);
  });
});

describe('DialplaneError', () => {
  test('takes status and default message from the registry for every code', () => {
    for (const code of registryCodes) {
      const error = new DialplaneError(code);
      assert.ok(error instanceof Error);
      assert.ok(error instanceof DialplaneError);
      assert.equal(error.name, 'DialplaneError');
      assert.equal(error.code, code);
      assert.equal(error.status, errorRegistry[code].status);
      assert.equal(error.message, errorRegistry[code].message);
      assert.equal(error.details, undefined);
      assert.deepEqual(error.headers, {});
      assert.ok(typeof error.stack === 'string' && error.stack.length > 0);
    }
  });

  test('a specific message replaces the default; the status still comes from the registry', () => {
    const error = new DialplaneError('not_found', 'account not found');
    assert.equal(error.message, 'account not found');
    assert.equal(error.status, 404);
    assert.equal(error.code, 'not_found');
  });

  test('undefined message falls back to the default even when details and headers are given', () => {
    const error = new DialplaneError('rate_limited', undefined, { retry_after_seconds: 3 }, { 'retry-after': '3' });
    assert.equal(error.message, errorRegistry.rate_limited.message);
    assert.equal(error.status, 429);
    assert.deepEqual(error.details, { retry_after_seconds: 3 });
    assert.deepEqual(error.headers, { 'retry-after': '3' });
  });

  test('an empty message is kept as given, not replaced', () => {
    assert.equal(new DialplaneError('bad_request', '').message, '');
  });

  test('isDialplaneError tells DialplaneErrors from everything else', () => {
    assert.equal(isDialplaneError(new DialplaneError('conflict')), true);
    assert.equal(isDialplaneError(new Error('conflict')), false);
    assert.equal(isDialplaneError({ code: 'conflict', status: 409, message: 'x' }), false);
    assert.equal(isDialplaneError(undefined), false);
    assert.equal(isDialplaneError(null), false);
    assert.equal(isDialplaneError('conflict'), false);
  });
});
