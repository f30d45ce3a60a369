import type { FastifyRequest } from 'fastify';

export const REDACTED = '[redacted]';

/**
 * Query parameters that carry a credential in some client or another API's convention (`?api_key=`, `?token=`), or
 * named after the header that should have carried it (`?x-api-key=`, `?authorization=`). Dialplane reads keys from
 * headers only, but a client may still put one in a URL, and the URL is logged.
 */
const CREDENTIAL_PARAMETER =
  /^(x[_-]?)?(api[_-]?key|apikey|api[_-]?token|key|token|access[_-]?token|refresh[_-]?token|auth[_-]?token|auth|authorization|bearer|password|passwd|secret|client[_-]?secret|signature|sig)$/i;

/**
 * Dialplane's own credentials by their shape (API keys `dk_live_…`, DialLink access and refresh tokens, webhook
 * secrets): masked wherever they are in a URL, under any parameter name or in the path.
 */
const CREDENTIAL_VALUE = /(dk_live_|dlat_|dlrt_|whsec_)[0-9A-Za-z]+/g;

/** The URL with every credential-looking query parameter's value and every Dialplane credential masked; the rest as sent. */
export function redactUrl(url: string): string {
  return redactParameters(url).replace(CREDENTIAL_VALUE, REDACTED);
}

function redactParameters(url: string): string {
  const question = url.indexOf('?');
  if (question < 0) return url;
  const query = url
    .slice(question + 1)
    .split('&')
    .map((pair) => {
      const equals = pair.indexOf('=');
      const rawName = equals < 0 ? pair : pair.slice(0, equals);
      let name = rawName;
      try {
        name = decodeURIComponent(rawName.replace(/\+/g, ' '));
      } catch {
        // A malformed escape is compared as written.
      }
      return CREDENTIAL_PARAMETER.test(name.trim()) && equals >= 0 ? `${rawName}=${REDACTED}` : pair;
    })
    .join('&');
  return `${url.slice(0, question)}?${query}`;
}

/** Fastify's request serializer, with the URL redacted. */
export function serializeRequest(request: FastifyRequest): Record<string, unknown> {
  return {
    method: request.method,
    url: redactUrl(request.url),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket ? request.socket.remotePort : undefined,
  };
}
