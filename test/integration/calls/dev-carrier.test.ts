import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Services } from '../../../src/core/services.js';
import type { TestDatabase } from '../../helpers/databases.js';
import { createCallingAccount, startTestTelephony, type TestTelephony } from '../../helpers/telephony.js';

/** The dev carrier's callees over real SIP and RTP on loopback: one that talks and presses keys. */
let db: TestDatabase;
let services: Services;
let accountId: string;
let telephony: TestTelephony;

before(async () => {
  ({ db, services, accountId } = await createCallingAccount('Dev'));
  telephony = await startTestTelephony(services, { rtpPorts: '40000-40999', trunk: 'dev' });
});
after(async () => {
  await telephony.close();
  await db.close();
});

test('a callee on …7123 answers, talks, then presses 1, 2, 3 as RFC 4733 events', async () => {
  const heard: string[] = [];
  let audio = 0;
  const answered = telephony.answered().then((call) => call.id);
  telephony.onDigit((_callId, digit) => heard.push(digit));
  const call = await telephony.engine.place({ accountId, from: '+14155551234', to: '+14155557123', ringTimeoutS: 10, maxDurationS: 30 });
  assert.equal(await answered, call.id);
  telephony.mediaFor(call.id)!.onAudio(() => void (audio += 1));
  for (let i = 0; i < 60 && heard.length < 3; i++) await new Promise((resolve) => setTimeout(resolve, 50));
  assert.deepEqual(heard, ['1', '2', '3']);
  assert.ok(audio >= 30, `the callee talked before pressing (${audio} packets)`);
  await telephony.engine.hangup(accountId, call.id);
});
