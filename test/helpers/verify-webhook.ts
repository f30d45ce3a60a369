import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

/** The DialAnyone document's webhook verification function, verbatim, reading the raw body from standard input. */
const DOCUMENT_SNIPPET = [
  'import hmac',
  'import hashlib',
  'import sys',
  '',
  'def verify_webhook(body, signature, secret):',
  '    expected = hmac.new(',
  '        secret.encode(),',
  '        body.encode(),',
  '        hashlib.sha256',
  '    ).hexdigest()',
  '    return hmac.compare_digest(expected, signature)',
  '',
  'print(verify_webhook(sys.stdin.buffer.read().decode("utf-8"), sys.argv[1], sys.argv[2]))',
].join('\n');

/**
 * Runs the document's `verify_webhook` with python3 over the body exactly as received. python3 is on every machine
 * this project builds on (node-gyp needs it), so its absence fails the test.
 */
export function documentVerifies(body: Buffer, signature: string, secret: string): boolean {
  const run = spawnSync('python3', ['-c', DOCUMENT_SNIPPET, signature, secret], { input: body, encoding: 'utf8', timeout: 10_000 });
  assert.equal(run.error, undefined, `python3 runs: ${String(run.error)}`);
  assert.equal(run.status, 0, run.stderr);
  return run.stdout.trim() === 'True';
}
