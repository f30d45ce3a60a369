import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Call } from '../../../src/core/calls/call-service.js';
import type { Services } from '../../../src/core/services.js';
import type { TestDatabase } from '../../helpers/databases.js';
import { describeWithKamailio, startKamailio, type KamailioHandle, type ProxiedRequest } from '../../helpers/kamailio.js';
import { waitUntil, within } from '../../helpers/processes.js';
import { describeSippResult, parseSippMessages, requireSipp, sipHeader, startSipp, type SippResult } from '../../helpers/sipp.js';
import { CALLER_NUMBER, createCallingAccount, startTestTelephony } from '../../helpers/telephony.js';

/**
 * Dialplane behind a real SIP proxy: Kamailio (Debian's `kamailio`, test/fixtures/kamailio/record-route-proxy.cfg)
 * record-routes and relays statefully between Dialplane and SIPp. Outbound, Dialplane's trunk is the proxy, which
 * sends the INVITE on to a SIPp carrier; inbound, a SIPp caller on another loopback host calls through the proxy.
 * Every in-dialog request (ACK, the carrier's re-INVITE, BYE from either side) must go through the proxy: the proxy's xlog lines show each
 * request it handled, and the top Via of what SIPp received names the proxy.
 */
const CALLED = '+14155550100';
const APP_NUMBER = '+14155550177';

let db: TestDatabase;
let services: Services;
let accountId: string;

before(async () => {
  ({ db, services, accountId } = await createCallingAccount('Kamailio'));
  await services.numbers.add(accountId, { number: APP_NUMBER, type: 'purchased' });
  // The application answers, waits a second and hangs up: the BYE is Dialplane's.
  const { application } = await services.applications.create(accountId, {
    name: 'proxied',
    program: [{ verb: 'pause', length: 1 }, { verb: 'hangup' }],
  });
  await services.extensions.route(accountId, APP_NUMBER, { applicationId: application.id });
});
after(async () => db.close());

/** The requests of one SIP call the proxy logged, as `METHOD from` pairs. */
function proxied(proxy: KamailioHandle, callId: string): ProxiedRequest[] {
  return proxy.requests().filter((r) => r.callId === callId);
}

/** What SIPp received of a method: its top Via must be the proxy's. */
function receivedVia(result: SippResult, method: string): string | undefined {
  const message = parseSippMessages(result.messages).find((m) => m.direction === 'received' && m.startLine.startsWith(`${method} `));
  return message ? sipHeader(message.text, 'Via') : undefined;
}

async function finished(callId: string): Promise<Call> {
  return services.calls.get(accountId, callId);
}

/** The answered call, or a failure once SIPp ended first or 15 s passed (a test must not hang on a lost answer). */
async function answeredBefore(answered: Promise<Call>, peer: Promise<SippResult>, proxy: KamailioHandle): Promise<Call> {
  const late = await within(
    Promise.race([answered, peer.then((result) => assert.fail(`SIPp ended before the answer: ${describeSippResult(result)}`))]),
    15_000,
  );
  if (late === 'timeout') assert.fail(`no answer within 15 s; the proxy logged:\n${proxy.output().slice(-3000)}`);
  return late;
}

await describeWithKamailio('Dialplane behind a Kamailio record-routing proxy (SIPp at the far end)', () => {
  test('outbound through the proxy: answered with audio, ACK and our BYE follow the Record-Route through the proxy', async (t) => {
    if (!(await requireSipp(t))) return;
    const carrier = await startSipp({ scenario: 'uas-proxied-wait-bye.xml', timeoutSeconds: 30, t });
    const proxy = await startKamailio({ nextHop: `sip:${carrier.address}`, t });
    const telephony = await startTestTelephony(services, { rtpPorts: '47000-47499', trunk: `sip:${proxy.address}` });
    t.after(() => telephony.close());

    const answered = telephony.answered((c) => c.to === CALLED);
    const placed = await telephony.engine.place({ accountId, from: CALLER_NUMBER, to: CALLED, ringTimeoutS: 10, maxDurationS: 30 });
    const call = await answeredBefore(answered, carrier.done, proxy);
    const media = telephony.mediaFor(call.id);
    let packets = 0;
    media?.onAudio(() => (packets += 1));
    await waitUntil('audio from the carrier', () => packets >= 25, 5_000);
    await telephony.control.hangup(accountId, placed.id);
    await telephony.engine.whenEnded(placed.id);
    const ended = await finished(placed.id);
    assert.equal(ended.outcome, 'completed', JSON.stringify(ended));
    assert.equal(ended.trunk, `sip:${proxy.address}`);

    const result = await carrier.done;
    assert.equal(result.code, 0, describeSippResult(result));
    const sipCallId = ended.sipCallId!;
    assert.deepEqual(
      proxied(proxy, sipCallId).map((r) => r.method),
      ['INVITE', 'ACK', 'BYE'],
      proxy.output().slice(-3000),
    );
    // In-dialog requests carry the proxy's Record-Route as their Route; SIPp got them from the proxy.
    for (const request of proxied(proxy, sipCallId).slice(1)) assert.match(request.route, new RegExp(`sip:${proxy.address};lr`));
    for (const method of ['INVITE', 'ACK', 'BYE']) assert.match(receivedVia(result, method) ?? '', new RegExp(`^SIP/2\\.0/UDP ${proxy.address};branch=`), method);
  });

  test("outbound through the proxy: the carrier's re-INVITE, ACK and BYE reach Dialplane through the proxy", async (t) => {
    if (!(await requireSipp(t))) return;
    const carrier = await startSipp({ scenario: 'uas-proxied-remote-bye.xml', keys: { hold_ms: 800 }, timeoutSeconds: 30, t });
    const proxy = await startKamailio({ nextHop: `sip:${carrier.address}`, t });
    const telephony = await startTestTelephony(services, { rtpPorts: '47500-47999', trunk: `sip:${proxy.address}` });
    t.after(() => telephony.close());

    const placed = await telephony.engine.place({ accountId, from: CALLER_NUMBER, to: CALLED, ringTimeoutS: 10, maxDurationS: 30 });
    await telephony.engine.whenEnded(placed.id);
    const ended = await finished(placed.id);
    assert.equal(ended.outcome, 'completed', JSON.stringify(ended));
    assert.equal(ended.endReason, 'remote_hangup');
    const result = await carrier.done;
    assert.equal(result.code, 0, describeSippResult(result));
    const requests = proxied(proxy, ended.sipCallId!);
    assert.deepEqual(requests.map((r) => r.method), ['INVITE', 'ACK', 'INVITE', 'ACK', 'BYE'], proxy.output().slice(-3000));
    // The carrier's re-INVITE, its ACK and its BYE came from the carrier along the proxy's Record-Route.
    for (const request of requests.slice(2)) {
      assert.equal(request.from, carrier.address, `the ${request.method} came from the carrier`);
      assert.match(request.route, new RegExp(`sip:${proxy.address};lr`), request.method);
    }
    assert.match(receivedVia(result, 'ACK') ?? '', new RegExp(`^SIP/2\\.0/UDP ${proxy.address};branch=`));
    // Dialplane's 200 to the re-INVITE came back through the proxy, as its Via said.
    const reinviteOk = parseSippMessages(result.messages).filter((m) => m.direction === 'received' && m.startLine === 'SIP/2.0 200 OK');
    assert.ok(reinviteOk.length >= 2, 'the re-INVITE and the BYE were answered');
    assert.match(sipHeader(reinviteOk[0]!.text, 'CSeq') ?? '', /^1 INVITE$/);
  });

  test("inbound through the proxy: admitted as the trunk's `inbound` address, answered by an application, our BYE to the proxy", async (t) => {
    if (!(await requireSipp(t))) return;
    // The proxy is another host (127.0.0.3), let in only by the trunk's inbound parameter; the caller (127.0.0.2) is no trunk.
    const telephony = await startTestTelephony(services, { rtpPorts: '48000-48499', trunk: 'sip:127.0.0.1:9;inbound=127.0.0.3' });
    t.after(() => telephony.close());
    const proxy = await startKamailio({ host: '127.0.0.3', nextHop: `sip:127.0.0.1:${telephony.sipPort}`, t });
    const answered = telephony.answered((c) => c.direction === 'inbound');
    const caller = await startSipp({
      scenario: 'uac-proxied-call-dialplane.xml',
      bindAddress: '127.0.0.2',
      remote: proxy.address,
      service: APP_NUMBER,
      timeoutSeconds: 30,
      t,
    });
    const call = await answeredBefore(answered, caller.done, proxy);
    const result = await caller.done;
    assert.equal(result.code, 0, describeSippResult(result));
    await telephony.engine.whenEnded(call.id);
    const ended = await finished(call.id);
    assert.equal(ended.outcome, 'completed', JSON.stringify(ended));
    assert.equal(ended.endReason, 'local_hangup', 'the application hung up');
    assert.ok(ended.applicationId, 'answered by the application');

    const requests = proxied(proxy, ended.sipCallId!);
    assert.deepEqual(requests.map((r) => `${r.method} from ${r.from.replace(/:\d+$/, '')}`), [
      'INVITE from 127.0.0.2',
      'ACK from 127.0.0.2',
      'BYE from 127.0.0.1',
    ], proxy.output().slice(-3000));
    const bye = requests[2]!;
    assert.equal(bye.from, `127.0.0.1:${telephony.sipPort}`, "Dialplane's BYE");
    assert.match(bye.route, new RegExp(`sip:${proxy.address};lr`), 'sent to the first Route: the proxy');
    assert.match(bye.uri, /^sip:sipp@127\.0\.0\.2:\d+/, "its Request-URI is the caller's Contact");
    assert.match(receivedVia(result, 'BYE') ?? '', new RegExp(`^SIP/2\\.0/UDP ${proxy.address};branch=`));
  });
});
