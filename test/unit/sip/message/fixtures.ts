// Locates test/fixtures/sip from either the source tree or the compiled dist/ tree: walk up from this module to
// the directory holding package.json (the repository root).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function repositoryRoot(): string {
  let dir = dirname(fileURLToPath(new URL(import.meta.url)));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('package.json not found above the test module');
    dir = parent;
  }
  return dir;
}

export const SIP_FIXTURES = join(repositoryRoot(), 'test', 'fixtures', 'sip');

export function sipFixture(name: string): Buffer {
  return readFileSync(join(SIP_FIXTURES, name));
}
