import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createTestApp, seedAccount, type TestApp } from '../../helpers/app.js';
import { describeEachDialect } from '../../helpers/databases.js';

/** The DialLink document's example flow, request by request, with the document's URLs and bodies. */

const SOPHIA = {
  firstName: 'Sophia',
  lastName: 'Brooks',
  companyName: 'Company inc.',
  shared: false,
  favorite: false,
  phoneNumbers: [{ type: 'WORK', phoneNumber: '+17175501675' }],
};

const DOCUMENTED_CONTACT_KEYS = ['firstName', 'lastName', 'companyName', 'shared', 'addresses', 'phoneNumbers', 'emails', 'favorite', 'forceSave', 'id', 'type'];
const PAGING_KEYS = ['pageNumber', 'pageSize', 'totalNumberOfRecords', 'totalNumberOfPages', 'hasNextPage', 'hasPreviousPage', 'sortingCriteria', 'hasMore'];

await describeEachDialect('DialLink: the document example flow', (dialect) => {
  let t: TestApp;
  let key: string;
  before(async () => {
    t = await createTestApp(dialect);
    key = (await seedAccount(t.services)).token;
  });
  after(() => t.close());

  const get = (url: string) => t.app.inject({ method: 'GET', url, headers: { accept: 'application/json', 'x-api-key': key } });

  test('create Sophia Brooks, list, filter, match, sort and page, delete', async () => {
    const created = await t.app.inject({
      method: 'POST',
      url: '/v1/phone-system/contacts',
      headers: { accept: 'application/json', 'x-api-key': key, 'content-type': 'application/json' },
      payload: SOPHIA,
    });
    assert.equal(created.statusCode, 201, created.body);
    const contact = created.json();
    assert.deepEqual(Object.keys(contact).slice(0, DOCUMENTED_CONTACT_KEYS.length), DOCUMENTED_CONTACT_KEYS);
    assert.equal(contact.type, 'EXTERNAL');
    assert.equal(contact.forceSave, false);
    assert.deepEqual(contact.addresses, []);
    assert.deepEqual(contact.emails, []);
    assert.deepEqual(Object.keys(contact.phoneNumbers[0]), ['type', 'id', 'phoneNumber']);
    assert.equal(contact.phoneNumbers[0].phoneNumber, '+17175501675');

    const list = await get('/v1/phone-system/contacts');
    assert.equal(list.statusCode, 200);
    assert.deepEqual(Object.keys(list.json()), ['data', 'paging']);
    assert.deepEqual(list.json().data, [contact]);
    assert.deepEqual(list.json().paging, {
      pageNumber: 1,
      pageSize: 20,
      totalNumberOfRecords: 1,
      totalNumberOfPages: 1,
      hasNextPage: false,
      hasPreviousPage: false,
      sortingCriteria: null,
      hasMore: false,
    });

    const advanced = await get('/v1/phone-system/contacts?filter=AND(eq(firstName,Sophia),like(phoneNumbers.phoneNumber,1675))');
    assert.equal(advanced.statusCode, 200, advanced.body);
    assert.deepEqual(advanced.json().data.map((c: { id: string }) => c.id), [contact.id]);
    const advancedMiss = await get('/v1/phone-system/contacts?filter=AND(eq(firstName,Sophia),like(phoneNumbers.phoneNumber,9999))');
    assert.deepEqual(advancedMiss.json().data, []);

    const match = await get('/v1/phone-system/contacts?fullName=like::So');
    assert.equal(match.statusCode, 200, match.body);
    assert.deepEqual(match.json().data.map((c: { id: string }) => c.id), [contact.id]);
    assert.deepEqual((await get('/v1/phone-system/contacts?fullName=like::Lx')).json().data, []);

    const sorted = await get('/v1/phone-system/contacts?pageSize=5&sort=-updatedAt');
    assert.equal(sorted.statusCode, 200, sorted.body);
    assert.deepEqual(Object.keys(sorted.json().paging), PAGING_KEYS);
    assert.equal(sorted.json().paging.pageSize, 5);
    assert.equal(sorted.json().paging.sortingCriteria, '-updatedAt');
    assert.equal(sorted.json().data.length, 1);

    const deleted = await t.app.inject({
      method: 'DELETE',
      url: `/v1/phone-system/contacts/${contact.id}`,
      headers: { accept: 'application/json', 'x-api-key': key },
    });
    assert.equal(deleted.statusCode, 204);
    assert.equal(deleted.body, '');
    assert.equal((await get(`/v1/phone-system/contacts/${contact.id}`)).statusCode, 404);
    assert.equal((await get('/v1/phone-system/contacts')).json().paging.totalNumberOfRecords, 0);
  });

  test("the Quick Start's GET /v1/phone-system/users and the users' fields", async () => {
    const users = await get('/v1/phone-system/users');
    assert.equal(users.statusCode, 200, users.body);
    const [user] = users.json().data;
    assert.deepEqual(Object.keys(user), ['id', 'status', 'email', 'firstName', 'lastName', 'jobTitle', 'admin', 'parallelCallsEnabled']);
    assert.deepEqual(user.status, { status: 'OFFLINE' });
    assert.equal(user.admin, true);
    assert.equal((await get('/v1/phone-system/users?pageSize=1')).json().paging.pageSize, 1);
  });

  test('paging over several pages: hasNextPage, hasPreviousPage and hasMore', async () => {
    for (let i = 0; i < 7; i++) {
      t.clock.advance(1000);
      await t.services.contacts.create((await t.services.accounts.list())[0]!.id, { firstName: `P${i}`, lastName: 'Page' });
    }
    const first = (await get('/v1/phone-system/contacts?pageSize=3&sort=+firstName')).json();
    assert.deepEqual(first.data.map((c: { firstName: string }) => c.firstName), ['P0', 'P1', 'P2']);
    assert.deepEqual(first.paging, {
      pageNumber: 1,
      pageSize: 3,
      totalNumberOfRecords: 7,
      totalNumberOfPages: 3,
      hasNextPage: true,
      hasPreviousPage: false,
      sortingCriteria: '+firstName',
      hasMore: true,
    });
    const last = (await get('/v1/phone-system/contacts?pageSize=3&pageNumber=3&sort=-updatedAt')).json();
    assert.deepEqual(last.data.map((c: { firstName: string }) => c.firstName), ['P0']);
    assert.equal(last.paging.hasNextPage, false);
    assert.equal(last.paging.hasPreviousPage, true);
    assert.equal(last.paging.hasMore, false);
    assert.equal((await get('/v1/phone-system/contacts?pageSize=101')).statusCode, 400);
    assert.equal((await get('/v1/phone-system/contacts?pageNumber=0')).statusCode, 400);
  });

  test('a malformed filter is a 400 naming the position; an unknown field a 400 naming it', async () => {
    const malformed = await get('/v1/phone-system/contacts?filter=AND(eq(firstName,Sophia)');
    assert.equal(malformed.statusCode, 400);
    assert.equal(malformed.json().code, 'invalid_filter');
    assert.equal(malformed.json().details.position, 24);
    assert.match(malformed.json().description, /position 24/);
    const unknown = await get('/v1/phone-system/contacts?filter=eq(password,x)');
    assert.equal(unknown.statusCode, 400);
    assert.equal(unknown.json().code, 'unknown_field');
    assert.equal(unknown.json().details.field, 'password');
    const basicUnknown = await get('/v1/phone-system/contacts?secret=1');
    assert.equal(basicUnknown.json().details.field, 'secret');
    const badSort = await get('/v1/phone-system/contacts?sort=-phoneNumbers.phoneNumber');
    assert.equal(badSort.statusCode, 400);
  });

  test('405 for a wrong method on a known path, in the face error shape', async () => {
    const wrong = await t.app.inject({ method: 'DELETE', url: '/v1/phone-system/users', headers: { 'x-api-key': key } });
    assert.equal(wrong.statusCode, 405);
    assert.equal(wrong.json().code, 'method_not_allowed');
    assert.ok(wrong.json().description);
    assert.match(String(wrong.headers.allow), /GET/);
    assert.equal((await t.app.inject({ method: 'POST', url: '/users/me', headers: { 'x-api-key': key } })).statusCode, 405);
    assert.equal((await t.app.inject({ method: 'PATCH', url: '/v1/account-hub/api-keys' })).statusCode, 405);
  });
});
