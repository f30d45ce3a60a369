import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import pino from 'pino';
import { systemClock } from '../../../src/core/clock.js';
import { createServices } from '../../../src/core/services.js';
import { smsReceiver } from '../../../src/messaging.js';
import { DevSmsc } from '../../../src/sms/dev-smsc.js';
import { SMPP_STATUS, SmppCarrier } from '../../../src/sms/smpp-carrier.js';
import { openDatabase, type Database } from '../../../src/store/database.js';
import { createStore } from '../../../src/store/store.js';
import { requirePeer } from '../../helpers/peers.js';
import { postgresServerPeer, startPrivatePostgres, type PrivatePostgres } from '../../helpers/private-postgres.js';
import { waitUntil } from '../../helpers/processes.js';

/**
 * Inbound SMS and delivery receipts met by a PostgreSQL outage, on a private PostgreSQL server the test stops and
 * starts: the SMS service's receiver fails, the carrier answers ESME_RX_T_APPN, and what the SMSC delivers again once
 * the server is back is stored once. A receipt given twice leaves one status change.
 */
const NUMBER = '+14155551234';

let postgres: PrivatePostgres | undefined;
let database: Database | undefined;
let smsc: DevSmsc | undefined;
let carrier: SmppCarrier | undefined;
after(async () => {
  await carrier?.stop();
  await smsc?.stop();
  await database?.close().catch(() => undefined);
  await postgres?.cleanup();
});

test('an inbound SMS and a receipt that arrive while PostgreSQL is down are delivered again and stored once', { timeout: 120_000 }, async (t) => {
  if (!(await requirePeer(postgresServerPeer, t))) return;
  postgres = await startPrivatePostgres();
  database = await openDatabase({ url: postgres.url, dialect: 'postgres' });
  const services = createServices(createStore(database), { clock: systemClock, defaultCountry: 'US', keyCacheTtlMs: 60_000 });
  const accountId = (await services.accounts.create({ name: 'Outage', email: 'outage@example.com' })).account.id;
  await services.credits.add(accountId, 10_000_000, 'test');
  await services.numbers.add(accountId, { number: NUMBER, type: 'purchased', capabilities: ['voice', 'sms'] });

  // The receipt comes long enough after the submit for the database to be stopped in between.
  smsc = new DevSmsc({ receiptDelayMs: 4_000, redeliverMs: 200 });
  await smsc.start();
  carrier = new SmppCarrier({ url: smsc.url, receiver: smsReceiver(services, pino({ level: 'silent' })), unbindTimeoutMs: 300 });
  await carrier.start();
  services.sms.attachCarrier(carrier);

  const sent = await services.sms.send(accountId, { from: NUMBER, to: '+14155550100', body: 'sent before the outage' });
  await waitUntil('the message accepted by the SMSC', async () => (await services.sms.get(accountId, sent.id)).status === 'sent', 3_000);

  await postgres.stop();
  const mo = { from: '+447700900123', to: NUMBER, text: 'Sent while the database was down. '.repeat(6) };
  const refused = await smsc.injectInbound(mo, { reference: 31 });
  assert.equal(refused.parts, 2);
  assert.deepEqual(refused.statuses, [SMPP_STATUS.ESME_ROK, SMPP_STATUS.ESME_RX_T_APPN]);
  await waitUntil('the receipt refused at least once', () => smsc!.counters.receiptsRedelivered >= 1, 10_000);
  assert.equal(smsc.counters.receiptsAcknowledged, 0);

  await postgres.start();
  // The SMSC sends again the part it was refused; the first part is still held by the carrier.
  const again = await smsc.injectInbound(mo, { reference: 31, onlyParts: [1] });
  assert.deepEqual(again.statuses, [SMPP_STATUS.ESME_ROK]);
  const received = (await services.sms.list(accountId, 50)).filter((m) => m.direction === 'inbound');
  assert.equal(received.length, 1);
  assert.equal(received[0]?.body, mo.text);
  assert.equal(received[0]?.segments, 2);

  await waitUntil('the receipt stored once the database is back', async () => (await services.sms.get(accountId, sent.id)).status === 'delivered', 10_000);
  await waitUntil('the receipt acknowledged', () => smsc!.counters.receiptsAcknowledged === 1, 5_000);
  const deliveredEvents = () => services.sms.history(accountId, sent.id).then((h) => h.filter((e) => e.status === 'delivered').length);
  assert.equal(await deliveredEvents(), 1);

  // The same receipt again, as from an SMSC that did not get the answer: nothing changes.
  const receiver = smsReceiver(services, pino({ level: 'silent' }));
  const smscId = (await database.db.selectFrom('sms_parts').select('smsc_id').where('message_id', '=', sent.id).executeTakeFirstOrThrow()).smsc_id;
  assert.ok(smscId);
  await receiver.receipt({ smscId, stat: 'DELIVRD', err: '000', status: 'delivered', from: '+14155550100', to: NUMBER, receiptText: '' });
  assert.equal((await services.sms.get(accountId, sent.id)).status, 'delivered');
  assert.equal(await deliveredEvents(), 1);
});
