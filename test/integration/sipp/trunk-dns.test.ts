import assert from 'node:assert/strict';
import type { SrvRecord } from 'node:dns';
import { after, before, test } from 'node:test';
import type { Services } from '../../../src/core/services.js';
import { SipResolver, type DnsResolver } from '../../../src/sip/transport/sip-resolver.js';
import type { TestDatabase } from '../../helpers/databases.js';
import { freePort } from '../../helpers/processes.js';
import { describeSippResult, describeWithSipp, freeUdpPort, parseSippMessages, startSipp } from '../../helpers/sipp.js';
import { CALLER_NUMBER, createCallingAccount, startTestTelephony } from '../../helpers/telephony.js';

/**
 * RFC 3263 with real carriers: the trunk is written as a host name (`sip:carrier.test`), and the DNS the telephony
 * stack is given knows it as SRV records pointing at SIPp carriers on loopback (the DNS is the one thing not real
 * here, as no query may leave the machine). The first target refuses (503), is not there at all (a closed TCP
 * port) or never answers (Timer B): the call completes on the second target of the same trunk. The INVITE gate lets the trunk's calls in from
 * every target's address.
 */
let db: TestDatabase;
let services: Services;
let accountId: string;

before(async () => {
  ({ db, services, accountId } = await createCallingAccount('Trunk DNS'));
});
after(async () => db.close());

/** An in-memory zone: SRV and A records, every other name NXDOMAIN. */
function zone(records: { srv?: Record<string, SrvRecord[]>; a?: Record<string, string[]> }): DnsResolver & { asked: string[] } {
  const asked: string[] = [];
  const nx = (name: string) => Object.assign(new Error(`query ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
  const from = <T>(kind: string, table: Record<string, T[]> | undefined) => async (name: string): Promise<T[]> => {
    asked.push(`${kind} ${name}`);
    const found = table?.[name];
    if (!found) throw nx(name);
    return found;
  };
  return {
    asked,
    resolveNaptr: from('NAPTR', undefined),
    resolveSrv: from('SRV', records.srv),
    resolve4: from('A', records.a),
    resolve6: from('AAAA', undefined),
  };
}

await describeWithSipp('RFC 3263: a trunk named by host name, resolved to SRV targets on loopback (SIPp)', () => {
  test('the first SRV target answers 503: the call completes on the second, the Request-URI naming the trunk', async (t) => {
    const down = await startSipp({ scenario: 'uas-unavailable.xml', t });
    const up = await startSipp({ scenario: 'uas-answer-remote-bye.xml', bindAddress: '127.0.0.2', keys: { hold_ms: 300 }, t });
    const dns = zone({
      srv: {
        '_sip._udp.carrier.test': [
          { priority: 20, weight: 0, port: up.port, name: 'b.carrier.test' },
          { priority: 10, weight: 0, port: down.port, name: 'a.carrier.test' },
        ],
      },
      a: { 'a.carrier.test': ['127.0.0.1'], 'b.carrier.test': ['127.0.0.2'] },
    });
    const telephony = await startTestTelephony(services, {
      rtpPorts: '45000-45499',
      trunk: 'sip:carrier.test',
      telephony: { sipResolver: new SipResolver({ dns }) },
    });
    t.after(() => telephony.close());
    const placed = await telephony.engine.place({ accountId, from: CALLER_NUMBER, to: '+14155550100', ringTimeoutS: 10, maxDurationS: 30 });
    await telephony.engine.whenEnded(placed.id);
    const call = await services.calls.get(accountId, placed.id);
    assert.equal(call.outcome, 'completed', JSON.stringify(call));
    assert.equal(call.trunk, 'sip:carrier.test');

    const refused = await down.done;
    assert.equal(refused.code, 0, describeSippResult(refused));
    const answered = await up.done;
    assert.equal(answered.code, 0, describeSippResult(answered));
    const invites = [refused, answered].map((run) => parseSippMessages(run.messages).find((m) => m.direction === 'received' && m.startLine.startsWith('INVITE ')));
    for (const invite of invites) assert.equal(invite?.startLine, 'INVITE sip:+14155550100@carrier.test SIP/2.0');
    // The NAPTR query found nothing, then SRV; the trunk upkeep and the gate may ask too, from the cache.
    assert.deepEqual(dns.asked.slice(0, 2), ['NAPTR carrier.test', 'SRV _sip._udp.carrier.test']);
  });

  test('the first SRV target is a closed TCP port (a transport error): the call completes on the second', async (t) => {
    const up = await startSipp({ scenario: 'uas-answer-remote-bye.xml', transport: 'tcp', keys: { hold_ms: 300 }, t });
    const closed = await freePort();
    const dns = zone({
      srv: {
        '_sip._tcp.carrier.test': [
          { priority: 10, weight: 100, port: closed, name: 'dead.carrier.test' },
          { priority: 10, weight: 0, port: up.port, name: 'live.carrier.test' },
        ],
      },
      a: { 'dead.carrier.test': ['127.0.0.1'], 'live.carrier.test': ['127.0.0.1'] },
    });
    // A draw near 1 over weights 0 and 100 takes the heavy (dead) record first.
    const telephony = await startTestTelephony(services, {
      rtpPorts: '45500-45999',
      trunk: 'sip:carrier.test;transport=tcp',
      telephony: { sipResolver: new SipResolver({ dns, random: () => 0.99 }) },
    });
    t.after(() => telephony.close());
    const placed = await telephony.engine.place({ accountId, from: CALLER_NUMBER, to: '+14155550100', ringTimeoutS: 10, maxDurationS: 30 });
    await telephony.engine.whenEnded(placed.id);
    const call = await services.calls.get(accountId, placed.id);
    assert.equal(call.outcome, 'completed', JSON.stringify(call));
    const result = await up.done;
    assert.equal(result.code, 0, describeSippResult(result));
    assert.ok(dns.asked.includes('SRV _sip._tcp.carrier.test'));
    assert.equal(dns.asked.includes('NAPTR carrier.test'), false, 'an explicit transport skips NAPTR');
  });

  test('the first SRV target never answers (Timer B, T1 scaled to 50 ms): the call completes on the second', async (t) => {
    const up = await startSipp({ scenario: 'uas-answer-remote-bye.xml', keys: { hold_ms: 300 }, t });
    // A UDP port nobody listens on: the INVITE is retransmitted until Timer B (64 × T1 = 3.2 s) ends the attempt.
    const silent = await freeUdpPort();
    const dns = zone({
      srv: {
        '_sip._udp.carrier.test': [
          { priority: 10, weight: 0, port: silent, name: 'silent.carrier.test' },
          { priority: 20, weight: 0, port: up.port, name: 'live.carrier.test' },
        ],
      },
      a: { 'silent.carrier.test': ['127.0.0.1'], 'live.carrier.test': ['127.0.0.1'] },
    });
    const telephony = await startTestTelephony(services, {
      rtpPorts: '46500-46999',
      trunk: 'sip:carrier.test',
      telephony: { sipResolver: new SipResolver({ dns }), sipTimerBase: { T1: 50, T2: 400, T4: 500 } },
    });
    t.after(() => telephony.close());
    const started = Date.now();
    const placed = await telephony.engine.place({ accountId, from: CALLER_NUMBER, to: '+14155550100', ringTimeoutS: 15, maxDurationS: 30 });
    await telephony.engine.whenEnded(placed.id);
    const call = await services.calls.get(accountId, placed.id);
    assert.equal(call.outcome, 'completed', JSON.stringify(call));
    assert.ok(Date.now() - started >= 3_000, 'the second target was tried only after Timer B');
    const result = await up.done;
    assert.equal(result.code, 0, describeSippResult(result));
  });

  test("the INVITE gate lets the trunk's calls in from every target's address", async (t) => {
    const dns = zone({
      srv: {
        '_sip._udp.carrier.test': [
          { priority: 10, weight: 0, port: 5060, name: 'a.carrier.test' },
          { priority: 20, weight: 0, port: 5060, name: 'b.carrier.test' },
        ],
      },
      a: { 'a.carrier.test': ['127.0.0.3'], 'b.carrier.test': ['127.0.0.2'] },
    });
    const telephony = await startTestTelephony(services, {
      rtpPorts: '46000-46499',
      trunk: 'sip:carrier.test',
      telephony: { sipResolver: new SipResolver({ dns }) },
    });
    t.after(() => telephony.close());
    const answered = telephony.answered((c) => c.direction === 'inbound');
    const caller = await startSipp({
      scenario: 'uac-call-dialplane.xml',
      bindAddress: '127.0.0.2',
      remote: `127.0.0.1:${telephony.sipPort}`,
      service: CALLER_NUMBER,
      keys: { hold_ms: 300 },
      t,
    });
    const result = await caller.done;
    assert.equal(result.code, 0, describeSippResult(result));
    const call = await answered;
    await telephony.engine.whenEnded(call.id);
    assert.equal((await services.calls.get(accountId, call.id)).trunk, 'sip:carrier.test');

    const stranger = await startSipp({
      scenario: 'uac-invite-forbidden.xml',
      bindAddress: '127.0.0.4',
      remote: `127.0.0.1:${telephony.sipPort}`,
      service: CALLER_NUMBER,
      t,
    });
    const refused = await stranger.done;
    assert.equal(refused.code, 0, describeSippResult(refused));
  });
});
