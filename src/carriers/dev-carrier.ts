import { randomInt } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { serializeRtp } from '../media/rtp/rtp-packet.js';
import { CallMedia } from '../media/call-media.js';
import { MediaClock } from '../media/media-clock.js';
import { createOffer, negotiateAnswer, parseSdp } from '../sdp/index.js';
import type { SipUri } from '../sip/message/types.js';
import type { SipEndpoint } from '../sip/transport/types.js';
import { getHeader, parseUri } from '../sip/message/headers.js';
import type { SipTimerBase } from '../sip/transaction/timers.js';
import type { InboundInvite } from '../sip/ua/inbound-invite.js';
import type { IncomingRequest } from '../sip/ua/sip-stack.js';
import { SipStack } from '../sip/ua/sip-stack.js';
import { SipUserAgent } from '../sip/ua/user-agent.js';

/**
 * How a dev-carrier callee behaves, chosen by the last four digits of the number dialled (documented in the README,
 * in the spirit of test numbers): busy, decline, unallocated, network failure, no answer, early media, or (any other
 * number) ring for a second, answer, and stay until hung up or DEV_CALLEE_MAX_MS passes.
 */
export const DEV_NUMBER_BEHAVIOURS = {
  '0486': { kind: 'reject', status: 486, reason: 'Busy Here' },
  '0603': { kind: 'reject', status: 603, reason: 'Decline' },
  '0404': { kind: 'reject', status: 404, reason: 'Not Found' },
  '0503': { kind: 'reject', status: 503, reason: 'Service Unavailable' },
  '0480': { kind: 'no_answer' },
  '0183': { kind: 'early_media' },
} as const;

export const DEV_RING_MS = 1_000;
export const DEV_EARLY_MEDIA_MS = 2_000;
export const DEV_CALLEE_MAX_MS = 600_000;
/** An echoing callee that has sent nothing back for this long sends silence of its own. */
const SILENCE_AFTER_MS = 100;

type Behaviour =
  | (typeof DEV_NUMBER_BEHAVIOURS)[keyof typeof DEV_NUMBER_BEHAVIOURS]
  | { kind: 'answer' }
  | { kind: 'press_keys'; keys: string };

/** A callee that answers, talks (a tone), then presses keys: a number ending in 7 and three keys (…7123 presses 1, 2, 3). */
export const DEV_KEYS_DELAY_MS = 1_000;

export function behaviourFor(number: string): Behaviour {
  const digits = number.replace(/\D/g, '');
  const suffix = digits.slice(-4);
  if (suffix.startsWith('7') && suffix.length === 4) return { kind: 'press_keys', keys: suffix.slice(1) };
  return DEV_NUMBER_BEHAVIOURS[suffix as keyof typeof DEV_NUMBER_BEHAVIOURS] ?? { kind: 'answer' };
}

export interface DevCarrierOptions {
  readonly host: string;
  /** 0 (the default) lets the system choose, so several servers can run side by side. */
  readonly port?: number;
  readonly timerBase?: SipTimerBase;
  readonly ringMs?: number;
  readonly calleeMaxMs?: number;
}

/**
 * A simulated telephone network on loopback: a separate SIP endpoint with its own ports that Dialplane reaches over
 * real SIP and RTP, exactly as it would reach a carrier. Callees echo the RTP they receive.
 */
export class DevCarrier {
  private readonly stack: SipStack;
  private readonly ua: SipUserAgent;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly media = new Set<Socket>();
  private readonly sessions = new Set<InboundInvite>();
  private readonly clock = new MediaClock();
  /** When each echoing socket last sent something back. */
  private readonly lastEcho = new WeakMap<Socket, number>();
  /** What stops each answered callee's comfort silence. */
  private readonly silences = new Map<Socket, () => void>();

  constructor(private readonly options: DevCarrierOptions) {
    this.stack = new SipStack({ host: options.host, port: options.port ?? 0, ...(options.timerBase ? { timerBase: options.timerBase } : {}) });
    this.ua = new SipUserAgent(this.stack, { onInvite: (incoming) => void this.callee(incoming) });
  }

  async start(): Promise<number> {
    return this.stack.start();
  }

  get port(): number {
    return this.stack.transports.port;
  }

  /** The trunk URI Dialplane uses to reach this carrier. */
  get trunkUri(): string {
    return `sip:${this.options.host}:${this.port};transport=udp`;
  }

  async stop(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    for (const session of this.sessions) session.hangup();
    for (const stop of this.silences.values()) stop();
    this.silences.clear();
    for (const socket of this.media) socket.close();
    await this.stack.stop();
  }

  /**
   * What the carrier holds now: callees ringing or in a call, timers pending, media sockets open. A call that has
   * ended holds none of them (a soak of thousands of calls would otherwise grow with every call).
   */
  get holding(): { readonly calls: number; readonly timers: number; readonly sockets: number } {
    return { calls: this.sessions.size, timers: this.timers.size, sockets: this.media.size };
  }

  private later(ms: number, fn: () => void): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    timer.unref();
    this.timers.add(timer);
    return timer;
  }

  private cancel(timer: NodeJS.Timeout): void {
    clearTimeout(timer);
    this.timers.delete(timer);
  }

  private async callee(incoming: IncomingRequest): Promise<void> {
    const to = safeUser(incoming.request.uri) ?? safeUser(getHeader(incoming.request, 'To') ?? '') ?? '';
    const behaviour = behaviourFor(to);
    if (behaviour.kind === 'reject') {
      incoming.respond(behaviour.status, behaviour.reason);
      return;
    }
    let answerSdp: Buffer;
    let socket: Socket;
    let answer: ReturnType<typeof negotiateAnswer>;
    try {
      // A key-pressing callee talks and presses rather than echoing, so its socket is left to its media session.
      socket = await this.echoSocket(behaviour.kind !== 'press_keys');
      answer = negotiateAnswer(parseSdp(incoming.request.body.toString('utf8')), {
        address: this.options.host,
        port: socket.address().port,
      });
      answerSdp = Buffer.from(answer.answerSdp);
    } catch {
      incoming.respond(488, 'Not Acceptable Here');
      return;
    }
    // This call's timers (the answer, the longest call, the keys) and media: released the moment it ends, whoever
    // ends it, rather than left pending until DEV_CALLEE_MAX_MS with the ended session in their closures.
    const timers: NodeJS.Timeout[] = [];
    let talking: CallMedia | undefined;
    const end = () => {
      for (const timer of timers.splice(0)) this.cancel(timer);
      talking?.close();
      talking = undefined;
      this.drop(session, socket);
    };
    const session = this.ua.accept(incoming, {
      onCanceled: end,
      onConfirmed: () => {
        timers.push(this.later(this.options.calleeMaxMs ?? DEV_CALLEE_MAX_MS, () => session.hangup()));
        if (behaviour.kind !== 'press_keys') {
          this.comfortSilence(socket, answer.remote, answer.codec);
          return;
        }
        const media = new CallMedia({ socket, remote: answer.remote, codec: answer.codec, telephoneEvent: answer.telephoneEvent, clock: this.clock, direction: answer.direction });
        talking = media;
        void media.play(tone(DEV_KEYS_DELAY_MS));
        timers.push(this.later(DEV_KEYS_DELAY_MS, () => void media.pressKeys(behaviour.keys).catch(() => undefined)));
      },
      onAckTimeout: end,
      onEnded: end,
    });
    this.sessions.add(session);
    const ringMs = this.options.ringMs ?? DEV_RING_MS;
    if (behaviour.kind === 'early_media') {
      session.ring(183, 'Session Progress', answerSdp);
      timers.push(this.later(DEV_EARLY_MEDIA_MS, () => session.answer(answerSdp)));
    } else if (behaviour.kind === 'no_answer') {
      session.ring();
    } else {
      session.ring();
      timers.push(this.later(ringMs, () => session.answer(answerSdp)));
    }
  }

  /**
   * A call from the simulated network into Dialplane (`dialplane dev call-in`): INVITE to `to` at Dialplane's SIP
   * port, hold for holdMs once answered, then hang up. Resolves with how it went.
   */
  async callIn(dialplane: SipEndpoint, input: { from: string; to: string; holdMs: number }): Promise<CallInResult> {
    const socket = await this.echoSocket();
    const started = Date.now();
    return new Promise<CallInResult>((resolve) => {
      let answered: { status: number; reason: string } | undefined;
      let hold: NodeJS.Timeout | undefined;
      const done = (result: CallInResult) => {
        if (hold) this.cancel(hold);
        if (this.media.delete(socket)) socket.close();
        resolve(result);
      };
      const host = dialplane.address.includes(':') ? `[${dialplane.address}]` : dialplane.address;
      const invite = this.ua.invite(
        {
          target: dialplane,
          requestUri: `sip:${input.to}@${host}:${dialplane.port}`,
          from: devUri(input.from, this.options.host),
          to: devUri(input.to, dialplane.address),
          contact: this.ua.contact(dialplane.transport),
          sdp: Buffer.from(createOffer({ address: this.options.host, port: socket.address().port })),
        },
        {
          onProvisional: () => undefined,
          onAnswered: (status, reason) => {
            answered = { status, reason };
            hold = this.later(input.holdMs, () => invite.hangup());
          },
          onFailed: (failure) =>
            done({
              answered: false,
              status: failure.kind === 'response' ? failure.status : undefined,
              reason: failure.kind === 'response' ? failure.reason : failure.kind,
              durationMs: Date.now() - started,
            }),
          onEnded: (by) =>
            done({ answered: true, status: answered?.status, reason: answered?.reason ?? 'OK', endedBy: by, durationMs: Date.now() - started }),
        },
      );
    });
  }

  private drop(session: InboundInvite, socket: Socket): void {
    this.sessions.delete(session);
    this.silences.get(socket)?.();
    this.silences.delete(socket);
    if (this.media.delete(socket)) socket.close();
  }

  /**
   * A phone sends audio all the time, silence included; an echoing callee sends back what it hears and, while it
   * hears nothing, 20 ms frames of silence of its own, so the caller's RTP inactivity watch sees a live line.
   */
  private comfortSilence(socket: Socket, remote: { address: string; port: number }, codec: { name: 'PCMU' | 'PCMA'; payloadType: number }): void {
    const ssrc = randomInt(0, 2 ** 32);
    let sequenceNumber = randomInt(0, 2 ** 16);
    let timestamp = randomInt(0, 2 ** 32);
    const silence = Buffer.alloc(160, codec.name === 'PCMU' ? 0xff : 0xd5);
    const stop = this.clock.subscribe(() => {
      sequenceNumber = (sequenceNumber + 1) & 0xffff;
      timestamp = (timestamp + 160) >>> 0;
      if (performance.now() - (this.lastEcho.get(socket) ?? -Infinity) < SILENCE_AFTER_MS) return;
      const packet = serializeRtp({ version: 2, padding: false, marker: false, payloadType: codec.payloadType, sequenceNumber, timestamp, ssrc, csrcs: [], payload: silence });
      socket.send(packet, remote.port, remote.address, () => undefined);
    });
    this.silences.set(socket, stop);
  }

  /** A callee's media: RTP sent back where it came from, so the caller hears itself. */
  private echoSocket(echo = true): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const socket = createSocket(this.options.host.includes(':') ? 'udp6' : 'udp4');
      socket.once('error', reject);
      if (echo) {
        socket.on('message', (packet, from) => {
          this.lastEcho.set(socket, performance.now());
          socket.send(packet, from.port, from.address);
        });
      }
      socket.bind(0, this.options.host, () => {
        socket.off('error', reject);
        socket.on('error', () => undefined);
        this.media.add(socket);
        resolve(socket);
      });
    });
  }
}

export interface CallInResult {
  readonly answered: boolean;
  /** The final response: 200 when answered, the refusal otherwise; undefined when nothing answered at all. */
  readonly status: number | undefined;
  readonly reason: string;
  readonly endedBy?: 'remote' | 'local';
  readonly durationMs: number;
}

/** What a dev callee says before pressing keys: a 425 Hz tone, loud enough to be heard, quiet enough to be polite. */
function tone(ms: number): Int16Array {
  return Int16Array.from({ length: (ms * 8000) / 1000 }, (_, i) => Math.round(6000 * Math.sin((2 * Math.PI * 425 * i) / 8000)));
}

function devUri(user: string, host: string): SipUri {
  return { scheme: 'sip', user, password: undefined, host: host.includes(':') ? `[${host}]` : host, port: undefined, params: [], headers: [] };
}

function safeUser(uriText: string): string | undefined {
  try {
    const match = /<([^>]*)>/.exec(uriText);
    return parseUri(match?.[1] ?? uriText).user;
  } catch {
    return undefined;
  }
}
