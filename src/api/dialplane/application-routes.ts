import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Application } from '../../core/applications.js';
import type { Services } from '../../core/services.js';
import { DialplaneError } from '../../errors.js';
import {
  DIALPLANE_API_PREFIX,
  dialplaneRoute,
  dialplaneSecurity,
  dialplaneTags,
  dialplaneValidationError,
  errorResponses,
} from './policy.js';

/** An application as every API shows it: never its hook secret, which only the creation answer carries. */
export function applicationView(a: Application) {
  return {
    id: a.id,
    name: a.name,
    call_hook: a.callHook,
    status_hook: a.statusHook,
    program: a.program,
    created_at: a.createdAt,
  };
}

const HookUrl = (description: string) => Type.String({ minLength: 1, maxLength: 2048, description });
const Id = Type.String({ minLength: 1, maxLength: 64, description: 'the application id (app_…)' });

export const CreateApplication = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100, description: 'a name to recognise the application by' }),
    call_hook: Type.Optional(
      HookUrl('http(s) URL asked, with a signed POST, for the verbs a call runs; give this or program'),
    ),
    status_hook: Type.Optional(HookUrl("http(s) URL that receives the call.* status events of the application's calls")),
    program: Type.Optional(
      Type.Array(Type.Unknown(), {
        description: 'a verb program run by every call of the application instead of asking a hook; give this or call_hook',
      }),
    ),
  },
  { additionalProperties: false },
);
export type CreateApplicationBody = Static<typeof CreateApplication>;

export const UpdateApplication = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'a new name' })),
    call_hook: Type.Optional(HookUrl('a new call hook; a program application becomes a hook application (its program goes)')),
    status_hook: Type.Optional(
      Type.Union([HookUrl('a new status hook URL'), Type.Null()], { description: 'a new status hook URL, or null to remove it' }),
    ),
    program: Type.Optional(
      Type.Array(Type.Unknown(), {
        description: 'a new program; a hook application becomes a program application (its call hook goes)',
      }),
    ),
    rotate_hook_secret: Type.Optional(
      Type.Boolean({ description: 'true: a new hook secret, in this answer only; the old one stops signing at once' }),
    ),
  },
  { additionalProperties: false },
);
export type UpdateApplicationBody = Static<typeof UpdateApplication>;

const ApplicationSchema = Type.Object(
  {
    id: Type.String({ description: 'app_…' }),
    name: Type.String(),
    call_hook: Type.Union([Type.String(), Type.Null()]),
    status_hook: Type.Union([Type.String(), Type.Null()]),
    program: Type.Unknown({ description: 'the stored program (an array of verbs), or null for a hook application' }),
    created_at: Type.String({ description: 'ISO-8601' }),
  },
  { description: 'An application' },
);
const CreatedApplication = Type.Intersect([
  ApplicationSchema,
  Type.Object({
    hook_secret: Type.String({
      description: 'signs every hook request and status event (X-Dialplane-Signature); shown here only, store it now',
    }),
  }),
]);

const UpdatedApplication = Type.Intersect([
  ApplicationSchema,
  Type.Object({
    hook_secret: Type.Optional(
      Type.String({ description: 'the new hook secret, only when rotate_hook_secret was asked for; shown here only' }),
    ),
  }),
]);

/** services' update input from the wire's: only what is given. */
export function updateInput(body: UpdateApplicationBody) {
  return {
    ...(body.name !== undefined ? { name: body.name } : {}),
    ...(body.call_hook !== undefined ? { callHook: body.call_hook } : {}),
    ...(body.status_hook !== undefined ? { statusHook: body.status_hook } : {}),
    ...(body.program !== undefined ? { program: body.program } : {}),
    ...(body.rotate_hook_secret !== undefined ? { rotateHookSecret: body.rotate_hook_secret } : {}),
  };
}

/** The body of services' create input from the wire's. */
export function createInput(body: CreateApplicationBody) {
  return {
    name: body.name,
    ...(body.call_hook !== undefined ? { callHook: body.call_hook } : {}),
    ...(body.status_hook !== undefined ? { statusHook: body.status_hook } : {}),
    ...(body.program !== undefined ? { program: body.program } : {}),
  };
}

function accountOf(request: { principal?: { accountId: string } | undefined }): string {
  if (!request.principal) throw new DialplaneError('missing_credentials');
  return request.principal.accountId;
}

/** POST, GET, PATCH and DELETE /dialplane/v1/applications[/{id}], for the key's account. */
export function registerApplicationRoutes(app: FastifyInstance, services: Services): void {
  const base = `${DIALPLANE_API_PREFIX}/applications`;
  const schema = (summary: string, extra: Record<string, unknown>) => ({
    tags: dialplaneTags('applications'),
    summary,
    security: dialplaneSecurity,
    ...extra,
  });
  const Params = Type.Object({ id: Id });

  app.post<{ Body: CreateApplicationBody }>(
    base,
    {
      config: dialplaneRoute(),
      schemaErrorFormatter: dialplaneValidationError,
      schema: schema('Create an application: a call hook (and optional status hook) or a stored program', {
        body: CreateApplication,
        response: { 201: CreatedApplication, ...errorResponses() },
      }),
    },
    async (request, reply) => {
      const { application, hookSecret } = await services.applications.create(accountOf(request), createInput(request.body));
      return reply.status(201).send({ ...applicationView(application), hook_secret: hookSecret });
    },
  );
  app.get(
    base,
    {
      config: dialplaneRoute(),
      schema: schema("The account's applications", {
        response: { 200: Type.Object({ applications: Type.Array(ApplicationSchema) }), ...errorResponses() },
      }),
    },
    async (request) => ({ applications: (await services.applications.list(accountOf(request))).map(applicationView) }),
  );
  app.get<{ Params: { id: string } }>(
    `${base}/:id`,
    {
      config: dialplaneRoute(),
      schemaErrorFormatter: dialplaneValidationError,
      schema: schema('An application', { params: Params, response: { 200: ApplicationSchema, ...errorResponses(404) } }),
    },
    async (request) => applicationView(await services.applications.get(accountOf(request), request.params.id)),
  );
  app.patch<{ Params: { id: string }; Body: UpdateApplicationBody }>(
    `${base}/:id`,
    {
      config: dialplaneRoute(),
      schemaErrorFormatter: dialplaneValidationError,
      schema: schema(
        'Change an application: only the fields given; call_hook or program switches what answers its calls. Running calls keep what they started with',
        { params: Params, body: UpdateApplication, response: { 200: UpdatedApplication, ...errorResponses(404) } },
      ),
    },
    async (request) => {
      const { application, hookSecret } = await services.applications.update(accountOf(request), request.params.id, updateInput(request.body));
      return { ...applicationView(application), ...(hookSecret !== undefined ? { hook_secret: hookSecret } : {}) };
    },
  );
  app.delete<{ Params: { id: string } }>(
    `${base}/:id`,
    {
      config: dialplaneRoute(),
      schemaErrorFormatter: dialplaneValidationError,
      schema: schema('Delete an application and its status-hook endpoint; refused (409) while a number routes to it', {
        params: Params,
        response: { 204: Type.Null({ description: 'deleted' }), ...errorResponses(404, 409) },
      }),
    },
    async (request, reply) => {
      await services.applications.remove(accountOf(request), request.params.id);
      return reply.status(204).send();
    },
  );
}
