// Time from a call's answer to the first RTP packet of a spoken prompt, for sentences never synthesised before
// (so the prompt cache cannot help): the dev carrier answers over real SIP and RTP on loopback, Flite synthesises on
// its worker thread, and the first packet is the one the leg's RTP session sends. Target: under 150 ms.
// Usage: node bench/tts-first-packet.mjs [--calls=10]
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from '../node_modules/pino/pino.js';
import { loadConfig } from '../dist/src/config/config.js';
import { systemClock } from '../dist/src/core/clock.js';
import { createServices } from '../dist/src/core/services.js';
import { FliteEngine } from '../dist/src/media/tts/flite-engine.js';
import { openDatabase } from '../dist/src/store/database.js';
import { createStore } from '../dist/src/store/store.js';
import { startTelephony } from '../dist/src/telephony.js';
import { reportFigures } from './lib/report.mjs';

const calls = Number(/--calls=(\d+)/.exec(process.argv.slice(2).join(' '))?.[1] ?? 10);
const dir = mkdtempSync(join(tmpdir(), 'dialplane-bench-tts-'));
const config = loadConfig({ DIALPLANE_DATA_DIR: dir, DIALPLANE_SIP_PORT: '0', DIALPLANE_RTP_PORTS: '45000-45999', DIALPLANE_LOG_LEVEL: 'warn' });
const database = await openDatabase({ url: config.database.url, dialect: config.database.dialect });
const services = createServices(createStore(database), { clock: systemClock, defaultCountry: 'US', keyCacheTtlMs: 60_000 });
const { account } = await services.accounts.create({ name: 'bench', email: 'bench@example.com' });
await services.numbers.add(account.id, { number: '+14155551234', type: 'purchased' });
const telephony = await startTelephony(config, services, pino({ level: 'warn' }));
const tts = new FliteEngine();
await tts.synthesize('Warm up the worker.'); // the module compiles once per process: not part of a call's latency

const latencies = [];
try {
  for (let i = 0; i < calls; i++) {
    const { id: callId } = await telephony.engine.place({ accountId: account.id, from: '+14155551234', to: '+14155550100', ringTimeoutS: 10, maxDurationS: 60 });
    // Watched once place() has stored the call: the dev carrier rings a second before its 'answered'.
    const at = await new Promise((resolve) => {
      const stop = services.calls.watch(callId, (update) => {
        if (update.type === 'event' && update.event.state === 'answered') {
          stop();
          resolve(performance.now());
        }
      });
    });
    const media = telephony.mediaFor(callId);
    // The leg's RTP runs in a media worker: the first packet is seen as the dev carrier's echo of it, one loopback
    // round trip (well under a millisecond) after it left.
    const first = new Promise((resolve) => media.onAudio(() => resolve(performance.now())));
    // A sentence no call has said before: the number makes every one new.
    const pcm = await tts.synthesize(`Hello, this is reminder number ${i + 1} of ${calls}. Your appointment is at ${9 + (i % 8)} tomorrow.`);
    void media.play(pcm.samples);
    latencies.push((await first) - at);
    await telephony.engine.hangup(account.id, callId);
  }
} finally {
  await tts.close();
  await telephony.close();
  await database.close();
  rmSync(dir, { recursive: true, force: true });
}
latencies.sort((a, b) => a - b);
const pick = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
console.log(`tts first packet after answer, ${calls} uncached sentences (Flite WASI on a worker, dev carrier over loopback)`);
console.log(`  p50 ${pick(0.5).toFixed(1)} ms, p90 ${pick(0.9).toFixed(1)} ms, max ${latencies.at(-1).toFixed(1)} ms; target < 150 ms -> ${latencies.at(-1) < 150 ? 'met' : 'NOT met'}`);
console.log(`machine : ${cpus()[0]?.model ?? 'unknown'}, nproc=${cpus().length}`);
console.log('command : node bench/tts-first-packet.mjs');
reportFigures('tts-first-packet', [
  { figure: 'answer -> first RTP packet of an uncached prompt, p50', value: pick(0.5), unit: 'ms', better: 'lower' },
  { figure: 'answer -> first RTP packet of an uncached prompt, max', value: latencies.at(-1), unit: 'ms', better: 'lower' },
], [`${calls} calls to the dev carrier, each a sentence never synthesised before (Flite on its worker). Target: < 150 ms.`]);
