import { chmod, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { minorToCredits } from './money.js';
import type { Services } from './services.js';

export interface BootstrapResult {
  readonly accountId: string;
  readonly userId: string;
  readonly email: string;
  readonly apiKey: string;
  readonly apiKeyId: string;
  readonly credits: number;
  readonly numbers: ReadonlyArray<{ readonly id: string; readonly number: string; readonly type: string }>;
  readonly file: string;
}

export const BOOTSTRAP_CREDITS_MINOR = 100_000;
/** The numbers of the DialAnyone document's own examples, so they run unchanged against a fresh server. */
export const BOOTSTRAP_NUMBERS = [
  { number: '+14155551234', type: 'purchased' },
  { number: '+14155555678', type: 'ported' },
] as const;

/**
 * On the first start with an empty database: one account with credits, two numbers and an API key, so a newcomer
 * can call the API at once. The key is shown this one time (and kept in a 0600 file in the data directory).
 */
export async function bootstrapIfEmpty(services: Services, dataDir: string): Promise<BootstrapResult | undefined> {
  if ((await services.accounts.count()) > 0) return undefined;
  const { account, owner } = await services.accounts.create({
    name: 'Dialplane',
    email: 'owner@dialplane.local',
    firstName: 'Dialplane',
    lastName: 'Owner',
    jobTitle: 'Administrator',
  });
  await services.credits.add(account.id, BOOTSTRAP_CREDITS_MINOR, 'bootstrap credits');
  const numbers = [];
  for (const spec of BOOTSTRAP_NUMBERS) {
    const number = await services.numbers.add(account.id, { ...spec, capabilities: ['voice', 'sms'] });
    numbers.push({ id: number.id, number: number.number, type: number.type });
  }
  // The first number is answered by Dialplane, so `dialplane dev call-in` reaches a live call at once; the second
  // rings nothing until it is routed (`dialplane numbers route`).
  await services.extensions.route(account.id, BOOTSTRAP_NUMBERS[0]!.number, { answer: true });
  const { key, token } = await services.keys.create(account.id, { name: 'bootstrap', permission: 'full' });
  const file = join(dataDir, 'bootstrap.json');
  const result: BootstrapResult = {
    accountId: account.id,
    userId: owner.id,
    email: account.email,
    apiKey: token,
    apiKeyId: key.id,
    credits: minorToCredits(BOOTSTRAP_CREDITS_MINOR),
    numbers,
    file,
  };
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  await writeFile(file, `${JSON.stringify(result, null, 2)}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  return result;
}
