import { execFile, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { ROOT } from './processes.js';
import { describeWithPeer, killGroup, trackPeerProcess, type SystemPeer } from './peers.js';
import { freeUdpPortBlock } from './sipp.js';

/**
 * Kamailio (Debian package `kamailio`) as a record-routing stateful proxy between Dialplane and its SIPp peers, with
 * the configuration test/fixtures/kamailio/record-route-proxy.cfg: no database, `record_route()` on initial
 * INVITEs, `loose_route()` for in-dialog requests, `t_relay()`. Each run listens on one loopback address only, on a free UDP
 * port, in the foreground (-DD -E), with its own runtime directory and PID file (so runs never collide), under
 * coreutils `timeout`, in its own process group; it sends initial requests to `nextHop`. Its xlog lines
 * (`PROXY <method> <uri> from <addr> call-id ... route [...]`) are collected from stderr. The shipped
 * deploy/kamailio/kamailio.cfg runs the same way (`config: DEPLOY_KAMAILIO_CONFIG`, its settings as `defines`).
 */
/** DIALPLANE_TEST_KAMAILIO, else Debian's /usr/sbin/kamailio (not on every user's PATH), else `kamailio` on PATH. */
export const KAMAILIO_BIN = process.env.DIALPLANE_TEST_KAMAILIO ?? (existsSync('/usr/sbin/kamailio') ? '/usr/sbin/kamailio' : 'kamailio');
export const KAMAILIO_CONFIG = join(ROOT, 'test', 'fixtures', 'kamailio', 'record-route-proxy.cfg');
/** The configuration shipped for deployments (docs/scale-out.md): dispatcher over Dialplane nodes. */
export const DEPLOY_KAMAILIO_CONFIG = join(ROOT, 'deploy', 'kamailio', 'kamailio.cfg');
const INSTALL_HINT = 'install the Debian package kamailio (apt-get install kamailio)';
const OUTPUT_LIMIT = 512 * 1024;

let problemOnce: Promise<string | undefined> | undefined;

function kamailioProblem(): Promise<string | undefined> {
  problemOnce ??= new Promise((resolve) => {
    execFile(KAMAILIO_BIN, ['-v'], { timeout: 5000 }, (error, stdout, stderr) => {
      if (/version: kamailio \d/.test(`${stdout}${stderr}`)) resolve(undefined);
      else resolve(error ? `${KAMAILIO_BIN}: ${error.message}` : `${KAMAILIO_BIN} -v printed no Kamailio version`);
    });
  });
  return problemOnce;
}

const peer: SystemPeer = { label: 'Kamailio', hint: INSTALL_HINT, problem: kamailioProblem };

/** A suite that needs Kamailio: skipped with a message when absent, a failure under CI=true. */
export const describeWithKamailio = (
  name: string,
  suite: () => void,
  options: { readonly concurrency?: number | boolean; readonly timeout?: number } = {},
): Promise<void> => describeWithPeer(peer, name, suite, options);

/** One request as the proxy's xlog saw it. */
export interface ProxiedRequest {
  readonly method: string;
  readonly uri: string;
  /** address:port it came from. */
  readonly from: string;
  readonly callId: string;
  readonly cseq: string;
  /** Its Route header, or `<null>`. */
  readonly route: string;
}

export interface KamailioHandle {
  /** The UDP port it listens on. */
  readonly port: number;
  /** host:port */
  readonly address: string;
  /** Every request logged so far (a probe's OPTIONS included). */
  requests(): ProxiedRequest[];
  /** Everything it printed (the end of it), for failure messages. */
  output(): string;
  /** SIGTERM to its process group (SIGKILL 3 s later); removes its runtime directory. Idempotent. */
  stop(): Promise<void>;
}

const REQUEST_LINE = /PROXY (\S+) (\S+) from (\S+) call-id (\S+) cseq (\S+) route \[(.*)\]$/;

export function parseProxyLog(output: string): ProxiedRequest[] {
  const out: ProxiedRequest[] = [];
  for (const line of output.split('\n')) {
    const match = REQUEST_LINE.exec(line.trimEnd());
    if (!match) continue;
    const [, method, uri, from, callId, cseq, route] = match;
    out.push({ method: method!, uri: uri!, from: from!, callId: callId!, cseq: cseq!, route: route! });
  }
  return out;
}

/** Starts the proxy and resolves once it answers on its port (a Max-Forwards: 0 OPTIONS, answered 483 by itself). */
export async function startKamailio(options: {
  /** Where initial requests go: `sip:127.0.0.1:<port>` (the NEXT_HOP of the test configuration). */
  readonly nextHop?: string;
  /** Another configuration file, e.g. DEPLOY_KAMAILIO_CONFIG. Default KAMAILIO_CONFIG. */
  readonly config?: string;
  /** `-A NAME=value` settings of the configuration (a string value written with its quotes). */
  readonly defines?: Readonly<Record<string, string>>;
  readonly t?: Pick<TestContext, 'after'>;
  /** The loopback address it listens on (another "host": 127.0.0.3). Default 127.0.0.1. */
  readonly host?: string;
  /** Seconds before coreutils `timeout` ends it. Default 60. */
  readonly timeoutSeconds?: number;
}): Promise<KamailioHandle> {
  const host = options.host ?? '127.0.0.1';
  if (options.nextHop !== undefined && !/^sip:127\.\d+\.\d+\.\d+:\d+$/.test(options.nextHop)) {
    throw new Error(`next hop must be a loopback sip: URI: ${options.nextHop}`);
  }
  const defines = { ...(options.nextHop === undefined ? {} : { NEXT_HOP: `"${options.nextHop}"` }), ...options.defines };
  if (!/^127\.\d+\.\d+\.\d+$/.test(host)) throw new Error(`kamailio listens on loopback only, not ${host}`);
  const port = await freeUdpPortBlock(2);
  const runtime = await mkdtemp(join(tmpdir(), 'dialplane-kamailio-'));
  const args = [
    '-k',
    '3',
    `${options.timeoutSeconds ?? 60}s`,
    KAMAILIO_BIN,
    '-f',
    options.config ?? KAMAILIO_CONFIG,
    '-DD',
    '-E',
    '-l',
    `udp:${host}:${port}`,
    ...Object.entries(defines).flatMap(([name, value]) => ['-A', `${name}=${value}`]),
    '-Y',
    runtime,
    '-P',
    join(runtime, 'kamailio.pid'),
    '-w',
    runtime,
    '-m',
    '32',
    '-M',
    '4',
    ...(process.getuid?.() === 0 ? ['-u', 'root', '-g', 'root'] : []),
  ];
  const child = spawn('timeout', args, { cwd: runtime, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const untrack = trackPeerProcess(child);
  let output = '';
  const append = (chunk: string): void => {
    output = (output + chunk).slice(-OUTPUT_LIMIT);
  };
  child.stdout?.setEncoding('utf8').on('data', append);
  child.stderr?.setEncoding('utf8').on('data', append);
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  let stopping: Promise<void> | undefined;
  const handle: KamailioHandle = {
    port,
    address: `${host}:${port}`,
    requests: () => parseProxyLog(output),
    output: () => output,
    stop() {
      stopping ??= (async () => {
        killGroup(child, 'SIGTERM');
        const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 3_000);
        await exited;
        clearTimeout(timer);
        untrack();
        await rm(runtime, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
  options.t?.after(() => handle.stop());
  try {
    await probe(host, port, () => child.exitCode !== null || child.signalCode !== null);
  } catch (error) {
    await handle.stop();
    throw new Error(`${(error as Error).message}; kamailio ${args.slice(3).join(' ')}\n${output.slice(-4000)}`);
  }
  return handle;
}

/** Sends a Max-Forwards: 0 OPTIONS every 100 ms until the proxy answers (483), for at most 10 s. */
async function probe(host: string, port: number, gone: () => boolean): Promise<void> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const local = socket.address().port;
  try {
    const answered = new Promise<void>((resolve) => socket.once('message', () => resolve()));
    for (let attempt = 0; attempt < 100; attempt++) {
      if (gone()) throw new Error('kamailio exited before it answered');
      const message = [
        `OPTIONS sip:probe@${host}:${port} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${local};branch=z9hG4bKprobe${attempt}`,
        'Max-Forwards: 0',
        'From: <sip:probe@127.0.0.1>;tag=probe',
        `To: <sip:probe@${host}:${port}>`,
        `Call-ID: probe-${local}-${attempt}`,
        'CSeq: 1 OPTIONS',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n');
      socket.send(message, port, host);
      const done = await Promise.race([answered.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 100))]);
      if (done) return;
    }
    throw new Error('kamailio did not answer within 10 s');
  } finally {
    socket.close();
  }
}
