import { Resolver, lookup } from 'node:dns/promises';
import { SipResolver, type SipTarget } from '../sip/transport/sip-resolver.js';
import type { SipEndpoint } from '../sip/transport/types.js';
import { trunkResolveRequest, type TrunkConfig } from './trunks.js';

/** A trunk's targets in the order to try them (RFC 3263): the first for upkeep, all of them for a call's failover. */
export type TrunkTargets = (trunk: TrunkConfig) => Promise<SipEndpoint[]>;

/** How long one DNS query waits, and how often it is asked, before the resolution goes on without its answer. */
const DNS_TIMEOUT_MS = 2_000;
const DNS_TRIES = 2;

/** RFC 3263 over the system's DNS servers, with getaddrinfo (/etc/hosts) for names the DNS has no address for. */
export function systemSipResolver(): SipResolver {
  return new SipResolver({
    dns: new Resolver({ timeout: DNS_TIMEOUT_MS, tries: DNS_TRIES }),
    lookup: async (host) => (await lookup(host, { all: true, verbatim: true })).map((entry) => entry.address),
  });
}

/**
 * A trunk's targets, TLS ones included (a TLS connection we open needs no listener of ours). A TLS target's
 * certificate is checked against the trunk's host name as written (RFC 3263 §4.4 / RFC 5922), not the SRV target.
 */
export function trunkTargets(resolver: SipResolver): TrunkTargets {
  return async (trunk) => (await resolver.resolve({ ...trunkResolveRequest(trunk), tls: true })).map((target) => endpointOf(trunk, target));
}

function endpointOf(trunk: TrunkConfig, target: SipTarget): SipEndpoint {
  const base = { transport: target.transport, address: target.address, port: target.port };
  return target.transport === 'tls' ? { ...base, tls: { serverName: trunk.host, verify: trunk.verify } } : base;
}
