/**
 * The registrar (RFC 3261 §10.3): devices REGISTER their Contact URIs here, authenticated by digest against the
 * HA1 of their username, and inbound calls look up where each device can be reached.
 *
 * Bindings live in memory and, when a `bindings` store is given, are written through to it before the 200 goes out:
 * restore() puts back, after a restart, every binding that has not expired since, with its remaining time. Without
 * a store they are lost with the process and devices put them back with their next REGISTER. Each binding keeps, besides the Contact URI, the transport, address and port the REGISTER came
 * from: a device behind NAT is reached through that flow (the source address), not at its Contact's address, which
 * is usually private.
 *
 * Per request: no Authorization → 401 with a fresh nonce; credentials that do not parse or name another URI → 400;
 * an unknown username or a wrong password → 403; an expired nonce with an otherwise right digest → 401 stale=true;
 * an address-of-record (To user) other than the authenticated username → 403. Then the Contacts are applied:
 * `Contact: *` with `Expires: 0` removes every binding of the device; each other Contact is added, refreshed, or
 * removed (expires 0), with its `expires` parameter, else the Expires header, else 3600 s; a non-zero value below
 * MIN_EXPIRES_S is refused with 423 and Min-Expires, one above MAX_EXPIRES_S is shortened to it. The 200 lists every
 * binding the device has, each with the seconds it has left.
 */
import { DigestError } from './auth/digest.js';
import { DigestServer, parseDigestAuthorization, type DigestAuthorization } from './auth/digest-server.js';
import { formatSipDate, getHeader, getHeaders, parseNameAddr } from './message/headers.js';
import { formatUri } from './message/uri.js';
import type { SipHeader, SipUri } from './message/types.js';
import type { TimerHandle } from './transaction/timers.js';
import type { SipEndpoint, TransportProtocol } from './transport/types.js';
import { newTag } from './ua/ids.js';
import type { IncomingRequest } from './ua/sip-stack.js';

export const MIN_EXPIRES_S = 60;
export const MAX_EXPIRES_S = 3600;
export const DEFAULT_EXPIRES_S = 3600;
/** Beyond this many bindings a device's binding closest to expiry makes room for a new one. */
export const MAX_BINDINGS_PER_DEVICE = 10;

/** What the registrar needs to know of a username (ExtensionService.credentialsFor gives exactly this). */
export interface RegistrarCredentials {
  readonly deviceId: string;
  readonly accountId: string;
  readonly extensionId: string;
  /** MD5(username ":" realm ":" password), hex. */
  readonly ha1: string;
  readonly realm: string;
}

export type RegistrarTimerName = 'registrar.expiry';

export interface RegistrarTimers {
  start(name: RegistrarTimerName, ms: number, fire: () => void): TimerHandle;
}

const realRegistrarTimers: RegistrarTimers = {
  start(_name, ms, fire) {
    const handle = setTimeout(fire, ms);
    handle.unref?.();
    return { cancel: () => clearTimeout(handle) };
  },
};

/** A binding as kept across restarts. */
export interface StoredBinding {
  readonly deviceId: string;
  readonly accountId: string;
  readonly extensionId: string;
  /** What tells the device's Contacts apart. */
  readonly key: string;
  readonly uri: string;
  readonly instance: string | undefined;
  readonly transport: TransportProtocol;
  readonly address: string;
  readonly port: number;
  readonly callId: string;
  readonly cseq: number;
  /** On the registrar's clock (ms). */
  readonly expiresAt: number;
}

/** Where bindings are kept across restarts (the database). Writes are issued one at a time, in order. */
export interface RegistrarBindingStore {
  /** Every binding unexpired at `now`. */
  load(now: number): Promise<readonly StoredBinding[]>;
  put(binding: StoredBinding): Promise<void>;
  remove(deviceId: string, key: string): Promise<void>;
  removeDevice(deviceId: string): Promise<void>;
}

export interface RegistrarOptions {
  /** The device behind a digest username, or undefined when there is none. */
  readonly lookup: (username: string) => Promise<RegistrarCredentials | undefined>;
  /** Digest realm. Default 'dialplane' (the realm ExtensionService stores HA1s for). */
  readonly realm?: string;
  /** Binding expiry timers ('registrar.expiry'). Default: real timers that do not hold the process open. */
  readonly timers?: RegistrarTimers;
  /** Milliseconds. Default Date.now. The digest server's nonces use the same clock unless `digest` is given. */
  readonly now?: () => number;
  /** Nonce lifetime when the registrar makes its own digest server. Default 5 minutes. */
  readonly nonceTtlMs?: number;
  /** A digest server of the caller's (its realm must be `realm`). */
  readonly digest?: DigestServer;
  /** Failures of `lookup` (the request is answered 500) and of `bindings`. Never given a password, an HA1 or a header. */
  readonly onError?: (error: unknown) => void;
  /** Keeps bindings across restarts; see restore(). */
  readonly bindings?: RegistrarBindingStore;
  /** Password guessing: after `failures` wrong passwords within `windowMs`, a username is answered 403 unchecked for `lockoutMs`. */
  readonly lockout?: RegisterLockout;
}

export interface RegisterLockout {
  /** Wrong passwords (or unknown usernames) within the window that lock the username out; 0 disables. */
  readonly failures: number;
  readonly windowMs: number;
  readonly lockoutMs: number;
  /** Told once when a username becomes locked out; never given the password. */
  readonly onLockedOut?: (username: string, source: SipEndpoint) => void;
  /** Told for each REGISTER refused unchecked because its username is locked out. */
  readonly onRefusedLocked?: (username: string, source: SipEndpoint) => void;
}

/** How many usernames' failure counts are kept; beyond it the oldest entry is forgotten. */
const MAX_TRACKED_USERNAMES = 10_000;

/** A place to send a device's INVITE: Request-URI `uri`, sent over the flow the device registered from. */
export interface RegisteredContact {
  readonly deviceId: string;
  readonly accountId: string;
  readonly extensionId: string;
  /** The Contact URI, as the device registered it. */
  readonly uri: string;
  /** Transport, address and port the REGISTER came from. */
  readonly transport: TransportProtocol;
  readonly address: string;
  readonly port: number;
  /** When the binding expires, on the registrar's clock (ms). */
  readonly expiresAt: number;
}

interface Binding {
  readonly key: string;
  readonly deviceId: string;
  readonly accountId: string;
  readonly extensionId: string;
  readonly uri: string;
  readonly instance: string | undefined;
  readonly transport: TransportProtocol;
  readonly address: string;
  readonly port: number;
  readonly callId: string;
  readonly cseq: number;
  readonly expiresAt: number;
  /**
   * Taken from the shared store after another node's REGISTER (adopt()): this node never writes it back, and its
   * expiry only forgets it here (the node that made it keeps the row).
   */
  readonly adopted?: boolean;
  timer: TimerHandle;
}

interface ContactChange {
  readonly key: string;
  readonly uri: string;
  readonly instance: string | undefined;
  readonly expires: number;
}

/** Thrown inside request handling for an answer other than 200; never escapes handle(). */
class Reject {
  constructor(
    readonly status: number,
    readonly reason: string,
    readonly headers: readonly SipHeader[] = [],
  ) {}
}

// Verified in place of a real one for unknown usernames, so both paths cost the same hashing.
const DUMMY_HA1 = '0'.repeat(32);

export class Registrar {
  readonly realm: string;
  readonly digest: DigestServer;
  private readonly lookup: RegistrarOptions['lookup'];
  private readonly timers: RegistrarTimers;
  private readonly now: () => number;
  private readonly onError: ((error: unknown) => void) | undefined;
  /** deviceId → binding key → binding. */
  private readonly devices = new Map<string, Map<string, Binding>>();
  private closed = false;
  private readonly store: RegistrarBindingStore | undefined;
  /** The store's writes, one after another, so a refresh and a removal of one binding land in the order made. */
  private writes: Promise<void> = Promise.resolve();
  private readonly lockout: RegisterLockout | undefined;
  /** username → times of recent failures (oldest first) and the end of its lockout, if any. */
  private readonly failures = new Map<string, { times: number[]; lockedUntil: number }>();

  constructor(options: RegistrarOptions) {
    this.realm = options.realm ?? 'dialplane';
    this.lookup = options.lookup;
    this.timers = options.timers ?? realRegistrarTimers;
    this.now = options.now ?? Date.now;
    this.onError = options.onError;
    this.store = options.bindings;
    this.lockout = options.lockout && options.lockout.failures > 0 ? options.lockout : undefined;
    this.digest =
      options.digest ??
      new DigestServer({ realm: this.realm, now: this.now, ...(options.nonceTtlMs !== undefined ? { nonceTtlMs: options.nonceTtlMs } : {}) });
    if (this.digest.realm !== this.realm) throw new Error('the digest server must use the registrar realm');
  }

  /**
   * Puts back the stored bindings that have not expired (after a restart), each with the time it has left; a binding
   * already made by a REGISTER since is kept. Resolves with how many were restored.
   */
  async restore(): Promise<number> {
    if (!this.store) return 0;
    const stored = await this.store.load(this.now());
    let count = 0;
    for (const binding of stored) {
      if (this.closed || this.devices.get(binding.deviceId)?.has(binding.key)) continue;
      const left = binding.expiresAt - this.now();
      if (left <= 0) continue;
      this.place({ ...binding, timer: { cancel: () => undefined } }, left);
      count += 1;
    }
    return count;
  }

  /**
   * Another node changed the device's bindings in the shared store; `stored` is what the store holds for the device
   * now. Its UDP bindings are taken as they are there (added, refreshed, or gone), so this node can send the
   * device's INVITEs to the address it registered from. TCP and TLS bindings are connections of the node they came
   * in on, which another node cannot send over: those are left as they are. Nothing is written to the store.
   */
  adopt(deviceId: string, stored: readonly StoredBinding[]): void {
    if (this.closed) return;
    const now = this.now();
    const wanted = new Map<string, StoredBinding>();
    for (const binding of stored) {
      if (binding.deviceId === deviceId && binding.transport === 'udp' && binding.expiresAt > now) wanted.set(binding.key, binding);
    }
    for (const binding of [...(this.devices.get(deviceId)?.values() ?? [])]) {
      if (binding.transport === 'udp' && !wanted.has(binding.key)) this.drop(deviceId, binding.key);
    }
    for (const binding of wanted.values()) {
      const held = this.devices.get(deviceId)?.get(binding.key);
      // This node's own binding, as new as the store's: keep it (and keep writing it).
      if (held && !held.adopted && held.expiresAt >= binding.expiresAt) continue;
      this.place({ ...binding, adopted: true, timer: { cancel: () => undefined } }, binding.expiresAt - now);
    }
  }

  /** Devices that have a binding here. */
  deviceIds(): string[] {
    return [...this.devices.keys()];
  }

  /** Resolves once every write to the binding store issued so far is done. */
  flushed(): Promise<void> {
    return this.writes;
  }

  /** Answers a REGISTER. Resolves once the final response was sent; never rejects. */
  async handle(incoming: IncomingRequest): Promise<void> {
    const toTag = newTag();
    const answer = (status: number, reason: string, headers: readonly SipHeader[] = []) => {
      try {
        incoming.respond(status, reason, { toTag, headers: [...headers] });
      } catch {
        // A To header too broken to take a tag still gets its answer, untagged; past that nothing can be sent.
        try {
          incoming.respond(status, reason, { headers: [...headers] });
        } catch {
          // The request is dropped.
        }
      }
    };
    try {
      if (incoming.request.method !== 'REGISTER') throw new Reject(405, 'Method Not Allowed', [{ name: 'Allow', value: 'REGISTER' }]);
      const headers = await this.register(incoming);
      answer(200, 'OK', headers);
    } catch (error) {
      if (error instanceof Reject) {
        answer(error.status, error.reason, error.headers);
        return;
      }
      this.onError?.(error);
      answer(500, 'Server Internal Error');
    }
  }

  /** Where the given devices can be reached now: every unexpired binding of each, in the order asked. */
  contactsFor(deviceIds: readonly string[]): RegisteredContact[] {
    const now = this.now();
    const out: RegisteredContact[] = [];
    for (const id of new Set(deviceIds)) {
      for (const binding of this.devices.get(id)?.values() ?? []) {
        if (binding.expiresAt > now) out.push(view(binding));
      }
    }
    return out;
  }

  /**
   * Every unexpired binding whose REGISTER came from this source address (any port, any transport), as the transport
   * reported it: how the INVITE gate tells a registered phone's address from a stranger's.
   */
  contactsFrom(address: string): RegisteredContact[] {
    const now = this.now();
    const out: RegisteredContact[] = [];
    for (const bindings of this.devices.values()) {
      for (const binding of bindings.values()) {
        if (binding.address === address && binding.expiresAt > now) out.push(view(binding));
      }
    }
    return out;
  }

  /**
   * Every unexpired binding of the devices that belonged to the extension when they registered. A caller that
   * reads the extension's devices from the database should prefer contactsFor(their ids): a device deleted since
   * its REGISTER is then never rung even if forgetDevice was not called.
   */
  contactsForExtension(extensionId: string): RegisteredContact[] {
    const ids: string[] = [];
    for (const [deviceId, bindings] of this.devices) {
      const first = bindings.values().next().value;
      if (first?.extensionId === extensionId) ids.push(deviceId);
    }
    return this.contactsFor(ids);
  }

  /** Drops every binding of a device (it was deleted, or unregistered with `Contact: *`). */
  forgetDevice(deviceId: string): void {
    const bindings = this.devices.get(deviceId);
    if (bindings) {
      for (const binding of bindings.values()) binding.timer.cancel();
      this.devices.delete(deviceId);
    }
    this.write((store) => store.removeDevice(deviceId));
  }

  /** How many bindings exist, over all devices. */
  get size(): number {
    let n = 0;
    for (const bindings of this.devices.values()) n += bindings.size;
    return n;
  }

  /**
   * Cancels every expiry timer and forgets every binding; later REGISTERs get 503. Stored bindings stay stored: the
   * next start restores them.
   */
  close(): void {
    this.closed = true;
    for (const bindings of this.devices.values()) for (const binding of bindings.values()) binding.timer.cancel();
    this.devices.clear();
  }

  /** Whether REGISTERs for this username are refused unchecked now. */
  isLockedOut(username: string): boolean {
    const entry = this.failures.get(username);
    return entry !== undefined && entry.lockedUntil > this.now();
  }

  private recordFailure(username: string, source: SipEndpoint): void {
    const lockout = this.lockout;
    if (!lockout) return;
    const now = this.now();
    let entry = this.failures.get(username);
    if (!entry) {
      if (this.failures.size >= MAX_TRACKED_USERNAMES) this.failures.delete(this.failures.keys().next().value!);
      entry = { times: [], lockedUntil: 0 };
      this.failures.set(username, entry);
    }
    entry.times = entry.times.filter((t) => t > now - lockout.windowMs);
    entry.times.push(now);
    if (entry.times.length >= lockout.failures) {
      entry.times = [];
      entry.lockedUntil = now + lockout.lockoutMs;
      lockout.onLockedOut?.(username, source);
    }
  }

  private async register(incoming: IncomingRequest): Promise<SipHeader[]> {
    if (this.closed) throw new Reject(503, 'Service Unavailable');
    const { request } = incoming;
    const aor = parseOr400(() => parseNameAddr(getHeader(request, 'To') ?? ''), 'To');
    const auth = this.credentialsOf(request.headers);
    if (auth === undefined) throw this.challenge(false);
    if (auth.realm !== this.realm) throw this.challenge(false);
    if (this.isLockedOut(auth.username)) {
      this.lockout?.onRefusedLocked?.(auth.username, incoming.source);
      throw new Reject(403, 'Forbidden');
    }

    const credentials = await this.lookup(auth.username);
    const known = credentials !== undefined && credentials.realm === this.realm;
    const verdict = this.digest.verify(auth, { method: 'REGISTER', uri: request.uri }, known ? credentials.ha1 : DUMMY_HA1);
    if (!known || (!verdict.ok && (verdict.reason === 'wrong_response' || verdict.reason === 'unsupported'))) {
      this.recordFailure(auth.username, incoming.source);
    }
    if (!known) throw new Reject(403, 'Forbidden');
    if (verdict.ok) this.failures.delete(auth.username);
    if (!verdict.ok) {
      switch (verdict.reason) {
        case 'unknown_nonce':
        case 'wrong_realm':
          throw this.challenge(false);
        case 'stale':
        case 'replay':
          throw this.challenge(true);
        case 'uri_mismatch':
          throw new Reject(400, 'Bad Request (digest uri is not the Request-URI)');
        case 'unsupported':
        case 'wrong_response':
          throw new Reject(403, 'Forbidden');
      }
    }
    // §10.3 step 3: the authenticated user may change the bindings of its own address-of-record only.
    if (aor.uri.user !== auth.username) throw new Reject(403, 'Forbidden (To is not the authenticated user)');

    const callId = getHeader(request, 'Call-ID') ?? '';
    const cseq = Number((getHeader(request, 'CSeq') ?? '').trim().split(/\s+/)[0]);
    const headerExpires = parseExpires(getHeader(request, 'Expires'));
    const contacts = parseOr400(() => getHeaders(request, 'Contact'), 'Contact');

    if (contacts.length === 1 && contacts[0] === '*') {
      if (headerExpires !== 0) throw new Reject(400, 'Bad Request (Contact: * needs Expires: 0)');
      this.forgetDevice(credentials.deviceId);
      await this.writes;
      return this.okHeaders(credentials.deviceId);
    }
    if (contacts.includes('*')) throw new Reject(400, 'Bad Request (Contact: * must be alone)');

    const changes: ContactChange[] = contacts.map((value) => {
      const contact = parseOr400(() => parseNameAddr(value), 'Contact');
      if (contact.uri.scheme === 'tel') throw new Reject(400, 'Bad Request (a Contact must be a SIP URI)');
      const paramExpires = contact.params.find(([name]) => name === 'expires')?.[1];
      let expires = parseExpires(paramExpires ?? undefined) ?? headerExpires ?? DEFAULT_EXPIRES_S;
      if (expires !== 0 && expires < MIN_EXPIRES_S) {
        throw new Reject(423, 'Interval Too Brief', [{ name: 'Min-Expires', value: String(MIN_EXPIRES_S) }]);
      }
      expires = Math.min(expires, MAX_EXPIRES_S);
      const instance = contact.params.find(([name]) => name === '+sip.instance')?.[1] ?? undefined;
      return { key: bindingKey(contact.uri), uri: formatUri(contact.uri), instance: instance ?? undefined, expires };
    });

    // §10.3 step 7: a request older than what a binding already holds (same Call-ID, CSeq not higher) changes nothing.
    const existing = this.devices.get(credentials.deviceId);
    for (const change of changes) {
      const binding = existing?.get(change.key);
      if (binding && binding.callId === callId && binding.cseq >= cseq) {
        throw new Reject(500, 'Server Internal Error (out of order REGISTER)', [{ name: 'Retry-After', value: '1' }]);
      }
    }

    for (const change of changes) {
      if (change.expires === 0) this.remove(credentials.deviceId, change.key);
      else this.bind(credentials, change, incoming, callId, cseq);
    }
    // The 200 goes out once the bindings are stored, so a device told it is registered is still reached after a
    // restart. A failed write is reported; the binding still holds in memory.
    await this.writes;
    return this.okHeaders(credentials.deviceId);
  }

  /** The first Authorization header with Digest credentials for our realm, else the first parseable one. */
  private credentialsOf(headers: readonly SipHeader[]): DigestAuthorization | undefined {
    let first: DigestAuthorization | undefined;
    let malformed = false;
    for (const header of headers) {
      if (header.name.toLowerCase() !== 'authorization') continue;
      try {
        const parsed = parseDigestAuthorization(header.value);
        if (parsed.realm === this.realm) return parsed;
        first ??= parsed;
      } catch (error) {
        if (!(error instanceof DigestError)) throw error;
        // Another scheme (Basic) is not ours to judge; a broken Digest header is the client's error.
        if (error.code !== 'unsupported_scheme') malformed = true;
      }
    }
    if (first === undefined && malformed) throw new Reject(400, 'Bad Request (malformed Authorization)');
    return first;
  }

  private challenge(stale: boolean): Reject {
    return new Reject(401, 'Unauthorized', [{ name: 'WWW-Authenticate', value: this.digest.challenge({ stale }) }]);
  }

  private bind(credentials: RegistrarCredentials, change: ContactChange, incoming: IncomingRequest, callId: string, cseq: number): void {
    // RFC 5626 §6: the same instance registering a new Contact (a new port after a reboot) replaces its old one.
    if (change.instance !== undefined) {
      for (const other of [...(this.devices.get(credentials.deviceId)?.values() ?? [])]) {
        if (other.instance === change.instance && other.key !== change.key) this.remove(credentials.deviceId, other.key);
      }
    }
    const bindings = this.devices.get(credentials.deviceId) ?? new Map<string, Binding>();
    const previous = bindings.get(change.key);
    if (!previous && bindings.size >= MAX_BINDINGS_PER_DEVICE) {
      const soonest = [...bindings.values()].reduce((a, b) => (b.expiresAt < a.expiresAt ? b : a));
      this.remove(credentials.deviceId, soonest.key);
    }
    const ms = change.expires * 1000;
    const binding: Binding = {
      key: change.key,
      deviceId: credentials.deviceId,
      accountId: credentials.accountId,
      extensionId: credentials.extensionId,
      uri: change.uri,
      instance: change.instance,
      transport: incoming.source.transport,
      address: incoming.source.address,
      port: incoming.source.port,
      callId,
      cseq,
      expiresAt: this.now() + ms,
      timer: { cancel: () => undefined },
    };
    this.place(binding, ms);
    this.write((store) => store.put(stored(binding)));
  }

  /** Holds a binding in memory until it expires in `ms`. */
  private place(binding: Binding, ms: number): void {
    let bindings = this.devices.get(binding.deviceId);
    if (!bindings) {
      bindings = new Map();
      this.devices.set(binding.deviceId, bindings);
    }
    bindings.get(binding.key)?.timer.cancel();
    binding.timer = this.timers.start('registrar.expiry', ms, () => {
      if (this.devices.get(binding.deviceId)?.get(binding.key) !== binding) return;
      if (binding.adopted) this.drop(binding.deviceId, binding.key);
      else this.remove(binding.deviceId, binding.key);
    });
    bindings.set(binding.key, binding);
  }

  /** Queues a write to the binding store after those already issued; its failure is reported, never thrown. */
  private write(op: (store: RegistrarBindingStore) => Promise<void>): void {
    const store = this.store;
    if (!store) return;
    this.writes = this.writes.then(() => op(store)).catch((error: unknown) => this.onError?.(error));
  }

  /** Forgets a binding here only. */
  private drop(deviceId: string, key: string): void {
    const bindings = this.devices.get(deviceId);
    bindings?.get(key)?.timer.cancel();
    bindings?.delete(key);
    if (bindings?.size === 0) this.devices.delete(deviceId);
  }

  private remove(deviceId: string, key: string): void {
    const bindings = this.devices.get(deviceId);
    const binding = bindings?.get(key);
    if (!bindings || !binding) return;
    binding.timer.cancel();
    bindings.delete(key);
    if (bindings.size === 0) this.devices.delete(deviceId);
    this.write((store) => store.remove(deviceId, key));
  }

  /** §10.3 step 8: every current binding, each with the seconds it has left. */
  private okHeaders(deviceId: string): SipHeader[] {
    const now = this.now();
    const headers: SipHeader[] = [];
    for (const binding of this.devices.get(deviceId)?.values() ?? []) {
      const left = Math.ceil((binding.expiresAt - now) / 1000);
      if (left > 0) headers.push({ name: 'Contact', value: `<${binding.uri}>;expires=${left}` });
    }
    headers.push({ name: 'Date', value: formatSipDate(new Date(now)) });
    return headers;
  }
}

function stored(binding: Binding): StoredBinding {
  const { timer: _timer, ...rest } = binding;
  return rest;
}

function view(binding: Binding): RegisteredContact {
  return {
    deviceId: binding.deviceId,
    accountId: binding.accountId,
    extensionId: binding.extensionId,
    uri: binding.uri,
    transport: binding.transport,
    address: binding.address,
    port: binding.port,
    expiresAt: binding.expiresAt,
  };
}

/** delta-seconds; undefined when absent. §10.2.1.1 / §20.19: a malformed value counts as 3600. */
function parseExpires(value: string | undefined | null): number | undefined {
  if (value === undefined || value === null) return undefined;
  const text = value.trim();
  if (!/^[0-9]{1,10}$/.test(text)) return DEFAULT_EXPIRES_S;
  return Number(text);
}

/**
 * §10.3 step 6 compares Contacts by URI equality; scheme, user, host (case-insensitive), port and transport are
 * what tell two of a device's Contacts apart in practice.
 */
function bindingKey(uri: SipUri): string {
  const transport = uri.params.find(([name]) => name === 'transport')?.[1]?.toLowerCase() ?? '';
  return `${uri.scheme}:${uri.user ?? ''}@${uri.host.toLowerCase()}:${uri.port ?? ''};${transport}`;
}

function parseOr400<T>(parse: () => T, header: string): T {
  try {
    return parse();
  } catch {
    throw new Reject(400, `Bad Request (malformed ${header})`);
  }
}
