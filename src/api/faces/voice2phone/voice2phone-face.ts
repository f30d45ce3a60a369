import type { FastifyPluginAsync } from 'fastify';
import { DialplaneError } from '../../../errors.js';
import { standardErrorBody, type Face, type FaceOptions } from '../../faces.js';
import { registerCallRoutes } from './call-routes.js';
import { parseRelaxedJson } from './relaxed-json.js';

export const VOICE2PHONE_PREFIX = '/voice2phone';

/**
 * The document: "All API requests must be made over HTTPS. Calls made over plain HTTP will fail." A request counts as
 * HTTPS when it came over TLS to Dialplane's own listener, or from a trusted proxy (DIALPLANE_TRUST_PROXY) that says
 * `X-Forwarded-Proto: https`. Checked before the key, so a client using http:// learns why at once.
 */
const plugin: FastifyPluginAsync<FaceOptions> = async (app, { services, calls }) => {
  app.addHook('onRequest', async (request) => {
    if (request.protocol !== 'https') {
      throw new DialplaneError(
        'https_required',
        'Voice2Phone accepts requests over HTTPS only: use https:// (the server needs DIALPLANE_TLS_CERT and DIALPLANE_TLS_KEY, or a trusted TLS proxy)',
      );
    }
  });
  // The document's example body has unquoted keys; whatever the Content-Type, the body is read as JSON plus that.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, parseRelaxedJson(body as string));
    } catch (error) {
      const detail = error instanceof Error ? `: ${error.message}` : '';
      done(new DialplaneError('invalid_json', `The request body is not valid JSON${detail}`), undefined);
    }
  });
  if (calls) registerCallRoutes(app, services, calls);
};

/** Voice2Phone: its document shows no error body, so errors use the standard {"error":{"code","message"}}. */
export const voice2PhoneFace: Face = {
  name: 'voice2phone',
  prefix: VOICE2PHONE_PREFIX,
  errors: { format: standardErrorBody },
  plugin,
};
