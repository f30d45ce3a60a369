import { computeDigestCredentials, formatDigestCredentials, isSupportedDigestChallenge } from '../sip/auth/digest.js';
import { getHeader, getHeaders, parseAuthChallenge } from '../sip/message/headers.js';
import type { SipResponse } from '../sip/message/types.js';
import type { SipEndpoint } from '../sip/transport/types.js';
import { buildRequest } from '../sip/ua/build.js';
import { newCallId, newTag } from '../sip/ua/ids.js';
import type { SipUserAgent } from '../sip/ua/user-agent.js';
import { systemSipResolver, trunkTargets, type TrunkTargets } from './trunk-targets.js';
import { trunkUri, type TrunkConfig } from './trunks.js';

/** Named intervals of trunk upkeep; all injectable. */
export interface UpkeepTimings {
  /** Expiry asked for in REGISTER. */
  readonly registerExpiresS: number;
  /** Refresh this long before the granted expiry runs out (or at half of a shorter grant). */
  readonly refreshMarginS: number;
  /** After a failed REGISTER, try again after this long. */
  readonly registerRetryS: number;
  /** OPTIONS keepalive interval; 0 sends none. */
  readonly keepaliveS: number;
  /**
   * How long stopping waits for the registrar to answer the unregistering REGISTER; default UNREGISTER_WAIT_S. A
   * registrar that is gone would otherwise hold the shutdown for the transaction's whole Timer F (64 × T1 = 32 s).
   */
  readonly unregisterWaitS?: number;
}

export const UNREGISTER_WAIT_S = 2;

export const DEFAULT_UPKEEP: UpkeepTimings = Object.freeze({
  registerExpiresS: 3_600,
  refreshMarginS: 60,
  registerRetryS: 30,
  keepaliveS: 30,
});

export interface TrunkStatus {
  readonly name: string;
  /** Last OPTIONS answered (any response means the trunk is alive). */
  reachable: boolean | undefined;
  /** REGISTER state, when the trunk registers. */
  registered: boolean | undefined;
  registeredUntil: Date | undefined;
  lastError: string | undefined;
}

interface Timers {
  start(ms: number, fire: () => void): { cancel(): void };
}

const realTimers: Timers = {
  start(ms, fire) {
    const handle = setTimeout(fire, ms);
    handle.unref();
    return { cancel: () => clearTimeout(handle) };
  },
};

/**
 * Keeps trunks in shape: REGISTER (answering digest challenges) refreshed before the granted expiry, and OPTIONS
 * keepalives that record whether each trunk answers. Stopping unregisters (Expires: 0).
 */
export class TrunkUpkeep {
  readonly statuses: TrunkStatus[];
  private readonly handles = new Set<{ cancel(): void }>();
  private stopped = false;
  private readonly callIds = new Map<string, { callId: string; tag: string; cseq: number }>();
  /** Trunks (by index) this upkeep registers now; the others' REGISTERs are another node's to send. */
  private readonly registering = new Set<number>();

  constructor(
    private readonly ua: SipUserAgent,
    private readonly trunks: readonly TrunkConfig[],
    private readonly timings: UpkeepTimings = DEFAULT_UPKEEP,
    private readonly timers: Timers = realTimers,
    /** A trunk's targets (RFC 3263); upkeep talks to the first. */
    private readonly targetsOf: TrunkTargets = trunkTargets(systemSipResolver()),
  ) {
    this.statuses = trunks.map((t) => ({ name: t.name, reachable: undefined, registered: undefined, registeredUntil: undefined, lastError: undefined }));
  }

  /**
   * Starts the keepalives, and the registrations unless `register` is false: then each trunk registers only from
   * startRegistering (one node of several registers a trunk; see trunk-registration-claims.ts).
   */
  start(options: { readonly register?: boolean } = {}): void {
    this.trunks.forEach((trunk, index) => {
      if (trunk.register && options.register !== false) this.startRegistering(index);
      if (this.timings.keepaliveS > 0) void this.keepalive(trunk, index);
    });
  }

  /** Registers the trunk now and keeps refreshing it. */
  startRegistering(index: number): void {
    const trunk = this.trunks[index];
    if (!trunk?.register || this.stopped || this.registering.has(index)) return;
    this.registering.add(index);
    void this.register(trunk, index, this.timings.registerExpiresS);
  }

  /**
   * Stops refreshing the trunk's registration (another node registers it now). No Expires: 0 is sent: the nodes may
   * share one Contact, and that would remove the new registration; this one runs out at its granted expiry.
   */
  stopRegistering(index: number): void {
    if (!this.registering.delete(index)) return;
    const status = this.statuses[index];
    if (status) {
      status.registered = false;
      status.registeredUntil = undefined;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const handle of this.handles) handle.cancel();
    this.handles.clear();
    const unregistered = Promise.all(
      this.trunks.map((trunk, index) => (trunk.register && this.statuses[index]?.registered ? this.register(trunk, index, 0) : undefined)),
    );
    let waited: { cancel(): void } | undefined;
    const givenUp = new Promise<void>((resolve) => {
      waited = this.timers.start((this.timings.unregisterWaitS ?? UNREGISTER_WAIT_S) * 1000, resolve);
    });
    await Promise.race([unregistered, givenUp]);
    waited?.cancel();
  }

  private later(seconds: number, fire: () => void): void {
    if (this.stopped) return;
    const handle = this.timers.start(seconds * 1000, () => {
      this.handles.delete(handle);
      fire();
    });
    this.handles.add(handle);
  }

  private async target(trunk: TrunkConfig): Promise<SipEndpoint> {
    const [first] = await this.targetsOf(trunk);
    if (!first) throw new Error(`trunk ${trunk.name}: no target to send to`);
    return first;
  }

  private async keepalive(trunk: TrunkConfig, index: number): Promise<void> {
    const status = this.statuses[index]!;
    try {
      const target = await this.target(trunk);
      const host = trunk.host.includes(':') ? `[${trunk.host}]` : trunk.host;
      const uri = trunkUri(trunk);
      const from = { scheme: 'sip' as const, user: 'dialplane', password: undefined, host: this.ua.contact(target.transport, undefined, target.address).host, port: undefined, params: [], headers: [] };
      const options = buildRequest({
        method: 'OPTIONS',
        uri,
        from: { displayName: undefined, uri: from, params: [['tag', newTag()]] },
        to: { displayName: undefined, uri: { ...from, user: undefined, host, port: trunk.portGiven ? trunk.port : undefined }, params: [] },
        callId: newCallId(this.ua.stack.transports.host),
        cseq: 1,
        via: this.ua.stack.transports.local(target.transport, target.address),
      });
      const response = await this.send(options, target);
      status.reachable = response !== undefined;
      status.lastError = response ? undefined : 'no answer to OPTIONS';
    } catch (error) {
      status.reachable = false;
      status.lastError = error instanceof Error ? error.message : String(error);
    }
    this.later(this.timings.keepaliveS, () => void this.keepalive(trunk, index));
  }

  /** One REGISTER (with one digest retry); schedules the refresh from the expiry the registrar granted. */
  private async register(trunk: TrunkConfig, index: number, expiresS: number): Promise<void> {
    const status = this.statuses[index]!;
    if (expiresS > 0 && !this.registering.has(index)) return;
    try {
      const target = await this.target(trunk);
      let response = await this.sendRegister(trunk, target, expiresS, undefined);
      if (response && (response.status === 401 || response.status === 407)) {
        response = await this.sendRegister(trunk, target, expiresS, response);
      }
      // Handed over while this REGISTER was out: the refresh is the other node's.
      if (expiresS > 0 && !this.registering.has(index)) return;
      if (response && response.status >= 200 && response.status < 300) {
        const granted = expiresS === 0 ? 0 : grantedExpiry(response, expiresS);
        status.registered = granted > 0;
        status.registeredUntil = granted > 0 ? new Date(Date.now() + granted * 1000) : undefined;
        status.lastError = undefined;
        if (granted > 0) {
          const refreshIn = granted > 2 * this.timings.refreshMarginS ? granted - this.timings.refreshMarginS : granted / 2;
          this.later(refreshIn, () => void this.register(trunk, index, this.timings.registerExpiresS));
        }
        return;
      }
      status.registered = false;
      status.lastError = response ? `REGISTER answered ${response.status} ${response.reason}` : 'no answer to REGISTER';
    } catch (error) {
      status.registered = false;
      status.lastError = error instanceof Error ? error.message : String(error);
    }
    if (expiresS > 0) this.later(this.timings.registerRetryS, () => void this.register(trunk, index, this.timings.registerExpiresS));
  }

  private sendRegister(trunk: TrunkConfig, target: SipEndpoint, expiresS: number, challenge: SipResponse | undefined): Promise<SipResponse | undefined> {
    // One Call-ID per registration binding, with CSeq increasing across refreshes (RFC 3261 §10.2.4).
    let binding = this.callIds.get(trunk.name);
    if (!binding) {
      binding = { callId: newCallId(this.ua.stack.transports.host), tag: newTag(), cseq: 0 };
      this.callIds.set(trunk.name, binding);
    }
    binding.cseq += 1;
    const host = trunk.host.includes(':') ? `[${trunk.host}]` : trunk.host;
    const registrar = trunkUri(trunk);
    const aor = { scheme: 'sip' as const, user: trunk.username ?? 'dialplane', password: undefined, host, port: undefined, params: [], headers: [] };
    const headers = [{ name: 'Expires', value: String(expiresS) }];
    if (challenge && trunk.username && trunk.password) {
      const proxy = challenge.status === 407;
      const parsed = getHeaders(challenge, proxy ? 'Proxy-Authenticate' : 'WWW-Authenticate')
        .map((value) => {
          try {
            return parseAuthChallenge(value);
          } catch {
            return undefined;
          }
        })
        .find((c) => c !== undefined && isSupportedDigestChallenge(c));
      if (!parsed) return Promise.resolve(challenge);
      const digest = computeDigestCredentials({
        challenge: parsed,
        credentials: { username: trunk.username, password: trunk.password },
        method: 'REGISTER',
        uri: registrar,
      });
      headers.push({ name: proxy ? 'Proxy-Authorization' : 'Authorization', value: formatDigestCredentials(digest) });
    }
    const register = buildRequest({
      method: 'REGISTER',
      uri: registrar,
      from: { displayName: undefined, uri: aor, params: [['tag', binding.tag]] },
      to: { displayName: undefined, uri: aor, params: [] },
      callId: binding.callId,
      cseq: binding.cseq,
      via: this.ua.stack.transports.local(target.transport, target.address),
      contact: this.ua.contact(target.transport, trunk.username ?? 'dialplane', target.address, trunk.scheme),
      headers,
    });
    return this.send(register, target);
  }

  private send(request: Parameters<SipUserAgent['stack']['request']>[0], target: SipEndpoint): Promise<SipResponse | undefined> {
    return new Promise((resolve) => {
      this.ua.stack.request(request, target, {
        onResponse: (response) => {
          if (response.status >= 200) resolve(response);
        },
        onTimeout: () => resolve(undefined),
        onTransportError: () => resolve(undefined),
      });
    });
  }
}

/** The expiry the registrar granted: the Contact's expires parameter, else the Expires header, else what we asked. */
function grantedExpiry(response: SipResponse, asked: number): number {
  const contact = getHeader(response, 'Contact');
  const fromContact = contact ? /;\s*expires=(\d+)/i.exec(contact)?.[1] : undefined;
  const header = getHeader(response, 'Expires');
  const value = Number(fromContact ?? header ?? asked);
  return Number.isFinite(value) && value >= 0 ? value : asked;
}

