import type { DialplaneError } from '../../../errors.js';
import type { ErrorShape, FaceErrorFormat } from '../../faces.js';

/** The document's own names for two errors; every other code is the registry's. */
const DOCUMENT_CODES: Readonly<Record<string, string>> = {
  caller_id_not_allowed: 'cid_not_allowed',
  capacity_exceeded: 'no_fs_capacity',
};

/**
 * The face's error body: `{"error": "<code>", "message": "…"}`, with `field` naming the offending field on a 400 and
 * `retry_after` (seconds, as the Retry-After header) on 429 and 503. Internal errors say nothing more than their code.
 */
export function dialErrorBody(error: DialplaneError): ErrorShape {
  const details = error.details ?? {};
  const field = typeof details.field === 'string' ? details.field : undefined;
  const retryAfter = error.headers['retry-after'];
  return {
    status: error.status,
    body: {
      error: DOCUMENT_CODES[error.code] ?? error.code,
      message: error.message,
      ...(field !== undefined ? { field } : {}),
      ...(retryAfter !== undefined ? { retry_after: Number(retryAfter) } : {}),
    },
  };
}

export const dialErrors: FaceErrorFormat = { format: dialErrorBody };
