import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { User } from '../../core/accounts.js';
import { permissionOf, type Permission } from '../../core/directory.js';
import type { Services } from '../../core/services.js';
import { DialplaneError } from '../../errors.js';
import type { RouteSettings } from '../types.js';

const config = { dialplane: { auth: 'admin' } satisfies RouteSettings };
const security = [{ adminToken: [] }];
const tags = ['Admin: users'];
const Id = Type.String({ minLength: 1, maxLength: 64 });
const PERMISSIONS: readonly Permission[] = ['admin', 'standard', 'view-only'];

export function userView(u: User) {
  return {
    id: u.id,
    email: u.email,
    first_name: u.firstName,
    last_name: u.lastName,
    job_title: u.jobTitle,
    permission: permissionOf(u),
    status: u.status,
    created_at: u.createdAt,
  };
}

export interface CreateUserBody {
  email: string;
  first_name?: string;
  last_name?: string;
  job_title?: string;
  permission?: Permission;
  /** Optional: a user without a password cannot sign in (API keys still work). */
  password?: string;
}

export interface SetPasswordBody {
  password: string;
}

/** The wire shapes of the user operations: served by the admin API and run directly by the CLI without a server. */
export function userOperations(services: Services) {
  return {
    async listUsers(accountId: string) {
      await services.accounts.get(accountId);
      return { users: (await services.accounts.users(accountId)).map(userView) };
    },
    async createUser(accountId: string, body: CreateUserBody) {
      const permission = body.permission ?? 'standard';
      if (!PERMISSIONS.includes(permission)) {
        throw new DialplaneError('validation_failed', 'permission is admin, standard or view-only', { field: 'permission' });
      }
      const user = await services.accounts.addUser(accountId, {
        email: body.email,
        ...(body.first_name !== undefined ? { firstName: body.first_name } : {}),
        ...(body.last_name !== undefined ? { lastName: body.last_name } : {}),
        ...(body.job_title !== undefined ? { jobTitle: body.job_title } : {}),
        admin: permission === 'admin',
        viewOnly: permission === 'view-only',
      });
      if (body.password !== undefined) await services.signIn.setPassword(accountId, user.id, body.password);
      return { user: userView(user) };
    },
    /** `user` is the user's id or email. */
    async setPassword(accountId: string, user: string, body: SetPasswordBody) {
      const users = await services.accounts.users(accountId);
      const found = users.find((u) => u.id === user || u.email === user.trim().toLowerCase());
      if (!found) throw new DialplaneError('not_found', 'user not found');
      await services.signIn.setPassword(accountId, found.id, body.password);
      return { user: userView(found) };
    },
  };
}

export type UserOperations = ReturnType<typeof userOperations>;

export function registerAdminUserRoutes(app: FastifyInstance, services: Services): void {
  const ops = userOperations(services);
  const AccountParams = Type.Object({ accountId: Id });
  const UserParams = Type.Object({ accountId: Id, user: Type.String({ minLength: 1, maxLength: 320 }) });
  const Password = Type.String({ minLength: 8, maxLength: 1024 });
  app.get<{ Params: { accountId: string } }>(
    '/admin/v1/accounts/:accountId/users',
    { config, schema: { tags, summary: 'List users', security, params: AccountParams } },
    async (r) => ops.listUsers(r.params.accountId),
  );
  app.post<{ Params: { accountId: string }; Body: CreateUserBody }>(
    '/admin/v1/accounts/:accountId/users',
    {
      config,
      schema: {
        tags,
        summary: 'Add a user (admin, standard or view-only), with a password to sign in with',
        security,
        params: AccountParams,
        body: Type.Object(
          {
            email: Type.String({ minLength: 3, maxLength: 320 }),
            first_name: Type.Optional(Type.String({ maxLength: 100 })),
            last_name: Type.Optional(Type.String({ maxLength: 100 })),
            job_title: Type.Optional(Type.String({ maxLength: 100 })),
            permission: Type.Optional(Type.Union(PERMISSIONS.map((p) => Type.Literal(p)))),
            password: Type.Optional(Password),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (r, reply) => reply.status(201).send(await ops.createUser(r.params.accountId, r.body)),
  );
  app.put<{ Params: { accountId: string; user: string }; Body: SetPasswordBody }>(
    '/admin/v1/accounts/:accountId/users/:user/password',
    {
      config,
      schema: {
        tags,
        summary: "Set a user's password (by id or email)",
        security,
        params: UserParams,
        body: Type.Object({ password: Password }, { additionalProperties: false }),
      },
    },
    async (r) => ops.setPassword(r.params.accountId, r.params.user, r.body),
  );
}
