// The baseline for bench/me-throughput.mjs: a bare Fastify app (fastify from node_modules, default options, so no
// logger) with one GET route answering a fixed JSON object. The object is passed in BENCH_BODY, a copy of a real
// GET /api/v1/me answer, so both servers send the same number of bytes. Listens on 127.0.0.1, on the port in
// BENCH_PORT (0 = any), and prints one line `{"port":N}` when listening. Stops on SIGTERM/SIGINT.
import Fastify from 'fastify';

const body = JSON.parse(process.env.BENCH_BODY ?? '{}');
const path = process.env.BENCH_PATH ?? '/api/v1/me';
const app = Fastify();
app.get(path, async () => body);

const stop = () => {
  app.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

await app.listen({ host: '127.0.0.1', port: Number(process.env.BENCH_PORT ?? 0) });
process.stdout.write(`${JSON.stringify({ port: app.server.address().port })}\n`);
