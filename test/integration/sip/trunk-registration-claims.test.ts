import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { test } from 'node:test';
import { claimTrunkRegistrations } from '../../../src/carriers/trunk-registration-claims.js';
import { TrunkUpkeep } from '../../../src/carriers/trunk-upkeep.js';
import { parseTrunks } from '../../../src/carriers/trunks.js';
import { systemClock } from '../../../src/core/clock.js';
import { openDatabase } from '../../../src/store/database.js';
import { ClaimsRepository } from '../../../src/store/claims-repository.js';
import { SipStack } from '../../../src/sip/ua/sip-stack.js';
import { SipUserAgent } from '../../../src/sip/ua/user-agent.js';
import { createTestDatabase, postgresTestOptions, POSTGRES_URL } from '../../helpers/databases.js';
import { waitUntil } from '../../helpers/processes.js';

const NAME = 'two nodes, one trunk: one registers it; when its store goes away the other registers instead, never both at once';
const LEASE_MS = 4_000;
const GRANTED_S = 2;
const options = await postgresTestOptions(NAME);

interface Register {
  readonly port: number;
  readonly expires: string | undefined;
  readonly at: number;
}

/** A registrar on loopback that grants every REGISTER GRANTED_S seconds and records who sent it, and when. */
async function startRegistrar(): Promise<{ socket: Socket; port: number; registers: Register[] }> {
  const registers: Register[] = [];
  const socket = createSocket('udp4');
  socket.on('message', (raw, rinfo) => {
    const text = raw.toString('utf8');
    if (!text.startsWith('REGISTER ')) return;
    const lines = text.split('\r\n');
    const header = (name: string) => lines.filter((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
    registers.push({ port: rinfo.port, expires: header('Expires')[0]?.split(':')[1]?.trim(), at: Date.now() });
    const contact = header('Contact')[0]?.slice('Contact:'.length).trim() ?? '';
    const response = [
      'SIP/2.0 200 OK',
      ...header('Via'),
      ...header('From'),
      `${header('To')[0]};tag=registrar`,
      ...header('Call-ID'),
      ...header('CSeq'),
      `Contact: ${contact};expires=${GRANTED_S}`,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    socket.send(response, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { socket, port: socket.address().port, registers };
}

test(NAME, { skip: options.skip, timeout: 60_000 }, async () => {
  if (options.failure) throw new Error(options.failure);
  const db = await createTestDatabase('postgres');
  const registrar = await startRegistrar();
  const trunks = parseTrunks({
    uri: `sip:127.0.0.1:${registrar.port}`,
    username: 'dialplane',
    password: 'secret',
    register: true,
    callerIdFormat: 'e164',
    prefix: undefined,
  });
  const node = async (nodeId: string, database: typeof db.database) => {
    const stack = new SipStack({ host: '127.0.0.1', port: 0 });
    const ua = new SipUserAgent(stack, { onInvite: (incoming) => void incoming.respond(480, 'Temporarily Unavailable') });
    await stack.start();
    const upkeep = new TrunkUpkeep(ua, trunks, { registerExpiresS: 60, refreshMarginS: 60, registerRetryS: 1, keepaliveS: 0 });
    upkeep.start({ register: false });
    const stopClaims = await claimTrunkRegistrations(upkeep, trunks, {
      claims: new ClaimsRepository(database),
      clock: systemClock,
      nodeId,
      leaseMs: LEASE_MS,
    });
    return { stack, upkeep, stopClaims, port: stack.transports.port };
  };
  // Node A has a store of its own, closed below as a node cut off from the database would find it.
  const storeOfA = await openDatabase({ url: POSTGRES_URL, dialect: 'postgres', schema: db.schema!, migrate: false });
  const a = await node('node-a', storeOfA);
  const b = await node('node-b', db.database);
  try {
    await waitUntil('two REGISTERs', () => registrar.registers.length >= 2, 10_000);
    assert.deepEqual(new Set(registrar.registers.map((r) => r.port)), new Set([a.port]), 'only node A registers');
    assert.equal(a.upkeep.statuses[0]?.registered, true);
    assert.equal(b.upkeep.statuses[0]?.registered, undefined);

    const cutAt = Date.now();
    await storeOfA.close();
    await waitUntil('node B registers', () => registrar.registers.some((r) => r.port === b.port), 15_000);
    const takeoverMs = Date.now() - cutAt;
    const firstOfB = registrar.registers.find((r) => r.port === b.port)!.at;
    // Refreshes every GRANTED_S / 2 s: two of B's show that A sent nothing meanwhile.
    await waitUntil('a refresh from node B', () => registrar.registers.filter((r) => r.port === b.port).length >= 2, 10_000);
    const lastOfA = Math.max(...registrar.registers.filter((r) => r.port === a.port).map((r) => r.at));
    assert.ok(lastOfA < firstOfB, `node A stopped (${lastOfA}) before node B began (${firstOfB})`);
    assert.equal(a.upkeep.statuses[0]?.registered, false);
    assert.equal(b.upkeep.statuses[0]?.registered, true);
    assert.ok(takeoverMs < (LEASE_MS * 4) / 3 + 5_000, `taken over in ${takeoverMs} ms`);
    process.stdout.write(`# trunk registration taken over ${takeoverMs} ms after node A lost its store (lease ${LEASE_MS} ms)\n`);

    // A clean stop unregisters (Expires: 0) before the claim is given up.
    await b.upkeep.stop();
    await b.stopClaims();
    assert.equal(registrar.registers.filter((r) => r.port === b.port).at(-1)?.expires, '0');
  } finally {
    await a.upkeep.stop();
    await a.stopClaims();
    await b.upkeep.stop();
    await b.stopClaims();
    await a.stack.stop();
    await b.stack.stop();
    registrar.socket.close();
    await db.close();
  }
});
