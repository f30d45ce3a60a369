import type { DialplaneError } from '../errors.js';

/** A face shapes errors as its document shows them; everything else about errors is shared. */
export interface ErrorShape {
  readonly status: number;
  readonly body: unknown;
}

export interface FaceErrorFormat {
  readonly name: string;
  /** Path prefixes whose unknown routes (404/405) answer in this face's shape. */
  readonly prefixes: readonly string[];
  format(error: DialplaneError): ErrorShape;
}

/** The shape of the admin API and of any path no face claims: DialAnyone's, which most clients already parse. */
export function standardErrorBody(error: DialplaneError): ErrorShape {
  return {
    status: error.status,
    body: { error: { code: error.code, message: error.message, ...(error.details ? { details: error.details } : {}) } },
  };
}

export const standardFormat: FaceErrorFormat = { name: 'standard', prefixes: [], format: standardErrorBody };
