import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { describeSippResult, describeWithSipp, parseSippMessages, sipHeader, sippFlow, startSipp, type SippHandle, type SippResult } from '../../helpers/sipp.js';
import { CALLER_NUMBER, createCallingAccount, startTestTelephony, type TestTelephony } from '../../helpers/telephony.js';
import { waitUntil } from '../../helpers/processes.js';
import type { Services } from '../../../src/core/services.js';

/**
 * Call transfer (RFC 3515 REFER) against SIPp: a caller that transfers its bridged call away (Dialplane places the
 * new leg and joins the caller's peer to it), and Dialplane's own `transfer` verb handing a call to the far end.
 */

/** Forwarded to B (+14155550100) by its route: SIPp calls it, Dialplane dials B through the trunk and bridges them. */
const FORWARDED = '+14155551000';
const B = '+14155550100';

interface Setup {
  readonly services: Services;
  readonly accountId: string;
  readonly telephony: TestTelephony;
  readonly carrier: SippHandle;
}

/** A carrier (uas-two-leg.xml: every leg by its number) for B and the transfer's target, and Dialplane on it. */
async function setup(t: TestContext, name: string, rtpPorts: string): Promise<Setup> {
  const account = await createCallingAccount(name);
  t.after(() => account.db.close());
  await account.services.numbers.add(account.accountId, { number: FORWARDED, type: 'purchased' });
  await account.services.extensions.route(account.accountId, FORWARDED, { forwardTo: B });
  const carrier = await startSipp({ scenario: 'uas-two-leg.xml', calls: 2, timeoutSeconds: 30, t });
  const telephony = await startTestTelephony(account.services, { rtpPorts, trunk: `sip:${carrier.address}` });
  t.after(() => telephony.close());
  return { services: account.services, accountId: account.accountId, telephony, carrier };
}

/** The NOTIFYs a SIPp run received: their Event, Subscription-State, Content-Type and sipfrag status line. */
function notifies(result: SippResult) {
  return parseSippMessages(result.messages)
    .filter((m) => m.direction === 'received' && m.startLine.startsWith('NOTIFY '))
    .map((m) => ({
      event: sipHeader(m.text, 'Event'),
      state: sipHeader(m.text, 'Subscription-State'),
      type: sipHeader(m.text, 'Content-Type'),
      frag: m.text.split(/\r?\n\r?\n/)[1]?.split(/\r?\n/)[0],
    }));
}

/** The numbers the carrier was asked for, in order. */
function invited(result: SippResult): string[] {
  return parseSippMessages(result.messages)
    .filter((m) => m.direction === 'received' && m.startLine.startsWith('INVITE '))
    .map((m) => /^INVITE sip:([^@;]+)/.exec(m.startLine)?.[1] ?? '');
}

await describeWithSipp('call transfer (REFER) with SIPp', () => {
  test('a caller bridged to B refers to C: C is dialled, B and C are bridged, the caller gets NOTIFY 200 and leaves', async (t) => {
    const s = await setup(t, 'Transfer blind', '54000-54099');
    const caller = await startSipp({
      scenario: 'uac-refer-dialplane.xml',
      remote: `127.0.0.1:${s.telephony.sipPort}`,
      service: FORWARDED,
      keys: { caller: '+14155550111', target: '+14155550200', refer_ms: 1500, after_ms: 0 },
      timeoutSeconds: 30,
      t,
    });
    const result = await caller.done;
    assert.equal(result.code, 0, describeSippResult(result));
    assert.deepEqual(notifies(result), [
      { event: 'refer', state: `active;expires=660`, type: 'message/sipfrag;version=2.0', frag: 'SIP/2.0 100 Trying' },
      { event: 'refer', state: 'terminated;reason=noresource', type: 'message/sipfrag;version=2.0', frag: 'SIP/2.0 200 OK' },
    ]);

    const [call] = (await s.services.calls.list(s.accountId, 10)).filter((c) => c.direction === 'inbound');
    assert.ok(call);
    const view = await s.telephony.control.view(s.accountId, call.id);
    const legB = view.legs.find((leg) => leg.to === B);
    const legC = view.legs.find((leg) => leg.to === '+14155550200');
    assert.ok(legB && legC, `the call has legs to B and C: ${view.legs.map((l) => l.to).join(', ')}`);
    assert.equal(legC.parentCallId, call.id, 'C is a leg of the same call');
    assert.equal(legC.from, '+14155550111', 'C sees the original caller ID');
    assert.ok(legC.priceMinor !== null && legC.priceMinor > 0, 'C is billed by the rule of any trunk leg');
    await waitUntil('B and C are live, the caller has left', async () => {
      const legs = await s.services.calls.legs(s.accountId, call.id);
      const caller = await s.services.calls.get(s.accountId, call.id);
      return caller.state === 'ended' && legs.every((leg) => leg.state === 'answered');
    }, 10_000);
    // Two bridges: the caller with B, then B with C, which carries both SIPp legs' audio.
    assert.equal(s.telephony.bridges.length, 2);
    const relayedBefore = s.telephony.bridges[1]!.relayed;
    await waitUntil('audio flows between B and C', () => s.telephony.bridges[1]!.relayed >= relayedBefore + 50, 10_000);
    const ended = await s.telephony.control.hangup(s.accountId, call.id);
    assert.ok(ended.legs.every((leg) => leg.state === 'ended'));
    const carrier = await s.carrier.done;
    assert.equal(carrier.code, 0, describeSippResult(carrier));
    assert.deepEqual(invited(carrier), [B, '+14155550200']);
  });

  test('a target that fails (busy): the NOTIFY carries 486, and the caller stays bridged to B', async (t) => {
    const s = await setup(t, 'Transfer busy', '54100-54199');
    const caller = await startSipp({
      scenario: 'uac-refer-dialplane.xml',
      remote: `127.0.0.1:${s.telephony.sipPort}`,
      service: FORWARDED,
      keys: { caller: '+14155550111', target: '+14155550486', refer_ms: 1000, after_ms: 3000 },
      timeoutSeconds: 30,
      t,
    });
    const inbound = async () => (await s.services.calls.list(s.accountId, 10)).filter((c) => c.direction === 'inbound');
    await waitUntil('the inbound call', async () => (await inbound()).length > 0, 10_000);
    const [call] = await inbound();
    assert.ok(call);
    // After the failed NOTIFY and before the caller's BYE, the first bridge still carries audio.
    await waitUntil('the busy leg to C ended', async () => {
      const legs = await s.services.calls.legs(s.accountId, call.id);
      return legs.some((leg) => leg.to === '+14155550486' && leg.state === 'ended');
    }, 10_000);
    const live = await s.services.calls.legs(s.accountId, call.id);
    assert.equal(live.find((leg) => leg.to === B)?.state, 'answered', 'B is still up');
    assert.equal((await s.services.calls.get(s.accountId, call.id)).state, 'answered', 'the caller is still up');
    const relayed = s.telephony.bridges[0]!.relayed;
    await waitUntil('audio still flows between the caller and B', () => s.telephony.bridges[0]!.relayed > relayed, 5_000);
    assert.equal(s.telephony.bridges.length, 1, 'no new bridge');

    const result = await caller.done;
    assert.equal(result.code, 0, describeSippResult(result));
    assert.deepEqual(notifies(result).map((n) => n.frag), ['SIP/2.0 100 Trying', 'SIP/2.0 486 Busy Here']);
    const carrier = await s.carrier.done;
    assert.equal(carrier.code, 0, describeSippResult(carrier));
    assert.deepEqual(invited(carrier), [B, '+14155550486']);
    await s.telephony.control.whenSettled(call.id);
    const legs = await s.services.calls.legs(s.accountId, call.id);
    assert.equal(legs.find((leg) => leg.to === '+14155550486')?.outcome, 'busy');
  });

  test('a REFER to a SIP address elsewhere is refused with 403: no leg is placed', async (t) => {
    const s = await setup(t, 'Transfer refused', '54200-54299');
    const caller = await startSipp({
      scenario: 'uac-refer-dialplane.xml',
      remote: `127.0.0.1:${s.telephony.sipPort}`,
      service: FORWARDED,
      keys: { caller: '+14155550111', target: 'alice', refer_ms: 1000, after_ms: 0 },
      timeoutSeconds: 15,
      t,
    });
    const result = await caller.done;
    // The scenario expects 202: a 403 fails its call, and the message log shows why.
    assert.notEqual(result.code, 0);
    const answer = parseSippMessages(result.messages).find((m) => m.direction === 'received' && / REFER$/.test(sipHeader(m.text, 'CSeq') ?? ''));
    assert.equal(answer?.startLine, 'SIP/2.0 403 Forbidden');
    const [call] = (await s.services.calls.list(s.accountId, 10)).filter((c) => c.direction === 'inbound');
    assert.ok(call);
    const view = await s.telephony.control.hangup(s.accountId, call.id);
    assert.deepEqual(view.legs.map((leg) => leg.to), [B], 'only B was dialled');
    await s.carrier.stop();
  });

  test('B, the party a dial reached, refers to C and stays: C is joined to the caller, and B is hung up (transferred)', async (t) => {
    const account = await createCallingAccount('Transfer by callee');
    t.after(() => account.db.close());
    await account.services.numbers.add(account.accountId, { number: FORWARDED, type: 'purchased' });
    await account.services.extensions.route(account.accountId, FORWARDED, { forwardTo: B });
    const carrier = await startSipp({ scenario: 'uas-refer-callee.xml', calls: 2, keys: { refer_ms: 1000 }, timeoutSeconds: 30, t });
    const telephony = await startTestTelephony(account.services, { rtpPorts: '54800-54899', trunk: `sip:${carrier.address}` });
    t.after(() => telephony.close());
    const caller = await startSipp({
      scenario: 'uac-call-dialplane.xml',
      remote: `127.0.0.1:${telephony.sipPort}`,
      service: FORWARDED,
      keys: { caller: '+14155550111', hold_ms: 9_000, audio: 'on' },
      timeoutSeconds: 30,
      t,
    });
    const inbound = async () => (await account.services.calls.list(account.accountId, 10)).filter((c) => c.direction === 'inbound');
    await waitUntil('the inbound call', async () => (await inbound()).length > 0, 10_000);
    const [call] = await inbound();
    assert.ok(call);
    const legTo = async (to: string) => (await account.services.calls.legs(account.accountId, call.id)).find((leg) => leg.to === to);
    await waitUntil('B has left after the transfer', async () => (await legTo(B))?.state === 'ended', 15_000).catch(async (error: unknown) => {
      assert.fail(`${String(error)}\n${sippFlow(await carrier.stop()).join('\n')}`);
    });
    const legB = await legTo(B);
    assert.equal(legB?.endReason, 'transferred', 'B did not hang up: Dialplane ended its leg');
    assert.equal((await legTo('+14155550200'))?.state, 'answered');
    assert.equal((await account.services.calls.get(account.accountId, call.id)).state, 'answered', 'the caller is still up');
    assert.equal(telephony.bridges.length, 2);
    const relayed = telephony.bridges[1]!.relayed;
    await waitUntil('audio flows between the caller and C', () => telephony.bridges[1]!.relayed >= relayed + 50, 10_000);

    const result = await caller.done;
    assert.equal(result.code, 0, describeSippResult(result));
    const done = await carrier.done;
    assert.equal(done.code, 0, describeSippResult(done));
    assert.deepEqual(invited(done), [B, '+14155550200']);
    await telephony.control.whenSettled(call.id);
    const legC = await legTo('+14155550200');
    assert.equal(legC?.state, 'ended', 'the caller\'s BYE ended the call and C with it');
  });

  test('a caller held by a program (not bridged) refers to C: C takes over the call and the program goes on with it', async (t) => {
    const account = await createCallingAccount('Transfer program');
    t.after(() => account.db.close());
    const carrier = await startSipp({ scenario: 'uas-two-leg.xml', calls: 1, timeoutSeconds: 30, t });
    const telephony = await startTestTelephony(account.services, { rtpPorts: '54500-54599', trunk: `sip:${carrier.address}` });
    t.after(() => telephony.close());
    // CALLER_NUMBER is routed `answer`: the call is answered and held by a pause.
    const caller = await startSipp({
      scenario: 'uac-refer-dialplane.xml',
      remote: `127.0.0.1:${telephony.sipPort}`,
      service: CALLER_NUMBER,
      keys: { caller: '+14155550111', target: '+14155550200', refer_ms: 1000, after_ms: 0 },
      timeoutSeconds: 20,
      t,
    });
    const result = await caller.done;
    assert.equal(result.code, 0, describeSippResult(result));
    assert.equal(notifies(result).at(-1)?.frag, 'SIP/2.0 200 OK');
    const [call] = (await account.services.calls.list(account.accountId, 10)).filter((c) => c.direction === 'inbound');
    assert.ok(call);
    await telephony.engine.whenEnded(call.id);
    const view = await telephony.control.view(account.accountId, call.id);
    assert.equal(view.live, true, 'the call goes on without the caller');
    assert.deepEqual(view.legs.map((leg) => [leg.to, leg.state]), [['+14155550200', 'answered']]);
    assert.deepEqual(
      view.activities.filter((a) => a.kind === 'program').map((a) => a.data),
      [{ source: 'transfer', verbs: 1 }],
      'the pause that was running starts again for C',
    );
    const ended = await telephony.control.hangup(account.accountId, call.id);
    assert.equal(ended.legs[0]?.state, 'ended');
    const done = await carrier.done;
    assert.equal(done.code, 0, describeSippResult(done));
  });

  for (const [final, outcome] of [['200 OK', 'completed'], ['486 Busy Here', 'failed']] as const) {
    test(`the transfer verb: REFER to the far end, NOTIFY ${final}: ${outcome === 'completed' ? 'Dialplane hangs up' : 'the program goes on'}`, async (t) => {
      const account = await createCallingAccount(`Transfer verb ${outcome}`);
      t.after(() => account.db.close());
      const uas = await startSipp({ scenario: 'uas-refer-transfer.xml', keys: { final }, timeoutSeconds: 20, t });
      const telephony = await startTestTelephony(account.services, {
        rtpPorts: outcome === 'completed' ? '54300-54399' : '54400-54499',
        trunk: `sip:${uas.address}`,
      });
      t.after(() => telephony.close());
      const call = await telephony.control.start(account.accountId, {
        from: CALLER_NUMBER,
        to: [{ type: 'phone', number: B }],
        program: [{ verb: 'transfer', to: '+14155550300' }, { verb: 'pause', length: 1 }, { verb: 'hangup' }],
        ringTimeoutS: 10,
      });
      const result = await uas.done;
      assert.equal(result.code, 0, describeSippResult(result));
      const refer = parseSippMessages(result.messages).find((m) => m.direction === 'received' && m.startLine.startsWith('REFER '));
      assert.ok(refer, 'SIPp received the REFER');
      assert.match(sipHeader(refer.text, 'Refer-To') ?? '', /^<sip:\+14155550300@127\.0\.0\.1:\d+;user=phone>$/);
      assert.match(sipHeader(refer.text, 'Referred-By') ?? '', /^<sip:\+14155551234@/);
      // Both NOTIFYs answered 200 by Dialplane.
      const oks = parseSippMessages(result.messages).filter((m) => m.direction === 'received' && m.startLine === 'SIP/2.0 200 OK' && / NOTIFY$/.test(sipHeader(m.text, 'CSeq') ?? ''));
      assert.equal(oks.length, 2);
      await telephony.control.whenSettled(call.id);
      const view = await telephony.control.view(account.accountId, call.id);
      const transfer = view.activities.find((a) => a.kind === 'transfer');
      assert.deepEqual(transfer?.data, { to: '+14155550300', outcome, sip_status: outcome === 'completed' ? null : 486 });
      assert.equal(view.call.endReason, outcome === 'completed' ? 'transferred' : 'local_hangup');
      const byeAt = parseSippMessages(result.messages).findIndex((m) => m.direction === 'received' && m.startLine.startsWith('BYE '));
      assert.ok(byeAt > 0, 'Dialplane sent BYE');
    });
  }
});
