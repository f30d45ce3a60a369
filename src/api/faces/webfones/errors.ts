import type { DialplaneError } from '../../../errors.js';
import type { ErrorShape } from '../../faces.js';

/** The document's bodies, byte for byte (JSON.stringify keeps this key order). */
export const WEBFONES_BODIES = {
  success: { status: '200', message: 'Success' },
  invalidExtension: { message: 'invalid extension' },
  noDevices: { message: 'no devices' },
  missingKey: { error: 'API key is required', message: 'Please provide API key in x-api-key header or Authorization header' },
  invalidKey: { error: 'Invalid API key', message: 'The provided API key is not valid or has been revoked' },
  notFound: { error: 'Not found' },
  tooManyRequests: { error: 'Too many requests from this IP, please try again later.' },
} as const;

/** How the face tells the two 400s of the document apart from other validation failures. */
export const NO_DEVICES = 'no_devices';

/**
 * Every error in the document's terms: its 401, 403, 404, 429 and 500 bodies exactly; 400 `{"message":"invalid
 * extension"}` and `{"message":"no devices"}`, `{"message":"invalid phonenumber"}` for a number that is none, and
 * `{"message": "..."}` for anything else refused; a wrong method is 404 as an unknown path is. Other failures the
 * document does not name keep their status with `{"message":"Internal error","details":"..."}` (5xx) or
 * `{"message":"..."}` (4xx).
 */
export function webFonesErrorBody(error: DialplaneError, now: () => Date = () => new Date()): ErrorShape {
  const field = typeof error.details?.field === 'string' ? error.details.field : undefined;
  switch (error.code) {
    case 'missing_credentials':
      return { status: 401, body: WEBFONES_BODIES.missingKey };
    case 'invalid_credentials':
      return { status: 403, body: WEBFONES_BODIES.invalidKey };
    case 'route_not_found':
    case 'method_not_allowed':
      return { status: 404, body: WEBFONES_BODIES.notFound };
    case 'rate_limited':
      return { status: 429, body: WEBFONES_BODIES.tooManyRequests };
    case 'internal_error':
      return {
        status: 500,
        body: { error: 'Internal server error', message: 'An unexpected error occurred', timestamp: now().toISOString() },
      };
    default:
      break;
  }
  if (error.status === 400) {
    if (error.details?.problem === NO_DEVICES) return { status: 400, body: WEBFONES_BODIES.noDevices };
    if (field === 'extension') return { status: 400, body: WEBFONES_BODIES.invalidExtension };
    if (field === 'phonenumber') return { status: 400, body: { message: 'invalid phonenumber' } };
    return { status: 400, body: { message: error.message } };
  }
  if (error.status >= 500) return { status: error.status, body: { message: 'Internal error', details: error.message } };
  return { status: error.status, body: { message: error.message } };
}
