import type { FastifyRequest } from 'fastify';

export const REDACTED = '[redacted]';

/**
 * Query parameters that carry a credential in some client or another API's convention (`?api_key=`, `?token=`).
 * Dialplane reads keys from headers only, but a client may still put one in a URL, and the URL is logged.
 */
const CREDENTIAL_PARAMETER = /^(api[_-]?key|apikey|key|token|access[_-]?token|auth[_-]?token|auth|password|passwd|secret|client[_-]?secret|signature|sig)$/i;

/** The URL with the value of every credential-looking query parameter masked; the path and other parameters as sent. */
export function redactUrl(url: string): string {
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
