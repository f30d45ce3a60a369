import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { buildApp } from '../../src/api/app.js';
import { registerFaceFormats, type Face } from '../../src/api/faces.js';
import { allFaces } from '../../src/api/faces/all-faces.js';
import { MemoryRateLimitStore } from '../../src/api/rate-limit/memory-store.js';
import { RateLimiter } from '../../src/api/rate-limit/rate-limiter.js';
import type { DatabaseDialect } from '../../src/config/config.js';
import type { Clock } from '../../src/core/clock.js';
import { createServices, type Services } from '../../src/core/services.js';
import { parseSecretKey, SecretBox } from '../../src/store/secret-box.js';
import { createStore } from '../../src/store/store.js';
import { createTestDatabase, type TestDatabase } from './databases.js';

export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';
/** The secrets key of a test app's store: a command line opening the same database passes it (DIALPLANE_SECRETS_KEY). */
export const TEST_SECRETS_KEY = Buffer.alloc(32, 0x5e).toString('base64');

/** A clock tests can move; starts at a fixed instant. */
export class ManualClock implements Clock {
  constructor(private ms = Date.parse('2026-01-01T00:00:00Z')) {}
  now(): Date {
    return new Date(this.ms);
  }
  nowMs(): number {
    return this.ms;
  }
  advance(ms: number): void {
    this.ms += ms;
  }
}

export interface TestApp {
  readonly app: FastifyInstance;
  readonly services: Services;
  readonly db: TestDatabase;
  readonly clock: ManualClock;
  readonly rateLimiter: RateLimiter;
  close(): Promise<void>;
}

export interface TestAppOptions {
  readonly beforeReady?: (app: FastifyInstance) => void;
  readonly bodyLimit?: number;
  /** The faces to serve; all of them by default. */
  readonly faces?: readonly Face[];
}

/** The real app over a real database, driven with inject(); only the clock is the test's. */
export async function createTestApp(dialect: DatabaseDialect, options: TestAppOptions = {}): Promise<TestApp> {
  const db = await createTestDatabase(dialect);
  const clock = new ManualClock();
  const secrets = new SecretBox(parseSecretKey(TEST_SECRETS_KEY)!);
  const services = createServices(createStore(db.database, { secrets }), { clock, defaultCountry: 'US', keyCacheTtlMs: 60_000 });
  // As the server's composition root does: the faces' webhook formats first.
  const faces = options.faces ?? allFaces;
  registerFaceFormats(services.webhooks, faces);
  const rateStore = new MemoryRateLimitStore({ clock: () => clock.nowMs() });
  const rateLimiter = new RateLimiter(rateStore, () => clock.nowMs());
  const app = await buildApp({
    services,
    http: { bodyLimit: options.bodyLimit ?? 1_048_576, trustProxy: false },
    rateLimiter,
    logger: false,
    metrics: new Registry(),
    adminToken: ADMIN_TOKEN,
    ready: () => db.database.ping(),
    faces,
  });
  options.beforeReady?.(app);
  await app.ready();
  return {
    app,
    services,
    db,
    clock,
    rateLimiter,
    async close() {
      await app.close();
      rateStore.close();
      await db.close();
    },
  };
}

/** An account with credits, the document's two numbers and a full key. */
export async function seedAccount(services: Services, email = 'user@example.com') {
  const { account, owner } = await services.accounts.create({ name: 'Example', email });
  await services.credits.add(account.id, 125_075, 'seed');
  const purchased = await services.numbers.add(account.id, { number: '+14155551234', type: 'purchased' });
  const ported = await services.numbers.add(account.id, { number: '+14155555678', type: 'ported' });
  const { key, token } = await services.keys.create(account.id, { name: 'test' });
  return { account, owner, purchased, ported, key, token };
}
