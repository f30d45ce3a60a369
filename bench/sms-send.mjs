#!/usr/bin/env node
// SMS sent end to end through the SMS service: charged, stored, submitted over SMPP to the dev SMSC, and moved to
// delivered by its receipt, with the SQLite database of the embedded setup.
//
//   npx tsc -p tsconfig.json && node bench/sms-send.mjs [--messages=2000] [--window=10]
//
// One process: a fresh SQLite file, the real services, the dev SMSC and the SMPP carrier as `dialplane serve` wires
// them (src/messaging.ts). All --messages are handed to SmsService.send at once (each a single GSM-7 segment to a
// different number); the figures are messages accepted per second (send() returned: charged and stored), and
// messages delivered per second (every part's receipt stored), both from the first send(). Beside it, the same
// number of bare submit_sm through the same carrier with no database (what bench/smpp-submit.mjs measures in depth).
// Exit code 0 when measured; 1 when something failed; at most 60 s of waiting.
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { installCleanupHandlers, makeTempDir, printHeader, removeTempDir, repoRoot, requireBuild, sleep } from './lib/common.mjs';
import { reportFigures } from './lib/report.mjs';

function parseArgs(argv) {
  const opts = { messages: 2000, window: 10 };
  for (const arg of argv) {
    const match = /^--(messages|window)=(\d+)$/.exec(arg);
    if (!match) throw new Error(`unknown argument ${arg}; see the comment at the top of bench/sms-send.mjs`);
    opts[match[1]] = Number(match[2]);
  }
  if (!(opts.messages >= 1 && opts.messages <= 50_000)) throw new Error('--messages must be 1..50000');
  if (!(opts.window >= 1 && opts.window <= 1_000)) throw new Error('--window must be 1..1000');
  return opts;
}

installCleanupHandlers();
requireBuild();
const opts = parseArgs(process.argv.slice(2));
printHeader('SMS end to end: service, SQLite, SMPP, dev SMSC receipts');
const dist = (p) => join(repoRoot, 'dist', 'src', p);
const { openDatabase } = await import(dist('store/database.js'));
const { createStore } = await import(dist('store/store.js'));
const { createServices } = await import(dist('core/services.js'));
const { systemClock } = await import(dist('core/clock.js'));
const { startMessaging } = await import(dist('messaging.js'));
const pino = (await import('pino')).default;

const tmp = makeTempDir('dialplane-bench-sms-');
const database = await openDatabase({ url: join(tmp, 'bench.sqlite'), dialect: 'sqlite' });
const services = createServices(createStore(database), { clock: systemClock, defaultCountry: 'US', keyCacheTtlMs: 60_000 });
const messaging = await startMessaging({ smsc: 'dev', maxSegments: 10, window: opts.window }, services, pino({ level: 'silent' }));
try {
  const { account } = await services.accounts.create({ name: 'Bench', email: 'bench@example.com' });
  await services.credits.add(account.id, 1_000_000_000, 'bench');
  await services.numbers.add(account.id, { number: '+14155551234', type: 'purchased' });

  // Anchor: bare submit_sm with no database, through a carrier of the same kind and window bound to the same dev
  // SMSC (the service's own carrier is behind its SMSC bind and not reachable from here).
  const encoder = await import(dist('sms/segmenter.js'));
  const { SmppCarrier } = await import(dist('sms/smpp-carrier.js'));
  const seg = encoder.segment('anchor');
  const bare = new SmppCarrier({ url: messaging.devSmsc.url, windowSize: opts.window });
  await bare.start();
  const anchorStart = performance.now();
  await Promise.all(
    Array.from({ length: opts.messages }, (_, i) =>
      bare.submit({ from: '+14155551234', to: `+1415${String(i).padStart(5, '0')}77`, dataCoding: seg.dataCoding, parts: seg.parts, registeredDelivery: false }),
    ),
  );
  const anchorRate = opts.messages / ((performance.now() - anchorStart) / 1000);
  await bare.stop();

  const start = performance.now();
  const sent = await Promise.all(
    Array.from({ length: opts.messages }, (_, i) =>
      services.sms.send(account.id, { from: '+14155551234', to: `+1416${String(i).padStart(5, '0')}77`, body: `Reminder ${i}: press 1 to confirm` }),
    ),
  );
  const acceptedMs = performance.now() - start;
  let delivered = 0;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const counts = await services.store.database.db
      .selectFrom('sms_messages')
      .select((eb) => ['status', eb.fn.countAll().as('n')])
      .groupBy('status')
      .execute();
    delivered = Number(counts.find((c) => c.status === 'delivered')?.n ?? 0);
    if (delivered >= opts.messages) break;
    await sleep(20);
  }
  const deliveredMs = performance.now() - start;
  console.log(`window ${opts.window}, ${opts.messages} messages of one segment`);
  console.log(`anchor (carrier only, no database)   ${anchorRate.toFixed(0)} submit_sm/s`);
  console.log(`accepted (charged and stored)        ${sent.length} in ${(acceptedMs / 1000).toFixed(2)} s: ${(sent.length / (acceptedMs / 1000)).toFixed(0)}/s`);
  console.log(`delivered (receipt stored)           ${delivered} in ${(deliveredMs / 1000).toFixed(2)} s: ${(delivered / (deliveredMs / 1000)).toFixed(0)}/s`);
  console.log(`target: >= 500 submit_sm/s with every receipt matched`);
  const anchor = { anchor: 'bare submit_sm, same carrier', anchorValue: anchorRate };
  reportFigures('sms-send', [
    { figure: 'SMS accepted/s (charged and stored)', value: sent.length / (acceptedMs / 1000), unit: '/s', ...anchor, better: 'higher' },
    { figure: 'SMS delivered/s (receipt stored)', value: delivered / (deliveredMs / 1000), unit: '/s', ...anchor, better: 'higher' },
  ], [`${opts.messages} one-segment messages, SMPP window ${opts.window}, SQLite, the dev SMSC; ${delivered} delivered.`]);
  if (delivered < opts.messages) process.exitCode = 1;
} finally {
  await messaging.close();
  await services.sms.settled();
  await database.close();
  removeTempDir(tmp);
}
