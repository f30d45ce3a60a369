import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { createCallingAccount, CALLER_NUMBER, NO_TRUNK, startTestTelephony, type TestTelephony } from '../../helpers/telephony.js';
import { describeWithSipp, parseSippMessages, startSipp, type SippHandle } from '../../helpers/sipp.js';
import { waitUntil } from '../../helpers/processes.js';

/**
 * Inbound legs are legs like any other: they count against DIALPLANE_MAX_CALLS, the API hangs them up with a BYE,
 * and a server going away sends them one. SIPp (as the trunk, from 127.0.0.1) calls a number routed `answer`, which
 * is held for live commands, and stays on the line until Dialplane hangs up.
 */

async function setup(t: TestContext, rtpPorts: string, env: Record<string, string> = {}) {
  const account = await createCallingAccount(`Inbound legs ${rtpPorts}`);
  t.after(() => account.db.close());
  // The trunk is 127.0.0.1 (nobody answers there), so SIPp's INVITEs from 127.0.0.1 are trunk calls.
  const telephony = await startTestTelephony(account.services, { rtpPorts, trunk: NO_TRUNK, env });
  t.after(() => telephony.close());
  return { ...account, telephony };
}

/** SIPp calls CALLER_NUMBER and would hang up only after `holdMs`; resolves once Dialplane answered. */
async function callIn(t: TestContext, telephony: TestTelephony, holdMs = 20_000): Promise<{ uac: SippHandle; callId: string }> {
  const answered = telephony.answered((call) => call.direction === 'inbound');
  const uac = await startSipp({
    scenario: 'uac-call-dialplane.xml',
    remote: `127.0.0.1:${telephony.sipPort}`,
    service: CALLER_NUMBER,
    keys: { hold_ms: holdMs, caller: '+14155550111' },
    timeoutSeconds: Math.ceil(holdMs / 1000) + 10,
    t,
  });
  return { uac, callId: (await answered).id };
}

/** Whether Dialplane sent SIPp a BYE (SIPp, waiting to send its own, counts it as unexpected: that is the point). */
async function byeReceived(uac: SippHandle): Promise<boolean> {
  const result = await uac.stop();
  return parseSippMessages(result.messages).some((m) => m.direction === 'received' && m.startLine.startsWith('BYE '));
}

await describeWithSipp('inbound legs through the one leg engine', () => {
  test('an inbound leg counts against DIALPLANE_MAX_CALLS: with one allowed, an outbound call is refused while it is up', async (t) => {
    const s = await setup(t, '51000-51199', { DIALPLANE_MAX_CALLS: '1' });
    const { uac, callId } = await callIn(t, s.telephony);
    assert.equal(s.telephony.engine.activeCalls, 1);
    await assert.rejects(
      s.telephony.control.start(s.accountId, { from: CALLER_NUMBER, to: [{ type: 'phone', number: '+14155550100' }] }),
      { code: 'capacity_exceeded' },
    );
    await s.telephony.control.hangup(s.accountId, callId);
    assert.ok(await byeReceived(uac));
  });

  test('hanging up an inbound call through the API sends BYE and ends it (api_hangup)', async (t) => {
    const s = await setup(t, '51200-51399');
    const { uac, callId } = await callIn(t, s.telephony);
    const view = await s.telephony.control.hangup(s.accountId, callId);
    assert.equal(view.call.state, 'ended');
    assert.equal(view.call.endReason, 'api_hangup');
    assert.equal(view.call.outcome, 'completed');
    assert.ok(await byeReceived(uac), 'SIPp received our BYE');
    // The inbound trunk leg is billed: one started minute at the number's price.
    await waitUntil('the call is settled', async () => (await s.services.credits.balance(s.accountId)).heldMinor === 0, 5_000);
    assert.equal((await s.services.calls.get(s.accountId, callId)).costMinor, 500);
  });

  test('a server going away sends BYE to the inbound legs it holds', async (t) => {
    const s = await setup(t, '51400-51599');
    const { uac, callId } = await callIn(t, s.telephony);
    await s.telephony.close();
    assert.ok(await byeReceived(uac), 'SIPp received our BYE');
    const call = await s.services.calls.get(s.accountId, callId);
    assert.equal(call.state, 'ended');
    assert.equal(call.endReason, 'shutdown');
  });
});
