import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import { DevCarrier } from './carriers/dev-carrier.js';
import { answerInboundCall, type RingPlan } from './carriers/inbound-calls.js';
import { InviteGate } from './carriers/invite-gate.js';
import { SipTrunkSignaling } from './carriers/sip-trunk-signaling.js';
import { parseTrunks, type TrunkConfig } from './carriers/trunks.js';
import { DEFAULT_UPKEEP, TrunkUpkeep, type TrunkStatus } from './carriers/trunk-upkeep.js';
import type { Config } from './config/config.js';
import { CallEngine, type DeviceContact, type EngineTimers, type LegMedia } from './core/calls/call-engine.js';
import { CALL_RESERVE_REFERENCE } from './core/calls/minute-reserve.js';
import { MediaBridge } from './media/bridge.js';
import { CallMedia } from './media/call-media.js';
import { MediaClock } from './media/media-clock.js';
import type { Services } from './core/services.js';
import { RtpPortPool } from './media/rtp-ports.js';
import { Registrar } from './sip/registrar.js';
import { SipStack } from './sip/ua/sip-stack.js';
import { SipUserAgent } from './sip/ua/user-agent.js';
import type { SipEndpoint } from './sip/transport/types.js';

export interface Telephony {
  readonly engine: CallEngine;
  readonly ua: SipUserAgent;
  /** Where the extensions' devices register. */
  readonly registrar: Registrar;
  readonly sipPort: number;
  readonly devCarrier: DevCarrier | undefined;
  readonly trunks: readonly TrunkConfig[];
  /** Per trunk: whether it answers OPTIONS, and its registration. */
  readonly trunkStatus: readonly TrunkStatus[];
  /** The media of a live answered call, inbound or outbound. */
  mediaFor(callId: string): LegMedia | undefined;
  /** What a number of ours reaches: its extension's registered devices and its forward number. */
  reach(number: string): Promise<{ contacts: DeviceContact[]; forwardTo: string | null }>;
  /** Joins the audio of two answered calls; undefined when either has no media. */
  bridge(a: string, b: string): (() => void) | undefined;
  /** Hears every key pressed in any call. */
  onDigit(listener: (callId: string, digit: string) => void): () => void;
  /** Where Dialplane's own SIP listens (for the dev carrier's inbound calls). */
  readonly sipEndpoint: SipEndpoint;
  close(): Promise<void>;
}

const engineTimers: EngineTimers = {
  start(_name, ms, fire) {
    const handle = setTimeout(fire, ms);
    handle.unref();
    return { cancel: () => clearTimeout(handle) };
  },
};

export function parsePortRange(range: string): { min: number; max: number } {
  const [min, max] = range.split('-').map(Number);
  return { min: min ?? 0, max: max ?? 0 };
}

/**
 * SIP, RTP ports, trunks (or the dev carrier) and the call engine. Calls a crash left live are ended first, so
 * their final events go out before new calls start. `metrics`: where the SIP counters are registered.
 */
export async function startTelephony(config: Config, services: Services, logger: Logger, metrics?: Registry): Promise<Telephony> {
  const ended = await services.calls.recoverUnfinished();
  if (ended.length > 0) logger.warn({ count: ended.length }, 'ended calls left live by the previous run');
  // Their credit reserves died with them: released, not charged (what was talked before the crash is not billed).
  const released = await services.credits.releaseLeftover(CALL_RESERVE_REFERENCE);
  if (released > 0) logger.warn({ count: released }, 'released credit reserves of calls the previous run left live');

  const rtpPorts = new RtpPortPool(parsePortRange(config.sip.rtpPorts), config.sip.host);
  const clock = new MediaClock();
  const inboundMedia = new Map<string, LegMedia>();
  const digitListeners = new Set<(callId: string, digit: string) => void>();
  const watchDigits = (callId: string, media: LegMedia) =>
    media.onDigit((digit) => {
      logger.info({ callId, digit }, 'key pressed');
      for (const listener of digitListeners) listener(callId, digit);
    });
  const stack = new SipStack({ host: config.sip.host, port: config.sip.port });
  const registrar = new Registrar({
    lookup: (username) => services.extensions.credentialsFor(username),
    onError: (err: unknown) => logger.error({ err }, 'registrar lookup failed'),
  });
  const stopForgetting = services.extensions.onDeviceRemoved((deviceId) => registrar.forgetDevice(deviceId));
  const refusedInvites = new Counter({
    name: 'dialplane_sip_invites_refused_total',
    help: 'Inbound INVITEs answered 403: from no trunk nor registered device (not_allowed), or with wrong credentials (auth_failed)',
    labelNames: ['reason'] as const,
    registers: metrics ? [metrics] : [],
  });
  const gate = new InviteGate({
    registrar,
    lookup: (username) => services.extensions.credentialsFor(username),
    onRefused: (reason, source) => {
      refusedInvites.inc({ reason });
      logger.debug({ reason, source }, 'inbound INVITE refused');
    },
    onError: (err: unknown, context: string) => logger.error({ err }, context),
  });
  const ua = new SipUserAgent(stack, {
    onRegister: (incoming) => void registrar.handle(incoming),
    onInvite: gate.guard((incoming) => {
      const onMedia = (callId: string, media: LegMedia | undefined) => {
        if (media) {
          inboundMedia.set(callId, media);
          watchDigits(callId, media);
        } else {
          inboundMedia.delete(callId);
        }
      };
      answerInboundCall(incoming, {
        ua,
        services,
        rtpPorts,
        mediaAddress: config.sip.host,
        logger,
        clock,
        onMedia,
        engine: () => engine,
        bridge: (a, b) => bridge(a, b),
        plan: (route) => ringPlan(route.number),
      }).catch((err: unknown) => {
        // A failure of ours (the database, most likely) must still give the caller a final answer.
        logger.error({ err }, 'inbound call failed');
        incoming.respond(500, 'Server Internal Error');
      });
    }),
  });
  /** What a number of ours reaches: the registered devices of its extension and the number it forwards to. */
  const reach = async (number: string): Promise<{ contacts: DeviceContact[]; forwardTo: string | null }> => {
    const route = await services.extensions.routeOf(number);
    if (!route) return { contacts: [], forwardTo: null };
    const devices = route.extensionId ? await services.extensions.listDevices(route.accountId, route.extensionId) : [];
    const contacts = registrar
      .contactsFor(devices.map((device) => device.id))
      .map(({ uri, transport, address, port }) => ({ uri, transport, address, port }));
    return { contacts, forwardTo: route.forwardTo };
  };
  /** Where a call to one of our numbers goes: answered here, rung on devices and/or a forward number, or refused. */
  const ringPlan = async (number: string): Promise<RingPlan> => {
    const route = await services.extensions.routeOf(number);
    if (!route) return { kind: 'none' };
    if (route.answer) return { kind: 'answer' };
    if (route.extensionId === null && route.forwardTo === null) return { kind: 'none' };
    return { kind: 'ring', ...(await reach(number)) };
  };
  const sipPort = await stack.start();

  let devCarrier: DevCarrier | undefined;
  let trunks: TrunkConfig[];
  if (config.trunk.uri === 'dev') {
    devCarrier = new DevCarrier({ host: config.sip.host });
    await devCarrier.start();
    trunks = parseTrunks({ ...config.trunk, uri: devCarrier.trunkUri });
  } else {
    trunks = parseTrunks(config.trunk);
  }
  gate.useTrunks(trunks);
  const signaling = new SipTrunkSignaling(ua, trunks, rtpPorts, config.sip.host, clock);
  const engine = new CallEngine(services.calls, signaling, engineTimers, config.sip.maxCalls);
  const bridge = (a: string, b: string): (() => void) | undefined => {
    const legA = inboundMedia.get(a) ?? engine.mediaOf(a);
    const legB = inboundMedia.get(b) ?? engine.mediaOf(b);
    if (!(legA instanceof CallMedia) || !(legB instanceof CallMedia)) return undefined;
    const joined = new MediaBridge(legA, legB);
    return () => joined.stop();
  };
  services.calls.subscribe((event) => {
    if (event.state !== 'answered') return;
    const media = engine.mediaOf(event.callId);
    if (media) watchDigits(event.callId, media);
  });
  const upkeep = new TrunkUpkeep(ua, trunks, { ...DEFAULT_UPKEEP, keepaliveS: config.trunk.keepaliveS });
  upkeep.start();
  logger.info({ sipPort, trunks: trunks.map((t) => t.name), devCarrier: devCarrier?.port }, 'telephony ready');

  let closing: Promise<void> | undefined;
  return {
    engine,
    ua,
    registrar,
    reach,
    sipPort,
    devCarrier,
    trunks,
    trunkStatus: upkeep.statuses,
    mediaFor: (callId) => inboundMedia.get(callId) ?? engine.mediaOf(callId),
    bridge,
    onDigit(listener) {
      digitListeners.add(listener);
      return () => digitListeners.delete(listener);
    },
    sipEndpoint: { transport: 'udp', address: config.sip.host, port: sipPort },
    close() {
      closing ??= (async () => {
        await engine.shutdown();
        await upkeep.stop();
        await devCarrier?.stop();
        registrar.close();
        stopForgetting();
        await stack.stop();
      })();
      return closing;
    },
  };
}
