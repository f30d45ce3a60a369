import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pino from 'pino';
import { loadConfig } from '../../../src/config/config.js';
import type { Call } from '../../../src/core/calls/call-service.js';
import type { Services } from '../../../src/core/services.js';
import { startTelephony, type Telephony } from '../../../src/telephony.js';
import type { TestDatabase } from '../../helpers/databases.js';
import { describeSippResult, describeWithSipp, digestCredentialValid, parseSippMessages, sipHeader, startSipp, type SippOptions } from '../../helpers/sipp.js';
import { createCallingAccount } from '../../helpers/telephony.js';

/**
 * Dialplane's telephony engine against SIPp as the independent carrier: every outbound case of the issue, on UDP and
 * TCP, plus SIPp calling in. Each test gets its own engine whose trunks point at that test's SIPp instances.
 */
let db: TestDatabase;
let services: Services;
let accountId: string;
const logger = pino({ level: 'silent' });
const FROM = '+14155551234';

async function engineFor(trunks: string[], extra: Record<string, string> = {}): Promise<Telephony> {
  const config = loadConfig({
    DIALPLANE_DATA_DIR: '/nonexistent-unused',
    DIALPLANE_SIP_PORT: '0',
    // SIPp's scenarios expect exactly their call: no OPTIONS keepalives in between.
    DIALPLANE_TRUNK_KEEPALIVE_S: '0',
    DIALPLANE_RTP_PORTS: '31000-31999',
    DIALPLANE_TRUNK: trunks.join(','),
    ...extra,
  });
  return startTelephony(config, services, logger);
}

async function placeAndWait(telephony: Telephony, to: string, timers: { ring?: number; max?: number } = {}): Promise<Call> {
  const call = await telephony.engine.place({
    accountId,
    from: FROM,
    to,
    ringTimeoutS: timers.ring ?? 10,
    maxDurationS: timers.max ?? 30,
  });
  await telephony.engine.whenEnded(call.id);
  return services.calls.get(accountId, call.id);
}

async function states(call: Call): Promise<string[]> {
  return (await services.calls.events(accountId, call.id)).map((e) => e.state);
}

async function sipp(options: SippOptions) {
  return startSipp({ timeoutSeconds: 20, ...options });
}

before(async () => {
  ({ db, services, accountId } = await createCallingAccount('SIPp'));
});
after(async () => db.close());

await describeWithSipp('outbound calls against SIPp', () => {
  for (const transport of ['udp', 'tcp'] as const) {
    test(`[${transport}] answer, then the callee hangs up`, async (t) => {
      const uas = await sipp({ scenario: 'uas-answer-remote-bye.xml', transport, keys: { hold_ms: 500 }, t });
      const telephony = await engineFor([`sip:${uas.address};transport=${transport}`]);
      try {
        const call = await placeAndWait(telephony, '+14155550100');
        assert.equal(call.outcome, 'completed', JSON.stringify(call));
        assert.equal(call.endReason, 'remote_hangup');
        assert.deepEqual(call.hangupCause, { code: 16, name: 'NORMAL_CLEARING' });
        assert.deepEqual(await states(call), ['queued', 'dialing', 'ringing', 'answered', 'ended']);
        const result = await uas.done;
        assert.equal(result.code, 0, describeSippResult(result));
      } finally {
        await telephony.close();
      }
    });
  }

  test('answer, then our BYE at the maximum duration', async (t) => {
    const uas = await sipp({ scenario: 'uas-answer-wait-bye.xml', t });
    const telephony = await engineFor([`sip:${uas.address}`]);
    try {
      const started = Date.now();
      const call = await placeAndWait(telephony, '+14155550100', { max: 1 });
      assert.equal(call.outcome, 'completed');
      assert.equal(call.endReason, 'time_limit');
      assert.ok(Date.now() - started >= 1000);
      const result = await uas.done;
      assert.equal(result.code, 0, describeSippResult(result));
      assert.ok(parseSippMessages(result.messages).some((m) => m.text.startsWith('BYE ')), 'SIPp received our BYE');
    } finally {
      await telephony.close();
    }
  });

  const refusals: Array<[string, number, string, string]> = [
    ['uas-busy.xml', 486, 'busy', 'USER_BUSY'],
    ['uas-decline.xml', 603, 'rejected', 'CALL_REJECTED'],
    ['uas-not-found.xml', 404, 'unallocated', 'UNALLOCATED_NUMBER'],
  ];
  for (const [scenario, status, outcome, cause] of refusals) for (const transport of ['udp', 'tcp'] as const) {
    test(`[${transport}] ${status}: ${outcome} / ${cause}, the final response ACKed`, async (t) => {
      const uas = await sipp({ scenario, transport, t });
      const telephony = await engineFor([`sip:${uas.address};transport=${transport}`]);
      try {
        const call = await placeAndWait(telephony, '+14155550100');
        assert.equal(call.outcome, outcome);
        assert.equal(call.sipStatus, status);
        assert.equal(call.hangupCause?.name, cause);
        const result = await uas.done;
        assert.equal(result.code, 0, describeSippResult(result));
      } finally {
        await telephony.close();
      }
    });
  }

  for (const transport of ['udp', 'tcp'] as const) test(`[${transport}] 503 from the first trunk fails over to the second, which answers`, async (t) => {
    const down = await sipp({ scenario: 'uas-unavailable.xml', transport, t });
    const up = await sipp({ scenario: 'uas-answer-remote-bye.xml', transport, keys: { hold_ms: 300 }, t });
    const backup = `sip:${up.address};transport=${transport}`;
    const telephony = await engineFor([`sip:${down.address};transport=${transport}`, backup]);
    try {
      const call = await placeAndWait(telephony, '+14155550100');
      assert.equal(call.outcome, 'completed');
      assert.equal(call.trunk, backup);
      assert.equal((await down.done).code, 0);
      assert.equal((await up.done).code, 0);
    } finally {
      await telephony.close();
    }
  });

  test('486 from the first trunk is final: the second is never tried', async (t) => {
    const busy = await sipp({ scenario: 'uas-busy.xml', t });
    const never = await sipp({ scenario: 'uas-answer-remote-bye.xml', t });
    const telephony = await engineFor([`sip:${busy.address}`, `sip:${never.address}`]);
    try {
      const call = await placeAndWait(telephony, '+14155550100');
      assert.equal(call.outcome, 'busy');
      const untouched = await never.stop();
      assert.equal(untouched.stats.created, 0, 'no INVITE reached the second trunk');
    } finally {
      await telephony.close();
    }
  });

  for (const transport of ['udp', 'tcp'] as const) test(`[${transport}] no answer: our CANCEL at the ring timeout, 487, outcome no_answer`, async (t) => {
    const uas = await sipp({ scenario: 'uas-no-answer.xml', transport, t });
    const telephony = await engineFor([`sip:${uas.address};transport=${transport}`]);
    try {
      const call = await placeAndWait(telephony, '+14155550100', { ring: 1 });
      assert.equal(call.outcome, 'no_answer');
      assert.equal(call.endReason, 'ring_timeout');
      assert.equal(call.hangupCause?.name, 'NO_ANSWER');
      const result = await uas.done;
      assert.equal(result.code, 0, describeSippResult(result));
      assert.ok(parseSippMessages(result.messages).some((m) => m.text.startsWith('CANCEL ')), 'SIPp received our CANCEL');
    } finally {
      await telephony.close();
    }
  });

  for (const transport of ['udp', 'tcp'] as const) test(`[${transport}] 183 with SDP (early media), then 200`, async (t) => {
    const uas = await sipp({ scenario: 'uas-early-media.xml', transport, keys: { early_ms: 300 }, t });
    const telephony = await engineFor([`sip:${uas.address};transport=${transport}`]);
    try {
      const call = await placeAndWait(telephony, '+14155550100', { max: 1 });
      assert.deepEqual(await states(call), ['queued', 'dialing', 'early_media', 'answered', 'ended']);
      assert.equal(call.outcome, 'completed');
      assert.equal((await uas.done).code, 0);
    } finally {
      await telephony.close();
    }
  });

  for (const [scenario, status] of [['uas-auth-401.xml', 401], ['uas-auth-407.xml', 407]] as const) for (const transport of ['udp', 'tcp'] as const) {
    test(`[${transport}] a ${status} digest challenge is answered with the trunk's credentials (SIPp checks them)`, async (t) => {
      const uas = await sipp({ scenario, transport, keys: { user: 'dialplane', password: 'secret' }, t });
      const telephony = await engineFor([`sip:${uas.address};transport=${transport}`], {
        DIALPLANE_TRUNK_USERNAME: 'dialplane',
        DIALPLANE_TRUNK_PASSWORD: 'secret',
      });
      try {
        const call = await placeAndWait(telephony, '+14155550100', { max: 1 });
        assert.equal(call.outcome, 'completed', JSON.stringify(call));
        const result = await uas.done;
        assert.equal(result.code, 0, describeSippResult(result));
        // SIPp's verifyauth only reads Authorization; the password behind a Proxy-Authorization is checked here.
        const header = status === 401 ? 'Authorization' : 'Proxy-Authorization';
        const credentials = parseSippMessages(result.messages)
          .map((m) => sipHeader(m.text, header))
          .find((value) => value !== undefined);
        assert.ok(credentials, `an INVITE carried ${header}`);
        assert.ok(digestCredentialValid(credentials, 'INVITE', 'secret'), credentials);
        assert.ok(!digestCredentialValid(credentials, 'INVITE', 'not-the-password'));
      } finally {
        await telephony.close();
      }
    });
  }

  test('wrong credentials are not retried forever: the second challenge (or 403) ends the call', async (t) => {
    const uas = await sipp({ scenario: 'uas-auth-401.xml', keys: { user: 'dialplane', password: 'secret' }, t });
    const telephony = await engineFor([`sip:${uas.address}`], {
      DIALPLANE_TRUNK_USERNAME: 'dialplane',
      DIALPLANE_TRUNK_PASSWORD: 'wrong',
    });
    try {
      const call = await placeAndWait(telephony, '+14155550100');
      assert.notEqual(call.outcome, 'completed');
      assert.ok(call.sipStatus === 403 || call.sipStatus === 401, String(call.sipStatus));
      await uas.stop();
    } finally {
      await telephony.close();
    }
  });

  test('national caller-ID format and a tech prefix are what the trunk receives', async (t) => {
    const uas = await sipp({ scenario: 'uas-busy.xml', t });
    const telephony = await engineFor([`sip:${uas.address}`], {
      DIALPLANE_TRUNK_CALLER_ID_FORMAT: 'national',
      DIALPLANE_TRUNK_PREFIX: '999',
    });
    try {
      await placeAndWait(telephony, '+972527121102');
      const result = await uas.done;
      const invite = parseSippMessages(result.messages).find((m) => m.text.startsWith('INVITE '));
      assert.ok(invite);
      assert.match(invite.text, /^INVITE sip:9990527121102@/);
      assert.match(sipHeader(invite.text, 'From') ?? '', /sip:4155551234@/);
    } finally {
      await telephony.close();
    }
  });

  test('the first final response lost on UDP: retransmissions recover the call', async (t) => {
    const uas = await sipp({ scenario: 'uas-lost-final-response.xml', t });
    const telephony = await engineFor([`sip:${uas.address}`]);
    try {
      const call = await placeAndWait(telephony, '+14155550100', { max: 1 });
      assert.equal(call.outcome, 'completed', JSON.stringify(call));
      const result = await uas.done;
      assert.equal(result.code, 0, describeSippResult(result));
    } finally {
      await telephony.close();
    }
  });
});
