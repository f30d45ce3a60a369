import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import { DevCarrier } from './carriers/dev-carrier.js';
import { answerInboundCall } from './carriers/inbound-calls.js';
import { InviteGate } from './carriers/invite-gate.js';
import { SipTrunkSignaling } from './carriers/sip-trunk-signaling.js';
import { systemSipResolver, trunkTargets } from './carriers/trunk-targets.js';
import { parseTrunks, type TrunkConfig } from './carriers/trunks.js';
import { DEFAULT_UPKEEP, TrunkUpkeep, type TrunkStatus } from './carriers/trunk-upkeep.js';
import { claimTrunkRegistrations } from './carriers/trunk-registration-claims.js';
import { systemClock } from './core/clock.js';
import type { Config } from './config/config.js';
import { CallControl } from './core/calls/call-control.js';
import { CallEngine, type DeviceContact, type EngineTimers, type LegMedia } from './core/calls/call-engine.js';
import type { Call } from './core/calls/call-service.js';
import type { CallMediaPort } from './core/calls/call-session.js';
import { recoverCalls } from './core/calls/call-recovery.js';
import type { Services } from './core/services.js';
import type { DeviceBinding } from './core/extensions.js';
import { MediaHost, type MediaBridgeHandle } from './media/workers/media-host.js';
import { resampleTo8k } from './media/tts/http-engine.js';
import { FliteEngine } from './media/tts/flite-engine.js';
import { CachedTts } from './media/tts/prompt-cache.js';
import type { TtsEngine } from './media/tts/tts-engine.js';
import { parseWav } from './media/tts/wav.js';
import { Registrar } from './sip/registrar.js';
import { SipStack } from './sip/ua/sip-stack.js';
import { SipUserAgent } from './sip/ua/user-agent.js';
import { advertisedAddress } from './sip/transport/advertised-address.js';
import type { SipResolver } from './sip/transport/sip-resolver.js';
import { readSipTlsFiles } from './sip/transport/tls-files.js';
import type { SipEndpoint } from './sip/transport/types.js';
import type { SipTimerBase, TimerScheduler } from './sip/transaction/timers.js';
import { guardedRequest } from './webhooks/guarded-request.js';

export interface Telephony {
  readonly engine: CallEngine;
  /** Every call, inbound and outbound: start, read, program, hang up. */
  readonly control: CallControl;
  readonly ua: SipUserAgent;
  /** Where the extensions' devices register. */
  readonly registrar: Registrar;
  readonly sipPort: number;
  /** SIP over TLS's port; 0 when no SIP certificate is configured. */
  readonly sipTlsPort: number;
  readonly devCarrier: DevCarrier | undefined;
  readonly trunks: readonly TrunkConfig[];
  /** Per trunk: whether it answers OPTIONS, and its registration. */
  readonly trunkStatus: readonly TrunkStatus[];
  /** The media of a live answered leg, inbound or outbound. */
  mediaFor(callId: string): LegMedia | undefined;
  /** Where Dialplane's own SIP listens (for the dev carrier's inbound calls). */
  readonly sipEndpoint: SipEndpoint;
  /** RTP port pairs held by live legs (each is given back when its leg ends, however it ends). */
  rtpPortsInUse(): number;
  /** The media workers that carry every leg's RTP. */
  readonly media: MediaHost;
  close(): Promise<void>;
}

export interface TelephonyOptions {
  /** Speech engine; Flite (cached) by default. */
  readonly tts?: TtsEngine;
  /** Hears every bridge made (tests count relayed packets; the count is the media worker's, once a second). */
  readonly onBridge?: (bridge: MediaBridgeHandle) => void;
  /** Where the SIP counters are registered. */
  readonly metrics?: Registry;
  /** Hears every leg once its answer is stored, with its audio. */
  readonly onAnswered?: (call: Call, media: LegMedia | undefined) => void;
  /** T1/T2/T4 of the SIP stack (RFC 3261 defaults: 500 ms, 4 s, 5 s); every SIP timer derives from them. */
  readonly sipTimerBase?: SipTimerBase;
  /** RFC 4028's refresh and expiry timers (SessionRefresh, SessionExpiry); real time by default. */
  readonly sessionTimers?: TimerScheduler;
  /** RFC 3263 resolution of trunk hosts (NAPTR, SRV, A/AAAA); the system's DNS by default. */
  readonly sipResolver?: SipResolver;
}

const engineTimers: EngineTimers = {
  start(_name, ms, fire) {
    const handle = setTimeout(fire, ms);
    handle.unref();
    return { cancel: () => clearTimeout(handle) };
  },
};

/** The tone before a recording: 400 ms of 1 kHz. */
const BEEP = (() => {
  const samples = new Int16Array(3_200);
  for (let i = 0; i < samples.length; i++) samples[i] = Math.round(8_000 * Math.sin((2 * Math.PI * 1_000 * i) / 8_000));
  return samples;
})();

/** Audio prompts fetched by URL: the response size limit keeps a hostile server from filling memory. */
const AUDIO_FETCH_TIMEOUT_MS = 10_000;
const AUDIO_MAX_BYTES = 16 * 1024 * 1024;

function trunkCredentials(trunk: TrunkConfig | undefined): { credentials?: { username: string; password: string } } {
  return trunk?.username && trunk.password ? { credentials: { username: trunk.username, password: trunk.password } } : {};
}

export function parsePortRange(range: string): { min: number; max: number } {
  const [min, max] = range.split('-').map(Number);
  return { min: min ?? 0, max: max ?? 0 };
}

function pcm8k(wav: Buffer): Int16Array {
  const pcm = parseWav(wav);
  return (pcm.sampleRate === 8000 ? pcm : resampleTo8k(pcm)).samples;
}

/**
 * SIP, RTP ports, trunks (or the dev carrier), the leg engine and call control. Calls a crash left live are ended
 * first, so their final events go out before new calls start.
 */
export async function startTelephony(
  config: Config,
  services: Services,
  logger: Logger,
  options: TelephonyOptions = {},
): Promise<Telephony> {
  // Only the calls of nodes that are gone: another node's live calls are its own. Their credit reserves died with
  // them: released, not charged (what was talked before the crash is not billed).
  const recovered = await recoverCalls(services, true);
  if (recovered.ended.length > 0 || recovered.released > 0) {
    logger.warn({ count: recovered.ended.length, released: recovered.released }, 'ended calls left live by a node that is gone');
  }
  const stopSweep = services.node.onSweep(async () => {
    const swept = await recoverCalls(services, false);
    if (swept.ended.length > 0 || swept.released > 0) {
      logger.warn({ count: swept.ended.length, released: swept.released }, 'ended calls of a node whose lease ran out');
    }
  });

  /** SDP o=/c=: DIALPLANE_RTP_PUBLIC_ADDRESS, else a concrete address even when bound to 0.0.0.0 or ::. */
  const mediaAddressFor = (peer?: string): string =>
    advertisedAddress({ bind: config.sip.host, publicAddress: config.sip.rtpPublicAddress, peer });
  const limitedRequests = new Counter({
    name: 'dialplane_sip_requests_limited_total',
    help: 'SIP requests over the per-source limit (DIALPLANE_SIP_SOURCE_RATE): INVITE and REGISTER answered 503, others dropped',
    labelNames: ['method'] as const,
    registers: options.metrics ? [options.metrics] : [],
  });
  const registerLockouts = new Counter({
    name: 'dialplane_sip_register_lockout_total',
    help: 'REGISTER password guessing: devices locked out (locked), and REGISTERs refused 403 unchecked while locked out (refused)',
    labelNames: ['event'] as const,
    registers: options.metrics ? [options.metrics] : [],
  });
  const srtpDropped = new Counter({
    name: 'dialplane_srtp_packets_dropped_total',
    help: 'Received packets of SRTP legs dropped: failed authentication (auth_failed, plaintext RTP included), replayed, or malformed',
    labelNames: ['reason'] as const,
    registers: options.metrics ? [options.metrics] : [],
  });
  const onSrtpRejected = (reason: string): void => {
    srtpDropped.inc({ reason });
  };
  // Every leg's RTP runs in a media worker; this thread only signals and commands them.
  const rtpPorts = new MediaHost({
    workers: config.sip.mediaWorkers,
    host: config.sip.host,
    ports: parsePortRange(config.sip.rtpPorts),
    onSrtpRejected,
    onWorkerLost: (worker, lost, err) =>
      logger.error({ err, worker, legs: lost.legs, calls: lost.calls }, 'media worker failed: its calls end (media_failure); a new worker replaces it'),
  });
  // A test of that recovery (DIALPLANE_MEDIA_TEST_HOOKS) makes worker 0 exit as a crash would.
  const crashWorker = (): void => rtpPorts.crashWorker(0, 'exit');
  if (config.sip.mediaTestHooks) process.on('SIGUSR2', crashWorker);
  const sourceLimit = {
    rate: config.sip.sourceRate,
    burst: config.sip.sourceBurst,
    onLimited: (method: string, source: SipEndpoint, answered: boolean) => {
      limitedRequests.inc({ method: ['INVITE', 'REGISTER', 'OPTIONS', 'BYE', 'CANCEL', 'MESSAGE', 'SUBSCRIBE', 'NOTIFY', 'INFO', 'UPDATE', 'PRACK', 'REFER'].includes(method) ? method : 'other' });
      logger.debug({ method, source: source.address, answered }, 'SIP request over the per-source limit');
    },
  };
  const tlsFiles = await readSipTlsFiles(config.sip);
  const warnedUnverified = new Set<string>();
  const stack = new SipStack({
    host: config.sip.host,
    publicAddress: config.sip.publicAddress,
    port: config.sip.port,
    sourceLimit,
    tls: tlsFiles.server,
    tlsCa: tlsFiles.ca,
    onUnverifiedTls: (target) => {
      // Once per peer: every connection to it is as unsafe as the first.
      const key = `${target.address}:${target.port}`;
      if (warnedUnverified.has(key)) return;
      warnedUnverified.add(key);
      logger.warn({ peer: key, serverName: target.tls?.serverName }, 'SIP over TLS WITHOUT certificate verification (trunk ;verify=off): anyone on the path can read and change this signalling');
    },
    ...(options.sipTimerBase ? { timerBase: options.sipTimerBase } : {}),
  });
  const registrar = new Registrar({
    lookup: (username) => services.extensions.credentialsFor(username),
    onError: (err: unknown) => logger.error({ err }, 'registrar lookup or binding store failed'),
    lockout: {
      failures: config.sip.registerFailures,
      windowMs: config.sip.registerWindowS * 1000,
      lockoutMs: config.sip.registerLockoutS * 1000,
      onLockedOut: (username, source) => {
        registerLockouts.inc({ event: 'locked' });
        logger.warn({ username, source: source.address, lockoutS: config.sip.registerLockoutS }, 'REGISTER password guessing: device locked out');
      },
      onRefusedLocked: (username, source) => {
        registerLockouts.inc({ event: 'refused' });
        logger.debug({ username, source: source.address }, 'REGISTER refused: device locked out');
      },
    },
    // Written through to the database, and (with other nodes) announced once written, so they take the change.
    bindings: {
      load: (now) => services.extensions.loadBindings(now),
      put: async (binding) => {
        await services.extensions.saveBinding(binding);
        services.changes.publishDevice(binding.deviceId);
      },
      remove: async (deviceId, key) => {
        await services.extensions.removeBinding(deviceId, key);
        services.changes.publishDevice(deviceId);
      },
      removeDevice: async (deviceId) => {
        await services.extensions.removeBindings(deviceId);
        services.changes.publishDevice(deviceId);
      },
    },
  });
  const stopAdopting = adoptOtherNodesBindings(registrar, services, (err) => logger.warn({ err }, 'could not read registrations another node made'));
  // Devices registered before a restart are reached again at once, not only after their next REGISTER.
  const restored = await registrar.restore();
  if (restored > 0) logger.info({ count: restored }, 'restored device registrations');
  const stopForgetting = services.extensions.onDeviceRemoved((deviceId) => registrar.forgetDevice(deviceId));
  const refusedInvites = new Counter({
    name: 'dialplane_sip_invites_refused_total',
    help: 'Inbound INVITEs answered 403: from no trunk nor registered device (not_allowed), or with wrong credentials (auth_failed)',
    labelNames: ['reason'] as const,
    registers: options.metrics ? [options.metrics] : [],
  });
  const targetsOf = trunkTargets(options.sipResolver ?? systemSipResolver());
  const gate = new InviteGate({
    registrar,
    resolve: async (_host, trunk) => [...new Set((await targetsOf(trunk)).map((target) => target.address))],
    lookup: (username) => services.extensions.credentialsFor(username),
    onRefused: (reason, source) => {
      refusedInvites.inc({ reason });
      logger.debug({ reason, source }, 'inbound INVITE refused');
    },
    onError: (err: unknown, context: string) => logger.error({ err }, context),
  });
  const ua = new SipUserAgent(stack, {
    ...(options.sessionTimers ? { sessionTimers: options.sessionTimers } : {}),
    onRegister: (incoming) => void registrar.handle(incoming),
    onInvite: (incoming) => {
      gate
        .admit(incoming)
        .then((decision) => {
          if (decision.kind === 'refused') return;
          return answerInboundCall(incoming, {
            ua,
            services,
            control,
            rtpPorts,
            mediaAddress: mediaAddressFor(incoming.source.address),
            logger,
            trunk: decision.kind === 'trunk' ? decision.trunk : 'device',
            rtpTimeoutS: config.sip.rtpTimeoutS,
            srtp: decision.kind === 'trunk' ? (trunks.find((t) => t.name === decision.trunk)?.srtp ?? 'off') : 'off',
            ...trunkCredentials(decision.kind === 'trunk' ? trunks.find((t) => t.name === decision.trunk) : undefined),
            ...(decision.kind === 'device'
              ? { device: { deviceId: decision.deviceId, accountId: decision.accountId, extensionId: decision.extensionId } }
              : {}),
          });
        })
        .catch((err: unknown) => {
          // A failure of ours (the database, most likely) must still give the caller a final answer.
          logger.error({ err }, 'inbound call failed');
          incoming.respond(500, 'Server Internal Error');
        });
    },
  });
  const sipPort = await stack.start();

  let devCarrier: DevCarrier | undefined;
  let trunks: TrunkConfig[];
  if (config.trunk.uri === 'dev') {
    // The dev carrier talks only to this process: bound to 0.0.0.0 or ::, it runs on loopback.
    devCarrier = new DevCarrier({ host: advertisedAddress({ bind: config.sip.host, peer: '127.0.0.1' }) });
    await devCarrier.start();
    trunks = parseTrunks({ ...config.trunk, uri: devCarrier.trunkUri });
  } else {
    trunks = parseTrunks(config.trunk);
  }
  gate.useTrunks(trunks);
  if (trunks.some((t) => t.transport === 'tls') && !tlsFiles.server) {
    logger.warn(
      'a trunk uses TLS but no SIP certificate is configured (DIALPLANE_SIP_TLS_CERT / _KEY): the trunk can reach us only over the connections we open',
    );
  }
  for (const trunk of trunks) {
    if (trunk.transport === 'tls' && !trunk.verify) {
      logger.warn({ trunk: trunk.name }, 'trunk ;verify=off: its TLS certificate is NOT checked (for labs only, never in production)');
    }
  }
  const signaling = new SipTrunkSignaling(ua, trunks, rtpPorts, mediaAddressFor, config.sip.rtpTimeoutS, targetsOf);
  const engine = new CallEngine(services.calls, signaling, engineTimers, config.sip.maxCalls, options.onAnswered);
  const tts = options.tts ?? new CachedTts(new FliteEngine());
  const media: CallMediaPort = {
    async speech(text, voice) {
      const pcm = await tts.synthesize(text, voice ? { voice } : {});
      return (pcm.sampleRate === 8000 ? pcm : resampleTo8k(pcm)).samples;
    },
    async fetchAudio(url) {
      const response = await guardedRequest(
        url,
        { method: 'GET', timeoutMs: AUDIO_FETCH_TIMEOUT_MS, maxResponseBytes: AUDIO_MAX_BYTES, headers: { accept: 'audio/wav' } },
        { allowPrivate: config.webhooks.allowPrivate },
      );
      if (response.status < 200 || response.status > 299) throw new Error(`audio ${url} answered ${response.status}`);
      return pcm8k(response.body);
    },
    decodeWav: pcm8k,
    bridge(a, b) {
      const legA = engine.mediaOf(a);
      const legB = engine.mediaOf(b);
      const joined = legA && legB ? rtpPorts.bridge(legA, legB) : undefined;
      if (!joined) return undefined;
      options.onBridge?.(joined);
      return () => joined.stop();
    },
    record(legId) {
      const leg = engine.mediaOf(legId);
      return leg ? rtpPorts.record(leg) : undefined;
    },
    beep: () => BEEP,
  };
  const contacts = (deviceIds: readonly string[]): DeviceContact[] =>
    registrar.contactsFor([...deviceIds]).map(({ uri, transport, address, port }) => ({ uri, transport, address, port }));
  const control = new CallControl({
    services,
    engine,
    media,
    contacts,
    onError: (err: unknown, context: string) => logger.error({ err }, context),
  });
  const upkeep = new TrunkUpkeep(ua, trunks, { ...DEFAULT_UPKEEP, keepaliveS: config.trunk.keepaliveS }, undefined, targetsOf);
  // Each trunk is registered by one node of those sharing the database (docs/configuration.md).
  upkeep.start({ register: false });
  const stopRegistrationClaims = await claimTrunkRegistrations(upkeep, trunks, {
    claims: services.store.claims,
    clock: systemClock,
    nodeId: services.node.nodeId,
    leaseMs: services.node.leaseMs,
    onHeld: (trunk, held) => logger.info({ trunk: trunk.name }, held ? 'this node registers the trunk' : 'this node no longer registers the trunk'),
    onError: (err: unknown, context: string) => logger.warn({ err }, context),
  });
  // Calls are taken once every media worker has loaded (see MediaHost.ready); the workers start meanwhile.
  await rtpPorts.ready();
  logger.info({ sipPort, sipTlsPort: stack.transports.tlsPort || undefined, trunks: trunks.map((t) => t.name), devCarrier: devCarrier?.port }, 'telephony ready');

  let closing: Promise<void> | undefined;
  return {
    engine,
    control,
    ua,
    registrar,
    sipPort,
    sipTlsPort: stack.transports.tlsPort,
    devCarrier,
    trunks,
    trunkStatus: upkeep.statuses,
    mediaFor: (callId) => engine.mediaOf(callId),
    sipEndpoint: { transport: 'udp', address: advertisedAddress({ bind: config.sip.host, peer: '127.0.0.1' }), port: sipPort },
    rtpPortsInUse: () => rtpPorts.inUse,
    media: rtpPorts,
    close() {
      closing ??= (async () => {
        stopSweep();
        await engine.shutdown();
        await upkeep.stop();
        await stopRegistrationClaims();
        await devCarrier?.stop();
        registrar.close();
        await registrar.flushed();
        stopForgetting();
        stopAdopting();
        await stack.stop();
        process.off('SIGUSR2', crashWorker);
        await rtpPorts.close();
        await tts.close();
      })();
      return closing;
    },
  };
}

/**
 * With other nodes (DIALPLANE_REDIS_URL): when one announces that a device's registrations changed, read what the
 * store holds for it now and adopt it; when announcements may have been missed, adopt every device's anew. Reads are
 * done one after another, so an older read never lands after a newer one.
 */
function adoptOtherNodesBindings(registrar: Registrar, services: Services, onError: (err: unknown) => void): () => void {
  let chain: Promise<void> = Promise.resolve();
  const queue = (work: () => Promise<void>): void => {
    chain = chain.then(work).catch(onError);
  };
  const stopDevices = services.changes.subscribeDevices((deviceId) =>
    queue(async () => registrar.adopt(deviceId, await services.extensions.currentBindings(Date.now(), deviceId))),
  );
  const stopEverything = services.changes.subscribeEverything(() =>
    queue(async () => {
      const all = await services.extensions.currentBindings(Date.now());
      const byDevice = new Map<string, DeviceBinding[]>();
      for (const binding of all) byDevice.set(binding.deviceId, [...(byDevice.get(binding.deviceId) ?? []), binding]);
      for (const deviceId of new Set([...registrar.deviceIds(), ...byDevice.keys()])) registrar.adopt(deviceId, byDevice.get(deviceId) ?? []);
    }),
  );
  return () => {
    stopDevices();
    stopEverything();
  };
}
