import pino from 'pino';
import type { Registry } from 'prom-client';
import { loadConfig } from '../../src/config/config.js';
import { systemClock } from '../../src/core/clock.js';
import { createServices, type Services } from '../../src/core/services.js';
import { createStore } from '../../src/store/store.js';
import { createTestDatabase, type TestDatabase } from './databases.js';
import { startTelephony, type Telephony } from '../../src/telephony.js';

/**
 * A telephony engine for a test: SIP on a free port, no keepalives (SIPp scenarios expect exactly their call), no
 * logs; `rtpPorts` keeps parallel test files off each other's ports, `trunk` points it at the test's peer.
 */
export async function startTestTelephony(
  services: Services,
  options: { readonly rtpPorts: string; readonly trunk: string; readonly env?: Record<string, string>; readonly metrics?: Registry },
): Promise<Telephony> {
  const config = loadConfig({
    DIALPLANE_DATA_DIR: '/nonexistent-unused',
    DIALPLANE_SIP_PORT: '0',
    DIALPLANE_TRUNK_KEEPALIVE_S: '0',
    DIALPLANE_RTP_PORTS: options.rtpPorts,
    DIALPLANE_TRUNK: options.trunk,
    ...options.env,
  });
  return startTelephony(config, services, pino({ level: 'silent' }), options.metrics);
}

/** A trunk that answers nothing, for tests where calls only come in. */
export const NO_TRUNK = 'sip:127.0.0.1:9';

export const CALLER_NUMBER = '+14155551234';

export interface CallingAccount {
  readonly db: TestDatabase;
  readonly services: Services;
  readonly accountId: string;
}

/** A fresh SQLite database with one account owning CALLER_NUMBER (voice and SMS): what every call test starts from. */
export async function createCallingAccount(name: string): Promise<CallingAccount> {
  const db = await createTestDatabase('sqlite');
  const services = createServices(createStore(db.database), { clock: systemClock, defaultCountry: 'US', keyCacheTtlMs: 60_000 });
  const email = `${name.toLowerCase().replace(/[^a-z0-9]+/g, '-')}@example.com`;
  const accountId = (await services.accounts.create({ name, email })).account.id;
  await services.numbers.add(accountId, { number: CALLER_NUMBER, type: 'purchased' });
  // Calls to it are answered by Dialplane, so the tests can drive them through the engine.
  await services.extensions.route(accountId, CALLER_NUMBER, { answer: true });
  return { db, services, accountId };
}
