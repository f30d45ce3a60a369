import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseTrunks } from '../../src/carriers/trunks.js';
import { describeConfig, loadConfig } from '../../src/config/config.js';

const base = { username: 'global', password: 'global-secret', register: false, callerIdFormat: 'e164' as const, prefix: undefined };

test('trunks in failover order, with transport and port defaults', () => {
  const trunks = parseTrunks({ ...base, uri: 'sip:127.0.0.2, sip:carrier.example:5070;transport=tcp' });
  assert.deepEqual(
    trunks.map((t) => [t.host, t.port, t.transport]),
    [
      ['127.0.0.2', 5060, 'udp'],
      ['carrier.example', 5070, 'tcp'],
    ],
  );
});

test("a trunk's own credentials override the global ones, and its name never shows the password", () => {
  const [own, shared] = parseTrunks({ ...base, uri: 'sip:alice:s3cret@carrier.example,sip:backup.example' });
  assert.equal(own?.username, 'alice');
  assert.equal(own?.password, 's3cret');
  assert.equal(own?.name.includes('s3cret'), false);
  assert.equal(shared?.username, 'global');
  assert.equal(shared?.password, 'global-secret');
});

test('dialplane config masks a password inside DIALPLANE_TRUNK', () => {
  const config = loadConfig({ DIALPLANE_TRUNK: 'sip:alice:s3cret@carrier.example;transport=tcp' });
  const row = describeConfig(config).find((r) => r.variable === 'DIALPLANE_TRUNK');
  assert.equal(row?.value, 'sip:alice:********@carrier.example;transport=tcp');
});
