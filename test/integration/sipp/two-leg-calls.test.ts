import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { documentCall, placeDocumentCall, type DocumentCall } from '../../../src/api/faces/dialanyone/call-routes.js';
import type { CallControl } from '../../../src/core/calls/call-control.js';
import type { Services } from '../../../src/core/services.js';
import { createCallingAccount, CALLER_NUMBER, startTestTelephony, type TestBridge } from '../../helpers/telephony.js';
import { describeWithBaresip, startBaresip } from '../../helpers/baresip.js';
import { describeWithSipp, parseSippMessages, startSipp, type SippHandle } from '../../helpers/sipp.js';
import { waitUntil } from '../../helpers/processes.js';

/**
 * DialAnyone's calls with SIPp as the carrier (test/sipp/uas-two-leg.xml answers every leg, by the number dialled):
 * the user's number rings first, the target only once the user answered, the two are joined, both legs are billed
 * per started minute from the credits reserved before anything was dialled. The calls run as call-control programs;
 * the face reads them back in the document's terms.
 */

const PORTS = ['43000-43499', '43500-43999', '44000-44499', '44500-44999', '45000-45499', '45500-45999', '49000-49499', '49500-49999'];

interface TwoLegCall {
  readonly id: string;
  readonly status: DocumentCall['status'];
  readonly userNumber: string;
  readonly perMinuteMinor: number;
  readonly userLeg: DocumentCall['user'];
  readonly targetLeg: DocumentCall['target'];
  readonly chargedMinor: number | null;
}

function asTwoLeg(call: DocumentCall): TwoLegCall {
  return {
    id: call.id,
    status: call.status,
    userNumber: call.userNumber,
    perMinuteMinor: call.perMinuteMinor,
    userLeg: call.user,
    targetLeg: call.target,
    chargedMinor: call.costMinor,
  };
}

/** The face's calls, as its routes make and read them. */
class DocumentCalls {
  constructor(
    private readonly services: Services,
    private readonly control: CallControl,
  ) {}

  async start(accountId: string, request: { userNumber: string; targetNumber: string; ringTimeoutS?: number }): Promise<TwoLegCall> {
    return asTwoLeg(await placeDocumentCall(this.services, this.control, accountId, request));
  }

  async get(accountId: string, id: string): Promise<TwoLegCall> {
    return asTwoLeg(documentCall(await this.control.view(accountId, id)));
  }

  async hangup(accountId: string, id: string): Promise<TwoLegCall> {
    return asTwoLeg(documentCall(await this.control.hangup(accountId, id)));
  }
}

interface Setup {
  readonly calls: DocumentCalls;
  readonly accountId: string;
  readonly services: Services;
  readonly bridges: TestBridge[];
  readonly uas: SippHandle;
  readonly telephony: Awaited<ReturnType<typeof startTestTelephony>>;
}

async function setup(t: TestContext, ports: string, options: { credits?: number; sippCalls?: number } = {}): Promise<Setup> {
  const account = await createCallingAccount(`Two legs ${ports}`, { credits: options.credits ?? 10_000 });
  t.after(() => account.db.close());
  const uas = await startSipp({ scenario: 'uas-two-leg.xml', calls: options.sippCalls ?? 2, timeoutSeconds: 25, t });
  const telephony = await startTestTelephony(account.services, { rtpPorts: ports, trunk: `sip:${uas.address}` });
  t.after(() => telephony.close());
  const calls = new DocumentCalls(account.services, telephony.control);
  return { calls, accountId: account.accountId, services: account.services, bridges: telephony.bridges, uas, telephony };
}

async function settled(s: Setup, id: string): Promise<TwoLegCall> {
  await waitUntil('the call is settled', async () => (await s.calls.get(s.accountId, id)).chargedMinor !== null, 20_000);
  return s.calls.get(s.accountId, id);
}

async function credits(s: Setup): Promise<{ balance: number; held: number }> {
  const balance = await s.services.credits.balance(s.accountId);
  return { balance: balance.balanceMinor, held: balance.heldMinor };
}

/** The numbers SIPp was asked for, in the order the INVITEs arrived. */
function invited(messages: string): string[] {
  return parseSippMessages(messages)
    .filter((m) => m.direction === 'received' && m.startLine.startsWith('INVITE '))
    .map((m) => /^INVITE sip:([^@;]+)/.exec(m.startLine)?.[1] ?? '');
}

await describeWithSipp('two-leg calls (DialAnyone POST /calls) with SIPp as the carrier', () => {
  test('the user rings first, then the target; audio is bridged both ways; both legs are billed', async (t) => {
    const s = await setup(t, PORTS[0]!);
    const before = await credits(s);
    const call = await s.calls.start(s.accountId, { userNumber: CALLER_NUMBER, targetNumber: '+14155550100' });
    assert.equal(call.perMinuteMinor, 1_000, 'both legs at 5.00 a minute');
    assert.equal(call.status, 'initiating');
    assert.equal((await credits(s)).held, 1_000, 'the first minute of both legs is reserved before dialling');

    await waitUntil('both legs answered', async () => (await s.calls.get(s.accountId, call.id)).status === 'in_progress', 15_000);
    const live = await s.calls.get(s.accountId, call.id);
    assert.ok(live.targetLeg);
    assert.ok(Date.parse(live.targetLeg.createdAt) >= Date.parse(live.userLeg.answeredAt!), 'the target is dialled after the user answered');
    assert.equal(live.targetLeg.from, CALLER_NUMBER, 'the target sees the user number as caller ID');

    // Both SIPp legs play speech: the bridge carries each one's packets to the other.
    await waitUntil('audio relayed', () => (s.bridges[0]?.relayed ?? 0) >= 100, 10_000);
    const ended = await s.calls.hangup(s.accountId, call.id);
    assert.equal(ended.status, 'completed');
    assert.equal(ended.userLeg.outcome, 'completed');
    assert.equal(ended.targetLeg?.outcome, 'completed');

    const done = await settled(s, call.id);
    assert.equal(done.chargedMinor, 1_000, 'one started minute of each leg');
    assert.deepEqual(await credits(s), { balance: before.balance - 1_000, held: 0 });
    const result = await s.uas.done;
    assert.equal(result.code, 0);
    assert.deepEqual(invited(result.messages), [CALLER_NUMBER, '+14155550100']);
  });

  test('the target is busy: the user leg is hung up, the call is busy, only the user leg is charged', async (t) => {
    const s = await setup(t, PORTS[1]!);
    const before = await credits(s);
    const call = await s.calls.start(s.accountId, { userNumber: CALLER_NUMBER, targetNumber: '+14155550486' });
    const done = await settled(s, call.id);
    assert.equal(done.status, 'busy');
    assert.equal(done.targetLeg?.outcome, 'busy');
    assert.equal(done.targetLeg?.sipStatus, 486);
    assert.equal(done.userLeg.state, 'ended');
    assert.equal(done.chargedMinor, 500);
    assert.deepEqual(await credits(s), { balance: before.balance - 500, held: 0 });
    assert.deepEqual(invited((await s.uas.done).messages), [CALLER_NUMBER, '+14155550486']);
  });

  test('the target does not answer: CANCEL at the ring timeout, no_answer, only the user leg charged', async (t) => {
    const s = await setup(t, PORTS[2]!);
    const before = await credits(s);
    const call = await s.calls.start(s.accountId, { userNumber: CALLER_NUMBER, targetNumber: '+14155550480', ringTimeoutS: 2 });
    const done = await settled(s, call.id);
    assert.equal(done.status, 'no_answer');
    assert.equal(done.targetLeg?.outcome, 'no_answer');
    assert.equal(done.chargedMinor, 500);
    assert.deepEqual(await credits(s), { balance: before.balance - 500, held: 0 });
  });

  test('the user does not answer: the target is never dialled and nothing is charged', async (t) => {
    const s = await setup(t, PORTS[3]!, { sippCalls: 1 });
    const account = await s.services.numbers.add(s.accountId, { number: '+14155550480', type: 'purchased' });
    const before = await credits(s);
    const call = await s.calls.start(s.accountId, { userNumber: account.number, targetNumber: '+14155550100', ringTimeoutS: 2 });
    const done = await settled(s, call.id);
    assert.equal(done.status, 'no_answer');
    assert.equal(done.targetLeg, undefined);
    assert.equal(done.chargedMinor, 0);
    assert.deepEqual(await credits(s), before);
    assert.deepEqual(invited((await s.uas.done).messages), ['+14155550480']);
  });

  test('the user is busy: the target is never dialled, the call is busy and nothing is charged', async (t) => {
    const s = await setup(t, PORTS[5]!, { sippCalls: 1 });
    const busy = await s.services.numbers.add(s.accountId, { number: '+14155550486', type: 'purchased' });
    const before = await credits(s);
    const call = await s.calls.start(s.accountId, { userNumber: busy.number, targetNumber: '+14155550100' });
    const done = await settled(s, call.id);
    assert.equal(done.status, 'busy');
    assert.equal(done.userLeg.sipStatus, 486);
    assert.equal(done.targetLeg, undefined);
    assert.equal(done.chargedMinor, 0);
    assert.deepEqual(await credits(s), before);
    assert.deepEqual(invited((await s.uas.done).messages), ['+14155550486']);
  });

  test('a user number that forwards rings its forward number first', async (t) => {
    const s = await setup(t, PORTS[6]!);
    await s.services.extensions.route(s.accountId, CALLER_NUMBER, { forwardTo: '+14155550177' });
    const call = await s.calls.start(s.accountId, { userNumber: CALLER_NUMBER, targetNumber: '+14155550100' });
    await waitUntil('both legs answered', async () => (await s.calls.get(s.accountId, call.id)).status === 'in_progress', 15_000);
    const ended = await s.calls.hangup(s.accountId, call.id);
    assert.equal(ended.status, 'completed');
    assert.equal(ended.userNumber, CALLER_NUMBER);
    assert.deepEqual(invited((await s.uas.done).messages), ['+14155550177', '+14155550100']);
  });

  test('credits that cannot cover the first minute of both legs: 402 and no INVITE on the wire', async (t) => {
    const s = await setup(t, PORTS[4]!, { credits: 999, sippCalls: 1 });
    await assert.rejects(s.calls.start(s.accountId, { userNumber: CALLER_NUMBER, targetNumber: '+14155550100' }), (error: unknown) => {
      const e = error as { code: string; status: number; details: Record<string, unknown> };
      assert.equal(e.code, 'insufficient_credits');
      assert.equal(e.status, 402);
      assert.deepEqual(e.details, { required_credits: 10, current_balance: 9.99 });
      return true;
    });
    assert.deepEqual(await credits(s), { balance: 999, held: 0 });
    const result = await s.uas.stop();
    assert.deepEqual(invited(result.messages), [], 'SIPp received nothing');
  });
});

await describeWithBaresip('two-leg calls ring the user\'s registered phone (baresip)', () => {
  test('the user number rings its extension\'s phone; when it answers the target is dialled and joined', async (t) => {
    const s = await setup(t, PORTS[7]!, { sippCalls: 1 });
    const extension = await s.services.extensions.create(s.accountId, { name: 'Desk' });
    await s.services.extensions.route(s.accountId, CALLER_NUMBER, { extensionId: extension.id });
    const { device, password } = await s.services.extensions.addDevice(s.accountId, extension.id);
    const phone = await startBaresip({ user: 'unregistered', t, maxSeconds: 40 });
    const created = await phone.command(
      'uanew',
      `<sip:${device.username}@127.0.0.1:${s.telephony.sipPort};transport=udp>;auth_pass=${password};regint=60;answermode=auto`,
    );
    assert.ok(created.ok, created.data);
    await phone.waitRegistered();
    const call = await s.calls.start(s.accountId, { userNumber: CALLER_NUMBER, targetNumber: '+14155550100' });
    await phone.waitEvent('CALL_ESTABLISHED', 10_000);
    await waitUntil('both legs answered', async () => (await s.calls.get(s.accountId, call.id)).status === 'in_progress', 15_000);
    await waitUntil('audio relayed', () => (s.bridges[0]?.relayed ?? 0) >= 50, 10_000);
    const ended = await s.calls.hangup(s.accountId, call.id);
    assert.equal(ended.status, 'completed');
    assert.equal(ended.userLeg.trunk, 'device');
    assert.deepEqual(invited((await s.uas.done).messages), ['+14155550100'], 'only the target went out through the trunk');
  });
});
