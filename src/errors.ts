/**
 * The one registry of error codes. Every error Dialplane returns to a client is one of these; each face maps the
 * code to its own document's error body. docs/errors.md lists the same table and a test keeps the two in step.
 */
export const errorRegistry = {
  bad_request: { status: 400, message: 'The request is malformed' },
  validation_failed: { status: 400, message: 'The request does not match the expected shape' },
  invalid_json: { status: 400, message: 'The request body is not valid JSON' },
  invalid_phone_number: { status: 400, message: 'The phone number is not valid' },
  invalid_webhook_url: { status: 400, message: 'The webhook URL is not an http or https URL that can be delivered to' },
  invalid_program: { status: 400, message: 'The call-control program is not valid' },
  invalid_filter: { status: 400, message: 'The filter is not valid' },
  unknown_field: { status: 400, message: 'The field cannot be filtered or sorted by' },
  payload_too_large: { status: 413, message: 'The request body is too large' },
  unsupported_media_type: { status: 415, message: 'The request body must be JSON' },
  missing_credentials: { status: 401, message: 'No API key was provided' },
  invalid_credentials: { status: 401, message: 'The API key is not valid' },
  invalid_login: { status: 401, message: 'The email or password is not valid' },
  invalid_refresh_token: { status: 401, message: 'The refresh token is not valid, has expired or was already used' },
  admin_unauthorized: { status: 401, message: 'Missing or invalid admin token' },
  forbidden: { status: 403, message: 'The credentials do not allow this operation' },
  read_only_key: { status: 403, message: 'This API key is read-only' },
  view_only_user: { status: 403, message: 'This user may view but not change anything' },
  caller_id_not_allowed: { status: 403, message: "The caller ID is not on the app's caller-ID allow-list" },
  insufficient_credits: {
    status: 402,
    message: 'Your account does not have enough credits to complete this operation',
  },
  https_required: { status: 403, message: 'This API accepts requests over HTTPS only' },
  no_caller_id: { status: 402, message: 'The account has no voice number to place the call from' },
  not_found: { status: 404, message: 'The requested resource does not exist' },
  route_not_found: { status: 404, message: 'No such route' },
  method_not_allowed: { status: 405, message: 'The method is not allowed on this path' },
  conflict: { status: 409, message: 'The resource already exists' },
  call_owned_elsewhere: { status: 409, message: 'The call is driven by another node' },
  rate_limited: { status: 429, message: 'Too many requests, please retry later' },
  call_owner_unreachable: { status: 503, message: 'The node driving the call did not answer' },
  capacity_exceeded: { status: 503, message: 'No capacity available right now, retry with backoff' },
  database_unavailable: { status: 503, message: 'The database is unreachable, retry shortly' },
  not_ready: { status: 503, message: 'The server is not ready' },
  internal_error: { status: 500, message: 'An unexpected error occurred' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof errorRegistry;

export type ErrorDetails = Record<string, unknown>;

/** An error with a stable code from the registry. Thrown by core services, turned into a face's body by the API. */
export class DialplaneError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: ErrorDetails | undefined;
  /** Extra response headers (Retry-After, Allow). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    code: ErrorCode,
    message?: string,
    details?: ErrorDetails,
    headers: Record<string, string> = {},
  ) {
    const entry = errorRegistry[code];
    super(message ?? entry.message);
    this.name = 'DialplaneError';
    this.code = code;
    this.status = entry.status;
    this.details = details;
    this.headers = headers;
  }
}

export function isDialplaneError(value: unknown): value is DialplaneError {
  return value instanceof DialplaneError;
}
