import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { buildApp } from '../../src/api/app.js';
import { MemoryRateLimitStore } from '../../src/api/rate-limit/memory-store.js';
import { RateLimiter } from '../../src/api/rate-limit/rate-limiter.js';
import type { Services } from '../../src/core/services.js';
import type { Telephony } from '../../src/telephony.js';
import { SIPP_SCENARIO_DIR, startSipp, type SippHandle } from './sipp.js';

/** The real app with call control, listening on loopback: what the document's examples and curl talk to. */
export async function startFaceServer(services: Services, telephony: Telephony): Promise<{ app: FastifyInstance; base: string; close(): Promise<void> }> {
  const rateStore = new MemoryRateLimitStore({});
  const app = await buildApp({
    services,
    http: { bodyLimit: 1_048_576, trustProxy: false },
    rateLimiter: new RateLimiter(rateStore),
    logger: false,
    metrics: new Registry(),
    ready: async () => undefined,
    calls: telephony.control,
  });
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    app,
    base: address,
    async close() {
      await app.close();
      rateStore.close();
    },
  };
}

/**
 * A SIPp phone: registers with the device's credentials (uac-register-auth.xml: REGISTER, 401, REGISTER with
 * digest, 200; Contact: * after `holdMs`) and answers the INVITEs Dialplane sends it with an out-of-call scenario:
 * `ooc-phone-answer.xml` (answers after `answerMs`, plays audio, hangs up after `talkMs`) or `ooc-phone-ring.xml`
 * (rings until cancelled).
 */
export function startSippPhone(options: {
  readonly sipPort: number;
  readonly username: string;
  readonly password: string;
  readonly behaviour: 'answer' | 'ring';
  readonly holdMs?: number;
  readonly answerMs?: number;
  readonly talkMs?: number;
  readonly bindAddress?: string;
  readonly t: Pick<TestContext, 'after'>;
}): Promise<SippHandle> {
  const holdMs = options.holdMs ?? 30_000;
  return startSipp({
    scenario: 'uac-register-auth.xml',
    remote: `127.0.0.1:${options.sipPort}`,
    authUser: options.username,
    authPassword: options.password,
    keys: { user: options.username, expires: 300, hold_ms: holdMs, answer_ms: options.answerMs ?? 500, talk_ms: options.talkMs ?? 2_000 },
    args: ['-oocsf', join(SIPP_SCENARIO_DIR, options.behaviour === 'answer' ? 'ooc-phone-answer.xml' : 'ooc-phone-ring.xml')],
    timeoutSeconds: Math.ceil(holdMs / 1000) + 20,
    ...(options.bindAddress ? { bindAddress: options.bindAddress } : {}),
    t: options.t,
  });
}
