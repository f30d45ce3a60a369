import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { sql } from 'kysely';
import { DEVICE_PASSWORD_LENGTH, SIP_REALM } from '../../../src/core/extensions.js';
import { createServices, type Services } from '../../../src/core/services.js';
import { createStore } from '../../../src/store/store.js';
import { ManualClock } from '../../helpers/app.js';
import { createTestDatabase, describeEachDialect, type TestDatabase } from '../../helpers/databases.js';

const md5 = (s: string): string => createHash('md5').update(s).digest('hex');

await describeEachDialect('extensions, devices and number routes', (dialect) => {
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
    await services.numbers.add(accountId, { number: '+14155550000', type: 'purchased', capabilities: ['sms'] });
    await services.numbers.add(otherId, { number: '+14155559999', type: 'purchased' });
  });
  after(async () => db.close());

  test('an extension is created, listed and found; another account sees none of it', async () => {
    const extension = await services.extensions.create(accountId, { name: '  Front desk ' });
    assert.match(extension.id, /^ext_[0-9A-Za-z]{20}$/);
    assert.equal(extension.name, 'Front desk');
    assert.deepEqual((await services.extensions.list(accountId)).map((e) => e.id), [extension.id]);
    assert.deepEqual(await services.extensions.list(otherId), []);
    await assert.rejects(services.extensions.get(otherId, extension.id), { code: 'not_found' });
    await assert.rejects(services.extensions.create(accountId, { name: ' ' }), { code: 'validation_failed', details: { field: 'name' } });
  });

  test('a device gets a generated username and a one-time password; only the HA1 is stored', async () => {
    const extension = await services.extensions.create(accountId, { name: 'Sales' });
    const { device, password } = await services.extensions.addDevice(accountId, extension.id);
    assert.match(device.id, /^dev_[0-9A-Za-z]{20}$/);
    assert.match(device.username, /^[a-z0-9_.-]{3,64}$/);
    assert.match(password, new RegExp(`^[0-9A-Za-z]{${DEVICE_PASSWORD_LENGTH}}$`));
    assert.ok(DEVICE_PASSWORD_LENGTH >= 24);
    assert.equal(device.realm, SIP_REALM);
    assert.ok(!('ha1' in device), 'a device view never carries its HA1');

    const rows = await sql<Record<string, unknown>>`select * from devices where id = ${device.id}`.execute(db.database.db);
    const row = rows.rows[0];
    assert.ok(row);
    // Sealed (see secrets.test.ts): the column holds neither the password nor the HA1 that digest would accept.
    assert.match(String(row.ha1), /^dpsec1\./);
    assert.ok(!String(row.ha1).includes(md5(`${device.username}:dialplane:${password}`)));
    for (const value of Object.values(row)) assert.ok(!String(value).includes(password), 'the password is in no column');
    if (db.file) {
      await db.database.db.executeQuery(sql`pragma wal_checkpoint(truncate)`.compile(db.database.db));
      assert.ok(!readFileSync(db.file).includes(Buffer.from(password)), 'nor anywhere in the database file');
    }

    assert.deepEqual(await services.extensions.credentialsFor(device.username), {
      deviceId: device.id,
      accountId,
      extensionId: extension.id,
      ha1: md5(`${device.username}:dialplane:${password}`),
      realm: 'dialplane',
    });
    assert.equal(await services.extensions.credentialsFor('nobody-here'), undefined);
    assert.equal(await services.extensions.credentialsFor('BAD NAME'), undefined);
  });

  test('a chosen username is validated and unique across accounts', async () => {
    const mine = await services.extensions.create(accountId, { name: 'Mine' });
    const theirs = await services.extensions.create(otherId, { name: 'Theirs' });
    const { device } = await services.extensions.addDevice(accountId, mine.id, { username: 'desk-101' });
    assert.equal(device.username, 'desk-101');
    await assert.rejects(services.extensions.addDevice(otherId, theirs.id, { username: 'desk-101' }), {
      code: 'conflict',
      details: { field: 'username' },
    });
    for (const bad of ['ab', 'Desk', 'a b c', 'x'.repeat(65), 'caf\u00e9']) {
      await assert.rejects(services.extensions.addDevice(accountId, mine.id, { username: bad }), {
        code: 'validation_failed',
        details: { field: 'username' },
      });
    }
    await assert.rejects(services.extensions.addDevice(otherId, mine.id), { code: 'not_found' }, "another account's extension");
  });

  test('devices are listed per account and extension, and deleted only by their account (listeners hear it)', async () => {
    const extension = await services.extensions.create(accountId, { name: 'Support' });
    const a = (await services.extensions.addDevice(accountId, extension.id)).device;
    const b = (await services.extensions.addDevice(accountId, extension.id)).device;
    assert.deepEqual((await services.extensions.listDevices(accountId, extension.id)).map((d) => d.id).sort(), [a.id, b.id].sort());
    assert.ok((await services.extensions.listDevices(accountId)).length >= 2);
    assert.deepEqual(await services.extensions.listDevices(otherId), []);
    await assert.rejects(services.extensions.listDevices(otherId, extension.id), { code: 'not_found' });

    const removed: string[] = [];
    const stop = services.extensions.onDeviceRemoved((id) => removed.push(id));
    await assert.rejects(services.extensions.deleteDevice(otherId, a.id), { code: 'not_found' });
    assert.equal((await services.extensions.deleteDevice(accountId, a.id)).id, a.id);
    await assert.rejects(services.extensions.deleteDevice(accountId, a.id), { code: 'not_found' });
    assert.equal(await services.extensions.credentialsFor(a.username), undefined);
    assert.deepEqual(removed, [a.id]);
    stop();
  });

  test('a number routes to an extension, a forward number, Dialplane itself or nothing; routeOf reads it back', async () => {
    const extension = await services.extensions.create(accountId, { name: 'Ring group' });
    assert.deepEqual(await services.extensions.routeOf('+14155551234'), {
      accountId,
      numberId: (await services.numbers.list(accountId)).find((n) => n.number === '+14155551234')?.id,
      number: '+14155551234',
      extensionId: null,
      forwardTo: null,
      answer: false,
      applicationId: null,
    });
    const routed = await services.extensions.route(accountId, '(415) 555-1234', { extensionId: extension.id });
    assert.equal(routed.extensionId, extension.id);
    assert.equal((await services.extensions.routeOf('+14155551234'))?.extensionId, extension.id);

    const forwarded = await services.extensions.route(accountId, '+14155551234', { forwardTo: '+44 20 7946 0000' });
    assert.deepEqual([forwarded.extensionId, forwarded.forwardTo], [null, '+442079460000']);
    const answered = await services.extensions.route(accountId, '+14155551234', { answer: true });
    assert.deepEqual([answered.extensionId, answered.forwardTo, answered.answer], [null, null, true]);
    assert.equal((await services.extensions.routes(accountId)).length, 1, 'an answered number is a routed one');
    const cleared = await services.extensions.route(accountId, '+14155551234', { none: true });
    assert.deepEqual([cleared.extensionId, cleared.forwardTo, cleared.answer], [null, null, false]);
    assert.equal(await services.extensions.routeOf('+19995550000'), undefined);
    assert.equal(await services.extensions.routeOf('not a number'), undefined);
  });

  test('routing is refused across accounts and for bad input, naming the field', async () => {
    const mine = await services.extensions.create(accountId, { name: 'R1' });
    const theirs = await services.extensions.create(otherId, { name: 'R2' });
    await assert.rejects(services.extensions.route(otherId, '+14155551234', { none: true }), { code: 'not_found', details: { field: 'number' } });
    await assert.rejects(services.extensions.route(accountId, '+14155559999', { extensionId: mine.id }), {
      code: 'not_found',
      details: { field: 'number' },
    });
    await assert.rejects(services.extensions.route(accountId, '+14155551234', { extensionId: theirs.id }), {
      code: 'not_found',
      details: { field: 'extension_id' },
    });
    await assert.rejects(services.extensions.route(accountId, '+14155551234', { forwardTo: 'nope' }), {
      code: 'invalid_phone_number',
      details: { field: 'forward_to' },
    });
    await assert.rejects(services.extensions.route(accountId, '+14155551234', { forwardTo: '+14155551234' }), {
      code: 'validation_failed',
      details: { field: 'forward_to' },
    });
    await assert.rejects(services.extensions.route(accountId, '+14155550000', { extensionId: mine.id }), {
      code: 'validation_failed',
      details: { field: 'number' },
    });
    await assert.rejects(services.extensions.route(accountId, 'garbage', { none: true }), { code: 'invalid_phone_number', details: { field: 'number' } });
    assert.equal((await services.extensions.routeOf('+14155551234'))?.extensionId, null);
  });

  test('deleting an extension deletes its devices and unroutes its numbers, in one go', async () => {
    const extension = await services.extensions.create(accountId, { name: 'Doomed' });
    const d1 = (await services.extensions.addDevice(accountId, extension.id)).device;
    const d2 = (await services.extensions.addDevice(accountId, extension.id)).device;
    await services.extensions.route(accountId, '+14155551234', { extensionId: extension.id });
    assert.deepEqual((await services.extensions.routes(accountId)).map((r) => r.number), ['+14155551234']);
    const removed: string[] = [];
    services.extensions.onDeviceRemoved((id) => removed.push(id));
    await assert.rejects(services.extensions.delete(otherId, extension.id), { code: 'not_found' });
    const result = await services.extensions.delete(accountId, extension.id);
    assert.deepEqual([...result.deletedDeviceIds].sort(), [d1.id, d2.id].sort());
    assert.deepEqual(result.unroutedNumbers, ['+14155551234']);
    assert.deepEqual(removed.sort(), [d1.id, d2.id].sort());
    assert.equal((await services.extensions.routeOf('+14155551234'))?.extensionId, null);
    assert.deepEqual(await services.extensions.routes(accountId), []);
    assert.equal(await services.extensions.credentialsFor(d1.username), undefined);
    await assert.rejects(services.extensions.get(accountId, extension.id), { code: 'not_found' });
  });

  test('the database refuses a route to an extension that does not exist (foreign key)', async () => {
    await assert.rejects(
      db.database.db.updateTable('phone_numbers').set({ extension_id: 'ext_missing' }).where('number', '=', '+14155551234').execute(),
    );
  });

  test('a binding made over TLS is stored and restored as TLS, with its flow', async () => {
    const extension = await services.extensions.create(accountId, { name: 'TLS phone' });
    const { device } = await services.extensions.addDevice(accountId, extension.id);
    const expiresAt = Date.now() + 60_000;
    await services.extensions.saveBinding({
      deviceId: device.id,
      accountId,
      extensionId: extension.id,
      key: 'sip:phone@10.0.0.5:5061;tls',
      uri: 'sip:phone@10.0.0.5:5061;transport=tls',
      instance: undefined,
      transport: 'tls',
      address: '198.51.100.7',
      port: 40123,
      callId: 'tls-binding',
      cseq: 3,
      expiresAt,
    });
    const restored = (await services.extensions.loadBindings(Date.now())).find((b) => b.deviceId === device.id);
    assert.deepEqual([restored?.transport, restored?.address, restored?.port, restored?.uri], ['tls', '198.51.100.7', 40123, 'sip:phone@10.0.0.5:5061;transport=tls']);
  });
});
