import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { registerAdminCallRoutes } from '../../../src/api/admin/admin-call-routes.js';
import { EventStream, isHeartbeat, type EventStreamOptions, type EventStreamTimers } from '../../../src/api/event-stream.js';
import type { CallControl } from '../../../src/core/calls/call-control.js';
import { createServices, type Services } from '../../../src/core/services.js';
import { createStore } from '../../../src/store/store.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/databases.js';
import { ManualClock } from '../../helpers/app.js';

/** Heartbeats that fire when the test says. */
class ManualTimers implements EventStreamTimers {
  readonly running = new Set<() => void>();
  every(_name: 'Heartbeat', _ms: number, fire: () => void) {
    this.running.add(fire);
    return { cancel: () => this.running.delete(fire) };
  }
  fire(): void {
    for (const fire of [...this.running]) fire();
  }
}

/** Reads a streamed body as it arrives. */
async function reader(url: string) {
  const response = await fetch(url);
  const body = response.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  let done = false;
  return {
    response,
    text: () => text,
    done: () => done,
    /** Reads until `predicate` holds on what arrived so far, or the body ends. */
    async until(predicate: (text: string) => boolean): Promise<string> {
      while (!predicate(text) && !done) {
        const chunk = await body.read();
        if (chunk.done) done = true;
        else text += decoder.decode(chunk.value, { stream: true });
      }
      return text;
    },
  };
}

describe('EventStream over real HTTP', () => {
  let server: Server;
  let url: string;
  let streams: EventStream[] = [];
  let options: EventStreamOptions;
  const now = () => new Date('2026-03-01T12:00:00.000Z');

  before(async () => {
    server = createServer((_request, response) => streams.push(new EventStream(response, options)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test('ndjson: headers at once, events as lines, heartbeats between them, none after the end', async () => {
    const timers = new ManualTimers();
    options = { format: 'ndjson', timers, now };
    streams = [];
    const stream = await reader(url);
    assert.equal(stream.response.status, 200);
    assert.equal(stream.response.headers.get('content-type'), 'application/x-ndjson');
    assert.equal(stream.response.headers.get('cache-control'), 'no-store');
    const [server] = streams;
    server!.send({ state: 'ringing' });
    timers.fire();
    server!.send({ state: 'answered' });
    timers.fire();
    server!.send({ state: 'ended' });
    server!.end();
    assert.equal(timers.running.size, 0, 'the heartbeat stops with the stream');
    timers.fire();
    server!.send({ state: 'too late' });
    await stream.until(() => false);
    assert.equal(
      stream.text(),
      [
        '{"state":"ringing"}',
        '{"heartbeat":"2026-03-01T12:00:00.000Z"}',
        '{"state":"answered"}',
        '{"heartbeat":"2026-03-01T12:00:00.000Z"}',
        '{"state":"ended"}',
        '',
      ].join('\n'),
    );
    assert.ok(isHeartbeat(JSON.parse('{"heartbeat":"2026-03-01T12:00:00.000Z"}')));
    assert.ok(!isHeartbeat({ state: 'ended' }));
    assert.ok(!isHeartbeat(null));
  });

  test('sse: event, id and data fields; the heartbeat is a comment', async () => {
    const timers = new ManualTimers();
    options = { format: 'sse', timers, now };
    streams = [];
    const stream = await reader(url);
    assert.equal(stream.response.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    const [server] = streams;
    server!.send({ state: 'ringing', note: 'two\nlines' }, { event: 'call.ringing', id: 'evt_1' });
    timers.fire();
    server!.send({ state: 'ended' }, { event: 'bad\r\nname' });
    server!.end();
    await stream.until(() => false);
    assert.equal(
      stream.text(),
      'event: call.ringing\nid: evt_1\ndata: {"state":"ringing","note":"two\\nlines"}\n\n' +
        ': heartbeat 2026-03-01T12:00:00.000Z\n\n' +
        'event: bad name\ndata: {"state":"ended"}\n\n',
    );
  });

  test('a client that goes away stops the heartbeat and runs the close listeners', async () => {
    const timers = new ManualTimers();
    options = { format: 'ndjson', timers, now };
    streams = [];
    const controller = new AbortController();
    await fetch(url, { signal: controller.signal });
    const [server] = streams;
    let closed = 0;
    server!.onClose(() => (closed += 1));
    controller.abort();
    for (let i = 0; i < 100 && server!.isOpen; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(server!.isOpen, false);
    assert.equal(closed, 1);
    assert.equal(timers.running.size, 0);
    server!.onClose(() => (closed += 1));
    assert.equal(closed, 2, 'a listener added after the close runs at once');
  });
});

describe('GET /admin/v1/accounts/{id}/calls/{callId}/events/stream', () => {
  let db: TestDatabase;
  let services: Services;
  let app: FastifyInstance;
  let base: string;
  const HEARTBEAT_MS = 40;

  before(async () => {
    db = await createTestDatabase('sqlite');
    services = createServices(createStore(db.database), { clock: new ManualClock(), defaultCountry: 'US', keyCacheTtlMs: 60_000 });
    app = Fastify({ logger: false });
    registerAdminCallRoutes(app, services, {} as CallControl, { heartbeatMs: HEARTBEAT_MS });
    base = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  after(async () => {
    await app.close();
    await db.close();
  });

  test('a quiet call gets heartbeat lines on the wire until its end event closes the stream', async () => {
    const { account } = await services.accounts.create({ name: 'Stream', email: 'stream@example.com' });
    const call = await services.calls.create({
      accountId: account.id,
      direction: 'outbound',
      from: '+14155551234',
      to: '+14155550100',
      ringTimeoutS: 30,
      maxDurationS: 600,
    });
    const stream = await reader(`${base}/admin/v1/accounts/${account.id}/calls/${call.id}/events/stream`);
    assert.equal(stream.response.headers.get('content-type'), 'application/x-ndjson');
    const lines = () => stream.text().split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);
    await stream.until(() => lines().filter(isHeartbeat).length >= 3);
    assert.equal(lines()[0]!.state, 'queued');
    for (const beat of lines().filter(isHeartbeat)) assert.ok(!Number.isNaN(Date.parse(String(beat.heartbeat))));
    await services.calls.end(call.id, { reason: 'api_hangup' });
    await stream.until(() => false);
    const events = lines().filter((line) => !isHeartbeat(line));
    assert.deepEqual(events.map((e) => e.state), ['queued', 'ended']);
    assert.equal(events.at(-1)!.end_reason, 'api_hangup');
    assert.ok(stream.done(), 'the stream ended with the call');
  });
});
