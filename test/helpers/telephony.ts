import pino from 'pino';
import type { Registry } from 'prom-client';
import { loadConfig } from '../../src/config/config.js';
import { systemClock } from '../../src/core/clock.js';
import { createServices, type Services } from '../../src/core/services.js';
import { createStore } from '../../src/store/store.js';
import { createTestDatabase, type TestDatabase } from './databases.js';
import { startTelephony, type Telephony, type TelephonyOptions } from '../../src/telephony.js';
import type { Call } from '../../src/core/calls/call-service.js';
import type { LegMedia } from '../../src/core/calls/call-engine.js';
import type { MediaBridgeHandle } from '../../src/media/workers/media-host.js';

/** A bridge as a test sees it: its counts as the media worker last reported them (once a second). */
export type TestBridge = MediaBridgeHandle;

/** A test's telephony: what it answered, the keys pressed in any leg, the bridges it made. */
export interface TestTelephony extends Telephony {
  /** The next leg (matching `predicate`) whose answer is stored. */
  answered(predicate?: (call: Call) => boolean): Promise<Call>;
  /** Keys pressed in any answered leg. */
  onDigit(listener: (callId: string, digit: string) => void): () => void;
  readonly bridges: TestBridge[];
}

/**
 * A telephony engine for a test: SIP on a free port, no keepalives (SIPp scenarios expect exactly their call), no
 * logs; `rtpPorts` keeps parallel test files off each other's ports, `trunk` points it at the test's peer.
 */
export async function startTestTelephony(
  services: Services,
  options: {
    readonly rtpPorts: string;
    readonly trunk: string;
    readonly env?: Record<string, string>;
    readonly metrics?: Registry;
    readonly telephony?: TelephonyOptions;
    /** Default: silent. */
    readonly logger?: pino.Logger;
  },
): Promise<TestTelephony> {
  const config = loadConfig({
    DIALPLANE_DATA_DIR: '/nonexistent-unused',
    DIALPLANE_SIP_PORT: '0',
    DIALPLANE_TRUNK_KEEPALIVE_S: '0',
    DIALPLANE_RTP_PORTS: options.rtpPorts,
    DIALPLANE_TRUNK: options.trunk,
    ...options.env,
  });
  const waiters = new Set<{ predicate: (call: Call) => boolean; resolve: (call: Call) => void }>();
  const digitListeners = new Set<(callId: string, digit: string) => void>();
  const bridges: TestBridge[] = [];
  const onAnswered = (call: Call, media: LegMedia | undefined) => {
    media?.onDigit((digit) => {
      for (const listener of digitListeners) listener(call.id, digit);
    });
    for (const waiter of [...waiters]) {
      if (waiter.predicate(call)) {
        waiters.delete(waiter);
        waiter.resolve(call);
      }
    }
  };
  const telephony = await startTelephony(config, services, options.logger ?? pino({ level: 'silent' }), {
    onAnswered,
    onBridge: (bridge) => bridges.push(bridge),
    ...(options.metrics ? { metrics: options.metrics } : {}),
    ...options.telephony,
  });
  return Object.assign(telephony, {
    bridges,
    answered: (predicate: (call: Call) => boolean = () => true) =>
      new Promise<Call>((resolve) => waiters.add({ predicate, resolve })),
    onDigit(listener: (callId: string, digit: string) => void) {
      digitListeners.add(listener);
      return () => digitListeners.delete(listener);
    },
  });
}

/** A trunk that answers nothing, for tests where calls only come in. */
export const NO_TRUNK = 'sip:127.0.0.1:9';

export const CALLER_NUMBER = '+14155551234';

export interface CallingAccount {
  readonly db: TestDatabase;
  readonly services: Services;
  readonly accountId: string;
}

/**
 * A fresh SQLite database with one account owning CALLER_NUMBER (voice and SMS) and `credits` (1,000.00 unless
 * said otherwise: legs through a trunk are billed): what every call test starts from.
 */
export async function createCallingAccount(name: string, options: { readonly credits?: number } = {}): Promise<CallingAccount> {
  const db = await createTestDatabase('sqlite');
  const services = createServices(createStore(db.database), { clock: systemClock, defaultCountry: 'US', keyCacheTtlMs: 60_000 });
  const email = `${name.toLowerCase().replace(/[^a-z0-9]+/g, '-')}@example.com`;
  const accountId = (await services.accounts.create({ name, email })).account.id;
  await services.numbers.add(accountId, { number: CALLER_NUMBER, type: 'purchased' });
  // Calls to it are answered by Dialplane, so the tests can drive them through the engine.
  await services.extensions.route(accountId, CALLER_NUMBER, { answer: true });
  const credits = options.credits ?? 100_000;
  if (credits > 0) await services.credits.add(accountId, credits, 'test');
  return { db, services, accountId };
}
