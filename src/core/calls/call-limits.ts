import { DialplaneError } from '../../errors.js';

export const DEFAULT_RING_TIMEOUT_S = 30;
export const DEFAULT_MAX_DURATION_S = 3_600;
export const RING_TIMEOUT_RANGE = [1, 300] as const;
export const MAX_DURATION_RANGE = [1, 14_400] as const;

/** A whole number of seconds within the range, or a 400 naming the field. */
export function within(value: number, [min, max]: readonly [number, number], field: string): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new DialplaneError('validation_failed', `${field} must be a whole number of seconds from ${min} to ${max}`, { field });
  }
  return value;
}
