/**
 * Who may call in. An INVITE that opens a call is let through when it comes
 *
 *  - from a trunk: its source address (ports are not compared) is one of the trunk's `inbound` addresses or CIDR
 *    ranges, or, without that parameter, an address of any target the trunk's host resolves to (RFC 3263: NAPTR,
 *    SRV, A/AAAA; the dev carrier's own address with DIALPLANE_TRUNK=dev); or
 *  - from a registered device: the source address has a current registration, and the INVITE carries digest
 *    credentials (Authorization, or Proxy-Authorization) of a device registered from that address, checked as the
 *    registrar checks a REGISTER and with the registrar's own stateless nonces. Without credentials it is answered
 *    401 with a fresh WWW-Authenticate challenge (Dialplane is the UAS of the call, RFC 3261 §22.2), and again with
 *    stale=true when the nonce expired.
 *
 * Anything else is answered 403 Forbidden before a call is written or a credit held, and reported to `onRefused`:
 * `not_allowed` for a source that is neither a trunk nor a registered device, `auth_failed` for credentials that are
 * wrong, of an unknown user, or of a device not registered from that address. Challenges are not refusals.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { DigestError } from '../sip/auth/digest.js';
import { parseDigestAuthorization, type DigestAuthorization } from '../sip/auth/digest-server.js';
import type { SipHeader } from '../sip/message/types.js';
import type { Registrar, RegistrarCredentials } from '../sip/registrar.js';
import { newTag } from '../sip/ua/ids.js';
import type { IncomingRequest } from '../sip/ua/sip-stack.js';
import { matchesAny, parseCidr, type Cidr } from './cidr.js';
import type { TrunkConfig } from './trunks.js';

/** What a refused INVITE is counted under. */
export type InviteRefusal = 'not_allowed' | 'auth_failed';

export type InviteDecision =
  | { readonly kind: 'trunk'; readonly trunk: string }
  | { readonly kind: 'device'; readonly deviceId: string; readonly accountId: string; readonly extensionId: string }
  /** Already answered: 403 (`not_allowed`, `auth_failed`), 401 (`challenge`), 503 before the trunks are known (`starting`). */
  | { readonly kind: 'refused'; readonly reason: InviteRefusal | 'challenge' | 'starting' };

export interface InviteGateOptions {
  /** Bindings (who registered from where) and the digest server whose nonces the challenges carry. */
  readonly registrar: Pick<Registrar, 'realm' | 'digest' | 'contactsFrom'>;
  /** The device behind a digest username (ExtensionService.credentialsFor). */
  readonly lookup: (username: string) => Promise<RegistrarCredentials | undefined>;
  /** Called once per INVITE answered 403. */
  readonly onRefused?: (reason: InviteRefusal, source: { readonly address: string; readonly port: number }) => void;
  /**
   * A trunk host name's addresses: those of every target it resolves to (RFC 3263, `trunk` says with which port and
   * transport). Default: every address the system resolver gives for the host.
   */
  readonly resolve?: (host: string, trunk: TrunkConfig) => Promise<readonly string[]>;
  /** How long a host's resolved addresses are used before it is resolved again. Default 60 s. */
  readonly resolveTtlMs?: number;
  /** Milliseconds. Default Date.now. */
  readonly now?: () => number;
  /** Failures of `resolve` (the previous addresses stay in use). */
  readonly onError?: (error: unknown, context: string) => void;
}

interface TrunkRule {
  readonly name: string;
  /** Configured ranges, or undefined: the host's addresses. */
  readonly ranges: readonly Cidr[] | undefined;
  readonly trunk: TrunkConfig;
}

// Verified in place of a real one for unknown usernames, so both paths cost the same hashing.
const DUMMY_HA1 = '0'.repeat(32);
const DEFAULT_RESOLVE_TTL_MS = 60_000;
const RETRY_FAILED_RESOLVE_MS = 5_000;

const systemResolve = async (host: string): Promise<readonly string[]> =>
  (await lookup(host, { all: true, verbatim: true })).map((entry) => entry.address);

export class InviteGate {
  private readonly options: InviteGateOptions;
  private readonly resolve: (host: string, trunk: TrunkConfig) => Promise<readonly string[]>;
  private readonly now: () => number;
  private readonly ttlMs: number;
  private rules: readonly TrunkRule[] | undefined;
  /** trunk name → its host's addresses as ranges, and when they were resolved; `pending` while a lookup runs. */
  private readonly resolved = new Map<string, { ranges: readonly Cidr[]; at: number; pending?: Promise<void> }>();

  constructor(options: InviteGateOptions) {
    this.options = options;
    this.resolve = options.resolve ?? systemResolve;
    this.now = options.now ?? Date.now;
    this.ttlMs = options.resolveTtlMs ?? DEFAULT_RESOLVE_TTL_MS;
  }

  /** The trunks whose addresses are let in. Until this is called every INVITE is answered 503. */
  useTrunks(trunks: readonly TrunkConfig[]): void {
    this.rules = trunks.map((trunk) => ({ name: trunk.name, ranges: trunk.inbound, trunk }));
  }

  /**
   * Wraps an INVITE handler: it runs only for admitted INVITEs (with them unchanged); the others are answered here.
   * A failure of the gate itself (the device lookup) is answered 500.
   */
  guard(handler: (incoming: IncomingRequest) => void): (incoming: IncomingRequest) => void {
    return (incoming) => {
      this.admit(incoming).then(
        (decision) => {
          if (decision.kind !== 'refused') handler(incoming);
        },
        (error: unknown) => {
          this.options.onError?.(error, 'invite gate failed');
          answer(incoming, 500, 'Server Internal Error');
        },
      );
    };
  }

  /** Decides for one INVITE; answers it unless it is admitted (the caller answers those). */
  async admit(incoming: IncomingRequest): Promise<InviteDecision> {
    const rules = this.rules;
    if (rules === undefined) {
      answer(incoming, 503, 'Service Unavailable', [{ name: 'Retry-After', value: '1' }]);
      return { kind: 'refused', reason: 'starting' };
    }
    const { address } = incoming.source;
    for (const rule of rules) {
      if (matchesAny(rule.ranges ?? (await this.hostRanges(rule.trunk)), address)) return { kind: 'trunk', trunk: rule.name };
    }
    if (this.options.registrar.contactsFrom(address).length === 0) return this.refuse(incoming, 'not_allowed');

    const { registrar } = this.options;
    const { request } = incoming;
    const auth = credentialsOf(request.headers, registrar.realm);
    if (auth === 'malformed') return this.refuse(incoming, 'auth_failed');
    if (auth === undefined || auth.realm !== registrar.realm) return this.challenge(incoming, false);
    const credentials = await this.options.lookup(auth.username);
    const known = credentials !== undefined && credentials.realm === registrar.realm;
    const verdict = registrar.digest.verify(auth, { method: 'INVITE', uri: request.uri }, known ? credentials.ha1 : DUMMY_HA1);
    if (!known) return this.refuse(incoming, 'auth_failed');
    if (!verdict.ok) {
      switch (verdict.reason) {
        case 'unknown_nonce':
        case 'wrong_realm':
          return this.challenge(incoming, false);
        case 'stale':
        case 'replay':
          return this.challenge(incoming, true);
        default:
          return this.refuse(incoming, 'auth_failed');
      }
    }
    // The credentials must be those of a device registered from where the INVITE comes.
    const registered = registrar.contactsFrom(address).some((contact) => contact.deviceId === credentials.deviceId);
    if (!registered) return this.refuse(incoming, 'auth_failed');
    return { kind: 'device', deviceId: credentials.deviceId, accountId: credentials.accountId, extensionId: credentials.extensionId };
  }

  private refuse(incoming: IncomingRequest, reason: InviteRefusal): InviteDecision {
    answer(incoming, 403, 'Forbidden');
    this.options.onRefused?.(reason, { address: incoming.source.address, port: incoming.source.port });
    return { kind: 'refused', reason };
  }

  private challenge(incoming: IncomingRequest, stale: boolean): InviteDecision {
    answer(incoming, 401, 'Unauthorized', [{ name: 'WWW-Authenticate', value: this.options.registrar.digest.challenge({ stale }) }]);
    return { kind: 'refused', reason: 'challenge' };
  }

  /** The addresses a trunk's host stands for, as single-address ranges; resolved again after the TTL. */
  private async hostRanges(trunk: TrunkConfig): Promise<readonly Cidr[]> {
    const { host } = trunk;
    if (isIP(host)) {
      const range = parseCidr(host);
      return range ? [range] : [];
    }
    let entry = this.resolved.get(trunk.name);
    if (entry === undefined) {
      entry = { ranges: [], at: -Infinity };
      this.resolved.set(trunk.name, entry);
    }
    const current = entry;
    if (this.now() - current.at >= this.ttlMs) {
      current.pending ??= this.resolve(host, trunk)
        .then(
          (addresses) => {
            current.ranges = addresses.map((a) => parseCidr(a)).filter((r): r is Cidr => r !== undefined);
          },
          (error: unknown) => {
            this.options.onError?.(error, `resolving trunk host ${host} failed`);
            return 'failed' as const;
          },
        )
        .then((outcome) => {
          // A failed lookup keeps the previous addresses and is tried again after a few seconds, not a whole TTL.
          current.at = outcome === 'failed' ? this.now() - this.ttlMs + RETRY_FAILED_RESOLVE_MS : this.now();
          delete current.pending;
        });
      await current.pending;
    }
    return current.ranges;
  }
}

/** Digest credentials for our realm from Authorization or Proxy-Authorization, else the first parseable ones. */
function credentialsOf(headers: readonly SipHeader[], realm: string): DigestAuthorization | 'malformed' | undefined {
  let first: DigestAuthorization | undefined;
  let malformed = false;
  for (const header of headers) {
    const name = header.name.toLowerCase();
    if (name !== 'authorization' && name !== 'proxy-authorization') continue;
    try {
      const parsed = parseDigestAuthorization(header.value);
      if (parsed.realm === realm) return parsed;
      first ??= parsed;
    } catch (error) {
      if (!(error instanceof DigestError)) throw error;
      if (error.code !== 'unsupported_scheme') malformed = true;
    }
  }
  return first ?? (malformed ? 'malformed' : undefined);
}

function answer(incoming: IncomingRequest, status: number, reason: string, headers: readonly SipHeader[] = []): void {
  try {
    incoming.respond(status, reason, { toTag: newTag(), headers: [...headers] });
  } catch {
    // A To header too broken to take a tag: answered untagged; past that nothing can be sent.
    try {
      incoming.respond(status, reason, { headers: [...headers] });
    } catch {
      // dropped
    }
  }
}
