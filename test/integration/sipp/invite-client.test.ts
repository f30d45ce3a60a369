import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SipTimerBase } from '../../../src/sip/transaction/timers.js';
import { describeSippResult, describeWithSipp, parseSippMessages, sipHeader, startSipp } from '../../helpers/sipp.js';
import { CALLER_NUMBER, createCallingAccount, startTestTelephony } from '../../helpers/telephony.js';
import { waitUntil } from '../../helpers/processes.js';

/**
 * The INVITE client against carriers that misbehave: a trunk that answers only 100 Trying and then nothing, not
 * even to the CANCEL. T1 is 100 ms here (every SIP timer derives from it) so that 64*T1 is 6.4 s of the test's time.
 */
const T1_100: SipTimerBase = Object.freeze({ T1: 100, T2: 800, T4: 1_000 });

await describeWithSipp('the INVITE client against SIPp', () => {
  for (const transport of ['udp', 'tcp'] as const) {
    test(`[${transport}] 100 Trying and then silence: CANCEL at the ring timeout, the leg ends within 64*T1 and releases everything`, async (t) => {
      const account = await createCallingAccount(`Trying only ${transport}`);
      t.after(() => account.db.close());
      const uas = await startSipp({ scenario: 'uas-trying-only.xml', transport, timeoutSeconds: 20, t });
      const telephony = await startTestTelephony(account.services, {
        rtpPorts: transport === 'udp' ? '56000-56099' : '56100-56199',
        trunk: `sip:${uas.address};transport=${transport}`,
        telephony: { sipTimerBase: T1_100 },
      });
      t.after(() => telephony.close());
      const { services, accountId } = account;
      const call = await telephony.control.start(accountId, {
        from: CALLER_NUMBER,
        to: [{ type: 'phone', number: '+14155550100' }],
        program: [{ verb: 'hangup' }],
        ringTimeoutS: 1,
      });
      await waitUntil('the leg is dialled', () => telephony.ua.activeDialogs > 0, 5_000);
      assert.ok((await services.credits.balance(accountId)).heldMinor > 0, 'the leg holds its first minute');

      const result = await uas.done;
      assert.equal(result.code, 0, describeSippResult(result));
      const cancel = parseSippMessages(result.messages).find((m) => m.direction === 'received' && m.startLine.startsWith('CANCEL '));
      assert.ok(cancel, 'SIPp received our CANCEL after only a 100 Trying');
      const cancelledAt = Date.now();

      const leg = call;
      await telephony.engine.whenEnded(leg.id);
      const took = Date.now() - cancelledAt;
      assert.ok(took <= 64 * T1_100.T1 + 1_000, `the leg ended ${took} ms after the CANCEL`);
      const ended = await services.calls.get(accountId, leg.id);
      assert.equal(ended.outcome, 'no_answer', JSON.stringify(ended));
      assert.equal(ended.endReason, 'ring_timeout');

      // Released: the capacity slot, the dialog, the INVITE transaction, the RTP ports and the credit hold.
      assert.equal(telephony.engine.activeCalls, 0);
      assert.equal(telephony.ua.activeDialogs, 0);
      await waitUntil('no transaction left but the CANCEL', () => telephony.ua.stack.activeTransactions <= 1, 5_000);
      await waitUntil('the credit hold released', async () => (await services.credits.balance(accountId)).heldMinor === 0, 5_000);
      assert.equal(telephony.rtpPortsInUse(), 0);
    });
  }

  for (const transport of ['udp', 'tcp'] as const) {
    test(`[${transport}] a fork answers twice (180, 200, 200): both 2xx are ACKed, the second dialog ended with a BYE, the call goes on`, async (t) => {
      const account = await createCallingAccount(`Fork ${transport}`);
      t.after(() => account.db.close());
      const uas = await startSipp({ scenario: 'uas-fork-two-2xx.xml', transport, timeoutSeconds: 20, t });
      const telephony = await startTestTelephony(account.services, {
        rtpPorts: transport === 'udp' ? '56200-56299' : '56300-56399',
        trunk: `sip:${uas.address};transport=${transport}`,
      });
      t.after(() => telephony.close());
      const { services, accountId } = account;
      const call = await telephony.engine.place({ accountId, from: CALLER_NUMBER, to: '+14155550100', ringTimeoutS: 10, maxDurationS: 1 });
      await telephony.engine.whenEnded(call.id);
      const ended = await services.calls.get(accountId, call.id);
      assert.equal(ended.outcome, 'completed', JSON.stringify(ended));
      assert.equal(ended.endReason, 'time_limit');
      const result = await uas.done;
      assert.equal(result.code, 0, describeSippResult(result));
      const received = parseSippMessages(result.messages).filter((m) => m.direction === 'received').map((m) => m.startLine.split(' ')[0]);
      assert.deepEqual(received, ['INVITE', 'ACK', 'ACK', 'BYE', 'BYE']);
      assert.equal(telephony.ua.activeDialogs, 0);
    });
  }

  for (const transport of ['udp', 'tcp'] as const) {
    test(`[${transport}] as the answering side, our BYE follows the Record-Route set to the proxy, not the Contact`, async (t) => {
      const account = await createCallingAccount(`Record-Route ${transport}`);
      t.after(() => account.db.close());
      const telephony = await startTestTelephony(account.services, {
        rtpPorts: transport === 'udp' ? '56400-56499' : '56500-56599',
        trunk: 'sip:127.0.0.1:9',
      });
      t.after(() => telephony.close());
      const answered = telephony.answered((c) => c.direction === 'inbound');
      const uac = await startSipp({
        scenario: 'uac-record-route-dialplane.xml',
        transport,
        remote: `127.0.0.1:${telephony.sipPort}`,
        service: CALLER_NUMBER,
        timeoutSeconds: 20,
        t,
      });
      const call = await Promise.race([
        answered,
        uac.done.then((result) => assert.fail(`SIPp ended before Dialplane answered: ${describeSippResult(result)}`)),
      ]);
      await telephony.control.hangup(account.accountId, call.id);
      const result = await uac.done;
      assert.equal(result.code, 0, describeSippResult(result));
      const bye = parseSippMessages(result.messages).find((m) => m.direction === 'received' && m.startLine.startsWith('BYE '));
      assert.ok(bye, 'the BYE reached the proxy');
      assert.match(sipHeader(bye.text, 'Route') ?? '', /;lr/);
    });
  }

  for (const transport of ['udp', 'tcp'] as const) {
    test(`[${transport}] BYE before the ACK: hung up as soon as it answered, the callee's BYE waits for the caller's late ACK (RFC 3261 §15)`, async (t) => {
      const account = await createCallingAccount(`Late ACK ${transport}`);
      t.after(() => account.db.close());
      const telephony = await startTestTelephony(account.services, {
        rtpPorts: transport === 'udp' ? '56600-56699' : '56700-56799',
        trunk: 'sip:127.0.0.1:9',
      });
      t.after(() => telephony.close());
      const answered = telephony.answered((c) => c.direction === 'inbound');
      const uac = await startSipp({
        scenario: 'uac-late-ack-dialplane.xml',
        transport,
        remote: `127.0.0.1:${telephony.sipPort}`,
        service: CALLER_NUMBER,
        timeoutSeconds: 20,
        t,
      });
      const call = await Promise.race([
        answered,
        uac.done.then((result) => assert.fail(`SIPp ended before Dialplane answered: ${describeSippResult(result)}`)),
      ]);
      await telephony.control.hangup(account.accountId, call.id);
      const result = await uac.done;
      assert.equal(result.code, 0, describeSippResult(result));
      const order = parseSippMessages(result.messages).map((m) => `${m.direction} ${m.startLine.split(' ')[0]}`);
      assert.ok(order.indexOf('sent ACK') !== -1 && order.indexOf('sent ACK') < order.indexOf('received BYE'), order.join(', '));
      await telephony.engine.whenEnded(call.id);
      const ended = await account.services.calls.get(account.accountId, call.id);
      assert.equal(ended.outcome, 'completed', JSON.stringify(ended));
    });
  }
});
