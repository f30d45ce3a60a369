import { DialplaneError } from '../../errors.js';
import { normalizePhoneNumber } from '../phone-number.js';
import type { Services } from '../services.js';
import type { CallEngine } from './call-engine.js';
import type { Call } from './call-service.js';

export interface PlaceCallRequest {
  readonly from: string;
  readonly to: string;
  readonly ringTimeoutS?: number;
  readonly maxDurationS?: number;
  readonly metadata?: Record<string, unknown> | null;
}

export const DEFAULT_RING_TIMEOUT_S = 30;
export const DEFAULT_MAX_DURATION_S = 3_600;
const RING_TIMEOUT_RANGE = [1, 300] as const;
const MAX_DURATION_RANGE = [1, 14_400] as const;

/**
 * The rules every face shares for an outbound call: the caller ID must be a voice number of the account, both numbers
 * are normalised to E.164, and the timers stay within bounds. Then the engine places it.
 */
export async function placeCall(services: Services, engine: CallEngine, accountId: string, request: PlaceCallRequest): Promise<Call> {
  const from = normalizePhoneNumber(request.from, services.defaultCountry, 'from');
  const to = normalizePhoneNumber(request.to, services.defaultCountry, 'to');
  const owned = (await services.numbers.list(accountId)).find((n) => n.number === from);
  if (!owned || !owned.capabilities.includes('voice')) {
    throw new DialplaneError('validation_failed', `from ${from} is not a voice number of this account`, { field: 'from' });
  }
  const ringTimeoutS = within(request.ringTimeoutS ?? DEFAULT_RING_TIMEOUT_S, RING_TIMEOUT_RANGE, 'ring_timeout');
  const maxDurationS = within(request.maxDurationS ?? DEFAULT_MAX_DURATION_S, MAX_DURATION_RANGE, 'max_duration');
  return engine.place({ accountId, from, to, ringTimeoutS, maxDurationS, metadata: request.metadata ?? null });
}

function within(value: number, [min, max]: readonly [number, number], field: string): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new DialplaneError('validation_failed', `${field} must be a whole number of seconds from ${min} to ${max}`, { field });
  }
  return value;
}
