import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { applicationEndpointFilter, applicationOwner } from '../../../src/core/applications.js';
import { createServices, type Services } from '../../../src/core/services.js';
import { createStore } from '../../../src/store/store.js';
import { ManualClock } from '../../helpers/app.js';
import { createTestDatabase, describeEachDialect, type TestDatabase } from '../../helpers/databases.js';

const PROGRAM = [{ verb: 'say', text: 'Hello' }, { verb: 'hangup' }];

await describeEachDialect('applications', (dialect) => {
  let db: TestDatabase;
  let services: Services;
  let accountId: string;
  let otherId: string;

  before(async () => {
    db = await createTestDatabase(dialect);
    services = createServices(createStore(db.database), { clock: new ManualClock(), defaultCountry: 'US', keyCacheTtlMs: 0 });
    accountId = (await services.accounts.create({ name: 'A', email: 'a@example.com' })).account.id;
    otherId = (await services.accounts.create({ name: 'B', email: 'b@example.com' })).account.id;
    await services.numbers.add(accountId, { number: '+14155551234', type: 'purchased' });
    await services.numbers.add(otherId, { number: '+14155559999', type: 'purchased' });
  });
  after(async () => db.close());

  test('a hook application is created with its secret once, listed and found; another account sees none of it', async () => {
    const { application, hookSecret } = await services.applications.create(accountId, {
      name: '  Receptionist ',
      callHook: 'https://app.example/call',
    });
    assert.match(application.id, /^app_[0-9A-Za-z]{20}$/);
    assert.match(hookSecret, /^whsec_/);
    assert.deepEqual(
      { ...application, id: undefined, createdAt: undefined },
      { id: undefined, accountId, name: 'Receptionist', callHook: 'https://app.example/call', statusHook: null, program: null, createdAt: undefined },
    );
    assert.ok(!JSON.stringify(await services.applications.get(accountId, application.id)).includes(hookSecret));
    assert.ok((await services.applications.list(accountId)).some((a) => a.id === application.id));
    assert.deepEqual(await services.applications.list(otherId), []);
    await assert.rejects(services.applications.get(otherId, application.id), { code: 'not_found' });
    await assert.rejects(services.applications.remove(otherId, application.id), { code: 'not_found' });
    // Nothing with a status hook: no endpoint was made.
    assert.deepEqual(await services.webhooks.listEndpoints(accountId, applicationOwner(application.id)), []);
  });

  test('a program application stores the program as given; bad input is refused naming the field, nothing written', async () => {
    const { application } = await services.applications.create(accountId, { name: 'IVR', program: PROGRAM });
    assert.deepEqual(application.program, PROGRAM);
    assert.deepEqual((await services.applications.get(accountId, application.id)).program, PROGRAM);

    const before = (await services.applications.list(accountId)).length;
    const cases: Array<[Parameters<Services['applications']['create']>[1], string, string]> = [
      [{ name: ' ', callHook: 'https://a.example/' }, 'validation_failed', 'name'],
      [{ name: 'x'.repeat(101), callHook: 'https://a.example/' }, 'validation_failed', 'name'],
      [{ name: 'Both', callHook: 'https://a.example/', program: PROGRAM }, 'validation_failed', 'program'],
      [{ name: 'Neither' }, 'validation_failed', 'call_hook'],
      [{ name: 'Status only', statusHook: 'https://a.example/s' }, 'validation_failed', 'call_hook'],
      [{ name: 'FTP', callHook: 'ftp://a.example/' }, 'invalid_webhook_url', 'call_hook'],
      [{ name: 'Creds', callHook: 'https://u:p@a.example/' }, 'invalid_webhook_url', 'call_hook'],
      [{ name: 'Bad status', callHook: 'https://a.example/', statusHook: 'nope' }, 'invalid_webhook_url', 'status_hook'],
      [{ name: 'Empty', program: [] }, 'invalid_program', 'program'],
      [{ name: 'Not verbs', program: [{ say: 'hi' }] }, 'invalid_program', 'program'],
    ];
    for (const [input, code, field] of cases) {
      await assert.rejects(services.applications.create(accountId, input), (error: { code: string; details?: { field?: string } }) => {
        assert.equal(error.code, code, JSON.stringify(input));
        assert.equal(error.details?.field, field, JSON.stringify(input));
        return true;
      });
    }
    assert.equal((await services.applications.list(accountId)).length, before);
  });

  test('a status hook becomes a call.* endpoint owned by the application, signed with its secret; deleting removes it', async () => {
    const { application, hookSecret } = await services.applications.create(accountId, {
      name: 'With status',
      callHook: 'https://app.example/call',
      statusHook: 'https://app.example/status',
    });
    const [endpoint, ...more] = await services.store.webhooks.listEndpoints(accountId, applicationOwner(application.id));
    assert.equal(more.length, 0);
    assert.equal(endpoint?.url, 'https://app.example/status');
    assert.deepEqual(JSON.parse(endpoint?.event_types ?? '[]'), ['call.*']);
    assert.equal(endpoint?.format, 'dialplane');
    assert.equal(endpoint?.secret, hookSecret);

    await services.applications.remove(accountId, application.id);
    await assert.rejects(services.applications.get(accountId, application.id), { code: 'not_found' });
    assert.deepEqual(await services.store.webhooks.listEndpoints(accountId, applicationOwner(application.id)), []);
  });

  test('the endpoint filter: an application endpoint takes its own calls only, every other endpoint takes all', async () => {
    const a = (await services.applications.create(accountId, { name: 'A', callHook: 'https://a.example/', statusHook: 'https://a.example/s' })).application;
    const b = (await services.applications.create(accountId, { name: 'B', callHook: 'https://b.example/', statusHook: 'https://b.example/s' })).application;
    const plain = await services.webhooks.createEndpoint(accountId, { url: 'https://all.example/', eventTypes: ['call.*'] });
    const faceOwned = await services.webhooks.createEndpoint(accountId, { url: 'https://face.example/', eventTypes: ['*'], owner: 'dialanyone:key:x' });

    const receivers = async (applicationId: string | null) => {
      const event = services.webhooks.event(accountId, 'call.answered', { call_id: 'call_x' });
      await services.webhooks.emit(event, applicationEndpointFilter(applicationId));
      const deliveries = await services.webhooks.listDeliveries({ accountId, eventId: event.id });
      return deliveries.map((d) => d.endpointId).sort();
    };
    const [endpointA] = await services.webhooks.listEndpoints(accountId, applicationOwner(a.id));
    const [endpointB] = await services.webhooks.listEndpoints(accountId, applicationOwner(b.id));
    assert.deepEqual(await receivers(a.id), [endpointA?.id, plain.id, faceOwned.id].sort());
    assert.deepEqual(await receivers(b.id), [endpointB?.id, plain.id, faceOwned.id].sort());
    assert.deepEqual(await receivers(null), [plain.id, faceOwned.id].sort());
  });

  test('numbers route to an application; a routed application cannot be deleted until the route moves', async () => {
    const { application } = await services.applications.create(accountId, { name: 'Routed', program: PROGRAM });
    const routed = await services.extensions.route(accountId, '+14155551234', { applicationId: application.id });
    assert.equal(routed.applicationId, application.id);
    assert.deepEqual([routed.extensionId, routed.forwardTo, routed.answer], [null, null, false]);
    assert.equal((await services.extensions.routeOf('+14155551234'))?.applicationId, application.id);
    assert.ok((await services.extensions.routes(accountId)).some((r) => r.applicationId === application.id));

    await assert.rejects(services.applications.remove(accountId, application.id), {
      code: 'conflict',
      details: { field: 'application_id', numbers: ['+14155551234'] },
    });
    assert.equal((await services.applications.get(accountId, application.id)).id, application.id);

    // Another route replaces the application; then it can go.
    const answered = await services.extensions.route(accountId, '+14155551234', { answer: true });
    assert.deepEqual([answered.applicationId, answered.answer], [null, true]);
    await services.applications.remove(accountId, application.id);
    await services.extensions.route(accountId, '+14155551234', { none: true });
  });

  test("a number cannot route to another account's application, nor to one that does not exist", async () => {
    const { application } = await services.applications.create(otherId, { name: 'Theirs', program: PROGRAM });
    await assert.rejects(services.extensions.route(accountId, '+14155551234', { applicationId: application.id }), {
      code: 'not_found',
      details: { field: 'application_id' },
    });
    await assert.rejects(services.extensions.route(accountId, '+14155551234', { applicationId: 'app_nope' }), { code: 'not_found' });
    assert.equal((await services.extensions.routeOf('+14155551234'))?.applicationId, null);
  });

  test('the database refuses deleting an application a number still refers to', async () => {
    const { application } = await services.applications.create(accountId, { name: 'Referenced', program: PROGRAM });
    await services.extensions.route(accountId, '+14155551234', { applicationId: application.id });
    await assert.rejects(
      db.database.write((trx) => trx.deleteFrom('applications').where('id', '=', application.id).execute()),
      (error: { code?: string }) => ['23503', 'SQLITE_CONSTRAINT_FOREIGNKEY'].includes(error.code ?? ''),
    );
    await services.extensions.route(accountId, '+14155551234', { none: true });
  });
  test('update changes only what is given, checked as create checks it; another account gets not_found', async () => {
    const { application, hookSecret } = await services.applications.create(accountId, { name: 'Editable', callHook: 'https://app.example/call' });
    const renamed = await services.applications.update(accountId, application.id, { name: '  Renamed ' });
    assert.equal(renamed.hookSecret, undefined, 'no secret unless one is asked for');
    assert.deepEqual(
      { ...renamed.application },
      { ...application, name: 'Renamed' },
      'the rest is unchanged',
    );
    const cases: Array<[Parameters<Services['applications']['update']>[2], string, string | undefined]> = [
      [{}, 'validation_failed', undefined],
      [{ name: ' ' }, 'validation_failed', 'name'],
      [{ name: 'x'.repeat(101) }, 'validation_failed', 'name'],
      [{ callHook: 'https://a.example/', program: PROGRAM }, 'validation_failed', 'program'],
      [{ callHook: 'ftp://a.example/' }, 'invalid_webhook_url', 'call_hook'],
      [{ callHook: 'https://u:p@a.example/' }, 'invalid_webhook_url', 'call_hook'],
      [{ statusHook: 'nope' }, 'invalid_webhook_url', 'status_hook'],
      [{ program: [] }, 'invalid_program', 'program'],
      [{ program: [{ verb: 'say', text: 'Hi' }, { verb: 'gather', numDigits: 99 }] }, 'invalid_program', 'program'],
    ];
    for (const [input, code, field] of cases) {
      await assert.rejects(services.applications.update(accountId, application.id, input), (error: { code: string; details?: { field?: string } }) => {
        assert.equal(error.code, code, JSON.stringify(input));
        assert.equal(error.details?.field, field, JSON.stringify(input));
        return true;
      });
    }
    await assert.rejects(services.applications.update(accountId, application.id, { program: [{ verb: 'say', text: 'Hi' }, { verb: 'gather', numDigits: 99 }] }), {
      details: { field: 'program', index: 1, verb_field: 'numDigits' },
    });
    assert.deepEqual(await services.applications.get(accountId, application.id), renamed.application, 'nothing written');
    await assert.rejects(services.applications.update(otherId, application.id, { name: 'Stolen' }), { code: 'not_found' });
    await assert.rejects(services.applications.update(accountId, 'app_nope', { name: 'Nobody' }), { code: 'not_found' });
    assert.equal((await services.applications.get(accountId, application.id)).name, 'Renamed');

    // Switching to a program drops the call hook, and back; the secret stays.
    const toProgram = (await services.applications.update(accountId, application.id, { program: PROGRAM })).application;
    assert.deepEqual([toProgram.callHook, toProgram.program], [null, PROGRAM]);
    const toHook = (await services.applications.update(accountId, application.id, { callHook: 'https://app.example/v2' })).application;
    assert.deepEqual([toHook.callHook, toHook.program], ['https://app.example/v2', null]);
    assert.equal((await services.store.applications.find(accountId, application.id))?.hook_secret, hookSecret);
  });

  test('update keeps the status-hook endpoint in step: made, moved, rotated with the secret, removed', async () => {
    const { application, hookSecret } = await services.applications.create(accountId, { name: 'Status', program: PROGRAM });
    const owned = () => services.store.webhooks.listEndpoints(accountId, applicationOwner(application.id));
    await services.applications.update(accountId, application.id, { statusHook: 'https://app.example/s1' });
    const [made, ...none] = await owned();
    assert.equal(none.length, 0);
    assert.deepEqual([made?.url, made?.secret, made?.status], ['https://app.example/s1', hookSecret, 'enabled']);

    await services.webhooks.setEnabled(accountId, made!.id, false);
    await services.applications.update(accountId, application.id, { statusHook: 'https://app.example/s2' });
    const [moved] = await owned();
    assert.deepEqual([moved?.id, moved?.url, moved?.status], [made?.id, 'https://app.example/s2', 'enabled'], 'the same endpoint, moved and enabled again');

    const rotated = await services.applications.update(accountId, application.id, { rotateHookSecret: true });
    assert.match(rotated.hookSecret ?? '', /^whsec_/);
    assert.notEqual(rotated.hookSecret, hookSecret);
    assert.equal((await services.store.applications.find(accountId, application.id))?.hook_secret, rotated.hookSecret);
    const [resigned] = await owned();
    assert.deepEqual([resigned?.secret, resigned?.previous_secret], [rotated.hookSecret, null]);

    const removed = await services.applications.update(accountId, application.id, { statusHook: null });
    assert.equal(removed.application.statusHook, null);
    assert.deepEqual(await owned(), []);
  });
});
