import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TrunkUpkeep } from '../../../src/carriers/trunk-upkeep.js';
import { parseTrunks } from '../../../src/carriers/trunks.js';
import { SipStack } from '../../../src/sip/ua/sip-stack.js';
import { SipUserAgent } from '../../../src/sip/ua/user-agent.js';
import { describeSippResult, describeWithSipp, freeTcpPort, startSipp } from '../../helpers/sipp.js';

/** REGISTER with a digest challenge, refreshed before the granted expiry; OPTIONS keepalives; against SIPp. */
let stack: SipStack;
let ua: SipUserAgent;

before(async () => {
  stack = new SipStack({ host: '127.0.0.1', port: 0 });
  ua = new SipUserAgent(stack, { onInvite: (incoming) => void incoming.respond(480, 'Temporarily Unavailable') });
  await stack.start();
});
after(async () => stack.stop());

const trunk = (uri: string, register: boolean) =>
  parseTrunks({ uri, username: 'dialplane', password: 'secret', register, callerIdFormat: 'e164', prefix: undefined });

await describeWithSipp('trunk upkeep against SIPp', () => {
  test('REGISTER answers the 401, and is refreshed before the granted expiry runs out', async (t) => {
    const registrar = await startSipp({ scenario: 'uas-register.xml', keys: { expires: 2 }, t });
    const upkeep = new TrunkUpkeep(ua, trunk(`sip:${registrar.address}`, true), {
      registerExpiresS: 3600,
      refreshMarginS: 60,
      registerRetryS: 1,
      keepaliveS: 0,
    });
    upkeep.start();
    try {
      const result = await registrar.done;
      assert.equal(result.code, 0, describeSippResult(result));
      const registers = result.messages.match(/^REGISTER /gm) ?? [];
      assert.ok(registers.length >= 4, `two challenged REGISTERs, each sent twice: ${registers.length}`);
      assert.equal(upkeep.statuses[0]?.registered, true);
      assert.ok(upkeep.statuses[0]?.registeredUntil instanceof Date);
    } finally {
      await upkeep.stop();
    }
  });

  test('stopping gives up on an unregister the registrar never answers after UNREGISTER_WAIT_S (a registrar gone held the shutdown for Timer F, 32 s)', async (t) => {
    const registrar = await startSipp({ scenario: 'uas-register.xml', keys: { expires: 3600 }, t });
    const upkeep = new TrunkUpkeep(ua, trunk(`sip:${registrar.address}`, true), { registerExpiresS: 3600, refreshMarginS: 60, registerRetryS: 1, keepaliveS: 0 });
    upkeep.start();
    const deadline = Date.now() + 10_000;
    while (upkeep.statuses[0]?.registered !== true && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(upkeep.statuses[0]?.registered, true, upkeep.statuses[0]?.lastError);
    await registrar.stop();
    const started = Date.now();
    await upkeep.stop();
    const tookMs = Date.now() - started;
    t.diagnostic(`stop() with the registrar gone took ${tookMs} ms`);
    assert.ok(tookMs >= 1_500, `it did wait for an answer first (${tookMs} ms)`);
    assert.ok(tookMs < 10_000, `it gave up long before Timer F (${tookMs} ms)`);
  });

  test('OPTIONS keepalives mark a trunk reachable; a closed TCP port marks it unreachable', async (t) => {
    const alive = await startSipp({ scenario: 'uas-options.xml', calls: 2, t });
    const deadPort = await freeTcpPort();
    const upkeep = new TrunkUpkeep(ua, [...trunk(`sip:${alive.address}`, false), ...trunk(`sip:127.0.0.1:${deadPort};transport=tcp`, false)], {
      registerExpiresS: 3600,
      refreshMarginS: 60,
      registerRetryS: 1,
      keepaliveS: 0.3,
    });
    upkeep.start();
    try {
      const result = await alive.done;
      assert.equal(result.code, 0, describeSippResult(result));
      assert.equal(upkeep.statuses[0]?.reachable, true);
      for (let i = 0; i < 50 && upkeep.statuses[1]?.reachable === undefined; i++) await new Promise((r) => setTimeout(r, 50));
      assert.equal(upkeep.statuses[1]?.reachable, false);
    } finally {
      await upkeep.stop();
    }
  });

  test('bound to 0.0.0.0, REGISTER to a loopback trunk says 127.0.0.1 in Via and Contact', async (t) => {
    const wildcard = new SipStack({ host: '0.0.0.0', port: 0 });
    const wildcardUa = new SipUserAgent(wildcard, { onInvite: (incoming) => void incoming.respond(480, 'Temporarily Unavailable') });
    await wildcard.start();
    t.after(() => wildcard.stop());
    const registrar = await startSipp({ scenario: 'uas-register.xml', keys: { expires: 2 }, t });
    const upkeep = new TrunkUpkeep(wildcardUa, trunk(`sip:${registrar.address}`, true), {
      registerExpiresS: 3600,
      refreshMarginS: 60,
      registerRetryS: 1,
      keepaliveS: 0,
    });
    upkeep.start();
    try {
      const result = await registrar.done;
      assert.equal(result.code, 0, describeSippResult(result));
      const vias = result.messages.match(/^Via: .*$/gm) ?? [];
      const contacts = result.messages.match(/^Contact: .*$/gm) ?? [];
      assert.ok(vias.length > 0 && contacts.length > 0);
      for (const via of vias) assert.match(via, /^Via: SIP\/2\.0\/UDP 127\.0\.0\.1:\d+;/);
      for (const contact of contacts) assert.match(contact, /127\.0\.0\.1:\d+/);
      assert.doesNotMatch(result.messages, /0\.0\.0\.0/);
    } finally {
      await upkeep.stop();
    }
  });
});
