import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitUntil } from '../../helpers/processes.js';
import { describeSippResult, describeWithSipp, startSipp } from '../../helpers/sipp.js';
import { CALLER_NUMBER, createCallingAccount, NO_TRUNK, startTestTelephony } from '../../helpers/telephony.js';

/**
 * A caller that gives up while Dialplane is still taking its call (before the leg is stored and rings): the CANCEL
 * reaches the leg once it exists, so the leg ends canceled at once, is never answered, and nothing stays held or
 * charged. Call control is slowed down here (its price lookup) so the CANCEL always lands in that window.
 */
await describeWithSipp('a CANCEL that comes before the inbound leg exists (SIPp as the carrier)', () => {
  test('the leg ends canceled, never answered, no charge, nothing left live', async (t) => {
    const { db, services, accountId } = await createCallingAccount('Early cancel');
    t.after(() => db.close());
    const lookup = services.prices.lookup.bind(services.prices);
    let priced!: () => void;
    const cancelled = new Promise<void>((resolve) => (priced = resolve));
    services.prices.lookup = async (...args) => {
      // Held until SIPp's CANCEL has been answered: only then does call control go on taking the call.
      await cancelled;
      return lookup(...args);
    };
    const telephony = await startTestTelephony(services, { rtpPorts: '38500-38999', trunk: NO_TRUNK });
    t.after(() => telephony.close());
    const before = await services.credits.balance(accountId);

    const uac = await startSipp({
      scenario: 'uac-cancel-early.xml',
      remote: `127.0.0.1:${telephony.sipPort}`,
      service: CALLER_NUMBER,
      keys: { caller: '+14155550113' },
      t,
    });
    const result = await uac.done;
    assert.equal(result.code, 0, describeSippResult(result));
    priced();

    await waitUntil(
      'the inbound leg ended',
      async () => (await services.calls.list(accountId, 5)).some((c) => c.direction === 'inbound' && c.state === 'ended'),
      5_000,
    );
    const [call] = await services.calls.list(accountId, 5);
    assert.ok(call);
    assert.equal(call.endReason, 'remote_hangup', 'the caller ended it');
    assert.equal(call.answeredAt, null, 'never answered');
    assert.equal(call.costMinor, 0);
    assert.deepEqual((await services.calls.events(accountId, call.id)).map((e) => e.state), ['queued', 'ringing', 'ended']);
    await telephony.control.whenSettled(call.id);
    await waitUntil('nothing held', async () => (await services.credits.balance(accountId)).heldMinor === 0, 5_000);
    assert.equal((await services.credits.balance(accountId)).balanceMinor, before.balanceMinor, 'a call never answered costs nothing');
    assert.equal(telephony.engine.activeCalls, 0, 'no leg left live');
  });
});
