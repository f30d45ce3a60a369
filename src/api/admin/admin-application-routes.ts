import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../core/services.js';
import {
  applicationView,
  CreateApplication,
  createInput,
  UpdateApplication,
  updateInput,
  type CreateApplicationBody,
  type UpdateApplicationBody,
} from '../dialplane/application-routes.js';
import { dialplaneValidationError } from '../dialplane/policy.js';
import type { RouteSettings } from '../types.js';

const config = { dialplane: { auth: 'admin' } satisfies RouteSettings };
const security = [{ adminToken: [] }];
const tags = ['Admin: applications'];
const Id = Type.String({ minLength: 1, maxLength: 64 });

/** The wire shapes of the application operations: served by the admin API, and run directly by the CLI without a server. */
export function applicationOperations(services: Services) {
  const ensureAccount = (accountId: string) => services.accounts.get(accountId);
  return {
    async listApplications(accountId: string) {
      await ensureAccount(accountId);
      return { applications: (await services.applications.list(accountId)).map(applicationView) };
    },
    /** The only response that ever carries the hook secret. */
    async createApplication(accountId: string, body: CreateApplicationBody) {
      await ensureAccount(accountId);
      const { application, hookSecret } = await services.applications.create(accountId, createInput(body));
      return { application: applicationView(application), hook_secret: hookSecret };
    },
    async getApplication(accountId: string, applicationId: string) {
      await ensureAccount(accountId);
      return { application: applicationView(await services.applications.get(accountId, applicationId)) };
    },
    /** Carries the hook secret only when a new one was asked for. */
    async updateApplication(accountId: string, applicationId: string, body: UpdateApplicationBody) {
      await ensureAccount(accountId);
      const { application, hookSecret } = await services.applications.update(accountId, applicationId, updateInput(body));
      return { application: applicationView(application), ...(hookSecret !== undefined ? { hook_secret: hookSecret } : {}) };
    },
    async deleteApplication(accountId: string, applicationId: string) {
      await ensureAccount(accountId);
      return { application: applicationView(await services.applications.remove(accountId, applicationId)) };
    },
  };
}

export type ApplicationOperations = ReturnType<typeof applicationOperations>;

type AccountReq = { Params: { accountId: string } };
type ApplicationReq = { Params: { accountId: string; applicationId: string } };

/** An account's applications, for the CLI and the dashboard. */
export function registerAdminApplicationRoutes(app: FastifyInstance, services: Services): void {
  const ops = applicationOperations(services);
  const opts = (summary: string, extra: Record<string, unknown> = {}) => ({
    config,
    schemaErrorFormatter: dialplaneValidationError,
    schema: { tags, summary, security, ...extra },
  });
  const AccountParams = Type.Object({ accountId: Id });
  const ApplicationParams = Type.Object({ accountId: Id, applicationId: Id });

  app.get<AccountReq>(
    '/admin/v1/accounts/:accountId/applications',
    opts('List applications', { params: AccountParams }),
    async (r) => ops.listApplications(r.params.accountId),
  );
  app.post<AccountReq & { Body: CreateApplicationBody }>(
    '/admin/v1/accounts/:accountId/applications',
    opts('Create an application (its hook secret is shown once)', { params: AccountParams, body: CreateApplication }),
    async (r, reply) => reply.status(201).send(await ops.createApplication(r.params.accountId, r.body)),
  );
  app.get<ApplicationReq>(
    '/admin/v1/accounts/:accountId/applications/:applicationId',
    opts('An application', { params: ApplicationParams }),
    async (r) => ops.getApplication(r.params.accountId, r.params.applicationId),
  );
  app.patch<ApplicationReq & { Body: UpdateApplicationBody }>(
    '/admin/v1/accounts/:accountId/applications/:applicationId',
    opts('Change an application (only the fields given; a new hook secret only with rotate_hook_secret)', {
      params: ApplicationParams,
      body: UpdateApplication,
    }),
    async (r) => ops.updateApplication(r.params.accountId, r.params.applicationId, r.body),
  );
  app.delete<ApplicationReq>(
    '/admin/v1/accounts/:accountId/applications/:applicationId',
    opts('Delete an application; refused (409) while a number routes to it', { params: ApplicationParams }),
    async (r) => ops.deleteApplication(r.params.accountId, r.params.applicationId),
  );
}
