import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import pg from 'pg';
import { loadConfig } from '../../../src/config/config.js';
import { openConfiguredStore } from '../../../src/store/open-store.js';
import { POSTGRES_URL, postgresTestOptions } from '../../helpers/databases.js';

/** Servers sharing one PostgreSQL database need one key: a key from a generated file is warned about at start. */
const options = await postgresTestOptions('open-store on PostgreSQL');

test('on PostgreSQL a key from the generated file is warned about; DIALPLANE_SECRETS_KEY is not', { skip: options.skip }, async () => {
  if (options.failure) assert.fail(options.failure);
  const schema = `t_${process.pid}_${Date.now().toString(36)}_open`;
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  await admin.query(`create schema ${schema}`);
  const dataDir = await mkdtemp(join(tmpdir(), 'dialplane-open-store-'));
  try {
    const url = new URL(POSTGRES_URL);
    url.searchParams.set('options', `-c search_path=${schema}`);
    const env = { DIALPLANE_DATA_DIR: dataDir, DIALPLANE_DATABASE_URL: url.toString() };
    for (const key of [undefined, randomBytes(32).toString('base64')]) {
      const warnings: string[] = [];
      const opened = await openConfiguredStore(loadConfig({ ...env, ...(key ? { DIALPLANE_SECRETS_KEY: key } : {}) }), {
        warn: (message) => warnings.push(message),
      });
      try {
        const { rows } = await admin.query<{ n: string }>(`select count(*) as n from ${schema}.devices`);
        assert.equal(rows[0]?.n, '0', 'the store runs in the test schema');
        if (key) assert.deepEqual(warnings, []);
        else {
          assert.equal(opened.secrets.source, 'file');
          assert.equal(warnings.length, 1);
          assert.match(warnings[0]!, /DIALPLANE_SECRETS_KEY/);
        }
      } finally {
        await opened.database.close();
      }
    }
  } finally {
    await admin.query(`drop schema ${schema} cascade`);
    await admin.end();
    await rm(dataDir, { recursive: true, force: true });
  }
});
