import { Type } from '@sinclair/typebox';
import type { FastifySchemaValidationError } from 'fastify';
import { DialplaneError } from '../../errors.js';
import type { RateWindow } from '../rate-limit/rate-limiter.js';
import type { RouteSettings } from '../types.js';
import { describeViolation, type SchemaViolation } from '../validation-message.js';

/** Dialplane's own API lives under this prefix; no face uses it. */
export const DIALPLANE_API_PREFIX = '/dialplane/v1';

const MINUTE = 60_000;

/** Per API key, over every /dialplane/v1 route; counted apart from any face's windows. */
export const dialplaneWindows = {
  requests: { name: 'requests', limit: 1_200, windowMs: MINUTE },
} as const satisfies Record<string, RateWindow>;

/** Route settings of /dialplane/v1: an API key as a Bearer token or in X-API-Key, and the API's own rate limit. */
export function dialplaneRoute(): { dialplane: RouteSettings } {
  return {
    dialplane: {
      auth: ['bearer', 'x-api-key'],
      rateLimit: { subject: 'key', scope: 'dialplane', windows: [dialplaneWindows.requests] },
    },
  };
}

/** The OpenAPI security of every /dialplane/v1 route: either scheme. */
export const dialplaneSecurity: ReadonlyArray<Record<string, readonly string[]>> = [{ bearer: [] }, { apiKeyHeader: [] }];

export const dialplaneTags = (name: string) => [`Dialplane: ${name}`];

export const ErrorBody = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'a stable code from docs/errors.md' }),
      message: Type.String(),
      details: Type.Optional(Type.Unknown({ description: 'field: the request field at fault, when there is one' })),
    }),
  },
  { description: 'The standard error body' },
);

/** Error responses every /dialplane/v1 route may give, for the OpenAPI document. */
export function errorResponses(...statuses: number[]): Record<number, typeof ErrorBody> {
  return Object.fromEntries([400, 401, 403, 429, ...statuses].map((status) => [status, ErrorBody]));
}

/**
 * The first schema violation as validation_failed naming the field: a missing one, an unknown one, a wrong type or
 * value (the path of the value, e.g. `program.2`).
 */
export function dialplaneValidationError(
  errors: FastifySchemaValidationError[],
  dataVar: 'body' | 'headers' | 'params' | 'querystring',
): DialplaneError {
  const first = errors[0];
  const params = (first?.params ?? {}) as { missingProperty?: string; additionalProperty?: string };
  const path = (first?.instancePath ?? '').replace(/^\//, '').replaceAll('/', '.');
  const join = (name: string) => (path ? `${path}.${name}` : name);
  if (first?.keyword === 'required' && params.missingProperty) {
    return new DialplaneError('validation_failed', `${join(params.missingProperty)} is required`, {
      location: dataVar,
      field: join(params.missingProperty),
    });
  }
  if (first?.keyword === 'additionalProperties' && params.additionalProperty) {
    return new DialplaneError('validation_failed', `unknown field ${join(params.additionalProperty)}`, {
      location: dataVar,
      field: join(params.additionalProperty),
    });
  }
  const { field, message } = describeViolation(errors as readonly SchemaViolation[], dataVar);
  return new DialplaneError('validation_failed', message, { location: dataVar, ...(field ? { field } : {}) });
}
