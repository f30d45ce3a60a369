import type { FastifyInstance } from 'fastify';
import type { CallControl } from '../../../core/calls/call-control.js';
import type { Extension } from '../../../core/extensions.js';
import { normalizePhoneNumber } from '../../../core/phone-number.js';
import type { Services } from '../../../core/services.js';
import { DialplaneError, isDialplaneError } from '../../../errors.js';
import { NO_DEVICES, WEBFONES_BODIES } from './errors.js';
import { webFonesRoute } from './policy.js';

/** What the face stores with a call it placed: the document's two fields as given, and the number dialled. */
export interface WebFonesParticulars {
  readonly extension: string;
  readonly phonenumber: string;
  readonly dialed: string;
}

/** The document writes both fields as strings; a number is taken as its digits. */
function field(body: unknown, name: 'extension' | 'phonenumber'): string {
  const value = typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[name] : undefined;
  const text = typeof value === 'number' && Number.isInteger(value) && value >= 0 ? String(value) : value;
  if (typeof text !== 'string' || text.trim() === '' || text.length > 64) {
    throw new DialplaneError('validation_failed', `${name} is required`, { field: name });
  }
  return text.trim();
}

/**
 * The document's click-to-call as a call-control program: ring the extension — every registered Contact of its
 * devices and its mobile through the trunk, at once; the first to answer wins and the others are cancelled — then
 * `dial` phonenumber with the extension's caller ID and bridge the two. The first minute of phonenumber is reserved
 * before anything rings.
 */
export async function placeClickToCall(
  services: Services,
  calls: CallControl | undefined,
  accountId: string,
  request: { readonly extension: string; readonly phonenumber: string },
): Promise<string> {
  let extension: Extension;
  try {
    extension = await services.extensions.resolve(accountId, request.extension);
  } catch (error) {
    if (isDialplaneError(error) && error.code === 'not_found') {
      throw new DialplaneError('validation_failed', 'invalid extension', { field: 'extension' });
    }
    throw error;
  }
  const dialed = normalizePhoneNumber(request.phonenumber, services.defaultCountry, 'phonenumber');
  const callerId = await services.extensions.callerIdOf(accountId, extension.id);
  if (callerId === undefined) {
    throw new DialplaneError('validation_failed', 'the account has no voice number to call from', { field: 'from' });
  }
  if (!calls) throw new DialplaneError('not_ready', 'telephony does not run in this process');
  const particulars: WebFonesParticulars = { extension: request.extension, phonenumber: request.phonenumber, dialed };
  const call = await calls
    .start(accountId, {
      from: callerId,
      to: [{ type: 'extension', extension: extension.id }],
      program: [{ verb: 'dial', target: [{ type: 'phone', number: dialed }], callerId }],
      prepayFor: [dialed],
      metadata: { webfones: particulars },
    })
    .catch((error: unknown) => {
      // Nothing registered and no mobile: the plan had no leg to ring.
      if (isDialplaneError(error) && error.code === 'validation_failed' && error.details?.field === 'to') {
        throw new DialplaneError('validation_failed', 'no devices', { field: 'extension', problem: NO_DEVICES });
      }
      throw error;
    });
  return call.id;
}

/**
 * POST /dialer/call (and /dailer/call, as the document's examples write it; the face is served under both
 * prefixes): 200 {"status":"200","message":"Success"} once every device and the mobile are ringing. The call's id is
 * in the X-Call-Id header, for reading it back through /dialplane/v1/calls.
 */
export function registerDialerRoute(app: FastifyInstance, services: Services, calls: CallControl | undefined): void {
  app.post(
    '/call',
    {
      config: webFonesRoute,
      schema: {
        tags: ['WebFones'],
        summary: 'Ring every device of an extension, then call phonenumber and bridge',
        security: [{ apiKeyHeader: [] }, { bearer: [] }],
        body: {
          type: 'object',
          properties: {
            extension: { type: 'string', description: 'the extension number to originate the call from (309)' },
            phonenumber: { type: 'string', description: 'the destination phone number (15808675309)' },
          },
        },
      },
    },
    async (request, reply) => {
      const accountId = request.principal?.accountId;
      if (accountId === undefined) throw new DialplaneError('missing_credentials');
      const callId = await placeClickToCall(services, calls, accountId, {
        extension: field(request.body, 'extension'),
        phonenumber: field(request.body, 'phonenumber'),
      });
      return reply.header('x-call-id', callId).status(200).send(WEBFONES_BODIES.success);
    },
  );
}
