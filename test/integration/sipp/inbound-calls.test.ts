import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import pino from 'pino';
import { loadConfig } from '../../../src/config/config.js';
import type { Services } from '../../../src/core/services.js';
import { startTelephony, type Telephony } from '../../../src/telephony.js';
import type { TestDatabase } from '../../helpers/databases.js';
import { describeSippResult, describeWithSipp, startSipp } from '../../helpers/sipp.js';
import { createCallingAccount } from '../../helpers/telephony.js';

/** SIPp as the calling carrier with Dialplane answering; and a SIP port fed garbage that keeps serving. */
let db: TestDatabase;
let services: Services;
let accountId: string;
let telephony: Telephony;
const NUMBER = '+14155551234';

before(async () => {
  ({ db, services, accountId } = await createCallingAccount('In'));
  const config = loadConfig({
    DIALPLANE_DATA_DIR: '/nonexistent-unused',
    DIALPLANE_SIP_PORT: '0',
    // SIPp's scenarios expect exactly their call: no OPTIONS keepalives in between.
    DIALPLANE_TRUNK_KEEPALIVE_S: '0',
    DIALPLANE_RTP_PORTS: '32000-32999',
    DIALPLANE_TRUNK: 'sip:127.0.0.1:9;transport=udp',
  });
  telephony = await startTelephony(config, services, pino({ level: 'silent' }));
});
after(async () => {
  await telephony.close();
  await db.close();
});

async function waitForEnded(direction: 'inbound', count: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const calls = (await services.calls.list(accountId, 100)).filter((c) => c.direction === direction && c.state === 'ended');
    if (calls.length >= count) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

await describeWithSipp('SIPp calls Dialplane', () => {
  for (const transport of ['udp', 'tcp'] as const) {
    test(`[${transport}] Dialplane answers a call to an account number; SIPp hangs up`, async (t) => {
      const before = (await services.calls.list(accountId, 100)).length;
      const uac = await startSipp({
        scenario: 'uac-call-dialplane.xml',
        transport,
        remote: `127.0.0.1:${telephony.sipPort}`,
        service: NUMBER,
        keys: { hold_ms: 300, caller: '+14155550111' },
        t,
      });
      const result = await uac.done;
      assert.equal(result.code, 0, describeSippResult(result));
      await waitForEnded('inbound', before + 1);
      const [call] = await services.calls.list(accountId, 1);
      assert.equal(call?.direction, 'inbound');
      assert.equal(call?.from, '+14155550111');
      assert.equal(call?.to, NUMBER);
      assert.equal(call?.outcome, 'completed');
      assert.equal(call?.endReason, 'remote_hangup');
    });
  }

  test('a call to a number no account holds is refused with 404', async (t) => {
    const uac = await startSipp({
      scenario: 'selftest/uac-expect-final.xml',
      remote: `127.0.0.1:${telephony.sipPort}`,
      service: '+14155559999',
      keys: { expect: '404' },
      t,
    });
    const result = await uac.done;
    assert.equal(result.code, 0, describeSippResult(result));
  });
});

test('random and mutated datagrams never bring the SIP port down', async () => {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const valid = Buffer.from(
    'OPTIONS sip:probe@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKfuzz\r\nMax-Forwards: 70\r\n' +
      'From: <sip:fuzz@127.0.0.1>;tag=1\r\nTo: <sip:probe@127.0.0.1>\r\nCall-ID: fuzz-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n',
  );
  const samples = fc.sample(
    fc.oneof(
      fc.uint8Array({ maxLength: 1500 }).map((bytes) => Buffer.from(bytes)),
      fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })).map(([at, byte]) => {
        const copy = Buffer.from(valid);
        copy[at] = byte;
        return copy;
      }),
      fc.nat(valid.length).map((cut) => valid.subarray(0, cut)),
    ),
    { numRuns: 2_000, seed: 42 },
  );
  // Paced in batches so the socket's receive buffer, not the parser, is never what drops them.
  for (let i = 0; i < samples.length; i += 100) {
    for (const packet of samples.slice(i, i + 100)) socket.send(packet, telephony.sipPort, '127.0.0.1');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  // Then a real request still gets its answer (retransmitted like any UAC does over UDP).
  const reply = new Promise<string>((resolve) => socket.on('message', (data) => {
    const text = data.toString('latin1');
    if (text.includes('fuzz-ok')) resolve(text);
  }));
  const probe = Buffer.from(valid.toString('latin1').replace('fuzz-1', 'fuzz-ok').replace('z9hG4bKfuzz', 'z9hG4bKfuzzok'));
  const retransmit = setInterval(() => socket.send(probe, telephony.sipPort, '127.0.0.1'), 500);
  socket.send(probe, telephony.sipPort, '127.0.0.1');
  const text = await Promise.race([reply, new Promise<string>((_, reject) => setTimeout(() => reject(new Error('no answer')), 5_000))]);
  clearInterval(retransmit);
  assert.match(text, /^SIP\/2\.0 200 OK/);
  socket.close();
});

test('a request whose CSeq method does not match (RFC 4475 mismatch01) is answered 400', async () => {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const request = Buffer.from(
    'OPTIONS sip:probe@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKmismatch\r\nMax-Forwards: 70\r\n' +
      'From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:probe@127.0.0.1>\r\nCall-ID: mismatch-1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n',
  );
  const answer = new Promise<string>((resolve) => socket.on('message', (data) => resolve(data.toString('latin1'))));
  const retransmit = setInterval(() => socket.send(request, telephony.sipPort, '127.0.0.1'), 500);
  socket.send(request, telephony.sipPort, '127.0.0.1');
  const text = await Promise.race([answer, new Promise<string>((_, reject) => setTimeout(() => reject(new Error('no answer')), 5_000))]);
  clearInterval(retransmit);
  socket.close();
  assert.match(text, /^SIP\/2\.0 400 /);
});
