import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { buildApp } from '../../../src/api/app.js';
import { redactUrl } from '../../../src/api/log-redaction.js';
import { loadConfig } from '../../../src/config/config.js';
import { createLogger } from '../../../src/server.js';
import { createTestApp } from '../../helpers/app.js';

describe('redactUrl', () => {
  test('masks credential-looking query parameters and keeps the rest as sent', () => {
    assert.equal(redactUrl('/api/v1/me?api_key=dk_live_abc&page=2'), '/api/v1/me?api_key=[redacted]&page=2');
    assert.equal(redactUrl('/x?page=1&token=t0k&KEY=k&access_token=a&apiKey=b'), '/x?page=1&token=[redacted]&KEY=[redacted]&access_token=[redacted]&apiKey=[redacted]');
    assert.equal(redactUrl('/x?api%5Fkey=dk_live_abc'), '/x?api%5Fkey=[redacted]');
    assert.equal(redactUrl('/x?monkey=1&keys=2'), '/x?monkey=1&keys=2');
    assert.equal(redactUrl('/x'), '/x');
    assert.equal(redactUrl('/x?%E0%A4%A=1&key=s'), '/x?%E0%A4%A=1&key=[redacted]');
  });

  test('masks a key under the name of the header that should have carried it, and a Dialplane credential under any name or in the path (x-api-key and a key in the path were logged whole)', () => {
    assert.equal(
      redactUrl('/x?x-api-key=k1&X_API_KEY=k2&authorization=k3&Bearer=k4&api_token=k5&refresh_token=k6&page=2'),
      '/x?x-api-key=[redacted]&X_API_KEY=[redacted]&authorization=[redacted]&Bearer=[redacted]&api_token=[redacted]&refresh_token=[redacted]&page=2',
    );
    assert.equal(redactUrl('/api/v1/me?q=dk_live_abc123&page=2'), '/api/v1/me?q=[redacted]&page=2');
    assert.equal(redactUrl('/api/v1/calls/dk_live_abc123/hangup'), '/api/v1/calls/[redacted]/hangup');
    assert.equal(redactUrl('/v1/x?t=dlat_abc&r=dlrt_def&s=whsec_ghi'), '/v1/x?t=[redacted]&r=[redacted]&s=[redacted]');
    assert.equal(redactUrl('/dialplane/v1/calls/call_0VcqHddmkRRjeX2VJIz8?limit=5'), '/dialplane/v1/calls/call_0VcqHddmkRRjeX2VJIz8?limit=5');
  });
});

describe('request logging', () => {
  test('a key sent in the query string is logged masked', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    });
    const config = loadConfig({ DIALPLANE_LOG_LEVEL: 'debug', DIALPLANE_DATA_DIR: '/nonexistent-dialplane-test' });
    const logger = createLogger(config, sink);
    // The real app with the server's logger: only the logger differs from createTestApp's.
    const base = await createTestApp('sqlite');
    const app = await buildApp({
      services: base.services,
      http: { bodyLimit: 1_048_576, trustProxy: false },
      rateLimiter: base.rateLimiter,
      logger,
      metrics: new (await import('prom-client')).Registry(),
      ready: async () => undefined,
    });
    try {
      const secret = 'dk_live_QueryStringSecret0123456789';
      const response = await app.inject({ method: 'GET', url: `/api/v1/me?api_key=${secret}&page=1` });
      assert.equal(response.statusCode, 401);
      const logged = lines.join('');
      assert.ok(!logged.includes(secret), 'the key is not in the log');
      const incoming = lines.map((l) => JSON.parse(l) as { msg: string; req?: { url: string } }).find((l) => l.msg === 'incoming request');
      assert.equal(incoming?.req?.url, '/api/v1/me?api_key=[redacted]&page=1');
    } finally {
      await app.close();
      await base.close();
    }
  });
});
