// A webhook receiver for the benchmarks: checks each request's X-Dialplane-Signature and counts each event id once.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import { HOST } from './common.mjs';

/** `onEvent(ok)` hears each new event (ok) and each bad signature (not ok). */
export function startReceiver(secret, onEvent) {
  const seen = new Set();
  const byType = new Map();
  let badSignatures = 0;
  let requests = 0;
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      requests += 1;
      const body = Buffer.concat(chunks);
      const ok = validSignature(secret, String(req.headers['x-dialplane-signature'] ?? ''), body);
      if (!ok) {
        badSignatures += 1;
        onEvent(false);
      } else {
        const id = String(req.headers['x-dialplane-event-id'] ?? '');
        if (!seen.has(id)) {
          seen.add(id);
          const type = String(req.headers['x-dialplane-event-type'] ?? '?');
          byType.set(type, (byType.get(type) ?? 0) + 1);
          onEvent(true);
        }
      }
      res.writeHead(200).end();
    });
  });
  server.keepAliveTimeout = 5_000;
  return new Promise((resolve) => {
    server.listen(0, HOST, () =>
      resolve({
        url: `http://${HOST}:${server.address().port}/soak-hook`,
        stats: () => ({ unique: seen.size, requests, badSignatures, byType }),
        close: () => new Promise((r) => server.close(() => r())),
        closeIdle: () => server.closeAllConnections(),
      }),
    );
  });
}

function validSignature(secret, header, body) {
  const t = /(?:^|,)t=(\d+)/.exec(header)?.[1];
  if (!t || Math.abs(Date.now() / 1000 - Number(t)) > 300) return false;
  const expected = createHmac('sha256', secret).update(`${t}.`).update(body).digest();
  return [...header.matchAll(/(?:^|,)v1=([0-9a-f]{64})/g)].some((m) => timingSafeEqual(Buffer.from(m[1], 'hex'), expected));
}
