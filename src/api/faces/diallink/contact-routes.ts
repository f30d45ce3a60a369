import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { ContactInput } from '../../../core/contacts.js';
import { contactResource } from '../../../core/query/resources.js';
import type { Services } from '../../../core/services.js';
import { dialLinkRoute, listQuery, principalOf } from './policy.js';
import { contactBody, page } from './render.js';

const tags = ['DialLink phone system'];
const security: Array<Record<string, string[]>> = [{ apiKeyHeader: [] }, { bearer: [] }];

const Text = Type.Union([Type.String({ maxLength: 255 }), Type.Null()]);
const Flag = Type.Union([Type.Boolean(), Type.Null()]);
const Id = Type.Optional(Type.String({ maxLength: 64 }));

/**
 * The document's ContactRequest. Unknown fields (the id and times of an object read back and sent again) are
 * ignored. The document's example also puts one address at the top level (addressLine1, city, country...): that
 * becomes the contact's address when no `addresses` list is given.
 */
const ContactRequest = Type.Object(
  {
    firstName: Type.Optional(Text),
    lastName: Type.Optional(Text),
    companyName: Type.Optional(Text),
    jobTitle: Type.Optional(Text),
    industry: Type.Optional(Text),
    employeeCount: Type.Optional(Type.Union([Type.Integer({ minimum: 0 }), Type.String({ pattern: '^[0-9]{1,15}$' }), Type.Null()])),
    type: Type.Optional(Text),
    shared: Type.Optional(Flag),
    favorite: Type.Optional(Flag),
    forceSave: Type.Optional(Flag),
    phoneNumbers: Type.Optional(
      Type.Union([Type.Array(Type.Object({ id: Id, type: Type.Optional(Text), phoneNumber: Type.Optional(Text) }), { maxItems: 50 }), Type.Null()]),
    ),
    emails: Type.Optional(Type.Union([Type.Array(Type.Object({ id: Id, type: Type.Optional(Text), email: Type.Optional(Text) }), { maxItems: 50 }), Type.Null()])),
    addresses: Type.Optional(
      Type.Union([
        Type.Array(
          Type.Object({
            id: Id,
            type: Type.Optional(Text),
            addressLine1: Type.Optional(Text),
            addressLine2: Type.Optional(Text),
            city: Type.Optional(Text),
            state: Type.Optional(Text),
            zip: Type.Optional(Text),
            country: Type.Optional(Text),
          }),
          { maxItems: 50 },
        ),
        Type.Null(),
      ]),
    ),
    addressLine1: Type.Optional(Text),
    addressLine2: Type.Optional(Text),
    city: Type.Optional(Text),
    state: Type.Optional(Text),
    zip: Type.Optional(Text),
    country: Type.Optional(Text),
  },
  { additionalProperties: true },
);
type ContactRequestBody = Static<typeof ContactRequest>;

const TOP_LEVEL_ADDRESS = ['addressLine1', 'addressLine2', 'city', 'state', 'zip', 'country'] as const;

function toInput(body: ContactRequestBody): ContactInput {
  const { employeeCount, addressLine1: _a1, addressLine2: _a2, city: _c, state: _s, zip: _z, country: _co, ...rest } = body;
  const topAddress = TOP_LEVEL_ADDRESS.some((f) => body[f] !== undefined && body[f] !== null);
  return {
    firstName: rest.firstName,
    lastName: rest.lastName,
    companyName: rest.companyName,
    jobTitle: rest.jobTitle,
    industry: rest.industry,
    type: rest.type,
    shared: rest.shared,
    favorite: rest.favorite,
    forceSave: rest.forceSave,
    phoneNumbers: rest.phoneNumbers,
    emails: rest.emails,
    addresses:
      rest.addresses === undefined && topAddress
        ? [{ type: 'WORK', ...Object.fromEntries(TOP_LEVEL_ADDRESS.map((f) => [f, body[f] ?? null])) }]
        : rest.addresses,
    ...(employeeCount === undefined ? {} : { employeeCount: employeeCount === null ? null : Number(employeeCount) }),
  };
}

/** Contacts: POST 201, GET list and one, PUT replaces, PATCH changes what it names, DELETE 204. */
export function registerContactRoutes(app: FastifyInstance, services: Services): void {
  app.get('/contacts', { config: dialLinkRoute, schema: { tags, summary: 'List contacts (paging, sorting, advanced filtering)', security } }, async (request) =>
    page(await services.contacts.page(principalOf(request).accountId, listQuery(request, contactResource)), contactBody),
  );
  app.post<{ Body: ContactRequestBody }>(
    '/contacts',
    { config: dialLinkRoute, schema: { tags, summary: 'Create a contact', security, body: ContactRequest } },
    async (request, reply) => {
      const contact = await services.contacts.create(principalOf(request).accountId, toInput(request.body));
      return reply.status(201).send(contactBody(contact));
    },
  );
  app.get<{ Params: { id: string } }>('/contacts/:id', { config: dialLinkRoute, schema: { tags, summary: 'Get a contact', security } }, async (request) =>
    contactBody(await services.contacts.get(principalOf(request).accountId, request.params.id)),
  );
  app.put<{ Params: { id: string }; Body: ContactRequestBody }>(
    '/contacts/:id',
    { config: dialLinkRoute, schema: { tags, summary: 'Replace a contact', security, body: ContactRequest } },
    async (request) => contactBody(await services.contacts.replace(principalOf(request).accountId, request.params.id, toInput(request.body))),
  );
  app.patch<{ Params: { id: string }; Body: ContactRequestBody }>(
    '/contacts/:id',
    { config: dialLinkRoute, schema: { tags, summary: 'Change some fields of a contact', security, body: ContactRequest } },
    async (request) => contactBody(await services.contacts.patch(principalOf(request).accountId, request.params.id, toInput(request.body))),
  );
  app.delete<{ Params: { id: string } }>(
    '/contacts/:id',
    { config: dialLinkRoute, schema: { tags, summary: 'Delete a contact (204 No Content)', security } },
    async (request, reply) => {
      await services.contacts.delete(principalOf(request).accountId, request.params.id);
      return reply.status(204).send();
    },
  );
}
