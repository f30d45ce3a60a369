/**
 * Tests of the guarded webhook request. ABSOLUTE RULE: nothing here connects anywhere but 127.0.0.1. Refused and
 * public-looking targets go through an injected resolver and connector that only RECORD what would be contacted.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Duplex } from 'node:stream';
import { guardedRequest, parseWebhookUrl } from '../../../src/webhooks/guarded-request.js';
import type { Connector, GuardedSocket, Resolver } from '../../../src/webhooks/guarded-request.js';
import { SsrfError } from '../../../src/webhooks/ssrf-guard.js';
import type { SsrfErrorCode } from '../../../src/webhooks/ssrf-guard.js';

interface ConnectCall {
  readonly address: string;
  readonly port: number;
  readonly tls: boolean;
  readonly servername: string;
}

/**
 * A fake connected socket: records the bytes written and, once a full request has arrived, answers with a canned
 * HTTP/1.1 response. Nothing touches the network.
 */
class FakeSocket extends Duplex {
  readonly remoteAddress: string | undefined;
  written = Buffer.alloc(0);
  private answered = false;

  constructor(remoteAddress: string | undefined, private readonly reply: string) {
    super();
    this.remoteAddress = remoteAddress;
  }

  override _read(): void {}

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.written = Buffer.concat([this.written, chunk]);
    const text = this.written.toString('latin1');
    const end = text.indexOf('\r\n\r\n');
    if (!this.answered && end >= 0) {
      const cl = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, end));
      const need = end + 4 + (cl?.[1] !== undefined ? Number(cl[1]) : 0);
      if (this.written.length >= need) {
        this.answered = true;
        setImmediate(() => {
          this.push(Buffer.from(this.reply, 'latin1'));
          this.push(null);
        });
      }
    }
    cb();
  }

  get requestText(): string {
    return this.written.toString('latin1');
  }
}

const OK_REPLY = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok';

interface Recorder {
  readonly resolved: string[];
  readonly connects: ConnectCall[];
  readonly sockets: FakeSocket[];
  readonly resolve: Resolver;
  readonly connect: Connector;
}

/** A resolver answering from a table and a connector that records and answers with a FakeSocket. */
function recorder(
  dns: Record<string, string[] | ((call: number) => string[])> = {},
  options: { remoteAddress?: (address: string) => string | undefined; reply?: string } = {},
): Recorder {
  const resolved: string[] = [];
  const connects: ConnectCall[] = [];
  const sockets: FakeSocket[] = [];
  let calls = 0;
  return {
    resolved,
    connects,
    sockets,
    resolve: async (host) => {
      resolved.push(host);
      calls += 1;
      const entry = dns[host];
      if (entry === undefined) throw Object.assign(new Error(`ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
      return typeof entry === 'function' ? entry(calls) : entry;
    },
    connect: async (address, port, tls, servername): Promise<GuardedSocket> => {
      connects.push({ address, port, tls, servername });
      const socket = new FakeSocket(options.remoteAddress ? options.remoteAddress(address) : address, options.reply ?? OK_REPLY);
      sockets.push(socket);
      return socket;
    },
  };
}

const INIT = { method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.from('{"a":1}'), timeoutMs: 2000 };

async function assertRefused(p: Promise<unknown>, code: SsrfErrorCode, addressClass?: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof SsrfError, `expected SsrfError, got ${String(err)}`);
    assert.equal(err.code, code);
    if (addressClass !== undefined) assert.equal(err.details.addressClass, addressClass);
    return true;
  });
}

describe('guardedRequest: refused before any packet leaves (allowPrivate false)', () => {
  const literalCases: ReadonlyArray<readonly [string, string]> = [
    ['http://127.0.0.1/', 'loopback'],
    ['http://10.0.0.1/', 'private'],
    ['http://192.168.1.1/', 'private'],
    ['http://169.254.169.254/latest/meta-data', 'metadata'],
    ['http://[::1]/', 'loopback'],
    ['http://[fd00::1]/', 'ula'],
    ['http://0.0.0.0/', 'unspecified'],
    ['http://[::ffff:127.0.0.1]/', 'loopback'],
    ['http://[fd00:ec2::254]/', 'metadata'],
    ['http://0x7f.1/', 'loopback'], // WHATWG URL normalises this to 127.0.0.1
  ];
  for (const [url, cls] of literalCases) {
    test(url, async () => {
      const rec = recorder();
      await assertRefused(guardedRequest(url, INIT, { resolve: rec.resolve, connect: rec.connect, allowPrivate: false }), 'disallowed_address', cls);
      assert.deepEqual(rec.resolved, [], 'an IP literal is not resolved');
      assert.deepEqual(rec.connects, [], 'nothing was connected to');
    });
  }

  test('hooks.example.test resolving to 127.0.0.1', async () => {
    const rec = recorder({ 'hooks.example.test': ['127.0.0.1'] });
    await assertRefused(
      guardedRequest('http://hooks.example.test/hook', INIT, { resolve: rec.resolve, connect: rec.connect, allowPrivate: false }),
      'disallowed_address',
      'loopback',
    );
    assert.deepEqual(rec.resolved, ['hooks.example.test']);
    assert.deepEqual(rec.connects, []);
  });

  test('a mixed answer (public + private) is refused as a whole', async () => {
    const rec = recorder({ 'mixed.example.test': ['93.184.216.34', '10.1.2.3'] });
    await assertRefused(
      guardedRequest('https://mixed.example.test/hook', INIT, { resolve: rec.resolve, connect: rec.connect, allowPrivate: false }),
      'disallowed_address',
      'private',
    );
    assert.deepEqual(rec.connects, []);
  });

  test('a mixed answer containing the metadata address is refused even with allowPrivate', async () => {
    const rec = recorder({ 'mixed.example.test': ['10.1.2.3', '169.254.169.254'] });
    await assertRefused(
      guardedRequest('http://mixed.example.test/', INIT, { resolve: rec.resolve, connect: rec.connect, allowPrivate: true }),
      'disallowed_address',
      'metadata',
    );
    assert.deepEqual(rec.connects, []);
  });

  test('resolver garbage, empty answers, bad URLs are refused without connecting', async () => {
    const rec = recorder({ 'garbage.example.test': ['not-an-ip'], 'empty.example.test': [] });
    const deps = { resolve: rec.resolve, connect: rec.connect, allowPrivate: true };
    await assertRefused(guardedRequest('http://garbage.example.test/', INIT, deps), 'invalid_address');
    await assertRefused(guardedRequest('http://empty.example.test/', INIT, deps), 'no_addresses');
    await assertRefused(guardedRequest('ftp://93.184.216.34/', INIT, deps), 'unsupported_protocol');
    await assertRefused(guardedRequest('file:///etc/passwd', INIT, deps), 'unsupported_protocol');
    await assertRefused(guardedRequest('http://user:pw@93.184.216.34/', INIT, deps), 'credentials_in_url');
    await assertRefused(guardedRequest('http://user@93.184.216.34/', INIT, deps), 'credentials_in_url');
    await assertRefused(guardedRequest('not a url', INIT, deps), 'invalid_url');
    assert.deepEqual(rec.connects, []);
    assert.deepEqual(rec.resolved, ['garbage.example.test', 'empty.example.test']);
  });
});

describe('guardedRequest: allowPrivate true', () => {
  test('169.254.169.254 is still refused', async () => {
    const rec = recorder();
    await assertRefused(
      guardedRequest('http://169.254.169.254/latest/meta-data', INIT, { resolve: rec.resolve, connect: rec.connect, allowPrivate: true }),
      'disallowed_address',
      'metadata',
    );
    assert.deepEqual(rec.connects, []);
  });

  test('127.0.0.1 is allowed (recording connector)', async () => {
    const rec = recorder();
    const res = await guardedRequest('http://127.0.0.1:8080/x?y=1', INIT, { resolve: rec.resolve, connect: rec.connect, allowPrivate: true });
    assert.equal(res.status, 200);
    assert.equal(res.address, '127.0.0.1');
    assert.deepEqual(rec.connects, [{ address: '127.0.0.1', port: 8080, tls: false, servername: '127.0.0.1' }]);
    const sent = rec.sockets[0]?.requestText ?? '';
    assert.match(sent, /^POST \/x\?y=1 HTTP\/1\.1\r\n/);
    assert.match(sent, /\r\nhost: 127\.0\.0\.1:8080\r\n/i);
  });
});

describe('guardedRequest: DNS rebinding', () => {
  test('resolves once and connects to exactly the checked address', async () => {
    // First answer public-looking, every later answer 127.0.0.1: a rebinding attacker's DNS.
    const rec = recorder({ 'rebind.example.test': (call) => (call === 1 ? ['93.184.216.34'] : ['127.0.0.1']) });
    const res = await guardedRequest('https://rebind.example.test/hook', INIT, {
      resolve: rec.resolve,
      connect: rec.connect,
      allowPrivate: false,
    });
    assert.deepEqual(rec.resolved, ['rebind.example.test'], 'resolved exactly once');
    assert.deepEqual(rec.connects, [{ address: '93.184.216.34', port: 443, tls: true, servername: 'rebind.example.test' }]);
    assert.equal(res.address, '93.184.216.34');
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'ok');
    const sent = rec.sockets[0]?.requestText ?? '';
    assert.match(sent, /\r\nhost: rebind\.example\.test\r\n/i, 'Host carries the original name');
    assert.ok(sent.endsWith('{"a":1}'));
  });

  test('a socket whose remote address is not the checked one is refused', async () => {
    const rec = recorder({ 'swap.example.test': ['93.184.216.34'] }, { remoteAddress: () => '127.0.0.1' });
    await assertRefused(
      guardedRequest('http://swap.example.test/', INIT, { resolve: rec.resolve, connect: rec.connect, allowPrivate: false }),
      'address_mismatch',
    );
    assert.equal(rec.sockets[0]?.destroyed, true);
    assert.equal(rec.sockets[0]?.written.length, 0, 'no request bytes were written');
  });

  test('a socket without a remote address is refused', async () => {
    const rec = recorder({ 'swap.example.test': ['93.184.216.34'] }, { remoteAddress: () => undefined });
    await assertRefused(
      guardedRequest('http://swap.example.test/', INIT, { resolve: rec.resolve, connect: rec.connect, allowPrivate: false }),
      'address_mismatch',
    );
  });

  test('a failed connection falls over to the next CHECKED address only', async () => {
    const connects: string[] = [];
    const res = await guardedRequest('http://two.example.test/', INIT, {
      resolve: async () => ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946'],
      connect: async (address) => {
        connects.push(address);
        if (connects.length === 1) throw Object.assign(new Error('ECONNREFUSED'), { code: 'ECONNREFUSED' });
        return new FakeSocket(address, OK_REPLY);
      },
      allowPrivate: false,
    });
    assert.deepEqual(connects, ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946']);
    assert.equal(res.address, '2606:2800:220:1:248:1893:25c8:1946');
  });
});

describe('parseWebhookUrl', () => {
  test('default ports, Host header, IPv6 literal, path and query', () => {
    assert.deepEqual(parseWebhookUrl('https://Hooks.Example.test/a/b?c=d#frag'), {
      tls: true,
      hostname: 'hooks.example.test',
      literal: false,
      port: 443,
      hostHeader: 'hooks.example.test',
      path: '/a/b?c=d',
    });
    const v6 = parseWebhookUrl('http://[::1]:8443');
    assert.equal(v6.hostname, '::1');
    assert.equal(v6.literal, true);
    assert.equal(v6.port, 8443);
    assert.equal(v6.hostHeader, '[::1]:8443');
    assert.equal(v6.path, '/');
    assert.equal(parseWebhookUrl('http://example.test:80/').port, 80);
  });
});

describe('guardedRequest: real delivery to 127.0.0.1 with the default deps', () => {
  let server: Server;
  let port = 0;
  const seen: Array<{ method: string; url: string; host: string | undefined; body: string; remote: string | undefined }> = [];

  before(async () => {
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({
          method: req.method ?? '',
          url: req.url ?? '',
          host: req.headers.host,
          body: Buffer.concat(chunks).toString(),
          remote: req.socket.remoteAddress,
        });
        if (req.url === '/hang') return; // never answers
        res.writeHead(201, { 'content-type': 'text/plain', 'x-test': 'yes' });
        res.end('received');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  test('allowPrivate true: delivered, status/body/address come back', async () => {
    const res = await guardedRequest(`http://127.0.0.1:${port}/hook?x=1`, INIT, { allowPrivate: true });
    assert.equal(res.status, 201);
    assert.equal(res.body.toString(), 'received');
    assert.equal(res.address, '127.0.0.1');
    assert.equal(res.headers['x-test'], 'yes');
    const last = seen.at(-1);
    assert.deepEqual(last, { method: 'POST', url: '/hook?x=1', host: `127.0.0.1:${port}`, body: '{"a":1}', remote: '127.0.0.1' });
  });

  test('allowPrivate false: the same URL is refused and the server sees nothing', async () => {
    const before = seen.length;
    await assertRefused(guardedRequest(`http://127.0.0.1:${port}/hook`, INIT, { allowPrivate: false }), 'disallowed_address', 'loopback');
    assert.equal(seen.length, before);
  });

  test('a name mapped to 127.0.0.1 by an injected resolver, default connector: Host is the name', async () => {
    const res = await guardedRequest(`http://hooks.example.test:${port}/named`, INIT, {
      resolve: async () => ['127.0.0.1'],
      allowPrivate: true,
    });
    assert.equal(res.status, 201);
    assert.equal(res.address, '127.0.0.1');
    assert.equal(seen.at(-1)?.host, `hooks.example.test:${port}`);
  });

  test('timeout covers a server that never answers', async () => {
    await assert.rejects(
      guardedRequest(`http://127.0.0.1:${port}/hang`, { ...INIT, timeoutMs: 150 }, { allowPrivate: true }),
      (err: unknown) => (err as { code?: string }).code === 'ETIMEDOUT',
    );
  });

  test('oversized responses are refused', async () => {
    await assert.rejects(
      guardedRequest(`http://127.0.0.1:${port}/big`, { ...INIT, maxResponseBytes: 3 }, { allowPrivate: true }),
      /larger than 3 bytes/,
    );
  });
});
