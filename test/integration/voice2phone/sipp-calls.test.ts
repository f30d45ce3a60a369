import assert from 'node:assert/strict';
import { after, before, test, type TestContext } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { buildApp } from '../../../src/api/app.js';
import { MemoryRateLimitStore } from '../../../src/api/rate-limit/memory-store.js';
import { RateLimiter } from '../../../src/api/rate-limit/rate-limiter.js';
import type { Services } from '../../../src/core/services.js';
import { FliteEngine } from '../../../src/media/tts/flite-engine.js';
import type { TestDatabase } from '../../helpers/databases.js';
import { loudSegments, startRtpCallee, type HeardSegment, type RtpCallee } from '../../helpers/rtp-callee.js';
import { describeSippResult, describeWithSipp, freeUdpPortBlock, startSipp } from '../../helpers/sipp.js';
import { createCallingAccount, startTestTelephony, type TestTelephony } from '../../helpers/telephony.js';

/**
 * The Voice2Phone document end to end through the trunk: POST /voice2phone/call with the document's own body, SIPp as
 * the carrier's callee (its SDP sends the audio to the test's RTP endpoint, which measures what the callee hears
 * and presses keys as RFC 4733 events), and GET /voice2phone/call/{id} for the outcome.
 */
const MESSAGE = 'Please press one';
const REPLY = 'Thank you';
const body = (number: string) => `{
    Phone:
    {
        "Number":"${number}",
        "CountryCode":"US"
    },
    Message: "${MESSAGE}",

    Dtmf:
    {
        "1"     : "${REPLY}"
    }
}`;

let db: TestDatabase;
let services: Services;
let token: string;
const tts = new FliteEngine();
let heardMessage: HeardSegment;
let heardReply: HeardSegment;

before(async () => {
  let accountId: string;
  ({ db, services, accountId } = await createCallingAccount('Voice2Phone SIPp'));
  token = (await services.keys.create(accountId, { name: 'v2p' })).token;
  // What the callee should hear: the same engine's rendering of the texts, measured the same way.
  heardMessage = only(loudSegments((await tts.synthesize(MESSAGE)).samples));
  heardReply = only(loudSegments((await tts.synthesize(REPLY)).samples));
});
after(async () => {
  await tts.close();
  await db.close();
});

function only(segments: HeardSegment[]): HeardSegment {
  assert.equal(segments.length, 1, `one stretch of speech: ${JSON.stringify(segments)}`);
  return segments[0]!;
}

interface Rig {
  readonly app: FastifyInstance;
  readonly telephony: TestTelephony;
  post(number: string): Promise<string>;
  status(callId: string): Promise<{ Status: number; Dtmf: string | null; CreatedDateUtc: string; UpdatedDateUtc: string }>;
  /** Polls GET until its Status is `status`. */
  until(callId: string, status: number, withinMs: number): Promise<{ Status: number; Dtmf: string | null }>;
}

async function rig(t: TestContext, trunk: string, rtpPorts: string): Promise<Rig> {
  const telephony = await startTestTelephony(services, { rtpPorts, trunk });
  const rateStore = new MemoryRateLimitStore();
  const app = await buildApp({
    services,
    // HTTPS through a trusted proxy's X-Forwarded-Proto: the TLS listener itself is https-server.test.ts's.
    http: { bodyLimit: 16_384, trustProxy: true },
    rateLimiter: new RateLimiter(rateStore),
    logger: false,
    metrics: new Registry(),
    ready: async () => undefined,
    calls: telephony.control,
  });
  await app.ready();
  t.after(async () => {
    await app.close();
    await telephony.close();
    rateStore.close();
  });
  const headers = { authorization: `Basic ${Buffer.from(`${token}:`).toString('base64')}`, 'x-forwarded-proto': 'https' };
  const status = async (callId: string) => {
    const response = await app.inject({ method: 'GET', url: `/voice2phone/call/${callId}`, headers });
    assert.equal(response.statusCode, 200, response.body);
    return response.json() as Awaited<ReturnType<Rig['status']>>;
  };
  return {
    app,
    telephony,
    status,
    async post(number) {
      const response = await app.inject({
        method: 'POST',
        url: '/voice2phone/call',
        headers: { ...headers, 'content-type': 'application/json' },
        payload: body(number),
      });
      assert.equal(response.statusCode, 200, response.body);
      return (response.json() as { CallId: string }).CallId;
    },
    async until(callId, wanted, withinMs) {
      const deadline = Date.now() + withinMs;
      for (;;) {
        const current = await status(callId);
        if (current.Status === wanted) return current;
        if (Date.now() > deadline) assert.fail(`Status ${current.Status}, not ${wanted}, after ${withinMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
  };
}

async function waitFor(what: string, check: () => boolean, withinMs: number): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Heard as said: the same seconds of speech (within two 20 ms frames) and the same loudness (within 1.5 dB). */
function assertHeard(heard: HeardSegment | undefined, said: HeardSegment, label: string): void {
  assert.ok(heard, `${label} was not heard`);
  assert.ok(Math.abs(heard.seconds - said.seconds) <= 0.04, `${label}: ${heard.seconds} s of speech heard, ${said.seconds} s said`);
  assert.ok(Math.abs(heard.dbfs - said.dbfs) <= 1.5, `${label}: ${heard.dbfs.toFixed(1)} dBFS heard, ${said.dbfs.toFixed(1)} dBFS said`);
}

/** The callee hears the message whole, then a moment of quiet: it is waiting for a key. */
async function messageHeard(callee: RtpCallee, count: number): Promise<void> {
  await waitFor(`message ${count}`, () => callee.segments().length >= count && callee.quietForMs() > 600, 20_000).catch((error: unknown) => {
    throw new Error(`${String(error)}: ${callee.packets} packets, ${JSON.stringify(callee.segments())}`);
  });
}

async function callee(t: TestContext): Promise<RtpCallee> {
  const rtp = await startRtpCallee(await freeUdpPortBlock(2));
  t.after(() => rtp.close());
  return rtp;
}

await describeWithSipp('Voice2Phone calls through a SIPp carrier', () => {
  test('the message is heard; "1" by RFC 4733 gets the reply, then the hang-up; GET shows Dtmf "1" and completed', async (t) => {
    const rtp = await callee(t);
    const uas = await startSipp({ scenario: 'uas-answer-media-port.xml', keys: { audio_port: rtp.port }, timeoutSeconds: 40, t });
    const { post, status, until } = await rig(t, `sip:${uas.address}`, '47000-47499');
    const callId = await post('4155550100');
    await messageHeard(rtp, 1);
    const during = await status(callId);
    assert.equal(during.Status, 2, 'in progress while it waits for a key');
    assert.equal(during.Dtmf, null);
    assertHeard(rtp.segments()[0], heardMessage, 'the message');
    await rtp.press('1');
    const done = await until(callId, 3, 15_000);
    assert.equal(done.Dtmf, '1');
    const result = await uas.done;
    assert.equal(result.code, 0, `the callee got the BYE: ${describeSippResult(result)}`);
    const segments = rtp.segments();
    assert.equal(segments.length, 2, `the message, then the reply: ${JSON.stringify(segments)}`);
    assertHeard(segments[1], heardReply, 'the reply');
    const final = await status(callId);
    assert.ok(final.UpdatedDateUtc > final.CreatedDateUtc);
  });

  test('an unmapped key has the message said again; silence after it hangs up; GET shows that key', async (t) => {
    const rtp = await callee(t);
    const uas = await startSipp({ scenario: 'uas-answer-media-port.xml', keys: { audio_port: rtp.port }, timeoutSeconds: 40, t });
    const { post, until } = await rig(t, `sip:${uas.address}`, '47500-47999');
    const callId = await post('4155550101');
    await messageHeard(rtp, 1);
    await rtp.press('5');
    await messageHeard(rtp, 2);
    const repeatEndedAt = performance.now() - rtp.quietForMs();
    const done = await until(callId, 3, 15_000);
    // After the repeat the call waits 5 s for a key (the last packet carries the prompt's own trailing silence).
    const waitedS = (performance.now() - repeatEndedAt) / 1000;
    assert.ok(waitedS >= 4.5 && waitedS < 8, `hung up ${waitedS.toFixed(1)} s after the repeat`);
    assert.equal(done.Dtmf, '5');
    assert.equal((await uas.done).code, 0);
    const segments = rtp.segments();
    assert.equal(segments.length, 2, `the message twice, nothing more: ${JSON.stringify(segments)}`);
    assertHeard(segments[0], heardMessage, 'the message');
    assertHeard(segments[1], heardMessage, 'the message said again');
  });

  test('busy: Status 4', async (t) => {
    const uas = await startSipp({ scenario: 'uas-busy.xml', timeoutSeconds: 20, t });
    const { post, until } = await rig(t, `sip:${uas.address}`, '48000-48499');
    const callId = await post('4155550102');
    const done = await until(callId, 4, 10_000);
    assert.equal(done.Dtmf, null);
    assert.equal((await uas.done).code, 0);
  });

  test('no answer: ringing (Status 1), then Status 5 when the ring time runs out', async (t) => {
    const uas = await startSipp({ scenario: 'uas-no-answer.xml', timeoutSeconds: 50, t });
    const { post, until } = await rig(t, `sip:${uas.address}`, '48500-48999');
    const callId = await post('4155550103');
    await until(callId, 1, 5_000);
    const done = await until(callId, 5, 40_000);
    assert.equal(done.Dtmf, null);
    assert.equal((await uas.done).code, 0);
  });
});
