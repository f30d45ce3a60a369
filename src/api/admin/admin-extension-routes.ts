import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Device, Extension, NumberRoute, NumberRouting } from '../../core/extensions.js';
import type { Services } from '../../core/services.js';
import { DialplaneError } from '../../errors.js';
import type { RouteSettings } from '../types.js';
import type { SrtpPolicy } from '../../sdp/types.js';

const config = { dialplane: { auth: 'admin' } satisfies RouteSettings };
const security = [{ adminToken: [] }];
const tags = ['Admin: extensions'];
const Id = Type.String({ minLength: 1, maxLength: 64 });
const PhoneNumberText = Type.String({ minLength: 1, maxLength: 40 });

export function extensionView(e: Extension) {
  return { id: e.id, name: e.name, number: e.number, mobile: e.mobile, srtp: e.srtp, created_at: e.createdAt };
}

/** Never the HA1: the password is shown once, by addDevice, and nothing derived from it after. */
export function deviceView(d: Device) {
  return { id: d.id, extension_id: d.extensionId, username: d.username, realm: d.realm, created_at: d.createdAt };
}

export function routeView(r: NumberRouting) {
  return {
    number: r.number,
    number_id: r.numberId,
    extension_id: r.extensionId,
    forward_to: r.forwardTo,
    application_id: r.applicationId,
    rings: ringsOf(r),
  };
}

/** What a route does, in one word. */
export function ringsOf(r: NumberRouting): 'extension' | 'forward' | 'answer' | 'application' | 'none' {
  if (r.extensionId !== null) return 'extension';
  if (r.forwardTo !== null) return 'forward';
  if (r.applicationId !== null) return 'application';
  return r.answer ? 'answer' : 'none';
}

export interface CreateExtensionBody {
  name?: string;
  /** The short number the extension is dialled by (309). */
  number?: string;
  /** A mobile rung together with the extension's devices. */
  mobile?: string;
  /** SRTP for its devices' calls: off (default), offer or require. */
  srtp?: SrtpPolicy;
}

/** null clears the number or the mobile. */
export interface UpdateExtensionBody {
  name?: string;
  number?: string | null;
  mobile?: string | null;
  srtp?: SrtpPolicy;
}

export interface AddDeviceBody {
  username?: string;
}

export interface RouteBody {
  extension_id?: string;
  /** The application whose call hook or program takes the number's calls. */
  application_id?: string;
  forward_to?: string;
  /** true: Dialplane answers the number's calls itself. */
  answer?: boolean;
}

/** The wire shapes of the extension operations: served by the admin API, and run directly by the CLI without a server. */
export function extensionOperations(services: Services) {
  const ensureAccount = (accountId: string) => services.accounts.get(accountId);
  return {
    async listExtensions(accountId: string) {
      await ensureAccount(accountId);
      return { extensions: (await services.extensions.list(accountId)).map(extensionView) };
    },
    async createExtension(accountId: string, body: CreateExtensionBody) {
      await ensureAccount(accountId);
      return {
        extension: extensionView(
          await services.extensions.create(accountId, { name: body.name, number: body.number, mobile: body.mobile, srtp: body.srtp }),
        ),
      };
    },
    async updateExtension(accountId: string, extensionId: string, body: UpdateExtensionBody) {
      await ensureAccount(accountId);
      return {
        extension: extensionView(
          await services.extensions.update(accountId, extensionId, { name: body.name, number: body.number, mobile: body.mobile, srtp: body.srtp }),
        ),
      };
    },
    async getExtension(accountId: string, extensionId: string) {
      await ensureAccount(accountId);
      const extension = await services.extensions.get(accountId, extensionId);
      const devices = await services.extensions.listDevices(accountId, extensionId);
      return { extension: extensionView(extension), devices: devices.map(deviceView) };
    },
    async deleteExtension(accountId: string, extensionId: string) {
      await ensureAccount(accountId);
      const result = await services.extensions.delete(accountId, extensionId);
      return {
        extension: extensionView(result.extension),
        deleted_device_ids: [...result.deletedDeviceIds],
        unrouted_numbers: [...result.unroutedNumbers],
      };
    },
    /** The only response that ever carries the device's password. */
    async addDevice(accountId: string, extensionId: string, body: AddDeviceBody) {
      await ensureAccount(accountId);
      const { device, password } = await services.extensions.addDevice(accountId, extensionId, {
        ...(body.username !== undefined ? { username: body.username } : {}),
      });
      return { device: deviceView(device), username: device.username, password, realm: device.realm };
    },
    async listDevices(accountId: string, extensionId?: string) {
      await ensureAccount(accountId);
      return { devices: (await services.extensions.listDevices(accountId, extensionId)).map(deviceView) };
    },
    async deleteDevice(accountId: string, deviceId: string) {
      await ensureAccount(accountId);
      return { device: deviceView(await services.extensions.deleteDevice(accountId, deviceId)) };
    },
    async listRoutes(accountId: string) {
      await ensureAccount(accountId);
      return { routes: (await services.extensions.routes(accountId)).map(routeView) };
    },
    async getRoute(accountId: string, number: string) {
      await ensureAccount(accountId);
      return { route: routeView(await services.extensions.getRoute(accountId, number)) };
    },
    /** {extension_id} rings the extension's devices, {application_id} runs the application, {forward_to} forwards, {} rings nothing. */
    async setRoute(accountId: string, number: string, body: RouteBody) {
      await ensureAccount(accountId);
      return { route: routeView(await services.extensions.route(accountId, number, routeFromBody(body))) };
    },
  };
}

export type ExtensionOperations = ReturnType<typeof extensionOperations>;

export function routeFromBody(body: RouteBody): NumberRoute {
  const given: string[] = (['extension_id', 'application_id', 'forward_to'] as const).filter((field) => body[field] !== undefined);
  if (body.answer === true) given.push('answer');
  if (given.length > 1) {
    throw new DialplaneError('validation_failed', 'give one of extension_id, application_id, forward_to or answer', { field: given[1] });
  }
  if (body.extension_id !== undefined) return { extensionId: body.extension_id };
  if (body.application_id !== undefined) return { applicationId: body.application_id };
  if (body.forward_to !== undefined) return { forwardTo: body.forward_to };
  if (body.answer === true) return { answer: true };
  return { none: true };
}

const SrtpPolicyText = Type.Union([Type.Literal('off'), Type.Literal('offer'), Type.Literal('require')], {
  description: "SRTP (SDES) for its devices' calls: off, offer (when the device agrees) or require (plain RTP refused 488)",
});
const ExtensionNumber = Type.String({ pattern: '^[0-9]{1,8}$', description: '1 to 8 digits, unique in the account (309)' });
const CreateExtension = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    number: Type.Optional(ExtensionNumber),
    mobile: Type.Optional(PhoneNumberText),
    srtp: Type.Optional(SrtpPolicyText),
  },
  { additionalProperties: false, description: 'name, or number (the name is then "Extension <number>"), an optional mobile and SRTP policy' },
);
const UpdateExtension = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    number: Type.Optional(Type.Union([ExtensionNumber, Type.Null()])),
    mobile: Type.Optional(Type.Union([PhoneNumberText, Type.Null()])),
    srtp: Type.Optional(SrtpPolicyText),
  },
  { additionalProperties: false, description: 'the fields to change; null clears number or mobile' },
);
const AddDevice = Type.Object(
  { username: Type.Optional(Type.String({ pattern: '^[a-z0-9_.-]{3,64}$', description: '3 to 64 of a-z 0-9 _ . -' })) },
  { additionalProperties: false },
);
const Route = Type.Object(
  {
    extension_id: Type.Optional(Id),
    application_id: Type.Optional(Id),
    forward_to: Type.Optional(PhoneNumberText),
    answer: Type.Optional(Type.Boolean()),
  },
  {
    additionalProperties: false,
    description:
      '{extension_id}, {application_id} (its call hook or program takes the calls), {forward_to} (E.164), {answer: true} (Dialplane answers), or {} to ring nothing',
  },
);
const DevicesQuery = Type.Object({ extension_id: Type.Optional(Id) }, { additionalProperties: false });

type AccountReq = { Params: { accountId: string } };
type ExtensionReq = { Params: { accountId: string; extensionId: string } };
type DeviceReq = { Params: { accountId: string; deviceId: string } };
type NumberReq = { Params: { accountId: string; number: string } };

/** Extensions, their devices, and where each number rings. */
export function registerAdminExtensionRoutes(app: FastifyInstance, services: Services): void {
  const ops = extensionOperations(services);
  const opts = (summary: string, extra: Record<string, unknown> = {}) => ({ config, schema: { tags, summary, security, ...extra } });
  const AccountParams = Type.Object({ accountId: Id });
  const ExtensionParams = Type.Object({ accountId: Id, extensionId: Id });
  const DeviceParams = Type.Object({ accountId: Id, deviceId: Id });
  const NumberParams = Type.Object({ accountId: Id, number: PhoneNumberText });

  app.get<AccountReq>(
    '/admin/v1/accounts/:accountId/extensions',
    opts('List extensions', { params: AccountParams }),
    async (r) => ops.listExtensions(r.params.accountId),
  );
  app.post<AccountReq & { Body: CreateExtensionBody }>(
    '/admin/v1/accounts/:accountId/extensions',
    opts('Create an extension (a group of devices rung together)', { params: AccountParams, body: CreateExtension }),
    async (r, reply) => reply.status(201).send(await ops.createExtension(r.params.accountId, r.body)),
  );
  app.get<ExtensionReq>(
    '/admin/v1/accounts/:accountId/extensions/:extensionId',
    opts('An extension and its devices', { params: ExtensionParams }),
    async (r) => ops.getExtension(r.params.accountId, r.params.extensionId),
  );
  app.patch<ExtensionReq & { Body: UpdateExtensionBody }>(
    '/admin/v1/accounts/:accountId/extensions/:extensionId',
    opts("Change an extension's name, number or mobile", { params: ExtensionParams, body: UpdateExtension }),
    async (r) => ops.updateExtension(r.params.accountId, r.params.extensionId, r.body ?? {}),
  );
  app.delete<ExtensionReq>(
    '/admin/v1/accounts/:accountId/extensions/:extensionId',
    opts('Delete an extension with its devices; numbers that rang it ring nothing', { params: ExtensionParams }),
    async (r) => ops.deleteExtension(r.params.accountId, r.params.extensionId),
  );
  app.post<ExtensionReq & { Body: AddDeviceBody }>(
    '/admin/v1/accounts/:accountId/extensions/:extensionId/devices',
    opts('Add a SIP device to an extension (its password is shown once)', { params: ExtensionParams, body: AddDevice }),
    async (r, reply) => reply.status(201).send(await ops.addDevice(r.params.accountId, r.params.extensionId, r.body ?? {})),
  );
  app.get<AccountReq & { Querystring: { extension_id?: string } }>(
    '/admin/v1/accounts/:accountId/devices',
    opts('List devices, optionally of one extension', { params: AccountParams, querystring: DevicesQuery }),
    async (r) => ops.listDevices(r.params.accountId, r.query.extension_id),
  );
  app.delete<DeviceReq>(
    '/admin/v1/accounts/:accountId/devices/:deviceId',
    opts('Delete a device', { params: DeviceParams }),
    async (r) => ops.deleteDevice(r.params.accountId, r.params.deviceId),
  );
  app.get<AccountReq>(
    '/admin/v1/accounts/:accountId/routes',
    opts('Numbers that route somewhere: an extension, a forward, an application, or answered here', { params: AccountParams }),
    async (r) => ops.listRoutes(r.params.accountId),
  );
  app.get<NumberReq>(
    '/admin/v1/accounts/:accountId/numbers/:number/route',
    opts('Where a number rings (URL-encode the +: %2B)', { params: NumberParams }),
    async (r) => ops.getRoute(r.params.accountId, r.params.number),
  );
  app.put<NumberReq & { Body: RouteBody }>(
    '/admin/v1/accounts/:accountId/numbers/:number/route',
    opts('Set where a number rings (URL-encode the +: %2B)', { params: NumberParams, body: Route }),
    async (r) => ops.setRoute(r.params.accountId, r.params.number, r.body ?? {}),
  );
}
