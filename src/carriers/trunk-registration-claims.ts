import type { Clock } from '../core/clock.js';
import { WorkClaim } from '../core/work-claim.js';
import type { ClaimsRepository } from '../store/claims-repository.js';
import type { TrunkUpkeep } from './trunk-upkeep.js';
import type { TrunkConfig } from './trunks.js';

export interface TrunkRegistrationClaimsOptions {
  readonly claims: ClaimsRepository;
  readonly clock: Clock;
  /** This node's id. */
  readonly nodeId: string;
  readonly leaseMs: number;
  readonly onHeld?: (trunk: TrunkConfig, held: boolean) => void;
  readonly onError?: (error: unknown, context: string) => void;
}

/** The claim one trunk's registration is held under: the same for every node configured with that trunk. */
export function trunkRegistrationClaimName(trunk: TrunkConfig): string {
  const host = trunk.host.includes(':') ? `[${trunk.host}]` : trunk.host;
  return `trunk-register:${trunk.username ?? 'dialplane'}@${host}:${trunk.port}`;
}

/**
 * Of the nodes sharing one database, one registers each trunk: the one holding the work claim of that trunk. The
 * upkeep (started with `register: false`) registers a trunk while its claim is held here and stops refreshing it
 * when the claim goes to another node. Returns the claims' stop, which gives up every claim held: call it after the
 * upkeep's own stop has unregistered, so the next holder's REGISTER comes after that.
 */
export async function claimTrunkRegistrations(
  upkeep: TrunkUpkeep,
  trunks: readonly TrunkConfig[],
  options: TrunkRegistrationClaimsOptions,
): Promise<() => Promise<void>> {
  const claims: WorkClaim[] = [];
  trunks.forEach((trunk, index) => {
    if (!trunk.register) return;
    claims.push(
      new WorkClaim(options.claims, options.clock, {
        name: trunkRegistrationClaimName(trunk),
        holder: options.nodeId,
        leaseMs: options.leaseMs,
        onAcquired: () => {
          upkeep.startRegistering(index);
          options.onHeld?.(trunk, true);
        },
        onLost: () => {
          upkeep.stopRegistering(index);
          options.onHeld?.(trunk, false);
        },
        ...(options.onError ? { onError: options.onError } : {}),
      }),
    );
  });
  await Promise.all(claims.map((claim) => claim.start()));
  return async () => {
    await Promise.all(claims.map((claim) => claim.stop()));
  };
}
