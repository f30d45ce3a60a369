import type { FastifyPluginAsync } from 'fastify';
import type { CallControl } from '../core/calls/call-control.js';
import type { Services } from '../core/services.js';
import type { WebhookFormat } from '../core/webhooks.js';
import type { DialplaneError } from '../errors.js';

/** A face shapes errors as its document shows them; everything else about errors is shared. */
export interface ErrorShape {
  readonly status: number;
  readonly body: unknown;
}

export interface FaceErrorFormat {
  format(error: DialplaneError): ErrorShape;
}

/** What places and reads calls for a face; the call model behind it is core's. */
export type FaceCalls = CallControl;

/** What a face's plugin is given: core services only, never the store or the engines. */
export interface FaceOptions {
  readonly services: Services;
  /** Present when telephony runs in this process. */
  readonly calls?: FaceCalls;
}

/** Where faces register their webhook payload formats: the webhook service, when the server is composed. */
export interface FormatRegistry {
  registerFormat(name: string, format: WebhookFormat): void;
}

/**
 * One public API document served by Dialplane. Its plugin declares routes relative to `prefix`; the app registers it
 * in a scope of its own whose errors, unknown routes (404) and wrong methods (405) answer in `errors`' shape.
 */
export interface Face {
  readonly name: string;
  readonly prefix: string;
  /**
   * Further prefixes the same plugin is served under, each a scope of its own like `prefix` (a document that names
   * its path two ways). Never '' or '/': a face's error shape and 404 cover its own paths only.
   */
  readonly aliases?: readonly string[];
  readonly errors: FaceErrorFormat;
  /** Registers the face's webhook payload formats; run when the server is composed, before SIP or SMPP start. */
  readonly formats?: (registry: FormatRegistry) => void;
  readonly plugin: FastifyPluginAsync<FaceOptions>;
}

/** Registers every face's webhook payload formats. */
export function registerFaceFormats(registry: FormatRegistry, faces: readonly Face[]): void {
  for (const face of faces) face.formats?.(registry);
}

/** The shape of the admin API and of any path no face claims: DialAnyone's, which most clients already parse. */
export function standardErrorBody(error: DialplaneError): ErrorShape {
  return {
    status: error.status,
    body: { error: { code: error.code, message: error.message, ...(error.details ? { details: error.details } : {}) } },
  };
}

export const standardFormat: FaceErrorFormat = { format: standardErrorBody };
