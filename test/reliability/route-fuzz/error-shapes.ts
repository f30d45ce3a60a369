import { errorRegistry } from '../../../src/errors.js';

/** The API faces as the OpenAPI document's paths fall into them; each answers errors in its own document's shape. */
export type FaceName = 'admin' | 'dialplane' | 'dialanyone' | 'dial' | 'webfones' | 'voice2phone' | 'diallink';

export function faceOf(path: string): FaceName {
  if (path.startsWith('/admin/')) return 'admin';
  if (path.startsWith('/dialplane/v1')) return 'dialplane';
  if (path === '/api/v1/dial' || path.startsWith('/api/v1/dial/')) return 'dial';
  if (path.startsWith('/api/v1')) return 'dialanyone';
  if (path.startsWith('/dialer') || path.startsWith('/dailer')) return 'webfones';
  if (path.startsWith('/voice2phone')) return 'voice2phone';
  if (path.startsWith('/v1/') || path.startsWith('/users/me')) return 'diallink';
  throw new Error(`no face serves ${path}`);
}

const codes = new Set(Object.keys(errorRegistry));
const statusOf = (code: string): number | undefined => (errorRegistry as Record<string, { status: number }>)[code]?.status;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function onlyKeys(value: Record<string, unknown>, allowed: readonly string[]): string | undefined {
  const extra = Object.keys(value).filter((key) => !allowed.includes(key));
  return extra.length > 0 ? `unexpected keys ${extra.join(', ')}` : undefined;
}

/** docs/errors.md: {"error":{"code","message","details"?}}, the code from the registry with the registry's status. */
function standard(status: number, body: unknown): string | undefined {
  if (!isPlainObject(body)) return 'not a JSON object';
  const outer = onlyKeys(body, ['error']);
  if (outer) return outer;
  const error = body.error;
  if (!isPlainObject(error)) return 'error is not an object';
  const inner = onlyKeys(error, ['code', 'message', 'details']);
  if (inner) return inner;
  if (typeof error.code !== 'string' || !codes.has(error.code)) return `code ${JSON.stringify(error.code)} is not in the registry`;
  if (statusOf(error.code) !== status) return `code ${error.code} is documented as ${statusOf(error.code)}, answered ${status}`;
  if (typeof error.message !== 'string' || error.message === '') return 'message is not a non-empty string';
  if ('details' in error && !isPlainObject(error.details)) return 'details is not an object';
  return undefined;
}

/** docs/dial.md: {"error":"<code>","message":"…","field"?,"retry_after"?}, two codes in the document's own names. */
const DIAL_NAMES: Record<string, string> = { cid_not_allowed: 'caller_id_not_allowed', no_fs_capacity: 'capacity_exceeded' };
function dial(status: number, body: unknown): string | undefined {
  if (!isPlainObject(body)) return 'not a JSON object';
  const extra = onlyKeys(body, ['error', 'message', 'field', 'retry_after']);
  if (extra) return extra;
  if (typeof body.error !== 'string') return 'error is not a string';
  // The registry's names of the two renamed codes must not appear: the document's names replace them.
  const renamed = Object.values(DIAL_NAMES).includes(body.error);
  const code = DIAL_NAMES[body.error] ?? (renamed ? undefined : body.error);
  if (code === undefined || !codes.has(code)) return `error ${JSON.stringify(body.error)} is not a documented code`;
  if (statusOf(code) !== status) return `error ${body.error} is documented as ${statusOf(code)}, answered ${status}`;
  if (typeof body.message !== 'string' || body.message === '') return 'message is not a non-empty string';
  if ('field' in body && typeof body.field !== 'string') return 'field is not a string';
  if ('retry_after' in body && typeof body.retry_after !== 'number') return 'retry_after is not a number';
  return undefined;
}

/** docs/webfones.md: the document's bodies for 401, 403, 404, 429 exactly; {"message":"…"} for other refusals. */
const WEBFONES_EXACT: Record<number, unknown> = {
  401: { error: 'API key is required', message: 'Please provide API key in x-api-key header or Authorization header' },
  403: { error: 'Invalid API key', message: 'The provided API key is not valid or has been revoked' },
  404: { error: 'Not found' },
  429: { error: 'Too many requests from this IP, please try again later.' },
};
function webfones(status: number, body: unknown): string | undefined {
  if (!isPlainObject(body)) return 'not a JSON object';
  const exact = WEBFONES_EXACT[status];
  const onlyMessage = onlyKeys(body, ['message']) === undefined && typeof body.message === 'string' && body.message !== '';
  // 403 is also a read-only key's {"message":"…"} (docs/webfones.md: "403 for a read-only key").
  if (exact !== undefined && JSON.stringify(body) === JSON.stringify(exact)) return undefined;
  if (exact !== undefined && !(status === 403 && onlyMessage)) return `not the document's ${status} body`;
  if (status >= 500) return 'a 5xx';
  return onlyMessage ? undefined : 'not {"message":"…"}';
}

/** docs/diallink.md: {"status","code","description","details"?}, status equal to the HTTP status. */
function diallink(status: number, body: unknown): string | undefined {
  if (!isPlainObject(body)) return 'not a JSON object';
  const extra = onlyKeys(body, ['status', 'code', 'description', 'details']);
  if (extra) return extra;
  if (body.status !== status) return `status ${JSON.stringify(body.status)} is not the HTTP status ${status}`;
  if (typeof body.code !== 'string' || !codes.has(body.code)) return `code ${JSON.stringify(body.code)} is not in the registry`;
  if (statusOf(body.code) !== status) return `code ${body.code} is documented as ${statusOf(body.code)}, answered ${status}`;
  if (typeof body.description !== 'string' || body.description === '') return 'description is not a non-empty string';
  if ('details' in body && !isPlainObject(body.details)) return 'details is not an object';
  return undefined;
}

const checkers: Record<FaceName, (status: number, body: unknown) => string | undefined> = {
  admin: standard,
  dialplane: standard,
  dialanyone: standard,
  voice2phone: standard,
  dial,
  webfones,
  diallink,
};

/** Why an error answer is not in its face's documented shape, or undefined when it is. */
export function errorShapeViolation(face: FaceName, status: number, contentType: string, text: string): string | undefined {
  if (!/^application\/json\b/.test(contentType)) return `content-type ${JSON.stringify(contentType)} is not JSON`;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return 'the body does not parse as JSON';
  }
  return checkers[face](status, body);
}

/** A stack frame or a path into the server's own files. */
export function leaksInternals(text: string): string | undefined {
  if (/\n\s*at [^\n]*(\(|:\d+:\d+)/.test(text) || text.includes('    at ')) return 'a stack frame';
  const path = /(?:^|[\s"'(/])(?:dist|src)\/[\w./-]+\.(?:js|ts|mjs)\b|node_modules\//.exec(text);
  return path ? `a file path (${path[0].trim()})` : undefined;
}
