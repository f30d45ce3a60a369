import { appendFileSync } from 'node:fs';

/**
 * Module resolution hooks (node:module register): every module a process resolves is appended to the file named by
 * DIALPLANE_TEST_MODULE_TRACE, so a test can tell which modules a command loaded.
 */
type Resolved = { url: string };
export async function resolve(
  specifier: string,
  context: unknown,
  next: (specifier: string, context: unknown) => Promise<Resolved>,
): Promise<Resolved> {
  const resolved = await next(specifier, context);
  const file = process.env.DIALPLANE_TEST_MODULE_TRACE;
  if (file) appendFileSync(file, `${resolved.url}\n`);
  return resolved;
}
